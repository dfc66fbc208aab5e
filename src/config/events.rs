//! The agent config's event keys (SPEC §13): `on_event_command`, `webhook_url`,
//! `webhook_token_file`. Every error names the file, the key and the fix; the token itself
//! is never read here except to check it can be (`load`), and never shown.

use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Kind, Result};
use crate::url;

/// Where events go. Both sinks may be set; with neither the notifier does nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notify {
    /// `sh -c` with the event JSON on stdin and `GITOPS_EVENT` set.
    pub on_event_command: Option<String>,
    /// `http://` or `https://`: a POST of the event JSON.
    pub webhook_url: Option<String>,
    /// Its content is sent as `Authorization: Bearer <token>`, read at every delivery.
    pub webhook_token_file: Option<PathBuf>,
}

impl Notify {
    /// At least one sink is configured.
    pub fn any(&self) -> bool {
        self.on_event_command.is_some() || self.webhook_url.is_some()
    }
}

/// The keys this module reads.
pub const KEYS: [&str; 3] = ["on_event_command", "webhook_url", "webhook_token_file"];

/// The event keys of `table` (the config `file`); a bearer token over plain http is a warning.
pub fn parse(table: &toml::Table, file: &str, warnings: &mut Vec<String>) -> Result<Notify> {
    let err = |key: &str, what: String| Error::msg(format!("{file}: key `{key}`: {what}"));
    let string = |key: &str, example: &str| -> Result<Option<String>> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(v) => Err(err(
                key,
                format!(
                    "must be a non-empty string, found {}; e.g. `{key} = {example}`",
                    v.type_str()
                ),
            )),
        }
    };
    let on_event_command = string("on_event_command", "\"/usr/local/bin/notify\"")?;
    let webhook_url = string("webhook_url", "\"https://alerts.example.com/hook\"")?;
    let webhook_token_file =
        string("webhook_token_file", "\"/etc/gitops-agent/webhook-token\"")?.map(PathBuf::from);
    if let Some(u) = &webhook_url {
        check_webhook_url(u).map_err(|why| err("webhook_url", why))?;
    }
    if let Some(p) = &webhook_token_file {
        if !p.is_absolute() {
            return Err(err(
                "webhook_token_file",
                format!(
                    "must be an absolute path, found \"{}\"",
                    crate::text::clip(&p.display().to_string())
                ),
            ));
        }
        match &webhook_url {
            None => {
                return Err(err(
                    "webhook_token_file",
                    "is set without `webhook_url`; set `webhook_url` or remove this key".into(),
                ))
            }
            Some(u) if u.starts_with("http://") => warnings.push(format!(
                "{file}: key `webhook_token_file`: the token goes to {} without TLS: anyone on the way can read it; use an https webhook_url",
                url::Url::from(u.as_str())
            )),
            Some(_) => {}
        }
    }
    Ok(Notify {
        on_event_command,
        webhook_url,
        webhook_token_file,
    })
}

/// `http(s)://host[:port]/path`, no user or password in it.
fn check_webhook_url(u: &str) -> std::result::Result<(), String> {
    let shown = url::Url::from(u);
    let parsed = gix::url::parse(gix::bstr::BStr::new(u.as_bytes()))
        .ok()
        .filter(|p| matches!(p.scheme, gix::url::Scheme::Http | gix::url::Scheme::Https))
        .filter(|p| p.host().is_some_and(|h| !h.is_empty()));
    let Some(parsed) = parsed else {
        return Err(format!(
            "\"{shown}\" is not an http:// or https:// url; e.g. `webhook_url = \"https://alerts.example.com/hook\"`"
        ));
    };
    if parsed.user().is_some() || parsed.password().is_some() {
        return Err(format!(
            "\"{shown}\" carries a user or password; remove it from the url and put the token into `webhook_token_file` (sent as `Authorization: Bearer`)"
        ));
    }
    Ok(())
}

/// The bearer token in `path` (`webhook_token_file`): its text without the trailing line
/// break. Errors name the file and the key, never the content; their kind is `Config`.
pub fn read_token(path: &Path) -> Result<String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .with_context(|| {
            format!("webhook_token_file {shown}: cannot read it; create it with the token on one line, readable by the agent")
        })
        .map_err(|e| e.with_kind(Kind::Config))?;
    let token = text.trim_end_matches(['\r', '\n']);
    if token.is_empty() {
        crate::bail!(
            Kind::Config,
            "webhook_token_file {shown}: is empty; write the token on its first line"
        );
    }
    // A line break or control character would end the header early (header injection).
    if token.chars().any(|c| c.is_control()) {
        crate::bail!(
            Kind::Config,
            "webhook_token_file {shown}: the token holds a line break or control character; keep the token alone on one line"
        );
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> std::result::Result<(Notify, Vec<String>), String> {
        let table: toml::Table = text.parse().unwrap();
        let mut warnings = Vec::new();
        parse(&table, "/etc/c.toml", &mut warnings)
            .map(|n| (n, warnings))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn no_key_no_sink() {
        assert!(!p("").unwrap().0.any());
    }

    #[test]
    fn sinks_are_read() {
        let (n, w) = p(r#"on_event_command = "logger -t ev"
webhook_url = "https://h.example/hook?x=1"
webhook_token_file = "/etc/t""#)
        .unwrap();
        assert!(n.any() && w.is_empty());
        assert_eq!(n.on_event_command.as_deref(), Some("logger -t ev"));
        assert_eq!(n.webhook_token_file, Some(PathBuf::from("/etc/t")));
    }

    #[test]
    fn errors_name_file_key_and_fix() {
        for (text, key, fix) in [
            ("on_event_command = 3", "on_event_command", "e.g."),
            ("on_event_command = \" \"", "on_event_command", "e.g."),
            ("webhook_url = \"ftp://h/x\"", "webhook_url", "e.g."),
            ("webhook_url = \"h/x\"", "webhook_url", "e.g."),
            (
                "webhook_url = \"https://u:secret@h/x\"",
                "webhook_url",
                "webhook_token_file",
            ),
            (
                "webhook_url = \"https://h/x\"\nwebhook_token_file = \"t\"",
                "webhook_token_file",
                "absolute",
            ),
            (
                "webhook_token_file = \"/t\"",
                "webhook_token_file",
                "set `webhook_url`",
            ),
        ] {
            let e = p(text).unwrap_err();
            assert!(
                e.contains("/etc/c.toml") && e.contains(&format!("`{key}`")) && e.contains(fix),
                "{text}: {e}"
            );
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn a_token_over_plain_http_is_a_warning() {
        let (_, w) = p("webhook_url = \"http://h/x\"\nwebhook_token_file = \"/t\"").unwrap();
        assert!(w[0].contains("webhook_token_file") && w[0].contains("without TLS"));
    }

    #[test]
    fn token_file_errors_name_the_file_never_the_token() {
        let dir = std::env::temp_dir().join(format!("gitops-agent-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, "s3cret\n").unwrap();
        assert_eq!(read_token(&f).unwrap(), "s3cret");
        std::fs::write(&f, "s3cret\nX-Evil: 1\n").unwrap();
        let e = read_token(&f).unwrap_err();
        assert_eq!(e.kind(), Kind::Config);
        assert!(e.to_string().contains(&f.display().to_string()));
        assert!(!e.to_string().contains("s3cret"));
        std::fs::write(&f, "\n").unwrap();
        assert!(read_token(&f).unwrap_err().to_string().contains("empty"));
        let missing = read_token(&dir.join("none")).unwrap_err().to_string();
        assert!(missing.contains("webhook_token_file") && missing.contains("none"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
