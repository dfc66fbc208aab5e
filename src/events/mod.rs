//! Events (SPEC §13): after every pass, what changed for the operator — `app_updated`,
//! `app_failed`, `app_recovered`, `app_rolled_back`, `publish_failed` — decided by the
//! pure `rules::transitions` from what was announced before, persisted in the outbox before
//! any delivery, then delivered to `on_event_command` and `webhook_url` (`deliver`).
//!
//! Exactly once: the new announced state and its events are one atomic write (`store`),
//! moved into the outbox before delivery; an event leaves the outbox only when every sink
//! took it, and each sink's success is recorded atomically on the event's file. What is
//! left is a short at-least-once window: a SIGKILL or power cut after a sink took an event
//! and before that record landed makes the next pass deliver it to that sink again (the
//! event's `id` lets a receiver drop the repeat).
//!
//! With neither sink configured nothing is computed or written.

pub mod deliver;
pub mod json;
pub mod outbox;
pub mod rules;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::AgentConfig;
use crate::error::Result;
use crate::health::Health;
use crate::layout::Layout;
use crate::report::AppReport;
use rules::{Event, GroupSeen, Seen};
use store::Spooled;

/// What a pass saw, group by group, for the notifier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassFacts {
    pub apps: Vec<Seen>,
    pub groups: Vec<GroupSeen>,
}

impl PassFacts {
    /// One group's apps; `published`: their health as the feedback file says, when it was
    /// published (else each is judged from its report).
    pub fn add_apps(&mut self, reports: &[AppReport], published: Option<&[(String, Health)]>) {
        self.apps
            .extend(reports.iter().filter_map(|r| rules::seen(r, published)));
    }

    /// One group's publish: `error` says why its status report was not pushed.
    pub fn add_publish(&mut self, group: &str, error: Option<String>) {
        self.groups.push(GroupSeen {
            group: group.to_string(),
            publish_error: error,
        });
    }
}

/// The notifier's folder: `announced.toml` and `outbox/`.
pub fn dir(layout: &Layout) -> PathBuf {
    layout.state_dir().join("events")
}

/// After a pass: record this pass's events, then deliver the outbox (not when stopping).
/// Nothing here fails the pass: problems are logged.
pub fn after_pass(cfg: &AgentConfig, layout: &Layout, facts: &PassFacts, stop: &AtomicBool) {
    if !cfg.notify.any() {
        return;
    }
    let dir = dir(layout);
    if let Err(e) = record(&cfg.infra_name, &dir, facts) {
        log::error!("events: {e}; this pass's events are seen again next pass");
    }
    if stop.load(Ordering::SeqCst) {
        return;
    }
    deliver::run(cfg, &dir.join("outbox"), stop);
}

/// This pass's transitions into the state file (with their events, one atomic write),
/// then the events into the outbox.
fn record(infra: &str, dir: &Path, facts: &PassFacts) -> Result<()> {
    let path = dir.join("announced.toml");
    let mut stored = store::read(&path);
    // Events of a pass cut short between the two writes below.
    flush_spool(dir, &path, &mut stored)?;
    let (events, next) = rules::transitions(&stored.announced, &facts.apps, &facts.groups);
    if events.is_empty() && next == stored.announced {
        return Ok(());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    stored.spool = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            // Names sort in the order events happened; the random part keeps two agents'
            // (or a clock step's) names apart.
            let name = format!(
                "{:020}-{:08x}",
                now.as_nanos() + i as u128,
                crate::atomic::random_u64() as u32
            );
            let json = render(infra, &name, now.as_secs() as i64, e);
            log::info!(
                "event {}{}",
                e.name.as_str(),
                e.app
                    .as_ref()
                    .or(e.group.as_ref())
                    .map(|a| format!(": {a}"))
                    .unwrap_or_default()
            );
            Spooled {
                name,
                event: e.name.as_str().to_string(),
                json,
            }
        })
        .collect();
    stored.announced = next;
    store::write(&path, &stored)?;
    flush_spool(dir, &path, &mut stored)
}

/// Move spooled events into the outbox, then forget the spool.
fn flush_spool(dir: &Path, path: &Path, stored: &mut store::Stored) -> Result<()> {
    if stored.spool.is_empty() {
        return Ok(());
    }
    let outbox = dir.join("outbox");
    for s in &stored.spool {
        outbox::put(&outbox, &s.name, &s.event, &s.json)?;
    }
    stored.spool.clear();
    store::write(path, stored)?;
    outbox::trim(&outbox, outbox::MAX_KEPT);
    Ok(())
}

/// The event as JSON: every field always present (null when it does not apply).
pub fn render(infra: &str, id: &str, unix: i64, e: &Event) -> String {
    json::object(&[
        ("event", Some(e.name.as_str())),
        ("id", Some(id)),
        ("infra", Some(infra)),
        ("app", e.app.as_deref()),
        ("group", e.group.as_deref()),
        ("commit", e.commit.as_deref()),
        ("status", e.status.as_deref()),
        ("time", Some(&json::rfc3339_utc(unix))),
        ("message", e.message.as_deref()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::Name;

    #[test]
    fn a_spool_left_by_a_crash_reaches_the_outbox_once() {
        let dir = std::env::temp_dir().join(format!("gitops-agent-spool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("announced.toml");
        let mut stored = store::Stored::default();
        stored
            .announced
            .apps
            .insert("web".into(), rules::Mark::default());
        stored.spool.push(Spooled {
            name: "0001-aa".into(),
            event: "app_updated".into(),
            json: "{}".into(),
        });
        store::write(&path, &stored).unwrap();
        // A pass that sees nothing new: the spool is moved, no event is made again.
        record("edge-17", &dir, &PassFacts::default()).unwrap();
        record("edge-17", &dir, &PassFacts::default()).unwrap();
        let pending = outbox::pending(&dir.join("outbox"));
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].name, "0001-aa");
        let after = store::read(&path);
        assert!(after.spool.is_empty());
        assert_eq!(after.announced, stored.announced);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn render_has_every_field() {
        let e = Event {
            name: Name::AppFailed,
            app: Some("web".into()),
            group: None,
            commit: Some("abc1234".into()),
            status: Some("❌ health check failed".into()),
            message: Some("health command exited 1".into()),
        };
        assert_eq!(
            render("edge-17", "0001-ab", 1_795_000_000, &e),
            r#"{"event":"app_failed","id":"0001-ab","infra":"edge-17","app":"web","group":null,"commit":"abc1234","status":"❌ health check failed","time":"2026-11-18T11:06:40Z","message":"health command exited 1"}"#
        );
    }
}
