//! What bounds one fetch or push as a whole (SPEC §10), whatever the server trickles:
//! `transfer_timeout` from the moment the transport is opened, and at most
//! [`ADVERTISEMENT_LIMIT`] bytes before the pack (a ref advertisement is held in memory;
//! a pack is streamed to disk). Every transport charges what it reads here and asks how
//! long its next wait may be. While a transfer runs, systemd's watchdog is fed (a slow first
//! clone must not be killed and restarted from zero), but never past the deadline: a
//! transfer that somehow outlives it is a hang the watchdog should see.
//! A transfer longer than [`PROGRESS_EVERY`] logs the bytes received so far once per
//! interval (SPEC §13), so a slow first clone is visibly alive.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::link::Failure;
use crate::error::Kind;

/// Bytes a server may send before the pack: a ref advertisement larger than this is an error.
pub const ADVERTISEMENT_LIMIT: u64 = 64 << 20;

/// How often a long transfer logs its progress (SPEC §13: at least every 10 s).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Test-only: `GITOPS_AGENT_PROGRESS_SECS` shortens [`PROGRESS_EVERY`], so a test does not
/// need a transfer of more than 10 s.
fn progress_every() -> Duration {
    std::env::var("GITOPS_AGENT_PROGRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(PROGRESS_EVERY, Duration::from_secs)
}

/// Whether a progress line is due `elapsed` into a transfer whose last line was logged at
/// `last` (`None`: none yet): the first one `every` after the start, then one per `every`;
/// a shorter transfer logs none.
pub fn progress_due(elapsed: Duration, last: Option<Duration>, every: Duration) -> bool {
    elapsed >= last.unwrap_or(Duration::ZERO) + every
}

/// Shared by the transport (which charges) and the operation (which says when the pack
/// follows). Cheap to clone.
#[derive(Clone)]
pub struct Budget(Arc<Inner>);

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Budget({:?} left)", self.remaining())
    }
}

struct Inner {
    started: Instant,
    transfer_timeout: Duration,
    read: AtomicU64,
    pack_follows: AtomicBool,
    failure: Failure,
    /// Progress: the interval, the last line (ms after `started`, 0: none yet), and what
    /// the line names (the redacted url).
    progress_every: Duration,
    progress_last_ms: AtomicU64,
    shown: OnceLock<String>,
    /// Dropped with the last clone: ends the watchdog feeder.
    _feeder: Option<mpsc::Sender<()>>,
}

impl Budget {
    /// The budget of a transfer starting now; failures are noted in `failure`.
    pub fn new(transfer_timeout: Duration, failure: Failure) -> Budget {
        Budget(Arc::new(Inner {
            started: Instant::now(),
            transfer_timeout,
            read: AtomicU64::new(0),
            pack_follows: AtomicBool::new(false),
            failure,
            progress_every: progress_every(),
            progress_last_ms: AtomicU64::new(0),
            shown: OnceLock::new(),
            _feeder: feed_watchdog(transfer_timeout),
        }))
    }

    /// A budget nobody runs out of (tests of a transport alone).
    pub fn unbounded() -> Budget {
        Budget::new(Duration::from_secs(365 * 86_400), Failure::default())
    }

    /// Name the remote in progress lines (`Display` of a `url::Url`: redacted).
    pub fn show_as(&self, shown: impl std::fmt::Display) {
        let _ = self.0.shown.set(shown.to_string());
    }

    /// The refs are in; what comes now is the pack, streamed to disk: no byte limit.
    pub fn pack_follows(&self) {
        self.0.pack_follows.store(true, Ordering::Relaxed);
    }

    /// Time left before `transfer_timeout`.
    pub fn remaining(&self) -> Duration {
        self.0
            .transfer_timeout
            .saturating_sub(self.0.started.elapsed())
    }

    /// How long the next single wait may be: `silence` (network_timeout), or less when the
    /// transfer's end is nearer.
    pub fn wait_bound(&self, silence: Duration) -> Duration {
        silence.min(self.remaining()).max(Duration::from_millis(1))
    }

    /// `Err` once `transfer_timeout` has passed (noted as `Network`).
    pub fn check_time(&self) -> io::Result<()> {
        if !self.remaining().is_zero() {
            return Ok(());
        }
        self.0.failure.record(Kind::Network);
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the transfer took longer than transfer_timeout ({} s) and was given up; raise transfer_timeout for slow links",
                self.0.transfer_timeout.as_secs()
            ),
        ))
    }

    /// Count `n` bytes just read; `Err` when they make the advertisement too large (noted
    /// as `Invalid`: the server sends what no real repository needs) or time is up.
    pub fn charge(&self, n: usize) -> io::Result<()> {
        let total = self.0.read.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if total > ADVERTISEMENT_LIMIT && !self.0.pack_follows.load(Ordering::Relaxed) {
            self.0.failure.record(Kind::Invalid);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the server sent more than {} MiB of refs; refused (a ref advertisement that large is not a deploy repo)",
                    ADVERTISEMENT_LIMIT >> 20
                ),
            ));
        }
        self.progress(total);
        self.check_time()
    }

    /// Log `total` bytes received when a progress line is due (see [`progress_due`]).
    fn progress(&self, total: u64) {
        let elapsed = self.0.started.elapsed();
        let last_ms = self.0.progress_last_ms.load(Ordering::Relaxed);
        let last = (last_ms > 0).then(|| Duration::from_millis(last_ms));
        if !progress_due(elapsed, last, self.0.progress_every) {
            return;
        }
        let now_ms = (elapsed.as_millis() as u64).max(1);
        // One line per interval even if two readers charge at once.
        if self
            .0
            .progress_last_ms
            .compare_exchange(last_ms, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let shown = self.0.shown.get().map_or("remote", String::as_str);
            log::info!(
                "{shown}: {total} bytes ({:.1} MiB) received so far, {} s into the transfer",
                total as f64 / f64::from(1 << 20),
                elapsed.as_secs()
            );
        }
    }
}

/// A reader charging `budget` for every read (http bodies).
pub struct Bounded<R> {
    inner: R,
    budget: Budget,
}

impl<R> Bounded<R> {
    pub fn new(inner: R, budget: Budget) -> Bounded<R> {
        Bounded { inner, budget }
    }
}

impl<R: io::Read> io::Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.budget.check_time()?;
        let n = self.inner.read(buf)?;
        self.budget.charge(n)?;
        Ok(n)
    }
}

/// Under systemd with a watchdog (`NOTIFY_SOCKET`, `WATCHDOG_USEC`): a thread sending
/// WATCHDOG=1 every half period until the returned sender is dropped, or the transfer's
/// time (plus one period) is over.
fn feed_watchdog(transfer_timeout: Duration) -> Option<mpsc::Sender<()>> {
    std::env::var_os("NOTIFY_SOCKET")?;
    let period = crate::sdnotify::watchdog_period()?;
    let (tx, rx) = mpsc::channel::<()>();
    let until = Instant::now() + transfer_timeout + period;
    let spawned = std::thread::Builder::new()
        .name("watchdog-feeder".into())
        .spawn(move || {
            while Instant::now() < until {
                crate::sdnotify::notify("WATCHDOG=1");
                match rx.recv_timeout(period) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            }
        });
    spawned.ok().map(|_| tx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Endless `a`s, like a server that never stops advertising.
    struct Flood;
    impl Read for Flood {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            buf.fill(b'a');
            Ok(buf.len())
        }
    }

    #[test]
    fn an_endless_advertisement_ends_at_the_limit() {
        let failure = Failure::default();
        let mut r = Bounded::new(Flood, Budget::new(Duration::from_secs(60), failure.clone()));
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        let err = loop {
            match r.read(&mut buf) {
                Ok(n) => total += n as u64,
                Err(e) => break e,
            }
        };
        assert_eq!(total, ADVERTISEMENT_LIMIT);
        assert!(err.to_string().contains("64 MiB"), "{err}");
        assert_eq!(failure.recorded(), Some(Kind::Invalid));
    }

    #[test]
    fn the_pack_may_be_larger() {
        let budget = Budget::new(Duration::from_secs(60), Failure::default());
        budget.pack_follows();
        let mut r = Bounded::new(Flood.take(ADVERTISEMENT_LIMIT * 2), budget);
        assert_eq!(
            io::copy(&mut r, &mut io::sink()).unwrap(),
            ADVERTISEMENT_LIMIT * 2
        );
    }

    #[test]
    fn no_progress_line_before_the_first_interval() {
        let every = Duration::from_secs(10);
        assert!(!progress_due(Duration::ZERO, None, every));
        assert!(!progress_due(Duration::from_millis(9_999), None, every));
    }

    #[test]
    fn first_progress_line_after_one_interval() {
        let every = Duration::from_secs(10);
        assert!(progress_due(Duration::from_secs(10), None, every));
        assert!(progress_due(Duration::from_secs(25), None, every));
    }

    #[test]
    fn then_one_progress_line_per_interval() {
        let every = Duration::from_secs(10);
        let last = Some(Duration::from_millis(10_300));
        assert!(!progress_due(Duration::from_millis(20_299), last, every));
        assert!(progress_due(Duration::from_millis(20_300), last, every));
    }

    #[test]
    fn time_runs_out_for_the_whole_transfer() {
        let failure = Failure::default();
        let budget = Budget::new(Duration::from_millis(50), failure.clone());
        assert!(budget.check_time().is_ok());
        assert!(budget.wait_bound(Duration::from_secs(60)) <= Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(60));
        let err = budget.check_time().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("transfer_timeout (0 s)"), "{err}");
        assert!(budget.remaining().is_zero());
        assert_eq!(failure.recorded(), Some(Kind::Network));
    }
}
