//! Which apps a group has (SPEC §12: `[applications]`, the `"*"` group) and the removal of
//! apps whose section is gone (opt-in like Argo CD's prune): what may be removed, which
//! written files and code folders may be deleted, when a tombstone leaves the feedback file.
//! Pure decisions; the shell reads the records, runs `remove_command` and deletes.

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

/// What a group knows of its apps this pass (read by the shell).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupView {
    /// Apps `[applications]` names for this group (not `"*"`), in order.
    pub named_here: Vec<String>,
    /// Apps `[applications]` names for other groups: theirs, whatever this file says.
    pub named_elsewhere: BTreeSet<String>,
    /// This group is `"*"`: every section is an app.
    pub all_sections: bool,
    /// The sections of the infra_meta; `None` when it cannot be read.
    pub sections: Option<BTreeSet<String>>,
    /// `allow_empty = true` at the top of the infra_meta.
    pub allow_empty: bool,
    /// `prune = true` in the agent config.
    pub prune: bool,
    /// Apps this group put in place (records of a successful apply).
    pub deployed: BTreeSet<String>,
    /// Apps this group removed, and when (unix seconds).
    pub tombstones: Vec<(String, i64)>,
    pub now: i64,
    pub retention_days: u64,
}

/// The apps of a group this pass, and what becomes of those whose section is gone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members {
    /// Apps to visit, in order.
    pub visit: Vec<String>,
    /// Sections of a `"*"` group whose name cannot be an app name, and why.
    pub bad_names: Vec<(String, String)>,
    /// A `"*"` group whose infra_meta cannot be read, with no app to report that on.
    pub unreadable_all: bool,
    /// Apps to remove.
    pub remove: Vec<String>,
    /// Apps not removed: the file has no app at all and no `allow_empty = true`.
    pub kept_empty: Vec<String>,
    /// Removed apps whose tombstone is older than the retention: their table leaves.
    pub expired: Vec<String>,
    /// Removed apps whose section is back: their tombstone goes.
    pub revived: Vec<String>,
}

/// The membership rules: named apps first, then (for `"*"`) every section not named for
/// any group, with a name that can be a file name; an unreadable file lists the apps the group
/// put in place (so its failure shows on them); prune removes per [`decide`]; a removed app
/// is not visited (not even a named one) until its section is back.
pub fn members(v: &GroupView) -> Members {
    let named_anywhere =
        |n: &str| v.named_here.iter().any(|h| h == n) || v.named_elsewhere.contains(n);
    let mut m = Members {
        visit: v.named_here.clone(),
        ..Members::default()
    };
    if v.all_sections {
        let all: Vec<&String> = match &v.sections {
            Some(sections) => sections.iter().collect(),
            None => v.deployed.iter().collect(),
        };
        m.unreadable_all = v.sections.is_none() && all.is_empty();
        for app in all.into_iter().filter(|a| !named_anywhere(a)) {
            match crate::config::check_name(app) {
                Ok(()) => m.visit.push(app.clone()),
                Err(why) => m.bad_names.push((app.clone(), why)),
            }
        }
    }
    if let Some(sections) = &v.sections {
        let d = decide(v.prune, v.allow_empty, sections, &v.deployed);
        if d.refused_empty {
            m.kept_empty = v.deployed.difference(sections).cloned().collect();
        }
        m.remove = d.remove;
    }
    for (app, at) in &v.tombstones {
        if v.sections.as_ref().is_some_and(|s| s.contains(app)) {
            m.revived.push(app.clone());
            continue;
        }
        m.visit.retain(|a| a != app);
        if tombstone_expired(*at, v.now, v.retention_days) {
            m.expired.push(app.clone());
        }
    }
    m.visit.retain(|a| !m.remove.contains(a));
    m
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

    fn view() -> GroupView {
        GroupView {
            sections: Some(set(&[])),
            retention_days: 30,
            now: 100 * 86_400,
            ..GroupView::default()
        }
    }

    #[test]
    fn named_apps_are_visited_in_order() {
        let v = GroupView {
            named_here: vec!["b".into(), "a".into()],
            ..view()
        };
        assert_eq!(members(&v).visit, ["b", "a"]);
    }

    #[test]
    fn star_group_visits_every_section() {
        let v = GroupView {
            named_here: vec!["web".into()],
            all_sections: true,
            sections: Some(set(&["api", "web", "db"])),
            ..view()
        };
        assert_eq!(members(&v).visit, ["web", "api", "db"]);
    }

    #[test]
    fn star_group_leaves_apps_named_for_another_group() {
        let v = GroupView {
            all_sections: true,
            sections: Some(set(&["api", "web"])),
            named_elsewhere: set(&["web"]),
            ..view()
        };
        assert_eq!(members(&v).visit, ["api"]);
    }

    #[test]
    fn star_group_refuses_section_names_that_are_no_file_names() {
        let v = GroupView {
            all_sections: true,
            sections: Some(set(&["ok", "../etc"])),
            ..view()
        };
        let m = members(&v);
        assert_eq!(m.visit, ["ok"]);
        assert_eq!(m.bad_names.len(), 1);
        assert_eq!(m.bad_names[0].0, "../etc");
    }

    #[test]
    fn unreadable_star_file_reports_on_the_apps_it_had() {
        let v = GroupView {
            all_sections: true,
            sections: None,
            deployed: set(&["web"]),
            ..view()
        };
        let m = members(&v);
        assert_eq!(
            (m.visit, m.unreadable_all),
            (vec!["web".to_string()], false)
        );
        let none = GroupView {
            all_sections: true,
            sections: None,
            ..view()
        };
        assert!(members(&none).unreadable_all);
    }

    #[test]
    fn unreadable_file_prunes_nothing() {
        let v = GroupView {
            prune: true,
            sections: None,
            deployed: set(&["web"]),
            ..view()
        };
        assert!(members(&v).remove.is_empty());
    }

    #[test]
    fn removed_apps_are_not_visited_even_when_named() {
        let v = GroupView {
            prune: true,
            named_here: vec!["web".into()],
            sections: Some(set(&["other"])),
            deployed: set(&["web"]),
            ..view()
        };
        let m = members(&v);
        assert_eq!(m.remove, ["web"]);
        assert!(m.visit.is_empty());
    }

    #[test]
    fn empty_file_keeps_every_app_and_says_which() {
        let v = GroupView {
            prune: true,
            all_sections: true,
            deployed: set(&["a", "b"]),
            ..view()
        };
        let m = members(&v);
        assert!(m.remove.is_empty());
        assert_eq!(m.kept_empty, ["a", "b"]);
    }

    #[test]
    fn a_tombstone_hides_the_app_until_it_expires_or_its_section_is_back() {
        let v = GroupView {
            named_here: vec!["gone".into()],
            sections: Some(set(&["back"])),
            tombstones: vec![
                ("gone".into(), 100 * 86_400 - 10),
                ("old".into(), 0),
                ("back".into(), 0),
            ],
            ..view()
        };
        let m = members(&v);
        assert!(m.visit.is_empty(), "{:?}", m.visit);
        assert_eq!(m.expired, ["old"]);
        assert_eq!(m.revived, ["back"]);
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
