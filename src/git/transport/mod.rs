//! Opening a connection to a remote, one place for every scheme, so each is bounded by
//! `NetOptions::timeout` and each failure gets a kind (see `link`).
//!
//! One module per way of reaching a remote: `tcp` (git://, our own socket with timeouts),
//! `http` (smart-HTTP over ureq), `ssh` (the system ssh client) and `file` (`git
//! upload-pack`), the last two over a helper's pipes (`process`); every fetch goes through
//! `fetch_handshake` (the protocol spoken; shallow fetches from v0/v1 servers). Imports only go down: this module picks
//! one; `ssh` and `file` use `process`; all of them use `link`.

pub mod budget;
mod fetch_handshake;
pub(crate) mod file;
pub mod http;
pub(crate) mod link;
pub(crate) mod process;
pub(crate) mod ssh;
pub(crate) mod tcp;

use gix::protocol::transport::{Protocol, Service};

pub use self::budget::Budget;
pub use self::link::{BoxedTransport, Failure, Link, Spoken};
use crate::error::{Context, Error, Kind, Result};
use crate::git::NetOptions;
use crate::url::Url;

/// Connect to `url` for `service` (fetch uses protocol v2 when offered; push is v1 only).
pub fn connect(url: &Url, service: Service, net: &NetOptions) -> Result<BoxedTransport> {
    open(url, service, net).map(|link| link.transport)
}

/// [`connect`], keeping the transport's failure slot for the operation's error kind.
pub fn open(url: &Url, service: Service, net: &NetOptions) -> Result<Link> {
    open_with(url, service, net, false)
}

/// [`open`], and on git:// the request sent at once (`tcp::connect`): for a connection
/// opened before it is used, so the server starts its side meanwhile.
pub fn open_requesting(url: &Url, service: Service, net: &NetOptions) -> Result<Link> {
    open_with(url, service, net, true)
}

fn open_with(url: &Url, service: Service, net: &NetOptions, request_now: bool) -> Result<Link> {
    let version = match service {
        Service::ReceivePack => Protocol::V1,
        _ => Protocol::V2,
    };
    let parsed = gix::url::parse(gix::bstr::BStr::new(url.secret().as_bytes()))
        .with_context(|| format!("parse url {}", url))
        .map_err(|e| e.with_kind(Kind::Invalid))?;
    let failure = Failure::default();
    // From now on the whole transfer counts against transfer_timeout.
    let budget = Budget::new(net.transfer_timeout, failure.clone());
    budget.show_as(url);
    let env = |name: &str| std::env::var(name).ok();
    let transport = match parsed.scheme {
        gix::url::Scheme::Git => {
            tcp::connect(&parsed, version, net, &budget, request_now.then_some(service))?
        }
        gix::url::Scheme::Http | gix::url::Scheme::Https => {
            http::open(&parsed, version, net, env, &failure, &budget)
                .with_context(|| format!("connect to {}", url))?
        }
        gix::url::Scheme::Ssh => ssh::connect(parsed, version, net, &failure, &budget)?,
        gix::url::Scheme::File => file::connect(parsed, version, net, &failure, &budget),
        other => {
            return Err(Error::new(
                Kind::Invalid,
                format!(
                    "{}: unsupported url scheme '{other}' (use git://, http(s)://, ssh:// or scp-style git@host:path, or file://)",
                    url
                ),
            ))
        }
    };
    let spoken = Spoken::default();
    // Fetches only: a push never deepens.
    let transport: BoxedTransport = match service {
        Service::UploadPack => Box::new(fetch_handshake::FetchHandshake {
            inner: transport,
            spoken: spoken.clone(),
        }),
        _ => transport,
    };
    Ok(Link {
        transport,
        failure,
        spoken,
        budget,
    })
}
