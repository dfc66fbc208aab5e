//! The record of the last pass (`status::record::LastPass`) on disk, in two files of
//! `$GITOPS_AGENT_HOME/state`, each replaced atomically (0600) and read by
//! `gitops-agent status` without the pass lock (a reader sees the old or the new file, never
//! half of one):
//!
//! - `last-pass-apps`: what changes rarely (infra, the publish-failure counter, the
//!   unpublished groups, every app's line). A pass rewrites it only when its bytes change, so
//!   an unchanged pass writes (and fsyncs) only the small file below.
//! - `last-pass-time`: when the last pass ended and how long it took (every pass).
//!
//! Both are plain lines of tab-separated escaped fields, not TOML: parsing and writing the
//! record as a TOML table cost about 6.6 M instructions per pass (of 37 M); these lines cost
//! a few hundred thousand. The apps file is written first, so a crash between the two shows
//! the new apps with the previous pass's time, which the next pass corrects.
//!
//! A version-1 record (`last-pass.toml`, one TOML table) left by an earlier version is read
//! as it is (`decode`) while the new files are missing, and removed once they are written.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::error::Result;
use crate::status::record::{AppStatus, LastPass};

/// The first line of the apps file; another first line reads as no record of this version.
const APPS_HEADER: &str = "gitops-agent last-pass-apps 2";
/// The first line of the time file.
const TIME_HEADER: &str = "gitops-agent last-pass-time 2";
/// The version of the former single TOML file (`decode`).
const VERSION: i64 = 1;
/// How an absent optional field is written (an escaped field never holds `\-`).
const NONE: &str = "\\-";

/// The former single-file record (version 1), read while the new files are missing.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("last-pass.toml")
}

fn apps_path(state_dir: &Path) -> PathBuf {
    state_dir.join("last-pass-apps")
}

fn time_path(state_dir: &Path) -> PathBuf {
    state_dir.join("last-pass-time")
}

/// What is on disk.
#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    /// No pass has been recorded.
    Missing,
    /// The files are there but cannot be read as a record (the next pass rewrites them).
    Unreadable(String),
    Record(LastPass),
}

/// What a pass read before it writes the new record: the record (for `record::build`) and
/// what the apps file holds now, so that an unchanged one is not written again.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub read: Read,
    /// The apps file's text as read; `None` when missing or unreadable.
    apps_text: Option<String>,
    /// The version-1 file was read (it is removed after the new files are written).
    legacy: bool,
}

/// The record in `state_dir`, for `status`.
pub fn read(state_dir: &Path) -> Read {
    load(state_dir, true).read
}

/// The record in `state_dir` as a pass needs it: the time file is not read (`record::build`
/// does not use it; the record's `ended_unix` and `duration_seconds` are then 0).
pub fn previous(state_dir: &Path) -> Stored {
    load(state_dir, false)
}

fn load(state_dir: &Path, with_time: bool) -> Stored {
    let file = apps_path(state_dir);
    let text = match std::fs::read_to_string(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return load_legacy(state_dir),
        Err(e) => return unreadable(format!("{}: {e}", file.display()), None),
        Ok(text) => text,
    };
    let time = if with_time {
        let tfile = time_path(state_dir);
        match std::fs::read_to_string(&tfile) {
            Ok(t) => Some(t),
            Err(e) => {
                let why = format!("{}: {e}; the next pass rewrites it", tfile.display());
                return unreadable(why, Some(text));
            }
        }
    } else {
        None
    };
    let time = match time.as_deref().map(decode_time) {
        None => Some((0, 0.0)),
        Some(t) => t,
    };
    match (decode_apps(&text), time) {
        (Some(mut r), Some((ended, duration))) => {
            r.ended_unix = ended;
            r.duration_seconds = duration;
            Stored {
                read: Read::Record(r),
                apps_text: Some(text),
                legacy: false,
            }
        }
        _ => unreadable(
            format!(
                "{} or {}: not a record of this version; the next pass rewrites it",
                file.display(),
                time_path(state_dir).display()
            ),
            None,
        ),
    }
}

/// The version-1 file, while the new files are missing.
fn load_legacy(state_dir: &Path) -> Stored {
    let file = path(state_dir);
    let read = match std::fs::read_to_string(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Read::Missing,
        Err(e) => Read::Unreadable(format!("{}: {e}", file.display())),
        Ok(text) => match decode(&text) {
            Some(r) => Read::Record(r),
            None => Read::Unreadable(format!(
                "{}: not a record of this version; the next pass rewrites it",
                file.display()
            )),
        },
    };
    let legacy = read != Read::Missing;
    Stored {
        read,
        apps_text: None,
        legacy,
    }
}

fn unreadable(why: String, apps_text: Option<String>) -> Stored {
    Stored {
        read: Read::Unreadable(why),
        apps_text,
        legacy: false,
    }
}

/// Replace the record (atomically, 0600), whatever is on disk.
pub fn write(state_dir: &Path, record: &LastPass) -> Result<()> {
    let nothing = Stored {
        read: Read::Missing,
        apps_text: None,
        legacy: true,
    };
    store(state_dir, record, &nothing)
}

/// Replace the record read as `before`: the apps file only when its text changes (the
/// cheap, usual case of a pass that changed nothing), the time file always.
pub fn store(state_dir: &Path, record: &LastPass, before: &Stored) -> Result<()> {
    let apps = encode_apps(record);
    if before.apps_text.as_deref() != Some(apps.as_str()) {
        super::private_dir(state_dir)?;
        crate::atomic::write(&apps_path(state_dir), apps.as_bytes(), Some(0o600))?;
    }
    let time = encode_time(record);
    // Rewritten every pass; a power cut that loses it loses one pass's time.
    crate::atomic::write_unsynced(&time_path(state_dir), time.as_bytes(), Some(0o600))?;
    if before.legacy {
        super::remove_file(&path(state_dir))?;
    }
    Ok(())
}

/// The apps file's text: a header, `infra`, `failures` and one `unpublished` line per group,
/// then one `app` line per app, in the record's order.
pub fn encode_apps(r: &LastPass) -> String {
    use Field::{Int, Opt, Raw, Text};
    let mut out = String::with_capacity(128 + 256 * r.apps.len());
    out.push_str(APPS_HEADER);
    line(&mut out, &[Raw("infra"), Text(&r.infra)]);
    let failures = r.publish_failures_total.to_string();
    line(&mut out, &[Raw("failures"), Raw(&failures)]);
    for u in &r.unpublished {
        line(&mut out, &[Raw("unpublished"), Text(u)]);
    }
    for a in &r.apps {
        line(
            &mut out,
            &[
                Raw("app"),
                Text(&a.name),
                Text(&a.repo),
                Text(&a.status),
                Raw(if a.healthy { "1" } else { "0" }),
                Text(&a.commit),
                Int(a.changed_unix),
                Opt(a.paused_by.as_deref()),
                Opt(a.deferred_by.as_deref()),
                Opt(a.last_error.as_deref()),
                Int(a.last_error_unix),
            ],
        );
    }
    out.push('\n');
    out
}

/// One field of a line.
enum Field<'a> {
    /// Written as it is (a name or flag of this format).
    Raw(&'a str),
    Text(&'a str),
    Opt(Option<&'a str>),
    Int(Option<i64>),
}

fn line(out: &mut String, fields: &[Field]) {
    out.push('\n');
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        match f {
            Field::Raw(s) => out.push_str(s),
            Field::Text(s) | Field::Opt(Some(s)) => esc(out, s),
            Field::Opt(None) | Field::Int(None) => out.push_str(NONE),
            Field::Int(Some(n)) => {
                let _ = write!(out, "{n}");
            }
        }
    }
}

/// A record from the apps file's text (`ended_unix` and `duration_seconds` 0); `None` when
/// it is not one of this version.
pub fn decode_apps(text: &str) -> Option<LastPass> {
    let mut lines = text.lines();
    if lines.next()? != APPS_HEADER {
        return None;
    }
    let mut r = LastPass {
        infra: String::new(),
        ended_unix: 0,
        duration_seconds: 0.0,
        publish_failures_total: 0,
        unpublished: Vec::new(),
        apps: Vec::new(),
    };
    let (mut infra, mut failures) = (false, false);
    for l in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = l.split('\t').collect();
        match f.as_slice() {
            ["infra", v] => (r.infra, infra) = (unesc(v)?, true),
            ["failures", n] => (r.publish_failures_total, failures) = (n.parse().ok()?, true),
            ["unpublished", v] => r.unpublished.push(unesc(v)?),
            ["app", name, repo, status, healthy, commit, changed, paused, deferred, error, at] => {
                let opt = |v: &str| {
                    if v == NONE {
                        Some(None)
                    } else {
                        unesc(v).map(Some)
                    }
                };
                let int = |v: &str| {
                    if v == NONE {
                        Some(None)
                    } else {
                        v.parse().ok().map(Some)
                    }
                };
                r.apps.push(AppStatus {
                    name: unesc(name)?,
                    repo: unesc(repo)?,
                    status: unesc(status)?,
                    healthy: match *healthy {
                        "1" => true,
                        "0" => false,
                        _ => return None,
                    },
                    commit: unesc(commit)?,
                    changed_unix: int(changed)?,
                    paused_by: opt(paused)?,
                    deferred_by: opt(deferred)?,
                    last_error: opt(error)?,
                    last_error_unix: int(at)?,
                });
            }
            _ => return None,
        }
    }
    (infra && failures).then_some(r)
}

/// The time file's text.
pub fn encode_time(r: &LastPass) -> String {
    // `{}` of an f64 is the shortest text that parses back to the same value.
    format!("{TIME_HEADER}\n{}\t{}\n", r.ended_unix, r.duration_seconds)
}

/// `(ended_unix, duration_seconds)` from the time file's text.
pub fn decode_time(text: &str) -> Option<(i64, f64)> {
    let mut lines = text.lines();
    if lines.next()? != TIME_HEADER {
        return None;
    }
    let (ended, duration) = lines.next()?.split_once('\t')?;
    Some((ended.parse().ok()?, duration.parse().ok()?))
}

/// Append a field as one line without tabs: `\\`, tab, newline and carriage return escaped.
fn esc(out: &mut String, v: &str) {
    if !v
        .bytes()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
    {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// [`esc`] undone; `None` for an escape it never writes.
fn unesc(v: &str) -> Option<String> {
    if !v.contains('\\') {
        return Some(v.to_string());
    }
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            _ => return None,
        });
    }
    Some(out)
}

/// The record as a version-1 TOML table (what `decode` reads; tests plant old records
/// with it).
pub fn encode(r: &LastPass) -> Table {
    let mut t = Table::new();
    t.insert("version".into(), Value::Integer(VERSION));
    t.insert("infra".into(), Value::String(r.infra.clone()));
    t.insert("ended".into(), Value::Integer(r.ended_unix));
    t.insert("duration_seconds".into(), Value::Float(r.duration_seconds));
    t.insert(
        "publish_failures_total".into(),
        Value::Integer(i64::try_from(r.publish_failures_total).unwrap_or(i64::MAX)),
    );
    t.insert(
        "unpublished".into(),
        Value::Array(r.unpublished.iter().cloned().map(Value::String).collect()),
    );
    let mut apps = Table::new();
    for a in &r.apps {
        apps.insert(a.name.clone(), Value::Table(encode_app(a)));
    }
    t.insert("apps".into(), Value::Table(apps));
    t
}

fn encode_app(a: &AppStatus) -> Table {
    let mut t = Table::new();
    let mut put = |k: &str, v: Value| {
        t.insert(k.into(), v);
    };
    put("repo", Value::String(a.repo.clone()));
    put("status", Value::String(a.status.clone()));
    put("healthy", Value::Boolean(a.healthy));
    put("commit", Value::String(a.commit.clone()));
    let strings = [
        ("paused_by", &a.paused_by),
        ("deferred_by", &a.deferred_by),
        ("last_error", &a.last_error),
    ];
    for (k, v) in strings {
        if let Some(v) = v {
            put(k, Value::String(v.clone()));
        }
    }
    for (k, v) in [
        ("changed", a.changed_unix),
        ("last_error_at", a.last_error_unix),
    ] {
        if let Some(v) = v {
            put(k, Value::Integer(v));
        }
    }
    t
}

/// A record from version-1 TOML; `None` when it is not one of that version.
pub fn decode(text: &str) -> Option<LastPass> {
    let t: Table = text.parse().ok()?;
    if t.get("version")?.as_integer()? != VERSION {
        return None;
    }
    let mut apps = Vec::new();
    for (name, v) in t.get("apps")?.as_table()? {
        apps.push(decode_app(name, v.as_table()?)?);
    }
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    Some(LastPass {
        infra: t.get("infra")?.as_str()?.to_string(),
        ended_unix: t.get("ended")?.as_integer()?,
        duration_seconds: t.get("duration_seconds")?.as_float()?,
        publish_failures_total: u64::try_from(t.get("publish_failures_total")?.as_integer()?)
            .ok()?,
        unpublished: t
            .get("unpublished")?
            .as_array()?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()?,
        apps,
    })
}

fn decode_app(name: &str, t: &Table) -> Option<AppStatus> {
    let string = |k: &str| t.get(k)?.as_str().map(str::to_string);
    let int = |k: &str| t.get(k)?.as_integer();
    Some(AppStatus {
        name: name.to_string(),
        repo: string("repo")?,
        status: string("status")?,
        healthy: t.get("healthy")?.as_bool()?,
        commit: string("commit")?,
        changed_unix: int("changed"),
        paused_by: string("paused_by"),
        deferred_by: string("deferred_by"),
        last_error: string("last_error"),
        last_error_unix: int("last_error_at"),
    })
}

#[cfg(test)]
#[path = "last_pass_tests.rs"]
mod tests;
