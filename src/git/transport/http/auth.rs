//! http credentials: the Basic `Authorization` header from the url's userinfo or
//! `https_password_file`, and `Proxy-Authorization` from a proxy url. Values are kept in
//! [`Secret`], whose `Debug` never shows them.

use std::fmt;
use std::path::Path;

use base64::Engine as _;

use crate::error::{Context, Kind, Result};
use crate::git::NetOptions;

/// The Basic-auth user sent when only a password/token is known (from `https_password_file`,
/// or a url like `https://:token@host/...`). GitHub, GitLab (personal/project tokens) and Gitea
/// accept any user name with a token; servers that need a specific user get it from the url:
/// `https://deploy-bot@host/org/repo.git` plus the token in the password file.
pub const DEFAULT_USER: &str = "git";

/// A value that must never be printed (its `Debug` shows `***`).
#[derive(Clone)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The Basic Authorization header value, if the url or the password file give credentials.
/// A password in the url wins over the file; a user in the url wins over `DEFAULT_USER`.
/// The file goes only where [`may_get_password_file`] says (SPEC §10); the url's own
/// userinfo only to that url's host (each request goes to it alone: no redirect is followed).
pub fn basic_auth(url: &gix::url::Url, net: &NetOptions) -> Result<Option<Secret>> {
    let user = url.user().filter(|u| !u.is_empty());
    let password = match (url.password(), &net.https_password_file) {
        (Some(p), _) => Some(p.to_string()),
        // The agent config names the file: what is wrong with it is a config error.
        (None, Some(file)) if may_get_password_file(url, &net.credential_hosts) => {
            Some(read_password_file(file).map_err(|e| e.with_kind(Kind::Config))?)
        }
        (None, Some(_)) => {
            log::debug!(
                "http: https_password_file is not sent to {} (https only, to the deploy repos' hosts and https_credential_hosts)",
                url.host().unwrap_or_default()
            );
            None
        }
        (None, None) => None,
    };
    let pair = match (user, password) {
        (None, None) => return Ok(None),
        (user, password) => format!(
            "{}:{}",
            user.unwrap_or(DEFAULT_USER),
            password.unwrap_or_default()
        ),
    };
    Ok(Some(Secret(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    ))))
}

/// Whether `https_password_file` may be sent for `url`: only over https, only to one of
/// `hosts` (the deploy repos' hosts and `https_credential_hosts`, lowercase).
pub fn may_get_password_file(url: &gix::url::Url, hosts: &[String]) -> bool {
    url.scheme == gix::url::Scheme::Https
        && url
            .host()
            .is_some_and(|h| hosts.iter().any(|allowed| h.eq_ignore_ascii_case(allowed)))
}

/// The token in `path`: the file's text without its trailing line break. The error names the
/// file, never its content.
fn read_password_file(path: &Path) -> Result<String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read https_password_file {shown}"))?;
    let token = text.trim_end_matches(['\r', '\n']);
    if token.is_empty() {
        crate::bail!("https_password_file {shown} is empty");
    }
    if token.contains(['\r', '\n']) {
        crate::bail!("https_password_file {shown} must hold a single line (the password or token)");
    }
    Ok(token.to_string())
}

/// Basic credentials from a proxy url's `user:password@`, as ureq reads them (not decoded).
pub fn proxy_basic_auth(proxy: &str) -> Option<Secret> {
    let rest = proxy.split_once("://").map_or(proxy, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (user, password) = userinfo.split_once(':')?;
    Some(Secret(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> gix::url::Url {
        gix::url::parse(gix::bstr::BStr::new(s)).expect("valid url")
    }

    #[test]
    fn credentials_from_url_and_file() {
        let net = NetOptions::default();
        let decode = |s: Option<Secret>| {
            let b64 = s
                .expect("credentials")
                .0
                .trim_start_matches("Basic ")
                .to_string();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("b64"),
            )
            .expect("utf8")
        };
        assert_eq!(
            decode(basic_auth(&url("https://u:p%40ss@h/r"), &net).unwrap()),
            "u:p@ss"
        );
        assert_eq!(
            decode(basic_auth(&url("https://tok@h/r"), &net).unwrap()),
            "tok:"
        );
        assert!(basic_auth(&url("https://h/r"), &net).unwrap().is_none());

        let dir =
            std::env::temp_dir().join(format!("gitops-agent-http-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        let net = NetOptions {
            https_password_file: Some(file.clone()),
            credential_hosts: vec!["h".into()],
            ..Default::default()
        };
        assert_eq!(
            decode(basic_auth(&url("https://h/r"), &net).unwrap()),
            "git:s3cret"
        );
        assert_eq!(
            decode(basic_auth(&url("https://bot@h/r"), &net).unwrap()),
            "bot:s3cret"
        );
        assert_eq!(
            decode(basic_auth(&url("https://bot:inurl@h/r"), &net).unwrap()),
            "bot:inurl"
        );
        std::fs::write(&file, "\n").unwrap();
        let err = basic_auth(&url("https://h/r"), &net).unwrap_err();
        assert_eq!(err.kind(), Kind::Config);
        let err = err.to_string();
        assert!(err.contains("is empty"), "{err}");
        std::fs::write(&file, "a\nb\n").unwrap();
        let err = basic_auth(&url("https://h/r"), &net)
            .unwrap_err()
            .to_string();
        assert!(err.contains("single line"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn password_file_goes_only_over_https_to_the_listed_hosts() {
        let hosts = vec!["git.example.com".to_string()];
        assert!(may_get_password_file(
            &url("https://git.example.com/o/r"),
            &hosts
        ));
        assert!(may_get_password_file(
            &url("https://GIT.example.com:8443/o/r"),
            &hosts
        ));
        assert!(!may_get_password_file(
            &url("http://git.example.com/o/r"),
            &hosts
        ));
        assert!(!may_get_password_file(
            &url("https://evil.example.com/o/r"),
            &hosts
        ));
        assert!(!may_get_password_file(
            &url("https://git.example.com.evil/o/r"),
            &hosts
        ));
        assert!(!may_get_password_file(
            &url("https://git.example.com/o/r"),
            &[]
        ));
        // the file is never even read for another host
        let net = NetOptions {
            https_password_file: Some("/nonexistent/token".into()),
            credential_hosts: hosts,
            ..Default::default()
        };
        assert!(basic_auth(&url("https://other/r"), &net).unwrap().is_none());
        assert!(basic_auth(&url("http://git.example.com/r"), &net)
            .unwrap()
            .is_none());
        assert!(basic_auth(&url("https://git.example.com/r"), &net).is_err());
    }

    #[test]
    fn secret_debug_is_hidden() {
        assert_eq!(format!("{:?}", Secret("tok".into())), "***");
    }

    #[test]
    fn proxy_credentials_from_its_url() {
        let auth = proxy_basic_auth("http://u:p@proxy:3128").expect("credentials");
        assert_eq!(auth.0, "Basic dTpw");
        assert!(proxy_basic_auth("http://proxy:3128").is_none());
    }
}
