//! Retrying failing groups sooner than `interval`, backing off exponentially (SPEC §8,
//! "bounded everything"): a deploy repo that is down is retried after 10 s, 20 s, 40 s …
//! but never less often than a normal pass would. Pure: time is passed in.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// First retry delay after a failure.
pub const BASE: Duration = Duration::from_secs(10);

/// Delay before retry number `failures` (1 = first failure), capped at `cap`.
pub fn delay(failures: u32, cap: Duration) -> Duration {
    let factor = 1u32
        .checked_shl(failures.saturating_sub(1))
        .unwrap_or(u32::MAX);
    BASE.checked_mul(factor).unwrap_or(cap).min(cap)
}

/// Failing groups and when each is retried.
#[derive(Debug, Default)]
pub struct Backoff {
    failing: BTreeMap<String, (u32, Instant)>,
}

impl Backoff {
    /// Note the outcome of `group`; for a failure, returns the delay until its retry.
    pub fn record(
        &mut self,
        group: &str,
        failed: bool,
        now: Instant,
        cap: Duration,
    ) -> Option<Duration> {
        if !failed {
            self.failing.remove(group);
            return None;
        }
        let failures = self
            .failing
            .get(group)
            .map_or(1, |(n, _)| n.saturating_add(1));
        let wait = delay(failures, cap);
        self.failing
            .insert(group.to_string(), (failures, now + wait));
        Some(wait)
    }

    /// Groups whose retry time has come.
    pub fn due(&self, now: Instant) -> Vec<String> {
        self.failing
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The earliest retry time, if any group is failing.
    pub fn next_retry(&self) -> Option<Instant> {
        self.failing.values().map(|(_, at)| *at).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let cap = Duration::from_secs(300);
        let d: Vec<u64> = (1..=7).map(|n| delay(n, cap).as_secs()).collect();
        assert_eq!(d, vec![10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(delay(100, cap), cap);
        assert_eq!(delay(1, Duration::from_secs(3)), Duration::from_secs(3));
    }

    #[test]
    fn success_clears_and_due_follows_time() {
        let t0 = Instant::now();
        let cap = Duration::from_secs(300);
        let mut b = Backoff::default();
        assert_eq!(b.record("g", true, t0, cap), Some(Duration::from_secs(10)));
        assert_eq!(b.record("g", true, t0, cap), Some(Duration::from_secs(20)));
        assert!(b.due(t0 + Duration::from_secs(19)).is_empty());
        assert_eq!(b.due(t0 + Duration::from_secs(20)), vec!["g".to_string()]);
        assert_eq!(b.next_retry(), Some(t0 + Duration::from_secs(20)));
        b.record("g", false, t0, cap);
        assert_eq!(b.next_retry(), None);
    }
}
