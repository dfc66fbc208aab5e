//! Updating one app (SPEC §5): pre command → code at the desired commit → config files →
//! post command, then the record `plan::record_after_apply` asks for. Every failure ends
//! up in the app's report.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::{code, code_updation, Ctx};
use crate::error::{Context, Result};
use crate::git::worktree::{self, HeadTarget};
use crate::git::{repo, NetOptions};
use crate::hook_env::HookContext;
use crate::infra_meta::AppSpec;
use crate::report::{AppReport, Commands, Updation};
use crate::state::Record;
use crate::{files, hooks, plan, state};

/// Apply `spec` to `app`; `config` is the deploy side of its report so far.
pub(super) fn apply(
    ctx: &Ctx,
    app: &str,
    spec: &AppSpec,
    mut config: Updation,
    applied_dir: &Path,
    hook: &HookContext,
) -> AppReport {
    // A clone of another repo (origin guard) is never touched: fail before any hook runs,
    // or every pass would stop and start the service for nothing.
    if spec.code_local_path.join(".git").exists() {
        // (open_or_init, not open_clone: this is the write path, interrupted state is repaired)
        if let Err(e) = repo::open_or_init(&spec.code_local_path, &spec.code_url) {
            log::error!("[{app}] {e}");
            return AppReport {
                name: app.into(),
                config,
                app: Updation {
                    ok: false,
                    git_status: e.to_string(),
                    latest_commit: "NA".into(),
                },
                commands: Commands::NothingRan,
            };
        }
    }
    let timeout = spec.command_timeout.unwrap_or(ctx.cfg.command_timeout);
    let mut codes: Vec<(&'static str, i32)> = Vec::new();
    let mut logs = Vec::new();
    // Hooks run in the code folder, so only when it exists (SPEC §5).
    let mut run_hook = |which: &'static str, cmd: &Option<String>| {
        let Some(cmd) = cmd.as_deref().filter(|_| spec.code_local_path.is_dir()) else {
            return;
        };
        log::info!("[{app}] running {which}_updation_command: {cmd}");
        let outcome = hooks::run(cmd, &spec.code_local_path, timeout, ctx.stop, hook)
            .unwrap_or_else(|e| hooks::Outcome {
                code: 127,
                output: e.to_string(),
            });
        if outcome.code != 0 {
            log::warn!("[{app}] {which}_updation_command exited {}", outcome.code);
        }
        codes.push((which, outcome.code));
        logs.push(format!("[{which}] $ {cmd}\n{}", outcome.output));
    };

    run_hook("pre", &spec.pre_updation_command);
    let app_side = match sync_code(spec, ctx.cfg.code_fetch_depth, &ctx.net, ctx.stop) {
        Ok(r) => code_updation(&r, true, None, None),
        Err(e) => {
            log::error!("[{app}] {e}");
            match repo::open_or_init(&spec.code_local_path, &spec.code_url) {
                Ok(r) => code_updation(&r, false, Some(&e), None),
                Err(_) => Updation {
                    ok: false,
                    git_status: e.to_string(),
                    latest_commit: "NA".into(),
                },
            }
        }
    };
    if let Err(e) = copy_config_files(ctx.deploy_root, spec) {
        log::error!("[{app}] {e}");
        config.ok = false;
        config.git_status = e.to_string();
    }
    run_hook("post", &spec.post_updation_command);

    let report = AppReport {
        name: app.into(),
        config,
        app: app_side,
        commands: Commands::Ran {
            codes,
            logs: logs.join("\n"),
        },
    };
    let record = plan::record_after_apply(&report, &spec.section);
    if matches!(record, Record::Applied(_)) {
        log::info!("[{app}] updated to {}", spec.code_commit_hash);
    }
    if let Err(e) = state::write(applied_dir, app, &record) {
        log::warn!("[{app}] {e}");
    }
    report
}

/// Put the code clone at the desired commit, fetching only when it is not present locally.
fn sync_code(
    spec: &AppSpec,
    depth: u32,
    net: &NetOptions,
    stop: &AtomicBool,
) -> Result<gix::Repository> {
    let dir = &spec.code_local_path;
    if dir.exists() {
        if let Err(e) = files::adopt_ownership(dir) {
            log::warn!("{e}");
        }
    }
    let code = repo::open_or_init(dir, &spec.code_url)?;
    let desired = match repo::resolve_commit(&code, &spec.code_commit_hash) {
        Some(id) => id,
        // Only the pin, at `code_fetch_depth` (SPEC §14).
        None => code::fetch_pin(
            &code,
            &spec.code_url,
            &spec.code_commit_hash,
            depth,
            net,
            stop,
        )?,
    };
    worktree::checkout(&code, desired, HeadTarget::Detached)
        .with_context(|| format!("check out {} in {}", spec.code_commit_hash, dir.display()))?;
    Ok(code)
}

/// Copy each config file whose `dst` differs from its `src`; a missing `src` is skipped
/// (observing logged it).
fn copy_config_files(deploy_root: &Path, spec: &AppSpec) -> Result<()> {
    for cf in &spec.config_files {
        let Some(src) = files::resolve_src(deploy_root, &cf.src)? else {
            continue;
        };
        if files::same_bytes(&src, &cf.dst) {
            continue;
        }
        let bytes = std::fs::read(&src).with_context(|| format!("read {}", src.display()))?;
        files::atomic_write(&cf.dst, &bytes)
            .with_context(|| format!("copy {} to {}", cf.src, cf.dst.display()))?;
    }
    Ok(())
}
