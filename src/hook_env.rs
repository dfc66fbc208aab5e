//! The environment a hook (pre/post/health/remove command) runs with (SPEC §10): the
//! agent's own, minus what would hand a deploy-repo hook the agent's secrets or steer git
//! behind its back, plus `GITOPS_*` variables that tell the hook what is happening.
//! Pure: environment in, environment out.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// What a hook is told about the update it belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookContext {
    pub infra: String,
    pub app: String,
    /// The commit being put in place.
    pub commit: String,
    /// HEAD before the update; `None` on a first install (the variable is then set and empty).
    pub previous_commit: Option<String>,
    /// Why the update runs (the plan's reasons, one line).
    pub reason: String,
}

/// Variables set for every hook; anything of the same name in the agent's environment is
/// replaced.
pub const HOOK_VARS: &[&str] = &[
    "GITOPS_INFRA",
    "GITOPS_APP",
    "GITOPS_COMMIT",
    "GITOPS_PREVIOUS_COMMIT",
    "GITOPS_REASON",
];

const PROXY_VARS: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "ftp_proxy",
    "no_proxy",
];

/// The environment for a hook, from the agent's `parent` environment.
pub fn hook_env(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    ctx: &HookContext,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = parent
        .into_iter()
        .filter(|(name, value)| keep(name, value))
        .collect();
    let ours = [
        ctx.infra.as_str(),
        ctx.app.as_str(),
        ctx.commit.as_str(),
        ctx.previous_commit.as_deref().unwrap_or(""),
        crate::text::clip(&ctx.reason.replace('\n', "; ")).as_ref(),
    ]
    .map(OsString::from);
    for (name, value) in HOOK_VARS.iter().zip(ours) {
        env.push((OsString::from(name), value));
    }
    env
}

/// Whether an inherited variable may reach a hook.
fn keep(name: &OsStr, value: &OsStr) -> bool {
    let n = name.as_bytes();
    // git's own knobs (GIT_DIR, GIT_SSH_COMMAND, GIT_CONFIG_*) would redirect or
    // reconfigure any git a hook runs; the agent's knobs are the agent's business.
    if n.starts_with(b"GIT_") || n.starts_with(b"GITOPS_AGENT_") {
        return false;
    }
    if HOOK_VARS.iter().any(|v| v.as_bytes() == n) {
        return false;
    }
    let is_proxy = PROXY_VARS
        .iter()
        .any(|p| p.as_bytes().eq_ignore_ascii_case(n));
    !(is_proxy && holds_userinfo(value))
}

/// `scheme://user:pass@host` or `user:pass@host`: a proxy value carrying credentials.
fn holds_userinfo(value: &OsStr) -> bool {
    let v = value.as_bytes();
    let after_scheme = v
        .windows(3)
        .position(|w| w == b"://")
        .map_or(v, |i| &v[i + 3..]);
    let authority_end = after_scheme
        .iter()
        .position(|&b| b == b'/')
        .unwrap_or(after_scheme.len());
    after_scheme[..authority_end].contains(&b'@')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(a, b)| (OsString::from(a), OsString::from(b)))
            .collect()
    }

    fn get<'a>(e: &'a [(OsString, OsString)], name: &str) -> Option<&'a str> {
        e.iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.to_str())
    }

    fn ctx() -> HookContext {
        HookContext {
            infra: "edge-1".into(),
            app: "web".into(),
            commit: "c".repeat(40),
            previous_commit: None,
            reason: "HEAD is not the desired commit\nsection changed".into(),
        }
    }

    #[test]
    fn git_and_agent_variables_are_dropped() {
        let e = hook_env(
            env(&[
                ("GIT_SSH_COMMAND", "ssh -i /root/k"),
                ("GIT_DIR", "/x"),
                ("GITOPS_AGENT_HOME", "/opt/g"),
                ("PATH", "/bin"),
            ]),
            &ctx(),
        );
        assert_eq!(get(&e, "GIT_SSH_COMMAND"), None);
        assert_eq!(get(&e, "GIT_DIR"), None);
        assert_eq!(get(&e, "GITOPS_AGENT_HOME"), None);
        assert_eq!(get(&e, "PATH"), Some("/bin"));
    }

    #[test]
    fn proxies_with_credentials_are_dropped_plain_ones_kept() {
        let e = hook_env(
            env(&[
                ("https_proxy", "http://user:pw@proxy:3128"),
                ("HTTP_PROXY", "proxy:3128"),
                ("ALL_PROXY", "u:p@proxy:1080"),
            ]),
            &ctx(),
        );
        assert_eq!(get(&e, "https_proxy"), None);
        assert_eq!(get(&e, "ALL_PROXY"), None);
        assert_eq!(get(&e, "HTTP_PROXY"), Some("proxy:3128"));
    }

    #[test]
    fn gitops_variables_are_set_and_replace_inherited_ones() {
        let e = hook_env(env(&[("GITOPS_APP", "spoofed")]), &ctx());
        assert_eq!(get(&e, "GITOPS_APP"), Some("web"));
        assert_eq!(e.iter().filter(|(n, _)| n == "GITOPS_APP").count(), 1);
        assert_eq!(get(&e, "GITOPS_INFRA"), Some("edge-1"));
        assert_eq!(get(&e, "GITOPS_COMMIT"), Some("c".repeat(40).as_str()));
        assert_eq!(
            get(&e, "GITOPS_REASON"),
            Some("HEAD is not the desired commit; section changed")
        );
    }

    #[test]
    fn previous_commit_is_set_and_empty_on_first_install() {
        let e = hook_env(Vec::new(), &ctx());
        assert_eq!(get(&e, "GITOPS_PREVIOUS_COMMIT"), Some(""));
        let mut c = ctx();
        c.previous_commit = Some("p".repeat(40));
        let e = hook_env(Vec::new(), &c);
        assert_eq!(
            get(&e, "GITOPS_PREVIOUS_COMMIT"),
            Some("p".repeat(40).as_str())
        );
    }
}
