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
//! [`SshTransport`] reads it when the handshake fails and explains the failure with its fix
//! and its kind (`explain`). The command line itself is made in `command`.

mod command;
pub(crate) use command::takes_key;
mod explain;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gix::protocol::transport::client::blocking_io::ssh::ProgramKind;
use gix::protocol::transport::client::blocking_io::{RequestWriter, SetServiceResponse, Transport};
use gix::protocol::transport::client::{MessageKind, WriteMode};
use gix::protocol::transport::{Protocol, Service};

use self::command::{
    choose, kind_by_name, kind_from_variant, remote_quote, shell_command, ssh_args, Source,
};
use self::explain::{classify, explain, scrub};
use super::link::{io_error, BoxedTransport, Failure};
use super::process::{MakeCommand, ProcessTransport};
use crate::error::{Context, Error, Kind, Result};
use crate::git::NetOptions;
use crate::procgroup::{Ending, Group};
use crate::url::Url;

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
        let name = format!(
            "ssh-{}-{}-{nanos}.stderr",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = crate::files::temp_path(&std::env::temp_dir(), &name);
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
    /// Where an explained handshake failure notes its kind.
    failure: Failure,
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

super::link::forward_transport_without_io!(SshTransport, inner);

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
            failure,
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
            let kind = classify(&text).kind();
            failure.record(kind);
            let explained = Error::new(kind, explain(&text, host, *port, *source));
            // Not `PermissionDenied`: gix would answer that by asking credential helpers
            // for a user name, which is never what an ssh key failure needs.
            gix::protocol::transport::client::Error::Io(io_error(
                std::io::ErrorKind::Other,
                explained,
            ))
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
/// Run `<base> -G <host>` like git's `auto` variant does: a program that understands `-G`
/// is OpenSSH (or a wrapper around it). Bounded by `timeout`: a wrapper that ignores `-G`
/// and connects somewhere must not hang the pass, and whatever it started ends with it
/// (`sh` leads its own process group, and the whole group is killed).
fn probe_is_openssh(base: &str, host: &str, timeout: Duration) -> bool {
    if host.starts_with('-') {
        return false;
    }
    let group = Group::spawn(
        Command::new("sh")
            .arg("-c")
            .arg(format!(r#"{base} "$@""#))
            .arg("sh")
            .arg("-G")
            .arg(host)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let Ok(mut group) = group else {
        return false;
    };
    let ending = group.wait(Instant::now() + timeout, None, Duration::ZERO, &mut || {});
    let status = group.finish();
    ending == Ending::Exited && status.is_some_and(|s| s.success())
}

/// Connect to an ssh url (`ssh://` or scp-style) through the chosen ssh command.
/// Failures it explains are noted in `failure`.
pub fn connect(
    url: gix::url::Url,
    version: Protocol,
    net: &NetOptions,
    failure: &Failure,
    budget: &super::budget::Budget,
) -> Result<BoxedTransport> {
    let shown = Url::from(&url);
    let host = url
        .host()
        .with_context(|| format!("{shown}: ssh url without a host"))
        .map_err(|e| e.with_kind(Kind::Invalid))?
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
    let args = ssh_args(&url, kind, version).map_err(|e| {
        e.context(format!("connect to {shown}"))
            .with_kind(Kind::Invalid)
    })?;
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
    let inner = ProcessTransport::new(url, version, net.timeout, "ssh", make)
        .recording(failure.clone())
        .budgeted(budget.clone());
    Ok(Box::new(SshTransport {
        inner,
        stderr,
        host,
        port,
        source: choice.source,
        user,
        password,
        reported: false,
        failure: failure.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procgroup::gone_within;
    use std::path::Path;

    /// A wrapper (a name the agent does not recognise, so it is probed) that starts a
    /// child in the background, writes the child's pid, and hangs.
    fn hanging_wrapper(dir: &Path) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("wrap-ssh");
        let pid_file = dir.join("child.pid");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nsleep 1000 &\necho $! > '{}'\nwhile :; do sleep 1; done\n",
                pid_file.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        (script, pid_file)
    }

    #[test]
    fn a_hanging_wrapper_and_its_children_are_gone_within_the_probe_bound() {
        let dir = std::env::temp_dir().join(format!("gitops-agent-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (script, pid_file) = hanging_wrapper(&dir);
        let t0 = Instant::now();
        let openssh = probe_is_openssh(
            &command::shell_quote(&script.to_string_lossy()),
            "h.example",
            Duration::from_millis(500),
        );
        let took = t0.elapsed();
        let child: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let gone = gone_within(child, Duration::from_millis(500));
        if !gone {
            // SAFETY: ending the test's own leftover.
            unsafe { libc::kill(child, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert!(!openssh, "a program that never answers -G is not OpenSSH");
        assert!(took < Duration::from_secs(2), "probe took {took:?}");
        assert!(gone, "the wrapper's child {child} outlived the probe");
    }

    #[test]
    fn a_program_that_answers_dash_g_is_openssh() {
        assert!(probe_is_openssh(
            "true",
            "h.example",
            Duration::from_secs(5)
        ));
        assert!(!probe_is_openssh(
            "false",
            "h.example",
            Duration::from_secs(5)
        ));
    }
}
