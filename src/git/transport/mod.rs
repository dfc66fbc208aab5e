//! Opening a connection to a remote, one place for every scheme, so each is bounded by
//! `NetOptions::timeout` and the http client can be swapped in (see `http`).
//!
//! git:// is opened here with our own TCP socket (connect/read/write timeouts), because
//! gix's connector has a fixed connect timeout and none on reads: a black-holed remote
//! would hang the pass. file:// and ssh spawn a helper program (`git`, `ssh`) and talk over
//! its pipes with the same silence bound (`process`); ssh's command line and error messages
//! are made in `ssh`.

use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};

use gix::bstr::ByteSlice;

use gix::protocol::transport::client::blocking_io::Transport;
use gix::protocol::transport::{Protocol, Service};

pub mod http;
pub mod process;
pub mod ssh;

use self::process::{MakeCommand, ProcessTransport};
use crate::error::{Context, Error, Result};
use crate::git::NetOptions;
use crate::url::redact;

/// A boxed transport ready for a handshake.
pub type BoxedTransport = Box<dyn Transport + Send>;

/// Connect to `url` for `service` (fetch uses protocol v2 when offered; push is v1 only).
pub fn connect(url: &str, service: Service, net: &NetOptions) -> Result<BoxedTransport> {
    let version = match service {
        Service::ReceivePack => Protocol::V1,
        _ => Protocol::V2,
    };
    let parsed = gix::url::parse(gix::bstr::BStr::new(url.as_bytes()))
        .with_context(|| format!("parse url {}", redact(url)))?;
    match parsed.scheme {
        gix::url::Scheme::Git => connect_git(&parsed, version, net),
        gix::url::Scheme::Http | gix::url::Scheme::Https => connect_http(url, parsed, version, net),
        gix::url::Scheme::Ssh => ssh::connect(parsed, version, net),
        gix::url::Scheme::File => Ok(connect_file(parsed, version, net)),
        other => Err(Error::msg(format!(
            "{}: unsupported url scheme '{other}' (use git://, http(s)://, ssh:// or scp-style git@host:path, or file://)",
            redact(url)
        ))),
    }
}

fn connect_git(url: &gix::url::Url, version: Protocol, net: &NetOptions) -> Result<BoxedTransport> {
    let host = url.host().context("git:// url without a host")?;
    let port = url.port.unwrap_or(9418);
    let shown = url.to_bstring().to_string();
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolve {host}:{port} for {shown}"))?
        .collect();
    let mut last_err = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, net.timeout) {
            Ok(stream) => {
                // gix writes a request in several small pieces; without this, Nagle holds
                // the last one back for a delayed ACK (~40 ms per contact, measured).
                stream.set_nodelay(true).context("set TCP_NODELAY")?;
                stream
                    .set_read_timeout(Some(net.timeout))
                    .context("set read timeout")?;
                stream
                    .set_write_timeout(Some(net.timeout))
                    .context("set write timeout")?;
                let write = stream.try_clone().context("clone tcp stream")?;
                let conn = gix::protocol::transport::client::git::blocking_io::Connection::new(
                    stream,
                    write,
                    version,
                    url.path.clone(),
                    Some((host.to_owned(), url.port)),
                    gix::protocol::transport::client::git::ConnectMode::Daemon,
                    false,
                );
                return Ok(Box::new(conn));
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(Error::msg(format!(
        "connect to {shown}: {}",
        last_err.map_or_else(|| "no address".to_string(), |e| e.to_string())
    )))
}

/// file://: `git upload-pack <path>` (or receive-pack) over pipes bounded like a socket
/// (a repository on a hung network mount must not hang the pass). `git <service>` rather
/// than `git-<service>`: git finds its own helpers, wherever the distribution put them.
fn connect_file(url: gix::url::Url, version: Protocol, net: &NetOptions) -> BoxedTransport {
    let path = url.path.to_os_str_lossy().into_owned();
    let make: MakeCommand = Box::new(move |service: Service| {
        let sub = service.as_str().trim_start_matches("git-");
        let mut cmd = Command::new("git");
        cmd.arg(sub).arg(&path).stderr(Stdio::null());
        cmd
    });
    const HINT: &str = "file:// remotes need git on the device (Debian: apt-get install git); git://, http(s):// and ssh do not";
    Box::new(ProcessTransport::new(url, version, net.timeout, "git", make).with_missing_hint(HINT))
}

/// http(s): our ureq client (see `http`); userinfo is taken out of the url before gix sees it.
fn connect_http(
    url: &str,
    parsed: gix::url::Url,
    version: Protocol,
    net: &NetOptions,
) -> Result<BoxedTransport> {
    http::connect(&parsed, version, net).with_context(|| format!("connect to {}", redact(url)))
}
