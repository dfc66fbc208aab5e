//! A section refused by its health check (SPEC §12): its fingerprint (`rollback::fingerprint`)
//! and the health checks that refused it, so every later pass can restate the rollback
//! without trying that section again.

use std::path::{Path, PathBuf};

use super::{read_table, remove_file, write_table};
use crate::error::Result;
use crate::report::{HealthRun, Rollback};

/// The record of one app's refused section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub fingerprint: String,
    /// The health checks as reported when it was refused (with the rollback note).
    pub run: HealthRun,
}

fn path(state: &Path, app: &str) -> PathBuf {
    state.join("quarantine").join(format!("{app}.toml"))
}

/// The health check names a record may hold (`HealthRun::codes` keys are static).
const CHECKS: [&str; 2] = ["health", "rollback-health"];

pub fn write(state: &Path, app: &str, rec: &Refused) -> Result<()> {
    let mut t = toml::Table::new();
    t.insert("fingerprint".into(), rec.fingerprint.clone().into());
    let mut codes = toml::Table::new();
    for (name, code) in &rec.run.codes {
        codes.insert((*name).into(), i64::from(*code).into());
    }
    t.insert("codes".into(), toml::Value::Table(codes));
    t.insert("logs".into(), rec.run.logs.clone().into());
    if let Some(rb) = &rec.run.rollback {
        t.insert("rolled-back-from".into(), rb.from.clone().into());
        t.insert("running".into(), rb.running.clone().into());
    }
    write_table(&path(state, app), &t)
}

pub fn read(state: &Path, app: &str) -> Option<Refused> {
    let t = read_table(&path(state, app))?;
    let codes_table = t.get("codes").and_then(toml::Value::as_table);
    let codes = CHECKS
        .iter()
        .filter_map(|name| {
            let code = codes_table?.get(*name)?.as_integer()?;
            Some((*name, i32::try_from(code).unwrap_or(-1)))
        })
        .collect();
    let text = |k: &str| t.get(k).and_then(toml::Value::as_str).map(str::to_string);
    let rollback = match (text("rolled-back-from"), text("running")) {
        (Some(from), Some(running)) => Some(Rollback { from, running }),
        _ => None,
    };
    Some(Refused {
        fingerprint: text("fingerprint")?,
        run: HealthRun {
            codes,
            logs: text("logs").unwrap_or_default(),
            rollback,
        },
    })
}

pub fn remove(state: &Path, app: &str) -> Result<()> {
    remove_file(&path(state, app))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let d = std::env::temp_dir().join(format!(
            "gitops-quarantine-{}-{:x}",
            std::process::id(),
            crate::atomic::random_u64()
        ));
        let rec = Refused {
            fingerprint: "ab".into(),
            run: HealthRun {
                codes: vec![("health", 1), ("rollback-health", 0)],
                logs: "[health] $ false\n".into(),
                rollback: Some(Rollback {
                    from: "b".repeat(40),
                    running: "a".repeat(40),
                }),
            },
        };
        write(&d, "web", &rec).unwrap();
        assert_eq!(read(&d, "web"), Some(rec));
        remove(&d, "web").unwrap();
        assert_eq!(read(&d, "web"), None);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
