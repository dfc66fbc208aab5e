//! The record of the last pass (SPEC §13): per app what the device saw (status, health as
//! `--once` judges it, commit, last change, hold, last error), and the pass's end, duration
//! and the publish-failure counter. Pure: built from the pass's typed reports and the
//! previous record; `state::last_pass` stores it, `status` and `metrics` show it.

use crate::health::Health;
use crate::metrics::{AppMetric, Snapshot};
use crate::report::{AppReport, Commands, HealthCheck, Hold, Removal};

/// What the device saw in its last pass.
#[derive(Debug, Clone, PartialEq)]
pub struct LastPass {
    pub infra: String,
    /// When the pass ended, unix seconds.
    pub ended_unix: i64,
    pub duration_seconds: f64,
    /// Reports not published since the record began (kept across restarts).
    pub publish_failures_total: u64,
    /// Deploy repos (redacted `url@branch`) whose feedback was not published in that pass.
    pub unpublished: Vec<String>,
    /// Sorted by name.
    pub apps: Vec<AppStatus>,
}

/// One app as the last pass saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStatus {
    pub name: String,
    /// Its deploy repo, redacted `url@branch` (no secret reaches the record).
    pub repo: String,
    /// The status label (`✅ healthy`, `❌ …`, `⏸️ paused`, …).
    pub status: String,
    /// Healthy by `--once`'s rule (paused, deferred and removed count as healthy).
    pub healthy: bool,
    /// Short id of the commit it runs; empty when unknown.
    pub commit: String,
    /// When its commit last changed or an update last ran; `None` when not seen changing.
    pub changed_unix: Option<i64>,
    /// `paused-by` / `deferred-by`.
    pub paused_by: Option<String>,
    pub deferred_by: Option<String>,
    /// Why it needed attention the last time it did (clipped), and when that was seen.
    pub last_error: Option<String>,
    pub last_error_unix: Option<i64>,
}

impl LastPass {
    /// Every app healthy and every report published (`--once` would have exited 0).
    pub fn healthy(&self) -> bool {
        self.unpublished.is_empty() && self.apps.iter().all(|a| a.healthy)
    }

    /// Names of the apps that need attention, sorted.
    pub fn attention(&self) -> Vec<&str> {
        self.apps
            .iter()
            .filter(|a| !a.healthy)
            .map(|a| a.name.as_str())
            .collect()
    }
}

/// One app of this pass: its report and its health as `--once` judged it.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// Redacted `url@branch` of its group.
    pub repo: &'a str,
    pub report: &'a AppReport,
    pub health: Health,
}

/// What a pass hands the record.
#[derive(Debug, Clone)]
pub struct PassFacts<'a> {
    pub infra: &'a str,
    pub ended_unix: i64,
    pub duration_seconds: f64,
    pub apps: Vec<Seen<'a>>,
    /// Groups (redacted `url@branch`) this pass visited.
    pub visited: Vec<String>,
    /// Groups of the agent config.
    pub configured: Vec<String>,
    /// Groups whose feedback was not published.
    pub unpublished: Vec<String>,
}

/// The new record from this pass and the previous record.
pub fn build(previous: Option<&LastPass>, pass: &PassFacts) -> LastPass {
    let before = |name: &str| previous.and_then(|p| p.apps.iter().find(|a| a.name == name));
    let mut apps: Vec<AppStatus> = pass
        .apps
        .iter()
        .map(|seen| app_status(before(&seen.report.name), seen, pass.ended_unix))
        .collect();
    // Apps of groups this pass did not reach (a retry of failing groups, a stop) keep what
    // the previous pass saw; apps of groups no longer configured are gone.
    for kept in previous.iter().flat_map(|p| &p.apps) {
        if !apps.iter().any(|a| a.name == kept.name)
            && !pass.visited.contains(&kept.repo)
            && pass.configured.contains(&kept.repo)
        {
            apps.push(kept.clone());
        }
    }
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    LastPass {
        infra: pass.infra.to_string(),
        ended_unix: pass.ended_unix,
        duration_seconds: pass.duration_seconds.max(0.0),
        publish_failures_total: previous
            .map_or(0, |p| p.publish_failures_total)
            .saturating_add(pass.unpublished.len() as u64),
        unpublished: pass.unpublished.clone(),
        apps,
    }
}

fn app_status(before: Option<&AppStatus>, seen: &Seen, now: i64) -> AppStatus {
    let r = seen.report;
    let removed = matches!(r.safety.removal, Some(Removal::At(_)));
    let commit = match commit_of(&r.app.latest_commit) {
        // A removed app runs nothing any more.
        _ if removed => String::new(),
        Some(c) => c,
        // Not looked at this pass (its config side failed, say): it runs what it ran.
        None => before.map(|b| b.commit.clone()).unwrap_or_default(),
    };
    let update_ran = matches!(r.commands, Commands::Ran { .. });
    let changed_unix = match before {
        Some(b) if b.commit != commit || update_ran => Some(now),
        Some(b) => b.changed_unix,
        None if update_ran => Some(now),
        None => None,
    };
    let healthy = seen.health.is_ok();
    let (last_error, last_error_unix) = if healthy {
        (
            before.and_then(|b| b.last_error.clone()),
            before.and_then(|b| b.last_error_unix),
        )
    } else {
        // Nothing explains it this pass (a failure carried forward in the feedback file, a
        // held refused section): the previous explanation of the same status still holds.
        let message = explain(r, seen.health)
            .or_else(|| {
                before
                    .filter(|b| !b.healthy && b.status == seen.health.label())
                    .and_then(|b| b.last_error.clone())
            })
            .unwrap_or_else(|| seen.health.label().to_string());
        (Some(message), Some(now))
    };
    let (paused_by, deferred_by) = match r.safety.hold {
        Some(Hold::Paused(by)) => (Some(by.to_string()), None),
        Some(Hold::Deferred(by)) => (None, Some(by.to_string())),
        None => (None, None),
    };
    AppStatus {
        name: r.name.clone(),
        repo: seen.repo.to_string(),
        status: seen.health.label().to_string(),
        healthy,
        commit,
        changed_unix,
        paused_by,
        deferred_by,
        last_error,
        last_error_unix,
    }
}

/// The short commit id of a `latest_commit` (`'4f1c2e9 - subject (author, date)'`); `None`
/// for `NA` or anything else that does not start with a hex id.
pub fn commit_of(latest_commit: &str) -> Option<String> {
    let id: &str = latest_commit
        .trim()
        .trim_start_matches('\'')
        .split(' ')
        .next()?;
    let hex = id.len() >= 4 && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| id.to_ascii_lowercase())
}

/// Why an app needs attention, from this pass's report alone (one line, clipped); `None`
/// when the report does not say (the status was carried forward).
pub fn explain(r: &AppReport, health: Health) -> Option<String> {
    let first_line = |s: &str| {
        s.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
    };
    let failed = |codes: &[(&str, i32)]| {
        let bad: Vec<String> = codes
            .iter()
            .filter(|(_, c)| *c != 0)
            .map(|(n, c)| format!("`{n}` exited {c}"))
            .collect();
        (!bad.is_empty()).then(|| bad.join(", "))
    };
    let short = |id: &str| id.chars().take(7).collect::<String>();
    let message = match (health, &r.safety.health, &r.commands) {
        (Health::AppUpdateFailed, ..) => first_line(&r.app.git_status),
        (Health::ConfigUpdateFailed, ..) => first_line(&r.config.git_status),
        (Health::RolledBack, HealthCheck::Ran(run), _) => run.rollback.as_ref().map(|rb| {
            format!(
                "health check failed on {}; rolled back to {}",
                short(&rb.from),
                short(&rb.running)
            )
        }),
        (Health::HealthCheckFailed, HealthCheck::Ran(run), _) => {
            failed(&run.codes).map(|f| format!("health check failed: {f}"))
        }
        (Health::CommandFailed, _, Commands::Ran { codes, .. }) => failed(codes),
        _ => None,
    }?;
    Some(crate::text::clip(&message).into_owned())
}

/// What the metrics file says about this record.
pub fn metrics(record: &LastPass) -> Snapshot {
    Snapshot {
        infra: record.infra.clone(),
        apps: record
            .apps
            .iter()
            .map(|a| AppMetric {
                app: a.name.clone(),
                status: a.status.clone(),
                healthy: a.healthy,
                commit: a.commit.clone(),
            })
            .collect(),
        last_pass_unix: record.ended_unix,
        pass_seconds: record.duration_seconds,
        publish_failures_total: record.publish_failures_total,
    }
}

/// Apps of the agent config (by name) that the record does not know: added since the last
/// pass. Sorted.
pub fn not_in_record<'a>(record: &LastPass, configured: &'a [String]) -> Vec<&'a str> {
    let mut missing: Vec<&str> = configured
        .iter()
        .map(String::as_str)
        .filter(|n| *n != crate::config::ALL_SECTIONS && !record.apps.iter().any(|a| a.name == *n))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    missing
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
