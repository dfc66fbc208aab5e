//! One group of a pass (SPEC §5): bring the deploy clone to `origin/<branch>`, then observe,
//! decide (`plan`) and apply each app. Every failure is turned into that app's report; nothing
//! here stops the pass.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::{AgentConfig, Group};
use crate::error::{Context, Error, Result};
use crate::git::worktree::{self, HeadTarget};
use crate::git::{repo, NetOptions};
use crate::infra_meta::{self, AppSpec};
use crate::layout::Layout;
use crate::plan::{self, Decision, Observed};
use crate::report::{AppReport, Commands, Updation};
use crate::verify::gate::{self, Gate};
use crate::{files, hooks, state, url};

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
    let shown = url::redact(&group.url);
    let gate = Gate::new(cfg, layout, group);
    let (config_side, meta) = match sync_deploy(&dir, &group.url, &group.branch, &net, stop, &gate)
    {
        Ok((deploy, fetch_err)) => {
            let mut side = Updation {
                ok: fetch_err.is_none(),
                git_status: worktree::status_summary(&deploy).unwrap_or_else(|e| e.to_string()),
                latest_commit: worktree::head_commit(&deploy)
                    .and_then(|h| worktree::describe(&deploy, h).ok())
                    .unwrap_or_else(|| "NA".into()),
            };
            if let Some(e) = fetch_err {
                log::error!(
                    "{shown}@{}: {e}; using the last fetched config",
                    group.branch
                );
                side.git_status = format!("{e}\n(last fetched state)\n{}", side.git_status);
            }
            let file = dir.join(&cfg.infra_name).join("infra_meta.toml");
            let meta = std::fs::read(&file)
                .map_err(|e| {
                    Error::msg(format!(
                        "{}: cannot read ({e}); the deploy repo needs <infra_name>/infra_meta.toml for infra `{}`",
                        file.display(),
                        cfg.infra_name
                    ))
                })
                .and_then(|bytes| infra_meta::parse_file(&file.display().to_string(), &bytes))
                .map(|doc| (file.display().to_string(), doc));
            (side, meta)
        }
        Err(e) => {
            log::error!("{shown}@{}: {e}", group.branch);
            let side = Updation {
                ok: false,
                git_status: e.to_string(),
                latest_commit: "NA".into(),
            };
            (side, Err(e))
        }
    };

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

/// Open (or create) the deploy clone, fetch its branch and put the worktree at the tip.
/// A fetch failure is returned beside the repo: the last fetched config still applies.
fn sync_deploy(
    dir: &Path,
    repo_url: &str,
    branch: &str,
    net: &NetOptions,
    stop: &AtomicBool,
    gate: &Gate,
) -> Result<(gix::Repository, Option<Error>)> {
    let deploy = repo::open_or_init(dir, repo_url)?;
    let tracking = format!("refs/remotes/origin/{branch}");
    let fetched = repo::fetch_until(
        &deploy,
        repo_url,
        &[&format!("+refs/heads/{branch}:{tracking}")],
        net,
        stop,
    );
    let tip = repo::find_ref(&deploy, &tracking)?;
    let fetch_err = match (fetched, tip) {
        (Err(e), _) => Some(e),
        (Ok(()), None) => Some(Error::msg(format!(
            "branch `{branch}` not found on {}; push it, or fix the branch after `@` in [applications]",
            url::redact(repo_url)
        ))),
        (Ok(()), Some(_)) => None,
    };
    match (tip, fetch_err) {
        (Some(tip), fetch_err) => {
            // Nothing of an unverified tip is used: the clone stays where it is (SPEC §11).
            gate.admit(&deploy, tip)?;
            if worktree::head_commit(&deploy) != Some(tip)
                || worktree::has_tracked_changes(&deploy)?
            {
                worktree::checkout(&deploy, tip, HeadTarget::Branch(branch.to_string()))
                    .with_context(|| format!("check out {branch} in {}", dir.display()))?;
            }
            Ok((deploy, fetch_err))
        }
        // Nothing was ever fetched: there is no config to fall back on.
        (None, Some(e)) if worktree::head_commit(&deploy).is_none() => Err(e),
        (None, fetch_err) => Ok((deploy, fetch_err)),
    }
}

fn not_checked() -> Updation {
    Updation {
        ok: true,
        git_status: "Not checked for updates".into(),
        latest_commit: "NA".into(),
    }
}

fn reconcile_app(ctx: &Ctx, app: &str, spec: Result<AppSpec>) -> AppReport {
    let spec = match spec.and_then(|s| gate::pinned(ctx.cfg, s)) {
        Ok(s) => s,
        Err(e) => {
            log::error!("[{app}] {e}");
            return AppReport {
                name: app.to_string(),
                config: Updation {
                    ok: false,
                    git_status: e.to_string(),
                    ..ctx.config_side.clone()
                },
                app: not_checked(),
                commands: Commands::NothingRan,
            };
        }
    };
    for w in &spec.warnings {
        log::warn!("{w}");
    }
    let mut config = ctx.config_side.clone();
    let applied_dir = ctx.layout.applied_dir();

    let (obs, code_repo) = match observe(ctx, &spec, &applied_dir, app) {
        Ok(o) => o,
        Err(e) => {
            log::error!("[{app}] {e}");
            config.ok = false;
            config.git_status = e.to_string();
            return AppReport {
                name: app.into(),
                config,
                app: not_checked(),
                commands: Commands::NothingRan,
            };
        }
    };
    match plan::decide(&obs, &spec.section) {
        Decision::InSync | Decision::Adopt => {
            if obs.applied_section.is_none() {
                log::info!("[{app}] in sync; adopting its current infra_meta section as applied");
                if let Err(e) = state::record_applied(&applied_dir, app, &spec.section) {
                    log::warn!("[{app}] {e}");
                }
            }
            let app_side = code_repo.as_ref().map_or_else(not_checked, |c| {
                code_updation(&c.repo, true, None, c.changed)
            });
            AppReport {
                name: app.into(),
                config,
                app: app_side,
                commands: Commands::NothingRan,
            }
        }
        Decision::Update(reasons) => {
            let why: Vec<String> = reasons.iter().map(ToString::to_string).collect();
            log::info!("[{app}] updating: {}", why.join("; "));
            drop(code_repo);
            apply(ctx, app, &spec, config, &applied_dir)
        }
    }
}

/// An app's code clone as observed, with the count of changed tracked files when known.
struct CodeClone {
    repo: gix::Repository,
    changed: Option<usize>,
}

/// Look at the app without changing anything and without network.
fn observe(
    ctx: &Ctx,
    spec: &AppSpec,
    applied_dir: &Path,
    app: &str,
) -> Result<(Observed, Option<CodeClone>)> {
    let mut obs = Observed {
        folder_exists: spec.code_local_path.is_dir(),
        applied_section: state::applied(applied_dir, app),
        ..Observed::default()
    };
    for cf in &spec.config_files {
        match files::resolve_src(ctx.deploy_root, &cf.src)? {
            None => log::warn!(
                "[{app}] config src \"{}\" does not exist in the deploy repo; skipped",
                cf.src
            ),
            Some(src) if !files::same_bytes(&src, &cf.dst) => {
                obs.config_files_differ.push(cf.dst.display().to_string())
            }
            Some(_) => {}
        }
    }
    let mut code_repo = None;
    if obs.folder_exists {
        // A folder that is not (yet) a clone counts as "not at the desired commit"; the
        // origin guard in open_clone keeps a clone of another repo from looking in sync.
        let is_clone = spec.code_local_path.join(".git").exists();
        if let Some(r) = is_clone
            .then(|| repo::open_clone(&spec.code_local_path, &spec.code_url).ok())
            .flatten()
        {
            let desired = repo::resolve_commit(&r, &spec.code_commit_hash);
            obs.at_desired_commit = desired.is_some() && worktree::head_commit(&r) == desired;
            // One status walk per app: it decides drift and feeds the report.
            let changed = obs
                .at_desired_commit
                .then(|| worktree::changed_tracked_paths(&r).ok())
                .flatten();
            obs.tracked_changes = obs.at_desired_commit
                && changed
                    .as_ref()
                    .is_none_or(|c| has_drift(c, ctx.deploy_root, spec));
            code_repo = Some(CodeClone {
                repo: r,
                changed: changed.map(|c| c.len()),
            });
        }
    }
    Ok((obs, code_repo))
}

/// Tracked files differ from HEAD, not counting tracked files that a config file entry
/// deliberately overwrites with the deploy repo's content (else every pass would "correct"
/// them back and forth). Unreadable state counts as drift.
fn has_drift(
    changed: &std::collections::BTreeSet<gix::bstr::BString>,
    deploy_root: &Path,
    spec: &AppSpec,
) -> bool {
    changed.iter().any(|path| {
        let on_disk = spec.code_local_path.join(path.to_string());
        !spec.config_files.iter().any(|cf| {
            cf.dst == on_disk
                && files::resolve_src(deploy_root, &cf.src)
                    .ok()
                    .flatten()
                    .is_some_and(|src| files::same_bytes(&src, &cf.dst))
        })
    })
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

/// pre → code at the desired commit → config files → post; record the section on success.
fn apply(
    ctx: &Ctx,
    app: &str,
    spec: &AppSpec,
    mut config: Updation,
    applied_dir: &Path,
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
    let mut run_hook = |which: &'static str, cmd: &str, codes: &mut Vec<(&'static str, i32)>| {
        log::info!("[{app}] running {which}_updation_command: {cmd}");
        let outcome =
            hooks::run(cmd, &spec.code_local_path, timeout, ctx.stop).unwrap_or_else(|e| {
                hooks::Outcome {
                    code: 127,
                    output: e.to_string(),
                }
            });
        if outcome.code != 0 {
            log::warn!("[{app}] {which}_updation_command exited {}", outcome.code);
        }
        codes.push((which, outcome.code));
        logs.push(format!("[{which}] $ {cmd}\n{}", outcome.output));
    };

    if let Some(pre) = &spec.pre_updation_command {
        if spec.code_local_path.is_dir() {
            run_hook("pre", pre, &mut codes);
        }
    }
    let code_result = sync_code(spec, &ctx.net, ctx.stop);
    let app_side = match &code_result {
        Ok(r) => code_updation(r, true, None, None),
        Err(e) => {
            log::error!("[{app}] {e}");
            match repo::open_or_init(&spec.code_local_path, &spec.code_url) {
                Ok(r) => code_updation(&r, false, Some(e), None),
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
    if let Some(post) = &spec.post_updation_command {
        if spec.code_local_path.is_dir() {
            run_hook("post", post, &mut codes);
        }
    }
    let success = app_side.ok && config.ok && codes.iter().all(|(_, c)| *c == 0);
    if success {
        if let Err(e) = state::record_applied(applied_dir, app, &spec.section) {
            log::warn!("[{app}] {e}");
        }
        log::info!("[{app}] updated to {}", spec.code_commit_hash);
    } else if let Err(e) = state::record_applied(applied_dir, app, plan::FAILED_APPLY) {
        log::warn!("[{app}] {e}");
    }
    AppReport {
        name: app.into(),
        config,
        app: app_side,
        commands: Commands::Ran {
            codes,
            logs: logs.join("\n"),
        },
    }
}

/// Put the code clone at the desired commit, fetching only when it is not present locally.
fn sync_code(spec: &AppSpec, net: &NetOptions, stop: &AtomicBool) -> Result<gix::Repository> {
    let dir = &spec.code_local_path;
    if dir.exists() {
        if let Err(e) = files::adopt_ownership(dir) {
            log::warn!("{e}");
        }
    }
    let code = repo::open_or_init(dir, &spec.code_url)?;
    let desired = match repo::resolve_commit(&code, &spec.code_commit_hash) {
        Some(id) => id,
        None => {
            repo::fetch_until(
                &code,
                &spec.code_url,
                &[
                    "+refs/heads/*:refs/remotes/origin/*",
                    "+refs/tags/*:refs/tags/*",
                ],
                net,
                stop,
            )?;
            repo::resolve_commit(&code, &spec.code_commit_hash).with_context(|| {
                format!(
                    "code_commit_hash `{}` is not a commit or tag of {}; push it or fix infra_meta.toml",
                    spec.code_commit_hash,
                    url::redact(&spec.code_url)
                )
            })?
        }
    };
    worktree::checkout(&code, desired, HeadTarget::Detached)
        .with_context(|| format!("check out {} in {}", spec.code_commit_hash, dir.display()))?;
    Ok(code)
}

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
