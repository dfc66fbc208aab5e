//! ssh's stderr, explained: what went wrong (host key, auth, timeout, ...), the fix an
//! operator can apply, and the error kind. ssh runs with `LANG=C` (gix and we set it).

use super::command::Source;
use crate::error::Kind;

/// What went wrong, read from ssh's stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    HostKeyChanged,
    HostKeyUnknown,
    Auth,
    Timeout,
    Unreachable,
    NoRepo,
    NoProgram,
    Other,
}

impl Reason {
    /// Refusals (host key, auth, no such repository) are `Rejected`: trying again changes
    /// nothing until someone acts. Timeouts, unreachable hosts and an ssh that died for
    /// another reason are `Network`; a missing ssh program is local (`Io`).
    pub fn kind(self) -> Kind {
        match self {
            Reason::HostKeyChanged | Reason::HostKeyUnknown | Reason::Auth | Reason::NoRepo => {
                Kind::Rejected
            }
            Reason::Timeout | Reason::Unreachable | Reason::Other => Kind::Network,
            Reason::NoProgram => Kind::Io,
        }
    }
}

/// What ssh's words say went wrong.
pub fn classify(stderr: &str) -> Reason {
    let has = |s: &str| stderr.contains(s);
    if has("REMOTE HOST IDENTIFICATION HAS CHANGED") || has("Host key for") && has("has changed") {
        Reason::HostKeyChanged
    } else if has("Host key verification failed") || has("host key is known for") {
        Reason::HostKeyUnknown
    } else if has("Permission denied") || has("Too many authentication failures") {
        Reason::Auth
    } else if has("timed out") || has("not responding") || has("Timeout") {
        Reason::Timeout
    } else if has("Connection refused")
        || has("Could not resolve hostname")
        || has("No route to host")
        || has("Network is unreachable")
        || has("Connection closed by")
        || has("Connection reset")
    {
        Reason::Unreachable
    } else if has("does not appear to be a git repository")
        || has("not a git repository")
        || has("No such file or directory") && !has("Identity file")
    {
        Reason::NoRepo
    } else if has("not found") && (has("sh:") || has("command not found")) {
        Reason::NoProgram
    } else {
        Reason::Other
    }
}

/// `host` or `-p PORT host` for ssh-keyscan, and the known_hosts name (`[host]:port`).
fn keyscan_target(host: &str, port: Option<u16>) -> (String, String) {
    match port {
        Some(p) if p != 22 => (format!("-p {p} {host}"), format!("'[{host}]:{p}'")),
        _ => (host.to_string(), host.to_string()),
    }
}

/// The error text for a failed ssh connection: what happened, ssh's own words (secrets
/// removed), and the fix an operator can apply.
pub fn explain(stderr: &str, host: &str, port: Option<u16>, source: Source) -> String {
    let said: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("@@@") && !l.starts_with("Warning: Permanently added")
        })
        .collect();
    // The last lines carry the verdict; keep the message to one readable line.
    let tail = said[said.len().saturating_sub(4)..].join(" / ");
    let shown = if port.is_some_and(|p| p != 22) {
        format!("{host}:{}", port.unwrap_or(22))
    } else {
        host.to_string()
    };
    let (scan, known_name) = keyscan_target(host, port);
    let what = match classify(stderr) {
        Reason::HostKeyUnknown => format!(
            "host key verification failed: the host key of {shown} is not in known_hosts, and the agent never accepts an unknown key by itself; fix: as the agent's user (usually root) run `ssh-keyscan {scan} >> ~/.ssh/known_hosts` and compare the fingerprint with the server's, or name a known_hosts file in ssh_command (`ssh -o UserKnownHostsFile=/etc/gitops-agent/known_hosts`)"
        ),
        Reason::HostKeyChanged => format!(
            "the host key of {shown} has CHANGED since it was recorded (a reinstalled server, or someone in between): confirm the new key with the server's admin, then as the agent's user run `ssh-keygen -R {known_name}` and `ssh-keyscan {scan} >> ~/.ssh/known_hosts`"
        ),
        Reason::Auth => format!(
            "authentication to {shown} failed (Permission denied): the server refused the key; check that ssh_key (or -i in ssh_command / GIT_SSH_COMMAND) names the right private key, readable by the agent's user and without a passphrase, that its public key is authorized on the server (authorized_keys or the repo's deploy keys), and the user in the url"
        ),
        Reason::Timeout => format!(
            "ssh to {shown} timed out (network_timeout bounds the connect and each silence); check the network path and that an ssh server answers there"
        ),
        Reason::Unreachable => format!("cannot reach an ssh server at {shown}"),
        Reason::NoRepo => format!("the repository does not exist on {shown} (or this user may not read it)"),
        Reason::NoProgram => "the ssh program was not found: install the OpenSSH client (Debian: openssh-client) or set ssh_command".to_string(),
        Reason::Other => format!("ssh to {shown} failed"),
    };
    if tail.is_empty() {
        format!("{what} [ssh command: {}]", source.describe())
    } else {
        format!(
            "{what} [ssh said: {tail}] [ssh command: {}]",
            source.describe()
        )
    }
}

/// Replace `user@` (the url's user, or any `name@host` ssh prints) so userinfo never reaches
/// a log line or the feedback file.
pub fn scrub(text: &str, user: Option<&str>, password: Option<&str>) -> String {
    let mut out = text.to_string();
    if let Some(p) = password.filter(|p| !p.is_empty()) {
        out = out.replace(p, "***");
    }
    if let Some(u) = user.filter(|u| !u.is_empty()) {
        out = out.replace(&format!("{u}@"), "***@");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_known_ssh_messages() {
        assert_eq!(
            classify("No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed.\n"),
            Reason::HostKeyUnknown
        );
        assert_eq!(
            classify("@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.\n"),
            Reason::HostKeyChanged
        );
        assert_eq!(
            classify("git@h: Permission denied (publickey).\n"),
            Reason::Auth
        );
        assert_eq!(
            classify("Connection timed out during banner exchange\nConnection to 127.0.0.1 port 9 timed out\n"),
            Reason::Timeout
        );
        assert_eq!(
            classify("ssh: connect to host 127.0.0.1 port 1: Connection refused\n"),
            Reason::Unreachable
        );
        assert_eq!(
            classify("fatal: '/x' does not appear to be a git repository\n"),
            Reason::NoRepo
        );
        assert_eq!(classify("sh: 1: ssh: not found\n"), Reason::NoProgram);
        assert_eq!(classify("something else\n"), Reason::Other);
    }

    #[test]
    fn refusals_are_rejected_and_link_trouble_is_network() {
        let kind = |stderr: &str| classify(stderr).kind();
        assert_eq!(kind("Host key verification failed.\n"), Kind::Rejected);
        assert_eq!(
            kind("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!\n"),
            Kind::Rejected
        );
        assert_eq!(
            kind("git@h: Permission denied (publickey).\n"),
            Kind::Rejected
        );
        assert_eq!(
            kind("fatal: '/x' does not appear to be a git repository\n"),
            Kind::Rejected
        );
        assert_eq!(
            kind("ssh: connect to host 127.0.0.1 port 1: Connection refused\n"),
            Kind::Network
        );
        assert_eq!(
            kind("Connection timed out during banner exchange\n"),
            Kind::Network
        );
        assert_eq!(kind("something else\n"), Kind::Network);
        assert_eq!(kind("sh: 1: ssh: not found\n"), Kind::Io);
    }

    #[test]
    fn explanations_carry_the_fix() {
        let unknown = explain(
            "Host key verification failed.\n",
            "127.0.0.1",
            Some(2222),
            Source::Config,
        );
        assert!(
            unknown.contains("ssh-keyscan -p 2222 127.0.0.1 >> ~/.ssh/known_hosts"),
            "{unknown}"
        );
        assert!(
            unknown.contains("ssh_command from the agent config"),
            "{unknown}"
        );
        let default_port = explain(
            "Host key verification failed.\n",
            "h",
            None,
            Source::Default,
        );
        assert!(
            default_port.contains("`ssh-keyscan h >> ~/.ssh/known_hosts`"),
            "{default_port}"
        );
        let changed = explain(
            "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!\n",
            "h",
            Some(22),
            Source::Default,
        );
        assert!(changed.contains("ssh-keygen -R h"), "{changed}");
        let auth = explain(
            "***@h: Permission denied (publickey).\n",
            "h",
            None,
            Source::Key,
        );
        assert!(auth.contains("Permission denied (publickey)"), "{auth}");
        assert!(auth.contains("authorized"), "{auth}");
    }

    #[test]
    fn scrub_removes_userinfo() {
        assert_eq!(
            scrub(
                "alice@h: Permission denied; pw s3cr3t",
                Some("alice"),
                Some("s3cr3t")
            ),
            "***@h: Permission denied; pw ***"
        );
        assert_eq!(scrub("plain", None, None), "plain");
    }
}
