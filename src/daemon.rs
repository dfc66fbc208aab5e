//! The long-running mode: a pass now, then one every `interval`; signals end the sleep at
//! once (TERM/INT stop, HUP reloads the config before the next pass, USR1 starts a pass now).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};

use crate::backoff::Backoff;
use crate::config::{self, AgentConfig};
use crate::error::Kind;
use crate::error::{Context, Result};
use crate::layout::Layout;
use crate::lock;
use crate::{pass, sdnotify};

/// Used between retries while no usable config exists.
const RETRY_WITHOUT_CONFIG: Duration = Duration::from_secs(300);

enum Wake {
    Stop,
    Reload,
    PassNow,
}

/// Run until SIGTERM/SIGINT. Always returns 0 on a requested stop.
pub fn run(
    config_path: &Path,
    layout: &Layout,
    force_report: bool,
    lock_wait: Duration,
) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1])
        .context("install signal handlers")?;
    {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            for sig in signals.forever() {
                let wake = match sig {
                    SIGHUP => Wake::Reload,
                    SIGUSR1 => Wake::PassNow,
                    _ => {
                        // Seen by a running pass (between apps) and a running hook.
                        stop.store(true, Ordering::SeqCst);
                        Wake::Stop
                    }
                };
                if tx.send(wake).is_err() {
                    break;
                }
            }
        });
    }

    let mut cfg: Option<AgentConfig> = load(config_path);
    sdnotify::notify("READY=1");
    let mut force = force_report;
    let mut backoff = Backoff::default();
    let mut next_full = Instant::now();
    loop {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if cfg.is_none() {
            cfg = load(config_path);
        }
        match &cfg {
            Some(c) if Instant::now() >= next_full => {
                run_pass(c, layout, force, &stop, lock_wait, None, &mut backoff);
                force = false;
                next_full = Instant::now() + c.interval;
            }
            Some(c) => {
                // Woken early for groups that failed: retry just those.
                let due = backoff.due(Instant::now());
                if !due.is_empty() {
                    run_pass(c, layout, false, &stop, lock_wait, Some(&due), &mut backoff);
                }
            }
            None => {
                sdnotify::notify("STATUS=no usable config; retrying");
                next_full = Instant::now() + RETRY_WITHOUT_CONFIG;
            }
        }
        // Sleep until the next pass or retry, or until a signal says otherwise.
        let until = backoff.next_retry().map_or(next_full, |r| r.min(next_full));
        loop {
            sdnotify::notify("WATCHDOG=1");
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let nap = sdnotify::watchdog_period().map_or(left, |w| w.min(left));
            match rx.recv_timeout(nap) {
                Ok(Wake::Stop) => break,
                Ok(Wake::PassNow) => {
                    log::info!("SIGUSR1: starting a pass now");
                    next_full = Instant::now();
                    break;
                }
                Ok(Wake::Reload) => {
                    log::info!("SIGHUP: reloading {}", config_path.display());
                    match config::load(config_path) {
                        Ok(new) => {
                            warn_all(&new);
                            let was_missing = cfg.is_none();
                            cfg = Some(new);
                            if was_missing {
                                next_full = Instant::now();
                                break;
                            }
                        }
                        Err(e) => log::error!("{e}; keeping the previous config"),
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    }
    sdnotify::notify("STOPPING=1");
    log::info!("stopping");
    Ok(())
}

fn load(path: &Path) -> Option<AgentConfig> {
    match config::load(path) {
        Ok(c) => {
            warn_all(&c);
            Some(c)
        }
        Err(e) => {
            log::error!("{e}; will retry (send SIGHUP after fixing it)");
            None
        }
    }
}

fn warn_all(cfg: &AgentConfig) {
    for w in &cfg.warnings {
        log::warn!("{w}");
    }
}

fn run_pass(
    cfg: &AgentConfig,
    layout: &Layout,
    force: bool,
    stop: &AtomicBool,
    lock_wait: Duration,
    only: Option<&[String]>,
    backoff: &mut Backoff,
) {
    let _lock = match lock::acquire(&layout.lock_file(), lock_wait, stop) {
        Ok(l) => l,
        Err(e) if e.kind() == Kind::Locked => {
            log::warn!("{e}; skipping this pass");
            return;
        }
        Err(e) => {
            log::error!("{e}; skipping this pass");
            return;
        }
    };
    let summary = pass::run(cfg, layout, force, stop, only);
    log::info!("pass done: {}", summary.line());
    for (group, failed) in &summary.groups {
        if let Some(wait) = backoff.record(group, *failed, Instant::now(), cfg.interval) {
            log::warn!("{group}: failed; retrying in {} s", wait.as_secs());
        }
    }
    sdnotify::notify(&format!("STATUS={}", summary.line()));
}
