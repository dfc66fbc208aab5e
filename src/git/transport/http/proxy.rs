//! Which http proxy a request goes through, from the environment (curl's rules; ureq 2
//! alone ignores NO_PROXY).

/// The proxy for a request to `scheme://host`, per curl's environment rules: `https_proxy`
/// (or `HTTPS_PROXY`) for https, `http_proxy` for http (lowercase only: a CGI parent may set
/// `HTTP_PROXY` from a request header), then `all_proxy`/`ALL_PROXY`; none when `no_proxy`/
/// `NO_PROXY` is `*` or lists the host or a parent domain of it. An empty value means none.
pub fn proxy_from_env(
    scheme: &str,
    host: &str,
    var: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let get = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| var(n))
            .map(|v| v.trim().to_string())
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if let Some(no_proxy) = get(&["no_proxy", "NO_PROXY"]) {
        let bypass = no_proxy
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .any(|entry| {
                if entry == "*" {
                    return true;
                }
                let entry = entry.trim_start_matches("*.").trim_start_matches('.');
                // `host:port` entries: the port is ignored (as curl does).
                let entry = match entry.rsplit_once(':') {
                    Some((h, port))
                        if !h.contains(':') && port.chars().all(|c| c.is_ascii_digit()) =>
                    {
                        h
                    }
                    _ => entry,
                };
                let entry = entry
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_ascii_lowercase();
                host == entry || host.ends_with(&format!(".{entry}"))
            });
        if bypass {
            return None;
        }
    }
    let proxy = match scheme {
        "https" => get(&["https_proxy", "HTTPS_PROXY"]),
        _ => get(&["http_proxy"]),
    }
    .filter(|p| !p.is_empty())
    .or_else(|| get(&["all_proxy", "ALL_PROXY"]));
    proxy.filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn proxy_per_scheme_and_no_proxy() {
        let vars = env(&[
            ("HTTPS_PROXY", "http://u:pw@proxy:3128"),
            ("http_proxy", "http://plain:8080"),
            ("NO_PROXY", "internal.example, .corp.lan,10.0.0.5:443"),
        ]);
        assert_eq!(
            proxy_from_env("https", "github.com", &vars).as_deref(),
            Some("http://u:pw@proxy:3128")
        );
        assert_eq!(
            proxy_from_env("http", "github.com", &vars).as_deref(),
            Some("http://plain:8080")
        );
        assert_eq!(proxy_from_env("https", "internal.example", &vars), None);
        assert_eq!(proxy_from_env("https", "git.internal.example", &vars), None);
        assert_eq!(proxy_from_env("https", "GIT.corp.lan", &vars), None);
        assert_eq!(proxy_from_env("https", "10.0.0.5", &vars), None);
        assert!(proxy_from_env("https", "notinternal.example", &vars).is_some());
        assert_eq!(
            proxy_from_env(
                "https",
                "x",
                env(&[("NO_PROXY", "*"), ("HTTPS_PROXY", "p")])
            ),
            None
        );
        // Uppercase HTTP_PROXY is ignored (httpoxy); ALL_PROXY is the fallback.
        assert_eq!(
            proxy_from_env("http", "x", env(&[("HTTP_PROXY", "p")])),
            None
        );
        assert_eq!(
            proxy_from_env("http", "x", env(&[("ALL_PROXY", "a")])).as_deref(),
            Some("a")
        );
        assert_eq!(
            proxy_from_env("https", "x", env(&[("https_proxy", "")])),
            None
        );
    }
}
