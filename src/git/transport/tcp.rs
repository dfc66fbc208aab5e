//! git:// on our own TCP socket: gix's connector has a fixed connect timeout and none on
//! reads, so a black-holed remote would hang the pass. Here connect, every read and every
//! write wait at most `network_timeout`, and the whole transfer at most `transfer_timeout`
//! (the `Budget`: a server trickling a byte a second ends too).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use gix::protocol::transport::client::git::{blocking_io::Connection, ConnectMode};
use gix::protocol::transport::Protocol;

use super::budget::Budget;
use super::link::BoxedTransport;
use crate::error::{Context, Error, Kind, Result};
use crate::git::NetOptions;

/// Open a git:// connection; failing to resolve or reach the host is `Kind::Network`.
pub fn connect(
    url: &gix::url::Url,
    version: Protocol,
    net: &NetOptions,
    budget: &Budget,
) -> Result<BoxedTransport> {
    let host = url
        .host()
        .context("git:// url without a host")
        .map_err(|e| e.with_kind(Kind::Invalid))?;
    let port = url.port.unwrap_or(9418);
    let shown = crate::url::Url::from(url);
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolve {host}:{port} for {shown}"))
        .map_err(|e| e.with_kind(Kind::Network))?
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
                let bounded = |stream| Socket {
                    stream,
                    silence: net.timeout,
                    budget: budget.clone(),
                };
                // gix writes a pkt-line as 2 or 3 pieces and flushes before it reads an
                // answer: buffered, a request is one segment, not one per piece. It reads a
                // pkt-line as header and body: buffered, one read takes what has arrived.
                let conn = Connection::new(
                    std::io::BufReader::with_capacity(16384, bounded(stream)),
                    std::io::BufWriter::with_capacity(8192, bounded(write)),
                    version,
                    url.path.clone(),
                    Some((host.to_owned(), url.port)),
                    ConnectMode::Daemon,
                    false,
                );
                return Ok(Box::new(conn));
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(Error::new(
        Kind::Network,
        format!(
            "connect to {shown}: {}",
            last_err.map_or_else(|| "no address".to_string(), |e| e.to_string())
        ),
    ))
}

/// One half of the socket: each wait at most `silence`, or what is left of the budget.
struct Socket {
    stream: TcpStream,
    silence: Duration,
    budget: Budget,
}

impl Socket {
    /// Shorten the socket's timeouts when the transfer's end is nearer than `silence`.
    fn bound_next_wait(&self) -> std::io::Result<()> {
        self.budget.check_time()?;
        let wait = self.budget.wait_bound(self.silence);
        if wait < self.silence {
            self.stream.set_read_timeout(Some(wait))?;
            self.stream.set_write_timeout(Some(wait))?;
        }
        Ok(())
    }

    /// A timed-out wait whose cause is the end of the budget says so.
    fn explain(&self, e: std::io::Error) -> std::io::Error {
        let waited = matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        );
        match self.budget.check_time() {
            Err(over) if waited => over,
            _ => e,
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.bound_next_wait()?;
        let n = self.stream.read(buf).map_err(|e| self.explain(e))?;
        self.budget.charge(n)?;
        Ok(n)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bound_next_wait()?;
        self.stream.write(buf).map_err(|e| self.explain(e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_connection_is_a_network_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        // The listener is gone: nothing listens there any more.
        let url =
            gix::url::parse(gix::bstr::BStr::new(&format!("git://127.0.0.1:{port}/r"))).unwrap();
        let err = connect(
            &url,
            Protocol::V2,
            &NetOptions::default(),
            &Budget::unbounded(),
        )
        .err()
        .expect("refused");
        assert_eq!(err.kind(), Kind::Network);
        assert!(err.to_string().contains("refused"), "{err}");
    }
}
