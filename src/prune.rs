//! Removal of apps whose section is gone (SPEC §12, opt-in like Argo CD's prune): what may be
//! removed, which written files may be deleted, when a tombstone leaves the feedback file.
//! Pure decisions; the shell runs `remove_command` and deletes.

use std::collections::BTreeSet;
use std::path::{Component, Path};

/// What a pass may remove in one group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PruneDecision {
    /// Apps to remove, sorted.
    pub remove: Vec<String>,
    /// The infra_meta has no app at all and does not say `allow_empty = true`: nothing is
    /// removed (an emptied file is far more often a mistake than a decommission).
    pub refused_empty: bool,
}

/// Which previously applied apps to remove, given this group's current sections.
///
/// `applied`: apps of this group with a record of a successful apply. Only those are ever
/// removed: an app the agent never put in place is not the agent's to delete.
pub fn decide(
    prune: bool,
    allow_empty: bool,
    sections: &BTreeSet<String>,
    applied: &BTreeSet<String>,
) -> PruneDecision {
    if !prune {
        return PruneDecision::default();
    }
    let gone: Vec<String> = applied.difference(sections).cloned().collect();
    if sections.is_empty() && !allow_empty {
        return PruneDecision {
            remove: Vec::new(),
            refused_empty: !gone.is_empty(),
        };
    }
    PruneDecision {
        remove: gone,
        refused_empty: false,
    }
}

/// What happens to one config file the agent wrote for a removed app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFate {
    /// Still the bytes the agent wrote: delete it.
    Delete,
    /// Changed since (someone edited it on the device): keep it, with a warning.
    KeepChanged,
    /// Already gone.
    Gone,
}

/// `written`: the bytes the agent last wrote there; `on_disk`: what is there now.
pub fn file_fate(written: &[u8], on_disk: Option<&[u8]>) -> FileFate {
    match on_disk {
        None => FileFate::Gone,
        Some(now) if now == written => FileFate::Delete,
        Some(_) => FileFate::KeepChanged,
    }
}

/// Top-level folders of the system (SPEC §10) and of users: a folder right below one of
/// them (`/etc/web`, `/home/pi`) is not an app's to delete.
const SYSTEM: &[&str] = &[
    "bin", "boot", "dev", "etc", "home", "lib", "lib64", "proc", "root", "run", "sbin", "sys",
    "tmp", "usr", "var",
];

/// Whether `prune_code` may delete `folder` (absolute, symlinks resolved): never `/`, a
/// folder at the top of the tree, one right below a system folder, nor the agent's `home`, a
/// folder inside it or holding it.
pub fn may_delete_folder(folder: &Path, home: &Path) -> bool {
    let names: Vec<&std::ffi::OsStr> = folder
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let below_system = names.len() == 2 && names[0].to_str().is_some_and(|t| SYSTEM.contains(&t));
    folder.is_absolute()
        && names.len() >= 2
        && !below_system
        && !folder.starts_with(home)
        && !home.starts_with(folder)
}

/// Whether a `🗑️ removed` table written at `removed_at` (unix seconds) has been kept long
/// enough: it leaves the file once older than the retention.
pub fn tombstone_expired(removed_at: i64, now: i64, retention_days: u64) -> bool {
    let retention = i64::try_from(retention_days.saturating_mul(86_400)).unwrap_or(i64::MAX);
    now.saturating_sub(removed_at) > retention
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn without_prune_nothing_is_removed() {
        let d = decide(false, false, &set(&["a"]), &set(&["a", "b"]));
        assert_eq!(d, PruneDecision::default());
    }

    #[test]
    fn applied_apps_whose_section_is_gone_are_removed() {
        let d = decide(true, false, &set(&["a"]), &set(&["a", "c", "b"]));
        assert_eq!(d.remove, vec!["b".to_string(), "c".to_string()]);
        assert!(!d.refused_empty);
    }

    #[test]
    fn never_applied_apps_are_not_removed() {
        let d = decide(true, false, &set(&["a"]), &set(&[]));
        assert!(d.remove.is_empty());
    }

    #[test]
    fn an_empty_infra_meta_removes_nothing_without_allow_empty() {
        let d = decide(true, false, &set(&[]), &set(&["a", "b"]));
        assert!(d.remove.is_empty());
        assert!(d.refused_empty);
    }

    #[test]
    fn an_empty_infra_meta_with_allow_empty_removes_everything() {
        let d = decide(true, true, &set(&[]), &set(&["a", "b"]));
        assert_eq!(d.remove.len(), 2);
        assert!(!d.refused_empty);
    }

    #[test]
    fn an_empty_infra_meta_with_nothing_applied_is_not_a_refusal() {
        assert!(!decide(true, false, &set(&[]), &set(&[])).refused_empty);
    }

    #[test]
    fn a_file_changed_since_written_is_kept() {
        assert_eq!(file_fate(b"a", Some(b"a")), FileFate::Delete);
        assert_eq!(file_fate(b"a", Some(b"b")), FileFate::KeepChanged);
        assert_eq!(file_fate(b"a", None), FileFate::Gone);
    }

    #[test]
    fn code_folders_are_deleted_only_below_the_top_of_the_tree() {
        let home = Path::new("/opt/gitops-agent");
        assert!(may_delete_folder(Path::new("/srv/web"), home));
        assert!(may_delete_folder(Path::new("/opt/apps/web"), home));
        for never in [
            "/", "/srv", "/usr", "/etc", "/etc/web", "/home/pi", "/usr/lib",
        ] {
            assert!(!may_delete_folder(Path::new(never), home), "{never}");
        }
    }

    #[test]
    fn the_agents_home_is_never_deleted() {
        let home = Path::new("/opt/gitops-agent");
        for never in [
            "/opt/gitops-agent",
            "/opt/gitops-agent/app-configs/x",
            "/opt",
        ] {
            assert!(!may_delete_folder(Path::new(never), home), "{never}");
        }
        assert!(!may_delete_folder(Path::new("srv/web"), home), "relative");
    }

    #[test]
    fn tombstones_leave_after_the_retention() {
        assert!(!tombstone_expired(0, 86_400, 1));
        assert!(tombstone_expired(0, 86_401, 1));
        assert!(tombstone_expired(0, 1, 0));
        assert!(!tombstone_expired(0, 10, u64::MAX));
    }
}
