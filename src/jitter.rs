//! Random waits for a fleet (SPEC §9): when a status push that lost the race is tried again
//! (full-jitter backoff bounded by time, not by a count), the `splay` delay before a pass,
//! and the tiny random source behind both. The decisions are pure; only `Rng::seeded` reads
//! the outside world.

use std::time::Duration;

/// First backoff window: the first retry waits a random time in [0, 0.1 s].
pub const FIRST_WAIT: Duration = Duration::from_millis(100);
/// The window doubles up to this.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// Retries stop this long after the first attempt (or after `interval`, if smaller).
pub const MAX_BUDGET: Duration = Duration::from_secs(120);

/// How a push attempt failed, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Lost the race: the branch moved under us (another device pushed or trimmed).
    Lost,
    /// The server refused the update while the branch stayed where we saw it (a hook, a
    /// policy): worth one more try (hooks fail transiently), never a storm.
    Refused,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait this long, fetch, rebuild and push again.
    Retry(Duration),
    /// Stop trying in this pass.
    GiveUp,
}

/// The time budget of one publish: 120 s, or `interval` if smaller.
pub fn budget(interval: Duration) -> Duration {
    interval.min(MAX_BUDGET)
}

/// The backoff window after `attempts` failed attempts (1 = the first failed): 0.1 s,
/// 0.2 s, 0.4 s, ... up to 10 s.
pub fn window(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_WAIT.saturating_mul(1 << doublings).min(MAX_WAIT)
}

/// Decide what follows a failed push. `attempts`: attempts made so far (>= 1);
/// `refusals`: how many of them were `Refused`, this one included; `elapsed`: time since
/// the first attempt started; `random`: any random number (picks the wait in the window).
pub fn after_failure(
    failure: Failure,
    attempts: u32,
    refusals: u32,
    elapsed: Duration,
    budget: Duration,
    random: u64,
) -> Next {
    if elapsed >= budget {
        return Next::GiveUp;
    }
    if failure == Failure::Refused && refusals > 1 {
        return Next::GiveUp;
    }
    let wait = uniform(window(attempts), random);
    Next::Retry(wait.min(budget - elapsed))
}

/// The `splay` delay: uniform in [0, splay].
pub fn splay_delay(splay: Duration, random: u64) -> Duration {
    uniform(splay, random)
}

/// A duration uniform in [0, max] (millisecond steps), picked by `random`.
pub fn uniform(max: Duration, random: u64) -> Duration {
    let steps = max.as_millis().min(u128::from(u64::MAX - 1)) as u64 + 1;
    Duration::from_millis(random % steps)
}

/// xorshift64*: plenty for spreading waits; not for secrets.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from `/dev/urandom`, else from the time and the process id, so devices that
    /// start in the same second still draw different waits.
    pub fn seeded() -> Rng {
        let mut seed = [0u8; 8];
        let from_kernel = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed))
            .is_ok();
        let seed = if from_kernel {
            u64::from_le_bytes(seed)
        } else {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nanos ^ (u64::from(std::process::id()) << 32)
        };
        Rng::from_seed(seed)
    }

    /// A fixed sequence (tests); a zero seed is replaced (xorshift would stay at 0).
    pub fn from_seed(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn budget_is_120_s_or_interval_if_smaller() {
        assert_eq!(budget(S(300)), S(120));
        assert_eq!(budget(S(30)), S(30));
    }

    #[test]
    fn window_doubles_from_100_ms_up_to_10_s() {
        assert_eq!(window(1), Duration::from_millis(100));
        assert_eq!(window(2), Duration::from_millis(200));
        assert_eq!(window(3), Duration::from_millis(400));
        assert_eq!(window(8), Duration::from_millis(10_000));
        assert_eq!(window(1000), S(10));
    }

    #[test]
    fn lost_race_retries_within_the_window_until_the_deadline() {
        for attempts in 1..40 {
            for random in [0, 1, 77, 5_000, u64::MAX] {
                match after_failure(Failure::Lost, attempts, 0, S(3), S(120), random) {
                    Next::Retry(w) => assert!(w <= window(attempts), "{attempts}: {w:?}"),
                    Next::GiveUp => panic!("gave up at attempt {attempts} before the deadline"),
                }
            }
        }
    }

    #[test]
    fn lost_race_is_bounded_by_time_not_by_count() {
        assert_eq!(
            after_failure(Failure::Lost, 500, 0, S(119), S(120), 3),
            Next::Retry(Duration::from_millis(3))
        );
        assert_eq!(
            after_failure(Failure::Lost, 2, 0, S(120), S(120), 3),
            Next::GiveUp
        );
    }

    #[test]
    fn wait_never_runs_past_the_deadline() {
        let left = Duration::from_millis(250);
        match after_failure(Failure::Lost, 20, 0, S(120) - left, S(120), 9_999) {
            Next::Retry(w) => assert!(w <= left, "{w:?}"),
            Next::GiveUp => panic!("time was left"),
        }
    }

    #[test]
    fn full_jitter_spreads_over_the_whole_window() {
        let mut rng = Rng::from_seed(42);
        let waits: Vec<Duration> = (0..2000)
            .map(
                |_| match after_failure(Failure::Lost, 8, 0, S(0), S(120), rng.next_u64()) {
                    Next::Retry(w) => w,
                    Next::GiveUp => panic!(),
                },
            )
            .collect();
        assert!(waits.iter().any(|w| *w < S(1)), "some wait near 0");
        assert!(waits.iter().any(|w| *w > S(9)), "some wait near the window");
        assert!(waits.iter().all(|w| *w <= S(10)));
    }

    #[test]
    fn a_refusal_in_place_is_retried_once() {
        assert!(matches!(
            after_failure(Failure::Refused, 1, 1, S(0), S(120), 5),
            Next::Retry(_)
        ));
        assert_eq!(
            after_failure(Failure::Refused, 2, 2, S(1), S(120), 5),
            Next::GiveUp
        );
        // a race lost after an earlier refusal is still a race
        assert!(matches!(
            after_failure(Failure::Lost, 3, 1, S(1), S(120), 5),
            Next::Retry(_)
        ));
    }

    #[test]
    fn splay_is_uniform_in_zero_to_splay() {
        assert_eq!(splay_delay(S(0), 12345), S(0));
        assert_eq!(splay_delay(S(30), 0), S(0));
        assert_eq!(splay_delay(S(30), 30_000), S(30));
        assert_eq!(splay_delay(S(30), 30_001), S(0));
        let mut rng = Rng::from_seed(7);
        assert!((0..100).all(|_| splay_delay(S(30), rng.next_u64()) <= S(30)));
    }

    #[test]
    fn rng_differs_by_seed_and_never_sticks_at_zero() {
        let (mut a, mut b) = (Rng::from_seed(1), Rng::from_seed(2));
        assert_ne!(a.next_u64(), b.next_u64());
        let mut z = Rng::from_seed(0);
        assert_ne!(z.next_u64(), 0);
    }
}
