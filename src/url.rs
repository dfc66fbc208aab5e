//! Deploy-repo urls: the `url@branch` rule, normalizing, the clone-folder slug and hash
//! (SPEC §2, §3), and removing secrets before a url is shown anywhere.

use sha2::{Digest, Sha256};

/// Split an `[applications]` value into (url, branch).
///
/// A leading scp-style `git@` is not a separator; the branch is what follows the last `@`
/// after it; with no `@` the branch is `main`.
pub fn split_branch(value: &str) -> (String, String) {
    let value = value.trim();
    let skip = if value.starts_with("git@") { 4 } else { 0 };
    match value[skip..].rfind('@') {
        Some(i) => {
            let at = skip + i;
            (value[..at].to_string(), value[at + 1..].to_string())
        }
        None => (value.to_string(), "main".to_string()),
    }
}

/// A `scheme://user[:password]@host/...` url split as (`scheme://`, `user[:password]`,
/// `host/...`); `None` for urls without userinfo (and for scp-style `git@host:path`).
///
/// The userinfo ends at the LAST `@` before any `?` or `#`, even past a `/`: a password
/// written unencoded may hold `/`, and showing too little of a rare url with `@` in its
/// path is better than showing a secret.
fn split_userinfo(url: &str) -> Option<(&str, &str, &str)> {
    let rest_start = url.find("://")? + 3;
    let rest = &url[rest_start..];
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let at = rest[..end].rfind('@')?;
    Some((&url[..rest_start], &rest[..at], &rest[at + 1..]))
}

/// The url as used for identity: trimmed, userinfo dropped from `scheme://` urls, then one
/// trailing `/` and then one trailing `.git` removed.
pub fn normalize(url: &str) -> String {
    let s = url.trim();
    let mut s = match split_userinfo(s) {
        Some((scheme, _, rest)) => format!("{scheme}{rest}"),
        None => s.to_string(),
    };
    if let Some(stripped) = s.strip_suffix('/') {
        s = stripped.to_string();
    }
    if let Some(stripped) = s.strip_suffix(".git") {
        s = stripped.to_string();
    }
    s
}

/// The url's last path (or scp `:`) segment, without a trailing `/` or `.git`.
pub fn slug(url: &str) -> String {
    let mut s = url.trim();
    s = s.strip_suffix('/').unwrap_or(s);
    s = s.strip_suffix(".git").unwrap_or(s);
    let cut = s.rfind(['/', ':']).map_or(0, |i| i + 1);
    s[cut..].to_string()
}

/// First 8 hex digits of sha256 of the normalized url.
pub fn short_hash(url: &str) -> String {
    let digest = Sha256::digest(normalize(url).as_bytes());
    crate::hex::encode(&digest[..4])
}

/// Query parameters whose values are secrets (GitLab, GitHub, Azure SAS, ...).
const SECRET_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "private_token",
    "password",
    "key",
    "sig",
];

/// The url with any password/token (and the user of `scheme://` urls that carry one) and
/// the values of secret query parameters replaced, safe for logs, errors and the feedback
/// file; at most `text::MAX_SHOWN` characters. scp-style `git@host:` is kept: that user is
/// not a secret.
pub fn redact(url: &str) -> String {
    let s = url.trim();
    let s = match split_userinfo(s) {
        Some((scheme, _, rest)) => format!("{scheme}***@{rest}"),
        None => s.to_string(),
    };
    let s = redact_query(&s);
    crate::text::clip(&s).into_owned()
}

/// `?a=1&token=x#f` -> `?a=1&token=***#f` for the names in `SECRET_PARAMS` (any case).
fn redact_query(url: &str) -> String {
    let Some(q) = url.find('?') else {
        return url.to_string();
    };
    let (head, query) = url.split_at(q + 1);
    let (query, fragment) = match query.find('#') {
        Some(h) => query.split_at(h),
        None => (query, ""),
    };
    let params: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(name)) => {
                format!("{name}=***")
            }
            _ => p.to_string(),
        })
        .collect();
    format!("{head}{}{fragment}", params.join("&"))
}

/// A remote url whose `Display` and `Debug` are redacted, so no message can show its
/// secret by accident; `secret()` gives the real url to the code that connects.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Url(String);

impl Url {
    pub fn new(url: impl Into<String>) -> Self {
        Url(url.into())
    }

    /// The url as written, secrets included: for connecting, never for showing.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The identity of the repository (`normalize`): no userinfo, so no secret but a query.
    pub fn normalized(&self) -> String {
        normalize(&self.0)
    }

    /// Whether `other` (e.g. a clone's stored origin) names the same repository.
    pub fn same_repo(&self, other: &str) -> bool {
        same_repo(&self.0, other)
    }

    /// See [`cleartext_scheme`].
    pub fn cleartext_scheme(&self) -> Option<&'static str> {
        cleartext_scheme(&self.0)
    }
}

impl From<&str> for Url {
    fn from(url: &str) -> Self {
        Url(url.to_string())
    }
}

impl From<String> for Url {
    fn from(url: String) -> Self {
        Url(url)
    }
}

/// A url gix parsed (the transports hold those), for showing: redacted like any other.
impl From<&gix::url::Url> for Url {
    fn from(url: &gix::url::Url) -> Self {
        Url(url.to_bstring().to_string())
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl std::fmt::Debug for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Url({:?})", redact(&self.0))
    }
}

/// The url as a clone's `remote.origin.url` keeps it on disk: no `user:password@` (see
/// [`without_userinfo`]) and the values of secret query parameters (`?token=`, ...) replaced
/// by `***`. The agent always fetches with the url from its config, so the stored one only
/// has to name the repository; the origin guard ([`same_repo`]) ignores those values.
pub fn stored_form(url: &str) -> String {
    redact_query(&without_userinfo(url))
}

/// `scheme://` urls without `user[:password]@`; other urls unchanged. `ssh://user@host`
/// keeps its user: it is a login name, not a secret.
pub fn without_userinfo(url: &str) -> String {
    let s = url.trim();
    match split_userinfo(s) {
        Some((scheme, userinfo, rest)) if scheme != "ssh://" || userinfo.contains(':') => {
            format!("{scheme}{rest}")
        }
        _ => s.to_string(),
    }
}

/// The scheme of `url` when it crosses the network without any integrity (`git`, `http`):
/// anyone on the way can change what is fetched, so without signature checks (SPEC §11)
/// every pass says so (SPEC §10). `None` for https, ssh, scp-style and file urls.
pub fn cleartext_scheme(url: &str) -> Option<&'static str> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("git://") {
        Some("git")
    } else if lower.starts_with("http://") {
        Some("http")
    } else {
        None
    }
}

/// Whether two urls name the same repository (used by the origin guard): equal once
/// normalized, whatever the credentials, in the userinfo or in a secret query parameter (a
/// clone stores its origin in [`stored_form`]).
pub fn same_repo(a: &str, b: &str) -> bool {
    normalize(&redact_query(a)) == normalize(&redact_query(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleartext_schemes_are_git_and_http() {
        assert_eq!(cleartext_scheme("git://h/o/d.git"), Some("git"));
        assert_eq!(cleartext_scheme(" HTTP://h/o/d"), Some("http"));
        for safe in [
            "https://h/o/d",
            "ssh://h/o/d",
            "git@h:o/d.git",
            "file:///srv/d",
        ] {
            assert_eq!(cleartext_scheme(safe), None, "{safe}");
        }
    }

    #[test]
    fn branch_after_last_at() {
        assert_eq!(
            split_branch("https://h/o/deploy.git@prod"),
            ("https://h/o/deploy.git".into(), "prod".into())
        );
        assert_eq!(
            split_branch("git@h:o/deploy.git"),
            ("git@h:o/deploy.git".into(), "main".into())
        );
        assert_eq!(
            split_branch("git@h:o/deploy.git@release"),
            ("git@h:o/deploy.git".into(), "release".into())
        );
        assert_eq!(
            split_branch("https://user@h/o/d.git@dev"),
            ("https://user@h/o/d.git".into(), "dev".into())
        );
        assert_eq!(
            split_branch("file:///srv/d"),
            ("file:///srv/d".into(), "main".into())
        );
    }

    #[test]
    fn normalize_drops_userinfo_slash_and_dot_git() {
        assert_eq!(normalize(" https://tok@h/o/r.git "), "https://h/o/r");
        assert_eq!(normalize("https://u:p@h/o/r/"), "https://h/o/r");
        assert_eq!(normalize("https://h/o/r.git/"), "https://h/o/r");
        assert_eq!(normalize("git@h:o/r.git"), "git@h:o/r");
        // only one of each suffix is removed
        assert_eq!(normalize("https://h/o/r.git.git"), "https://h/o/r.git");
    }

    #[test]
    fn same_hash_for_token_and_plain_url() {
        assert_eq!(
            short_hash("https://tok@h/o/r.git"),
            short_hash("https://h/o/r")
        );
        assert_ne!(short_hash("https://h/o/r"), short_hash("https://h/o/s"));
        assert_eq!(short_hash("x").len(), 8);
    }

    #[test]
    fn hash_is_sha256_prefix() {
        // sha256("abc") = ba7816bf...
        assert_eq!(short_hash("abc"), "ba7816bf");
    }

    #[test]
    fn slug_is_last_segment() {
        assert_eq!(slug("git@github.com:org/deploy.git"), "deploy");
        assert_eq!(slug("https://h/o/deploy/"), "deploy");
        assert_eq!(slug("git@h:deploy.git"), "deploy");
        assert_eq!(slug("file:///tmp/x/deploy.git"), "deploy");
    }

    #[test]
    fn userinfo_dropped_but_ssh_login_kept() {
        assert_eq!(without_userinfo("https://u:t@h/o/r"), "https://h/o/r");
        assert_eq!(without_userinfo("ssh://git@h:22/o/r"), "ssh://git@h:22/o/r");
        assert_eq!(without_userinfo("git@h:o/r"), "git@h:o/r");
    }

    #[test]
    fn the_stored_form_keeps_no_secret_and_stays_the_same_repo() {
        let url = "https://u:pw@h/o/r.git?private_token=SEKRET&ref=x";
        let stored = stored_form(url);
        assert_eq!(stored, "https://h/o/r.git?private_token=***&ref=x");
        assert!(same_repo(url, &stored));
        // Python agents' clones hold the whole url: still the same repository.
        assert!(same_repo(&stored, url));
        // Another repository, or another non-secret parameter, is not.
        assert!(!same_repo(
            &stored,
            "https://h/o/other.git?private_token=SEKRET&ref=x"
        ));
        assert!(!same_repo(
            &stored,
            "https://h/o/r.git?private_token=SEKRET&ref=y"
        ));
        assert_eq!(stored_form("git@h:o/r"), "git@h:o/r");
    }

    #[test]
    fn redact_hides_userinfo() {
        assert_eq!(redact("https://u:sekret@h/o/r"), "https://***@h/o/r");
        assert_eq!(redact("https://h/o/r"), "https://h/o/r");
        assert_eq!(redact("git@h:o/r"), "git@h:o/r");
        assert!(!redact("http://tok@127.0.0.1:8/r@x").contains("tok"));
    }

    #[test]
    fn redact_hides_a_password_holding_a_slash() {
        assert!(!redact("https://u:se/cret@h/o/r").contains("cret"));
    }

    #[test]
    fn redact_hides_secret_query_values() {
        assert_eq!(
            redact("https://h/o/r?access_token=abc&x=1#f"),
            "https://h/o/r?access_token=***&x=1#f"
        );
        assert_eq!(
            redact("https://h/r?PRIVATE_TOKEN=z"),
            "https://h/r?PRIVATE_TOKEN=***"
        );
        assert_eq!(
            redact("https://h/r?sig=z&key=k"),
            "https://h/r?sig=***&key=***"
        );
        assert_eq!(redact("https://h/r?keep=z"), "https://h/r?keep=z");
    }

    #[test]
    fn redact_clips_long_urls() {
        let long = format!("https://h/{}", "a".repeat(1000));
        assert!(redact(&long).chars().count() <= crate::text::MAX_SHOWN + 1);
    }

    #[test]
    fn url_display_and_debug_are_redacted() {
        let u = Url::new("https://u:sekret@h/o/r?token=t0k");
        assert_eq!(u.secret(), "https://u:sekret@h/o/r?token=t0k");
        for shown in [u.to_string(), format!("{u:?}")] {
            assert!(
                !shown.contains("sekret") && !shown.contains("t0k"),
                "{shown}"
            );
        }
    }
}
