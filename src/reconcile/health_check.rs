//! Running an app's `health_command` (SPEC §12): `health_retries` tries in all, 5 s apart,
//! each bounded by `health_timeout`, as a hook (process group, bounded output). Exit 0 on
//! any try is healthy.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Ctx;
use crate::hook_env::HookContext;
use crate::hooks;
use crate::infra_meta::HealthCheck;

/// The pause between two tries.
const BETWEEN_TRIES: Duration = Duration::from_secs(5);

/// Run `check` in `dir`; returns the exit code of the last try and the logs of every try,
/// each headed `[<label>] $ <command> (try i of n)`.
pub(super) fn run(
    ctx: &Ctx,
    app: &str,
    check: &HealthCheck,
    dir: &Path,
    label: &str,
    hook: &HookContext,
) -> (i32, String) {
    let mut logs = Vec::new();
    let mut code = 0;
    for attempt in 1..=check.retries {
        log::info!(
            "[{app}] running health_command (try {attempt} of {}): {}",
            check.retries,
            check.command
        );
        let outcome = hooks::run(&check.command, dir, check.timeout, ctx.stop, hook)
            .unwrap_or_else(|e| hooks::Outcome {
                code: 127,
                output: e.to_string(),
            });
        code = outcome.code;
        logs.push(format!(
            "[{label}] $ {} (try {attempt} of {}, health_timeout {} s)\n{}",
            check.command,
            check.retries,
            check.timeout.as_secs(),
            outcome.output
        ));
        if code == 0 || attempt == check.retries || ctx.stop.load(Ordering::Relaxed) {
            break;
        }
        log::warn!("[{app}] health_command exited {code}; trying again in 5 s");
        let until = Instant::now() + BETWEEN_TRIES;
        while Instant::now() < until && !ctx.stop.load(Ordering::Relaxed) {
            crate::sdnotify::watchdog_tick();
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if code == 0 {
        log::info!("[{app}] health check passed");
    } else {
        log::warn!("[{app}] health check failed (exit {code})");
    }
    (code, logs.join("\n"))
}
