//! The outbox, `$GITOPS_AGENT_HOME/state/events/outbox/` (0700): one 0600 file per event
//! not yet delivered to every sink, named so that names sort oldest first. Each file holds
//! the event's JSON and the sinks it already reached, so a sink that succeeded is not asked
//! again when another one fails. At most [`MAX_KEPT`] files; the oldest go first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::Result;

/// Events kept at most (SPEC §13).
pub const MAX_KEPT: usize = 1000;

/// One waiting event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    /// The file name without `.toml`: the event's `id`.
    pub name: String,
    pub event: String,
    pub json: String,
    /// Sinks (`command`, `webhook`) that took it already.
    pub delivered: BTreeSet<String>,
}

/// Put an event into the outbox (atomically). A file of that name already there is kept as
/// it is (a spool moved again after a crash must not forget a sink it reached).
pub fn put(dir: &Path, name: &str, event: &str, json: &str) -> Result<()> {
    let path = dir.join(format!("{name}.toml"));
    if path.exists() {
        return Ok(());
    }
    write(&path, event, json, &BTreeSet::new())
}

/// The waiting events, oldest first. A file that cannot be read is dropped with a log line
/// (it would otherwise block nothing but be retried forever).
pub fn pending(dir: &Path) -> Vec<Entry> {
    let mut entries = Vec::new();
    for name in crate::state::names_in(dir) {
        let path = dir.join(format!("{name}.toml"));
        let t = crate::state::read_table(&path);
        let s = |k: &str| {
            t.as_ref()
                .and_then(|t| t.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        match (s("event"), s("json")) {
            (Some(event), Some(json)) => {
                let delivered = t
                    .as_ref()
                    .and_then(|t| t.get("delivered"))
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                entries.push(Entry {
                    path,
                    name,
                    event,
                    json,
                    delivered,
                });
            }
            _ => {
                log::warn!("events: dropping unreadable outbox file {}", path.display());
                let _ = crate::state::remove_file(&path);
            }
        }
    }
    entries
}

/// Record that `sink` took `entry` (one atomic write: the record survives a crash).
pub fn mark_delivered(entry: &mut Entry, sink: &str) -> Result<()> {
    entry.delivered.insert(sink.to_string());
    write(&entry.path, &entry.event, &entry.json, &entry.delivered)
}

/// Every sink took it: it leaves the outbox.
pub fn remove(entry: &Entry) -> Result<()> {
    crate::state::remove_file(&entry.path)
}

/// Drop the oldest events beyond `max`, one log line each.
pub fn trim(dir: &Path, max: usize) {
    let names = crate::state::names_in(dir);
    for name in oldest_beyond(&names, max) {
        log::warn!("events: outbox holds more than {max} events; dropping the oldest, {name}");
        let _ = crate::state::remove_file(&dir.join(format!("{name}.toml")));
    }
}

/// The names (sorted oldest first) to drop so that `max` remain.
fn oldest_beyond(names: &[String], max: usize) -> &[String] {
    &names[..names.len().saturating_sub(max)]
}

fn write(path: &Path, event: &str, json: &str, delivered: &BTreeSet<String>) -> Result<()> {
    let mut t = toml::Table::new();
    t.insert("event".into(), event.into());
    t.insert("json".into(), json.into());
    let d: Vec<toml::Value> = delivered.iter().map(|s| s.clone().into()).collect();
    t.insert("delivered".into(), d.into());
    crate::state::write_table(path, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_beyond_the_bound_are_dropped() {
        let names: Vec<String> = (0..5).map(|i| format!("{i:020}")).collect();
        assert_eq!(oldest_beyond(&names, 3), &names[..2]);
        assert!(oldest_beyond(&names, 5).is_empty());
        assert!(oldest_beyond(&names, 1000).is_empty());
    }

    #[test]
    fn delivered_sinks_are_kept_and_put_never_resets_them() {
        let dir = std::env::temp_dir().join(format!("gitops-agent-outbox-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        put(&dir, "0001", "app_failed", "{\"a\":1}").unwrap();
        put(&dir, "0002", "app_recovered", "{}").unwrap();
        let mut first = pending(&dir).remove(0);
        assert_eq!(
            (first.name.as_str(), first.event.as_str()),
            ("0001", "app_failed")
        );
        mark_delivered(&mut first, "webhook").unwrap();
        put(&dir, "0001", "app_failed", "{\"a\":1}").unwrap();
        let again = pending(&dir);
        assert_eq!(again[0].delivered, BTreeSet::from(["webhook".to_string()]));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&again[0].path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        remove(&again[0]).unwrap();
        trim(&dir, 0);
        assert!(pending(&dir).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
