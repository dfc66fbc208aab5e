//! The long-running mode: a pass now, then one every `interval`; signals end the sleep at
//! once (TERM/INT stop, HUP reloads the config before the next pass, USR1 starts a pass now).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};

use crate::config::{self, AgentConfig};
use crate::error::{Context, Result};
use crate::layout::Layout;
use crate::lock::{self, LockError};
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
) -> Result<i32> {
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
    loop {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if cfg.is_none() {
            cfg = load(config_path);
        }
        let next_in = match &cfg {
            Some(c) => {
                run_pass(c, layout, force, &stop, lock_wait);
                force = false;
                c.interval
            }
            None => {
                sdnotify::notify("STATUS=no usable config; retrying");
                RETRY_WITHOUT_CONFIG
            }
        };
        // Sleep until the interval is up or a signal says otherwise.
        let until = Instant::now() + next_in;
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
    Ok(0)
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
) {
    let _lock = match lock::acquire(&layout.lock_file(), lock_wait) {
        Ok(l) => l,
        Err(LockError::Busy(msg)) => {
            log::warn!("{msg}; skipping this pass");
            return;
        }
        Err(LockError::Io(e)) => {
            log::error!("{e}; skipping this pass");
            return;
        }
    };
    let summary = pass::run(cfg, layout, force, stop);
    log::info!("pass done: {}", summary.line());
    sdnotify::notify(&format!("STATUS={}", summary.line()));
}
