//! `<infra_name>/infra_meta.toml` in the deploy repo (SPEC §4, §8): one table per app.
//! Pure parsing and validation; a bad section fails only its own app.

mod check;
mod section;

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

pub use check::{check, pin_form, Checked, Problem};

use crate::error::{Error, Kind, Result};
use crate::windows::{self, Window};

/// What one app must look like on this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    pub code_url: crate::url::Url,
    pub code_commit_hash: String,
    pub code_local_path: PathBuf,
    pub config_files: Vec<ConfigFile>,
    pub pre_updation_command: Option<String>,
    pub post_updation_command: Option<String>,
    pub command_timeout: Option<Duration>,
    /// SPEC §12: health check, pause, update gates and removal.
    pub safe: SafeKeys,
    /// The section as canonical TOML: what "the section changed since the last apply" compares.
    pub section: String,
    pub warnings: Vec<String>,
}

/// The keys of SPEC §12 (all optional).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SafeKeys {
    pub health: Option<HealthCheck>,
    /// `paused = true`: observed, never changed.
    pub paused: bool,
    /// Updates wait while this file exists.
    pub update_lock: Option<PathBuf>,
    /// `None`: the device default of the agent config applies.
    pub update_windows: Option<Vec<Window>>,
    /// Runs in the code folder when the app is pruned.
    pub remove_command: Option<String>,
    /// Pruning deletes the code folder too.
    pub prune_code: bool,
}

/// `health_command` with its timeout and number of tries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub command: String,
    pub timeout: Duration,
    /// Tries in all (>= 1).
    pub retries: u32,
}

/// A file copied from the deploy repo into place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// Relative to the deploy repo root, never leaving it.
    pub src: String,
    /// Absolute path on the device.
    pub dst: PathBuf,
    /// `mode = "0600"`: the permission bits of `dst`, new or existing (else an existing
    /// file keeps its own, a new one gets 0644).
    pub mode: Option<u32>,
}

const KNOWN_KEYS: &[&str] = &[
    "code_url",
    "code_commit_hash",
    "code_local_path",
    "config_files",
    "pre_updation_command",
    "post_updation_command",
    "command_timeout",
    "health_command",
    "health_timeout",
    "health_retries",
    "paused",
    "update_lock",
    "update_windows",
    "remove_command",
    "prune_code",
];

const LEGACY_KEYS: &[&str] = &["config_src_path_rel_in_this_repo", "config_dst_path_abs"];

/// Parse the whole file. A non-UTF-8 or invalid file fails every app of the group.
pub fn parse_file(file: &str, bytes: &[u8]) -> Result<toml::Table> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Error::new(
            Kind::Invalid,
            format!(
                "{file}: not valid UTF-8 (first bad byte at offset {}); save it as UTF-8",
                e.valid_up_to()
            ),
        )
    })?;
    text.parse::<toml::Table>().map_err(|e| {
        Error::new(
            Kind::Invalid,
            format!("{file}: invalid TOML: {}", e.to_string().trim()),
        )
    })
}

/// The validated section of `app`: the first error of [`check`] in the agent's words (its
/// unknown keys as `warnings`).
pub fn app_spec(file: &str, doc: &toml::Table, app: &str) -> Result<AppSpec> {
    let checked = check(file, doc, app);
    if let Some(p) = checked.problems.iter().find(|p| !p.warning) {
        let table = doc.get(app).and_then(toml::Value::as_table);
        return Err(Error::new(Kind::Invalid, p.agent_text(file, table)));
    }
    checked.spec.ok_or_else(|| {
        Error::new(
            Kind::Invalid,
            format!(
                "{file}: [{app}] cannot be read; run `gitops-agent validate` on the deploy repo"
            ),
        )
    })
}

/// An `update_windows` value (infra_meta or agent config): a list of window texts.
pub fn window_list(v: &toml::Value) -> std::result::Result<Vec<Window>, String> {
    let example = "update_windows = [\"Mon-Fri 02:00-04:00\"]";
    let toml::Value::Array(items) = v else {
        return Err(format!(
            "must be a list of windows, found {}; e.g. `{example}`",
            v.type_str()
        ));
    };
    let texts = items
        .iter()
        .map(|i| i.as_str().map(str::to_string))
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| format!("every window must be a string; e.g. `{example}`"))?;
    windows::parse_all(&texts).map_err(|e| e.to_string())
}

/// The app sections of the file (every table at its top), for the `"*"` group.
pub fn sections(doc: &toml::Table) -> Vec<String> {
    doc.iter()
        .filter(|(_, v)| v.is_table())
        .map(|(k, _)| k.clone())
        .collect()
}

/// `allow_empty = true` at the top of the file: an infra_meta with no app may prune them all.
pub fn allow_empty(doc: &toml::Table) -> bool {
    doc.get("allow_empty").and_then(toml::Value::as_bool) == Some(true)
}

/// The removed keys present in `table`, all named in one message (fixing one at a time
/// would take one deploy per key), with the form that replaces them.
fn legacy_keys(table: &toml::Table) -> Option<String> {
    let present: Vec<String> = LEGACY_KEYS
        .iter()
        .filter(|k| table.contains_key(**k))
        .map(|k| format!("`{k}`"))
        .collect();
    let (keys, were) = match present.len() {
        0 => return None,
        1 => ("key", "was"),
        _ => ("keys", "were"),
    };
    Some(format!(
        "{keys} {}: {were} removed; write `config_files = [ {{ src = \"<path in this repo>\", dst = \"/absolute/path\" }} ]` instead",
        present.join(" and ")
    ))
}

fn absolute_path(p: &str) -> std::result::Result<PathBuf, String> {
    // What a message may show of the value (SPEC §10); made only for a message.
    let shown = || crate::text::clip(p);
    if p.chars().any(char::is_control) {
        return Err(format!(
            "\"{}\" contains control characters",
            crate::text::clip(&p.escape_debug().to_string())
        ));
    }
    let path = Path::new(p);
    if !path.is_absolute() {
        return Err(format!(
            "\"{}\" must be an absolute path (start with `/`)",
            shown()
        ));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(format!("\"{}\" must not contain `..`", shown()));
    }
    Ok(path.to_path_buf())
}

/// `"0600"` / `"600"` → 0o600: permission bits only (set-id and sticky bits are refused: a
/// config file has no use for them).
fn parse_mode(m: &str) -> std::result::Result<u32, String> {
    let digits = m.strip_prefix('0').filter(|d| d.len() == 3).unwrap_or(m);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(mode),
        _ => Err(format!(
            "\"{}\" is not a file mode; write three octal digits, e.g. `mode = \"0600\"`",
            crate::text::clip(m)
        )),
    }
}

/// `src` is relative and stays inside the repo (lexically; symlinks are checked on disk).
fn check_src(src: &str) -> std::result::Result<(), String> {
    let path = Path::new(src);
    // What a message may show of the value (SPEC §10).
    let shown = crate::text::clip(src);
    if path.is_absolute() {
        return Err(format!(
            "\"{shown}\" must be relative to the deploy repo root, e.g. \"edge-17/app.env\""
        ));
    }
    let mut depth: i64 = 0;
    for c in path.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(format!(
                "\"{shown}\" leaves the deploy repo; name a file inside it"
            ));
        }
    }
    if depth == 0 {
        return Err(format!("\"{shown}\" names no file"));
    }
    if src.chars().any(char::is_control) {
        return Err(format!(
            "\"{}\" contains control characters",
            crate::text::clip(&src.escape_debug().to_string())
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
