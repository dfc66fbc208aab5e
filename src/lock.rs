//! One pass at a time per `$GITOPS_AGENT_HOME` (SPEC §8): an advisory `flock` on
//! `agent.lock`, released by the kernel when the process dies, so a crash never wedges it.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Context, Error, Kind, Result};

/// How long a second agent waits for the lock before giving up (exit 3 with `--once`).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(120);

/// Held while a pass runs; dropping it releases the lock.
#[derive(Debug)]
pub struct PassLock {
    _file: File,
}

/// Take the lock at `path`, waiting up to `wait`, or until `stop` is set (a shutdown must
/// not wait for another agent's pass). Another agent holding it is `Kind::Locked`.
pub fn acquire(path: &Path, wait: Duration, stop: &AtomicBool) -> Result<PassLock> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    let file = OpenOptions::new()
        .mode(0o600)
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("open lock file {}", path.display()))?;
    // An older agent made it 0644; the agent's own files are 0600 (SPEC §10).
    let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
    let deadline = Instant::now() + wait;
    loop {
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(PassLock { _file: file });
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(Error::msg(format!("lock {}: {err}", path.display())));
        }
        if stop.load(Ordering::Relaxed) {
            return Err(Error::new(
                Kind::Locked,
                format!(
                    "stopped while waiting for the lock {} held by another gitops-agent",
                    path.display()
                ),
            ));
        }
        if Instant::now() >= deadline {
            return Err(Error::new(Kind::Locked, format!(
                "another gitops-agent holds the lock {} (waited {} s); is the service running? stop it or retry later",
                path.display(),
                wait.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_gives_up() {
        let path = std::env::temp_dir().join(format!("gitops-agent-lock-{}", std::process::id()));
        let no = AtomicBool::new(false);
        let held = acquire(&path, Duration::ZERO, &no).unwrap();
        match acquire(&path, Duration::from_millis(300), &no) {
            Err(e) => {
                assert_eq!(e.kind(), Kind::Locked);
                assert!(e.to_string().contains("another gitops-agent"));
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        // a shutdown ends the wait at once
        let t0 = Instant::now();
        assert!(acquire(&path, Duration::from_secs(60), &AtomicBool::new(true)).is_err());
        assert!(t0.elapsed() < Duration::from_secs(2));
        drop(held);
        assert!(acquire(&path, Duration::ZERO, &no).is_ok());
        let _ = std::fs::remove_file(&path);
    }
}
