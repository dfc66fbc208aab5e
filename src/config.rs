//! The agent config (`config.toml`, SPEC §2 and §8): reading, validation and the grouping of
//! apps by deploy repo. Pure: `parse` takes bytes, so every rule is unit-tested without disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Kind, Result};
use crate::url;

/// Default location when neither `--config` nor `$GITOPS_AGENT_CONFIG` is given.
pub const DEFAULT_PATH: &str = "/etc/gitops-agent/config.toml";
const MAX_NAME_LEN: usize = 128;

/// A validated agent config.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub path: PathBuf,
    pub infra_name: String,
    pub interval: Duration,
    pub retention_days: u64,
    pub network_timeout: Duration,
    pub command_timeout: Duration,
    pub ssh_command: Option<String>,
    pub ssh_key: Option<PathBuf>,
    pub https_password_file: Option<PathBuf>,
    pub https_ca_file: Option<PathBuf>,
    /// Commits of history a code clone fetches for its pin (0 = whole history; SPEC §14).
    pub code_fetch_depth: u32,
    /// `[applications]`, sorted by app name.
    pub apps: Vec<AppRef>,
    /// Things worth a log line that do not stop the agent (unknown keys).
    pub warnings: Vec<String>,
}

/// One line of `[applications]`: the app name and where its deploy config lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRef {
    pub name: String,
    pub url: String,
    pub branch: String,
}

/// Apps that share one (url, branch): fetched once and reported once per pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub url: String,
    pub branch: String,
    pub apps: Vec<String>,
}

/// Every key of the agent config (the installer's template is tested against this list).
pub const KNOWN_KEYS: &[&str] = &[
    "infra_name",
    "interval",
    "monitoring_history_retention_days",
    "network_timeout",
    "command_timeout",
    "ssh_command",
    "ssh_key",
    "https_password_file",
    "https_ca_file",
    "code_fetch_depth",
    "applications",
];

/// Read and validate the config at `path`. Every error is `Kind::Config` (exit 2).
pub fn load(path: &Path) -> Result<AgentConfig> {
    load_inner(path).map_err(|e| e.with_kind(Kind::Config))
}

fn load_inner(path: &Path) -> Result<AgentConfig> {
    let shown = path.display();
    if path.is_dir() {
        return Err(Error::msg(format!(
            "{shown}: is a directory; point --config (or $GITOPS_AGENT_CONFIG) at the config.toml file"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        Error::msg(format!(
            "{shown}: cannot read the agent config ({e}); create it (see install/config.toml) or pass --config PATH"
        ))
    })?;
    parse_inner(path, &bytes)
}

/// Validate config text. Every error names the file and the key, and says what to write;
/// its kind is `Kind::Config`.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<AgentConfig> {
    parse_inner(path, bytes).map_err(|e| e.with_kind(Kind::Config))
}

fn parse_inner(path: &Path, bytes: &[u8]) -> Result<AgentConfig> {
    let file = path.display().to_string();
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Error::msg(format!(
            "{file}: not valid UTF-8 (first bad byte at offset {}); save the file as UTF-8",
            e.valid_up_to()
        ))
    })?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        Error::msg(format!("{file}: invalid TOML: {}", e.to_string().trim()))
    })?;

    let err = |key: &str, what: &str| Error::msg(format!("{file}: key `{key}`: {what}"));
    let mut warnings = Vec::new();
    for key in table.keys() {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            warnings.push(format!(
                "{file}: unknown key `{key}` ignored (known keys: {})",
                KNOWN_KEYS.join(", ")
            ));
        }
    }

    let infra_name = match table.get("infra_name") {
        None => {
            return Err(err(
                "infra_name",
                "missing; add `infra_name = \"<this device's name>\"`",
            ))
        }
        Some(toml::Value::String(s)) => s.clone(),
        Some(v) => {
            return Err(err(
                "infra_name",
                &format!(
                    "must be a string, found {}; write `infra_name = \"edge-17\"`",
                    v.type_str()
                ),
            ))
        }
    };
    check_name(&infra_name).map_err(|why| err("infra_name", &why))?;

    let interval = positive_int(&table, "interval", 300).map_err(|why| err("interval", &why))?;
    let retention_days = match table.get("monitoring_history_retention_days") {
        None => 30,
        Some(toml::Value::Integer(n)) if *n >= 0 => *n as u64,
        Some(v) => {
            return Err(err(
                "monitoring_history_retention_days",
                &format!("must be a whole number of days >= 0, found {}; e.g. `monitoring_history_retention_days = 30`", show(v)),
            ))
        }
    };
    let network_timeout =
        positive_int(&table, "network_timeout", 60).map_err(|why| err("network_timeout", &why))?;
    let command_timeout = positive_int(&table, "command_timeout", 1800)
        .map_err(|why| err("command_timeout", &why))?;
    let opt_string = |key: &str| -> Result<Option<String>> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(v) => Err(err(
                key,
                &format!("must be a non-empty string, found {}", show(v)),
            )),
        }
    };
    let ssh_command = opt_string("ssh_command")?;
    let opt_path = |key: &str| -> Result<Option<PathBuf>> {
        match opt_string(key)? {
            None => Ok(None),
            Some(p) if Path::new(&p).is_absolute() => Ok(Some(PathBuf::from(p))),
            Some(p) => Err(err(
                key,
                &format!("must be an absolute path, found \"{p}\""),
            )),
        }
    };
    let ssh_key = opt_path("ssh_key")?;
    let https_password_file = opt_path("https_password_file")?;
    let https_ca_file = opt_path("https_ca_file")?;
    let code_fetch_depth = match table.get("code_fetch_depth") {
        None => 1,
        Some(toml::Value::Integer(n)) if (0..=MAX_DEPTH).contains(n) => *n as u32,
        Some(v) => {
            return Err(err(
                "code_fetch_depth",
                &format!("must be a whole number of commits from 0 (whole history) to {MAX_DEPTH}, found {}; e.g. `code_fetch_depth = 1`", show(v)),
            ))
        }
    };

    let mut apps = Vec::new();
    match table.get("applications") {
        None => warnings.push(format!(
            "{file}: no [applications] table: nothing to deploy; add `[applications]` with `<app> = \"<deploy repo url>@<branch>\"`"
        )),
        Some(toml::Value::Table(t)) => {
            for (name, value) in t {
                let key = format!("applications.{name}");
                check_name(name).map_err(|why| err(&key, &format!("app name {why}")))?;
                let raw = match value {
                    toml::Value::String(s) => s,
                    toml::Value::Table(old) if old.contains_key("config_url") => {
                        return Err(err(
                            &key,
                            "the table form `{ config_url = ... }` is no longer read; write `NAME = \"<deploy repo url>@<branch>\"`",
                        ))
                    }
                    v => {
                        return Err(err(
                            &key,
                            &format!("must be a string \"<deploy repo url>@<branch>\", found {}", v.type_str()),
                        ))
                    }
                };
                let (u, branch) = url::split_branch(raw);
                if u.is_empty() || branch.is_empty() || branch.contains(char::is_whitespace) {
                    return Err(err(&key, &format!("\"{}\" is not \"<url>@<branch>\"", url::redact(raw))));
                }
                apps.push(AppRef {
                    name: name.clone(),
                    url: u,
                    branch,
                });
            }
        }
        Some(v) => {
            return Err(err(
                "applications",
                &format!("must be a table `[applications]`, found {}", v.type_str()),
            ))
        }
    }

    Ok(AgentConfig {
        path: path.to_path_buf(),
        infra_name,
        interval: Duration::from_secs(interval),
        retention_days,
        network_timeout: Duration::from_secs(network_timeout),
        command_timeout: Duration::from_secs(command_timeout),
        ssh_command,
        ssh_key,
        https_password_file,
        https_ca_file,
        code_fetch_depth,
        apps,
        warnings,
    })
}

impl AgentConfig {
    /// Apps grouped by (normalized url, branch), in order of first appearance.
    pub fn groups(&self) -> Vec<Group> {
        let mut order: Vec<(String, String)> = Vec::new();
        let mut by_key: BTreeMap<(String, String), Group> = BTreeMap::new();
        for app in &self.apps {
            let key = (url::normalize(&app.url), app.branch.clone());
            by_key
                .entry(key.clone())
                .or_insert_with(|| {
                    order.push(key.clone());
                    Group {
                        url: app.url.clone(),
                        branch: app.branch.clone(),
                        apps: Vec::new(),
                    }
                })
                .apps
                .push(app.name.clone());
        }
        order
            .into_iter()
            .filter_map(|k| by_key.remove(&k))
            .collect()
    }

    /// What transports need from the config.
    pub fn net_options(&self) -> crate::git::NetOptions {
        crate::git::NetOptions {
            timeout: self.network_timeout,
            ssh_command: self.ssh_command.clone(),
            ssh_key: self.ssh_key.clone(),
            https_password_file: self.https_password_file.clone(),
            https_ca_file: self.https_ca_file.clone(),
        }
    }
}

/// Names become folder and file names: no separators, no `..`, no control characters.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "is {} bytes long; keep it under {MAX_NAME_LEN}",
            name.len()
        ));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(format!(
            "\"{}\" must not contain `/` or `\\` (it names a folder and a file)",
            name.escape_debug()
        ));
    }
    if name.contains("..") {
        return Err(format!("\"{}\" must not contain `..`", name.escape_debug()));
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "\"{}\" must not contain control characters",
            name.escape_debug()
        ));
    }
    Ok(())
}

fn positive_int(table: &toml::Table, key: &str, default: u64) -> std::result::Result<u64, String> {
    match table.get(key) {
        None => Ok(default),
        Some(toml::Value::Integer(n)) if *n > 0 && *n <= MAX_SECONDS => Ok(*n as u64),
        Some(v) => Err(format!(
            "must be a whole number of seconds from 1 to {MAX_SECONDS} (a year), found {}; e.g. `{key} = {default}`",
            show(v)
        )),
    }
}

/// Deeper than git's own `deepen` limit (2^31 - 1) cannot be asked for; "everything" is 0.
const MAX_DEPTH: i64 = i32::MAX as i64;

/// Durations above a year are mistakes, and would overflow clock arithmetic.
const MAX_SECONDS: i64 = 365 * 86_400;

fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => v.to_string(),
        other => other.type_str().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<AgentConfig> {
        parse(Path::new("/etc/gitops-agent/config.toml"), text.as_bytes())
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c =
            p("infra_name = \"edge-17\"\n[applications]\nweb = \"git@h:o/d.git@prod\"\n").unwrap();
        assert_eq!(c.interval, Duration::from_secs(300));
        assert_eq!(c.retention_days, 30);
        assert_eq!(c.network_timeout, Duration::from_secs(60));
        assert_eq!(c.command_timeout, Duration::from_secs(1800));
        assert_eq!(c.code_fetch_depth, 1);
        assert_eq!(
            c.apps,
            vec![AppRef {
                name: "web".into(),
                url: "git@h:o/d.git".into(),
                branch: "prod".into()
            }]
        );
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn groups_share_url_and_branch() {
        let c = p(r#"infra_name = "x"
[applications]
a = "https://h/o/d.git@main"
b = "https://tok@h/o/d@main"
c = "https://h/o/d.git@dev"
"#)
        .unwrap();
        let g = c.groups();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].apps, vec!["a", "b"]);
        assert_eq!(g[1].apps, vec!["c"]);
    }

    #[test]
    fn errors_name_file_and_key() {
        for (text, key) in [
            ("interval = 5", "infra_name"),
            ("infra_name = 3", "infra_name"),
            ("infra_name = \"\"", "infra_name"),
            ("infra_name = \"a/b\"", "infra_name"),
            ("infra_name = \"..\"", "infra_name"),
            ("infra_name = \"a\\u0007\"", "infra_name"),
            ("infra_name = \"x\"\ninterval = 0", "interval"),
            ("infra_name = \"x\"\ninterval = -5", "interval"),
            ("infra_name = \"x\"\ninterval = \"300\"", "interval"),
            (
                "infra_name = \"x\"\nmonitoring_history_retention_days = -1",
                "monitoring_history_retention_days",
            ),
            (
                "infra_name = \"x\"\nnetwork_timeout = 1.5",
                "network_timeout",
            ),
            ("infra_name = \"x\"\nssh_key = \"id_rsa\"", "ssh_key"),
            (
                "infra_name = \"x\"\ncode_fetch_depth = -1",
                "code_fetch_depth",
            ),
            (
                "infra_name = \"x\"\ncode_fetch_depth = \"1\"",
                "code_fetch_depth",
            ),
            ("infra_name = \"x\"\napplications = 3", "applications"),
            (
                "infra_name = \"x\"\n[applications]\nweb = 3",
                "applications.web",
            ),
            (
                "infra_name = \"x\"\n[applications]\nweb = { config_url = \"u\" }",
                "applications.web",
            ),
            (
                "infra_name = \"x\"\n[applications]\n\"../w\" = \"u@b\"",
                "applications.../w",
            ),
        ] {
            let e = p(text).unwrap_err().to_string();
            assert!(
                e.starts_with("/etc/gitops-agent/config.toml: key `"),
                "{text}: {e}"
            );
            assert!(e.contains(&format!("`{key}`")), "{text}: {e}");
        }
        assert!(
            p("infra_name = \"x\"\n[applications]\nweb = { config_url = \"u\" }")
                .unwrap_err()
                .to_string()
                .contains("NAME = \"<deploy repo url>@<branch>\"")
        );
        assert!(p(&format!("infra_name = \"{}\"", "a".repeat(500)))
            .unwrap_err()
            .to_string()
            .contains("under"));
    }

    #[test]
    fn code_fetch_depth_zero_means_whole_history_and_is_accepted() {
        let c = p("infra_name = \"x\"\ncode_fetch_depth = 0\n").unwrap();
        assert_eq!(c.code_fetch_depth, 0);
        let c = p("infra_name = \"x\"\ncode_fetch_depth = 50\n").unwrap();
        assert_eq!(c.code_fetch_depth, 50);
        assert!(!c.warnings.iter().any(|w| w.contains("code_fetch_depth")));
    }

    #[test]
    fn bad_toml_and_bad_utf8_name_the_file() {
        let e = p("infra_name = ").unwrap_err().to_string();
        assert!(
            e.contains("config.toml: invalid TOML") && e.contains("line 1"),
            "{e}"
        );
        let e = parse(Path::new("/c.toml"), b"infra_name = \"\xff\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/c.toml: not valid UTF-8"), "{e}");
    }

    #[test]
    fn unknown_keys_warn() {
        let c = p("infra_name = \"x\"\nfuture_knob = 1\n").unwrap();
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings); // unknown key + no applications
        assert!(c.warnings[0].contains("future_knob"));
    }

    #[test]
    fn secrets_in_app_urls_are_not_echoed() {
        let e = p("infra_name = \"x\"\n[applications]\nweb = \"https://u:sekret@h/o/d@\"")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("sekret"), "{e}");
    }
}
