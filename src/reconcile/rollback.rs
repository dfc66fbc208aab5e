//! Putting back what an app ran before (SPEC §12): after a failed health check (then the
//! refused section is quarantined), and at the start of a visit when an update was cut short
//! by a crash (its snapshot is still there). Either way: pre of the section being restored,
//! the previous commit (it stays in the clone: no network), the previous bytes and mode of
//! every config `dst` (a file that did not exist is removed), post.

use std::path::Path;

use gix::ObjectId;

use super::commands::{hook_context, Ran};
use super::{code_updation, health_check, recorded_spec, Ctx};
use crate::error::{Context, Error, Result};
use crate::git::repo;
use crate::git::worktree::{self, HeadTarget};
use crate::infra_meta::AppSpec;
use crate::report::{AppReport, HealthCheck, HealthRun, Rollback, Safety, Updation};
use crate::state::snapshot::{self, Before, Snapshot};
use crate::state::{self, quarantine, Record};
use crate::{files, rollback};

/// The health check of `spec` failed after its update (`report` so far, `refused` the commit
/// it put in place, `run` the failed check): put `snap` back, check again, quarantine.
pub(super) fn roll_back(
    ctx: &Ctx,
    app: &str,
    spec: &AppSpec,
    mut report: AppReport,
    snap: &Snapshot,
    refused: ObjectId,
    mut run: HealthRun,
) -> AppReport {
    log::warn!("[{app}] rolling back to {}", snap.commit);
    let hook = hook_context(
        ctx,
        app,
        snap.commit.clone(),
        Some(refused.to_string()),
        "rollback: health check failed",
    );
    let mut ran = Ran::new(hook.clone());
    let restored = restore(ctx, app, snap, &mut ran, ("rollback-pre", "rollback-post"));
    ran.append_to(&mut report.commands);
    let state_dir = ctx.layout.state_dir();
    let (code, previous) = match restored {
        Ok(pair) => pair,
        Err(e) => {
            // The snapshot stays: the next visit puts it back before anything else.
            let e = e.context(format!(
                "the health check of {refused} failed and rolling back to {} failed",
                snap.commit
            ));
            log::error!("[{app}] {e}");
            report.app.ok = false;
            report.app.git_status = format!("{e}\n{}", report.app.git_status);
            report.safety.health = HealthCheck::Ran(run);
            write_record(ctx, app, &Record::Failed);
            return report;
        }
    };
    // The check of the section restored, else the one that refused the update.
    let check = rollback::check_after_rollback(
        previous.as_ref().and_then(|p| p.safe.health.clone()),
        spec.safe.health.clone(),
    );
    let mut healthy = true;
    if let Some(check) = check {
        let (code, logs) =
            health_check::run(ctx, app, &check, &snap.code_dir, "rollback-health", &hook);
        run.codes.push(("rollback-health", code));
        run.logs = format!("{}\n{logs}", run.logs);
        healthy = code == 0;
    }
    run.rollback = Some(Rollback {
        from: refused.to_string(),
        running: snap.commit.clone(),
    });
    report.app = code_updation(&code, true, None, None);
    report.app.git_status = format!(
        "{}\n{}",
        super::hold::quarantine_note(app, &refused.to_string(), &snap.commit),
        report.app.git_status
    );
    report.safety.health = HealthCheck::Ran(run.clone());
    let record =
        rollback::record_after_rollback(healthy, previous.as_ref().map(|_| snap.section.as_str()));
    if let (Record::Applied(_), Some(prev)) = (&record, &previous) {
        ctx.remember_deployed(app, prev);
    }
    write_record(ctx, app, &record);
    let refused_section = quarantine::Refused {
        fingerprint: fingerprint(ctx, spec),
        run,
    };
    if let Err(e) = quarantine::write(&state_dir, app, &refused_section) {
        log::warn!("[{app}] {e}");
    }
    if let Err(e) = snapshot::discard(&state_dir, app) {
        log::warn!("[{app}] {e}");
    }
    report
}

/// An update of `app` was cut short (its snapshot is still there): put back what ran before
/// it. `None` when there was nothing to do or it worked; else the report of the failure (the
/// app is not visited further this pass).
pub(super) fn recover(ctx: &Ctx, app: &str, config: &Updation) -> Option<AppReport> {
    let state_dir = ctx.layout.state_dir();
    if !ctx.memo.may_have_snapshot(&state_dir, app) || !snapshot::exists(&state_dir, app) {
        return None;
    }
    log::warn!("[{app}] an update was cut short; putting back what ran before it");
    ctx.memo.disk_changes();
    let mut ran = Ran::new(hook_context(
        ctx,
        app,
        String::new(),
        None,
        "recovery: an update was cut short",
    ));
    let outcome = snapshot::load(&state_dir, app).and_then(|snap| {
        let Some(snap) = snap else { return Ok(()) };
        let (_, previous) = restore(ctx, app, &snap, &mut ran, ("pre", "post"))?;
        write_record(ctx, app, &Record::Applied(snap.section.clone()));
        if let Some(prev) = &previous {
            ctx.remember_deployed(app, prev);
        }
        snapshot::discard(&state_dir, app)
    });
    let e = outcome.err()?.context(format!(
        "an update was cut short and putting back what ran before failed (the saved state is in {}; remove it to go on without it)",
        state_dir.join("snapshots").join(app).display()
    ));
    log::error!("[{app}] {e}");
    Some(AppReport {
        name: app.into(),
        config: config.clone(),
        app: Updation {
            ok: false,
            git_status: e.to_string(),
            latest_commit: "NA".into(),
        },
        commands: ran.commands(),
        safety: Safety::default(),
    })
}

/// pre (of the section restored) → previous commit → previous config bytes → post. Returns
/// the code clone and the restored section's spec (when it still parses).
fn restore(
    ctx: &Ctx,
    app: &str,
    snap: &Snapshot,
    ran: &mut Ran,
    labels: (&'static str, &'static str),
) -> Result<(gix::Repository, Option<AppSpec>)> {
    let previous = match recorded_spec(app, &snap.section) {
        Ok(p) => Some(p),
        Err(e) => {
            log::warn!("[{app}] the section being restored no longer parses ({e}); its commands are not run");
            None
        }
    };
    let timeout = previous
        .as_ref()
        .and_then(|p| p.command_timeout)
        .unwrap_or(ctx.cfg.command_timeout);
    let dir = &snap.code_dir;
    let pre = previous
        .as_ref()
        .and_then(|p| p.pre_updation_command.as_deref());
    ran.hook(ctx, app, labels.0, pre, dir, timeout);
    let id = ObjectId::from_hex(snap.commit.as_bytes())
        .map_err(|_| Error::msg(format!("saved commit `{}` is not a commit id", snap.commit)))?;
    let code_url = snap
        .section
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("code_url")?.as_str().map(str::to_string))
        .ok_or_else(|| Error::msg("the saved section has no `code_url`"))?;
    let code = repo::open_or_init(dir, &crate::url::Url::new(code_url.trim()))?;
    worktree::checkout(&code, id, HeadTarget::Detached)
        .with_context(|| format!("check out {} in {}", snap.commit, dir.display()))?;
    for (dst, before) in &snap.files {
        put_back(dst, before)?;
    }
    let post = previous
        .as_ref()
        .and_then(|p| p.post_updation_command.as_deref());
    ran.hook(ctx, app, labels.1, post, dir, timeout);
    Ok((code, previous))
}

fn put_back(dst: &Path, before: &Before) -> Result<()> {
    match before {
        Before::Absent => state::remove_file(dst),
        Before::Present { bytes, mode } => crate::atomic::write(dst, bytes, Some(*mode))
            .with_context(|| format!("put back {}", dst.display())),
    }
}

/// The fingerprint of `spec` as deployed from this group's clone: its section and the bytes
/// of its config `src` files.
pub(super) fn fingerprint(ctx: &Ctx, spec: &AppSpec) -> String {
    let srcs: Vec<(&str, Vec<u8>)> = spec
        .config_files
        .iter()
        .filter_map(|cf| {
            let path = files::resolve_src(&ctx.deploy_root, &cf.src).ok()??;
            Some((cf.src.as_str(), std::fs::read(path).ok()?))
        })
        .collect();
    let borrowed: Vec<(&str, &[u8])> = srcs.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    rollback::fingerprint(&spec.section, &borrowed)
}

fn write_record(ctx: &Ctx, app: &str, record: &Record) {
    if let Err(e) = state::write(&ctx.layout.applied_dir(), app, record) {
        log::warn!("[{app}] {e}");
    }
}
