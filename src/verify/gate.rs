//! The deploy-sync step's gate (SPEC §11): before the deploy clone is moved to a fetched tip,
//! gather the facts (`last` tip, signature outcome, ancestry) from the repo and the record,
//! let `trust::judge` decide, and act: record a verified tip, log a followed rewind, or
//! return a typed `Refusal` (nothing of the tip is used).

use std::fmt;
use std::path::PathBuf;

use gix::ObjectId;

use super::{store, verify_commit, Outcome, TrustedKeys};
use crate::config::{AgentConfig, Group};
use crate::error::{Error, Kind};
use crate::git::worktree;
use crate::layout::Layout;
use crate::trust::{self, Facts, Reason, Verdict};

/// A tip that must not be used, and where the clone stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub commit: ObjectId,
    pub reason: Reason,
    pub staying_at: Option<ObjectId>,
    /// `staying_at` is the verified tip on record (not a HEAD from before verification).
    pub staying_verified: bool,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "deploy commit {} refused: {}; ",
            trust::short(&self.commit),
            self.reason
        )?;
        match (&self.staying_at, self.staying_verified) {
            (Some(at), true) => write!(
                f,
                "staying at {} (the last verified commit)",
                trust::short(at)
            ),
            (Some(at), false) => write!(f, "staying at {}", trust::short(at)),
            (None, _) => f.write_str("nothing is applied until a verified commit arrives"),
        }?;
        f.write_str("; sign the commit with a key listed in allowed_signers / trusted_pgp_keys")
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Error {
        Error::new(Kind::Verification, r.to_string())
    }
}

/// One group's gate: its keys (when verifying) and the record of its last verified tip.
pub struct Gate<'a> {
    /// `Some` when verifying; an unloaded key set (config parsed, files not read) verifies
    /// nothing, so it fails closed.
    keys: Option<&'a TrustedKeys>,
    record: PathBuf,
}

static NO_KEYS: TrustedKeys = TrustedKeys {
    ssh: Vec::new(),
    pgp: Vec::new(),
};

impl<'a> Gate<'a> {
    pub fn new(cfg: &'a AgentConfig, layout: &Layout, group: &Group) -> Gate<'a> {
        Gate {
            keys: cfg
                .verifying()
                .then(|| cfg.trusted_keys.as_ref().unwrap_or(&NO_KEYS)),
            record: store::path(layout, &group.url, &group.branch),
        }
    }

    /// May `repo` (the deploy clone) be moved to `tip`? `Ok` also records a newly verified
    /// tip; a refusal leaves the clone and the record as they are.
    pub fn admit(&self, repo: &gix::Repository, tip: ObjectId) -> Result<(), Refusal> {
        let head = worktree::head_commit(repo);
        let verifying = self.keys.is_some();
        let recorded = self.keys.and_then(|_| store::read(&self.record));
        if trust::is_settled(verifying, tip, recorded, head) {
            return Ok(());
        }
        let mut facts = Facts {
            verifying,
            tip,
            recorded,
            head,
            descends: None,
            outcome: self.keys.map(|keys| match raw_commit(repo, tip) {
                Ok(raw) => verify_commit(&raw, keys, now()),
                Err(detail) => Outcome::BadSignature { detail },
            }),
        };
        facts.descends = facts
            .last()
            .filter(|old| *old != tip)
            .map(|old| descends(repo, old, tip));
        match trust::judge(&facts) {
            Verdict::Unchanged => Ok(()),
            Verdict::Accept { record } => {
                if let (true, Some(o)) = (record, &facts.outcome) {
                    log::info!("deploy commit {}: {o}", trust::short(&tip));
                    if let Err(e) = store::write(&self.record, tip) {
                        log::warn!("{e}; rewind protection falls back to the deploy clone's HEAD");
                    }
                }
                Ok(())
            }
            Verdict::AcceptWithWarning(w) => {
                log::warn!("{w}");
                Ok(())
            }
            Verdict::Refuse(reason) => Err(Refusal {
                commit: tip,
                reason,
                staying_at: head,
                staying_verified: head.is_some() && head == recorded,
            }),
        }
    }
}

/// The commit object's bytes (what `git cat-file commit` prints).
fn raw_commit(repo: &gix::Repository, id: ObjectId) -> Result<Vec<u8>, String> {
    let object = repo
        .find_object(id)
        .map_err(|e| format!("cannot read commit {id}: {e}"))?;
    if object.kind != gix::object::Kind::Commit {
        return Err(format!("{id} is a {}, not a commit", object.kind));
    }
    Ok(object.data.clone())
}

/// Whether `old` is `new` or one of its ancestors. Unreadable history counts as "no": with
/// verification on that refuses, which is the safe side.
fn descends(repo: &gix::Repository, old: ObjectId, new: ObjectId) -> bool {
    if old == new {
        return true;
    }
    if repo.find_object(old).is_err() {
        return false;
    }
    match repo.rev_walk([new]).all() {
        Ok(walk) => walk.map_while(Result::ok).any(|info| info.id == old),
        Err(_) => false,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// With verification on, an app's `code_commit_hash` must be a full commit id
/// (`trust::check_pin`); else the app fails with `❌ config update failed`.
pub fn pinned(
    cfg: &AgentConfig,
    spec: crate::infra_meta::AppSpec,
) -> crate::error::Result<crate::infra_meta::AppSpec> {
    if cfg.verifying() {
        trust::check_pin(&spec.code_commit_hash)
            .map_err(|why| Error::new(Kind::Verification, why))?;
    }
    Ok(spec)
}
