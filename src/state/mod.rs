//! The agent's own memory under `$GITOPS_AGENT_HOME/state`: per app, the infra_meta section
//! last applied successfully, or that the last apply failed (the fifth drift trigger and the
//! retry of a failed apply, SPEC §5); and the records of SPEC §12 in their own modules. Every
//! record's encoding on disk lives here only; every file is written atomically, 0600, in a
//! 0700 folder.

pub mod deployed;
pub mod last_pass;
pub mod paused;
pub mod quarantine;
pub mod snapshot;
pub mod tombstone;

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use crate::error::{Context, Result};
use crate::layout;

/// What the agent remembers of an app's last apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// This section (canonical TOML, `AppSpec::section`) was applied successfully.
    Applied(String),
    /// The last apply did not succeed; the next pass tries again.
    Failed,
}

/// How a failed apply is written. The previous version wrote exactly this line, and a
/// section (canonical TOML from `toml::to_string`) never starts with a comment, so the two
/// cannot be confused; keeping the same text lets a device swap binaries either way.
const FAILED_MARKER: &str = "# gitops-agent: the last apply failed; it is retried\n";

/// The record of `app`, if any. An unreadable record counts as none.
pub fn read(dir: &Path, app: &str) -> Option<Record> {
    crate::files::read_small_text(&layout::applied_record(dir, app)).map(decode)
}

/// Remember `record` for `app` (atomically: a crash keeps the old record).
pub fn write(dir: &Path, app: &str, record: &Record) -> Result<()> {
    // 0600: the agent's own memory is nobody else's business (SPEC §10).
    crate::atomic::write(
        &layout::applied_record(dir, app),
        encode(record).as_bytes(),
        Some(0o600),
    )
}

/// Forget `app`'s record (the app was pruned).
pub fn remove(dir: &Path, app: &str) -> Result<()> {
    remove_file(&layout::applied_record(dir, app))
}

/// Create `dir` (and its parents) as a private folder of the agent.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("create {}", dir.display()))
}

/// Write a TOML record atomically (0600, folder 0700).
pub(crate) fn write_table(path: &Path, table: &toml::Table) -> Result<()> {
    if let Some(dir) = path.parent() {
        private_dir(dir)?;
    }
    let text = toml::to_string(table).unwrap_or_default();
    crate::atomic::write(path, text.as_bytes(), Some(0o600))
}

/// A TOML record; `None` when missing or unreadable (an unreadable record counts as none).
pub(crate) fn read_table(path: &Path) -> Option<toml::Table> {
    crate::files::read_small_text(path)?.parse().ok()
}

/// Remove a file; one already gone is fine.
pub(crate) fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(crate::error::Error::msg(
            format!("remove {}: {e}", path.display()),
        )),
        _ => Ok(()),
    }
}

/// The app names of the `*.toml` records in `dir`, sorted.
pub(crate) fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".toml").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// The names in `dir` (one `getdents` for a small folder); empty when it does not exist,
/// `None` when it cannot be listed.
pub(crate) fn entry_names(dir: &Path) -> Option<std::collections::BTreeSet<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(Default::default()),
        Err(_) => return None,
    };
    let mut names = std::collections::BTreeSet::new();
    for entry in entries {
        names.insert(entry.ok()?.file_name().to_string_lossy().into_owned());
    }
    Some(names)
}

/// Every record in `dir` as (file name, text), unreadable ones left out: the applied
/// records, read once per group (their code folders, then each app's own record).
pub fn read_all(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let text = crate::files::read_small_text(&entry.path())?;
            Some((entry.file_name().to_string_lossy().into_owned(), text))
        })
        .collect()
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    crate::hex::encode(&Sha256::digest(bytes))
}

/// A record's text as the record it is.
pub(crate) fn decode(text: String) -> Record {
    if text.trim_end() == FAILED_MARKER.trim_end() {
        Record::Failed
    } else {
        Record::Applied(text)
    }
}

fn encode(record: &Record) -> &str {
    match record {
        Record::Applied(section) => section,
        Record::Failed => FAILED_MARKER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applied_section_is_stored_as_is() {
        // The Python-era and previous records are the bare section: keep reading them alike.
        let section = "code_url = \"u\"\ncode_commit_hash = \"c\"\n".to_string();
        assert_eq!(encode(&Record::Applied(section.clone())), section);
        assert_eq!(decode(section.clone()), Record::Applied(section));
    }

    #[test]
    fn previous_versions_failed_marker_reads_as_failed() {
        let previous = "# gitops-agent: the last apply failed; it is retried\n";
        assert_eq!(decode(previous.to_string()), Record::Failed);
        assert_eq!(decode(previous.trim_end().to_string()), Record::Failed);
        assert_eq!(encode(&Record::Failed), previous);
    }

    #[test]
    fn empty_record_is_an_applied_empty_section() {
        assert_eq!(decode(String::new()), Record::Applied(String::new()));
    }
}
