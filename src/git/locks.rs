//! Stale git lock files: a killed agent (or git) can leave `*.lock` files (`index.lock`,
//! `HEAD.lock`, `refs/heads/x.lock`, ...) that make every later ref or index update fail.
//! One sweep for every caller; callers hold the agent's pass lock, so no writer of ours
//! is running, and git itself treats such files as stale too.

use std::path::Path;

use crate::error::{Error, Result};

/// Remove every `*.lock` file at the top of `git_dir` and anywhere under `git_dir/refs`.
/// Each removal is logged. All are tried; the first one that could not be removed is the
/// error (naming the file).
pub fn remove_stale(git_dir: &Path) -> Result<()> {
    let mut first_err = None;
    sweep(git_dir, false, &mut first_err);
    sweep(&git_dir.join("refs"), true, &mut first_err);
    first_err.map_or(Ok(()), Err)
}

fn sweep(dir: &Path, recurse: bool, first_err: &mut Option<Error>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && recurse {
            sweep(&path, true, first_err);
        } else if !is_dir && path.extension().is_some_and(|e| e == "lock") {
            match std::fs::remove_file(&path) {
                Ok(()) => log::warn!("removed stale lock {}", path.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_err.get_or_insert_with(|| {
                        Error::msg(format!("remove stale lock {}: {e}", path.display()))
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::repo::test_support::TempDir;

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
    fn a_missing_git_dir_is_nothing_to_do() {
        assert!(remove_stale(Path::new("/nonexistent/.git")).is_ok());
    }
}
