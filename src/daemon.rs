//! The long-running mode: a pass now, then one every `interval`; signals end the sleep at
//! once (TERM/INT stop, HUP reloads the config before the next pass, USR1 starts a pass now).
//! Every pass starts after a random delay in [0, `splay`] (SPEC §9) so a fleet powered up
//! together does not push at once; USR1 and TERM cut that delay short.

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
use crate::jitter::{self, Rng};
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
    let mut rng = Rng::seeded();
    loop {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if cfg.is_none() {
            cfg = load(config_path);
        }
        let now = Instant::now();
        let pass_due = now >= next_full || !backoff.due(now).is_empty();
        if let (Some(c), true) = (&cfg, pass_due) {
            let delay = jitter::splay_delay(c.splay, rng.next_u64());
            if !splay(&rx, delay, config_path, &mut cfg) {
                break;
            }
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
                    if reload(config_path, &mut cfg) {
                        next_full = Instant::now();
                        break;
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

/// SIGHUP: read the config again; a bad one is logged and the old one kept. True when there
/// was no usable config before (a pass should start now).
fn reload(path: &Path, cfg: &mut Option<AgentConfig>) -> bool {
    log::info!("SIGHUP: reloading {}", path.display());
    match config::load(path) {
        Ok(new) => {
            warn_all(&new);
            cfg.replace(new).is_none()
        }
        Err(e) => {
            log::error!("{e}; keeping the previous config");
            false
        }
    }
}

/// Wait `delay` before a pass. SIGUSR1 ends the wait (the pass starts now), SIGHUP reloads
/// the config and waits on. Returns false when the agent is stopping (SIGTERM/SIGINT).
fn splay(
    rx: &mpsc::Receiver<Wake>,
    delay: Duration,
    path: &Path,
    cfg: &mut Option<AgentConfig>,
) -> bool {
    if delay.is_zero() {
        return true;
    }
    log::info!("splay: starting the pass in {:.1} s", delay.as_secs_f64());
    let until = Instant::now() + delay;
    loop {
        sdnotify::notify("WATCHDOG=1");
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        let nap = sdnotify::watchdog_period().map_or(left, |w| w.min(left));
        match rx.recv_timeout(nap) {
            Ok(Wake::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return false,
            Ok(Wake::PassNow) => {
                log::info!("SIGUSR1: starting the pass now");
                return true;
            }
            Ok(Wake::Reload) => {
                reload(path, cfg);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
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
    release_freed_heap();
}

/// Hand the heap a pass freed back to the kernel before sleeping: glibc keeps freed pages
/// resident (measured on the speed branch: RssAnon 1.5-1.9 MB after a 50-app pass, 1.0 MB
/// after a trim). The static builds use dlmalloc (Cargo.toml), which gives memory back by
/// itself once more than 2 MB sits free at the top of its heap. `libc` is already a dependency.
fn release_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of glibc's own heap; nothing is freed.
    unsafe {
        libc::malloc_trim(0);
    }
}
