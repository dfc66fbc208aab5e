//! Updating one app (SPEC §5, §12): snapshot of what ran before (health-checked updates
//! only) → pre command → code at the desired commit → config files → post command → health
//! check → keep, or roll back (`rollback`). Then the records `plan::record_after_apply` asks
//! for. Every failure ends up in the app's report.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use gix::ObjectId;

use super::commands::{hook_context, Ran};
use super::{code, code_updation, health_check, rollback, Ctx};
use crate::error::{Context, Result};
use crate::git::worktree::{self, HeadTarget};
use crate::git::{repo, NetOptions};
use crate::health::{self, Health};
use crate::hook_env::HookContext;
use crate::infra_meta::AppSpec;
use crate::report::{AppReport, HealthCheck, HealthRun, Safety, Updation};
use crate::rollback::Verdict;
use crate::state::{self, quarantine, snapshot, Record};
use crate::{files, paths, plan};

/// What the app ran before this update, as observed.
pub(super) struct Before {
    pub head: Option<ObjectId>,
    pub applied: Option<Record>,
    /// Why the update runs (the plan's reasons), for the hooks' `GITOPS_REASON`.
    pub reason: String,
}

/// Apply `spec` to `app`; `config` is the deploy side of its report so far.
pub(super) fn apply(
    ctx: &Ctx,
    app: &str,
    spec: &AppSpec,
    config: Updation,
    before: Before,
) -> AppReport {
    ctx.memo.disk_changes();
    let failed = |config: Updation, e: &crate::error::Error| {
        log::error!("[{app}] {e}");
        AppReport {
            name: app.into(),
            config,
            app: Updation {
                ok: false,
                git_status: e.to_string(),
                latest_commit: "NA".into(),
            },
            commands: crate::report::Commands::NothingRan,
            safety: Safety::default(),
        }
    };
    // A clone of another repo (origin guard) is never touched: fail before any hook runs,
    // or every pass would stop and start the service for nothing.
    if spec.code_local_path.join(".git").exists() {
        // (open_or_init_code, not open_clone: this is the write path, interrupted state is
        // repaired; the ownership gate applies to both)
        if let Err(e) = repo::open_or_init_code(&spec.code_local_path, &spec.code_url) {
            return failed(config, &e);
        }
    }
    // What ran before is saved before anything changes: the rollback needs it, and so does
    // a pass after a crash in the middle of this update.
    let previous_section = match &before.applied {
        Some(Record::Applied(s)) => Some(s.clone()),
        _ => None,
    };
    let needed = crate::rollback::snapshot_needed(
        spec.safe.health.is_some(),
        before.head.is_some(),
        previous_section.is_some(),
    );
    let snapshot = match (needed, before.head, previous_section) {
        (true, Some(head), Some(section)) => {
            let dsts = spec.config_files.iter().map(|cf| cf.dst.clone());
            let saved = snapshot::capture(&spec.code_local_path, head.to_string(), section, dsts)
                .and_then(|snap| {
                    snapshot::save(&ctx.layout.state_dir(), app, &snap)?;
                    Ok(snap)
                });
            match saved {
                Ok(snap) => Some(snap),
                Err(e) => {
                    let e =
                        e.context("cannot save what runs now for a rollback; nothing was changed");
                    return failed(config, &e);
                }
            }
        }
        _ => None,
    };

    if spec.safe.health.is_some() && snapshot.is_none() {
        // Nothing to go back to: until the health check has passed, this update counts as
        // failed, so one cut short is tried again instead of adopted unchecked.
        if let Err(e) = state::write(&ctx.layout.applied_dir(), app, &Record::Failed) {
            log::warn!("[{app}] {e}");
        }
    }
    let timeout = spec.command_timeout.unwrap_or(ctx.cfg.command_timeout);
    let dir = &spec.code_local_path;
    let hook = hook_context(
        ctx,
        app,
        spec.code_commit_hash.clone(),
        before.head.map(|h| h.to_string()),
        before.reason.clone(),
    );
    let mut ran = Ran::new(hook.clone());
    ran.hook(
        ctx,
        app,
        "pre",
        spec.pre_updation_command.as_deref(),
        dir,
        timeout,
    );
    let mut desired = None;
    let app_side = match sync_code(spec, ctx.cfg.code_fetch_depth, &ctx.net, ctx.stop) {
        Ok((r, id)) => {
            desired = Some(id);
            code_updation(&r, true, None, None)
        }
        Err(e) => {
            log::error!("[{app}] {e}");
            match repo::open_or_init_code(dir, &spec.code_url) {
                Ok(r) => code_updation(&r, false, Some(&e), None),
                Err(_) => Updation {
                    ok: false,
                    git_status: e.to_string(),
                    latest_commit: "NA".into(),
                },
            }
        }
    };
    let mut config = config;
    if let Err(e) = copy_config_files(&ctx.deploy_root, spec, &ctx.code_folders) {
        log::error!("[{app}] {e}");
        config.ok = false;
        config.git_status = e.to_string();
    }
    ran.hook(
        ctx,
        app,
        "post",
        spec.post_updation_command.as_deref(),
        dir,
        timeout,
    );

    let mut report = AppReport {
        name: app.into(),
        config,
        app: app_side,
        commands: ran.commands(),
        safety: Safety {
            health: HealthCheck::Cleared,
            ..Safety::default()
        },
    };
    if snapshot.is_some() && ctx.stop.load(Ordering::Relaxed) {
        // Cut short by a shutdown: the snapshot stays, and the next run puts back what ran
        // before and tries again (as after a crash).
        log::warn!("[{app}] stopping in the middle of an update; the next run resumes");
        return report;
    }
    // The health check runs after an update that otherwise worked; a failed update is
    // reported (and retried) as before.
    let check = spec
        .safe
        .health
        .as_ref()
        .filter(|_| health::of_report(&report) == Health::Healthy);
    let (Some(check), Some(desired)) = (check, desired) else {
        finish(ctx, app, spec, &report);
        return report;
    };
    let hook = HookContext {
        commit: desired.to_string(),
        ..hook
    };
    let (code, logs) = health_check::run(ctx, app, check, dir, "health", &hook);
    if ctx.stop.load(Ordering::Relaxed) {
        // Cut short by a shutdown: the snapshot stays, and the next run puts back what ran
        // before and tries again (as after a crash); without one, the record says failed.
        log::warn!("[{app}] stopping during the health check; the next run resumes");
        return report;
    }
    let run = HealthRun {
        codes: vec![("health", code)],
        logs,
        rollback: None,
    };
    match (
        crate::rollback::verdict(Some(code == 0), snapshot.is_some()),
        snapshot,
    ) {
        (Verdict::RollBack, Some(snap)) => {
            rollback::roll_back(ctx, app, spec, report, &snap, desired, run)
        }
        _ => {
            report.safety.health = HealthCheck::Ran(run);
            finish(ctx, app, spec, &report);
            report
        }
    }
}

/// Remember how the update went (`plan::record_after_apply`), then drop the snapshot: last,
/// so that a crash before it puts back what ran before and the update is done again.
fn finish(ctx: &Ctx, app: &str, spec: &AppSpec, report: &AppReport) {
    let state_dir = ctx.layout.state_dir();
    let record = plan::record_after_apply(report, &spec.section);
    if matches!(record, Record::Applied(_)) {
        log::info!("[{app}] updated to {}", spec.code_commit_hash);
        ctx.remember_deployed(app, spec);
        if let Err(e) = quarantine::remove(&state_dir, app) {
            log::warn!("[{app}] {e}");
        }
    }
    if let Err(e) = state::write(&ctx.layout.applied_dir(), app, &record) {
        log::warn!("[{app}] {e}");
    }
    if let Err(e) = snapshot::discard(&state_dir, app) {
        log::warn!("[{app}] {e}");
    }
}

/// Put the code clone at the desired commit, fetching only when it is not present locally.
fn sync_code(
    spec: &AppSpec,
    depth: u32,
    net: &NetOptions,
    stop: &AtomicBool,
) -> Result<(gix::Repository, ObjectId)> {
    let dir = &spec.code_local_path;
    if dir.exists() {
        if let Err(e) = files::adopt_ownership(dir) {
            log::warn!("{e}");
        }
    }
    let code = repo::open_or_init_code(dir, &spec.code_url)?;
    let desired = fetch_commit(&code, spec, depth, net, stop)?;
    worktree::checkout(&code, desired, HeadTarget::Detached)
        .with_context(|| format!("check out {} in {}", spec.code_commit_hash, dir.display()))?;
    Ok((code, desired))
}

/// The desired commit in `code`, fetched first when it is not there (also used to fetch it
/// ahead of a deferred update).
pub(super) fn fetch_commit(
    code: &gix::Repository,
    spec: &AppSpec,
    depth: u32,
    net: &NetOptions,
    stop: &AtomicBool,
) -> Result<ObjectId> {
    match repo::resolve_commit(code, &spec.code_commit_hash) {
        Some(id) => Ok(id),
        // Only the pin, at `code_fetch_depth` (SPEC §14).
        None => code::fetch_pin(
            code,
            &spec.code_url,
            &spec.code_commit_hash,
            depth,
            net,
            stop,
        ),
    }
}

/// Copy each config file whose `dst` differs from its `src` (bytes or `mode`); a missing
/// `src` is skipped (observing logged it). Each `dst` is judged again first (`paths`): the
/// checkout just done may have brought a code repo's symlink on its way.
fn copy_config_files(
    deploy_root: &Path,
    spec: &AppSpec,
    code_folders: &paths::CodeFolders,
) -> Result<()> {
    for (i, cf) in spec.config_files.iter().enumerate() {
        let Some(src) = files::resolve_src(deploy_root, &cf.src)? else {
            continue;
        };
        paths::check_dst(&cf.dst, code_folders, None)
            .map_err(|e| e.context(format!("key `config_files[{i}].dst`")))?;
        if files::same_bytes(&src, &cf.dst) && files::mode_matches(&cf.dst, cf.mode) {
            continue;
        }
        let bytes = std::fs::read(&src).with_context(|| format!("read {}", src.display()))?;
        crate::atomic::write(&cf.dst, &bytes, cf.mode)
            .with_context(|| format!("copy {} to {}", cf.src, cf.dst.display()))?;
    }
    Ok(())
}
