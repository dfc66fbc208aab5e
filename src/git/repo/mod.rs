//! Opening (or creating) a clone, fetching into it, and looking up refs and commits.
//!
//! Clones made here must stay ordinary git clones: a device that ran the Python agent has
//! clones made by `git clone`, and operators inspect ours with the git CLI. So the remote is
//! written to `.git/config` as `[remote "origin"]` with the usual fetch refspec.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use gix::bstr::{BStr, ByteSlice};
use gix::protocol::transport::Service;
use gix::ObjectId;

use crate::error::{Context, Result};
use crate::git::transport::connect;
use crate::git::NetOptions;
use crate::url::{redact, same_repo};

/// The fetch refspec `git clone` writes; ours is the same so the git CLI behaves as usual.
const ORIGIN_FETCH_REFSPEC: &str = "+refs/heads/*:refs/remotes/origin/*";

/// Options for opening every repository the agent touches.
///
/// `isolated()` reads no global/system git config and no `GIT_*` (or other) environment
/// variables: the agent must behave the same on every device, whatever the shell around it
/// sets. Trust is forced to full and every config section is accepted because these clones
/// are the agent's own (it may run as root over folders owned by a service user, and git's
/// ownership rules would otherwise hide `.git/config`, including `remote.origin.url`).
fn open_options() -> gix::open::Options {
    gix::open::Options::isolated()
        .with(gix::sec::Trust::Full)
        .filter_config_section(accept_all_sections)
}

fn accept_all_sections(_meta: &gix::config::file::Metadata) -> bool {
    true
}

/// Open `dir` and install the committer fallback (ref updates write reflogs, which need an
/// identity; the agent needs no global git config, so there usually is none).
fn open_repo(dir: &Path) -> Result<gix::Repository> {
    let mut repo = gix::open_opts(dir, open_options())
        .with_context(|| format!("open git repository {}", dir.display()))?;
    repo.committer_or_set_generic_fallback()
        .with_context(|| format!("set committer fallback in {}", dir.display()))?;
    Ok(repo)
}

/// Open the clone at `dir`, or create it when `dir` is missing or an empty folder.
///
/// An existing clone must have an `origin` whose url names the same repository as `url`
/// (SPEC §3, "origin guard"): a clone of anything else is never touched and this returns an
/// error naming both (redacted) urls. A non-empty folder that is not a git repository becomes
/// a clone with its files kept untracked; a `.git` left by an interrupted init is redone.
/// A fresh clone gets `remote.origin.url`
/// and the standard fetch refspec in `.git/config`, readable by the git CLI.
pub fn open_or_init(dir: &Path, url: &str) -> Result<gix::Repository> {
    let dot_git = dir.join(".git");
    if dot_git.exists() {
        let repo = match open_repo(dir) {
            Ok(repo) => repo,
            // Killed while creating it: no ref was ever written, nothing to lose.
            Err(e) if is_abandoned_init(&dot_git) => return redo_init(dir, url, &e.to_string()),
            Err(e) => return Err(e),
        };
        match origin_url(&repo) {
            Some(found) if same_repo(&found, url) => {
                remove_stale_locks(repo.git_dir());
                return Ok(repo);
            }
            Some(found) => return Err(foreign_origin(dir, &found, url)),
            // A crash during `init` (before or while the config was written) leaves a repo
            // with no origin and no refs: nothing to lose, so set it up anew instead of
            // failing forever.
            None if is_pristine(&repo) => {
                drop(repo);
                return redo_init(dir, url, "no origin");
            }
            None => crate::bail!(
                "{}: existing git repository has no origin url (expected {}); not touching it",
                dir.display(),
                redact(url)
            ),
        }
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
                redact(url)
            );
        }
    }
    init_with_origin(dir, url)
}

/// Replace an unfinished `.git` in `dir` (`why` says what was wrong) with a fresh init.
fn redo_init(dir: &Path, url: &str, why: &str) -> Result<gix::Repository> {
    let dot_git = dir.join(".git");
    log::warn!(
        "{}: unfinished clone ({why}); starting it again",
        dir.display()
    );
    std::fs::remove_dir_all(&dot_git)
        .with_context(|| format!("remove unfinished {}", dot_git.display()))?;
    init_with_origin(dir, url)
}

/// Open the existing clone at `dir` only to look at it: the origin guard applies, but
/// nothing is created or repaired (an unchanged pass stays read-only and cheap).
pub fn open_clone(dir: &Path, url: &str) -> Result<gix::Repository> {
    let repo = open_repo(dir)?;
    match origin_url(&repo) {
        Some(found) if same_repo(&found, url) => Ok(repo),
        Some(found) => Err(foreign_origin(dir, &found, url)),
        None => crate::bail!(
            "{}: existing git repository has no origin url (expected {}); not touching it",
            dir.display(),
            redact(url)
        ),
    }
}

fn foreign_origin(dir: &Path, found: &str, url: &str) -> crate::error::Error {
    crate::error::Error::msg(format!(
        "{}: existing clone has origin {} but {} is expected; not touching it",
        dir.display(),
        redact(found),
        redact(url)
    ))
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

/// Remove `*.lock` files a killed agent left in `git_dir` (top level and `refs/`): they
/// would make every later ref or index update fail. The caller holds the agent's pass lock,
/// so no other writer of ours is running; git itself treats such files as stale too.
fn remove_stale_locks(git_dir: &Path) {
    fn sweep(dir: &Path, recurse: bool) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir && recurse {
                sweep(&path, true);
            } else if !is_dir && path.extension().is_some_and(|e| e == "lock") {
                match std::fs::remove_file(&path) {
                    Ok(()) => log::warn!("removed stale lock {}", path.display()),
                    Err(e) => log::warn!("stale lock {}: {e}", path.display()),
                }
            }
        }
    }
    sweep(git_dir, false);
    sweep(&git_dir.join("refs"), true);
}

/// `git init` (non-bare) in `dir` plus the origin remote, then open it like any clone.
fn init_with_origin(dir: &Path, url: &str) -> Result<gix::Repository> {
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
    write_origin(&repo, url)?;
    // Reopen so the in-memory config sees the origin we just wrote.
    open_repo(dir)
}

/// `remote.origin.url` as written in the repository's own config.
fn origin_url(repo: &gix::Repository) -> Option<String> {
    repo.config_snapshot()
        .string("remote.origin.url")
        .map(|u| u.to_str_lossy().into_owned())
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

/// Write `[remote "origin"]` with `url` and the standard fetch refspec into `.git/config`,
/// keeping every other line (gix-config edits losslessly), replacing the file atomically.
fn write_origin(repo: &gix::Repository, url: &str) -> Result<()> {
    let path = repo.git_dir().join("config");
    let mut config =
        gix::config::File::from_path_no_includes(path.clone(), gix::config::Source::Local)
            .with_context(|| format!("read {}", path.display()))?;
    {
        let mut section = config
            .section_mut_or_create_new("remote", Some(BStr::new("origin")))
            .with_context(|| format!("add remote section to {}", path.display()))?;
        // Tokens stay out of files on disk: the agent always fetches with the url from its
        // config, so the stored origin only has to name the repository.
        let stored = crate::url::without_userinfo(url);
        section
            .set("url", BStr::new(&stored))
            .with_context(|| format!("set remote.origin.url in {}", path.display()))?;
        if section.values("fetch").is_empty() {
            section
                .push("fetch", Some(BStr::new(ORIGIN_FETCH_REFSPEC)))
                .with_context(|| format!("set remote.origin.fetch in {}", path.display()))?;
        }
    }
    let tmp = repo.git_dir().join("config.gitops-agent.tmp");
    std::fs::write(&tmp, config.to_bstring().as_slice())
        .with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("replace {}", path.display()))?;
    Ok(())
}

/// Fetch `refspecs` from `url` into `repo` over one connection made by
/// [`connect`](crate::git::transport::connect) (so `net.timeout` and our http client apply).
///
/// A refspec whose source the remote lacks is not an error (a monitoring branch may not
/// exist yet): the caller checks the local ref afterwards. Tags are only fetched when a
/// refspec asks for them. Local refs of branches that vanished on the remote are kept.
pub fn fetch(repo: &gix::Repository, url: &str, refspecs: &[&str], net: &NetOptions) -> Result<()> {
    fetch_until(repo, url, refspecs, net, &AtomicBool::new(false))
}

/// [`fetch`] that gives up when `stop` becomes true (the agent is shutting down): a big
/// pack on a thin link must not keep a stopping agent alive for minutes. Nothing is lost:
/// the partial pack is discarded and refs are untouched, so the next run fetches again.
pub fn fetch_until(
    repo: &gix::Repository,
    url: &str,
    refspecs: &[&str],
    net: &NetOptions,
    stop: &AtomicBool,
) -> Result<()> {
    let shown = redact(url);
    let ctx = || format!("fetch {shown}");
    if refspecs.is_empty() {
        return Ok(());
    }
    let remote = repo
        .remote_at(url)
        .with_context(ctx)?
        .with_refspecs(
            refspecs.iter().map(|s| BStr::new(*s)),
            gix::remote::Direction::Fetch,
        )
        .with_context(|| format!("fetch {shown}: bad refspec in {refspecs:?}"))?
        // Only what was asked for: no implicit tag following.
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    let transport = connect(url, Service::UploadPack, net).with_context(ctx)?;
    let prepare = remote
        .to_connection_with_transport(transport)
        .prepare_fetch(gix::progress::Discard, Default::default())
        .with_context(ctx)?;
    // A branch deleted on the remote loses its tracking ref, as with `git fetch --prune`:
    // a stale one would keep a deleted deploy branch "applied" without a word, and make
    // every monitoring push expect a tip the remote no longer has (rejected forever).
    let matched: Vec<usize> = prepare
        .ref_map()
        .mappings
        .iter()
        .filter_map(|m| match m.spec_index {
            gix::remote::fetch::refmap::SpecIndex::ExplicitInRemote(i) => Some(i),
            gix::remote::fetch::refmap::SpecIndex::Implicit(_) => None,
        })
        .collect();
    for (i, spec) in refspecs.iter().enumerate() {
        if !matched.contains(&i) {
            prune_tracking_ref(repo, spec).with_context(ctx)?;
        }
    }
    // gix refuses to fetch when none of the refspecs matched a remote ref; for us that is
    // simply "nothing there yet".
    if prepare.ref_map().mappings.is_empty() {
        return Ok(());
    }
    prepare
        .with_reflog_message(gix::remote::fetch::RefLogMessage::Prefixed {
            action: "fetch".into(),
        })
        .receive(gix::progress::Discard, stop)
        .with_context(ctx)?;
    Ok(())
}

/// Delete the destination of a one-branch refspec (`+refs/heads/x:refs/remotes/origin/x`)
/// whose source the remote no longer has. Globs and anything outside `refs/remotes/` are
/// never touched.
fn prune_tracking_ref(repo: &gix::Repository, refspec: &str) -> Result<()> {
    let Some((_, dst)) = refspec.trim_start_matches('+').split_once(':') else {
        return Ok(());
    };
    if !dst.starts_with("refs/remotes/") || dst.contains('*') {
        return Ok(());
    }
    let ctx = || format!("{}: delete {dst} (gone from the remote)", repo_dir(repo));
    if let Some(reference) = repo.try_find_reference(dst).with_context(ctx)? {
        log::info!("{}: {dst} is gone from the remote", repo_dir(repo));
        reference.delete().with_context(ctx)?;
    }
    Ok(())
}

/// The commit `name` (a full ref name like `refs/remotes/origin/main`) points to, peeled
/// through annotated tags; `None` when the ref does not exist.
pub fn find_ref(repo: &gix::Repository, name: &str) -> Result<Option<ObjectId>> {
    let ctx = || format!("{}: look up ref {name}", repo_dir(repo));
    let Some(mut reference) = repo.try_find_reference(name).with_context(ctx)? else {
        return Ok(None);
    };
    let commit = reference.peel_to_commit().with_context(ctx)?;
    Ok(Some(commit.id))
}

/// Resolve `spec` to a commit present locally: a full or abbreviated (at least 4 hex digits)
/// commit id, else a tag (annotated or lightweight), else a branch (local, then `origin`'s).
/// `None` when nothing matches or an abbreviation is ambiguous. Never uses the network.
pub fn resolve_commit(repo: &gix::Repository, spec: &str) -> Option<ObjectId> {
    let spec = spec.trim();
    if spec.is_empty() {
        return None;
    }
    let is_hex = spec.len() >= 4 && spec.len() <= 40 && spec.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex {
        match resolve_hex(repo, spec) {
            HexLookup::Found(id) => return Some(id),
            HexLookup::Ambiguous => return None,
            HexLookup::Absent => {}
        }
    }
    for prefix in ["refs/tags/", "refs/heads/", "refs/remotes/origin/"] {
        if let Ok(Some(id)) = find_ref(repo, &format!("{prefix}{spec}")) {
            return Some(id);
        }
    }
    None
}

enum HexLookup {
    Found(ObjectId),
    Ambiguous,
    Absent,
}

/// Look up a hex id or prefix, keeping only objects that peel to a commit (like git's
/// `<hex>^{commit}` disambiguation), so a blob sharing the prefix does not make it ambiguous.
fn resolve_hex(repo: &gix::Repository, hex: &str) -> HexLookup {
    let candidates: Vec<ObjectId> = if hex.len() == 40 {
        match ObjectId::from_hex(hex.as_bytes()) {
            Ok(id) => vec![id],
            Err(_) => return HexLookup::Absent,
        }
    } else {
        let Ok(prefix) = gix::hash::Prefix::from_hex(hex) else {
            return HexLookup::Absent;
        };
        let mut set = std::collections::HashSet::new();
        match repo.objects.lookup_prefix(prefix, Some(&mut set)) {
            Ok(_) => set.into_iter().collect(),
            Err(_) => return HexLookup::Absent,
        }
    };
    let mut commits: Vec<ObjectId> = candidates
        .into_iter()
        .filter_map(|id| peel_to_commit(repo, id))
        .collect();
    commits.sort();
    commits.dedup();
    match commits.len() {
        0 => HexLookup::Absent,
        1 => HexLookup::Found(commits[0]),
        _ => HexLookup::Ambiguous,
    }
}

fn peel_to_commit(repo: &gix::Repository, id: ObjectId) -> Option<ObjectId> {
    let object = repo.try_find_object(id).ok()??;
    object.peel_to_commit().ok().map(|c| c.id)
}

/// The worktree (or git dir) of `repo`, for error messages.
pub(crate) fn repo_dir(repo: &gix::Repository) -> String {
    repo.workdir()
        .unwrap_or_else(|| repo.git_dir())
        .display()
        .to_string()
}

/// Helpers for tests in `git::*`: temp folders and the git CLI as the reference.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A unique folder under the system temp dir, removed on drop.
    pub struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir().join(format!(
                "gitops-agent-test-{tag}-{}-{}-{nanos}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            // Canonical, so paths compare equal to what git prints.
            TempDir(dir.canonicalize().unwrap())
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A git command isolated from the user's config and environment.
    pub fn git_cmd(dir: &Path) -> Command {
        let mut cmd = Command::new("git");
        cmd.current_dir(dir)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_OBJECT_DIRECTORY")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Test Author")
            .env("GIT_AUTHOR_EMAIL", "author@example.com")
            .env("GIT_COMMITTER_NAME", "Test Committer")
            .env("GIT_COMMITTER_EMAIL", "committer@example.com")
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "protocol.file.allow=always",
            ]);
        cmd
    }

    /// Run git in `dir`, panic with its stderr on failure, return trimmed stdout.
    pub fn git(dir: &Path, args: &[&str]) -> String {
        let out = git_cmd(dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?} in {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    /// Like [`git`] but returns stdout untrimmed.
    pub fn git_raw(dir: &Path, args: &[&str]) -> String {
        let out = git_cmd(dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn write(dir: &Path, rela: &str, content: &str) {
        let path = dir.join(rela);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Commit everything in `work` and return the new commit id.
    pub fn commit_all(work: &Path, msg: &str) -> gix::ObjectId {
        git(work, &["add", "-A"]);
        git(work, &["commit", "-q", "--allow-empty", "-m", msg]);
        oid(&git(work, &["rev-parse", "HEAD"]))
    }

    pub fn oid(hex: &str) -> gix::ObjectId {
        gix::ObjectId::from_hex(hex.trim().as_bytes()).unwrap()
    }

    /// A bare repo `remote.git` fed from a work repo `src`, both in `tmp`.
    /// Commit 1: a.txt, dir/b.txt, dir/sub/c.txt. Commit 2: a.txt changed, dir/ removed, d.txt added.
    pub struct Remote {
        pub bare: PathBuf,
        pub work: PathBuf,
        pub c1: gix::ObjectId,
        pub c2: gix::ObjectId,
    }

    impl Remote {
        pub fn url(&self) -> String {
            format!("file://{}", self.bare.display())
        }
        /// Add a commit on main in the work repo and push it.
        pub fn push_commit(&self, file: &str, content: &str, msg: &str) -> gix::ObjectId {
            write(&self.work, file, content);
            let id = commit_all(&self.work, msg);
            git(&self.work, &["push", "-q", "origin", "main"]);
            id
        }
    }

    pub fn make_remote(tmp: &Path) -> Remote {
        let bare = tmp.join("remote.git");
        let work = tmp.join("src");
        git(tmp, &["init", "-q", "--bare", bare.to_str().unwrap()]);
        git(tmp, &["init", "-q", work.to_str().unwrap()]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        write(&work, "a.txt", "one\n");
        write(&work, "dir/b.txt", "b\n");
        write(&work, "dir/sub/c.txt", "c\n");
        let c1 = commit_all(&work, "first");
        std::fs::remove_dir_all(work.join("dir")).unwrap();
        write(&work, "a.txt", "two\n");
        write(&work, "d.txt", "d\n");
        let c2 = commit_all(&work, "second");
        git(&work, &["push", "-q", "origin", "main"]);
        Remote { bare, work, c1, c2 }
    }

    /// Every `*.lock` file under `dir/.git`.
    pub fn lock_files(dir: &Path) -> Vec<PathBuf> {
        fn walk(p: &Path, out: &mut Vec<PathBuf>) {
            let Ok(rd) = std::fs::read_dir(p) else { return };
            for e in rd.flatten() {
                let path = e.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|x| x == "lock") {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&dir.join(".git"), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use std::time::Duration;

    const MAIN: &str = "+refs/heads/main:refs/remotes/origin/main";

    fn net() -> NetOptions {
        NetOptions {
            timeout: Duration::from_secs(20),
            ..Default::default()
        }
    }

    #[test]
    fn init_writes_origin_the_git_cli_reads() {
        let tmp = TempDir::new("init");
        let dir = tmp.path().join("clone");
        let repo = open_or_init(&dir, "https://tok@h.example/o/r.git").unwrap();
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
        open_or_init(&dir, "https://h.example/o/r").unwrap();
        open_or_init(&dir, " https://h.example/o/r/ ").unwrap();
        // An empty existing folder is fine too.
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        open_or_init(&empty, "https://h.example/o/r").unwrap();
        assert_eq!(
            git(&empty, &["config", "remote.origin.url"]),
            "https://h.example/o/r"
        );
    }

    #[test]
    fn origin_guard_refuses_other_repo() {
        let tmp = TempDir::new("guard");
        let dir = tmp.path().join("clone");
        open_or_init(&dir, "https://u:sekret@h.example/o/r.git").unwrap();
        let err = open_or_init(&dir, "https://h.example/o/other")
            .unwrap_err()
            .to_string();
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
        open_or_init(&dir, "https://h/o/r").unwrap();
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
        open_or_init(&dir, "https://h/o/r").unwrap();
        assert_eq!(git(&dir, &["config", "remote.origin.url"]), "https://h/o/r");
        // Killed before the config was written at all (seen in the crash test): redone too.
        let dir = tmp.path().join("no-config");
        git(tmp.path(), &["init", "-q", dir.to_str().unwrap()]);
        std::fs::remove_file(dir.join(".git/config")).unwrap();
        write(&dir, "kept.txt", "x");
        open_or_init(&dir, "https://h/o/r").unwrap();
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
        let err = open_or_init(&dir, "https://h/o/r").unwrap_err().to_string();
        assert!(err.contains("no origin"), "{err}");
    }

    #[test]
    fn fetch_file_remote_and_missing_refspec_is_not_an_error() {
        let tmp = TempDir::new("fetch");
        let remote = make_remote(tmp.path());
        git(
            &remote.work,
            &["tag", "-a", "v1", "-m", "release 1", &remote.c1.to_string()],
        );
        git(&remote.work, &["push", "-q", "origin", "v1"]);
        let dir = tmp.path().join("clone");
        let repo = open_or_init(&dir, &remote.url()).unwrap();
        fetch(
            &repo,
            &remote.url(),
            &[
                MAIN,
                "+refs/heads/main-monitoring:refs/remotes/origin/main-monitoring",
            ],
            &net(),
        )
        .unwrap();
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/main").unwrap(),
            Some(remote.c2)
        );
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/main-monitoring").unwrap(),
            None
        );
        // Tags only when asked for.
        assert_eq!(find_ref(&repo, "refs/tags/v1").unwrap(), None);
        // Only a missing refspec: still fine, nothing changes.
        fetch(
            &repo,
            &remote.url(),
            &["+refs/heads/nope:refs/remotes/origin/nope"],
            &net(),
        )
        .unwrap();
        assert_eq!(find_ref(&repo, "refs/remotes/origin/nope").unwrap(), None);
        fetch(&repo, &remote.url(), &["+refs/tags/*:refs/tags/*"], &net()).unwrap();
        assert_eq!(find_ref(&repo, "refs/tags/v1").unwrap(), Some(remote.c1));
        // A new commit arrives on the next fetch.
        let c3 = remote.push_commit("e.txt", "e\n", "third");
        fetch(&repo, &remote.url(), &[MAIN], &net()).unwrap();
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/main").unwrap(),
            Some(c3)
        );
        git(&dir, &["fsck", "--full"]);
        assert_eq!(
            git(&dir, &["rev-parse", "refs/remotes/origin/main"]),
            c3.to_string()
        );
        assert!(lock_files(&dir).is_empty());
    }

    #[test]
    fn fetch_prunes_the_tracking_ref_of_a_deleted_branch() {
        let tmp = TempDir::new("prune");
        let remote = make_remote(tmp.path());
        git(&remote.work, &["push", "-q", "origin", "main:other"]);
        let dir = tmp.path().join("clone");
        let repo = open_or_init(&dir, &remote.url()).unwrap();
        let other = "+refs/heads/other:refs/remotes/origin/other";
        fetch(&repo, &remote.url(), &[MAIN, other], &net()).unwrap();
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/other").unwrap(),
            Some(remote.c2)
        );
        git(&remote.bare, &["branch", "-D", "other"]);
        fetch(&repo, &remote.url(), &[MAIN, other], &net()).unwrap();
        assert_eq!(find_ref(&repo, "refs/remotes/origin/other").unwrap(), None);
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/main").unwrap(),
            Some(remote.c2)
        );
        // Also when nothing at all matches any more; objects stay (only the ref goes).
        git(&remote.bare, &["update-ref", "-d", "refs/heads/main"]);
        fetch(&repo, &remote.url(), &[MAIN], &net()).unwrap();
        assert_eq!(find_ref(&repo, "refs/remotes/origin/main").unwrap(), None);
        assert!(repo.find_object(remote.c2).is_ok());
        // Never outside refs/remotes/.
        git(
            &dir,
            &["update-ref", "refs/heads/keep", &remote.c1.to_string()],
        );
        fetch(
            &repo,
            &remote.url(),
            &["+refs/heads/keep:refs/heads/keep"],
            &net(),
        )
        .unwrap();
        assert_eq!(find_ref(&repo, "refs/heads/keep").unwrap(), Some(remote.c1));
    }

    #[test]
    fn fetch_from_empty_remote_is_not_an_error() {
        let tmp = TempDir::new("empty-remote");
        let bare = tmp.path().join("empty.git");
        git(
            tmp.path(),
            &["init", "-q", "--bare", bare.to_str().unwrap()],
        );
        let url = format!("file://{}", bare.display());
        let repo = open_or_init(&tmp.path().join("clone"), &url).unwrap();
        fetch(&repo, &url, &[MAIN], &net()).unwrap();
        assert_eq!(find_ref(&repo, "refs/remotes/origin/main").unwrap(), None);
    }

    #[test]
    fn fetch_unreachable_remote_is_an_error_naming_url() {
        let tmp = TempDir::new("unreachable");
        let url = format!("file://{}/missing.git", tmp.path().display());
        let repo = open_or_init(&tmp.path().join("clone"), &url).unwrap();
        let err = fetch(&repo, &url, &[MAIN], &net()).unwrap_err().to_string();
        assert!(err.contains("missing.git"), "{err}");
    }

    #[test]
    fn clone_made_by_git_cli_opens_and_fetches() {
        let tmp = TempDir::new("cliclone");
        let remote = make_remote(tmp.path());
        let dir = tmp.path().join("cli");
        git(
            tmp.path(),
            &["clone", "-q", &remote.url(), dir.to_str().unwrap()],
        );
        let repo = open_or_init(&dir, &format!("{}/", remote.url())).unwrap();
        let c3 = remote.push_commit("x.txt", "x\n", "third");
        fetch(&repo, &remote.url(), &[MAIN], &net()).unwrap();
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/main").unwrap(),
            Some(c3)
        );
        // Still a normal clone for the git CLI.
        git(&dir, &["fsck", "--full"]);
        git(&dir, &["fetch", "-q", "origin"]);
        assert_eq!(git(&dir, &["rev-parse", "origin/main"]), c3.to_string());
        assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    }

    #[test]
    fn resolve_ids_tags_and_branches() {
        let tmp = TempDir::new("resolve");
        let remote = make_remote(tmp.path());
        git(
            &remote.work,
            &["tag", "-a", "v1", "-m", "release 1", &remote.c1.to_string()],
        );
        git(&remote.work, &["tag", "light", &remote.c2.to_string()]);
        git(&remote.work, &["push", "-q", "origin", "v1", "light"]);
        let repo = open_or_init(&tmp.path().join("clone"), &remote.url()).unwrap();
        assert_eq!(
            resolve_commit(&repo, &remote.c1.to_string()),
            None,
            "nothing fetched yet"
        );
        fetch(
            &repo,
            &remote.url(),
            &[MAIN, "+refs/tags/*:refs/tags/*"],
            &net(),
        )
        .unwrap();

        let hex1 = remote.c1.to_string();
        assert_eq!(resolve_commit(&repo, &hex1), Some(remote.c1));
        assert_eq!(resolve_commit(&repo, &hex1[..7]), Some(remote.c1));
        assert_eq!(
            resolve_commit(&repo, &hex1[..7].to_uppercase()),
            Some(remote.c1)
        );
        assert_eq!(resolve_commit(&repo, "v1"), Some(remote.c1));
        assert_eq!(resolve_commit(&repo, "light"), Some(remote.c2));
        assert_eq!(resolve_commit(&repo, "main"), Some(remote.c2));
        assert_eq!(resolve_commit(&repo, "nope"), None);
        assert_eq!(resolve_commit(&repo, "0000000"), None);
        assert_eq!(resolve_commit(&repo, ""), None);
        // The id of the annotated tag object itself peels to its commit.
        let tag_obj = git(&remote.work, &["rev-parse", "v1"]);
        assert_eq!(resolve_commit(&repo, &tag_obj), Some(remote.c1));
        // A tree id is not a commit.
        let tree = git(&remote.work, &["rev-parse", "HEAD^{tree}"]);
        assert_eq!(resolve_commit(&repo, &tree), None);
        assert_eq!(find_ref(&repo, "refs/tags/v1").unwrap(), Some(remote.c1));
    }

    /// A `git daemon` on 127.0.0.1, killed on drop.
    struct Daemon(std::process::Child);

    impl Drop for Daemon {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn fetch_over_git_daemon() {
        let tmp = TempDir::new("daemon");
        let remote = make_remote(tmp.path());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The dashed program itself: `git daemon` runs it as a child, and killing `git` on
        // drop would leave the daemon running.
        let exec_path = git(tmp.path(), &["--exec-path"]);
        let child = std::process::Command::new(Path::new(exec_path.trim()).join("git-daemon"))
            .current_dir(tmp.path())
            .args([
                "--export-all",
                &format!("--base-path={}", tmp.path().display()),
                &format!("--port={port}"),
                "--listen=127.0.0.1",
                "--reuseaddr",
                tmp.path().to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let _daemon = Daemon(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "git daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let url = format!("git://127.0.0.1:{port}/remote.git");
        let dir = tmp.path().join("clone");
        let repo = open_or_init(&dir, &url).unwrap();
        fetch(
            &repo,
            &url,
            &[
                MAIN,
                "+refs/heads/main-monitoring:refs/remotes/origin/main-monitoring",
            ],
            &net(),
        )
        .unwrap();
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/main").unwrap(),
            Some(remote.c2)
        );
        let c3 = remote.push_commit("y.txt", "y\n", "third");
        fetch(&repo, &url, &[MAIN], &net()).unwrap();
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/main").unwrap(),
            Some(c3)
        );
        git(&dir, &["fsck", "--full"]);
    }
}
