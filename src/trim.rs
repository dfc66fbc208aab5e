//! The monitoring history trim decision (SPEC §6): which commits of the first-parent chain
//! are old enough to squash. Pure; the rewrite itself is in `monitoring`.

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
    now.saturating_sub(retention_days.saturating_mul(86_400) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn cutoff_days() {
        assert_eq!(cutoff(1_000_000, 0), 1_000_000);
        assert_eq!(cutoff(1_000_000, 1), 1_000_000 - 86_400);
    }
}
