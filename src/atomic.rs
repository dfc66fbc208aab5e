//! Atomic file replacement that a hostile folder cannot turn against a root agent (SPEC §10).
//!
//! Everything after opening the parent folder goes through that folder's handle (`openat`,
//! `renameat`), so swapping a path component for a symlink mid-write gains nothing. The temp
//! file gets a random name and is created with `O_EXCL|O_NOFOLLOW` (a planted file or symlink
//! makes the create fail, it is never followed), starts as 0600, gets its final owner and mode
//! before any byte is written (a reader never sees secret bytes under a looser mode), is
//! fsynced, then renamed over the target, and the folder is fsynced so the rename survives a
//! power cut.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};

/// The mode of a new file when nobody asked for one.
pub const DEFAULT_MODE: u32 = 0o644;

/// Replace `dst` with `bytes`: a reader sees the old or the new file, never a part.
///
/// Mode: `mode` when given (for new and existing files), else the existing file's, else
/// `DEFAULT_MODE`. Owner: the existing file's (when the agent may set it), else the agent's.
/// An existing symlink at `dst` is replaced, never written through. Missing parent folders
/// are created (0755).
pub fn write(dst: &Path, bytes: &[u8], mode: Option<u32>) -> Result<()> {
    replace(dst, bytes, mode, Durability::Synced)
}

/// [`write`] without the two fsyncs, for a file rewritten on every pass whose loss costs
/// nothing (the time of the last pass): still all or nothing for readers while the machine
/// runs, but a power cut may take it back to its old content, or leave it empty where the
/// file system commits the rename before the data (its readers treat that as unreadable
/// until the next pass). The fsyncs cost ~8 ms of wall time per pass on this VM's disk.
pub fn write_unsynced(dst: &Path, bytes: &[u8], mode: Option<u32>) -> Result<()> {
    replace(dst, bytes, mode, Durability::Unsynced)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    Synced,
    Unsynced,
}

fn replace(dst: &Path, bytes: &[u8], mode: Option<u32>, durability: Durability) -> Result<()> {
    let (parent, name) = split(dst)?;
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::msg(format!("create folder {}: {e}", parent.display())))?;
    let dir = open_dir(parent)?;
    let existing = lstat_at(&dir, name);
    // A symlink's own mode and owner say nothing about the file it replaces.
    let existing = existing.filter(|st| st.st_mode & libc::S_IFMT != libc::S_IFLNK);
    let final_mode = mode
        .or(existing.map(|st| st.st_mode & 0o7777))
        .unwrap_or(DEFAULT_MODE);

    let tmp = temp_name(name);
    let file = create_exclusive(&dir, &tmp)
        .map_err(|e| Error::msg(format!("create a temp file in {}: {e}", parent.display())))?;
    let result = (|| -> std::io::Result<()> {
        if let Some(st) = existing {
            chown_like(&file, st.st_uid, st.st_gid, dst);
        }
        // SAFETY: fchmod on an fd we own.
        if unsafe { libc::fchmod(file.as_raw_fd(), final_mode as libc::mode_t) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut f = &file;
        f.write_all(bytes)?;
        if durability == Durability::Synced {
            file.sync_all()?;
        }
        rename_at(&dir, &tmp, name)
    })();
    if let Err(e) = result {
        let _ = unlink_at(&dir, &tmp);
        return Err(Error::msg(format!("write {}: {e}", dst.display())));
    }
    // The rename is durable only once the folder is synced.
    if durability == Durability::Synced {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// `.NAME.<16 hex>.gitops-agent-tmp`: hidden, tied to its target for people reading a
/// folder listing, and not guessable by whoever can write the folder.
pub fn temp_name(name: &OsStr) -> CString {
    let mut v = Vec::with_capacity(name.len() + 40);
    v.push(b'.');
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(format!(".{:016x}.gitops-agent-tmp", random_u64()).as_bytes());
    // A file name from a Path holds no NUL.
    CString::new(v).unwrap_or_default()
}

/// 64 random bits from the kernel; the time and pid only if getrandom is unavailable
/// (still unique per call; `O_EXCL` keeps a guessed name harmless).
pub fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n == 8 {
        return u64::from_ne_bytes(buf);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(std::process::id()) << 32)
}

fn split(dst: &Path) -> Result<(&Path, &OsStr)> {
    let parent = dst
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| Error::msg(format!("{}: has no parent folder", dst.display())))?;
    let name = dst
        .file_name()
        .ok_or_else(|| Error::msg(format!("{}: not a file path", dst.display())))?;
    Ok((parent, name))
}

fn cstr(bytes: &[u8], shown: &Path) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::msg(format!("{}: path holds a NUL", shown.display())))
}

fn open_dir(dir: &Path) -> Result<File> {
    let c = cstr(dir.as_os_str().as_bytes(), dir)?;
    // SAFETY: open with a valid C string; the fd is owned by the File on success.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(Error::msg(format!("open folder {}: {e}", dir.display())));
    }
    // SAFETY: fd is a fresh, valid descriptor we own.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn lstat_at(dir: &File, name: &OsStr) -> Option<libc::stat> {
    let c = CString::new(name.as_bytes()).ok()?;
    // SAFETY: zeroed stat is a valid out-parameter for fstatat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid dirfd, C string and out-pointer.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    (rc == 0).then_some(st)
}

fn create_exclusive(dir: &File, name: &CString) -> std::io::Result<File> {
    // SAFETY: valid dirfd and C string; the fd is owned by the File on success.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600 as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, valid descriptor we own.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn rename_at(dir: &File, from: &CString, to: &OsStr) -> std::io::Result<()> {
    let to = CString::new(to.as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in name"))?;
    // SAFETY: valid dirfds and C strings.
    let rc =
        unsafe { libc::renameat(dir.as_raw_fd(), from.as_ptr(), dir.as_raw_fd(), to.as_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn unlink_at(dir: &File, name: &CString) -> std::io::Result<()> {
    // SAFETY: valid dirfd and C string.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn chown_like(f: &File, uid: u32, gid: u32, dst: &Path) {
    // SAFETY: geteuid/getegid cannot fail.
    if uid == unsafe { libc::geteuid() } && gid == unsafe { libc::getegid() } {
        return;
    }
    // SAFETY: fchown on an fd we own; failure is reported, not fatal (non-root agents).
    if unsafe { libc::fchown(f.as_raw_fd(), uid, gid) } != 0 {
        log::warn!(
            "{}: could not keep owner {uid}:{gid} ({})",
            dst.display(),
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "gitops-atomic-{tag}-{}-{:x}",
            std::process::id(),
            random_u64()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn planted_symlink_at_the_old_temp_name_is_not_followed() {
        let d = tmpdir("plant");
        let victim = d.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        // The name the agent used to write through, predictable by any committer.
        std::os::unix::fs::symlink(&victim, d.join(".app.env.gitops-agent-tmp")).unwrap();
        write(&d.join("app.env"), b"secret=1", None).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read(d.join("app.env")).unwrap(), b"secret=1");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_symlink_at_dst_is_replaced_not_written_through() {
        let d = tmpdir("dstlink");
        let victim = d.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, d.join("app.env")).unwrap();
        write(&d.join("app.env"), b"x", None).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let meta = std::fs::symlink_metadata(d.join("app.env")).unwrap();
        assert!(meta.file_type().is_file());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn existing_mode_is_kept_and_new_files_get_the_default() {
        let d = tmpdir("mode");
        let f = d.join("secret.env");
        std::fs::write(&f, "a").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        write(&f, b"b", None).unwrap();
        assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o7777, 0o600);
        let g = d.join("new.env");
        write(&g, b"b", None).unwrap();
        assert_eq!(std::fs::metadata(&g).unwrap().mode() & 0o7777, DEFAULT_MODE);
        write(&g, b"c", Some(0o640)).unwrap();
        assert_eq!(std::fs::metadata(&g).unwrap().mode() & 0o7777, 0o640);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn no_temp_file_is_left_behind() {
        let d = tmpdir("left");
        write(&d.join("sub/dir/x"), b"1", None).unwrap();
        write(&d.join("sub/dir/x"), b"2", None).unwrap();
        let names: Vec<_> = std::fs::read_dir(d.join("sub/dir"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x")]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_unsynced_write_replaces_whole_with_the_mode_and_no_temp_file() {
        let d = tmpdir("unsynced");
        let dst = d.join("time");
        write_unsynced(&dst, b"one", Some(0o600)).unwrap();
        write_unsynced(&dst, b"two", Some(0o600)).unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), b"two");
        let mode = std::fs::metadata(&dst).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("time")]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn temp_names_differ_each_time() {
        let a = temp_name(OsStr::new("x"));
        let b = temp_name(OsStr::new("x"));
        assert_ne!(a, b);
        assert!(a.to_str().unwrap().starts_with(".x."));
    }
}
