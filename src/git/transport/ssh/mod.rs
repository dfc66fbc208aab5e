//! ssh remotes through the system `ssh` client, spawned and talked to by `process` (every
//! read and write bounded by `network_timeout`).
//!
//! Which command runs, most specific first (SPEC §2):
//! `ssh_command` from the agent config > `GIT_SSH_COMMAND` > `GIT_SSH` > `ssh_key`
//! (`ssh -i KEY -o IdentitiesOnly=yes`) > plain `ssh`. Commands are shell text run as git
//! runs them (`sh -c '<command> "$@"'`), so a `GIT_SSH_COMMAND` that worked with the git CLI
//! (and so with the Python agent) works here unchanged.
//!
//! When the program is OpenSSH, the agent appends `BatchMode`, `ConnectTimeout` and
//! `ServerAlive*` options after the operator's own arguments: ssh keeps the first value it
//! sees for an option, so the operator's `-o` still wins, while a device without one never
//! prompts and never hangs on a dead link.
//!
//! ssh's stderr is what explains a failure (gix's own transport turned a host-key failure
//! into "unexpected end of file"), so the shell command sends it to a private temp file;
//! [`SshTransport`] reads it when the handshake fails and explains the failure with its fix.

use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gix::bstr::BStr;
use gix::protocol::transport::client::blocking_io::ssh::ProgramKind;
use gix::protocol::transport::client::blocking_io::{RequestWriter, SetServiceResponse, Transport};
use gix::protocol::transport::client::{MessageKind, TransportWithoutIO, WriteMode};
use gix::protocol::transport::{Protocol, Service};

use super::process::{MakeCommand, ProcessTransport};
use super::BoxedTransport;
use crate::bail;
use crate::error::{Context, Result};
use crate::git::NetOptions;
use crate::url::redact;

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
    fn describe(self) -> &'static str {
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
        return Choice {
            base: cmd.trim().to_string(),
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
            base: format!(
                "ssh -i {} -o IdentitiesOnly=yes",
                shell_quote(&key.to_string_lossy())
            ),
            source: Source::Key,
        };
    }
    Choice {
        base: "ssh".into(),
        source: Source::Default,
    }
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

/// What went wrong, read from ssh's stderr (ssh runs with `LANG=C`, gix sets it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    HostKeyChanged,
    HostKeyUnknown,
    Auth,
    Timeout,
    Unreachable,
    NoRepo,
    NoProgram,
    Other,
}

pub fn classify(stderr: &str) -> Failure {
    let has = |s: &str| stderr.contains(s);
    if has("REMOTE HOST IDENTIFICATION HAS CHANGED") || has("Host key for") && has("has changed") {
        Failure::HostKeyChanged
    } else if has("Host key verification failed") || has("host key is known for") {
        Failure::HostKeyUnknown
    } else if has("Permission denied") || has("Too many authentication failures") {
        Failure::Auth
    } else if has("timed out") || has("not responding") || has("Timeout") {
        Failure::Timeout
    } else if has("Connection refused")
        || has("Could not resolve hostname")
        || has("No route to host")
        || has("Network is unreachable")
        || has("Connection closed by")
        || has("Connection reset")
    {
        Failure::Unreachable
    } else if has("does not appear to be a git repository")
        || has("not a git repository")
        || has("No such file or directory") && !has("Identity file")
    {
        Failure::NoRepo
    } else if has("not found") && (has("sh:") || has("command not found")) {
        Failure::NoProgram
    } else {
        Failure::Other
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
        Failure::HostKeyUnknown => format!(
            "host key verification failed: the host key of {shown} is not in known_hosts, and the agent never accepts an unknown key by itself; fix: as the agent's user (usually root) run `ssh-keyscan {scan} >> ~/.ssh/known_hosts` and compare the fingerprint with the server's, or name a known_hosts file in ssh_command (`ssh -o UserKnownHostsFile=/etc/gitops-agent/known_hosts`)"
        ),
        Failure::HostKeyChanged => format!(
            "the host key of {shown} has CHANGED since it was recorded (a reinstalled server, or someone in between): confirm the new key with the server's admin, then as the agent's user run `ssh-keygen -R {known_name}` and `ssh-keyscan {scan} >> ~/.ssh/known_hosts`"
        ),
        Failure::Auth => format!(
            "authentication to {shown} failed (Permission denied): the server refused the key; check that ssh_key (or -i in ssh_command / GIT_SSH_COMMAND) names the right private key, readable by the agent's user and without a passphrase, that its public key is authorized on the server (authorized_keys or the repo's deploy keys), and the user in the url"
        ),
        Failure::Timeout => format!(
            "ssh to {shown} timed out (network_timeout bounds the connect and each silence); check the network path and that an ssh server answers there"
        ),
        Failure::Unreachable => format!("cannot reach an ssh server at {shown}"),
        Failure::NoRepo => format!("the repository does not exist on {shown} (or this user may not read it)"),
        Failure::NoProgram => "the ssh program was not found: install the OpenSSH client (Debian: openssh-client) or set ssh_command".to_string(),
        Failure::Other => format!("ssh to {shown} failed"),
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

/// A private file that receives ssh's stderr; removed on drop.
struct StderrFile {
    path: PathBuf,
}

impl StderrFile {
    fn create() -> Result<StderrFile> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "gitops-agent-ssh-{}-{}-{nanos}.stderr",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        // 0600 and create_new: ssh's messages may name users and hosts, and nobody else may
        // plant the file first.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("create {} for ssh's messages", path.display()))?;
        Ok(StderrFile { path })
    }

    /// What ssh wrote so far (empty when unreadable: this only improves a message).
    fn read(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.path) {
            let mut bytes = Vec::new();
            if f.read_to_end(&mut bytes).is_ok() {
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
        }
        text
    }
}

impl Drop for StderrFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The ssh process transport (`process`: every read and write bounded by `network_timeout`)
/// plus the stderr file: handshake failures are explained from it, and anything ssh said on
/// an otherwise working connection is logged when it closes.
pub struct SshTransport {
    inner: ProcessTransport,
    stderr: StderrFile,
    host: String,
    port: Option<u16>,
    source: Source,
    user: Option<String>,
    password: Option<String>,
    reported: bool,
}

impl SshTransport {
    fn stderr_text(&self) -> String {
        scrub(
            &self.stderr.read(),
            self.user.as_deref(),
            self.password.as_deref(),
        )
    }
}

impl Drop for SshTransport {
    fn drop(&mut self) {
        if self.reported {
            return;
        }
        // A failure after the handshake (e.g. the link died mid-fetch) surfaces as an io
        // error from gix; ssh's words go to the log next to it.
        for line in self.stderr_text().lines().filter(|l| !l.trim().is_empty()) {
            log::warn!("ssh {}: {}", self.host, line.trim());
        }
    }
}

impl TransportWithoutIO for SshTransport {
    fn set_identity(
        &mut self,
        identity: gix::sec::identity::Account,
    ) -> std::result::Result<(), gix::protocol::transport::client::Error> {
        self.inner.set_identity(identity)
    }

    fn to_url(&self) -> Cow<'_, BStr> {
        self.inner.to_url()
    }

    fn supported_protocol_versions(&self) -> &[Protocol] {
        self.inner.supported_protocol_versions()
    }

    fn connection_persists_across_multiple_requests(&self) -> bool {
        self.inner.connection_persists_across_multiple_requests()
    }

    fn configure(&mut self, config: &dyn std::any::Any) -> gix::error::Result {
        self.inner.configure(config)
    }
}

impl Transport for SshTransport {
    fn handshake<'a>(
        &mut self,
        service: Service,
        extra_parameters: &'a [(&'a str, Option<&'a str>)],
    ) -> std::result::Result<SetServiceResponse<'_>, gix::protocol::transport::client::Error> {
        // Disjoint field borrows: the response borrows `inner`, the error path reads the rest.
        let SshTransport {
            inner,
            stderr,
            host,
            port,
            source,
            user,
            password,
            reported,
        } = self;
        inner.handshake(service, extra_parameters).map_err(|err| {
            // Our own silence bound fired: that is the story, whatever ssh printed.
            if is_timeout(&err) {
                return err;
            }
            let text = wait_for_text(stderr);
            if text.trim().is_empty() {
                return err;
            }
            *reported = true;
            let text = scrub(&text, user.as_deref(), password.as_deref());
            // Not `PermissionDenied`: gix would answer that by asking credential helpers
            // for a user name, which is never what an ssh key failure needs.
            gix::protocol::transport::client::Error::Io(std::io::Error::other(explain(
                &text, host, *port, *source,
            )))
        })
    }

    fn request(
        &mut self,
        write_mode: WriteMode,
        on_into_read: MessageKind,
        trace: bool,
    ) -> std::result::Result<RequestWriter<'_>, gix::protocol::transport::client::Error> {
        self.inner.request(write_mode, on_into_read, trace)
    }
}

fn is_timeout(err: &gix::protocol::transport::client::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// ssh has exited when gix sees end-of-file, but give its last write a moment to land.
fn wait_for_text(file: &StderrFile) -> String {
    let deadline = Instant::now() + Duration::from_millis(300);
    loop {
        let text = file.read();
        if !text.trim().is_empty() || Instant::now() >= deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The arguments after the ssh command, as git passes them: options for the program kind,
/// then `[user@]host`; the service and the quoted path follow.
fn ssh_args(url: &gix::url::Url, kind: ProgramKind, version: Protocol) -> Result<Vec<String>> {
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
fn remote_quote(s: &str) -> String {
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

/// Run `<base> -G <host>` like git's `auto` variant does: a program that understands `-G`
/// is OpenSSH (or a wrapper around it). Bounded by `timeout`: a wrapper that ignores `-G`
/// and connects somewhere must not hang the pass.
fn probe_is_openssh(base: &str, host: &str, timeout: Duration) -> bool {
    if host.starts_with('-') {
        return false;
    }
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!(r#"{base} "$@""#))
        .arg("sh")
        .arg("-G")
        .arg(host)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Connect to an ssh url (`ssh://` or scp-style) through the chosen ssh command.
pub fn connect(url: gix::url::Url, version: Protocol, net: &NetOptions) -> Result<BoxedTransport> {
    let shown = redact(&url.to_bstring().to_string());
    let host = url
        .host()
        .with_context(|| format!("{shown}: ssh url without a host"))?
        .to_string();
    let choice = choose(net, |k| std::env::var(k).ok());
    let variant = kind_from_variant(std::env::var("GIT_SSH_VARIANT").ok().as_deref());
    let named = kind_by_name(&choice.base);
    let kind = variant.or(named).unwrap_or_else(|| {
        if probe_is_openssh(&choice.base, &host, net.timeout) {
            ProgramKind::Ssh
        } else {
            ProgramKind::Simple
        }
    });
    let is_openssh = kind == ProgramKind::Ssh;
    // exec only for text that starts with a program we recognised; arbitrary shell text
    // (assignments, `cd x &&`) must run as written.
    let exec = named.is_some() || choice.source == Source::GitSsh;
    let stderr = StderrFile::create()?;
    let command = shell_command(&choice.base, is_openssh, exec, net.timeout, &stderr.path);
    log::debug!("ssh {shown}: using {} ({kind:?})", choice.source.describe());
    let args = ssh_args(&url, kind, version).with_context(|| format!("connect to {shown}"))?;
    let path = gix::url::expand_path::for_shell(url.path.clone());
    let quoted_path = remote_quote(&path.to_string());
    let make: MakeCommand = Box::new(move |service: Service| {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(&command)
            .arg("sh")
            .args(&args)
            .arg(service.as_str())
            .arg(&quoted_path)
            // ssh's messages in English, so `classify` can read them (git does the same).
            .env("LANG", "C")
            .env("LC_ALL", "C");
        cmd
    });
    let user = url.user().map(str::to_string);
    let password = url.password().map(str::to_string);
    let port = url.port;
    let inner = ProcessTransport::new(url, version, net.timeout, "ssh", make);
    Ok(Box::new(SshTransport {
        inner,
        stderr,
        host,
        port,
        source: choice.source,
        user,
        password,
        reported: false,
    }))
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
        assert_eq!(choose(&net, &both).base, "ssh -F /etc/x");
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

    #[test]
    fn classify_known_ssh_messages() {
        assert_eq!(
            classify("No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed.\n"),
            Failure::HostKeyUnknown
        );
        assert_eq!(
            classify("@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.\n"),
            Failure::HostKeyChanged
        );
        assert_eq!(
            classify("git@h: Permission denied (publickey).\n"),
            Failure::Auth
        );
        assert_eq!(
            classify("Connection timed out during banner exchange\nConnection to 127.0.0.1 port 9 timed out\n"),
            Failure::Timeout
        );
        assert_eq!(
            classify("ssh: connect to host 127.0.0.1 port 1: Connection refused\n"),
            Failure::Unreachable
        );
        assert_eq!(
            classify("fatal: '/x' does not appear to be a git repository\n"),
            Failure::NoRepo
        );
        assert_eq!(classify("sh: 1: ssh: not found\n"), Failure::NoProgram);
        assert_eq!(classify("something else\n"), Failure::Other);
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
