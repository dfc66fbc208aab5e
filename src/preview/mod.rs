//! `gitops-agent plan [--config PATH]` (SPEC §13): what a pass would do, done as far as a
//! pass can go without changing the device. The deploy repos are fetched into their clones
//! under `$GITOPS_AGENT_HOME` (as a pass would), then every app is observed and decided on
//! by the pass's own rules (`reconcile::dry`); nothing runs, nothing outside the home is
//! written, nothing is pushed. It holds the pass lock: it moves the deploy clones a pass
//! also moves. Printed per app: would it change and why, the steps, a diff of each config
//! file (`render`).

pub mod render;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use argh::FromArgs;

use crate::config;
use crate::error::{Context, Result};
use crate::layout::Layout;
use crate::lock;
use crate::reconcile::dry;

/// show what a pass would do without doing it: per app whether it would change and why,
/// the commands that would run and a diff of each config file (fetches deploy repos into
/// $GITOPS_AGENT_HOME; runs nothing, pushes nothing)
#[derive(FromArgs, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "plan",
    error_code(0, "nothing would change"),
    error_code(1, "something would change, or an app cannot be reconciled (shown)"),
    error_code(2, "the agent config cannot be used"),
    error_code(3, "another gitops-agent held the lock past the wait bound")
)]
pub struct Plan {
    /// agent config file (default: the top-level --config, $GITOPS_AGENT_CONFIG, /etc/gitops-agent/config.toml)
    #[argh(option, arg_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Run `plan`: `Ok(true)` when nothing would change.
pub fn run(config_path: &Path, layout: &Layout) -> Result<bool> {
    let cfg = config::load(config_path)?;
    for w in &cfg.warnings {
        log::warn!("{w}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("install signal handlers")?;
    }
    let wait = std::env::var("GITOPS_AGENT_LOCK_WAIT")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(lock::DEFAULT_WAIT, Duration::from_secs);
    let _lock = lock::acquire(&layout.lock_file(), wait, &stop)?;
    let (mut apps, mut changing, mut failing) = (0, 0, 0);
    for group in cfg.groups() {
        let preview = dry::group(&cfg, layout, &group, &stop);
        println!("deploy repo {}@{}", &group.url, group.branch);
        if let Some(problem) = &preview.deploy_problem {
            println!(
                "  (could not be fetched; planned from the last fetched state: {})",
                problem.trim().replace('\n', " | ")
            );
        }
        for p in &preview.apps {
            print!("{}", render::app(p));
            apps += 1;
            changing += usize::from(p.outcome.changes());
            failing += usize::from(matches!(p.outcome, dry::Outcome::Failed(_)));
        }
    }
    println!("plan: {changing} of {apps} app(s) would change, {failing} cannot be reconciled; nothing was changed");
    Ok(changing == 0 && failing == 0)
}
