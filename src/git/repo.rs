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

use super::transport::connect;
use super::NetOptions;
use crate::error::{Context, Result};
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
/// error naming both (redacted) urls. A non-empty folder that is not a git repository is an
/// error too; the caller decides what to do with it. A fresh clone gets `remote.origin.url`
/// and the standard fetch refspec in `.git/config`, readable by the git CLI.
pub fn open_or_init(dir: &Path, url: &str) -> Result<gix::Repository> {
    let dot_git = dir.join(".git");
    if dot_git.exists() {
        let repo = open_repo(dir)?;
        match origin_url(&repo) {
            Some(found) if same_repo(&found, url) => return Ok(repo),
            Some(found) => crate::bail!(
                "{}: existing clone has origin {} but {} is expected; not touching it",
                dir.display(),
                redact(&found),
                redact(url)
            ),
            None if is_pristine(&repo) => {
                // A crash between `init` and writing the config leaves a repo with no origin
                // and no refs: nothing to lose, so finish the set-up instead of failing forever.
                write_origin(&repo, url)?;
                return open_repo(dir);
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
            crate::bail!(
                "{}: folder is not empty and is not a git repository (expected a clone of {})",
                dir.display(),
                redact(url)
            );
        }
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("create folder {}", dir.display()))?;
    }

    let repo = gix::ThreadSafeRepository::init_opts(
        dir,
        gix::create::Kind::WithWorktree,
        gix::create::Options::default(),
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
        section
            .set("url", BStr::new(url))
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
/// [`connect`](super::transport::connect) (so `net.timeout` and our http client apply).
///
/// A refspec whose source the remote lacks is not an error (a monitoring branch may not
/// exist yet): the caller checks the local ref afterwards. Tags are only fetched when a
/// refspec asks for them. Local refs of branches that vanished on the remote are kept.
pub fn fetch(repo: &gix::Repository, url: &str, refspecs: &[&str], net: &NetOptions) -> Result<()> {
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
    // gix refuses to fetch when none of the refspecs matched a remote ref; for us that is
    // simply "nothing there yet".
    if prepare.ref_map().mappings.is_empty() {
        return Ok(());
    }
    let interrupt = AtomicBool::new(false);
    prepare
        .with_reflog_message(gix::remote::fetch::RefLogMessage::Prefixed {
            action: "fetch".into(),
        })
        .receive(gix::progress::Discard, &interrupt)
        .with_context(ctx)?;
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
