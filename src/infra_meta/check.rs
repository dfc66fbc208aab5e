//! Every rule of one app section, collecting ALL problems as data (app, key, message): the
//! agent stops at the first error (`app_spec`), `gitops-agent validate` shows them all. The
//! order of the checks is the order the agent meets them, so its first error is unchanged.

use std::path::Path;
use std::time::Duration;

use super::{
    absolute_path, check_src, legacy_keys, parse_mode, window_list, AppSpec, ConfigFile,
    HealthCheck, SafeKeys, KNOWN_KEYS, LEGACY_KEYS,
};

/// One thing wrong with a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub app: String,
    /// The key at fault (`code_url`, `config_files[1].dst`); empty for the section itself.
    pub key: String,
    /// What is wrong and the fix (values clipped to 200 characters).
    pub message: String,
    /// An unknown key: the agent logs it and goes on; `validate` reports it (often a typo).
    pub warning: bool,
    form: Form,
}

/// How the agent words the problem in its error (kept as it was before problems were data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `FILE: [APP] key `KEY`: MESSAGE`
    Key,
    /// `FILE: MESSAGE` (the section is missing or not a table)
    Section,
    /// The removed keys, all named in one message (`legacy_keys`).
    Legacy,
    /// `FILE: [APP] unknown key `KEY` ignored`
    Unknown,
}

impl Problem {
    /// The agent's text of this problem in `file` (`table`: the section, for `Legacy`).
    pub(super) fn agent_text(&self, file: &str, table: Option<&toml::Table>) -> String {
        let app = &self.app;
        match self.form {
            Form::Key => format!("{file}: [{app}] key `{}`: {}", self.key, self.message),
            Form::Section => format!("{file}: {}", self.message),
            Form::Legacy => match table.and_then(legacy_keys) {
                Some(all) => format!("{file}: [{app}] {all}"),
                None => format!("{file}: [{app}] key `{}`: {}", self.key, self.message),
            },
            Form::Unknown => format!("{file}: [{app}] unknown key `{}` ignored", self.key),
        }
    }
}

/// The outcome of checking one section: the spec when nothing but warnings was found.
#[derive(Debug, Clone)]
pub struct Checked {
    pub spec: Option<AppSpec>,
    pub problems: Vec<Problem>,
}

/// Problems found so far in one section.
struct Found<'a> {
    app: &'a str,
    problems: Vec<Problem>,
}

impl Found<'_> {
    fn push(&mut self, key: &str, message: String, form: Form) {
        self.problems.push(Problem {
            app: self.app.to_string(),
            key: key.to_string(),
            message,
            warning: form == Form::Unknown,
            form,
        });
    }

    /// The value, or the problem noted under `key`.
    fn take<T>(&mut self, key: &str, r: Result<T, String>) -> Option<T> {
        r.map_err(|why| self.push(key, why, Form::Key)).ok()
    }
}

/// Check the section `app` of `doc` (the file `file`) by every rule.
pub fn check(file: &str, doc: &toml::Table, app: &str) -> Checked {
    let mut f = Found {
        app,
        problems: Vec::new(),
    };
    let table = match doc.get(app) {
        Some(toml::Value::Table(t)) => t,
        Some(v) => {
            let why = format!("`{app}` must be a table `[{app}]`, found {}", v.type_str());
            f.push("", why, Form::Section);
            return Checked {
                spec: None,
                problems: f.problems,
            };
        }
        None => {
            let why = format!(
                "no [{app}] section; add one with code_url, code_commit_hash and code_local_path"
            );
            f.push("", why, Form::Section);
            return Checked {
                spec: None,
                problems: f.problems,
            };
        }
    };
    for key in LEGACY_KEYS.iter().filter(|k| table.contains_key(**k)) {
        let why = "was removed; write `config_files = [ { src = \"<path in this repo>\", dst = \"/absolute/path\" } ]` instead";
        f.push(key, why.into(), Form::Legacy);
    }
    for key in table.keys() {
        if !KNOWN_KEYS.contains(&key.as_str()) && !LEGACY_KEYS.contains(&key.as_str()) {
            f.push(
                key,
                "unknown key; the agent ignores it (a typo?)".into(),
                Form::Unknown,
            );
        }
    }
    let code_url = f.take(
        "code_url",
        req_str(table, "code_url", "git@github.com:org/app.git"),
    );
    let code_commit_hash = f.take(
        "code_commit_hash",
        req_str(table, "code_commit_hash", "<commit id or tag>"),
    );
    let code_local_path = req_str(table, "code_local_path", "/srv/app")
        .and_then(|p| absolute_path(&p))
        .and_then(|p| match p == Path::new("/") {
            true => Err("must not be `/`; name the app's own folder".into()),
            false => Ok(p),
        });
    let code_local_path = f.take("code_local_path", code_local_path);
    let config_files = config_files(table, &mut f);
    let command_timeout = f.take("command_timeout", seconds(table, "command_timeout"));
    let safe = safe_keys(table, &mut f);
    let pre = f.take(
        "pre_updation_command",
        command(table, "pre_updation_command"),
    );
    let post = f.take(
        "post_updation_command",
        command(table, "post_updation_command"),
    );
    if let Some(pin) = &code_commit_hash {
        f.take("code_commit_hash", pin_form(pin));
    }
    let spec = match (
        code_url,
        code_commit_hash,
        code_local_path,
        config_files,
        command_timeout,
        safe,
        pre,
        post,
    ) {
        (
            Some(code_url),
            Some(code_commit_hash),
            Some(code_local_path),
            Some(config_files),
            Some(command_timeout),
            Some(safe),
            Some(pre),
            Some(post),
        ) if f.problems.iter().all(|p| p.warning) => Some(AppSpec {
            code_url: crate::url::Url::new(code_url),
            code_commit_hash,
            code_local_path,
            config_files,
            pre_updation_command: pre,
            post_updation_command: post,
            command_timeout,
            safe,
            section: super::section::canonical(table),
            warnings: f
                .problems
                .iter()
                .map(|p| p.agent_text(file, None))
                .collect(),
        }),
        _ => None,
    };
    Checked {
        spec,
        problems: f.problems,
    }
}

fn req_str(table: &toml::Table, key: &str, example: &str) -> Result<String, String> {
    match table.get(key) {
        Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Some(v) => Err(format!(
            "must be a non-empty string, found {}; e.g. `{key} = \"{example}\"`",
            v.type_str()
        )),
        None => Err(format!("missing; add `{key} = \"{example}\"`")),
    }
}

/// An optional shell command (an empty one is none).
fn command(table: &toml::Table, key: &str) -> Result<Option<String>, String> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(format!(
            "must be a string (a shell command), found {}",
            v.type_str()
        )),
    }
}

/// `config_files`: every entry checked; `None` when any entry is bad.
fn config_files(table: &toml::Table, f: &mut Found) -> Option<Vec<ConfigFile>> {
    let items = match table.get("config_files") {
        None => return Some(Vec::new()),
        Some(toml::Value::Array(items)) => items,
        Some(v) => {
            let why = format!(
                "must be an array of `{{ src, dst }}` tables, found {}",
                v.type_str()
            );
            f.push("config_files", why, Form::Key);
            return None;
        }
    };
    let before = f.problems.len();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = format!("config_files[{i}]");
        let Some(t) = item.as_table() else {
            f.push(
                &key,
                "must be a table `{ src = \"...\", dst = \"/...\" }`".into(),
                Form::Key,
            );
            continue;
        };
        let field = |name: &str| match t.get(name) {
            Some(toml::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err("missing or not a non-empty string".to_string()),
        };
        let src = field("src").and_then(|s| check_src(&s).map(|()| s));
        let src = f.take(&format!("{key}.src"), src);
        let dst = f.take(
            &format!("{key}.dst"),
            field("dst").and_then(|d| absolute_path(&d)),
        );
        let mode = match t.get("mode") {
            None => Ok(None),
            Some(toml::Value::String(m)) => parse_mode(m).map(Some),
            Some(v) => Err(format!(
                "must be an octal string like \"0600\", found {}",
                v.type_str()
            )),
        };
        let mode = f.take(&format!("{key}.mode"), mode);
        if let (Some(src), Some(dst), Some(mode)) = (src, dst, mode) {
            out.push(ConfigFile { src, dst, mode });
        }
    }
    (f.problems.len() == before).then_some(out)
}

/// `Some(seconds)` of a positive whole-number key, `None` when absent.
pub(super) fn seconds(table: &toml::Table, key: &str) -> Result<Option<Duration>, String> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::Integer(n)) if *n > 0 && *n <= 365 * 86_400 => {
            Ok(Some(Duration::from_secs(*n as u64)))
        }
        Some(v) => Err(format!(
            "must be a whole number of seconds > 0, found {}; e.g. `{key} = 60`",
            crate::text::clip(&v.to_string())
        )),
    }
}

/// The SPEC §12 keys of one section; `None` when any is bad.
fn safe_keys(table: &toml::Table, f: &mut Found) -> Option<SafeKeys> {
    let before = f.problems.len();
    let flag = |key: &str| match table.get(key) {
        None => Ok(false),
        Some(toml::Value::Boolean(b)) => Ok(*b),
        Some(v) => Err(format!(
            "must be true or false, found {}; e.g. `{key} = true`",
            v.type_str()
        )),
    };
    let health = match f
        .take("health_command", command(table, "health_command"))
        .flatten()
    {
        None => None,
        Some(command) => {
            let timeout = f.take("health_timeout", seconds(table, "health_timeout"));
            let retries = match table.get("health_retries") {
                None => Ok(3),
                Some(toml::Value::Integer(n)) if (1..=100).contains(n) => Ok(*n as u32),
                Some(v) => Err(format!("must be the number of tries in all, 1 to 100, found {}; e.g. `health_retries = 3`", crate::text::clip(&v.to_string()))),
            };
            let retries = f.take("health_retries", retries);
            Some(HealthCheck {
                command,
                timeout: timeout.flatten().unwrap_or(Duration::from_secs(60)),
                retries: retries.unwrap_or(3),
            })
        }
    };
    let update_lock = match table.get("update_lock") {
        None => Ok(None),
        Some(toml::Value::String(p)) => absolute_path(p).map(Some),
        Some(v) => Err(format!(
            "must be an absolute path, found {}; e.g. `update_lock = \"/run/web/updates.lock\"`",
            v.type_str()
        )),
    };
    let update_lock = f.take("update_lock", update_lock).flatten();
    let update_windows = table.get("update_windows").map(window_list).transpose();
    let update_windows = f.take("update_windows", update_windows).flatten();
    let paused = f.take("paused", flag("paused")).unwrap_or(false);
    let remove_command = f
        .take("remove_command", command(table, "remove_command"))
        .flatten();
    let prune_code = f.take("prune_code", flag("prune_code")).unwrap_or(false);
    (f.problems.len() == before).then_some(SafeKeys {
        health,
        paused,
        update_lock,
        update_windows,
        remove_command,
        prune_code,
    })
}

/// `code_commit_hash` names something a clone can ever resolve: a commit id (4 to 40 hex
/// digits) or a tag/branch name git accepts (`git check-ref-format`).
pub fn pin_form(pin: &str) -> Result<(), String> {
    // (what a message may show of the value; made only for a message)
    let shown = || crate::text::clip(&pin.escape_debug().to_string()).into_owned();
    let hex = pin.bytes().all(|b| b.is_ascii_hexdigit());
    if hex && pin.len() > 40 {
        return Err(format!(
            "\"{}\" has {} hex digits; a commit id has 40 (or at least 4, abbreviated); write `git rev-parse <commit>`'s output",
            shown(),
            pin.len()
        ));
    }
    let bad_char = pin
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c));
    let bad_part = pin
        .split('/')
        .any(|p| p.is_empty() || p.starts_with('.') || p.ends_with(".lock"));
    if bad_char
        || bad_part
        || pin.contains("..")
        || pin.contains("@{")
        || pin == "@"
        || pin.starts_with('-')
        || pin.ends_with('.')
    {
        return Err(format!(
            "\"{}\" is neither a commit id (4 to 40 hex digits) nor a tag or branch name (no spaces, `~^:?*[\\`, `..`, `@{{` or leading `-`); write `git rev-parse <commit>`'s output or the tag",
            shown()
        ));
    }
    Ok(())
}
