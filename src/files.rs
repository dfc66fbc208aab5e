//! Files the agent writes for others to read (config `dst` files, state records): always
//! atomically (temp file in the same folder, fsync, rename, fsync the folder), keeping the
//! mode and owner of the file being replaced. Also resolving a config `src` safely.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};

/// Replace `dst` with `bytes` so that a reader sees the old or the new file, never a part;
/// mode and owner kept. Missing parent folders are created. See `atomic::write`.
pub fn atomic_write(dst: &Path, bytes: &[u8]) -> Result<()> {
    crate::atomic::write(dst, bytes, None)
}

/// The agent's one name for a temp file in `dir` (`atomic::temp_name`): hidden, marked as the
/// agent's so an operator who finds one knows where it came from, and random, so nobody who
/// can write `dir` can plant something under it first. Create it with `create_new`.
pub fn temp_path(dir: &Path, name: &str) -> PathBuf {
    let name = crate::atomic::temp_name(std::ffi::OsStr::new(name));
    dir.join(std::ffi::OsStr::from_bytes(name.as_bytes()))
}

/// The agent's effective uid, asked of the kernel once (it never changes while the agent
/// runs; the ownership gate and the symlink rules asked it twice per app).
pub fn current_uid() -> u32 {
    static UID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    // SAFETY: geteuid cannot fail.
    *UID.get_or_init(|| unsafe { libc::geteuid() })
}

pub fn current_gid() -> u32 {
    // SAFETY: getgid cannot fail.
    unsafe { libc::getegid() }
}

/// The on-disk path of config `src` inside the deploy clone at `root` (already canonical:
/// callers resolve it once per group), refusing anything that leaves it, also through
/// symlinks. `Ok(None)` when the file does not exist.
pub fn resolve_src(root: &Path, src: &str) -> Result<Option<PathBuf>> {
    resolve_src_in(root, src, None)
}

/// [`resolve_src`], not reading again the folders `memo` knows for real (the deploy clone
/// does not change while a group is visited; see `paths::Memo`).
pub fn resolve_src_in(
    root: &Path,
    src: &str,
    memo: Option<&crate::paths::Memo>,
) -> Result<Option<PathBuf>> {
    if let Some(plain) = resolve_plain(root, src, memo) {
        return Ok(plain.map(|(path, meta)| {
            if let Some(memo) = memo {
                memo.saw_file(&path, meta);
            }
            path
        }));
    }
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

/// [`resolve_src`]'s common case in one `lstat` per component (`canonicalize` reads every
/// link of the whole path): when `src` is plain names, none a symlink, the joined path is
/// already the real one. `None` when the full resolution has to decide.
fn resolve_plain(
    root: &Path,
    src: &str,
    memo: Option<&crate::paths::Memo>,
) -> Option<Option<(PathBuf, fs::Metadata)>> {
    use std::path::Component;
    let rel = Path::new(src);
    let n = rel.components().count();
    let mut path = root.to_path_buf();
    for (i, c) in rel.components().enumerate() {
        let Component::Normal(name) = c else {
            return None;
        };
        path.push(name);
        if i + 1 < n && memo.is_some_and(|m| m.is_real_dir(&path)) {
            continue;
        }
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => return None,
            Ok(m) if i + 1 < n => {
                m.is_dir().then_some(())?;
                if let Some(memo) = memo {
                    memo.saw_real_dir(&path);
                }
            }
            Ok(m) => return m.is_file().then_some(Some((path, m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(None),
            Err(_) => return None,
        }
    }
    None
}

/// Whether `dst` holds exactly `src`'s bytes: each read whole by [`read_small`] (open,
/// read, close: the unchanged pass compares every config file).
pub fn same_bytes(src: &Path, dst: &Path) -> bool {
    match (read_small(src), read_small(dst)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The first read asks for this much: the agent's records, `.git/config`, `HEAD` and
/// config files fit.
const SMALL: usize = 8 * 1024;

/// A file's whole content in open, read, close for a file under 8 KiB (`fs::read` adds an
/// fstat for its size and a read that returns 0). A read of a regular file returns fewer
/// bytes than asked only at its end, so a short read (or 0) ends it; a full one is
/// followed by more reads (any size is read whole). Meant for regular files: the agent's
/// records, a clone's `.git` files, config `src` and `dst`.
pub fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = fs::File::open(path)?;
    let mut bytes = vec![0; SMALL];
    let mut len = 0;
    loop {
        let asked = bytes.len() - len;
        let n = match file.read(&mut bytes[len..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        len += n;
        if n < asked {
            bytes.truncate(len);
            return Ok(bytes);
        }
        if len == bytes.len() {
            bytes.resize(bytes.len() * 2, 0);
        }
    }
}

/// [`read_small`] as text; `None` when missing, unreadable or not UTF-8.
pub fn read_small_text(path: &Path) -> Option<String> {
    String::from_utf8(read_small(path).ok()?).ok()
}

/// Whether `dst`'s permission bits are `mode` (always true when none is asked for).
pub fn mode_matches(dst: &Path, mode: Option<u32>) -> bool {
    mode.is_none_or(|m| fs::metadata(dst).is_ok_and(|md| md.mode() & 0o7777 == m))
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
    use std::os::unix::fs::PermissionsExt;

    fn tmpdir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("gitops-agent-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn read_small_reads_every_size_whole() {
        let d = tmpdir("small");
        for len in [0, 1, SMALL - 1, SMALL, SMALL + 1, 3 * SMALL + 7] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let p = d.join(format!("f{len}"));
            fs::write(&p, &bytes).unwrap();
            assert_eq!(read_small(&p).unwrap(), bytes, "{len} bytes");
        }
        assert!(read_small(&d.join("missing")).is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn same_bytes_needs_equal_content_and_length() {
        let d = tmpdir("same");
        let (a, b) = (d.join("a"), d.join("b"));
        fs::write(&a, b"x=1\n").unwrap();
        fs::write(&b, b"x=1\n").unwrap();
        assert!(same_bytes(&a, &b));
        fs::write(&b, b"x=1\nmore").unwrap();
        assert!(!same_bytes(&a, &b), "a longer dst");
        fs::write(&b, b"x=2\n").unwrap();
        assert!(!same_bytes(&a, &b), "same length, other bytes");
        assert!(!same_bytes(&a, &d.join("missing")));
        fs::remove_dir_all(&d).unwrap();
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
    fn a_src_folder_known_real_is_not_read_again_until_forgotten() {
        let d = tmpdir("srcmemo");
        let repo = d.join("repo");
        fs::create_dir_all(repo.join("edge")).unwrap();
        fs::create_dir_all(d.join("out")).unwrap();
        let repo = fs::canonicalize(repo).unwrap();
        fs::write(repo.join("edge/ok.env"), "x").unwrap();
        fs::write(d.join("out/ok.env"), "secret").unwrap();
        let memo = crate::paths::Memo::default();
        let plain = resolve_src_in(&repo, "edge/ok.env", Some(&memo)).unwrap();
        assert_eq!(plain, Some(repo.join("edge/ok.env")));
        assert!(memo.is_real_dir(&repo.join("edge")));
        // the folder becomes a link out of the repo: the memo still vouches (one visit)...
        fs::remove_dir_all(repo.join("edge")).unwrap();
        std::os::unix::fs::symlink(d.join("out"), repo.join("edge")).unwrap();
        assert_eq!(
            resolve_src_in(&repo, "edge/ok.env", Some(&memo)).unwrap(),
            plain
        );
        // ...and without it the link is judged
        memo.forget();
        assert!(resolve_src_in(&repo, "edge/ok.env", Some(&memo)).is_err());
        assert!(resolve_src(&repo, "edge/ok.env").is_err());
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
        assert!(resolve_src(&repo, "nowhere/missing").unwrap().is_none());
        assert!(resolve_src(&repo, "edge/ok.env/under-a-file")
            .unwrap()
            .is_none());
        assert_eq!(
            resolve_src(&repo, "edge/ok.env").unwrap(),
            Some(repo.join("edge/ok.env"))
        );
        let e = resolve_src(&repo, "../secret").unwrap_err().to_string();
        assert!(e.contains("outside the deploy repo"), "{e}");
        let e = resolve_src(&repo, "edge").unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        // A symlinked folder on the way is resolved like a symlinked file.
        std::os::unix::fs::symlink(&d, repo.join("out")).unwrap();
        let e = resolve_src(&repo, "out/secret").unwrap_err().to_string();
        assert!(e.contains("outside the deploy repo"), "{e}");
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
        assert!(!same_bytes(&d.join("missing"), &d.join("a")));
        // A folder of any size never matches.
        assert!(!same_bytes(&d, &d));
        fs::remove_dir_all(&d).unwrap();
    }
}
