//! `gitops-agent validate PATH [--infra NAME]... [--json]` (SPEC §13): offline checks of a
//! deploy-repo checkout, made for CI. Every `*/infra_meta.toml` (or those of `--infra`) is
//! checked by the agent's own rules (`infra_meta::check`, `config::check_name`,
//! `paths::rules::code_folder`) plus what only the checkout can tell: each config `src`
//! exists in it. No git, no network, nothing written. Findings are data (`Finding`),
//! printed as `file:line: [app] key: message` or as JSON (`json`); `lines` finds the line.

pub mod json;
pub mod lines;

use std::path::{Path, PathBuf};

use argh::FromArgs;

use crate::error::{Error, Kind, Result};
use crate::{config, files, infra_meta, paths};

/// check a deploy-repo checkout offline (for CI): every <infra>/infra_meta.toml by the
/// agent's own rules; one line per problem `file:line: [app] key: message`
#[derive(FromArgs, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "validate",
    note = "Needs no git, no network and no agent config. Unknown keys are reported too (the agent ignores them: often a typo).",
    error_code(0, "no problem found"),
    error_code(1, "problems found (listed on stdout)"),
    error_code(2, "unusable input: PATH is not a folder, no */infra_meta.toml in it, or an unknown --infra name")
)]
pub struct Validate {
    /// the deploy repo checkout (a plain folder)
    #[argh(positional, arg_name = "PATH")]
    pub path: PathBuf,
    /// check only this infra's folder (repeatable; default: every folder with an infra_meta.toml)
    #[argh(option, arg_name = "NAME")]
    pub infra: Vec<String>,
    /// print the problems as a JSON array of {file, line, app, key, message, warning}
    #[argh(switch)]
    pub json: bool,
}

/// One problem, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Relative to the checked folder.
    pub file: String,
    pub line: usize,
    /// Empty when the file as a whole is at fault (unreadable, invalid TOML).
    pub app: String,
    /// Empty when the section (or file) itself is at fault.
    pub key: String,
    pub message: String,
    /// An unknown key: the agent ignores it, `validate` still reports it.
    pub warning: bool,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:", self.file, self.line)?;
        if !self.app.is_empty() {
            write!(f, " [{}]", self.app)?;
        }
        if !self.key.is_empty() {
            write!(f, " {}:", self.key)?;
        }
        // (one line per problem: a newline in a message would break a CI log's reading)
        write!(f, " {}", self.message.replace('\n', " "))
    }
}

/// Run `validate` with `home` as the agent home the code-folder rule keeps apps out of.
/// `Ok(true)`: clean; `Ok(false)`: problems printed; `Err(Config)`: unusable input.
pub fn run(v: &Validate, home: &Path) -> Result<bool> {
    let root = std::fs::canonicalize(&v.path)
        .ok()
        .filter(|p| p.is_dir())
        .ok_or_else(|| {
            Error::new(
                Kind::Config,
                format!(
                    "{}: not a folder; give the path of a deploy repo checkout",
                    v.path.display()
                ),
            )
        })?;
    let mut findings = Vec::new();
    let infras = infra_files(&root, &v.infra)?;
    for infra in &infras {
        let rel = format!("{infra}/infra_meta.toml");
        let bytes = std::fs::read(root.join(&rel)).map_err(|e| {
            Error::new(
                Kind::Config,
                format!("{}: cannot read ({e})", root.join(&rel).display()),
            )
        })?;
        let src_exists = |src: &str| {
            match files::resolve_src(&root, src) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(format!(
                "\"{}\" does not exist in the deploy repo (the agent skips this entry); add the file or fix the path",
                crate::text::clip(src)
            )),
            Err(e) => Err(e.to_string()),
        }
        };
        findings.extend(check_file(&rel, &bytes, home, &src_exists));
    }
    if v.json {
        println!("{}", json::render(&findings));
    } else {
        for f in &findings {
            println!("{f}");
        }
    }
    eprintln!(
        "validate: {} problem(s) in {} infra_meta.toml file(s) under {}",
        findings.len(),
        infras.len(),
        v.path.display()
    );
    Ok(findings.is_empty())
}

/// The infra folders to check: those named (each must hold an `infra_meta.toml`), else every
/// folder of `root` that holds one, sorted.
fn infra_files(root: &Path, named: &[String]) -> Result<Vec<String>> {
    let has_meta = |name: &str| root.join(name).join("infra_meta.toml").is_file();
    let mut found: Vec<String> = std::fs::read_dir(root)
        .map_err(|e| {
            Error::new(
                Kind::Config,
                format!("{}: cannot list ({e})", root.display()),
            )
        })?
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.') && has_meta(n))
        .collect();
    found.sort();
    if named.is_empty() {
        if found.is_empty() {
            return Err(Error::new(
                Kind::Config,
                format!(
                    "{}: no <infra>/infra_meta.toml in this folder; give the root of a deploy repo checkout",
                    root.display()
                ),
            ));
        }
        return Ok(found);
    }
    for name in named {
        if config::check_name(name).is_err() || !has_meta(name) {
            return Err(Error::new(
                Kind::Config,
                format!(
                    "--infra {}: no {}/infra_meta.toml under {}; infras here: {}",
                    crate::text::clip(&name.escape_debug().to_string()),
                    crate::text::clip(&name.escape_debug().to_string()),
                    root.display(),
                    if found.is_empty() {
                        "none".into()
                    } else {
                        found.join(", ")
                    }
                ),
            ));
        }
    }
    Ok(named.to_vec())
}

/// Every problem of one `infra_meta.toml` (`file`: its path relative to the checkout, for
/// the lines; `bytes`: its content), sorted by line. `src_exists` says whether a config
/// `src` is in the checkout; `home` is the agent home of the code-folder rule.
pub fn check_file(
    file: &str,
    bytes: &[u8],
    home: &Path,
    src_exists: &dyn Fn(&str) -> std::result::Result<(), String>,
) -> Vec<Finding> {
    let whole = |line: usize, message: String| Finding {
        file: file.into(),
        line,
        app: String::new(),
        key: String::new(),
        message,
        warning: false,
    };
    let doc = match infra_meta::parse_file(file, bytes) {
        Ok(doc) => doc,
        Err(e) => {
            // (the file's name leads the agent's message; the line says it here)
            let message = e.to_string();
            let message = message
                .strip_prefix(&format!("{file}: "))
                .unwrap_or(&message);
            return vec![whole(toml_error_line(bytes), message.to_string())];
        }
    };
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut add = |app: &str, key: &str, message: String, warning: bool| {
        out.push(Finding {
            file: file.into(),
            line: lines::line_of(&text, app, key),
            app: app.into(),
            key: key.into(),
            message,
            warning,
        });
    };
    for (app, value) in &doc {
        if app == "allow_empty" {
            if !value.is_bool() {
                let why = format!(
                    "must be true or false, found {}; e.g. `allow_empty = true`",
                    value.type_str()
                );
                add(app, "", why, false);
            }
            continue;
        }
        if let Err(why) = config::check_name(app) {
            let why = format!("section name {why}; rename the section (it becomes a file name)");
            add(app, "", why, false);
        }
        let checked = infra_meta::check(file, &doc, app);
        for p in &checked.problems {
            add(app, &p.key, p.message.clone(), p.warning);
        }
        let Some(table) = value.as_table() else {
            continue;
        };
        let fine = |key: &str| !checked.problems.iter().any(|p| p.key == key);
        if let (Some(path), true) = (
            checked.spec.as_ref().map(|s| &s.code_local_path),
            fine("code_local_path"),
        ) {
            if let Err(why) = paths::rules::code_folder(path, path, home, home) {
                add(
                    app,
                    "code_local_path",
                    format!("{} {why}", path.display()),
                    false,
                );
            }
        }
        let items = table.get("config_files").and_then(toml::Value::as_array);
        for (i, item) in items.into_iter().flatten().enumerate() {
            let key = format!("config_files[{i}].src");
            if let (Some(src), true) = (item.get("src").and_then(toml::Value::as_str), fine(&key)) {
                if let Err(why) = src_exists(src) {
                    add(app, &key, why, false);
                }
            }
        }
    }
    out.sort_by_key(|f| f.line);
    out
}

/// The line of a TOML syntax error (1 when it cannot be told).
fn toml_error_line(bytes: &[u8]) -> usize {
    let text = String::from_utf8_lossy(bytes);
    match text.parse::<toml::Table>() {
        Err(e) => e.span().map_or(1, |s| {
            let end = s.start.min(text.len());
            text.get(..end).map_or(1, |t| t.matches('\n').count() + 1)
        }),
        Ok(_) => 1, // not UTF-8: the error is not about a line
    }
}

#[cfg(test)]
mod tests;
