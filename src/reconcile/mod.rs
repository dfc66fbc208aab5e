//! One group of a pass (SPEC §5, §12): bring the deploy clone to `origin/<branch>`
//! (`deploy`), then for each app put back an update cut short (`rollback::recover`), observe
//! (`observe`: facts only), decide (`plan::decide`, `plan::gate`) and apply (`apply`), or
//! report why it is held (`hold`). Every failure is turned into that app's report; nothing
//! here stops the pass.

mod apply;
mod code;
mod commands;
mod compare_memo;
mod deploy;
pub mod dry;
mod health_check;
mod hold;
mod members;
mod memo;
mod observe;
mod remove;
mod rollback;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::{AgentConfig, Group, ALL_SECTIONS};
use crate::error::{Error, Result};
use crate::git::worktree;
use crate::git::NetOptions;
use crate::infra_meta::{self, AppSpec};
use crate::layout::Layout;
use crate::plan::{self, Decision, Gate, Holds};
use crate::report::{AppReport, Commands, Removal, Safety, Updation};
use crate::state::{self, deployed, quarantine, tombstone, Record};
use crate::verify::gate;
use crate::{clock, windows};

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
    deploy_root: PathBuf,
    config_side: Updation,
    stop: &'a AtomicBool,
    /// `pass::group_key` of the group: recorded with what is deployed, so that one group
    /// never prunes another's apps.
    group_key: String,
    /// Every code folder known on this device (`paths::CodeFolders`, worked out when a
    /// `dst` path first meets a symlink): no config file is written through a symlink inside one.
    code_folders: crate::paths::CodeFolders,
    /// `$GITOPS_AGENT_HOME` with its symlinks resolved (no code folder may be inside it).
    home_physical: PathBuf,
    /// What the group's visit learnt once for every app (`memo`).
    memo: memo::GroupMemo,
}

impl Ctx<'_> {
    /// Where `spec` would make the agent write, judged by the path rules (`paths::check_app`)
    /// with this group's code folders, home and memo: a pass and `plan` ask the same.
    fn check_paths(&self, spec: &AppSpec) -> crate::error::Result<()> {
        crate::paths::check_app(
            spec,
            &self.code_folders,
            &self.layout.home,
            &self.home_physical,
            Some(&self.memo.paths),
        )
    }

    /// Remember what `spec` put in place for `app` (group, section, config files written).
    fn remember_deployed(&self, app: &str, spec: &AppSpec) {
        let rec = deployed::Deployed {
            group: self.group_key.clone(),
            section: spec.section.clone(),
            files: deployed::digests(spec.config_files.iter().map(|cf| cf.dst.clone())),
        };
        if let Err(e) = deployed::write(&self.layout.state_dir(), app, &rec) {
            log::warn!("[{app}] {e}");
        }
    }
}

/// What holds `app` back on this device (SPEC §12): `gitops-agent pause`, its `update_lock`
/// file, its `update_windows` (or the device default) closed now.
fn device_holds(ctx: &Ctx, app: &str, spec: &AppSpec) -> Holds {
    let windows = windows::effective(spec.safe.update_windows.as_deref(), &ctx.cfg.update_windows);
    Holds {
        paused_locally: ctx.memo.is_paused(&ctx.layout.state_dir(), app),
        lock_present: spec
            .safe
            .update_lock
            .as_ref()
            .is_some_and(|p| std::fs::symlink_metadata(p).is_ok()),
        window_closed: !windows.is_empty()
            && !windows::open_at(windows, clock::local_minute(clock::now())),
        ..Holds::default()
    }
}

/// The spec of a section the agent recorded (`AppSpec::section` text).
fn recorded_spec(app: &str, section: &str) -> Result<AppSpec> {
    let table: toml::Table = section
        .parse()
        .map_err(|_| Error::msg(format!("[{app}] the recorded section is not valid TOML")))?;
    let mut doc = toml::Table::new();
    doc.insert(app.to_string(), toml::Value::Table(table));
    infra_meta::app_spec("(the section last applied)", &doc, app)
}

/// A group as both a pass and `plan` begin it: the deploy clone synced, the context of its
/// visits, and which apps to visit, revive and remove.
struct Opened<'a> {
    ctx: Ctx<'a>,
    meta: deploy::Meta,
    members: crate::prune::Members,
    to_remove: Vec<(String, deployed::Deployed)>,
}

fn open<'a>(
    cfg: &'a AgentConfig,
    layout: &'a Layout,
    group: &Group,
    stop: &'a AtomicBool,
    listed: Option<&crate::git::repo::SharedTips<'_>>,
) -> Opened<'a> {
    let net = cfg.net_options();
    let dir = layout.deploy_clone(&group.url, &group.branch);
    // Read before the deploy sync: while the pass's listing may still be on its way.
    let records = state::read_all(&layout.applied_dir());
    let memo = memo::GroupMemo::new(
        &records,
        &layout.state_dir(),
        &crate::pass::group_key(group),
    );
    let fetch = deploy::Fetch {
        net: &net,
        stop,
        listed,
    };
    let (config_side, meta) = deploy::sync(cfg, layout, group, &dir, fetch);
    // Resolved once per group: every config `src` is checked against it (symlinks included).
    let deploy_root = crate::paths::walk::canonical_in(&dir, &memo.paths).unwrap_or(dir);
    let code_folders =
        crate::paths::CodeFolders::new(meta.as_ref().ok().map(|(_, doc)| doc), records);
    let ctx = Ctx {
        cfg,
        layout,
        net,
        deploy_root,
        config_side,
        stop,
        group_key: crate::pass::group_key(group),
        code_folders,
        home_physical: crate::paths::walk::physical_in(&layout.home, Some(&memo.paths)),
        memo,
    };
    let (members, to_remove) = members::members(
        cfg,
        group,
        &meta,
        &layout.state_dir(),
        &ctx.group_key,
        clock::now().seconds,
    );
    Opened {
        ctx,
        meta,
        members,
        to_remove,
    }
}

/// Reconcile every app of `group`. `listed`: the pass's listing of the group's branches
/// (`repo::SharedTips`): the deploy fetch is made only when its tip is not here.
pub fn group(
    cfg: &AgentConfig,
    layout: &Layout,
    group: &Group,
    stop: &AtomicBool,
    listed: Option<&crate::git::repo::SharedTips<'_>>,
) -> GroupOutcome {
    let Opened {
        ctx,
        meta,
        members: m,
        to_remove,
    } = open(cfg, layout, group, stop, listed);
    let deploy_failed = !ctx.config_side.ok;
    let state_dir = layout.state_dir();
    for app in &m.revived {
        if let Err(e) = tombstone::remove(&state_dir, app) {
            log::warn!("[{app}] {e}");
        }
    }
    let mut reports = Vec::new();
    let stopped = |reports| GroupOutcome {
        reports,
        stopped: true,
        deploy_failed,
    };
    for app in &m.visit {
        if stop.load(Ordering::Relaxed) {
            return stopped(reports);
        }
        crate::sdnotify::watchdog_tick();
        let spec = match &meta {
            Ok((file, doc)) => infra_meta::app_spec(file, doc, app),
            Err(e) => Err(e.clone()),
        };
        reports.push(reconcile_app(&ctx, app, spec));
    }
    for (app, rec) in &to_remove {
        if stop.load(Ordering::Relaxed) {
            return stopped(reports);
        }
        reports.push(remove::remove(&ctx, app, rec));
    }
    reports.extend(left_alone(&ctx, &m, &meta));
    for app in &m.expired {
        if let Err(e) = tombstone::remove(&state_dir, app) {
            log::warn!("[{app}] {e}");
        }
    }
    let dropped = m.expired.iter().map(String::as_str).chain(
        // (a "*" group that reads its file again drops the table that said it could not)
        (group.apps.iter().any(|a| a == ALL_SECTIONS) && meta.is_ok()).then_some(ALL_SECTIONS),
    );
    for name in dropped {
        reports.push(AppReport {
            name: name.into(),
            config: ctx.config_side.clone(),
            app: not_checked(),
            commands: Commands::NothingRan,
            safety: Safety {
                removal: Some(Removal::Expired),
                ..Safety::default()
            },
        });
    }
    ctx.memo.persist();
    GroupOutcome {
        reports,
        stopped: false,
        deploy_failed,
    }
}

/// Reports of what a group cannot visit: apps kept by the empty-file guard, sections whose
/// name cannot be an app name, a `"*"` group whose file cannot be read.
fn left_alone(ctx: &Ctx, m: &crate::prune::Members, meta: &deploy::Meta) -> Vec<AppReport> {
    let failed = |name: &str, why: String| AppReport {
        name: name.into(),
        config: Updation {
            ok: false,
            git_status: why,
            ..ctx.config_side.clone()
        },
        app: not_checked(),
        commands: Commands::NothingRan,
        safety: Safety::default(),
    };
    let file = meta
        .as_ref()
        .map(|(f, _)| f.as_str())
        .unwrap_or("infra_meta.toml");
    let mut out = Vec::new();
    if !m.kept_empty.is_empty() {
        log::warn!(
            "{file} has no app at all: not removing {} (set `allow_empty = true` at its top to remove every app)",
            m.kept_empty.join(", ")
        );
    }
    for app in m.kept_empty.iter().filter(|a| !m.visit.contains(a)) {
        out.push(failed(app, format!(
            "{file} has no app at all: [{app}] is not removed; set `allow_empty = true` at the top of the file to remove every app"
        )));
    }
    for (name, why) in &m.bad_names {
        out.push(failed(
            name,
            format!("{file}: section name {why}; rename the section (it becomes a file name)"),
        ));
    }
    if let (true, Err(e)) = (m.unreadable_all, meta) {
        out.push(failed(ALL_SECTIONS, e.to_string()));
    }
    out
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
            safety: Safety::default(),
        }
    };
    let spec = match spec.and_then(|s| gate::pinned(ctx.cfg, s)) {
        Ok(s) => s,
        Err(e) => return config_failed(&e),
    };
    for w in &spec.warnings {
        log::warn!("{w}");
    }
    // Where the section would make the agent write, before anything of the app runs.
    if let Err(e) = ctx.check_paths(&spec) {
        return config_failed(&e);
    }
    // An update cut short (SIGKILL, power loss) is put back before anything else.
    if let Some(failed) = rollback::recover(ctx, app, &ctx.config_side) {
        return failed;
    }
    let applied_dir = ctx.layout.applied_dir();
    let state_dir = ctx.layout.state_dir();
    let seen = match observe::observe(ctx, &spec, &applied_dir, app) {
        Ok(o) => o,
        Err(e) => return config_failed(&e),
    };
    let decision = plan::decide(&seen.facts, &spec.section);
    let refused = ctx.memo.quarantine(&state_dir, app);
    let quarantined = refused.as_ref().is_some_and(|r| {
        crate::rollback::is_quarantined(Some(&r.fingerprint), &rollback::fingerprint(ctx, &spec))
    });
    let holds = Holds {
        quarantined,
        paused_by_key: spec.safe.paused,
        ..device_holds(ctx, app, &spec)
    };
    let gate = plan::gate(&decision, &holds);
    if gate != Gate::Go {
        return hold::report(ctx, app, &spec, &seen, gate, &decision, refused);
    }
    if refused.is_some() {
        // Another section than the refused one goes ahead: the quarantine is over.
        if let Err(e) = quarantine::remove(&state_dir, app) {
            log::warn!("[{app}] {e}");
        }
    }
    if let Decision::Update(reasons) = decision {
        let why: Vec<String> = reasons.iter().map(ToString::to_string).collect();
        log::info!("[{app}] updating: {}", why.join("; "));
        let before = apply::Before {
            head: seen.facts.head,
            applied: seen.facts.applied.clone(),
            reason: why.join("; "),
        };
        drop(seen);
        return apply::apply(ctx, app, &spec, ctx.config_side.clone(), before);
    }
    if decision == Decision::Adopt {
        log::info!("[{app}] in sync; adopting its current infra_meta section as applied");
        if let Err(e) = state::write(&applied_dir, app, &Record::Applied(spec.section.clone())) {
            log::warn!("[{app}] {e}");
        }
        ctx.remember_deployed(app, &spec);
    } else if ctx.cfg.prune && !deployed::exists(&state_dir, app) {
        // Applied by an earlier version, before prune was on: record it once now.
        ctx.remember_deployed(app, &spec);
    }
    AppReport {
        name: app.into(),
        config: ctx.config_side.clone(),
        app: seen.code_side(),
        commands: Commands::NothingRan,
        safety: Safety::default(),
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
