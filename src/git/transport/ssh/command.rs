//! Which ssh command runs and with which arguments (SPEC §2): the precedence of the
//! settings, the program kind (OpenSSH, PuTTY, a wrapper), the options that keep OpenSSH
//! from prompting or hanging, and the arguments git passes. Pure: no process is started.

use std::path::Path;
use std::time::Duration;

use gix::protocol::transport::client::blocking_io::ssh::ProgramKind;
use gix::protocol::transport::Protocol;

use crate::bail;
use crate::error::Result;
use crate::git::NetOptions;

/// Where the ssh command came from; named in errors (the command itself is not shown: it
/// may carry a secret such as `sshpass -p ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Config,
    GitSshCommand,
    GitSsh,
    Key,
    Default,
}

impl Source {
    pub fn describe(self) -> &'static str {
        match self {
            Source::Config => "ssh_command from the agent config",
            Source::GitSshCommand => "GIT_SSH_COMMAND from the environment",
            Source::GitSsh => "GIT_SSH from the environment",
            Source::Key => "ssh with ssh_key from the agent config",
            Source::Default => "plain ssh",
        }
    }
}

/// The ssh command chosen for a connection, as shell text without the arguments gix adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub base: String,
    pub source: Source,
}

/// Pick the ssh command by precedence; `env` reads an environment variable (a parameter so
/// unit tests need not touch the process environment).
pub fn choose(net: &NetOptions, env: impl Fn(&str) -> Option<String>) -> Choice {
    let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    if let Some(cmd) = non_empty(net.ssh_command.clone()) {
        let mut base = cmd.trim().to_string();
        // Both set: the key is passed too, after the operator's options (config load refuses
        // the pair when `ssh_command` is not OpenSSH, which may not understand `-i`).
        if let Some(key) = &net.ssh_key {
            base.push_str(&key_options(key));
        }
        return Choice {
            base,
            source: Source::Config,
        };
    }
    if let Some(cmd) = non_empty(env("GIT_SSH_COMMAND")) {
        return Choice {
            base: cmd.trim().to_string(),
            source: Source::GitSshCommand,
        };
    }
    // GIT_SSH names a program (no arguments, no shell), like git treats it.
    if let Some(program) = non_empty(env("GIT_SSH")) {
        return Choice {
            base: shell_quote(&program),
            source: Source::GitSsh,
        };
    }
    if let Some(key) = &net.ssh_key {
        return Choice {
            base: format!("ssh{}", key_options(key)),
            source: Source::Key,
        };
    }
    Choice {
        base: "ssh".into(),
        source: Source::Default,
    }
}

/// ` -i 'KEY' -o IdentitiesOnly=yes`: log in with that key only.
fn key_options(key: &Path) -> String {
    format!(
        " -i {} -o IdentitiesOnly=yes",
        shell_quote(&key.to_string_lossy())
    )
}

/// Whether `ssh_key` can be added to this `ssh_command` (OpenSSH understands `-i`; a
/// wrapper or PuTTY may not): the agent config refuses the pair otherwise.
pub fn takes_key(ssh_command: &str) -> bool {
    kind_by_name(ssh_command) == Some(ProgramKind::Ssh)
}

/// Quote `s` for a POSIX shell (single quotes; a `'` becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The first word of shell text, with quotes removed (enough to name the program).
fn first_word(text: &str) -> String {
    let mut word = String::new();
    let mut quote: Option<char> = None;
    for c in text.trim_start().chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c.is_whitespace() => break,
            None => word.push(c),
        }
    }
    word
}

/// The ssh variant named by the command's program, like git: the basename of the first word.
/// `None` when the name says nothing (a wrapper script); then it has to be probed.
pub fn kind_by_name(base: &str) -> Option<ProgramKind> {
    let word = first_word(base);
    let name = Path::new(&word)
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())?;
    let stem = name.strip_suffix(".exe").unwrap_or(&name);
    match stem {
        "ssh" => Some(ProgramKind::Ssh),
        "plink" => Some(ProgramKind::Plink),
        "putty" => Some(ProgramKind::Putty),
        "tortoiseplink" => Some(ProgramKind::TortoisePlink),
        _ => None,
    }
}

/// `GIT_SSH_VARIANT`, as git reads it; `None` for unset, `auto` or an unknown value.
pub fn kind_from_variant(value: Option<&str>) -> Option<ProgramKind> {
    match value?.trim().to_ascii_lowercase().as_str() {
        "ssh" => Some(ProgramKind::Ssh),
        "plink" => Some(ProgramKind::Plink),
        "putty" => Some(ProgramKind::Putty),
        "tortoiseplink" => Some(ProgramKind::TortoisePlink),
        "simple" => Some(ProgramKind::Simple),
        _ => None,
    }
}

/// Options that make OpenSSH fail instead of prompting or hanging. `ConnectTimeout` also
/// bounds the banner exchange and key exchange (a host that accepts TCP and never speaks);
/// `ServerAlive*` ends a connection whose peer stopped answering within about `timeout`.
pub fn batch_options(timeout: Duration) -> Vec<String> {
    let secs = timeout.as_secs().max(1);
    let interval = secs.min(15);
    let count = secs.div_ceil(interval).max(1);
    vec![
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        format!("ConnectTimeout={secs}"),
        "-o".into(),
        format!("ServerAliveInterval={interval}"),
        "-o".into(),
        format!("ServerAliveCountMax={count}"),
    ]
}

/// The shell text run for a connection (the arguments of [`ssh_args`], the service and the
/// quoted path come as `"$@"`). `exec` (only for a plain program whose name we recognised)
/// saves a shell process; a stalled helper is ended with its whole process group anyway.
pub fn shell_command(
    base: &str,
    is_openssh: bool,
    exec: bool,
    timeout: Duration,
    stderr_file: &Path,
) -> String {
    let mut cmd = String::new();
    if exec {
        cmd.push_str("exec ");
    }
    cmd.push_str(base);
    if is_openssh {
        for opt in batch_options(timeout) {
            cmd.push(' ');
            cmd.push_str(&opt);
        }
    }
    cmd.push_str(r#" "$@" 2>>"#);
    cmd.push_str(&shell_quote(&stderr_file.to_string_lossy()));
    cmd
}

/// The arguments after the ssh command, as git passes them: options for the program kind,
/// then `[user@]host`; the service and the quoted path follow.
pub fn ssh_args(url: &gix::url::Url, kind: ProgramKind, version: Protocol) -> Result<Vec<String>> {
    use gix::url::ArgumentSafety::{Absent, Dangerous, Usable};
    let mut args = Vec::new();
    match kind {
        ProgramKind::Ssh => {
            if version != Protocol::V1 {
                args.extend(["-o".to_string(), "SendEnv=GIT_PROTOCOL".to_string()]);
            }
            if let Some(port) = url.port {
                args.push(format!("-p{port}"));
            }
        }
        ProgramKind::Plink | ProgramKind::Putty | ProgramKind::TortoisePlink => {
            if kind == ProgramKind::TortoisePlink {
                args.push("-batch".into());
            }
            if let Some(port) = url.port {
                args.extend(["-P".to_string(), port.to_string()]);
            }
        }
        ProgramKind::Simple => {
            if url.port.is_some() {
                bail!("this ssh command takes no port (it is not OpenSSH or PuTTY); set GIT_SSH_VARIANT=ssh if it is OpenSSH, or drop the port from the url");
            }
        }
    }
    // A user or host starting with `-` would be read as an option (CVE-2017-1000117).
    let target = match (url.user_as_argument(), url.host_as_argument()) {
        // `user@` in front makes a host starting with `-` harmless.
        (Usable(user), Usable(host) | Dangerous(host)) => format!("{user}@{host}"),
        (Absent, Usable(host)) => host.to_string(),
        (Dangerous(_), _) => bail!("ssh user name starts with `-`; refusing it"),
        _ => bail!("ssh host name is missing or starts with `-`; refusing it"),
    };
    args.push(target);
    Ok(args)
}

/// Quote a path for the remote shell as git does: single quotes, with `'` and `!` escaped.
pub fn remote_quote(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\'' | '!' => {
                out.push_str("'\\");
                out.push(c);
                out.push('\'');
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn precedence_config_then_env_then_key_then_plain() {
        let mut net = NetOptions {
            ssh_command: Some("ssh -F /etc/x".into()),
            ssh_key: Some("/k/id".into()),
            ..Default::default()
        };
        let both = env_of(&[("GIT_SSH_COMMAND", "ssh -v"), ("GIT_SSH", "/usr/bin/myssh")]);
        assert_eq!(choose(&net, &both).source, Source::Config);
        // ssh_key is passed after the operator's options when both are set
        assert_eq!(
            choose(&net, &both).base,
            "ssh -F /etc/x -i '/k/id' -o IdentitiesOnly=yes"
        );
        net.ssh_command = Some("  ".into());
        assert_eq!(choose(&net, &both).base, "ssh -v");
        assert_eq!(choose(&net, &both).source, Source::GitSshCommand);
        let only_program = env_of(&[("GIT_SSH", "/usr/bin/my ssh")]);
        assert_eq!(choose(&net, &only_program).base, "'/usr/bin/my ssh'");
        let none = env_of(&[]);
        let key = choose(&net, &none);
        assert_eq!(key.source, Source::Key);
        assert_eq!(key.base, "ssh -i '/k/id' -o IdentitiesOnly=yes");
        net.ssh_key = None;
        assert_eq!(choose(&net, &none).base, "ssh");
        assert_eq!(choose(&net, &none).source, Source::Default);
    }

    #[test]
    fn only_openssh_commands_take_the_key() {
        assert!(takes_key("ssh -F /etc/x"));
        assert!(takes_key("/usr/bin/ssh"));
        assert!(!takes_key("/usr/local/bin/my-wrapper --fast"));
        assert!(!takes_key("plink -batch"));
    }

    #[test]
    fn ssh_arguments_as_git_passes_them() {
        let url = |u: &str| gix::url::parse(gix::bstr::BStr::new(u)).unwrap();
        assert_eq!(
            ssh_args(
                &url("ssh://git@h.example:2222/o/r.git"),
                ProgramKind::Ssh,
                Protocol::V2
            )
            .unwrap(),
            ["-o", "SendEnv=GIT_PROTOCOL", "-p2222", "git@h.example"]
        );
        assert_eq!(
            ssh_args(
                &url("git@h.example:o/r.git"),
                ProgramKind::Ssh,
                Protocol::V1
            )
            .unwrap(),
            ["git@h.example"]
        );
        assert_eq!(
            ssh_args(
                &url("ssh://h.example:22/r"),
                ProgramKind::TortoisePlink,
                Protocol::V1
            )
            .unwrap(),
            ["-batch", "-P", "22", "h.example"]
        );
        assert!(ssh_args(
            &url("ssh://h.example:22/r"),
            ProgramKind::Simple,
            Protocol::V1
        )
        .is_err());
        assert!(ssh_args(
            &url("ssh://-oProxyCommand=x/r"),
            ProgramKind::Ssh,
            Protocol::V1
        )
        .is_err());
        // git's sq_quote: `'` and `!` leave the quotes.
        assert_eq!(remote_quote("/srv/it's!"), r"'/srv/it'\''s'\!''");
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        let key = NetOptions {
            ssh_key: Some("/k/it's".into()),
            ..Default::default()
        };
        assert_eq!(
            choose(&key, |_| None).base,
            r"ssh -i '/k/it'\''s' -o IdentitiesOnly=yes"
        );
    }

    #[test]
    fn kind_from_program_name() {
        assert_eq!(kind_by_name("ssh"), Some(ProgramKind::Ssh));
        assert_eq!(kind_by_name("/usr/bin/ssh -i k"), Some(ProgramKind::Ssh));
        assert_eq!(kind_by_name("'/opt/x y/ssh' -v"), Some(ProgramKind::Ssh));
        assert_eq!(kind_by_name("plink.exe -batch"), Some(ProgramKind::Plink));
        assert_eq!(kind_by_name("/usr/local/bin/wrap-ssh"), None);
        assert_eq!(kind_by_name("FOO=1 ssh"), None);
        assert_eq!(kind_from_variant(Some("simple")), Some(ProgramKind::Simple));
        assert_eq!(kind_from_variant(Some("auto")), None);
        assert_eq!(kind_from_variant(None), None);
    }

    #[test]
    fn batch_options_bound_a_dead_link_by_the_timeout() {
        let opts = batch_options(Duration::from_secs(60)).join(" ");
        assert_eq!(
            opts,
            "-o BatchMode=yes -o ConnectTimeout=60 -o ServerAliveInterval=15 -o ServerAliveCountMax=4"
        );
        let opts = batch_options(Duration::from_secs(3)).join(" ");
        assert!(opts.contains("ConnectTimeout=3 -o ServerAliveInterval=3 -o ServerAliveCountMax=1"));
        let opts = batch_options(Duration::from_millis(10)).join(" ");
        assert!(opts.contains("ConnectTimeout=1 "), "{opts}");
        let opts = batch_options(Duration::from_secs(20)).join(" ");
        assert!(
            opts.contains("ServerAliveInterval=15 -o ServerAliveCountMax=2"),
            "{opts}"
        );
    }

    #[test]
    fn shell_command_appends_options_after_the_operators_own() {
        let cmd = shell_command(
            "ssh -o BatchMode=no",
            true,
            true,
            Duration::from_secs(5),
            Path::new("/tmp/e'rr"),
        );
        assert_eq!(
            cmd,
            r#"exec ssh -o BatchMode=no -o BatchMode=yes -o ConnectTimeout=5 -o ServerAliveInterval=5 -o ServerAliveCountMax=1 "$@" 2>>'/tmp/e'\''rr'"#
        );
        let simple = shell_command(
            "mytool",
            false,
            false,
            Duration::from_secs(5),
            Path::new("/t"),
        );
        assert_eq!(simple, r#"mytool "$@" 2>>'/t'"#);
    }
}
