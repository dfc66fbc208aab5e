//! The notifier's memory, `$GITOPS_AGENT_HOME/state/events/announced.toml` (0600): what it
//! announced per app and group, plus the spool — the events of the last transition, kept in
//! the same atomic write as the state that produced them until they are in the outbox. So a
//! crash either loses both (the transition is seen again next pass) or keeps both (the spool
//! is moved to the outbox next pass): an event is never lost nor made twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::rules::{Announced, Mark};
use crate::error::Result;

/// Events written with the state, not yet in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    /// The outbox file name (and the event's `id`).
    pub name: String,
    pub event: String,
    pub json: String,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    pub announced: Announced,
    pub spool: Vec<Spooled>,
}

/// The file at `path`; missing or unreadable counts as nothing announced.
pub fn read(path: &Path) -> Stored {
    match crate::state::read_table(path) {
        Some(t) => decode(&t),
        None => {
            if path.exists() {
                log::warn!(
                    "events: {} is unreadable; starting from nothing announced",
                    path.display()
                );
            }
            Stored::default()
        }
    }
}

/// Replace the file atomically (0600, folder 0700).
pub fn write(path: &Path, stored: &Stored) -> Result<()> {
    crate::state::write_table(path, &encode(stored))
}

fn encode(s: &Stored) -> toml::Table {
    let mut t = toml::Table::new();
    let mut apps = toml::Table::new();
    for (name, mark) in &s.announced.apps {
        let mut m = toml::Table::new();
        m.insert("failing".into(), mark.failing.into());
        if let Some(from) = &mark.rolled_back_from {
            m.insert("rolled_back_from".into(), from.clone().into());
        }
        apps.insert(name.clone(), m.into());
    }
    t.insert("apps".into(), apps.into());
    let failing: Vec<toml::Value> = s
        .announced
        .publish_failing
        .iter()
        .map(|g| g.clone().into())
        .collect();
    t.insert("publish_failing".into(), failing.into());
    let spool: Vec<toml::Value> = s
        .spool
        .iter()
        .map(|e| {
            let mut m = toml::Table::new();
            m.insert("name".into(), e.name.clone().into());
            m.insert("event".into(), e.event.clone().into());
            m.insert("json".into(), e.json.clone().into());
            m.into()
        })
        .collect();
    t.insert("spool".into(), spool.into());
    t
}

fn decode(t: &toml::Table) -> Stored {
    let str_of = |v: &toml::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let apps: BTreeMap<String, Mark> = t
        .get("apps")
        .and_then(|a| a.as_table())
        .into_iter()
        .flatten()
        .map(|(name, m)| {
            let mark = Mark {
                failing: m.get("failing").and_then(|f| f.as_bool()).unwrap_or(false),
                rolled_back_from: str_of(m, "rolled_back_from"),
            };
            (name.clone(), mark)
        })
        .collect();
    let publish_failing: BTreeSet<String> = t
        .get("publish_failing")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .filter_map(|g| g.as_str().map(str::to_string))
        .collect();
    let spool = t
        .get("spool")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some(Spooled {
                name: str_of(e, "name")?,
                event: str_of(e, "event")?,
                json: str_of(e, "json")?,
            })
        })
        .collect();
    Stored {
        announced: Announced {
            apps,
            publish_failing,
        },
        spool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_spool_survive_a_round_trip() {
        let mut s = Stored::default();
        s.announced.apps.insert(
            "web".into(),
            Mark {
                failing: true,
                rolled_back_from: Some("c2".into()),
            },
        );
        s.announced.apps.insert("api".into(), Mark::default());
        s.announced.publish_failing.insert("h/o/d@main".into());
        s.spool.push(Spooled {
            name: "00000000000000000001-0a".into(),
            event: "app_failed".into(),
            json: r#"{"event":"app_failed","message":"a \"q\"\n"}"#.into(),
        });
        let text = toml::to_string(&encode(&s)).unwrap();
        assert_eq!(decode(&text.parse().unwrap()), s);
    }

    #[test]
    fn a_foreign_file_reads_as_nothing_announced() {
        assert_eq!(
            decode(&"apps = 3\nspool = [1]".parse().unwrap()),
            Stored::default()
        );
    }
}
