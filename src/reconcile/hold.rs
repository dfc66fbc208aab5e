//! Reports of apps the gate holds back (SPEC §12, `plan::gate`): a refused section (the
//! rollback restated, nothing tried), a paused app (observed, drift reported, never changed),
//! a deferred update (the code commit fetched ahead, so the update needs no network later).

use super::observe::Observation;
use super::{apply, Ctx};
use crate::git::repo;
use crate::infra_meta::AppSpec;
use crate::plan::{Decision, Gate};
use crate::report::{AppReport, Commands, HealthCheck, Hold, Safety};
use crate::state::quarantine::Refused;
use crate::windows;

/// The report of `app` held back by `gate` (not `Gate::Go`).
pub(super) fn report(
    ctx: &Ctx,
    app: &str,
    spec: &AppSpec,
    seen: &Observation,
    gate: Gate,
    decision: &Decision,
    refused: Option<Refused>,
) -> AppReport {
    let mut safety = Safety::default();
    let mut note = match gate {
        Gate::Go => String::new(),
        Gate::Quarantined => {
            let rb = refused.as_ref().and_then(|r| r.run.rollback.clone());
            let (from, running) = rb
                .as_ref()
                .map_or(("?", "?"), |r| (r.from.as_str(), r.running.as_str()));
            if let Some(r) = refused {
                safety.health = HealthCheck::Ran(r.run);
            }
            quarantine_note(app, from, running)
        }
        Gate::Paused(by) => {
            safety.hold = Some(Hold::Paused(by));
            format!("⏸️ paused ({by}): observed, never changed")
        }
        Gate::Deferred(by) => {
            safety.hold = Some(Hold::Deferred(by));
            deferred_note(ctx, spec, by)
        }
    };
    let mut why = String::new();
    if let Decision::Update(reasons) = decision {
        let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
        why = format!("; would update: {}", reasons.join("; "));
    }
    log::info!("[{app}] {note}{why}");
    if gate != Gate::Quarantined {
        // (a held refused section states the rollback only: its report stays byte-identical)
        note.push_str(&why);
    }
    if matches!(gate, Gate::Deferred(_)) {
        note.push_str(&match seen.facts.desired {
            // (the same words whether fetched now or before: a held app's report is stable)
            Some(id) => format!("; {id} fetched ahead"),
            None => fetch_ahead(ctx, app, spec, seen),
        });
    }
    let mut app_side = seen.code_side();
    app_side.git_status = format!("{note}\n{}", app_side.git_status);
    AppReport {
        name: app.into(),
        config: ctx.config_side.clone(),
        app: app_side,
        commands: Commands::NothingRan,
        safety,
    }
}

/// The first line of a rolled-back app's `git-status`, the same in the pass that rolled back
/// and in the passes that hold the refused section (so they publish nothing new).
pub(super) fn quarantine_note(app: &str, from: &str, running: &str) -> String {
    format!(
        "rolled back: the health check of {from} failed; running {running}; not tried again until [{app}] or one of its config src files changes"
    )
}

fn deferred_note(ctx: &Ctx, spec: &AppSpec, by: &str) -> String {
    if by == "update_lock" {
        let lock = spec
            .safe
            .update_lock
            .as_deref()
            .unwrap_or(std::path::Path::new("?"));
        format!("⏸️ update deferred: update_lock {} exists", lock.display())
    } else {
        let list = windows::effective(spec.safe.update_windows.as_deref(), &ctx.cfg.update_windows);
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        let from = if spec.safe.update_windows.is_some() {
            "infra_meta"
        } else {
            "the agent config"
        };
        format!(
            "⏸️ update deferred: outside update_windows [{}] ({from})",
            shown.join(", ")
        )
    }
}

/// Fetch the desired commit into the existing clone now, so that applying it later needs no
/// network. A first install has no clone yet: it is fetched when it runs.
fn fetch_ahead(ctx: &Ctx, app: &str, spec: &AppSpec, seen: &Observation) -> String {
    if seen.clone.is_none() {
        return String::new();
    }
    let fetched = repo::open_or_init(&spec.code_local_path, &spec.code_url).and_then(|code| {
        apply::fetch_commit(&code, spec, ctx.cfg.code_fetch_depth, &ctx.net, ctx.stop)
    });
    match fetched {
        Ok(id) => {
            log::info!("[{app}] fetched {id} ahead of the deferred update");
            format!("; {id} fetched ahead")
        }
        Err(e) => {
            log::warn!("[{app}] fetching ahead of the deferred update: {e}");
            format!("; fetching ahead failed: {e}")
        }
    }
}
