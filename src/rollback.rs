//! Health-checked updates (SPEC §12): what a failed health check leads to, and whether a
//! refused section is still quarantined. Pure decisions; the shell saves the snapshot before
//! an update and puts it back.

use sha2::{Digest, Sha256};

use crate::state::Record;

/// What to do once the health check of an update has answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Healthy (or no health check): keep the update.
    Keep,
    /// Unhealthy, and what ran before is known: put it back.
    RollBack,
    /// Unhealthy on a first install: nothing to go back to (`❌ health check failed`).
    FailNoPrevious,
}

/// `health_ok`: the check passed within its retries (`None`: no check is configured).
/// `has_previous`: a snapshot of what ran before was saved before the update.
pub fn verdict(health_ok: Option<bool>, has_previous: bool) -> Verdict {
    match (health_ok, has_previous) {
        (None | Some(true), _) => Verdict::Keep,
        (Some(false), true) => Verdict::RollBack,
        (Some(false), false) => Verdict::FailNoPrevious,
    }
}

/// Whether an update must save a snapshot of what ran before: only a health-checked update
/// can be rolled back, and only to a known state: a commit in place and the section that was
/// applied successfully with it (after a failed apply, or on a first install, there is none).
pub fn snapshot_needed(health_check: bool, previous_commit: bool, previous_section: bool) -> bool {
    health_check && previous_commit && previous_section
}

/// The health check run after a rollback: the restored section's own, else the one that
/// refused the update ("the health check run again").
pub fn check_after_rollback<T>(restored: Option<T>, refused: Option<T>) -> Option<T> {
    restored.or(refused)
}

/// What to remember after a rollback: the restored section when it is healthy again (and
/// still readable), else a failure, so that a later section gets no snapshot of it.
pub fn record_after_rollback(healthy: bool, restored: Option<&str>) -> Record {
    match (healthy, restored) {
        (true, Some(section)) => Record::Applied(section.to_string()),
        _ => Record::Failed,
    }
}

/// What identifies "this section as deployed": its text and the bytes of its config `src`
/// files. A refused section stays refused until this changes.
pub fn fingerprint(section: &str, srcs: &[(&str, &[u8])]) -> String {
    let mut h = Sha256::new();
    h.update((section.len() as u64).to_le_bytes());
    h.update(section.as_bytes());
    for (name, bytes) in srcs {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    crate::hex::encode(&h.finalize())
}

/// Whether the update to `current` must not be tried: it is the one that was rolled back.
pub fn is_quarantined(refused: Option<&str>, current: &str) -> bool {
    refused == Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passing_or_absent_health_check_keeps_the_update() {
        assert_eq!(verdict(None, true), Verdict::Keep);
        assert_eq!(verdict(Some(true), false), Verdict::Keep);
    }

    #[test]
    fn a_failing_health_check_rolls_back_to_what_ran_before() {
        assert_eq!(verdict(Some(false), true), Verdict::RollBack);
    }

    #[test]
    fn only_a_health_checked_update_saves_a_snapshot() {
        assert!(!snapshot_needed(false, true, true));
        assert!(snapshot_needed(true, true, true));
    }

    #[test]
    fn no_snapshot_without_a_commit_in_place_or_a_known_good_section() {
        assert!(!snapshot_needed(true, false, true), "first install");
        assert!(!snapshot_needed(true, true, false), "after a failed apply");
    }

    #[test]
    fn a_failing_first_install_has_nothing_to_roll_back_to() {
        assert_eq!(verdict(Some(false), false), Verdict::FailNoPrevious);
    }

    #[test]
    fn a_refused_section_stays_quarantined_until_it_or_a_src_changes() {
        let refused = fingerprint(
            "[web]\ncode_commit_hash = \"b\"\n",
            &[("e/web.env", b"A=1")],
        );
        let same = fingerprint(
            "[web]\ncode_commit_hash = \"b\"\n",
            &[("e/web.env", b"A=1")],
        );
        assert!(is_quarantined(Some(&refused), &same));
        let new_src = fingerprint(
            "[web]\ncode_commit_hash = \"b\"\n",
            &[("e/web.env", b"A=2")],
        );
        assert!(!is_quarantined(Some(&refused), &new_src));
        let new_section = fingerprint(
            "[web]\ncode_commit_hash = \"c\"\n",
            &[("e/web.env", b"A=1")],
        );
        assert!(!is_quarantined(Some(&refused), &new_section));
        assert!(!is_quarantined(None, &same));
    }

    #[test]
    fn the_restored_sections_health_check_runs_after_a_rollback() {
        assert_eq!(check_after_rollback(Some("old"), Some("new")), Some("old"));
        assert_eq!(check_after_rollback(None, Some("new")), Some("new"));
        assert_eq!(check_after_rollback::<&str>(None, None), None);
    }

    #[test]
    fn a_healthy_rollback_records_the_restored_section() {
        assert_eq!(
            record_after_rollback(true, Some("s")),
            Record::Applied("s".into())
        );
    }

    #[test]
    fn an_unhealthy_or_unreadable_rollback_records_a_failure() {
        assert_eq!(record_after_rollback(false, Some("s")), Record::Failed);
        assert_eq!(record_after_rollback(true, None), Record::Failed);
    }

    #[test]
    fn fingerprint_fields_cannot_run_into_each_other() {
        assert_ne!(
            fingerprint("ab", &[("c", b"d")]),
            fingerprint("a", &[("bc", b"d")])
        );
    }
}
