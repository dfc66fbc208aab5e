//! git's racy-timestamp rule for the stat-keyed memos (`git/worktree/look_memo.rs`,
//! `reconcile/compare_memo.rs`): a copy keyed by a file's inode, size, mtime and ctime may
//! serve only when those times are older than the moment it was taken by more than one tick
//! of the file system's timestamps. Otherwise a change made right after the copy, within
//! the same tick and of the same size, would carry the same key and go unseen. Pure.
//!
//! The tick is read from the times themselves: a file system that stores whole seconds
//! (ext3, ext4 with 128-byte inodes as `mke2fs` makes small file systems, FAT's 2 s, some
//! NFS servers) gives times without nanoseconds; a fine-grained one (ext4, xfs, btrfs,
//! tmpfs) stamps with the kernel's coarse clock, a few milliseconds a tick. A fine time that
//! happens to fall on a whole second only costs the longer wait.

/// Margin for fine-grained times: more than a tick of the kernel's coarse clock.
pub const FINE_MARGIN_NS: i128 = 100_000_000;

/// Margin for whole-second times: more than FAT's 2 s tick.
pub const COARSE_MARGIN_NS: i128 = 3_000_000_000;

const SECOND_NS: i128 = 1_000_000_000;

/// Whether a key with these times (nanoseconds since the epoch) was settled at `at`: both
/// times older than `at` by more than their file system's tick.
pub fn settled_before(mtime_ns: i128, ctime_ns: i128, at_ns: i128) -> bool {
    let whole_seconds = mtime_ns % SECOND_NS == 0 && ctime_ns % SECOND_NS == 0;
    let margin = if whole_seconds {
        COARSE_MARGIN_NS
    } else {
        FINE_MARGIN_NS
    };
    mtime_ns.max(ctime_ns) + margin < at_ns
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i128 = 1_764_500_000 * SECOND_NS;

    #[test]
    fn fine_times_settle_after_the_fine_margin() {
        let (m, c) = (T + 123_456_789, T + 223_456_789);
        assert!(!settled_before(m, c, c + FINE_MARGIN_NS));
        assert!(settled_before(m, c, c + FINE_MARGIN_NS + 1));
    }

    #[test]
    fn whole_second_times_settle_only_after_a_coarse_tick() {
        // Written at T + 0.9 s on a whole-second file system, read back as T: a copy taken
        // at T + 0.95 s must not serve, though T + 100 ms has passed.
        assert!(!settled_before(T, T, T + 950_000_000));
        assert!(!settled_before(T, T, T + COARSE_MARGIN_NS));
        assert!(settled_before(T, T, T + COARSE_MARGIN_NS + 1));
    }

    #[test]
    fn the_later_of_the_two_times_counts() {
        assert!(!settled_before(T + 1, T + 5 * SECOND_NS, T + 2 * SECOND_NS));
    }
}
