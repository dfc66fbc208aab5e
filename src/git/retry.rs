//! Dropped connections tried again in the same pass (SPEC §9): a server under a herd of
//! devices (`git daemon` listens with a backlog of 5; a git host's connection limit) refuses,
//! resets or hangs up on new connections. Such a failure is a `Network` error that came back
//! sooner than `network_timeout` and `transfer_timeout`: an answer, not silence (a timeout is
//! never tried again here; the pass already waited for it). Measured with 200 devices on one
//! loaded 2-core machine: resets arrive 1 to 35 s after connecting (the server's kernel holds
//! the half-open connection while the daemon's accept queue is full), so "quick" cannot mean
//! "within a second". It is tried again after a full-jitter wait, a bounded number of times
//! in a row and within a time budget, so a dead server (refused at once) costs seconds.
//!
//! The rules are pure (`quick_bound`, `is_drop`, `after_drop`); `retrying` and
//! `sleep_unless_stopped` are the thin loop around them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::bail;
use crate::error::{Kind, Result};
use crate::jitter::{self, Next};

/// A failure later than this is never a drop, whatever `network_timeout` is: a link that
/// resets slowly must not cost minutes per try.
pub const MAX_QUICK: Duration = Duration::from_secs(30);
/// No fetch is tried again later than this after its first try started.
pub const FETCH_BUDGET: Duration = Duration::from_secs(60);
/// Dropped connections in a row after which the operation fails (the first try included:
/// 1 try + 5 retries, waiting about 4 s in all on average, at most 7.75 s).
pub const MAX_DROPS: u32 = 6;
/// First window of the wait after a drop: a random time in [0, 0.25 s], doubling.
pub const FIRST_WAIT: Duration = Duration::from_millis(250);
/// The window after a drop doubles up to this.
pub const MAX_WAIT: Duration = Duration::from_secs(4);

/// The longest a failure may take to count as a drop: less than either timeout (a failure
/// that took that long was silence, and the pass already waited for it), and `MAX_QUICK`.
pub fn quick_bound(network_timeout: Duration, transfer_timeout: Duration) -> Duration {
    network_timeout.min(transfer_timeout).min(MAX_QUICK)
}

/// Whether a failure of `kind` after `took` is a connection dropped by a busy server:
/// `Network`, and sooner than `bound` (`quick_bound`).
pub fn is_drop(kind: Kind, took: Duration, bound: Duration) -> bool {
    kind == Kind::Network && took < bound
}

/// The wait window after `drops` dropped connections in a row (1 = the first): 0.25 s,
/// 0.5 s, 1 s, 2 s, 4 s, 4 s ...
pub fn window(drops: u32) -> Duration {
    let doublings = drops.saturating_sub(1).min(16);
    FIRST_WAIT.saturating_mul(1 << doublings).min(MAX_WAIT)
}

/// What follows the `drops`-th dropped connection in a row (>= 1): a full-jitter wait, or
/// giving up after `MAX_DROPS` or once `elapsed` reaches `budget` (the wait never runs past
/// it). `random`: any random number.
pub fn after_drop(drops: u32, elapsed: Duration, budget: Duration, random: u64) -> Next {
    if drops >= MAX_DROPS || elapsed >= budget {
        return Next::GiveUp;
    }
    Next::Retry(jitter::uniform(window(drops), random).min(budget - elapsed))
}

/// Run `op` until it succeeds, fails other than by a dropped connection, or `after_drop`
/// gives up (budget `FETCH_BUDGET`); `what` names the operation in the log. `stop` ends the
/// waits at once.
pub fn retrying<T>(
    what: &str,
    bound: Duration,
    stop: &AtomicBool,
    mut op: impl FnMut() -> Result<T>,
) -> Result<T> {
    let started = Instant::now();
    let mut rng = jitter::Rng::seeded();
    let mut drops = 0;
    loop {
        let t0 = Instant::now();
        let err = match op() {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !is_drop(err.kind(), t0.elapsed(), bound) || stop.load(Ordering::SeqCst) {
            return Err(err);
        }
        drops += 1;
        match after_drop(drops, started.elapsed(), FETCH_BUDGET, rng.next_u64()) {
            Next::Retry(wait) => {
                log::info!(
                    "{what}: {err}; connection dropped, trying again in {} ms",
                    wait.as_millis()
                );
                sleep_unless_stopped(wait, stop)?;
            }
            Next::GiveUp => return Err(err.context(format!("{drops} connections dropped"))),
        }
    }
}

/// Sleep `wait`, in short naps so SIGTERM ends it at once (`Interrupted`).
pub fn sleep_unless_stopped(wait: Duration, stop: &AtomicBool) -> Result<()> {
    let until = Instant::now() + wait;
    loop {
        if stop.load(Ordering::SeqCst) {
            bail!(Kind::Interrupted, "stopped while waiting to try again");
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::cell::Cell;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn only_a_network_failure_sooner_than_the_timeouts_is_a_drop() {
        let bound = quick_bound(S(60), S(600));
        assert_eq!(bound, S(30), "never slower than MAX_QUICK");
        assert!(is_drop(Kind::Network, MS(3), bound));
        // a loaded server resets half-open connections seconds later
        assert!(is_drop(Kind::Network, S(12), bound));
        // timeouts: the pass already waited for them
        assert!(!is_drop(Kind::Network, S(30), bound));
        let bound = quick_bound(S(5), S(600));
        assert!(!is_drop(Kind::Network, S(5), bound));
        assert!(is_drop(Kind::Network, MS(4999), bound));
        // a transfer cut at transfer_timeout is a timeout too
        let bound = quick_bound(S(20), S(3));
        assert!(!is_drop(Kind::Network, S(3), bound));
        for kind in [
            Kind::RefMoved,
            Kind::Rejected,
            Kind::Invalid,
            Kind::Io,
            Kind::Interrupted,
            Kind::Config,
        ] {
            assert!(!is_drop(kind, MS(3), bound), "{kind:?}");
        }
    }

    #[test]
    fn drop_window_doubles_from_250_ms_up_to_4_s() {
        assert_eq!(window(1), MS(250));
        assert_eq!(window(2), MS(500));
        assert_eq!(window(3), S(1));
        assert_eq!(window(5), S(4));
        assert_eq!(window(1000), S(4));
    }

    #[test]
    fn drops_are_retried_with_full_jitter_until_the_count_bound() {
        for drops in 1..MAX_DROPS {
            for random in [0, 1, 333, 9_999, u64::MAX] {
                match after_drop(drops, S(1), S(120), random) {
                    Next::Retry(w) => assert!(w <= window(drops), "{drops}: {w:?}"),
                    Next::GiveUp => panic!("gave up after {drops} drops"),
                }
            }
        }
        assert_eq!(after_drop(MAX_DROPS, S(1), S(120), 5), Next::GiveUp);
        // the whole window is used, not just its start
        let mut rng = jitter::Rng::from_seed(9);
        let waits: Vec<Duration> = (0..1000)
            .map(|_| match after_drop(5, S(0), S(120), rng.next_u64()) {
                Next::Retry(w) => w,
                Next::GiveUp => panic!(),
            })
            .collect();
        assert!(waits.iter().any(|w| *w < MS(500)));
        assert!(waits.iter().any(|w| *w > MS(3500)));
    }

    #[test]
    fn drop_waits_stay_within_the_budget() {
        assert_eq!(after_drop(1, S(120), S(120), 5), Next::GiveUp);
        match after_drop(5, S(120) - MS(10), S(120), 3_999) {
            Next::Retry(w) => assert!(w <= MS(10), "{w:?}"),
            Next::GiveUp => panic!("time was left"),
        }
    }

    #[test]
    fn a_dead_server_costs_seconds_not_minutes() {
        let worst: Duration = (1..MAX_DROPS).map(window).sum();
        assert!(worst <= S(8), "{worst:?}");
    }

    #[test]
    fn retrying_tries_drops_again_and_returns_anything_else_at_once() {
        let stop = AtomicBool::new(false);
        let calls = Cell::new(0);
        let got = retrying("test", S(60), &stop, || {
            calls.set(calls.get() + 1);
            if calls.get() < 3 {
                Err(Error::new(Kind::Network, "connection reset"))
            } else {
                Ok(7)
            }
        });
        assert_eq!(got, Ok(7));
        assert_eq!(calls.get(), 3);

        calls.set(0);
        let got: Result<()> = retrying("test", S(60), &stop, || {
            calls.set(calls.get() + 1);
            Err(Error::new(Kind::Rejected, "no"))
        });
        assert_eq!(got.unwrap_err().kind(), Kind::Rejected);
        assert_eq!(calls.get(), 1);

        calls.set(0);
        let got: Result<()> = retrying("test", S(60), &stop, || {
            calls.set(calls.get() + 1);
            Err(Error::new(Kind::Network, "refused"))
        });
        let err = got.unwrap_err();
        assert_eq!(err.kind(), Kind::Network);
        assert!(err.to_string().contains("6 connections dropped"), "{err}");
        assert_eq!(calls.get(), MAX_DROPS);
    }

    #[test]
    fn retrying_stops_at_once_when_stopped() {
        let stop = AtomicBool::new(true);
        let calls = Cell::new(0);
        let got: Result<()> = retrying("test", S(60), &stop, || {
            calls.set(calls.get() + 1);
            Err(Error::new(Kind::Network, "refused"))
        });
        assert_eq!(got.unwrap_err().kind(), Kind::Network);
        assert_eq!(calls.get(), 1);
    }
}
