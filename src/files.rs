//! Files the agent writes for others to read (config `dst` files, state records): always
//! atomically (temp file in the same folder, fsync, rename, fsync the folder), keeping the
//! mode and owner of the file being replaced. Also resolving a config `src` safely.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};

/// Replace `dst` with `bytes` so that a reader sees the old or the new file, never a part.
/// Missing parent folders are created.
pub fn atomic_write(dst: &Path, bytes: &[u8]) -> Result<()> {
    let parent = dst
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .with_context(|| format!("{}: has no parent folder", dst.display()))?;
    fs::create_dir_all(parent).with_context(|| format!("create folder {}", parent.display()))?;
    let name = dst
        .file_name()
        .with_context(|| format!("{}: not a file path", dst.display()))?;
    let tmp = temp_path(parent, &name.to_string_lossy());
    let existing = fs::metadata(dst).ok();
    let result = (|| -> Result<()> {
        let mut f = fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("write {}", tmp.display()))?;
        if let Some(meta) = &existing {
            f.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))
                .with_context(|| format!("keep the mode of {}", dst.display()))?;
            chown_like(&f, meta, dst);
        }
        f.sync_all()
            .with_context(|| format!("fsync {}", tmp.display()))?;
        fs::rename(&tmp, dst)
            .with_context(|| format!("rename {} to {}", tmp.display(), dst.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    // The rename is durable only once the folder is synced.
    if let Ok(dir) = fs::File::open(parent) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// The agent's one name for a temp file in `dir`: for the file `name` it is about to replace
/// (the same name every time, so a leftover of a crash is simply replaced by the next
/// write), or for a scratch file whose `name` the caller makes unique. Hidden, and marked
/// as the agent's, so an operator who finds one knows where it came from.
pub fn temp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.gitops-agent-tmp"))
}

fn chown_like(f: &fs::File, meta: &fs::Metadata, dst: &Path) {
    use std::os::fd::AsRawFd;
    if meta.uid() == current_uid() && meta.gid() == current_gid() {
        return;
    }
    // SAFETY: fchown on an fd we own; failure is reported, not fatal (non-root agents).
    let rc = unsafe { libc::fchown(f.as_raw_fd(), meta.uid(), meta.gid()) };
    if rc != 0 {
        log::warn!(
            "{}: could not keep owner {}:{} ({})",
            dst.display(),
            meta.uid(),
            meta.gid(),
            std::io::Error::last_os_error()
        );
    }
}

pub fn current_uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::geteuid() }
}

pub fn current_gid() -> u32 {
    // SAFETY: getgid cannot fail.
    unsafe { libc::getegid() }
}

/// The on-disk path of config `src` inside the deploy clone at `root` (already canonical:
/// callers resolve it once per group), refusing anything that leaves it, also through
/// symlinks. `Ok(None)` when the file does not exist.
pub fn resolve_src(root: &Path, src: &str) -> Result<Option<PathBuf>> {
    let joined = root.join(src);
    if fs::symlink_metadata(&joined).is_err() {
        return Ok(None);
    }
    let real = match fs::canonicalize(&joined) {
        Ok(p) => p,
        Err(_) => return Ok(None), // a dangling symlink: the file does not exist
    };
    if !real.starts_with(root) {
        return Err(Error::msg(format!(
            "config src \"{src}\" resolves to {} outside the deploy repo; name a file inside it",
            real.display()
        )));
    }
    if !real.is_file() {
        return Err(Error::msg(format!(
            "config src \"{src}\" is not a regular file"
        )));
    }
    Ok(Some(real))
}

/// Whether `dst` holds exactly `src`'s bytes.
pub fn same_bytes(src: &Path, dst: &Path) -> bool {
    match (fs::metadata(src), fs::metadata(dst)) {
        (Ok(a), Ok(b)) if a.len() == b.len() => {
            matches!((fs::read(src), fs::read(dst)), (Ok(x), Ok(y)) if x == y)
        }
        _ => false,
    }
}

/// Give `dir` (recursively, not following symlinks) to the agent's user when it belongs to
/// another one, as the Python agent did: git refuses repositories owned by someone else.
pub fn adopt_ownership(dir: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(dir).with_context(|| format!("inspect {}", dir.display()))?;
    if meta.uid() == current_uid() {
        return Ok(());
    }
    log::info!(
        "{}: owned by uid {}, changing owner to uid {}",
        dir.display(),
        meta.uid(),
        current_uid()
    );
    chown_tree(dir)
}

fn chown_tree(path: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).context("path with NUL")?;
    // SAFETY: lchown on a valid C string; does not follow symlinks.
    if unsafe { libc::lchown(c.as_ptr(), current_uid(), current_gid()) } != 0 {
        return Err(Error::msg(format!(
            "chown {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        )));
    }
    let meta = fs::symlink_metadata(path).with_context(|| format!("inspect {}", path.display()))?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).with_context(|| format!("list {}", path.display()))? {
            chown_tree(&entry.context("read folder entry")?.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("gitops-agent-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn atomic_write_creates_parents_and_keeps_mode() {
        let d = tmpdir("aw");
        let dst = d.join("a/b/c.env");
        atomic_write(&dst, b"one").unwrap();
        assert_eq!(fs::read(&dst).unwrap(), b"one");
        fs::set_permissions(&dst, fs::Permissions::from_mode(0o600)).unwrap();
        atomic_write(&dst, b"two").unwrap();
        assert_eq!(fs::read(&dst).unwrap(), b"two");
        assert_eq!(fs::metadata(&dst).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            fs::read_dir(d.join("a/b")).unwrap().count(),
            1,
            "temp file left behind"
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn src_may_not_escape_through_symlinks() {
        let d = tmpdir("src");
        let repo = d.join("repo");
        fs::create_dir_all(repo.join("edge")).unwrap();
        let repo = fs::canonicalize(repo).unwrap();
        fs::write(d.join("secret"), "s").unwrap();
        fs::write(repo.join("edge/ok.env"), "x").unwrap();
        std::os::unix::fs::symlink(d.join("secret"), repo.join("edge/link")).unwrap();
        std::os::unix::fs::symlink("ok.env", repo.join("edge/inner")).unwrap();
        assert!(resolve_src(&repo, "edge/ok.env").unwrap().is_some());
        assert!(resolve_src(&repo, "edge/inner").unwrap().is_some());
        assert!(resolve_src(&repo, "edge/missing").unwrap().is_none());
        let e = resolve_src(&repo, "edge/link").unwrap_err().to_string();
        assert!(e.contains("outside the deploy repo"), "{e}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn same_bytes_compares_content() {
        let d = tmpdir("sb");
        fs::write(d.join("a"), "x").unwrap();
        fs::write(d.join("b"), "x").unwrap();
        fs::write(d.join("c"), "y").unwrap();
        assert!(same_bytes(&d.join("a"), &d.join("b")));
        assert!(!same_bytes(&d.join("a"), &d.join("c")));
        assert!(!same_bytes(&d.join("a"), &d.join("missing")));
        fs::remove_dir_all(&d).unwrap();
    }
}
