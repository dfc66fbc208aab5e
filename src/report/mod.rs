//! The feedback document `<infra_name>.toml` (SPEC §6): merging this pass's outcomes into the
//! previous file, carry-forward of command output, kept apps, the tables of SPEC §12 (health,
//! holds, tombstones), and the "changed at all?" test that keeps an unchanged world from making
//! commits. Pure: text in, text out.

use crate::health::{self, Health};

/// Outcome of one side (deploy config or app code) of an app this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updation {
    pub ok: bool,
    pub git_status: String,
    pub latest_commit: String,
}

/// What ran for an app this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commands {
    /// Nothing ran: the previous `extra-command-output` is carried forward.
    NothingRan,
    /// An update ran; `codes` in order (pre, post) for the commands that are set.
    Ran {
        codes: Vec<(&'static str, i32)>,
        logs: String,
    },
}

/// One app's outcome this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppReport {
    pub name: String,
    pub config: Updation,
    pub app: Updation,
    pub commands: Commands,
    /// Health check, hold and removal (SPEC §12); `Default` when none of it applies.
    pub safety: Safety,
}

/// What SPEC §12 adds to an app's outcome this pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Safety {
    pub health: HealthCheck,
    pub hold: Option<Hold>,
    pub removal: Option<Removal>,
}

/// The `[<app>.health]` table this pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HealthCheck {
    /// No health check ran: the previous table is carried forward, without its rollback
    /// note (only a pass that rolls back, or holds the refused section, states one).
    #[default]
    NotRun,
    /// An update ran with no health check: no table.
    Cleared,
    Ran(HealthRun),
}

/// Health checks that ran (or, for a held refused section, the ones that refused it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRun {
    /// `health`, then `rollback-health` after a rollback.
    pub codes: Vec<(&'static str, i32)>,
    pub logs: String,
    pub rollback: Option<Rollback>,
}

/// A rollback: the commit refused and the commit in place (full ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    pub from: String,
    pub running: String,
}

/// Why an app that needs an update was left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// `paused-by`: `paused = true in infra_meta` or `gitops-agent pause`.
    Paused(&'static str),
    /// `deferred-by`: `update_lock` or `update_windows`.
    Deferred(&'static str),
}

/// The app's section is gone and it was pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Removed; the local time stamp of `removed-at`.
    At(String),
    /// The tombstone is older than the retention: the table leaves the file.
    Expired,
}

/// The document and what it says, for the commit message and the exit code.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    pub text: String,
    pub apps: Vec<(String, Health)>,
}

/// Build the new feedback file from the previous one (if any) and this pass's reports.
/// `now` is the local time as `YYYY-MM-DD HH:MM:SS`.
pub fn build(previous: Option<&str>, reports: &[AppReport], now: &str) -> Feedback {
    let mut doc: toml::Table = previous.and_then(|p| p.parse().ok()).unwrap_or_default();
    doc.remove("last-updated");
    doc.remove("overall_status");
    for r in reports {
        let carried = |key: &str| {
            doc.get(&r.name)
                .and_then(|e| e.get(key))
                .and_then(toml::Value::as_table)
                .cloned()
        };
        let mut entry = toml::Table::new();
        match &r.safety.removal {
            Some(Removal::Expired) => {
                doc.remove(&r.name);
                continue;
            }
            Some(Removal::At(stamp)) => {
                entry.insert("removed-at".into(), toml::Value::String(stamp.clone()));
                if let Commands::Ran { codes, logs } = &r.commands {
                    let ret = health::format_return_val(codes);
                    entry.insert("extra-command-output".into(), command_table(&ret, logs));
                }
            }
            None => {
                entry.insert("config-updation".into(), updation(&r.config));
                entry.insert("app-updation".into(), updation(&r.app));
                let commands = match (&r.commands, carried("extra-command-output")) {
                    (Commands::Ran { codes, logs }, _) => {
                        command_table(&health::format_return_val(codes), logs)
                    }
                    (Commands::NothingRan, Some(prev)) => toml::Value::Table(prev),
                    (Commands::NothingRan, None) => command_table("True", "Nothing was run"),
                };
                entry.insert("extra-command-output".into(), commands);
                if let Some(t) = health_table(&r.safety.health, carried("health")) {
                    entry.insert("health".into(), t);
                }
                let (key, by) = match r.safety.hold {
                    Some(Hold::Paused(by)) => ("paused-by", by),
                    Some(Hold::Deferred(by)) => ("deferred-by", by),
                    None => ("", ""),
                };
                if !key.is_empty() {
                    entry.insert(key.into(), toml::Value::String(by.into()));
                }
            }
        }
        let h = health::of_entry(&toml::Value::Table(entry.clone()));
        entry.insert("status".into(), toml::Value::String(h.label().into()));
        doc.insert(r.name.clone(), toml::Value::Table(entry));
    }
    let apps: Vec<(String, Health)> = doc
        .iter()
        .filter(|(_, v)| v.is_table())
        .map(|(k, v)| (k.clone(), health::of_entry(v)))
        .collect();
    doc.insert("last-updated".into(), toml::Value::String(now.into()));
    doc.insert(
        "overall_status".into(),
        toml::Value::String(health::overall(&apps)),
    );
    let text = toml::to_string(&doc).unwrap_or_default();
    Feedback { text, apps }
}

/// True when the two files say the same thing apart from `last-updated`. A previous file
/// that does not parse always differs (it gets rewritten).
pub fn same_content(previous: &str, new: &str) -> bool {
    // The common case, our own unchanged file: the same text but for that one line. Parsing
    // both documents costs more than the rest of an unchanged pass's report.
    if let (Some(a), Some(b)) = (without_stamp(previous), without_stamp(new)) {
        if a == b {
            return true;
        }
    }
    let strip = |s: &str| -> Option<toml::Table> {
        let mut t: toml::Table = s.parse().ok()?;
        t.remove("last-updated");
        Some(t)
    };
    match (strip(previous), strip(new)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// `text` without its top-level `last-updated = ...` line (the first one before any table
/// header or multi-line string); `None` when there is none.
fn without_stamp(text: &str) -> Option<(&str, &str)> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with('[') || line.contains("\"\"\"") || line.contains("'''") {
            return None;
        }
        if line.starts_with("last-updated = ") {
            return Some((&text[..at], &text[at + line.len()..]));
        }
        at += line.len();
    }
    None
}

/// The `last-updated` of a feedback file, if it has one.
pub fn last_updated(text: &str) -> Option<String> {
    if let Some(stamp) = plain_stamp(text) {
        return Some(stamp.to_string());
    }
    let t: toml::Table = text.parse().ok()?;
    t.get("last-updated")?.as_str().map(str::to_string)
}

/// The value of a top-level `last-updated = "..."` line as the agents write it (before any
/// table, a basic string without escapes), read without parsing the whole document: an
/// unchanged pass asks for it every time. `None` sends the caller to the full parse.
fn plain_stamp(text: &str) -> Option<&str> {
    for line in text.split_inclusive('\n') {
        if line.starts_with('[') || line.contains("\"\"\"") || line.contains("'''") {
            return None;
        }
        if let Some(rest) = line.strip_prefix("last-updated = \"") {
            let value = rest.trim_end().strip_suffix('"')?;
            return (!value.contains(['\\', '"'])).then_some(value);
        }
    }
    None
}

/// Whether a report unchanged apart from `last-updated` is still due (SPEC §9
/// `heartbeat_hours`, 0 = off): the branch's copy was last updated `hours` or more ago (or
/// its time cannot be read), so a silent device shows on the branch. `now` is a stamp too.
pub fn heartbeat_due(previous: &str, now: &str, hours: u64) -> bool {
    if hours == 0 {
        return false;
    }
    let age = last_updated(previous).and_then(|then| age_seconds(&then, now));
    age.is_none_or(|age| age >= hours.saturating_mul(3600).min(i64::MAX as u64) as i64)
}

/// Seconds from the stamp `then` to the stamp `now` (both `YYYY-MM-DD HH:MM:SS`, local
/// time); `None` when either is malformed. Negative when `then` is later (clock skew).
pub fn age_seconds(then: &str, now: &str) -> Option<i64> {
    Some(stamp_seconds(now)? - stamp_seconds(then)?)
}

/// `YYYY-MM-DD HH:MM:SS` as seconds on a zone-free scale (days since 1970-01-01 as if UTC).
fn stamp_seconds(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = std::str::from_utf8(&b[r]).ok()?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn updation(u: &Updation) -> toml::Value {
    let mut t = toml::Table::new();
    t.insert("updation-return-value".into(), toml::Value::Boolean(u.ok));
    t.insert(
        "git-status".into(),
        toml::Value::String(u.git_status.clone()),
    );
    t.insert(
        "git-repo-latest-commit".into(),
        toml::Value::String(u.latest_commit.clone()),
    );
    toml::Value::Table(t)
}

/// `[<app>.health]`: this pass's checks, or the previous table carried forward without its
/// rollback note.
fn health_table(check: &HealthCheck, previous: Option<toml::Table>) -> Option<toml::Value> {
    match check {
        HealthCheck::Cleared => None,
        HealthCheck::NotRun => previous.map(|mut t| {
            t.remove("rolled-back-from");
            t.remove("running");
            toml::Value::Table(t)
        }),
        HealthCheck::Ran(run) => {
            let toml::Value::Table(mut t) =
                command_table(&health::format_return_val(&run.codes), &run.logs)
            else {
                return None;
            };
            if let Some(rb) = &run.rollback {
                t.insert(
                    "rolled-back-from".into(),
                    toml::Value::String(rb.from.clone()),
                );
                t.insert("running".into(), toml::Value::String(rb.running.clone()));
            }
            Some(toml::Value::Table(t))
        }
    }
}

fn command_table(ret: &str, logs: &str) -> toml::Value {
    let mut t = toml::Table::new();
    t.insert("command-return-val".into(), toml::Value::String(ret.into()));
    t.insert("command-run-logs".into(), toml::Value::String(logs.into()));
    toml::Value::Table(t)
}

pub(crate) mod memo;
#[cfg(test)]
mod tests;
