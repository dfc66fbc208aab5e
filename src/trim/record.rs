//! The "oldest after root" record a status commit carries (SPEC §9, issue 8): the committer
//! time of the oldest commit after the root of the first-parent chain the commit heads, the
//! value `due` judges. With it a device that has never seen the branch's history can tell
//! from the head alone whether a trim is due, so joining costs a depth-1 fetch, not the
//! whole history. Pure: which value a new commit records, and the record's text.
//!
//! The record is a git trailer after a blank line (`Oldest-After-Root: 1764500000`), not an
//! extra commit header: the subject stays exactly as SPEC §6 words it (`git log`, `%s` and
//! every git host show it alone), any git tool can write one (the fleet benchmark makes its
//! history with `git fast-import`, which cannot write extra headers) and an operator can read
//! it in `git log`. What git does to messages (rebase, cherry-pick) keeps it or drops it;
//! dropped, it is absent, and absent only costs the whole-history fetch.
//!
//! Trims replay newer commits with their messages unchanged (SPEC §6), so a replayed commit's
//! record may be stale. A trim only removes old commits, so a stale value is always OLDER
//! than the truth: it errs towards fetching the history, never towards skipping a due trim.
//! The trimming device's own commit (the new head) records the new chain's true value.

/// The trailer's key.
pub const KEY: &str = "Oldest-After-Root";

/// Digits at most: 18 fit an `i64` whatever they are (seconds until the year 31 billion).
const MAX_DIGITS: usize = 18;

/// What this device knows of the parent of a commit it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent<'a> {
    /// The parent has no parents: it is the root of the branch.
    pub is_root: bool,
    /// The record the parent carries, if any (parsed from its message).
    pub record: Option<i64>,
    /// Committer times of the parent's whole first-parent chain, oldest first, when the
    /// whole history is here (a whole-history fetch); `None` on a shallow clone.
    pub chain: Option<&'a [i64]>,
}

/// The record of a new commit committed at `own_time` on `parent` (`None`: a new branch),
/// or `None` to write no record.
pub fn for_new_commit(own_time: i64, parent: Option<&Parent<'_>>) -> Option<i64> {
    let Some(p) = parent else {
        // The commit is the root: nothing after it yet. Its own time stands in (a commit
        // written now), so a device joining a young branch stays shallow.
        return Some(own_time);
    };
    if p.is_root {
        // The commit is the first after the root.
        return Some(own_time);
    }
    if let Some(chain) = p.chain {
        // Known exactly: preferred over a copied record, which may be stale (a replayed
        // commit's), so a stale record heals at the first whole-history pass.
        return chain.get(1).copied().or(Some(own_time));
    }
    // Appending keeps the chain's oldest commit after the root.
    p.record
}

/// The message of a status commit: `subject`, then the record as a trailer.
pub fn message(subject: &str, record: Option<i64>) -> String {
    match record {
        Some(t) => format!("{subject}\n\n{KEY}: {t}\n"),
        None => subject.to_string(),
    }
}

/// The record in `message`: a line `Oldest-After-Root: <digits>` in its last paragraph (the
/// trailer block, after the subject). Strict: anything else (a sign, spaces inside, more than
/// 18 digits, two such lines, the subject alone) is no record.
pub fn parse(message: &str) -> Option<i64> {
    let body = message.trim_end_matches(['\n', '\r']);
    let (_, last) = body.rsplit_once("\n\n")?;
    let prefix = format!("{KEY}: ");
    let mut found = last.lines().filter_map(|l| l.strip_prefix(&prefix));
    let value = found.next()?;
    if found.next().is_some()
        || value.is_empty()
        || value.len() > MAX_DIGITS
        || !value.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_764_500_000;

    fn parent(is_root: bool, record: Option<i64>, chain: Option<&[i64]>) -> Parent<'_> {
        Parent {
            is_root,
            record,
            chain,
        }
    }

    #[test]
    fn a_new_branch_records_its_own_time() {
        assert_eq!(for_new_commit(NOW, None), Some(NOW));
    }

    #[test]
    fn on_the_root_the_commit_records_its_own_time() {
        assert_eq!(
            for_new_commit(NOW, Some(&parent(true, Some(5), Some(&[5])))),
            Some(NOW)
        );
        assert_eq!(
            for_new_commit(NOW, Some(&parent(true, None, None))),
            Some(NOW)
        );
    }

    #[test]
    fn the_parents_record_is_copied() {
        assert_eq!(
            for_new_commit(NOW, Some(&parent(false, Some(42), None))),
            Some(42)
        );
    }

    #[test]
    fn a_whole_chain_is_computed_and_wins_over_a_stale_record() {
        let chain = [10, 20, 30];
        assert_eq!(
            for_new_commit(NOW, Some(&parent(false, None, Some(&chain)))),
            Some(20)
        );
        // a replayed commit's stale record (older than the truth) heals
        assert_eq!(
            for_new_commit(NOW, Some(&parent(false, Some(1), Some(&chain)))),
            Some(20)
        );
    }

    #[test]
    fn nothing_known_no_record() {
        assert_eq!(for_new_commit(NOW, Some(&parent(false, None, None))), None);
    }

    #[test]
    fn after_a_trim_the_head_records_the_first_replayed_commit_or_its_own_time() {
        // the trimming device's commit on the replayed chain [squash, first replayed, ...]
        let replayed = [NOW, NOW - 500, NOW - 100];
        assert_eq!(
            for_new_commit(NOW, Some(&parent(false, Some(1), Some(&replayed)))),
            Some(NOW - 500)
        );
        // nothing replayed: its parent is the squash commit, the root
        assert_eq!(
            for_new_commit(NOW, Some(&parent(true, None, Some(&[NOW])))),
            Some(NOW)
        );
    }

    #[test]
    fn message_keeps_the_subject_and_reads_back() {
        let m = message("✅ Status: all 2 apps healthy", Some(NOW));
        assert_eq!(m.lines().next(), Some("✅ Status: all 2 apps healthy"));
        assert_eq!(parse(&m), Some(NOW));
        assert_eq!(message("s", None), "s");
        assert_eq!(parse("s"), None);
    }

    #[test]
    fn parse_reads_the_trailer_block_among_others() {
        let m = format!("s\n\nbody\n\nSigned-off-by: a <b>\n{KEY}: 7\n");
        assert_eq!(parse(&m), Some(7));
        assert_eq!(parse(&format!("s\n\n{KEY}: 7")), Some(7));
        assert_eq!(parse(&format!("s\r\n\r\n{KEY}: 7\r\n")), None);
    }

    #[test]
    fn parse_is_strict() {
        for bad in [
            format!("{KEY}: 7"),                    // the subject is no trailer
            format!("s\n\n{KEY}: 7\n\nlater text"), // not in the last paragraph
            format!("s\n\n{KEY}: -7"),              // a sign
            format!("s\n\n{KEY}: +7"),
            format!("s\n\n{KEY}:  7"), // spaces
            format!("s\n\n{KEY}: 7 "),
            format!("s\n\n{KEY}: "),                    // empty
            format!("s\n\n{KEY}: 0x10"),                // not decimal
            format!("s\n\n{KEY}: ٣"),                   // a non-ASCII digit
            format!("s\n\n{KEY}: 1234567890123456789"), // 19 digits
            format!("s\n\n{KEY}: 1\n{KEY}: 2"),         // two records
            "s\n\noldest-after-root: 7".to_string(),    // another key
        ] {
            assert_eq!(parse(&bad), None, "{bad:?}");
        }
        assert_eq!(
            parse(&format!("s\n\n{KEY}: 999999999999999999")),
            Some(999_999_999_999_999_999)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn parse_never_panics_and_reads_only_plain_digits(text in ".{0,300}") {
            if let Some(t) = parse(&text) {
                prop_assert!(t >= 0);
                prop_assert!(text.contains(KEY));
            }
        }

        #[test]
        fn parse_never_panics_on_trailer_like_text(
            subject in "[^\n]{0,40}",
            value in "[0-9+\\- x]{0,25}",
            tail in "(\n|\r|[a-z: ]){0,20}",
        ) {
            let _ = parse(&format!("{subject}\n\n{KEY}: {value}{tail}"));
        }

        #[test]
        fn every_written_record_reads_back(t in 0i64..=999_999_999_999_999_999, subject in "[^\n]{1,60}") {
            prop_assert_eq!(parse(&message(&subject, Some(t))), Some(t));
        }
    }
}
