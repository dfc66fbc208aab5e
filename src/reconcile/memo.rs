//! What one group's visit learns once and every app's turn reuses: the folders proven real
//! (`paths::Memo`), the names in the state folders an app's turn looks into (`paused/`,
//! `quarantine/`, `snapshots/`: one listing each instead of one probe per app), and the
//! apply records, read once for the code folders of every app and handed to each app's
//! observation (they were read twice).
//!
//! Whatever changes the disk (apply, recovery, removal) calls [`GroupMemo::disk_changes`]
//! first, so nothing learnt before is trusted after it: the folders are walked, the state
//! folders listed and the records read again. The quarantine and snapshot records are the
//! agent's own, written only under its pass lock, so between two such calls a listing is
//! exactly what a probe would see; a `gitops-agent pause` (no lock) landing during the
//! stretch of unchanged apps after a listing is seen from the next listing on, as it is
//! seen from the next probe otherwise.

use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::compare_memo::{self, Key, Pairs};

use crate::paths;
use crate::state::{self, paused, quarantine, Record};

/// Facts gathered once per group visit (module doc).
#[derive(Debug, Default)]
pub(super) struct GroupMemo {
    /// Folders proven real on the way to `dst` files and code folders.
    pub paths: paths::Memo,
    paused: RefCell<OnceCell<Option<BTreeSet<String>>>>,
    quarantined: RefCell<OnceCell<Option<BTreeSet<String>>>>,
    snapshots: RefCell<OnceCell<Option<BTreeSet<String>>>>,
    /// Apply records by app, as read when the group was opened; each taken once.
    applied: RefCell<HashMap<String, String>>,
    /// Where the config files found equal are kept (`compare_memo`), what it held (read on
    /// first use) and what this visit found.
    compare_path: Option<PathBuf>,
    compare_old: OnceCell<Pairs>,
    compare_new: RefCell<Pairs>,
}

/// Which state folder a question is about.
#[derive(Debug, Clone, Copy)]
enum Folder {
    Paused,
    Quarantine,
    Snapshots,
}

impl GroupMemo {
    /// A memo holding `records` (`state::read_all` of the applied folder), keeping the
    /// config files found equal in `state_dir` for the group `group_key`.
    pub fn new(records: &[(String, String)], state_dir: &Path, group_key: &str) -> GroupMemo {
        let name = &state::sha256_hex(group_key.as_bytes())[..16];
        GroupMemo {
            compare_path: Some(state_dir.join("compare").join(name)),
            ..GroupMemo::with_records(records)
        }
    }

    /// A memo holding `records` (`state::read_all` of the applied folder).
    pub fn with_records(records: &[(String, String)]) -> GroupMemo {
        GroupMemo {
            applied: RefCell::new(
                records
                    .iter()
                    .filter_map(|(name, text)| {
                        Some((name.strip_suffix(".toml")?.to_string(), text.clone()))
                    })
                    .collect(),
            ),
            ..GroupMemo::default()
        }
    }

    /// The agent is about to change the disk (a checkout, a config write, a hook): forget
    /// everything learnt; a symlink may stand where a folder was, records change.
    pub fn disk_changes(&self) {
        self.paths.forget();
        for cell in [&self.paused, &self.quarantined, &self.snapshots] {
            cell.borrow_mut().take();
        }
        self.applied.borrow_mut().clear();
    }

    /// Whether `app` is paused on this device (`paused::is_paused`, asked only when its
    /// marker is listed).
    pub fn is_paused(&self, state_dir: &Path, app: &str) -> bool {
        self.listed(Folder::Paused, state_dir, app) && paused::is_paused(state_dir, app)
    }

    /// `app`'s quarantine record (`quarantine::read`, only when one is listed).
    pub fn quarantine(&self, state_dir: &Path, app: &str) -> Option<quarantine::Refused> {
        if !self.listed(Folder::Quarantine, state_dir, app) {
            return None;
        }
        quarantine::read(state_dir, app)
    }

    /// Whether `app` may have a snapshot (an update cut short): `false` only when the
    /// snapshots folder has nothing under its name.
    pub fn may_have_snapshot(&self, state_dir: &Path, app: &str) -> bool {
        self.listed(Folder::Snapshots, state_dir, app)
    }

    /// `app`'s apply record: the one read when the group was opened (once; a second
    /// question reads the disk), else read now.
    pub fn applied(&self, applied_dir: &Path, app: &str) -> Option<Record> {
        match self.applied.borrow_mut().remove(app) {
            Some(text) => Some(state::decode(text)),
            None => state::read(applied_dir, app),
        }
    }

    /// Whether the `i`th config file of `app` was found equal to its `src` under these
    /// keys (src, dst) and nothing changed since (`compare_memo`).
    pub fn known_same(&self, app: &str, i: usize, keys: (Key, Key)) -> bool {
        let old = self.compare_old.get_or_init(|| match &self.compare_path {
            Some(p) => compare_memo::read(p),
            None => Pairs::new(),
        });
        old.get(&(app.to_string(), i)) == Some(&keys)
    }

    /// The `i`th config file of `app` was just found equal to its `src` under these keys
    /// (kept only when both are settled now: a change right after the comparison could
    /// otherwise carry the same times).
    pub fn saw_same(&self, app: &str, i: usize, keys: (Key, Key)) {
        let Some(now) = compare_memo::nanos(std::time::SystemTime::now()) else {
            return;
        };
        if compare_memo::settled_before(&keys.0, now) && compare_memo::settled_before(&keys.1, now)
        {
            self.compare_new
                .borrow_mut()
                .insert((app.to_string(), i), keys);
        }
    }

    /// Keep the config files found equal this visit, when that differs from what was kept
    /// (a pass's group calls it once at its end; `plan` never).
    pub fn persist(&self) {
        let Some(path) = &self.compare_path else {
            return;
        };
        let pairs = self.compare_new.borrow();
        if self.compare_old.get() != Some(&*pairs) {
            compare_memo::write(path, &pairs);
        }
    }

    fn listed(&self, folder: Folder, state_dir: &Path, app: &str) -> bool {
        let (cell, names) = match folder {
            Folder::Paused => (&self.paused, state_dir.join("paused")),
            Folder::Quarantine => (&self.quarantined, state_dir.join("quarantine")),
            Folder::Snapshots => (&self.snapshots, state_dir.join("snapshots")),
        };
        let cell = cell.borrow();
        // (a folder that cannot be listed says nothing: the probe decides)
        let Some(names) = cell.get_or_init(|| state::entry_names(&names)) else {
            return true;
        };
        match folder {
            Folder::Snapshots => names.contains(app),
            _ => names.contains(&format!("{app}.toml")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn state_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "gitops-memo-{tag}-{}-{:x}",
            std::process::id(),
            crate::atomic::random_u64()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_paused_app_is_seen_from_the_next_listing_on() {
        let d = state_dir("paused");
        let memo = GroupMemo::default();
        assert!(!memo.is_paused(&d, "web"), "no folder: nobody paused");
        paused::pause(&d, "web", "now").unwrap();
        // a new pass (a new memo) and a disk change both list again
        assert!(GroupMemo::default().is_paused(&d, "web"));
        memo.disk_changes();
        assert!(memo.is_paused(&d, "web"));
        assert!(!memo.is_paused(&d, "db"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_listed_record_is_read_and_an_unlisted_one_is_none() {
        let d = state_dir("quarantine");
        let rec = quarantine::Refused {
            fingerprint: "f1".into(),
            run: crate::report::HealthRun {
                codes: vec![("health", 1)],
                logs: String::new(),
                rollback: None,
            },
        };
        quarantine::write(&d, "web", &rec).unwrap();
        let memo = GroupMemo::default();
        assert_eq!(memo.quarantine(&d, "web").unwrap().fingerprint, "f1");
        assert!(memo.quarantine(&d, "db").is_none());
        std::fs::create_dir_all(d.join("snapshots/web")).unwrap();
        assert!(memo.may_have_snapshot(&d, "web"));
        assert!(!memo.may_have_snapshot(&d, "db"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_folder_that_cannot_be_listed_leaves_the_answer_to_the_probe() {
        let d = state_dir("unlistable");
        std::fs::write(d.join("snapshots"), "not a folder").unwrap();
        assert!(GroupMemo::default().may_have_snapshot(&d, "web"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_record_read_at_open_is_used_once_then_the_disk_decides() {
        let d = state_dir("applied");
        state::write(&d, "web", &Record::Applied("a = 1\n".into())).unwrap();
        let memo = GroupMemo::with_records(&state::read_all(&d));
        state::write(&d, "web", &Record::Failed).unwrap();
        assert_eq!(
            memo.applied(&d, "web"),
            Some(Record::Applied("a = 1\n".into()))
        );
        assert_eq!(memo.applied(&d, "web"), Some(Record::Failed), "read again");
        // a disk change drops every record read at open
        state::write(&d, "db", &Record::Applied("b = 1\n".into())).unwrap();
        let memo = GroupMemo::with_records(&state::read_all(&d));
        state::write(&d, "db", &Record::Failed).unwrap();
        memo.disk_changes();
        assert_eq!(memo.applied(&d, "db"), Some(Record::Failed));
        assert_eq!(memo.applied(&d, "none"), None);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn only_settled_pairs_are_kept_and_served_under_their_keys() {
        let d = state_dir("compare");
        let old = (1, 2, 3, 4);
        let young = |t: i128| (1, 2, t, t);
        let now = compare_memo::nanos(std::time::SystemTime::now()).unwrap();
        let memo = GroupMemo::new(&[], &d, "g");
        assert!(!memo.known_same("web", 0, (old, old)));
        memo.saw_same("web", 0, (old, old));
        memo.saw_same("db", 0, (old, young(now)));
        memo.persist();
        let next = GroupMemo::new(&[], &d, "g");
        assert!(next.known_same("web", 0, (old, old)));
        assert!(
            !next.known_same("web", 0, (old, (1, 2, 3, 5))),
            "another ctime"
        );
        assert!(!next.known_same("web", 1, (old, old)), "another entry");
        assert!(
            !next.known_same("db", 0, (old, young(now))),
            "not settled: not kept"
        );
        assert!(!GroupMemo::new(&[], &d, "other group").known_same("web", 0, (old, old)));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
