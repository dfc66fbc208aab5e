//! Which apps a group has this pass (SPEC §12): those named in `[applications]`, every
//! section of the infra_meta for a `"*"` group, and what becomes of the apps this group put
//! in place before whose section is gone (removed, kept by the empty-file guard, or their
//! tombstone expired). Reads the records; changes nothing.

use std::collections::BTreeSet;
use std::path::Path;

use super::deploy::Meta;
use crate::config::{self, AgentConfig, Group, ALL_SECTIONS};
use crate::infra_meta;
use crate::state::deployed::{self, Deployed};
use crate::state::tombstone;

#[derive(Debug, Default)]
pub(super) struct Members {
    /// Apps to visit, in order.
    pub visit: Vec<String>,
    /// Sections of a `"*"` group whose name cannot be an app name, and why.
    pub bad_names: Vec<(String, String)>,
    /// A `"*"` group whose infra_meta cannot be read and that has no app to report it on.
    pub unreadable_all: bool,
    /// Apps to remove (prune), with what the agent put in place for them.
    pub remove: Vec<(String, Deployed)>,
    /// Apps not removed: the file has no app at all and no `allow_empty = true`.
    pub kept_empty: Vec<String>,
    /// Removed apps whose tombstone is older than the retention (their table leaves).
    pub expired: Vec<String>,
    /// Removed apps whose section is back (their tombstone goes).
    pub revived: Vec<String>,
}

/// The members of `group` (key `key`) given its infra_meta; `now` in unix seconds.
pub(super) fn members(
    cfg: &AgentConfig,
    group: &Group,
    meta: &Meta,
    state_dir: &Path,
    key: &str,
    now: i64,
) -> Members {
    let named_anywhere: BTreeSet<&str> = cfg
        .apps
        .iter()
        .map(|a| a.name.as_str())
        .filter(|n| *n != ALL_SECTIONS)
        .collect();
    let named_here: Vec<String> = group
        .apps
        .iter()
        .filter(|n| n.as_str() != ALL_SECTIONS)
        .cloned()
        .collect();
    // Apps named for another group are that group's, whatever this file says.
    let theirs = |n: &str| named_anywhere.contains(n) && !named_here.iter().any(|h| h == n);
    let doc = meta.as_ref().ok().map(|(_, doc)| doc);
    let sections: BTreeSet<String> = doc
        .map(|d| infra_meta::sections(d).into_iter().collect())
        .unwrap_or_default();
    let wildcard = group.apps.iter().any(|a| a == ALL_SECTIONS);
    // (read only when needed: an unchanged pass without prune reads no record)
    let mine: Vec<(String, Deployed)> = if cfg.prune || (wildcard && doc.is_none()) {
        deployed::all(state_dir)
            .into_iter()
            .filter(|(app, d)| d.group == key && !theirs(app))
            .collect()
    } else {
        Vec::new()
    };

    let mut m = Members {
        visit: named_here.clone(),
        ..Members::default()
    };
    if wildcard {
        let all: Vec<String> = match doc {
            Some(_) => sections.iter().cloned().collect(),
            // Unreadable: report the apps it had, so the failure shows on each.
            None => mine.iter().map(|(a, _)| a.clone()).collect(),
        };
        m.unreadable_all = doc.is_none() && all.is_empty();
        for app in all {
            if named_anywhere.contains(app.as_str()) {
                continue;
            }
            match config::check_name(&app) {
                Ok(()) => m.visit.push(app),
                Err(why) => m.bad_names.push((app, why)),
            }
        }
    }

    if let (true, Some(doc)) = (cfg.prune, doc) {
        let applied: BTreeSet<String> = mine.iter().map(|(a, _)| a.clone()).collect();
        let d = crate::prune::decide(true, infra_meta::allow_empty(doc), &sections, &applied);
        if d.refused_empty {
            m.kept_empty = applied.difference(&sections).cloned().collect();
        }
        m.remove = mine
            .into_iter()
            .filter(|(a, _)| d.remove.contains(a))
            .collect();
    }
    for (app, t) in tombstone::all(state_dir) {
        if t.group != key || theirs(&app) {
            continue;
        }
        if doc.is_some() && sections.contains(&app) {
            m.revived.push(app);
            continue;
        }
        // A removed app named in [applications] is not "missing its section" every pass.
        m.visit.retain(|v| *v != app);
        if crate::prune::tombstone_expired(t.at_unix, now, cfg.retention_days) {
            m.expired.push(app);
        }
    }
    m.visit.retain(|v| !m.remove.iter().any(|(r, _)| r == v));
    m
}
