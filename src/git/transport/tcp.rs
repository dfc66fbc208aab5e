//! git:// on our own TCP socket: gix's connector has a fixed connect timeout and none on
//! reads, so a black-holed remote would hang the pass. Here connect, every read and every
//! write wait at most `network_timeout`, and the whole transfer at most `transfer_timeout`
//! (the `Budget`: a server trickling a byte a second ends too).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use gix::protocol::transport::client::blocking_io::{RequestWriter, SetServiceResponse, Transport};
use gix::protocol::transport::client::git::{blocking_io::Connection, ConnectMode};
use gix::protocol::transport::client::{Error as TransportError, MessageKind, WriteMode};
use gix::protocol::transport::{Protocol, Service};

use super::budget::Budget;
use super::link::BoxedTransport;
use crate::error::{Context, Error, Kind, Result};
use crate::git::NetOptions;

/// Open a git:// connection; failing to resolve or reach the host is `Kind::Network`.
/// `request`: send the daemon's request line for this service now, not at the handshake
/// (the daemon then starts `upload-pack` while the caller does other work); the handshake
/// must then be for that service, with no extra parameters.
pub fn connect(
    url: &gix::url::Url,
    version: Protocol,
    net: &NetOptions,
    budget: &Budget,
    request: Option<Service>,
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
                let mut writer = std::io::BufWriter::with_capacity(8192, bounded(write));
                let vhost = (host.to_owned(), url.port);
                let mode = match request {
                    Some(service) => {
                        let line = request_line(service, version, url.path.as_ref(), &vhost)
                            .map_err(|e| {
                                Error::new(Kind::Invalid, format!("{shown}: {e}; fix the url"))
                            })?;
                        writer
                            .write_all(&line)
                            .and_then(|()| writer.flush())
                            .with_context(|| format!("send the request to {shown}"))
                            .map_err(|e| e.with_kind(Kind::Network))?;
                        // (gix writes no request line of its own then)
                        ConnectMode::Process
                    }
                    None => ConnectMode::Daemon,
                };
                let conn = Connection::new(
                    std::io::BufReader::with_capacity(16384, bounded(stream)),
                    writer,
                    version,
                    url.path.clone(),
                    Some(vhost),
                    mode,
                    false,
                );
                return Ok(match request {
                    Some(service) => Box::new(Requested {
                        inner: Box::new(conn),
                        service,
                    }),
                    None => Box::new(conn),
                });
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

/// The git daemon's request line as a pkt-line, byte for byte what gix's `ConnectMode::Daemon`
/// handshake writes without extra parameters: `<service> <path>\0host=<host>[:<port>]\0`,
/// then `\0version=<n>\0` unless v1. A path or host holding NUL or LF is refused.
fn request_line(
    service: Service,
    version: Protocol,
    path: &[u8],
    (host, port): &(String, Option<u16>),
) -> std::result::Result<Vec<u8>, &'static str> {
    let path = gix::url::expand_path::for_shell(path.into());
    let forbidden = |b: &u8| matches!(b, b'\0' | b'\n');
    if path.iter().any(forbidden) || host.as_bytes().iter().any(forbidden) {
        return Err("a git:// path or host must not hold NUL or LF");
    }
    let mut body = Vec::with_capacity(64 + path.len() + host.len());
    body.extend_from_slice(service.as_str().as_bytes());
    body.push(b' ');
    body.extend_from_slice(&path);
    body.push(0);
    body.extend_from_slice(b"host=");
    body.extend_from_slice(host.as_bytes());
    if let Some(port) = port {
        body.extend_from_slice(format!(":{port}").as_bytes());
    }
    body.push(0);
    if version != Protocol::V1 {
        body.push(0);
        body.extend_from_slice(format!("version={}", version as usize).as_bytes());
        body.push(0);
    }
    // A pkt-line: its length, header included, as 4 hex digits, at most 65520.
    if body.len() + 4 > 65520 {
        return Err(
            "a git:// request must fit in one pkt-line (65520 bytes): the path is too long",
        );
    }
    let mut line = format!("{:04x}", body.len() + 4).into_bytes();
    line.extend_from_slice(&body);
    Ok(line)
}

/// A connection whose request line went out at connect: its handshake only reads the
/// answer, and refuses a service or parameters other than those sent.
struct Requested {
    inner: BoxedTransport,
    service: Service,
}

super::link::forward_transport_without_io!(Requested, inner);

impl Transport for Requested {
    fn handshake<'a>(
        &mut self,
        service: Service,
        extra_parameters: &'a [(&'a str, Option<&'a str>)],
    ) -> std::result::Result<SetServiceResponse<'_>, TransportError> {
        if service != self.service || !extra_parameters.is_empty() {
            return Err(TransportError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the git:// request sent at connect was for another service or parameters",
            )));
        }
        self.inner.handshake(service, extra_parameters)
    }

    fn request(
        &mut self,
        write_mode: WriteMode,
        on_into_read: MessageKind,
        trace: bool,
    ) -> std::result::Result<RequestWriter<'_>, TransportError> {
        self.inner.request(write_mode, on_into_read, trace)
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
            None,
        )
        .err()
        .expect("refused");
        assert_eq!(err.kind(), Kind::Network);
        assert!(err.to_string().contains("refused"), "{err}");
    }

    /// What a connection sends first, read by `listener` on loopback: the request line.
    fn first_line(
        listener: &std::net::TcpListener,
        url: &str,
        version: Protocol,
        service: Service,
        early: bool,
    ) -> Vec<u8> {
        let port = listener.local_addr().unwrap().port();
        let url = url.replace("PORT", &port.to_string());
        let url = gix::url::parse(gix::bstr::BStr::new(&url)).unwrap();
        let client = std::thread::spawn(move || {
            let budget = Budget::unbounded();
            let net = NetOptions::default();
            let mut t = connect(&url, version, &net, &budget, early.then_some(service)).unwrap();
            // No answer comes: the listener hangs up once it has the line.
            let _ = t.handshake(service, &[]);
        });
        let (mut conn, _) = listener.accept().unwrap();
        let mut len = [0u8; 4];
        conn.read_exact(&mut len).unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&len).unwrap(), 16).unwrap();
        let mut body = vec![0u8; n - 4];
        conn.read_exact(&mut body).unwrap();
        drop(conn);
        client.join().unwrap();
        [len.to_vec(), body].concat()
    }

    #[test]
    fn the_request_sent_at_connect_is_the_one_gix_sends() {
        for (url, version, service) in [
            (
                "git://127.0.0.1:PORT/deploy.git",
                Protocol::V2,
                Service::UploadPack,
            ),
            (
                "git://127.0.0.1:PORT/~ops/deploy",
                Protocol::V2,
                Service::UploadPack,
            ),
            (
                "git://127.0.0.1:PORT/a/b.git",
                Protocol::V1,
                Service::ReceivePack,
            ),
        ] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let gix_sent = first_line(&listener, url, version, service, false);
            let ours = first_line(&listener, url, version, service, true);
            assert_eq!(
                gix::bstr::BStr::new(&ours),
                gix::bstr::BStr::new(&gix_sent),
                "{url}"
            );
        }
    }

    #[test]
    fn a_request_line_holding_nul_or_lf_or_too_long_is_refused() {
        let host = ("h".to_string(), None);
        assert!(request_line(Service::UploadPack, Protocol::V2, b"/a\nb", &host).is_err());
        assert!(request_line(Service::UploadPack, Protocol::V2, b"/a\0b", &host).is_err());
        let bad_host = ("h\0x".to_string(), Some(1));
        assert!(request_line(Service::UploadPack, Protocol::V2, b"/a", &bad_host).is_err());
        // (the longest that fits: its length field is the line's own, in 4 hex digits)
        // ("git-upload-pack ", "host=h" and "version=2" with their NULs: 35 bytes)
        let fits = vec![b'a'; 65520 - 4 - 35];
        let line = request_line(Service::UploadPack, Protocol::V2, &fits, &host).unwrap();
        assert_eq!((line.len(), &line[..4]), (65520, &b"fff0"[..]));
        let over = vec![b'a'; 65520 - 4 - 35 + 1];
        assert!(request_line(Service::UploadPack, Protocol::V2, &over, &host).is_err());
        let line = request_line(Service::UploadPack, Protocol::V2, b"/r", &host).unwrap();
        assert_eq!(line, b"0029git-upload-pack /r\0host=h\0\0version=2\0");
    }

    #[test]
    fn a_handshake_for_another_service_than_the_one_sent_is_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("git://127.0.0.1:{port}/r");
        let url = gix::url::parse(gix::bstr::BStr::new(&url)).unwrap();
        let (budget, net) = (Budget::unbounded(), NetOptions::default());
        let mut t = connect(&url, Protocol::V2, &net, &budget, Some(Service::UploadPack)).unwrap();
        assert!(t.handshake(Service::ReceivePack, &[]).is_err());
        assert!(t.handshake(Service::UploadPack, &[("x", None)]).is_err());
    }
}
