//! Reading what `prune::members` decides a group's apps from: `[applications]`, the sections
//! of its infra_meta, the records of what it put in place and of what it removed. Reads only.

use std::collections::BTreeSet;
use std::path::Path;

use super::deploy::Meta;
use crate::config::{AgentConfig, Group, ALL_SECTIONS};
use crate::infra_meta;
use crate::prune::{self, GroupView, Members};
use crate::state::deployed::{self, Deployed};
use crate::state::tombstone;

/// The members of `group` (key `key`), and the records of the apps to remove.
pub(super) fn members(
    cfg: &AgentConfig,
    group: &Group,
    meta: &Meta,
    state_dir: &Path,
    key: &str,
    now: i64,
) -> (Members, Vec<(String, Deployed)>) {
    let named_here: Vec<String> = group
        .apps
        .iter()
        .filter(|n| n.as_str() != ALL_SECTIONS)
        .cloned()
        .collect();
    let named_elsewhere: BTreeSet<String> = cfg
        .apps
        .iter()
        .map(|a| a.name.clone())
        .filter(|n| n != ALL_SECTIONS && !named_here.contains(n))
        .collect();
    let all_sections = group.apps.iter().any(|a| a == ALL_SECTIONS);
    let doc = meta.as_ref().ok().map(|(_, doc)| doc);
    // (read only when needed: an unchanged pass without prune reads no record)
    let records: Vec<(String, Deployed)> = if cfg.prune || (all_sections && doc.is_none()) {
        deployed::all(state_dir)
            .into_iter()
            .filter(|(app, d)| d.group == key && !named_elsewhere.contains(app))
            .collect()
    } else {
        Vec::new()
    };
    let view = GroupView {
        named_here,
        all_sections,
        sections: doc.map(|d| infra_meta::sections(d).into_iter().collect()),
        allow_empty: doc.is_some_and(infra_meta::allow_empty),
        prune: cfg.prune,
        deployed: records.iter().map(|(a, _)| a.clone()).collect(),
        tombstones: tombstone::all(state_dir)
            .into_iter()
            .filter(|(app, t)| t.group == key && !named_elsewhere.contains(app))
            .map(|(app, t)| (app, t.at_unix))
            .collect(),
        named_elsewhere,
        now,
        retention_days: cfg.retention_days,
    };
    let m = prune::members(&view);
    let remove = records
        .into_iter()
        .filter(|(a, _)| m.remove.contains(a))
        .collect();
    (m, remove)
}
