//! One group of a pass (SPEC §5): bring the deploy clone to `origin/<branch>` (`deploy`),
//! then for each app observe (`observe`: facts only), decide (`plan::decide`) and apply
//! (`apply`). Every failure is turned into that app's report; nothing here stops the pass.

mod apply;
mod code;
mod deploy;
mod observe;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::{AgentConfig, Group};
use crate::error::{Error, Result};
use crate::git::worktree;
use crate::git::NetOptions;
use crate::hook_env::HookContext;
use crate::infra_meta::{self, AppSpec};
use crate::layout::Layout;
use crate::plan::{self, Decision};
use crate::report::{AppReport, Commands, Updation};
use crate::state::{self, Record};

/// What a group's reconcile produced.
pub struct GroupOutcome {
    pub reports: Vec<AppReport>,
    /// A shutdown was requested: apps after `reports` were not visited.
    pub stopped: bool,
    /// The deploy repo could not be fetched (the last fetched config was used, if any).
    pub deploy_failed: bool,
}

/// Everything an app's reconcile needs from its group.
struct Ctx<'a> {
    cfg: &'a AgentConfig,
    layout: &'a Layout,
    net: NetOptions,
    deploy_root: &'a Path,
    config_side: Updation,
    stop: &'a AtomicBool,
}

/// Reconcile every app of `group`.
pub fn group(cfg: &AgentConfig, layout: &Layout, group: &Group, stop: &AtomicBool) -> GroupOutcome {
    let net = cfg.net_options();
    let dir = layout.deploy_clone(&group.url, &group.branch);
    let (config_side, meta) = deploy::sync(cfg, group, &dir, &net, stop);
    let deploy_failed = !config_side.ok;
    // Resolved once per group: every config `src` is checked against it (symlinks included).
    let deploy_root = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
    let ctx = Ctx {
        cfg,
        layout,
        net,
        deploy_root: &deploy_root,
        config_side,
        stop,
    };
    let mut reports = Vec::new();
    for app in &group.apps {
        if stop.load(Ordering::Relaxed) {
            return GroupOutcome {
                reports,
                stopped: true,
                deploy_failed,
            };
        }
        crate::sdnotify::watchdog_tick();
        let spec = match &meta {
            Ok((file, doc)) => infra_meta::app_spec(file, doc, app),
            Err(e) => Err(e.clone()),
        };
        reports.push(reconcile_app(&ctx, app, spec));
    }
    GroupOutcome {
        reports,
        stopped: false,
        deploy_failed,
    }
}

/// observe → plan → apply for one app.
fn reconcile_app(ctx: &Ctx, app: &str, spec: Result<AppSpec>) -> AppReport {
    let config_failed = |e: &Error| {
        log::error!("[{app}] {e}");
        AppReport {
            name: app.to_string(),
            config: Updation {
                ok: false,
                git_status: e.to_string(),
                ..ctx.config_side.clone()
            },
            app: not_checked(),
            commands: Commands::NothingRan,
        }
    };
    let spec = match spec {
        Ok(s) => s,
        Err(e) => return config_failed(&e),
    };
    for w in &spec.warnings {
        log::warn!("{w}");
    }
    let applied_dir = ctx.layout.applied_dir();
    let seen = match observe::observe(ctx.deploy_root, &spec, &applied_dir, app) {
        Ok(o) => o,
        Err(e) => return config_failed(&e),
    };
    let decision = plan::decide(&seen.facts, &spec.section);
    if let Decision::Update(reasons) = decision {
        let why: Vec<String> = reasons.iter().map(ToString::to_string).collect();
        log::info!("[{app}] updating: {}", why.join("; "));
        let hook = HookContext {
            infra: ctx.cfg.infra_name.clone(),
            app: app.to_string(),
            commit: seen
                .facts
                .desired
                .map_or_else(|| spec.code_commit_hash.clone(), |id| id.to_string()),
            previous_commit: seen.facts.head.map(|id| id.to_string()),
            reason: why.join("; "),
        };
        drop(seen);
        return apply::apply(
            ctx,
            app,
            &spec,
            ctx.config_side.clone(),
            &applied_dir,
            &hook,
        );
    }
    if decision == Decision::Adopt {
        log::info!("[{app}] in sync; adopting its current infra_meta section as applied");
        if let Err(e) = state::write(&applied_dir, app, &Record::Applied(spec.section.clone())) {
            log::warn!("[{app}] {e}");
        }
    }
    let changed = seen.changed_count();
    AppReport {
        name: app.into(),
        config: ctx.config_side.clone(),
        app: seen
            .clone
            .as_ref()
            .map_or_else(not_checked, |r| code_updation(r, true, None, changed)),
        commands: Commands::NothingRan,
    }
}

fn not_checked() -> Updation {
    Updation {
        ok: true,
        git_status: "Not checked for updates".into(),
        latest_commit: "NA".into(),
    }
}

/// The app-updation side of the report, from the code clone as it is now (`changed`: the
/// number of changed tracked files when already counted).
fn code_updation(
    r: &gix::Repository,
    ok: bool,
    err: Option<&Error>,
    changed: Option<usize>,
) -> Updation {
    let status = match changed {
        Some(n) => worktree::status_summary_given(r, n),
        None => worktree::status_summary(r),
    }
    .unwrap_or_else(|e| e.to_string());
    Updation {
        ok,
        git_status: match err {
            Some(e) => format!("{e}\n{status}"),
            None => status,
        },
        latest_commit: worktree::head_commit(r)
            .and_then(|h| worktree::describe(r, h).ok())
            .unwrap_or_else(|| "NA".into()),
    }
}
