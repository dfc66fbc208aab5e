//! Stale git lock files: a killed agent (or git) can leave `*.lock` files (`index.lock`,
//! `HEAD.lock`, `refs/heads/x.lock`, ...) that make every later ref or index update fail.
//! One sweep for every caller. A lock is stale only when no live process may be holding it
//! (`verdict`): nobody has it open, and nobody else works in the repository or it is older
//! than [`BOUND`], so a person's `git commit -a` in a code clone (which holds `index.lock`
//! while its editor is open) is left alone; the agent then fails that update and retries.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// A lock this old is stale even when someone works in the repository (git's own locks
/// live for the length of one command; an editor left open for longer loses its commit,
/// as with a lock git would refuse to wait for).
pub const BOUND: Duration = Duration::from_secs(600);

/// What is known of one lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockFacts {
    /// A live process has the file open.
    pub open: bool,
    /// Another live process has its working folder inside the repository.
    pub someone_in_repo: bool,
    pub age: Duration,
}

/// Whether a lock may be removed, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Stale,
    Held,
    Young,
}

/// The rule: never a lock a process has open; a lock in a repository someone works in only
/// after [`BOUND`]; otherwise (a killed writer, a power cut) at once.
pub fn verdict(f: LockFacts) -> Verdict {
    if f.open {
        Verdict::Held
    } else if f.someone_in_repo && f.age < BOUND {
        Verdict::Young
    } else {
        Verdict::Stale
    }
}

/// Remove every stale `*.lock` file at the top of `git_dir` and anywhere under
/// `git_dir/refs`. Each removal (and each lock left for a live process) is logged. All are
/// tried; the first one that could not be removed is the error (naming the file).
pub fn remove_stale(git_dir: &Path) -> Result<()> {
    let mut found = Vec::new();
    collect(git_dir, false, &mut found);
    collect(&git_dir.join("refs"), true, &mut found);
    remove_if_stale(git_dir, &found)
}

/// Remove those of `locks` (in the repository at `git_dir`) that are stale.
pub fn remove_if_stale(git_dir: &Path, locks: &[PathBuf]) -> Result<()> {
    let present: Vec<&PathBuf> = locks
        .iter()
        .filter(|l| std::fs::symlink_metadata(l).is_ok())
        .collect();
    if present.is_empty() {
        return Ok(());
    }
    let repo = repo_root(git_dir);
    let live = Live::scan(&repo);
    let mut first_err = None;
    for lock in present {
        let age = std::fs::symlink_metadata(lock)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .unwrap_or_default();
        let facts = LockFacts {
            open: live.open.iter().any(|p| p == lock),
            someone_in_repo: live.in_repo,
            age,
        };
        match verdict(facts) {
            Verdict::Held => log::warn!("{}: held by a running process; left alone", lock.display()),
            Verdict::Young => log::warn!(
                "{}: someone works in {} (a process has its folder there); left alone for up to {} min",
                lock.display(),
                repo.display(),
                BOUND.as_secs() / 60
            ),
            Verdict::Stale => match std::fs::remove_file(lock) {
                Ok(()) => log::warn!("removed stale lock {}", lock.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_err.get_or_insert_with(|| {
                        Error::msg(format!("remove stale lock {}: {e}", lock.display()))
                    });
                }
            },
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// The worktree of a `.git` folder, else the git dir itself.
fn repo_root(git_dir: &Path) -> PathBuf {
    match (git_dir.file_name(), git_dir.parent()) {
        (Some(n), Some(parent)) if n == ".git" => parent.to_path_buf(),
        _ => git_dir.to_path_buf(),
    }
}

fn collect(dir: &Path, recurse: bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && recurse {
            collect(&path, true, out);
        } else if !is_dir && path.extension().is_some_and(|e| e == "lock") {
            out.push(path);
        }
    }
}

/// Other live processes, as `/proc` shows them (as root: all of them).
struct Live {
    /// Files they have open.
    open: Vec<PathBuf>,
    /// Whether one of them has its working folder inside the repository.
    in_repo: bool,
}

impl Live {
    fn scan(repo: &Path) -> Live {
        let repo = std::fs::canonicalize(repo).unwrap_or_else(|_| repo.to_path_buf());
        let me = std::process::id().to_string();
        let mut live = Live {
            open: Vec::new(),
            in_repo: false,
        };
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return live;
        };
        for p in procs.flatten() {
            let name = p.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            if pid == me {
                continue;
            }
            let dir = p.path();
            if std::fs::read_link(dir.join("cwd")).is_ok_and(|cwd| cwd.starts_with(&repo)) {
                live.in_repo = true;
            }
            for fd in std::fs::read_dir(dir.join("fd"))
                .into_iter()
                .flatten()
                .flatten()
            {
                if let Ok(target) = std::fs::read_link(fd.path()) {
                    if target.starts_with(&repo) {
                        live.open.push(target);
                    }
                }
            }
        }
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::repo::test_support::TempDir;

    const OLD: Duration = Duration::from_secs(3600);
    const NEW: Duration = Duration::from_secs(5);

    fn facts(open: bool, someone_in_repo: bool, age: Duration) -> LockFacts {
        LockFacts {
            open,
            someone_in_repo,
            age,
        }
    }

    #[test]
    fn a_lock_a_process_has_open_is_never_removed() {
        assert_eq!(verdict(facts(true, false, OLD)), Verdict::Held);
        assert_eq!(verdict(facts(true, true, NEW)), Verdict::Held);
    }

    #[test]
    fn a_lock_where_someone_works_is_removed_only_after_the_bound() {
        assert_eq!(verdict(facts(false, true, NEW)), Verdict::Young);
        assert_eq!(verdict(facts(false, true, BOUND)), Verdict::Stale);
    }

    #[test]
    fn a_lock_nobody_can_hold_is_removed_at_once() {
        // a killed agent, a power cut
        assert_eq!(verdict(facts(false, false, NEW)), Verdict::Stale);
        assert_eq!(verdict(facts(false, false, Duration::ZERO)), Verdict::Stale);
    }

    #[test]
    fn locks_at_the_top_and_under_refs_go_other_files_stay() {
        let tmp = TempDir::new("locks");
        let git = tmp.path();
        for f in [
            "index.lock",
            "HEAD.lock",
            "packed-refs.lock",
            "refs/heads/main.lock",
            "refs/heads/team/x.lock",
            "refs/remotes/origin/main.lock",
            "config",
            "refs/heads/main",
            "objects/pack/p.lock",
        ] {
            let path = git.join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        remove_stale(git).unwrap();
        for gone in [
            "index.lock",
            "HEAD.lock",
            "packed-refs.lock",
            "refs/heads/main.lock",
            "refs/heads/team/x.lock",
            "refs/remotes/origin/main.lock",
        ] {
            assert!(!git.join(gone).exists(), "{gone}");
        }
        for kept in ["config", "refs/heads/main", "objects/pack/p.lock"] {
            assert!(git.join(kept).exists(), "{kept}");
        }
    }

    #[test]
    fn a_lock_held_open_by_a_live_process_stays() {
        let tmp = TempDir::new("held");
        let git = tmp.path().join(".git");
        std::fs::create_dir_all(&git).unwrap();
        let lock = git.join("index.lock");
        std::fs::write(&lock, "").unwrap();
        let mut holder = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec 3<\"$1\"; exec sleep 30")
            .arg("sh")
            .arg(&lock)
            .current_dir("/")
            .spawn()
            .unwrap();
        let fd = format!("/proc/{}/fd/3", holder.id());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::read_link(&fd).is_err() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        remove_stale(&git).unwrap();
        let kept = lock.exists();
        holder.kill().unwrap();
        holder.wait().unwrap();
        assert!(kept, "a held lock was removed");
        remove_stale(&git).unwrap();
        assert!(!lock.exists(), "once its holder is gone it is stale");
    }

    #[test]
    fn a_missing_git_dir_is_nothing_to_do() {
        assert!(remove_stale(Path::new("/nonexistent/.git")).is_ok());
    }
}
