//! Which code clones the agent may use at all (SPEC §10), like git's `safe.directory`: a
//! `.git` that someone other than the agent's user owns, or that a group or everyone may
//! write, could hold anything that person planted, so it is refused with the path and the
//! fix. The rule is pure (`judge`); `check` reads the facts with `lstat`.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{Error, Kind, Result};

/// What `lstat` says about a clone's `.git`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GitDirFacts {
    /// A real folder (not a symlink, not a `gitdir:` file pointing elsewhere).
    pub is_dir: bool,
    pub uid: u32,
    pub mode: u32,
}

/// `Ok` when `.git` may be used by an agent running as `agent_uid`; else why not, with the
/// fix (the caller adds the path).
pub fn judge(facts: GitDirFacts, agent_uid: u32) -> std::result::Result<(), String> {
    if !facts.is_dir {
        return Err("is not a folder (a symlink or a `gitdir:` file); a code clone's .git must be its own folder: move it away and the next pass clones anew".into());
    }
    if facts.uid != agent_uid {
        return Err(format!(
            "is owned by uid {} but the agent runs as uid {agent_uid}; whoever owns it decides what the agent checks out as root: `chown -R {agent_uid} <it>` if you trust its content, else move it away",
            facts.uid
        ));
    }
    if facts.mode & 0o022 != 0 {
        return Err(format!(
            "is writable by its group or by everyone (mode {:04o}); `chmod go-w <it>` if you trust its content, else move it away",
            facts.mode & 0o7777
        ));
    }
    Ok(())
}

/// The gate for the clone at `dir`, when it has a `.git` (a folder without one is not a
/// clone yet: nothing to judge). The error names the `.git` path; its kind is `Rejected`.
pub fn check(dir: &Path) -> Result<()> {
    let dot_git = dir.join(".git");
    let Ok(meta) = std::fs::symlink_metadata(&dot_git) else {
        return Ok(());
    };
    let facts = GitDirFacts {
        is_dir: meta.file_type().is_dir(),
        uid: meta.uid(),
        mode: meta.mode(),
    };
    judge(facts, crate::files::current_uid()).map_err(|why| {
        Error::new(
            Kind::Rejected,
            format!("{}: {why}; not touching it", dot_git.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: u32 = 0;

    fn facts(uid: u32, mode: u32) -> GitDirFacts {
        GitDirFacts {
            is_dir: true,
            uid,
            mode: 0o040000 | mode,
        }
    }

    #[test]
    fn own_private_folder_passes() {
        assert!(judge(facts(ME, 0o755), ME).is_ok());
        assert!(judge(facts(ME, 0o700), ME).is_ok());
        assert!(judge(facts(1000, 0o755), 1000).is_ok());
    }

    #[test]
    fn another_owner_is_refused_with_the_chown_fix() {
        let why = judge(facts(65534, 0o755), ME).unwrap_err();
        assert!(why.contains("uid 65534") && why.contains("chown"), "{why}");
    }

    #[test]
    fn group_or_world_writable_is_refused_with_the_chmod_fix() {
        for mode in [0o775, 0o757, 0o777] {
            let why = judge(facts(ME, mode), ME).unwrap_err();
            assert!(why.contains("chmod go-w"), "{mode:o}: {why}");
        }
    }

    #[test]
    fn a_symlink_or_gitfile_is_refused() {
        let f = GitDirFacts {
            is_dir: false,
            uid: ME,
            mode: 0o120777,
        };
        assert!(judge(f, ME).unwrap_err().contains("not a folder"));
    }

    #[test]
    fn check_names_the_dot_git_path() {
        let tmp = crate::git::repo::test_support::TempDir::new("gate");
        let dir = tmp.path().join("clone");
        assert!(check(&dir).is_ok(), "no .git: nothing to judge");
        std::fs::create_dir_all(dir.join(".git")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(".git"), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = check(&dir).unwrap_err();
        assert_eq!(err.kind(), Kind::Rejected);
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", dir.join(".git").display())),
            "{err}"
        );
    }
}
