//! `gitops-agent plan`'s look at one group (SPEC §13): the deploy clone synced as a pass
//! syncs it (fetch and checkout under `$GITOPS_AGENT_HOME` only), then per app the same
//! steps as `reconcile_app` up to the decision (spec, path rules, observe, `plan::decide`,
//! `plan::gate`) and nothing applied: what would run and which config files would change,
//! as data (`AppPreview`). No command runs, nothing outside the home is written, nothing
//! is pushed.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::{device_holds, observe, recorded_spec, rollback, Ctx};
use crate::config::{AgentConfig, Group};
use crate::error::Result;
use crate::files;
use crate::infra_meta::{self, AppSpec};
use crate::layout::Layout;
use crate::plan::{self, ConfigState, Decision, Gate, Holds, Reason};
use crate::state::{quarantine, snapshot};

/// What a pass would do to one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do.
    InSync,
    /// In sync with no record yet: the section would be recorded as applied, nothing run.
    Adopt,
    /// Would update, for these reasons.
    Update(Vec<String>),
    /// Would update (or is observed only) but is held: by what, and the pending reasons.
    Held { by: String, reasons: Vec<String> },
    /// An update cut short would be put back first (what ran before it).
    Recover,
    /// Its section is gone and `prune` is on: it would be removed.
    Remove,
    /// The app cannot be reconciled; the agent would report this error.
    Failed(String),
}

impl Outcome {
    /// Whether the pass would change something on the device for this app.
    pub fn changes(&self) -> bool {
        matches!(
            self,
            Outcome::Update(_) | Outcome::Recover | Outcome::Remove
        )
    }
}

/// A config file a pass would write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub dst: PathBuf,
    /// `src` as named in infra_meta (relative to the deploy repo).
    pub src: String,
    /// The bytes in place now; `None` when `dst` does not exist.
    pub old: Option<Vec<u8>>,
    pub new: Vec<u8>,
    /// `mode` of the entry, when the bits in place differ from it: (now, wanted).
    pub mode: Option<(u32, u32)>,
}

/// One app's preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPreview {
    pub app: String,
    pub outcome: Outcome,
    /// What would run, in order (commands, code, files).
    pub steps: Vec<String>,
    pub files: Vec<FileChange>,
}

/// One group's preview: how its deploy repo was read (an error of the fetch, if any) and
/// its apps.
pub struct GroupPreview {
    pub deploy_problem: Option<String>,
    pub apps: Vec<AppPreview>,
}

/// Preview every app of `group`.
pub fn group(cfg: &AgentConfig, layout: &Layout, group: &Group, stop: &AtomicBool) -> GroupPreview {
    let super::Opened {
        ctx,
        meta,
        members: m,
        to_remove,
    } = super::open(cfg, layout, group, stop, None);
    let deploy_problem = (!ctx.config_side.ok).then(|| ctx.config_side.git_status.clone());
    let mut apps = Vec::new();
    for app in &m.visit {
        let spec = match &meta {
            Ok((file, doc)) => infra_meta::app_spec(file, doc, app),
            Err(e) => Err(e.clone()),
        };
        apps.push(preview_app(&ctx, app, spec));
    }
    for (app, rec) in &to_remove {
        apps.push(preview_removal(&ctx, app, &rec.section, &rec.files));
    }
    for (app, why) in &m.bad_names {
        apps.push(failed(
            app,
            format!("section name {why}; rename the section (it becomes a file name)"),
        ));
    }
    GroupPreview {
        deploy_problem,
        apps,
    }
}

fn failed(app: &str, why: String) -> AppPreview {
    AppPreview {
        app: app.into(),
        outcome: Outcome::Failed(why),
        steps: Vec::new(),
        files: Vec::new(),
    }
}

/// `reconcile_app` up to its decision.
fn preview_app(ctx: &Ctx, app: &str, spec: Result<AppSpec>) -> AppPreview {
    let spec = match spec.and_then(|s| crate::verify::gate::pinned(ctx.cfg, s)) {
        Ok(s) => s,
        Err(e) => return failed(app, e.to_string()),
    };
    if let Err(e) = ctx.check_paths(&spec) {
        return failed(app, e.to_string());
    }
    let state_dir = ctx.layout.state_dir();
    if snapshot::exists(&state_dir, app) {
        return AppPreview {
            app: app.into(),
            outcome: Outcome::Recover,
            steps: vec!["put back what ran before the update that was cut short (its pre and post commands, commit and config files)".into()],
            files: Vec::new(),
        };
    }
    let seen = match observe::observe(ctx, &spec, &ctx.layout.applied_dir(), app) {
        Ok(o) => o,
        Err(e) => return failed(app, e.to_string()),
    };
    let decision = plan::decide(&seen.facts, &spec.section);
    let quarantined = quarantine::read(&state_dir, app).is_some_and(|r| {
        crate::rollback::is_quarantined(Some(&r.fingerprint), &rollback::fingerprint(ctx, &spec))
    });
    let holds = Holds {
        quarantined,
        paused_by_key: spec.safe.paused,
        ..device_holds(ctx, app, &spec)
    };
    let reasons = match &decision {
        Decision::Update(r) => r.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    };
    let outcome = match (plan::gate(&decision, &holds), &decision) {
        (Gate::Quarantined, _) => Outcome::Held { by: "the health check refused this section (rolled back); change the section or a config src".into(), reasons },
        (Gate::Paused(by), _) => Outcome::Held { by: format!("paused ({by})"), reasons },
        (Gate::Deferred(by), _) => Outcome::Held { by: format!("deferred by {by}"), reasons },
        (Gate::Go, Decision::InSync) => Outcome::InSync,
        (Gate::Go, Decision::Adopt) => Outcome::Adopt,
        (Gate::Go, Decision::Update(_)) => Outcome::Update(reasons),
    };
    let Decision::Update(why) = &decision else {
        return AppPreview {
            app: app.into(),
            outcome,
            steps: Vec::new(),
            files: Vec::new(),
        };
    };
    let steps = update_steps(&spec, &seen.facts, why);
    let files = file_changes(ctx, &spec, &seen.facts);
    AppPreview {
        app: app.into(),
        outcome,
        steps,
        files,
    }
}

/// What `apply` would run for `spec`, in its order.
fn update_steps(spec: &AppSpec, facts: &plan::Observed, why: &[Reason]) -> Vec<String> {
    let dir = spec.code_local_path.display();
    let pin = &spec.code_commit_hash;
    let code = &spec.code_url;
    let mut steps = Vec::new();
    if let (true, Some(cmd)) = (facts.folder_exists, &spec.pre_updation_command) {
        steps.push(format!("run pre_updation_command in {dir}: {cmd}"));
    }
    steps.push(match (facts.folder_exists, facts.desired) {
        (false, _) => format!("clone {code} into {dir} and check out {pin}"),
        (true, None) => format!("fetch {pin} from {code} into {dir} and check out {pin}"),
        (true, Some(id)) if facts.head != Some(id) => {
            format!(
                "check out {pin} ({}, already fetched) in {dir}",
                crate::trust::short(&id)
            )
        }
        (true, Some(_)) if why.contains(&Reason::Drift) => {
            let n = facts.changed_tracked.as_ref().map_or(0, Vec::len);
            format!("reset {n} changed tracked file(s) in {dir} to {pin}")
        }
        (true, Some(_)) => format!("keep {dir} at {pin}"),
    });
    for cf in &spec.config_files {
        let state = facts
            .config_files
            .iter()
            .find(|s| s.dst == cf.dst)
            .map(|s| s.state);
        match state {
            Some(ConfigState::Differs) => {
                steps.push(format!("write {} from {}", cf.dst.display(), cf.src))
            }
            Some(ConfigState::SrcMissing) => steps.push(format!(
                "skip {}: its src {} is not in the deploy repo",
                cf.dst.display(),
                cf.src
            )),
            _ => {}
        }
    }
    if let Some(cmd) = &spec.post_updation_command {
        steps.push(format!("run post_updation_command in {dir}: {cmd}"));
    }
    if let Some(h) = &spec.safe.health {
        steps.push(format!(
            "run health_command in {dir} (up to {} tries): {}; roll back if it fails",
            h.retries, h.command
        ));
    }
    steps
}

/// The config files that differ: what is in place and what would be written.
fn file_changes(ctx: &Ctx, spec: &AppSpec, facts: &plan::Observed) -> Vec<FileChange> {
    let mut out = Vec::new();
    for cf in &spec.config_files {
        if !facts
            .config_files
            .iter()
            .any(|s| s.dst == cf.dst && s.state == ConfigState::Differs)
        {
            continue;
        }
        let Ok(Some(src)) = files::resolve_src(&ctx.deploy_root, &cf.src) else {
            continue;
        };
        let Ok(new) = std::fs::read(&src) else {
            continue;
        };
        let old = std::fs::read(&cf.dst).ok();
        let now = std::fs::metadata(&cf.dst).ok().map(|m| {
            use std::os::unix::fs::PermissionsExt;
            m.permissions().mode() & 0o7777
        });
        let mode = match (now, cf.mode) {
            (Some(now), Some(want)) if now != want => Some((now, want)),
            _ => None,
        };
        out.push(FileChange {
            dst: cf.dst.clone(),
            src: cf.src.clone(),
            old,
            new,
            mode,
        });
    }
    out
}

/// A removal `prune` would carry out, from the section last applied.
fn preview_removal(
    ctx: &Ctx,
    app: &str,
    section: &str,
    written: &[(PathBuf, String)],
) -> AppPreview {
    let spec = match recorded_spec(app, section) {
        Ok(s) => s,
        Err(e) => return failed(app, format!("its section is gone, but the section last applied cannot be read ({e}); not removed")),
    };
    let holds = device_holds(ctx, app, &spec);
    let dir = spec.code_local_path.display();
    let mut steps = Vec::new();
    if let Some(cmd) = &spec.safe.remove_command {
        steps.push(format!("run remove_command in {dir}: {cmd}"));
    }
    for (f, _) in written {
        steps.push(format!(
            "delete {} (unless changed since it was written)",
            f.display()
        ));
    }
    if spec.safe.prune_code {
        steps.push(format!("delete the code folder {dir}"));
    }
    let outcome = match plan::gate(&Decision::Update(vec![]), &holds) {
        Gate::Paused(by) => Outcome::Held {
            by: format!("paused ({by})"),
            reasons: vec!["its section is gone".into()],
        },
        Gate::Deferred(by) => Outcome::Held {
            by: format!("deferred by {by}"),
            reasons: vec!["its section is gone".into()],
        },
        Gate::Go | Gate::Quarantined => Outcome::Remove,
    };
    AppPreview {
        app: app.into(),
        outcome,
        steps,
        files: Vec::new(),
    }
}
