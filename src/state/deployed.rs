//! What the agent put in place for an app (SPEC §12 prune): the group it belongs to, the
//! section last applied successfully, and the config files written then with a digest of
//! their bytes. Prune reads it to run the right `remove_command`, delete only the files the
//! agent wrote (and only while unchanged) and never touch another group's apps.

use std::path::{Path, PathBuf};

use super::{names_in, read_table, remove_file, sha256_hex, write_table};
use crate::error::Result;

/// The record of one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// `pass::group_key` of the group that applied it.
    pub group: String,
    /// The section applied (canonical TOML, `AppSpec::section`).
    pub section: String,
    /// Config files written, with the sha256 of the bytes written.
    pub files: Vec<(PathBuf, String)>,
}

fn dir(state: &Path) -> PathBuf {
    state.join("deployed")
}

fn path(state: &Path, app: &str) -> PathBuf {
    dir(state).join(format!("{app}.toml"))
}

/// The digests of the `dsts` that exist now (after an apply, they hold what was written).
pub fn digests(dsts: impl IntoIterator<Item = PathBuf>) -> Vec<(PathBuf, String)> {
    dsts.into_iter()
        .filter_map(|d| {
            let bytes = std::fs::read(&d).ok()?;
            Some((d, sha256_hex(&bytes)))
        })
        .collect()
}

pub fn write(state: &Path, app: &str, rec: &Deployed) -> Result<()> {
    let mut t = toml::Table::new();
    t.insert("group".into(), rec.group.clone().into());
    t.insert("section".into(), rec.section.clone().into());
    let files = rec
        .files
        .iter()
        .map(|(dst, sha)| {
            let mut f = toml::Table::new();
            f.insert("dst".into(), dst.display().to_string().into());
            f.insert("sha256".into(), sha.clone().into());
            toml::Value::Table(f)
        })
        .collect();
    t.insert("files".into(), toml::Value::Array(files));
    write_table(&path(state, app), &t)
}

pub fn read(state: &Path, app: &str) -> Option<Deployed> {
    let t = read_table(&path(state, app))?;
    let files = t
        .get("files")?
        .as_array()?
        .iter()
        .filter_map(|f| {
            Some((
                PathBuf::from(f.get("dst")?.as_str()?),
                f.get("sha256")?.as_str()?.to_string(),
            ))
        })
        .collect();
    Some(Deployed {
        group: t.get("group")?.as_str()?.to_string(),
        section: t.get("section")?.as_str()?.to_string(),
        files,
    })
}

pub fn exists(state: &Path, app: &str) -> bool {
    path(state, app).is_file()
}

pub fn remove(state: &Path, app: &str) -> Result<()> {
    remove_file(&path(state, app))
}

/// Every app with a record, and its record.
pub fn all(state: &Path) -> Vec<(String, Deployed)> {
    names_in(&dir(state))
        .into_iter()
        .filter_map(|app| read(state, &app).map(|d| (app, d)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_listing() {
        let d = std::env::temp_dir().join(format!(
            "gitops-deployed-{}-{:x}",
            std::process::id(),
            crate::atomic::random_u64()
        ));
        let rec = Deployed {
            group: "file:///d@main".into(),
            section: "code_url = \"u\"\n".into(),
            files: vec![("/srv/web/.env".into(), sha256_hex(b"A=1"))],
        };
        write(&d, "web", &rec).unwrap();
        assert_eq!(read(&d, "web"), Some(rec.clone()));
        assert_eq!(all(&d), vec![("web".to_string(), rec)]);
        remove(&d, "web").unwrap();
        assert!(!exists(&d, "web"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
