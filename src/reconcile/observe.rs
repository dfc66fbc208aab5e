//! Looking at one app without changing anything, without network and without a child
//! process: the facts `plan::decide` rules on. No decision is taken here.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::compare_memo;
use crate::error::Result;
use crate::files;
use crate::git::{repo, worktree};
use crate::infra_meta::AppSpec;
use crate::plan::{self, ConfigSeen, ConfigState, Observed};
use crate::report::Updation;

/// The facts, and the code clone they were read from (the report describes it).
pub(super) struct Observation {
    pub facts: Observed,
    /// Open when the code folder is a clone of the app's repo (and `in_sync` could not vouch).
    pub clone: Option<gix::Repository>,
    /// The clone proven at the desired commit and clean without opening it, with what the
    /// report says of it.
    pub in_sync: Option<worktree::InSync>,
}

impl Observation {
    /// The number of changed tracked files, when it was counted (saves the report a walk).
    pub fn changed_count(&self) -> Option<usize> {
        self.facts.changed_tracked.as_ref().map(Vec::len)
    }

    /// The app-updation side of the report when nothing ran: the code clone as observed.
    pub fn code_side(&self) -> Updation {
        match (&self.in_sync, &self.clone) {
            (Some(seen), _) => Updation {
                ok: true,
                git_status: seen.status.clone(),
                latest_commit: seen.latest_commit.clone(),
            },
            (None, Some(r)) => super::code_updation(r, true, None, self.changed_count()),
            (None, None) => super::not_checked(),
        }
    }
}

/// Observe `app` as described by `spec`; `ctx.deploy_root` is the canonical deploy clone
/// that config `src` paths are resolved in, `applied_dir` holds the apply records (the
/// group memo has them already, `memo`).
pub(super) fn observe(
    ctx: &super::Ctx,
    spec: &AppSpec,
    applied_dir: &Path,
    app: &str,
) -> Result<Observation> {
    let deploy_root = &ctx.deploy_root;
    let memo = &ctx.memo.paths;
    // (the path check of this turn has just proven it a real folder, most of the time)
    let folder = crate::paths::rules::normalize(&spec.code_local_path);
    let mut facts = Observed {
        folder_exists: memo.is_real_dir(&folder) || spec.code_local_path.is_dir(),
        applied: ctx.memo.applied(applied_dir, app),
        ..Observed::default()
    };
    for (i, cf) in spec.config_files.iter().enumerate() {
        let state = match files::resolve_src_in(deploy_root, &cf.src, Some(memo))? {
            None => {
                log::warn!(
                    "[{app}] config src \"{}\" does not exist in the deploy repo; skipped",
                    cf.src
                );
                ConfigState::SrcMissing
            }
            Some(src) => {
                // (keys taken before the bytes are read: a copy is never older than its key)
                // (the `lstat`s of this turn's checks are reused: nothing changed the disk since)
                let key = |p: &Path| match memo.take_file(&crate::paths::rules::normalize(p)) {
                    Some(meta) => compare_memo::key_from(&meta),
                    None => compare_memo::key_of(p),
                };
                let keys = cf
                    .mode
                    .is_none()
                    .then(|| Some((key(&src)?, key(&cf.dst)?)))
                    .flatten();
                let same = keys.is_some_and(|k| ctx.memo.known_same(app, i, k))
                    || (files::same_bytes(&src, &cf.dst) && files::mode_matches(&cf.dst, cf.mode));
                if let (true, Some(k)) = (same, keys) {
                    ctx.memo.saw_same(app, i, k);
                }
                if same {
                    ConfigState::Same
                } else {
                    ConfigState::Differs
                }
            }
        };
        facts.config_files.push(ConfigSeen {
            dst: cf.dst.clone(),
            state,
        });
    }
    let mut clone = None;
    if facts.folder_exists {
        // The common case costs no gix open: a clean clone at the desired commit (the
        // ownership gate and the origin guard apply there too).
        let (path, url) = (&spec.code_local_path, &spec.code_url);
        if let Some(seen) = worktree::in_sync(path, url, &spec.code_commit_hash) {
            facts.head = Some(seen.head);
            facts.desired = Some(seen.head);
            facts.changed_tracked = Some(Vec::new());
            return Ok(Observation {
                facts,
                clone: None,
                in_sync: Some(seen),
            });
        }
        // A folder that is not (yet) a clone has no HEAD; the origin guard in open_clone
        // keeps a clone of another repo from looking in sync.
        let is_clone = spec.code_local_path.join(".git").exists();
        if let Some(r) = is_clone
            .then(|| repo::open_clone(&spec.code_local_path, &spec.code_url).ok())
            .flatten()
        {
            facts.head = worktree::head_commit(&r);
            facts.desired = repo::resolve_commit(&r, &spec.code_commit_hash);
            // One status walk per app, only where it can matter: it decides drift and
            // feeds the report.
            if plan::at_desired_commit(facts.head, facts.desired) {
                facts.changed_tracked = worktree::changed_tracked_paths(&r).ok().map(|paths| {
                    paths
                        .iter()
                        .map(|p| spec.code_local_path.join(OsStr::from_bytes(p)))
                        .collect()
                });
            }
            clone = Some(r);
        }
    }
    Ok(Observation {
        facts,
        clone,
        in_sync: None,
    })
}
