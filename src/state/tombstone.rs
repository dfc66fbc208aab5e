//! Apps pruned by this device (SPEC §12): when, and by which group, so their `🗑️ removed`
//! table keeps its `removed-at` and leaves the feedback file once older than the retention.

use std::path::{Path, PathBuf};

use super::{names_in, read_table, remove_file, write_table};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// `pass::group_key` of the group that removed it.
    pub group: String,
    /// Local time stamp (`YYYY-MM-DD HH:MM:SS`), as the feedback file shows it.
    pub at: String,
    /// The same moment in unix seconds, for the retention.
    pub at_unix: i64,
}

fn dir(state: &Path) -> PathBuf {
    state.join("removed")
}

fn path(state: &Path, app: &str) -> PathBuf {
    dir(state).join(format!("{app}.toml"))
}

pub fn write(state: &Path, app: &str, t: &Tombstone) -> Result<()> {
    let mut table = toml::Table::new();
    table.insert("group".into(), t.group.clone().into());
    table.insert("removed-at".into(), t.at.clone().into());
    table.insert("removed-at-unix".into(), t.at_unix.into());
    write_table(&path(state, app), &table)
}

pub fn read(state: &Path, app: &str) -> Option<Tombstone> {
    let t = read_table(&path(state, app))?;
    Some(Tombstone {
        group: t.get("group")?.as_str()?.to_string(),
        at: t.get("removed-at")?.as_str()?.to_string(),
        at_unix: t.get("removed-at-unix")?.as_integer()?,
    })
}

pub fn remove(state: &Path, app: &str) -> Result<()> {
    remove_file(&path(state, app))
}

/// Every tombstone, by app name.
pub fn all(state: &Path) -> Vec<(String, Tombstone)> {
    names_in(&dir(state))
        .into_iter()
        .filter_map(|app| read(state, &app).map(|t| (app, t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let d = std::env::temp_dir().join(format!(
            "gitops-tombstone-{}-{:x}",
            std::process::id(),
            crate::atomic::random_u64()
        ));
        let t = Tombstone {
            group: "g".into(),
            at: "2026-11-24 10:00:00".into(),
            at_unix: 1_795_000_000,
        };
        write(&d, "web", &t).unwrap();
        assert_eq!(all(&d), vec![("web".to_string(), t)]);
        remove(&d, "web").unwrap();
        assert!(all(&d).is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
