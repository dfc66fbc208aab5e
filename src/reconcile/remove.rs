//! Removing an app whose section is gone (SPEC §12, opt-in `prune = true`): its
//! `remove_command` (from the section last applied) in its folder, the config files the
//! agent wrote for it (a file changed since is kept, with a warning), its code folder only
//! with `prune_code = true`; then its tombstone (`🗑️ removed`, `removed-at`).

use super::commands::{hook_context, Ran};
use super::{not_checked, recorded_spec, Ctx};
use crate::clock;
use crate::infra_meta::AppSpec;
use crate::plan::{self, Gate};
use crate::prune::{self, FileFate};
use crate::report::{AppReport, Commands, Hold, Removal, Safety, Updation};
use crate::state::tombstone::{self, Tombstone};
use crate::state::{self, deployed, quarantine, sha256_hex, snapshot};

/// Remove `app` (record `rec`), unless it is paused or its update gates are closed.
pub(super) fn remove(ctx: &Ctx, app: &str, rec: &deployed::Deployed) -> AppReport {
    ctx.memo.disk_changes();
    let spec = match recorded_spec(app, &rec.section) {
        Ok(s) => s,
        Err(e) => {
            return report(
                ctx,
                app,
                false,
                &format!("its section is gone, but the section last applied cannot be read ({e}); not removed"),
                Commands::NothingRan,
            )
        }
    };
    let state_dir = ctx.layout.state_dir();
    let holds = super::device_holds(ctx, app, &spec);
    // Removing is a change like an update: it waits as one would.
    let removal = plan::Decision::Update(vec![]);
    let hold = match plan::gate(&removal, &holds) {
        Gate::Paused(by) => Some(Hold::Paused(by)),
        Gate::Deferred(by) => Some(Hold::Deferred(by)),
        Gate::Go | Gate::Quarantined => None,
    };
    if let Some(hold) = hold {
        log::info!("[{app}] its section is gone; the removal waits");
        let mut r = report(
            ctx,
            app,
            true,
            "its section is gone; the removal waits",
            Commands::NothingRan,
        );
        r.safety.hold = Some(hold);
        return r;
    }

    log::info!("[{app}] its section is gone from infra_meta.toml; removing it (prune = true)");
    let timeout = spec.command_timeout.unwrap_or(ctx.cfg.command_timeout);
    let dir = &spec.code_local_path;
    let mut ran = Ran::new(hook_context(
        ctx,
        app,
        String::new(),
        crate::git::repo::open_clone(dir, &spec.code_url)
            .ok()
            .and_then(|r| crate::git::worktree::head_commit(&r))
            .map(|h| h.to_string()),
        "removed: its section is gone (prune = true)",
    ));
    if let Some(code) = ran.hook(
        ctx,
        app,
        "remove",
        spec.safe.remove_command.as_deref(),
        dir,
        timeout,
    ) {
        if code != 0 {
            let note =
                format!("remove_command exited {code}; nothing removed, tried again next pass");
            return report(ctx, app, true, &note, ran.commands());
        }
    }
    for (dst, written) in &rec.files {
        let now = std::fs::read(dst).ok().map(|b| sha256_hex(&b));
        match prune::file_fate(written.as_bytes(), now.as_deref().map(str::as_bytes)) {
            FileFate::Delete => {
                if let Err(e) = state::remove_file(dst) {
                    log::warn!("[{app}] {e}");
                }
            }
            FileFate::KeepChanged => log::warn!(
                "[{app}] {} changed since the agent wrote it; kept",
                dst.display()
            ),
            FileFate::Gone => {}
        }
    }
    if spec.safe.prune_code {
        delete_code_folder(ctx, app, &spec);
    }
    let now = clock::now();
    let at = clock::stamp(now);
    let stone = Tombstone {
        group: ctx.group_key.clone(),
        at: at.clone(),
        at_unix: now.seconds,
    };
    if let Err(e) = tombstone::write(&state_dir, app, &stone) {
        log::warn!("[{app}] {e}");
    }
    forget(ctx, app);
    let commands = match spec.safe.remove_command {
        Some(_) => ran.commands(),
        None => Commands::NothingRan,
    };
    let mut r = report(ctx, app, true, "removed", commands);
    r.safety.removal = Some(Removal::At(at));
    r
}

/// Everything the agent remembers of `app` but its tombstone.
fn forget(ctx: &Ctx, app: &str) {
    let state_dir = ctx.layout.state_dir();
    for result in [
        state::remove(&ctx.layout.applied_dir(), app),
        deployed::remove(&state_dir, app),
        quarantine::remove(&state_dir, app),
        snapshot::discard(&state_dir, app),
    ] {
        if let Err(e) = result {
            log::warn!("[{app}] {e}");
        }
    }
}

fn delete_code_folder(ctx: &Ctx, app: &str, spec: &AppSpec) {
    let dir = &spec.code_local_path;
    let Ok(real) = std::fs::canonicalize(dir) else {
        return; // already gone
    };
    let home = std::fs::canonicalize(&ctx.layout.home).unwrap_or_else(|_| ctx.layout.home.clone());
    if !prune::may_delete_folder(&real, &home) {
        log::warn!(
            "[{app}] prune_code: {} is a system folder or holds the agent's home; kept",
            real.display()
        );
        return;
    }
    log::info!("[{app}] prune_code: deleting {}", real.display());
    if let Err(e) = std::fs::remove_dir_all(&real) {
        log::warn!("[{app}] delete {}: {e}", real.display());
    }
}

/// A report of a removal (done, held or failed); `ok` false when the section last applied
/// could not be read.
fn report(ctx: &Ctx, app: &str, ok: bool, note: &str, commands: Commands) -> AppReport {
    let mut app_side = not_checked();
    app_side.git_status = note.to_string();
    let config = if ok {
        ctx.config_side.clone()
    } else {
        Updation {
            ok: false,
            git_status: note.to_string(),
            ..ctx.config_side.clone()
        }
    };
    AppReport {
        name: app.into(),
        config,
        app: app_side,
        commands,
        safety: Safety::default(),
    }
}
