//! The record of the last pass (`status::record::LastPass`) on disk:
//! `$GITOPS_AGENT_HOME/state/last-pass.toml`, written atomically (0600) after every pass,
//! read by `gitops-agent status` without the pass lock (a reader sees the old or the new
//! file, never half of one).

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::error::Result;
use crate::status::record::{AppStatus, LastPass};

/// Bumped when the encoding changes incompatibly; a record of another version reads as none.
const VERSION: i64 = 1;

/// Where the record lives in the state folder.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("last-pass.toml")
}

/// What is on disk.
#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    /// No pass has been recorded.
    Missing,
    /// The file is there but cannot be read as a record (the next pass rewrites it).
    Unreadable(String),
    Record(LastPass),
}

/// The record in `state_dir`.
pub fn read(state_dir: &Path) -> Read {
    let file = path(state_dir);
    match std::fs::read_to_string(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Read::Missing,
        Err(e) => Read::Unreadable(format!("{}: {e}", file.display())),
        Ok(text) => match decode(&text) {
            Some(r) => Read::Record(r),
            None => Read::Unreadable(format!(
                "{}: not a record of this version; the next pass rewrites it",
                file.display()
            )),
        },
    }
}

/// Replace the record (atomically, 0600).
pub fn write(state_dir: &Path, record: &LastPass) -> Result<()> {
    super::write_table(&path(state_dir), &encode(record))
}

/// The record as TOML.
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

/// A record from TOML; `None` when it is not one of this version.
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
mod tests {
    use super::*;

    fn record() -> LastPass {
        LastPass {
            infra: "edge-1".into(),
            ended_unix: 1_795_000_000,
            duration_seconds: 2.5,
            publish_failures_total: 4,
            unpublished: vec!["https://h/o/d.git@main".into()],
            apps: vec![
                AppStatus {
                    name: "a.b \"odd\"".into(),
                    repo: "https://h/o/d.git@main".into(),
                    status: "⏸️ paused".into(),
                    healthy: true,
                    commit: String::new(),
                    changed_unix: None,
                    paused_by: Some("gitops-agent pause".into()),
                    deferred_by: None,
                    last_error: Some("line\nwith \"quotes\"".into()),
                    last_error_unix: Some(1_794_000_000),
                },
                AppStatus {
                    name: "web".into(),
                    repo: "https://h/o/d.git@main".into(),
                    status: "✅ healthy".into(),
                    healthy: true,
                    commit: "4f1c2e9".into(),
                    changed_unix: Some(1_795_000_000),
                    paused_by: None,
                    deferred_by: Some("update_lock".into()),
                    last_error: None,
                    last_error_unix: None,
                },
            ],
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let text = toml::to_string(&encode(&record())).unwrap();
        assert_eq!(decode(&text), Some(record()));
    }

    #[test]
    fn another_version_or_a_broken_file_reads_as_none() {
        let mut t = encode(&record());
        t.insert("version".into(), Value::Integer(2));
        assert_eq!(decode(&toml::to_string(&t).unwrap()), None);
        assert_eq!(decode("not toml ["), None);
        assert_eq!(decode("version = 1\n"), None);
    }

    #[test]
    fn file_is_private_and_missing_reads_as_missing() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("gitops-last-pass-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(read(&dir), Read::Missing);
        write(&dir, &record()).unwrap();
        assert_eq!(read(&dir), Read::Record(record()));
        let mode = std::fs::metadata(path(&dir)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(path(&dir), "garbage").unwrap();
        assert!(matches!(read(&dir), Read::Unreadable(_)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
