//! The monitoring history trim decision (SPEC §6, §9): whether history is rewritten at all
//! (only once its oldest commit after the root is older than retention + slack, so a full
//! window costs about one rewrite a day, not one per push) and which commits of the
//! first-parent chain are squashed, and how much history the monitoring fetch brings (the
//! head alone unless a rewrite may be due: `history`, with the head's `record`). Pure; the
//! fetch and the rewrite are in `monitoring::history`.

pub mod record;

const DAY: i64 = 86_400;

/// Index (in the oldest-first chain) of the last commit to squash when history is rewritten
/// now, or `None` to leave history alone (a plain fast-forward).
pub fn plan(committer_times_oldest_first: &[i64], now: i64, retention_days: u64) -> Option<usize> {
    if !due(committer_times_oldest_first, now, retention_days) {
        return None;
    }
    boundary(committer_times_oldest_first, cutoff(now, retention_days))
}

/// A rewrite is due when the oldest commit after the root is older than retention + slack.
/// The root is left out: after a trim it is the squash commit, dated at the trim.
pub fn due(committer_times_oldest_first: &[i64], now: i64, retention_days: u64) -> bool {
    committer_times_oldest_first
        .get(1)
        .is_some_and(|&t| t < cutoff(now, retention_days).saturating_sub(slack(retention_days)))
}

/// Whether the monitoring fetch must bring the whole history (to judge and make a rewrite)
/// instead of the head alone. `oldest_after_root`: the committer time of the oldest commit
/// after the root when this device last saw the whole history (`None`: never, as on a fresh
/// or upgraded clone). Other devices only add newer commits, and a trim replaces that commit
/// by a newer one, so no rewrite can be due before that commit is (clock skew aside).
pub fn whole_history_needed(oldest_after_root: Option<i64>, now: i64, retention_days: u64) -> bool {
    oldest_after_root.is_none_or(|t| due(&[t, t], now, retention_days))
}

/// How much of the monitoring branch a pass fetches, once the head alone (depth 1) is here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// The head is enough: no rewrite can be due.
    HeadOnly,
    /// The head is enough, as its record says: remember the record (the clone's memo), so
    /// the next pass needs no look at it.
    HeadOnlyRemember(i64),
    /// Deepen to the whole history: a rewrite may be due (or nothing tells).
    Whole,
}

/// What a pass fetches: `memo` is what the clone remembers (`whole_history_needed`),
/// `head_record` the record of the branch head (`record::parse`; `None` when absent, as on
/// heads written by the Python agent or earlier versions). The memo decides when it can; else
/// a head record that says no rewrite is due keeps the fetch shallow; else the whole history.
pub fn history(
    memo: Option<i64>,
    head_record: Option<i64>,
    now: i64,
    retention_days: u64,
) -> History {
    if !whole_history_needed(memo, now, retention_days) {
        return History::HeadOnly;
    }
    match head_record {
        Some(t) if !whole_history_needed(Some(t), now, retention_days) => {
            History::HeadOnlyRemember(t)
        }
        _ => History::Whole,
    }
}

/// Seconds a commit may outlive the retention before a rewrite: min(1 day, retention / 10).
pub fn slack(retention_days: u64) -> i64 {
    let retention = i64::try_from(retention_days.saturating_mul(DAY as u64)).unwrap_or(i64::MAX);
    (retention / 10).min(DAY)
}

/// Index (in the oldest-first chain) of the newest commit older than `cutoff`: that commit
/// and everything before it become one parentless commit. `None` when nothing would change:
/// no old commit, or the only old commit is the root (squashing it into itself).
pub fn boundary(committer_times_oldest_first: &[i64], cutoff: i64) -> Option<usize> {
    let b = committer_times_oldest_first
        .iter()
        .rposition(|&t| t < cutoff)?;
    (b > 0).then_some(b)
}

/// Seconds since the epoch before which commits are squashed.
pub fn cutoff(now: i64, retention_days: u64) -> i64 {
    let retention = i64::try_from(retention_days.saturating_mul(DAY as u64)).unwrap_or(i64::MAX);
    now.saturating_sub(retention)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_history_only_when_never_seen_or_a_rewrite_may_be_due() {
        let day = DAY;
        assert!(whole_history_needed(None, NOW, 30));
        assert!(!whole_history_needed(Some(NOW - 3 * day), NOW, 30));
        assert!(!whole_history_needed(Some(NOW - 31 * day + 60), NOW, 30));
        assert!(whole_history_needed(Some(NOW - 31 * day - 60), NOW, 30));
        // retention 0: every push trims, the whole history every time
        assert!(whole_history_needed(Some(NOW - 1), NOW, 0));
    }

    #[test]
    fn a_memo_that_says_no_rewrite_keeps_the_head_only_whatever_the_head_says() {
        assert_eq!(history(Some(NOW - DAY), None, NOW, 30), History::HeadOnly);
        assert_eq!(
            history(Some(NOW - DAY), Some(0), NOW, 30),
            History::HeadOnly
        );
    }

    #[test]
    fn a_head_record_that_says_no_rewrite_keeps_the_head_only_and_is_remembered() {
        let t = NOW - 3 * DAY;
        assert_eq!(
            history(None, Some(t), NOW, 30),
            History::HeadOnlyRemember(t)
        );
        // a memo that says a rewrite may be due, and a head that says none is
        assert_eq!(
            history(Some(NOW - 40 * DAY), Some(t), NOW, 30),
            History::HeadOnlyRemember(t)
        );
    }

    #[test]
    fn a_head_record_that_says_a_rewrite_is_due_fetches_the_whole_history() {
        assert_eq!(history(None, Some(NOW - 40 * DAY), NOW, 30), History::Whole);
        assert_eq!(history(None, Some(NOW - 1), NOW, 0), History::Whole);
    }

    #[test]
    fn a_head_without_a_record_fetches_the_whole_history() {
        assert_eq!(history(None, None, NOW, 30), History::Whole);
        assert_eq!(history(Some(NOW - 40 * DAY), None, NOW, 30), History::Whole);
    }

    #[test]
    fn nothing_old_nothing_to_do() {
        assert_eq!(boundary(&[100, 200, 300], 50), None);
        assert_eq!(boundary(&[], 50), None);
    }

    #[test]
    fn lone_old_root_is_left_alone() {
        assert_eq!(boundary(&[10, 200, 300], 50), None);
        assert_eq!(boundary(&[10], 50), None);
    }

    #[test]
    fn newest_old_commit_is_the_boundary() {
        assert_eq!(boundary(&[10, 20, 30, 200], 50), Some(2));
        assert_eq!(boundary(&[10, 20, 30], 50), Some(2));
        // a skewed clock: a newer-looking commit before an old one is squashed too
        assert_eq!(boundary(&[10, 90, 20, 200], 50), Some(2));
    }

    #[test]
    fn boundary_is_strict() {
        assert_eq!(boundary(&[10, 50], 50), None);
        assert_eq!(boundary(&[10, 49], 50), Some(1));
    }

    const NOW: i64 = 1_000_000_000;

    #[test]
    fn slack_is_a_tenth_of_retention_at_most_a_day() {
        assert_eq!(slack(0), 0);
        assert_eq!(slack(1), 8_640);
        assert_eq!(slack(7), 60_480);
        assert_eq!(slack(30), DAY);
        assert_eq!(slack(u64::MAX), DAY);
    }

    #[test]
    fn no_rewrite_while_the_oldest_commit_after_the_root_is_within_retention_plus_slack() {
        // 30 days retention: slack 1 day. A commit 30.5 days old is past the retention but
        // within the slack: no rewrite yet (the push is a plain fast-forward).
        let t = |days_ago: f64| NOW - (days_ago * DAY as f64) as i64;
        let chain = [t(40.0), t(30.5), t(2.0), t(0.0)];
        assert!(!due(&chain, NOW, 30));
        assert_eq!(plan(&chain, NOW, 30), None);
    }

    #[test]
    fn rewrite_once_past_the_slack_squashes_everything_older_than_retention() {
        let t = |days_ago: f64| NOW - (days_ago * DAY as f64) as i64;
        let chain = [t(40.0), t(31.5), t(30.2), t(29.0), t(0.0)];
        assert!(due(&chain, NOW, 30));
        assert_eq!(plan(&chain, NOW, 30), Some(2));
    }

    #[test]
    fn the_root_alone_never_makes_a_rewrite_due() {
        assert!(!due(&[0], NOW, 1));
        assert!(!due(&[0, NOW], NOW, 1));
        assert!(!due(&[], NOW, 1));
    }

    #[test]
    fn a_full_window_rewrites_about_once_a_day_not_every_push() {
        // A push every 5 minutes for 60 days at 30 days retention (slack 1 day).
        let mut chain: Vec<i64> = vec![0];
        let mut rewrites = 0;
        let mut now = 0;
        for _ in 0..(60 * 288) {
            now += 300;
            chain.push(now);
            if let Some(b) = plan(&chain, now, 30) {
                rewrites += 1;
                chain = std::iter::once(now)
                    .chain(chain[b + 1..].iter().copied())
                    .collect();
            }
        }
        // first after 31 days, then one a day: about 29, against 8,640 without the slack
        assert!(
            (27..=30).contains(&rewrites),
            "{rewrites} rewrites in 60 days"
        );
    }

    #[test]
    fn retention_zero_rewrites_whenever_a_commit_after_the_root_is_older_than_now() {
        assert_eq!(plan(&[NOW - 5, NOW - 1, NOW], NOW, 0), Some(1));
        assert_eq!(plan(&[NOW - 5, NOW, NOW], NOW, 0), None);
    }

    #[test]
    fn cutoff_days() {
        assert_eq!(cutoff(1_000_000, 0), 1_000_000);
        assert_eq!(cutoff(1_000_000, 1), 1_000_000 - 86_400);
    }
}
