//! Opening a clone, or creating it: the origin guard (`origin`), repairs after a crash
//! (stale locks, an init cut short), and adopting a non-empty folder.

use std::path::Path;

use super::{gate, origin};
use crate::error::{Context, Result};
use crate::git::locks;
use crate::url::Url;

/// Options for opening every repository the agent touches.
///
/// `isolated()` reads no global/system git config and no `GIT_*` (or other) environment
/// variables, and follows no `include.*`/`includeIf.*`: the agent must behave the same on
/// every device, whatever the shell around it sets. Trust is forced to full (ownership is
/// judged by `gate`, with a message that says what to do), and no value of the repository's
/// own config (`.git/config`, `config.worktree`) is used at all: whoever can write it must
/// not get a program run as root (`filter.*`, `core.fsmonitor`, `core.hooksPath`,
/// `core.sshCommand`, `credential.*`, `remote.*.uploadpack`), the checkout moved
/// (`core.worktree`) or a fetch sent elsewhere (`url.*.insteadOf`) (SPEC §10). gix still
/// reads the format keys it needs to open a repository (`core.bare`,
/// `core.repositoryFormatVersion`, `extensions.*`); the origin guard reads
/// `remote.origin.url` itself (`origin::url`); everything else is git's default.
///
/// The committer fallback (ref updates write reflogs, which need an identity; the agent needs
/// no global git config, so there usually is none) is given here as configuration rather than
/// with `committer_or_set_generic_fallback()` after opening: that call resolves the identity
/// at once, and with it the current date through jiff, whose first look at the local zone
/// reads the whole `/usr/share/zoneinfo` tree (about 3.4 M instructions and 110 system calls
/// per pass). Given as configuration, gix resolves it only when a ref is really written.
fn open_options() -> gix::open::Options {
    gix::open::Options::isolated()
        .with(gix::sec::Trust::Full)
        .filter_config_section(not_repository_config)
        .config_overrides(COMMITTER_FALLBACK)
}

/// What `committer_or_set_generic_fallback()` installs (same name and email).
const COMMITTER_FALLBACK: [&str; 2] = [
    "gitoxide.committer.nameFallback=no name configured",
    "gitoxide.committer.emailFallback=noEmailAvailable@example.com",
];

fn not_repository_config(meta: &gix::config::file::Metadata) -> bool {
    meta.source.kind() != gix::config::source::Kind::Repository
}

/// Open `dir` (with the committer fallback of [`open_options`]).
fn open_repo(dir: &Path) -> Result<gix::Repository> {
    gix::open_opts(dir, open_options())
        .with_context(|| format!("open git repository {}", dir.display()))
}

/// Open the clone at `dir`, or create it when `dir` is missing or an empty folder.
///
/// An existing clone must have an `origin` whose url names the same repository as `url`
/// (SPEC §3, "origin guard"): a clone of anything else is never touched and this returns an
/// error naming both (redacted) urls. A non-empty folder that is not a git repository becomes
/// a clone with its files kept untracked; a `.git` left by an interrupted init is redone.
/// A fresh clone gets `remote.origin.url`
/// and the standard fetch refspec in `.git/config`, readable by the git CLI.
pub fn open_or_init(dir: &Path, url: &Url) -> Result<gix::Repository> {
    let dot_git = dir.join(".git");
    if dot_git.exists() {
        let repo = match open_repo(dir) {
            Ok(repo) => repo,
            // Killed while creating it: no ref was ever written, nothing to lose.
            Err(e) if is_abandoned_init(&dot_git) => return redo_init(dir, url, &e.to_string()),
            Err(e) => return Err(e),
        };
        let found = origin::url(&repo);
        // A crash during `init` (before or while the config was written) leaves a repo with
        // no origin and no refs: nothing to lose, so set it up anew instead of failing
        // forever.
        if found.is_none() && is_pristine(&repo) {
            drop(repo);
            return redo_init(dir, url, "no origin");
        }
        origin::check(dir, found.as_deref(), url)?;
        // The caller holds the agent's pass lock: no writer of ours is running; a person's
        // live git in a code clone is left alone (`locks::verdict`).
        if let Err(e) = locks::remove_stale(repo.git_dir()) {
            log::warn!("{e}");
        }
        return Ok(repo);
    }

    if dir.exists() {
        if !dir.is_dir() {
            crate::bail!("{}: exists and is not a folder", dir.display());
        }
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("read folder {}", dir.display()))?;
        if entries.next().is_some() {
            // Converge rather than wedge: the files stay (untracked; a checkout overwrites
            // only the paths the commit tracks), as after a clone killed half-way.
            log::warn!(
                "{}: folder is not empty and not a git repository; making it a clone of {}",
                dir.display(),
                url
            );
        }
    }
    init_with_origin(dir, url)
}

/// [`open_or_init`] for an app's code clone: first the ownership gate (`gate`), which
/// refuses a `.git` that someone else owns or may write, naming it.
pub fn open_or_init_code(dir: &Path, url: &Url) -> Result<gix::Repository> {
    gate::check(dir)?;
    open_or_init(dir, url)
}

/// Replace an unfinished `.git` in `dir` (`why` says what was wrong) with a fresh init.
fn redo_init(dir: &Path, url: &Url, why: &str) -> Result<gix::Repository> {
    let dot_git = dir.join(".git");
    log::warn!(
        "{}: unfinished clone ({why}); starting it again",
        dir.display()
    );
    std::fs::remove_dir_all(&dot_git)
        .with_context(|| format!("remove unfinished {}", dot_git.display()))?;
    init_with_origin(dir, url)
}

/// Open the existing code clone at `dir` only to look at it: the ownership gate (`gate`)
/// and the origin guard apply, but nothing is created or repaired (an unchanged pass stays
/// read-only and cheap).
pub fn open_clone(dir: &Path, url: &Url) -> Result<gix::Repository> {
    gate::check(dir)?;
    let repo = open_repo(dir)?;
    origin::check(dir, origin::url(&repo).as_deref(), url)?;
    Ok(repo)
}

/// A `.git` that cannot be opened and holds no ref at all: an `init` cut short.
fn is_abandoned_init(dot_git: &Path) -> bool {
    fn has_file(dir: &Path) -> bool {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                let p = e.path();
                if p.is_dir() {
                    has_file(&p)
                } else {
                    true
                }
            })
        })
    }
    dot_git.is_dir() && !dot_git.join("packed-refs").exists() && !has_file(&dot_git.join("refs"))
}

/// `git init` (non-bare) in `dir` plus the origin remote, then open it like any clone.
fn init_with_origin(dir: &Path, url: &Url) -> Result<gix::Repository> {
    std::fs::create_dir_all(dir).with_context(|| format!("create folder {}", dir.display()))?;
    let repo = gix::ThreadSafeRepository::init_opts(
        dir,
        gix::create::Kind::WithWorktree,
        gix::create::Options {
            destination_must_be_empty: Some(false),
            ..Default::default()
        },
        open_options(),
    )
    .with_context(|| format!("init git repository in {}", dir.display()))?
    .to_thread_local();
    origin::write(&repo, url)?;
    // Reopen so the in-memory config sees the origin we just wrote.
    open_repo(dir)
}

/// A repository with no references at all (HEAD may still be a symbolic ref to an unborn branch).
fn is_pristine(repo: &gix::Repository) -> bool {
    let Ok(platform) = repo.references() else {
        return false;
    };
    let Ok(mut all) = platform.all() else {
        return false;
    };
    all.next().is_none()
}

/// The worktree (or git dir) of `repo`, for error messages.
pub fn repo_dir(repo: &gix::Repository) -> String {
    repo.workdir()
        .unwrap_or_else(|| repo.git_dir())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::origin::ORIGIN_FETCH_REFSPEC;
    use super::*;
    use crate::git::repo::fetch;
    use crate::git::repo::test_support::*;

    #[test]
    fn init_writes_origin_the_git_cli_reads() {
        let tmp = TempDir::new("init");
        let dir = tmp.path().join("clone");
        let repo = open_or_init(&dir, &"https://tok@h.example/o/r.git".into()).unwrap();
        assert!(repo.workdir().is_some());
        assert_eq!(
            git(&dir, &["config", "remote.origin.url"]),
            "https://h.example/o/r.git",
            "no token is stored on disk"
        );
        assert_eq!(
            git(&dir, &["config", "remote.origin.fetch"]),
            ORIGIN_FETCH_REFSPEC
        );
        // Reopening with the same repo spelled differently passes the origin guard.
        open_or_init(&dir, &"https://h.example/o/r".into()).unwrap();
        open_or_init(&dir, &" https://h.example/o/r/ ".into()).unwrap();
        // An empty existing folder is fine too.
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        open_or_init(&empty, &"https://h.example/o/r".into()).unwrap();
        assert_eq!(
            git(&empty, &["config", "remote.origin.url"]),
            "https://h.example/o/r"
        );
    }

    #[test]
    fn a_query_token_is_not_stored_and_the_clone_still_opens() {
        let tmp = TempDir::new("query");
        let dir = tmp.path().join("clone");
        let url = "https://h.example/o/r.git?private_token=SEKRET";
        open_or_init(&dir, &url.into()).unwrap();
        let stored = git(&dir, &["config", "remote.origin.url"]);
        assert_eq!(stored, "https://h.example/o/r.git?private_token=***");
        let config = std::fs::read_to_string(dir.join(".git/config")).unwrap();
        assert!(!config.contains("SEKRET"), "{config}");
        // The next pass (same url, or a rotated token) passes the origin guard.
        open_or_init(&dir, &url.into()).unwrap();
        open_or_init(&dir, &"https://h.example/o/r.git?private_token=NEW".into()).unwrap();
    }

    #[test]
    fn origin_guard_refuses_other_repo() {
        let tmp = TempDir::new("guard");
        let dir = tmp.path().join("clone");
        open_or_init(&dir, &"https://u:sekret@h.example/o/r.git".into()).unwrap();
        let err = open_or_init(&dir, &"https://h.example/o/other".into()).unwrap_err();
        assert_eq!(err.kind(), crate::error::Kind::Invalid);
        let err = err.to_string();
        assert!(err.contains("https://h.example/o/r.git"), "{err}");
        assert!(err.contains("https://h.example/o/other"), "{err}");
        assert!(!err.contains("sekret"), "{err}");
        // Nothing was changed.
        assert_eq!(
            git(&dir, &["config", "remote.origin.url"]),
            "https://h.example/o/r.git"
        );
    }

    #[test]
    fn interrupted_init_is_redone() {
        let tmp = TempDir::new("abandoned");
        let dir = tmp.path().join("x");
        // what a kill during `init` leaves: a .git without HEAD or refs
        std::fs::create_dir_all(dir.join(".git/refs/heads")).unwrap();
        std::fs::create_dir_all(dir.join(".git/objects")).unwrap();
        write(&dir, "file.txt", "data");
        open_or_init(&dir, &"https://h/o/r".into()).unwrap();
        assert_eq!(git(&dir, &["config", "remote.origin.url"]), "https://h/o/r");
        assert_eq!(
            std::fs::read_to_string(dir.join("file.txt")).unwrap(),
            "data"
        );
    }

    #[test]
    fn adopting_a_non_empty_folder_keeps_its_files() {
        let tmp = TempDir::new("adopt");
        let remote = make_remote(tmp.path());
        let dir = tmp.path().join("code");
        write(&dir, "local.conf", "keep\n");
        write(&dir, "a.txt", "will be overwritten\n");
        let repo = open_or_init(&dir, &remote.url()).unwrap();
        fetch(&repo, &remote.url(), &[MAIN], &net()).unwrap();
        crate::git::worktree::checkout(
            &repo,
            remote.c2,
            crate::git::worktree::HeadTarget::Detached,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("local.conf")).unwrap(),
            "keep\n"
        );
        assert_eq!(std::fs::read_to_string(dir.join("a.txt")).unwrap(), "two\n");
        assert_eq!(git(&dir, &["status", "--porcelain"]), "?? local.conf");
        // Afterwards it is an ordinary clone.
        open_or_init(&dir, &remote.url()).unwrap();
    }

    #[test]
    fn half_initialized_repo_gets_its_origin() {
        // A crash right after `init`: no origin, no refs. Nothing to lose, so it is finished.
        let tmp = TempDir::new("half");
        let dir = tmp.path().join("r");
        git(tmp.path(), &["init", "-q", dir.to_str().unwrap()]);
        open_or_init(&dir, &"https://h/o/r".into()).unwrap();
        assert_eq!(git(&dir, &["config", "remote.origin.url"]), "https://h/o/r");
        // Killed before the config was written at all (seen in the crash test): redone too.
        let dir = tmp.path().join("no-config");
        git(tmp.path(), &["init", "-q", dir.to_str().unwrap()]);
        std::fs::remove_file(dir.join(".git/config")).unwrap();
        write(&dir, "kept.txt", "x");
        open_or_init(&dir, &"https://h/o/r".into()).unwrap();
        assert_eq!(git(&dir, &["config", "remote.origin.url"]), "https://h/o/r");
        assert_eq!(git(&dir, &["config", "core.bare"]), "false");
        assert_eq!(git(&dir, &["status", "--porcelain"]), "?? kept.txt");
    }

    #[test]
    fn repo_without_origin_but_with_history_is_refused() {
        let tmp = TempDir::new("noorigin");
        let dir = tmp.path().join("r");
        git(tmp.path(), &["init", "-q", dir.to_str().unwrap()]);
        write(&dir, "f", "x");
        commit_all(&dir, "c");
        let err = open_or_init(&dir, &"https://h/o/r".into()).unwrap_err();
        assert_eq!(err.kind(), crate::error::Kind::Invalid);
        let err = err.to_string();
        assert!(err.contains("no origin"), "{err}");
        // Only looking at it: the same guard.
        let err = open_clone(&dir, &"https://h/o/r".into()).unwrap_err();
        assert_eq!(err.kind(), crate::error::Kind::Invalid);
    }

    #[test]
    fn open_clone_applies_the_origin_guard() {
        let tmp = TempDir::new("openclone");
        let dir = tmp.path().join("clone");
        open_or_init(&dir, &"https://h.example/o/r.git".into()).unwrap();
        open_clone(&dir, &"https://tok@h.example/o/r".into()).unwrap();
        let err = open_clone(&dir, &"https://h.example/o/other".into()).unwrap_err();
        assert_eq!(err.kind(), crate::error::Kind::Invalid);
        assert!(err.to_string().contains("not touching it"), "{err}");
    }

    #[test]
    fn program_running_and_write_redirecting_keys_of_the_clone_config_are_ignored() {
        let tmp = TempDir::new("ignored");
        let dir = tmp.path().join("clone");
        open_or_init(&dir, &"https://h/o/r".into()).unwrap();
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        let planted = [
            ("filter.evil.clean", "touch /tmp/x"),
            ("filter.evil.smudge", "touch /tmp/x"),
            ("filter.evil.process", "touch /tmp/x"),
            ("core.fsmonitor", "touch /tmp/x"),
            ("core.hooksPath", "/tmp"),
            ("core.sshCommand", "touch /tmp/x"),
            ("core.askPass", "touch /tmp/x"),
            ("remote.origin.uploadpack", "touch /tmp/x"),
            ("remote.origin.receivepack", "touch /tmp/x"),
            ("credential.helper", "touch /tmp/x"),
            ("url.https://evil/.insteadOf", "https://h/"),
            ("include.path", "/tmp/evil.cfg"),
            ("includeIf.gitdir:/.path", "/tmp/evil.cfg"),
        ];
        for (key, value) in planted {
            git(&dir, &["config", key, value]);
        }
        git(
            &dir,
            &["config", "core.worktree", elsewhere.to_str().unwrap()],
        );
        for repo in [
            open_or_init(&dir, &"https://h/o/r".into()).unwrap(),
            open_clone(&dir, &"https://h/o/r".into()).unwrap(),
        ] {
            // What gix asks before it runs a program (filters, ssh, helpers).
            let config = repo.config_snapshot();
            for (key, _) in planted {
                assert_eq!(config.trusted_program(key).unwrap(), None, "{key} is used");
            }
            assert_eq!(
                repo.workdir(),
                Some(dir.as_path()),
                "core.worktree was used"
            );
        }
    }

    #[test]
    fn the_committer_fallback_is_configured_at_open() {
        let tmp = TempDir::new("committer");
        let dir = tmp.path().join("clone");
        for repo in [
            open_or_init(&dir, &"https://h/o/r".into()).unwrap(),
            open_clone(&dir, &"https://h/o/r".into()).unwrap(),
        ] {
            let who = repo.committer().unwrap().unwrap();
            assert_eq!(who.name, "no name configured");
            assert_eq!(who.email, "noEmailAvailable@example.com");
        }
    }

    #[test]
    fn stale_locks_are_swept_on_open() {
        let tmp = TempDir::new("stale");
        let dir = tmp.path().join("clone");
        open_or_init(&dir, &"https://h/o/r".into()).unwrap();
        std::fs::write(dir.join(".git/index.lock"), "").unwrap();
        std::fs::create_dir_all(dir.join(".git/refs/remotes/origin")).unwrap();
        std::fs::write(dir.join(".git/refs/remotes/origin/main.lock"), "").unwrap();
        open_or_init(&dir, &"https://h/o/r".into()).unwrap();
        assert!(lock_files(&dir).is_empty(), "{:?}", lock_files(&dir));
    }
}
