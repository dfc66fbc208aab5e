//! Which events a pass fires (SPEC §13), from what the notifier announced before and what
//! this pass saw. Events fire on a change of state only; pure, one test per rule.

use std::collections::{BTreeMap, BTreeSet};

use crate::health::{self, Health};
use crate::report::{AppReport, Commands, HealthCheck, Removal};
use crate::text::clip;

/// The events an operator can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    /// A healthy update (first install included).
    AppUpdated,
    /// The app starts needing attention.
    AppFailed,
    /// It is healthy again.
    AppRecovered,
    /// A failed health check was rolled back (SPEC §12).
    AppRolledBack,
    /// A group's status report could not be pushed.
    PublishFailed,
}

impl Name {
    pub fn as_str(self) -> &'static str {
        match self {
            Name::AppUpdated => "app_updated",
            Name::AppFailed => "app_failed",
            Name::AppRecovered => "app_recovered",
            Name::AppRolledBack => "app_rolled_back",
            Name::PublishFailed => "publish_failed",
        }
    }
}

/// One app as this pass left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub app: String,
    pub health: Health,
    /// An update ran this pass (commands ran, the app was not removed).
    pub updated: bool,
    /// The commit refused by a rollback, restated while the refused section is held.
    pub rollback_from: Option<String>,
    /// The app's commit (short id), if known.
    pub commit: Option<String>,
    /// One line saying why (at most 200 characters).
    pub message: String,
    /// Pruned this pass: forgotten, no event.
    pub removed: bool,
}

/// One group's publish this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSeen {
    /// `url@branch`, redacted.
    pub group: String,
    /// Why the status report was not pushed; `None` when it was (or had nothing new).
    pub publish_error: Option<String>,
}

/// What the notifier told the operator last, per app and per group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Announced {
    pub apps: BTreeMap<String, Mark>,
    /// Groups whose `publish_failed` was announced and that have not published since.
    pub publish_failing: BTreeSet<String>,
}

/// One app's announced state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mark {
    /// `app_failed` (or `app_rolled_back`) was announced and no `app_recovered` since.
    pub failing: bool,
    /// The refused commit of the last announced rollback (while still failing).
    pub rolled_back_from: Option<String>,
}

/// An event before it is stamped with its id, infra and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: Name,
    pub app: Option<String>,
    pub group: Option<String>,
    pub commit: Option<String>,
    pub status: Option<String>,
    pub message: Option<String>,
}

/// One app of this pass from its report; `published` is every app of the feedback file
/// with its health as published (it carries failed commands forward), `None` when the
/// report could not be published (then judged from the report alone, as `pass` does).
/// `None` for a tombstone leaving the file (no app of this pass).
pub fn seen(report: &AppReport, published: Option<&[(String, Health)]>) -> Option<Seen> {
    if report.safety.removal == Some(Removal::Expired) {
        return None;
    }
    let health = published
        .and_then(|apps| apps.iter().find(|(n, _)| *n == report.name))
        .map_or_else(|| health::of_report(report), |(_, h)| *h);
    let rollback_from = match &report.safety.health {
        HealthCheck::Ran(run) => run.rollback.as_ref().map(|r| r.from.clone()),
        _ => None,
    };
    let removed = report.safety.removal.is_some();
    Some(Seen {
        app: report.name.clone(),
        health,
        updated: matches!(report.commands, Commands::Ran { .. }) && !removed,
        commit: rollback_from
            .clone()
            .or_else(|| short_commit(&report.app.latest_commit)),
        message: clip(&why(report, health)).into_owned(),
        rollback_from,
        removed,
    })
}

/// The short id of a `'abc1234 - subject (author, date)'` describe line; `None` for "NA".
pub fn short_commit(describe: &str) -> Option<String> {
    let id = describe.trim_matches('\'').split(' ').next()?;
    (id.len() >= 7 && id.chars().all(|c| c.is_ascii_hexdigit())).then(|| id.to_string())
}

/// One line: the failing side's first line, a failed command, else the app's commit line.
fn why(r: &AppReport, health: Health) -> String {
    let first_line = |s: &str| s.lines().find(|l| !l.trim().is_empty()).map(str::to_string);
    let failed_command = match &r.commands {
        Commands::Ran { codes, .. } => codes
            .iter()
            .find(|(_, c)| *c != 0)
            .map(|(label, c)| format!("{label} command exited {c}")),
        Commands::NothingRan => None,
    };
    let health_check = match &r.safety.health {
        HealthCheck::Ran(run) => match (&run.rollback, run.codes.iter().find(|(_, c)| *c != 0)) {
            (Some(rb), _) => Some(format!(
                "health check failed; rolled back from {} to {}",
                rb.from, rb.running
            )),
            (None, Some((label, c))) => Some(format!("{label} command exited {c}")),
            (None, None) => None,
        },
        _ => None,
    };
    let found = match health {
        Health::AppUpdateFailed => first_line(&r.app.git_status),
        Health::ConfigUpdateFailed => first_line(&r.config.git_status),
        Health::RolledBack | Health::HealthCheckFailed => health_check,
        Health::CommandFailed => failed_command,
        _ => None,
    };
    found
        .or_else(|| (r.app.latest_commit != "NA").then(|| r.app.latest_commit.clone()))
        .unwrap_or_else(|| health.label().to_string())
}

/// The events of this pass and the new announced state. Apps and groups not visited this
/// pass keep their state.
pub fn transitions(
    prev: &Announced,
    apps: &[Seen],
    groups: &[GroupSeen],
) -> (Vec<Event>, Announced) {
    let mut next = prev.clone();
    let mut events = Vec::new();
    for s in apps {
        if s.removed {
            next.apps.remove(&s.app);
            continue;
        }
        let before = prev.apps.get(&s.app).cloned().unwrap_or_default();
        let (fired, mark) = app_rules(&before, s);
        events.extend(fired.into_iter().map(|name| Event {
            name,
            app: Some(s.app.clone()),
            group: None,
            commit: s.commit.clone(),
            status: Some(s.health.label().to_string()),
            message: Some(s.message.clone()),
        }));
        next.apps.insert(s.app.clone(), mark);
    }
    for g in groups {
        match &g.publish_error {
            Some(e) if !prev.publish_failing.contains(&g.group) => {
                next.publish_failing.insert(g.group.clone());
                events.push(Event {
                    name: Name::PublishFailed,
                    app: None,
                    group: Some(g.group.clone()),
                    commit: None,
                    status: None,
                    message: Some(clip(e).into_owned()),
                });
            }
            Some(_) => {}
            None => {
                next.publish_failing.remove(&g.group);
            }
        }
    }
    (events, next)
}

/// One app's rules, in order; returns the events and its new mark.
fn app_rules(before: &Mark, s: &Seen) -> (Vec<Name>, Mark) {
    let mut fired = Vec::new();
    let mut mark = before.clone();
    // A rollback is announced once per refused commit, however often the held section is
    // restated; it says the app needs attention, so no `app_failed` comes with it.
    let new_rollback = s
        .rollback_from
        .as_ref()
        .filter(|from| before.rolled_back_from.as_ref() != Some(*from));
    if let Some(from) = new_rollback {
        fired.push(Name::AppRolledBack);
        mark.rolled_back_from = Some(from.clone());
    }
    if !s.health.is_ok() {
        if !before.failing && new_rollback.is_none() {
            fired.push(Name::AppFailed);
        }
        mark.failing = true;
        return (fired, mark);
    }
    // Healthy again only when plainly healthy: pausing or deferring a broken app does not
    // mend it.
    if s.health != Health::Healthy {
        return (fired, mark);
    }
    if s.updated {
        fired.push(Name::AppUpdated);
    }
    if before.failing {
        fired.push(Name::AppRecovered);
    }
    (fired, Mark::default())
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
