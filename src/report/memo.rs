//! The unchanged pass's shortcut. Building the feedback file parses and rewrites the whole
//! previous TOML: most of the CPU of a pass where nothing changed. `report::build` depends on
//! the previous text and this pass's typed reports only (the clock just stamps
//! `last-updated`, which `same_content` ignores), so when both are exactly those of a pass
//! that found the file unchanged, that verdict and the apps' health hold again. The memo is
//! kept per monitoring clone (`.git/gitops-agent-report-memo`); anything unexpected in it
//! reads as no memo, and the file is then built as before.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::AppReport;
use crate::health::Health;

const VERSION: &str = "gitops-agent-report-memo 1";

/// What the verdict depends on: the previous file's bytes and every field of the reports.
pub fn key(previous: &str, reports: &[AppReport]) -> String {
    let mut h = Sha256::new();
    h.update(previous.as_bytes());
    h.update([0]);
    h.update(format!("{reports:?}").as_bytes());
    crate::hex::encode(&h.finalize())
}

/// The memo's text; `None` when an app name could not be read back (never in practice:
/// section names are file names).
pub fn encode(key: &str, apps: &[(String, Health)]) -> Option<String> {
    let mut out = format!("{VERSION}\n{key}\n");
    for (app, health) in apps {
        if app.contains(['\n', '\t']) {
            return None;
        }
        out.push_str(&format!("{}\t{app}\n", health.label()));
    }
    Some(out)
}

/// The apps' health remembered for `key`; `None` for another key, version or anything
/// malformed.
pub fn decode(text: &str, key: &str) -> Option<Vec<(String, Health)>> {
    let mut lines = text.lines();
    if lines.next()? != VERSION || lines.next()? != key {
        return None;
    }
    lines
        .map(|line| {
            let (label, app) = line.split_once('\t')?;
            Some((app.to_string(), Health::from_label(label)?))
        })
        .collect()
}

fn file(clone: &Path) -> PathBuf {
    clone.join(".git").join("gitops-agent-report-memo")
}

/// The remembered health for `key` in the monitoring clone at `clone`.
pub fn read(clone: &Path, key: &str) -> Option<Vec<(String, Health)>> {
    decode(&std::fs::read_to_string(file(clone)).ok()?, key)
}

/// Remember an unchanged verdict; a failure only costs the full build next pass.
pub fn write(clone: &Path, key: &str, apps: &[(String, Health)]) {
    let Some(text) = encode(key, apps) else {
        return;
    };
    let path = file(clone);
    if let Err(e) = crate::files::atomic_write(&path, text.as_bytes()) {
        log::debug!("{}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Commands, Updation};

    fn report(name: &str, ok: bool) -> AppReport {
        let side = |ok| Updation {
            ok,
            git_status: String::new(),
            latest_commit: "'abc1234 - x'".into(),
        };
        AppReport {
            name: name.into(),
            config: side(true),
            app: side(ok),
            commands: Commands::NothingRan,
            safety: Default::default(),
        }
    }

    #[test]
    fn the_key_changes_with_the_previous_text_or_any_report_field() {
        let reports = vec![report("web", true)];
        let k = key("a = 1\n", &reports);
        assert_eq!(k, key("a = 1\n", &reports), "deterministic");
        assert_ne!(k, key("a = 2\n", &reports));
        assert_ne!(k, key("a = 1\n", &[report("web", false)]));
        assert_ne!(k, key("a = 1\n", &[report("api", true)]));
    }

    #[test]
    fn a_memo_reads_back_only_for_its_key() {
        let apps = vec![
            ("web".to_string(), Health::Healthy),
            ("db".to_string(), Health::CommandFailed),
            ("ui".to_string(), Health::Paused),
        ];
        let text = encode("k1", &apps).unwrap();
        assert_eq!(decode(&text, "k1"), Some(apps));
        assert_eq!(decode(&text, "k2"), None);
    }

    #[test]
    fn anything_malformed_is_no_memo() {
        assert_eq!(decode("", "k"), None);
        assert_eq!(decode("gitops-agent-report-memo 0\nk\n", "k"), None);
        let bad = format!("{VERSION}\nk\n✅ healthy web\n");
        assert_eq!(decode(&bad, "k"), None, "no tab");
        let unknown = format!("{VERSION}\nk\nfine\tweb\n");
        assert_eq!(decode(&unknown, "k"), None, "unknown label");
        assert_eq!(encode("k", &[("a\tb".into(), Health::Healthy)]), None);
    }
}
