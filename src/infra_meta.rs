//! `<infra_name>/infra_meta.toml` in the deploy repo (SPEC §4, §8): one table per app.
//! Pure parsing and validation; a bad section fails only its own app.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Kind, Result};

/// What one app must look like on this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    pub code_url: String,
    pub code_commit_hash: String,
    pub code_local_path: PathBuf,
    pub config_files: Vec<ConfigFile>,
    pub pre_updation_command: Option<String>,
    pub post_updation_command: Option<String>,
    pub command_timeout: Option<Duration>,
    /// The section as canonical TOML: what "the section changed since the last apply" compares.
    pub section: String,
    pub warnings: Vec<String>,
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

/// The validated section of `app`.
pub fn app_spec(file: &str, doc: &toml::Table, app: &str) -> Result<AppSpec> {
    let err = |key: &str, what: &str| {
        Error::new(
            Kind::Invalid,
            format!("{file}: [{app}] key `{key}`: {what}"),
        )
    };
    let table = match doc.get(app) {
        Some(toml::Value::Table(t)) => t,
        Some(v) => return Err(Error::new(Kind::Invalid, format!("{file}: `{app}` must be a table `[{app}]`, found {}", v.type_str()))),
        None => {
            return Err(Error::new(Kind::Invalid, format!(
                "{file}: no [{app}] section; add one with code_url, code_commit_hash and code_local_path"
            )))
        }
    };
    if let Some(e) = legacy_keys(table) {
        return Err(Error::new(Kind::Invalid, format!("{file}: [{app}] {e}")));
    }
    let mut warnings = Vec::new();
    for key in table.keys() {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            warnings.push(format!("{file}: [{app}] unknown key `{key}` ignored"));
        }
    }
    let req_str = |key: &str, example: &str| -> Result<String> {
        match table.get(key) {
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Some(v) => Err(err(
                key,
                &format!(
                    "must be a non-empty string, found {}; e.g. `{key} = \"{example}\"`",
                    v.type_str()
                ),
            )),
            None => Err(err(key, &format!("missing; add `{key} = \"{example}\"`"))),
        }
    };
    let opt_str = |key: &str| -> Result<Option<String>> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(err(
                key,
                &format!("must be a string (a shell command), found {}", v.type_str()),
            )),
        }
    };
    let code_url = req_str("code_url", "git@github.com:org/app.git")?;
    let code_commit_hash = req_str("code_commit_hash", "<commit id or tag>")?;
    let local = req_str("code_local_path", "/srv/app")?;
    let code_local_path = absolute_path(&local).map_err(|why| err("code_local_path", &why))?;
    if code_local_path == Path::new("/") {
        return Err(err(
            "code_local_path",
            "must not be `/`; name the app's own folder",
        ));
    }

    let mut config_files = Vec::new();
    match table.get("config_files") {
        None => {}
        Some(toml::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let key = format!("config_files[{i}]");
                let t = item.as_table().ok_or_else(|| {
                    err(&key, "must be a table `{ src = \"...\", dst = \"/...\" }`")
                })?;
                let field = |name: &str| -> Result<String> {
                    match t.get(name) {
                        Some(toml::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                        _ => Err(err(
                            &format!("{key}.{name}"),
                            "missing or not a non-empty string",
                        )),
                    }
                };
                let src = field("src")?;
                check_src(&src).map_err(|why| err(&format!("{key}.src"), &why))?;
                let dst = absolute_path(&field("dst")?)
                    .map_err(|why| err(&format!("{key}.dst"), &why))?;
                let mode = match t.get("mode") {
                    None => None,
                    Some(toml::Value::String(m)) => {
                        Some(parse_mode(m).map_err(|why| err(&format!("{key}.mode"), &why))?)
                    }
                    Some(v) => {
                        return Err(err(
                            &format!("{key}.mode"),
                            &format!(
                                "must be an octal string like \"0600\", found {}",
                                v.type_str()
                            ),
                        ))
                    }
                };
                config_files.push(ConfigFile { src, dst, mode });
            }
        }
        Some(v) => {
            return Err(err(
                "config_files",
                &format!(
                    "must be an array of `{{ src, dst }}` tables, found {}",
                    v.type_str()
                ),
            ))
        }
    }
    let command_timeout = match table.get("command_timeout") {
        None => None,
        Some(toml::Value::Integer(n)) if *n > 0 && *n <= 365 * 86_400 => {
            Some(Duration::from_secs(*n as u64))
        }
        Some(v) => {
            return Err(err(
                "command_timeout",
                &format!("must be a whole number of seconds > 0, found {v}"),
            ))
        }
    };
    Ok(AppSpec {
        code_url,
        code_commit_hash,
        code_local_path,
        config_files,
        pre_updation_command: opt_str("pre_updation_command")?,
        post_updation_command: opt_str("post_updation_command")?,
        command_timeout,
        section: toml::to_string(table).unwrap_or_default(),
        warnings,
    })
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
    if p.chars().any(char::is_control) {
        return Err(format!(
            "\"{}\" contains control characters",
            p.escape_debug()
        ));
    }
    let path = Path::new(p);
    if !path.is_absolute() {
        return Err(format!("\"{p}\" must be an absolute path (start with `/`)"));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(format!("\"{p}\" must not contain `..`"));
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
    if path.is_absolute() {
        return Err(format!(
            "\"{src}\" must be relative to the deploy repo root, e.g. \"edge-17/app.env\""
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
                "\"{src}\" leaves the deploy repo; name a file inside it"
            ));
        }
    }
    if depth == 0 {
        return Err(format!("\"{src}\" names no file"));
    }
    if src.chars().any(char::is_control) {
        return Err(format!(
            "\"{}\" contains control characters",
            src.escape_debug()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: &str = "/d/edge/infra_meta.toml";

    fn spec(text: &str) -> Result<AppSpec> {
        app_spec(F, &parse_file(F, text.as_bytes()).unwrap(), "web")
    }

    #[test]
    fn full_section() {
        let s = spec(
            r#"[web]
code_url = "git@h:o/web.git"
code_commit_hash = "4f1c2e9"
code_local_path = "/srv/web"
config_files = [ { src = "edge/web.env", dst = "/srv/web/.env" } ]
pre_updation_command = "echo pre"
post_updation_command = "echo post"
command_timeout = 10
"#,
        )
        .unwrap();
        assert_eq!(s.code_local_path, PathBuf::from("/srv/web"));
        assert_eq!(
            s.config_files,
            vec![ConfigFile {
                src: "edge/web.env".into(),
                dst: "/srv/web/.env".into(),
                mode: None,
            }]
        );
        assert_eq!(s.command_timeout, Some(Duration::from_secs(10)));
        assert!(s.section.contains("4f1c2e9"));
    }

    #[test]
    fn legacy_keys_show_the_new_form() {
        let e = spec("[web]\ncode_url = \"u\"\ncode_commit_hash = \"c\"\ncode_local_path = \"/a\"\nconfig_src_path_rel_in_this_repo = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config_src_path_rel_in_this_repo") && e.contains("config_files = ["),
            "{e}"
        );
    }

    #[test]
    fn legacy_key_alone_is_named_like_any_bad_key() {
        let e = spec("[web]\nconfig_dst_path_abs = \"/x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!(
                "{F}: [web] key `config_dst_path_abs`: was removed"
            )),
            "{e}"
        );
    }

    #[test]
    fn both_legacy_keys_are_named_in_one_error() {
        let e = spec("[web]\ncode_url = \"u\"\ncode_commit_hash = \"c\"\ncode_local_path = \"/a\"\nconfig_src_path_rel_in_this_repo = \"x\"\nconfig_dst_path_abs = \"/x\"\n")
            .unwrap_err();
        assert_eq!(e.kind(), Kind::Invalid);
        let e = e.to_string();
        assert!(
            e.contains(
                "keys `config_src_path_rel_in_this_repo` and `config_dst_path_abs`: were removed"
            ) && e.contains("config_files = ["),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_file_app_and_key() {
        let base = "[web]\ncode_url = \"u\"\ncode_commit_hash = \"c\"\n";
        for (extra, key) in [
            ("code_local_path = \"srv\"", "code_local_path"),
            ("code_local_path = \"/\"", "code_local_path"),
            ("", "code_local_path"),
            ("code_local_path = 5", "code_local_path"),
            ("code_local_path = \"/a\"\nconfig_files = [ { src = \"../x\", dst = \"/e\" } ]", "config_files[0].src"),
            ("code_local_path = \"/a\"\nconfig_files = [ { src = \"/etc/x\", dst = \"/e\" } ]", "config_files[0].src"),
            ("code_local_path = \"/a\"\nconfig_files = [ { src = \"a/../../x\", dst = \"/e\" } ]", "config_files[0].src"),
            ("code_local_path = \"/a\"\nconfig_files = [ { src = \"x\", dst = \"rel\" } ]", "config_files[0].dst"),
            ("code_local_path = \"/a\"\nconfig_files = \"x\"", "config_files"),
            ("code_local_path = \"/a\"\npost_updation_command = 1", "post_updation_command"),
            ("code_local_path = \"/a\"\ncommand_timeout = 0", "command_timeout"),
        ] {
            let e = spec(&format!("{base}{extra}\n")).unwrap_err().to_string();
            assert!(e.starts_with(&format!("{F}: [web] key `{key}`")), "{extra}: {e}");
        }
    }

    #[test]
    fn config_file_mode_is_an_octal_string_of_permission_bits() {
        let base = "[web]\ncode_url = \"u\"\ncode_commit_hash = \"c\"\ncode_local_path = \"/a\"\n";
        for (m, want) in [("0600", 0o600), ("640", 0o640), ("0755", 0o755)] {
            let s = spec(&format!(
                "{base}config_files = [ {{ src = \"x\", dst = \"/e\", mode = \"{m}\" }} ]\n"
            ))
            .unwrap();
            assert_eq!(s.config_files[0].mode, Some(want), "{m}");
        }
        for m in [
            "\"4755\"",
            "\"0o600\"",
            "\"800\"",
            "\"60\"",
            "\"rw\"",
            "600",
            "\"+600\"",
        ] {
            let e = spec(&format!(
                "{base}config_files = [ {{ src = \"x\", dst = \"/e\", mode = {m} }} ]\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(
                e.starts_with(&format!("{F}: [web] key `config_files[0].mode`")),
                "{m}: {e}"
            );
        }
    }

    #[test]
    fn missing_section_and_unknown_keys() {
        let doc = parse_file(F, b"[other]\n").unwrap();
        assert!(app_spec(F, &doc, "web")
            .unwrap_err()
            .to_string()
            .contains("no [web] section"));
        let s = spec("[web]\ncode_url = \"u\"\ncode_commit_hash = \"c\"\ncode_local_path = \"/a\"\nnew_key = 1\n").unwrap();
        assert_eq!(s.warnings.len(), 1);
    }

    #[test]
    fn non_utf8_file_is_named() {
        let e = parse_file(F, b"[web]\nx = \"\xfe\"")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(F) && e.contains("UTF-8"), "{e}");
    }
}
