//! Transports over a helper process's pipes: `ssh` for ssh remotes, `git-upload-pack` /
//! `git-receive-pack` for file:// remotes.
//!
//! gix's own process transport reads and writes the pipes with blocking calls and no time
//! bound, so a helper that stalls (an ssh server that logs us in and then never sends a
//! byte while still answering keep-alives, a local repo on a hung NFS mount) hangs the pass
//! for good. Here our end of each pipe is non-blocking and every read and write waits at most
//! `timeout` for the helper (`network_timeout`, the same silence bound git:// and http get
//! from their sockets). The helper runs in its own process group (`procgroup`), so a shell
//! wrapper around `ssh` (`GIT_SSH_COMMAND` is shell text) is ended together with it.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::process::{ChildStdin, ChildStdout, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gix::bstr::BStr;
use gix::protocol::transport::client::blocking_io::{RequestWriter, SetServiceResponse, Transport};
use gix::protocol::transport::client::git::blocking_io::Connection;
use gix::protocol::transport::client::git::ConnectMode;
use gix::protocol::transport::client::{
    Error as ClientError, MessageKind, TransportWithoutIO, WriteMode,
};
use gix::protocol::transport::{Protocol, Service};

use super::budget::Budget;
use super::link::Failure;
use crate::error::Kind;
use crate::procgroup::Group;

/// Variables git clears before running a transport helper (as gix does): they would point
/// the helper at our repository instead of the remote one.
const ENV_TO_REMOVE: &[&str] = &[
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
    "GIT_CONFIG_COUNT",
];

/// How long a helper may take to exit by itself once its pipes are closed, before its
/// process group is killed (a finished ssh exits within a round trip; a stalled one never).
const EXIT_GRACE: Duration = Duration::from_millis(1000);

/// Builds the helper's command for a service (`git-upload-pack` or `git-receive-pack`).
pub type MakeCommand = Box<dyn FnMut(Service) -> Command + Send>;

/// A transport that spawns its helper on the handshake and talks git over its pipes.
pub struct ProcessTransport {
    url: gix::url::Url,
    version: Protocol,
    timeout: Duration,
    /// Names the helper in timeout errors ("ssh", "git-upload-pack").
    what: String,
    make: MakeCommand,
    connection: Option<Connection<TimedReader, TimedWriter>>,
    helper: Option<Group>,
    /// Set by a pipe whose wait timed out: the helper is known stuck, end it at once.
    stalled: Arc<AtomicBool>,
    /// Where a stall is noted as `Kind::Network` for the operation.
    failure: Failure,
    /// The whole transfer's bound (`transfer_timeout`, bytes before the pack).
    budget: Budget,
    missing_hint: Option<&'static str>,
}

impl ProcessTransport {
    pub fn new(
        url: gix::url::Url,
        version: Protocol,
        timeout: Duration,
        what: impl Into<String>,
        make: MakeCommand,
    ) -> ProcessTransport {
        ProcessTransport {
            url,
            version,
            timeout,
            what: what.into(),
            make,
            connection: None,
            helper: None,
            stalled: Arc::new(AtomicBool::new(false)),
            failure: Failure::default(),
            budget: Budget::unbounded(),
            missing_hint: None,
        }
    }

    /// Charge what the helper sends to `budget`, and end the transfer when it runs out.
    pub fn budgeted(mut self, budget: Budget) -> ProcessTransport {
        self.budget = budget;
        self
    }

    /// Note failures in `failure` (shared with the operation using this transport).
    pub fn recording(mut self, failure: Failure) -> ProcessTransport {
        self.failure = failure;
        self
    }

    /// What to tell the operator when the helper program is not installed.
    pub fn with_missing_hint(mut self, hint: &'static str) -> ProcessTransport {
        self.missing_hint = Some(hint);
        self
    }

    fn spawn(&mut self, service: Service) -> std::io::Result<()> {
        let mut cmd = (self.make)(service);
        for name in ENV_TO_REMOVE {
            cmd.env_remove(name);
        }
        if self.version != Protocol::V1 {
            cmd.env("GIT_PROTOCOL", format!("version={}", self.version as usize));
        }
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        // Its own group: a shell wrapper and the ssh it starts end together.
        let mut helper =
            Group::spawn(&mut cmd).map_err(|e| match (e.kind(), self.missing_hint) {
                (std::io::ErrorKind::NotFound, Some(hint)) => std::io::Error::new(
                    e.kind(),
                    format!("{} not found on PATH: {hint}", self.what),
                ),
                _ => e,
            })?;
        let child = helper.child();
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("helper started without pipes"));
        };
        let stall = Stall {
            flag: Arc::clone(&self.stalled),
            failure: self.failure.clone(),
        };
        let reader = TimedReader::new(stdout, self.timeout, &self.what)?
            .flagging(stall.clone())
            .budgeted(self.budget.clone());
        let writer = TimedWriter::new(stdin, self.timeout, &self.what)?
            .flagging(stall)
            .budgeted(self.budget.clone());
        self.connection = Some(Connection::new(
            reader,
            writer,
            self.version,
            self.url.path.clone(),
            None::<(&str, Option<u16>)>,
            ConnectMode::Process,
            false,
        ));
        self.helper = Some(helper);
        Ok(())
    }
}

impl Drop for ProcessTransport {
    fn drop(&mut self) {
        // Closing the pipes first lets a helper that is done exit on its own (a receive-pack
        // still running its post-receive hook is not cut short); a stalled one is killed.
        self.connection = None;
        if let Some(mut helper) = self.helper.take() {
            let grace = if self.stalled.load(Ordering::Relaxed) {
                Duration::ZERO
            } else {
                EXIT_GRACE
            };
            helper.wait(Instant::now() + grace, None, Duration::ZERO, &mut || {});
            helper.finish();
        }
    }
}

/// What a pipe whose wait timed out sets: the helper is stuck (end it at once), and the
/// operation failed for a network reason.
#[derive(Clone, Default)]
struct Stall {
    flag: Arc<AtomicBool>,
    failure: Failure,
}

impl Stall {
    fn note(&self) {
        self.flag.store(true, Ordering::Relaxed);
        self.failure.record(Kind::Network);
    }
}

impl TransportWithoutIO for ProcessTransport {
    fn set_identity(&mut self, identity: gix::sec::identity::Account) -> Result<(), ClientError> {
        if self.url.scheme == gix::url::Scheme::Ssh {
            self.url
                .set_user((!identity.username.is_empty()).then_some(identity.username));
            Ok(())
        } else {
            Err(ClientError::AuthenticationUnsupported)
        }
    }

    fn to_url(&self) -> Cow<'_, BStr> {
        Cow::Owned(self.url.to_bstring())
    }

    fn connection_persists_across_multiple_requests(&self) -> bool {
        true
    }

    fn configure(&mut self, _config: &dyn std::any::Any) -> gix::error::Result {
        Ok(())
    }
}

impl Transport for ProcessTransport {
    fn handshake<'a>(
        &mut self,
        service: Service,
        extra_parameters: &'a [(&'a str, Option<&'a str>)],
    ) -> Result<SetServiceResponse<'_>, ClientError> {
        self.spawn(service)
            .map_err(|source| ClientError::InvokeProgram {
                source,
                command: self.what.clone().into(),
            })?;
        self.connection
            .as_mut()
            .ok_or(ClientError::MissingHandshake)?
            .handshake(service, extra_parameters)
    }

    fn request(
        &mut self,
        write_mode: WriteMode,
        on_into_read: MessageKind,
        trace: bool,
    ) -> Result<RequestWriter<'_>, ClientError> {
        self.connection
            .as_mut()
            .ok_or(ClientError::MissingHandshake)?
            .request(write_mode, on_into_read, trace)
    }
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own (borrowed for the call); no memory is passed.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // Only our end of the pipe: the helper has its own descriptor for the other end.
    // SAFETY: as above.
    if unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Wait until `fd` is ready for `events`, at most `timeout`; a silent helper is an error
/// of kind `TimedOut` that says who was silent and which setting bounds it.
fn wait_ready(
    fd: BorrowedFd<'_>,
    events: libc::c_short,
    bound: Duration,
    timeout: Duration,
    what: &str,
) -> std::io::Result<()> {
    let deadline = Instant::now() + bound;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let doing = if events == libc::POLLIN {
                format!("no data from {what}")
            } else {
                format!("{what} took no data")
            };
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "{doing} within {:.1} s (network_timeout is {} s); the remote stalled",
                    bound.as_secs_f64(),
                    timeout.as_secs()
                ),
            ));
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd, count 1.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n > 0 {
            // Readable, writable, or hung up/in error: the next read or write says which.
            return Ok(());
        }
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

/// The helper's stdout, each read waiting at most `timeout`; the first one longer (see
/// [`first_read_bound`]).
pub struct TimedReader {
    pipe: ChildStdout,
    timeout: Duration,
    what: String,
    got_data: bool,
    stall: Stall,
    budget: Budget,
}

/// The first byte comes only after ssh has connected, exchanged keys and logged in, each
/// step bounded by ssh itself (`ConnectTimeout`, `ServerAlive*` = `network_timeout`), whose
/// error says which step failed; our bound is the backstop for a server that never speaks
/// after that, so it leaves ssh's timers room to fire first.
pub fn first_read_bound(timeout: Duration) -> Duration {
    timeout + timeout / 2
}

impl TimedReader {
    fn new(pipe: ChildStdout, timeout: Duration, what: &str) -> std::io::Result<TimedReader> {
        set_nonblocking(pipe.as_fd())?;
        Ok(TimedReader {
            pipe,
            timeout,
            what: what.to_string(),
            got_data: false,
            stall: Stall::default(),
            budget: Budget::unbounded(),
        })
    }

    fn flagging(self, stall: Stall) -> TimedReader {
        TimedReader { stall, ..self }
    }

    fn budgeted(self, budget: Budget) -> TimedReader {
        TimedReader { budget, ..self }
    }
}

impl Read for TimedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let bound = if self.got_data {
            self.timeout
        } else {
            first_read_bound(self.timeout)
        };
        // A helper that trickles or floods is as stuck as a silent one: end it at once.
        let budget = self.budget.clone();
        let over_budget = |e: std::io::Error, stall: &Stall| {
            stall.note();
            e
        };
        budget
            .check_time()
            .map_err(|e| over_budget(e, &self.stall))?;
        loop {
            match self.pipe.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let fd = self.pipe.as_fd();
                    let wait = budget.wait_bound(bound);
                    if let Err(e) = wait_ready(fd, libc::POLLIN, wait, self.timeout, &self.what) {
                        self.stall.note();
                        budget.check_time()?;
                        return Err(e);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => {
                    if let Ok(n) = other {
                        self.got_data |= n > 0;
                        budget.charge(n).map_err(|e| over_budget(e, &self.stall))?;
                    }
                    return other;
                }
            }
        }
    }
}

/// The helper's stdin, each write waiting at most `timeout` for room in the pipe.
pub struct TimedWriter {
    pipe: ChildStdin,
    timeout: Duration,
    what: String,
    stall: Stall,
    budget: Budget,
}

impl TimedWriter {
    fn new(pipe: ChildStdin, timeout: Duration, what: &str) -> std::io::Result<TimedWriter> {
        set_nonblocking(pipe.as_fd())?;
        Ok(TimedWriter {
            pipe,
            timeout,
            what: what.to_string(),
            stall: Stall::default(),
            budget: Budget::unbounded(),
        })
    }

    fn flagging(self, stall: Stall) -> TimedWriter {
        TimedWriter { stall, ..self }
    }

    fn budgeted(self, budget: Budget) -> TimedWriter {
        TimedWriter { budget, ..self }
    }
}

impl Write for TimedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            match self.pipe.write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let t = self.timeout;
                    let wait = self.budget.wait_bound(t);
                    if let Err(e) =
                        wait_ready(self.pipe.as_fd(), libc::POLLOUT, wait, t, &self.what)
                    {
                        self.stall.note();
                        self.budget.check_time()?;
                        return Err(e);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.pipe.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    fn helper(script: &str) -> Group {
        Group::spawn(
            Command::new("sh")
                .args(["-c", script])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
        )
        .unwrap()
    }

    #[test]
    fn silent_helper_read_times_out_as_a_network_failure_and_data_still_flows() {
        let mut h = helper("printf hello; sleep 5");
        let stall = Stall::default();
        let stdout = h.child().stdout.take().unwrap();
        let mut r = TimedReader::new(stdout, Duration::from_millis(300), "ssh")
            .unwrap()
            .flagging(stall.clone());
        let mut buf = [0u8; 5];
        r.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        assert_eq!(stall.failure.recorded(), None);
        let t0 = Instant::now();
        let err = r.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("no data from ssh"), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(3));
        assert!(stall.flag.load(Ordering::Relaxed));
        assert_eq!(stall.failure.recorded(), Some(Kind::Network));
    }

    #[test]
    fn helper_that_takes_no_input_times_out_the_writer() {
        let mut h = helper("sleep 5");
        let stall = Stall::default();
        let stdin = h.child().stdin.take().unwrap();
        let mut w = TimedWriter::new(stdin, Duration::from_millis(300), "ssh")
            .unwrap()
            .flagging(stall.clone());
        // Far more than a pipe holds.
        let err = w.write_all(&vec![0u8; 4 << 20]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("ssh took no data"), "{err}");
        assert_eq!(stall.failure.recorded(), Some(Kind::Network));
    }

    #[test]
    fn end_of_output_is_eof_not_timeout() {
        let mut h = helper("printf x");
        let stdout = h.child().stdout.take().unwrap();
        let mut r = TimedReader::new(stdout, Duration::from_secs(5), "ssh").unwrap();
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"x");
    }
}
