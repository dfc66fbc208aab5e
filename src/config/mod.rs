//! The agent config (`config.toml`, SPEC §2 and §8): reading, validation and the grouping of
//! apps by deploy repo. Pure: `parse` takes bytes, so every rule is unit-tested without disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Kind, Result};
use crate::url;

pub mod events;

/// Default location when neither `--config` nor `$GITOPS_AGENT_CONFIG` is given.
pub const DEFAULT_PATH: &str = "/etc/gitops-agent/config.toml";
const MAX_NAME_LEN: usize = 128;
/// The `[applications]` key whose group is every section of this infra's infra_meta.toml
/// (SPEC §12).
pub const ALL_SECTIONS: &str = "*";

/// A validated agent config.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub path: PathBuf,
    pub infra_name: String,
    pub interval: Duration,
    pub retention_days: u64,
    pub network_timeout: Duration,
    /// Bound on a whole fetch or push (SPEC §10).
    pub transfer_timeout: Duration,
    pub command_timeout: Duration,
    pub ssh_command: Option<String>,
    pub ssh_key: Option<PathBuf>,
    pub https_password_file: Option<PathBuf>,
    /// Hosts besides the deploy repos' that may get `https_password_file` (lowercase).
    pub https_credential_hosts: Vec<String>,
    pub https_ca_file: Option<PathBuf>,
    /// Make a status commit when the branch's copy is this old, even if nothing changed
    /// (SPEC §9); 0 = off.
    pub heartbeat_hours: u64,
    /// Upper bound of the random delay before every daemon pass (SPEC §9).
    pub splay: Duration,
    /// Signed deploys (SPEC §11): OpenSSH allowed-signers file, armored OpenPGP keys.
    pub allowed_signers: Option<PathBuf>,
    pub trusted_pgp_keys: Option<PathBuf>,
    /// Their keys, read by `load` (a config only `parse`d has none and verifies nothing).
    pub trusted_keys: Option<crate::verify::TrustedKeys>,
    /// Commits of history a code clone fetches for its pin (0 = whole history; SPEC §14).
    pub code_fetch_depth: u32,
    /// `[applications]`, sorted by app name.
    pub apps: Vec<AppRef>,
    /// Things worth a log line that do not stop the agent (unknown keys).
    pub warnings: Vec<String>,
    /// SPEC §12: the device's default `update_windows` (an app's own list replaces it).
    pub update_windows: Vec<crate::windows::Window>,
    /// SPEC §12: remove apps whose section is gone (opt-in).
    pub prune: bool,
    /// SPEC §13: the Prometheus text file written after every pass.
    pub metrics_file: Option<PathBuf>,
    /// SPEC §13: where events go (`on_event_command`, `webhook_url`, `webhook_token_file`).
    pub notify: events::Notify,
}

/// One line of `[applications]`: the app name and where its deploy config lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRef {
    pub name: String,
    pub url: url::Url,
    pub branch: String,
}

/// Apps that share one (url, branch): fetched once and reported once per pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub url: url::Url,
    pub branch: String,
    pub apps: Vec<String>,
}

/// Every key of the agent config (the installer's template is tested against this list).
pub const KNOWN_KEYS: &[&str] = &[
    "infra_name",
    "interval",
    "monitoring_history_retention_days",
    "network_timeout",
    "transfer_timeout",
    "command_timeout",
    "ssh_command",
    "ssh_key",
    "https_password_file",
    "https_credential_hosts",
    "https_ca_file",
    "heartbeat_hours",
    "splay",
    "allowed_signers",
    "trusted_pgp_keys",
    "code_fetch_depth",
    "applications",
    "update_windows",
    "prune",
    "metrics_file",
    "on_event_command",
    "webhook_url",
    "webhook_token_file",
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
    let mut cfg = parse_inner(path, &bytes)?;
    if let Some(m) = cfg.metrics_file.as_deref().filter(|m| m.is_dir()) {
        return Err(Error::msg(format!(
            "{shown}: key `metrics_file`: {} is a directory; name a file in it, e.g. `metrics_file = \"{}\"`",
            m.display(),
            m.join("gitops-agent.prom").display()
        )));
    }
    if let Some(token) = &cfg.notify.webhook_token_file {
        // Read again at every delivery; checked here so a missing file stops the start.
        events::read_token(token)?;
    }
    if cfg.verifying() {
        cfg.trusted_keys = Some(crate::verify::TrustedKeys::load(
            cfg.allowed_signers.as_deref(),
            cfg.trusted_pgp_keys.as_deref(),
        )?);
    }
    Ok(cfg)
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
    let transfer_timeout = positive_int(&table, "transfer_timeout", 3600)
        .map_err(|why| err("transfer_timeout", &why))?;
    let command_timeout = positive_int(&table, "command_timeout", 1800)
        .map_err(|why| err("command_timeout", &why))?;
    let heartbeat_hours = non_negative_int(&table, "heartbeat_hours", 24, MAX_SECONDS / 3600)
        .map_err(|why| err("heartbeat_hours", &format!("{why} (hours; 0 = off)")))?;
    let splay = non_negative_int(&table, "splay", 0, MAX_SECONDS)
        .map_err(|why| err("splay", &format!("{why} (seconds; 0 = no delay)")))?;
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
    let update_windows = match table.get("update_windows") {
        None => Vec::new(),
        Some(v) => crate::infra_meta::window_list(v).map_err(|why| err("update_windows", &why))?,
    };
    let prune = match table.get("prune") {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(v) => {
            return Err(err(
                "prune",
                &format!(
                    "must be true or false, found {}; e.g. `prune = true`",
                    show(v)
                ),
            ))
        }
    };
    let notify = events::parse(&table, &file, &mut warnings)?;
    let ssh_key = opt_path("ssh_key")?;
    if let (Some(cmd), Some(_)) = (&ssh_command, &ssh_key) {
        if !crate::git::transport::ssh::takes_key(cmd) {
            return Err(err(
                "ssh_key",
                "is set together with `ssh_command`, whose program is not OpenSSH `ssh` and may not take `-i`; put the key into `ssh_command` (e.g. `-i /path/key`) and remove `ssh_key`",
            ));
        }
    }
    let https_password_file = opt_path("https_password_file")?;
    let https_ca_file = opt_path("https_ca_file")?;
    let allowed_signers = opt_path("allowed_signers")?;
    let trusted_pgp_keys = opt_path("trusted_pgp_keys")?;
    let metrics_file = match opt_string("metrics_file")? {
        None => None,
        Some(m) => {
            Some(metrics_file(&file, &m, &mut warnings).map_err(|why| err("metrics_file", &why))?)
        }
    };
    let https_credential_hosts = host_list(&table, "https_credential_hosts")
        .map_err(|why| err("https_credential_hosts", &why))?;
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
                    return Err(err(&key, &format!("\"{}\" is not \"<url>@<branch>\"", url::Url::new(raw.as_str()))));
                }
                apps.push(AppRef {
                    name: name.clone(),
                    url: url::Url::new(u),
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
        transfer_timeout: Duration::from_secs(transfer_timeout),
        command_timeout: Duration::from_secs(command_timeout),
        ssh_command,
        ssh_key,
        https_password_file,
        https_credential_hosts,
        https_ca_file,
        heartbeat_hours,
        splay: Duration::from_secs(splay),
        allowed_signers,
        trusted_pgp_keys,
        trusted_keys: None,
        code_fetch_depth,
        apps,
        warnings,
        update_windows,
        prune,
        metrics_file,
        notify,
    })
}

impl AgentConfig {
    /// Apps grouped by (normalized url, branch), in order of first appearance.
    pub fn groups(&self) -> Vec<Group> {
        let mut order: Vec<(String, String)> = Vec::new();
        let mut by_key: BTreeMap<(String, String), Group> = BTreeMap::new();
        for app in &self.apps {
            let key = (app.url.normalized(), app.branch.clone());
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

    /// Deploy commits must be signed (`allowed_signers` or `trusted_pgp_keys` is set).
    pub fn verifying(&self) -> bool {
        self.allowed_signers.is_some() || self.trusted_pgp_keys.is_some()
    }

    /// What transports need from the config.
    pub fn net_options(&self) -> crate::git::NetOptions {
        crate::git::NetOptions {
            timeout: self.network_timeout,
            transfer_timeout: self.transfer_timeout,
            ssh_command: self.ssh_command.clone(),
            ssh_key: self.ssh_key.clone(),
            https_password_file: self.https_password_file.clone(),
            credential_hosts: self.credential_hosts(),
            https_ca_file: self.https_ca_file.clone(),
        }
    }

    /// Where `https_password_file` may go: the hosts of the deploy repos in
    /// `[applications]`, plus `https_credential_hosts` (lowercase, each once).
    pub fn credential_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = Vec::new();
        let deploy = self.apps.iter().filter_map(|a| {
            gix::url::parse(gix::bstr::BStr::new(a.url.secret().as_bytes()))
                .ok()
                .and_then(|u| u.host().map(str::to_ascii_lowercase))
        });
        for h in deploy.chain(self.https_credential_hosts.iter().cloned()) {
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
        hosts
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

/// `metrics_file`: an absolute path naming a file (node_exporter's textfile collector reads
/// only `*.prom`: another name is a warning).
fn metrics_file(
    file: &str,
    m: &str,
    warnings: &mut Vec<String>,
) -> std::result::Result<PathBuf, String> {
    let example =
        "e.g. `metrics_file = \"/var/lib/node_exporter/textfile_collector/gitops-agent.prom\"`";
    let shown = crate::text::clip(m);
    let path = PathBuf::from(m);
    if !path.is_absolute() {
        return Err(format!(
            "must be an absolute path, found \"{shown}\"; {example}"
        ));
    }
    if m.ends_with('/') || path.file_name().is_none() {
        return Err(format!("\"{shown}\" names a folder, not a file; {example}"));
    }
    if path.extension().is_none_or(|e| e != "prom") {
        warnings.push(format!(
            "{file}: key `metrics_file`: \"{shown}\" does not end in `.prom`; node_exporter's textfile collector reads only *.prom files"
        ));
    }
    Ok(path)
}

/// A list of host names (`["git.example.com"]`), lowercase.
fn host_list(table: &toml::Table, key: &str) -> std::result::Result<Vec<String>, String> {
    let bad = |what: String| {
        format!("{what}; write host names only, e.g. `{key} = [\"git.example.com\"]`")
    };
    match table.get(key) {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                toml::Value::String(h)
                    if !h.is_empty()
                        && !h.contains(|c: char| c == '/' || c == '@' || c.is_whitespace()) =>
                {
                    Ok(h.to_ascii_lowercase())
                }
                toml::Value::String(h) => Err(bad(format!(
                    "\"{}\" is not a host name",
                    crate::text::clip(h)
                ))),
                other => Err(bad(format!("found {}", other.type_str()))),
            })
            .collect(),
        Some(v) => Err(bad(format!("must be a list, found {}", v.type_str()))),
    }
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

fn non_negative_int(
    table: &toml::Table,
    key: &str,
    default: u64,
    max: i64,
) -> std::result::Result<u64, String> {
    match table.get(key) {
        None => Ok(default),
        Some(toml::Value::Integer(n)) if (0..=max).contains(n) => Ok(*n as u64),
        Some(v) => Err(format!(
            "must be a whole number from 0 to {max}, found {}; e.g. `{key} = {default}`",
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
mod tests;
