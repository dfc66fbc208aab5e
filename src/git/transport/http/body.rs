//! The response and request bodies handed to gix. gix writes a POST's body first and reads
//! the response after, so the request is sent on the first read of its headers or body.

use std::io::{self, BufRead, BufReader, Cursor, Read, Write};
use std::sync::{Arc, Mutex};

use super::exchange::{Exchange, RequestError};
use crate::error::{Error, Kind};
use crate::git::transport::budget::Bounded;
use crate::git::transport::link::{io_error, Failure};

/// `name: value\n` lines, the form gix reads (it checks Content-Type).
pub fn header_lines(resp: &ureq::Response) -> Vec<u8> {
    let mut out = Vec::new();
    for name in resp.headers_names() {
        for value in resp.all(&name) {
            out.extend_from_slice(format!("{name}: {value}\n").as_bytes());
        }
    }
    out
}

pub type BodyReader = BufReader<Box<dyn Read + Send + Sync + 'static>>;

/// A POST in flight. gix writes the body first and reads the response after, so the request
/// is sent on the first read of headers or body, with the whole body and a Content-Length
/// (CGI servers such as git-http-backend want one). Pushes are buffered in memory: fine for
/// deploy repos.
pub enum Post {
    Buffering {
        request: ureq::Request,
        body: Vec<u8>,
        exchange: Exchange,
    },
    Answered {
        headers: Option<Vec<u8>>,
        body: Option<BodyReader>,
    },
    Failed(RequestError),
}

impl Post {
    /// Send if not sent yet; afterwards the state is `Answered` or `Failed`.
    fn send(&mut self) {
        if !matches!(self, Post::Buffering { .. }) {
            return;
        }
        let placeholder = Post::Failed(RequestError {
            io_kind: io::ErrorKind::Other,
            error: Error::new(Kind::Io, "http request state lost"),
        });
        if let Post::Buffering {
            request,
            body,
            exchange,
        } = std::mem::replace(self, placeholder)
        {
            log::debug!(
                "http: POST {} {} ({} bytes)",
                exchange.shown,
                exchange.what,
                body.len()
            );
            *self = match exchange.check(request.send_bytes(&body)) {
                Ok(resp) => Post::Answered {
                    headers: Some(header_lines(&resp)),
                    body: Some(BufReader::new(Box::new(Bounded::new(
                        resp.into_reader(),
                        exchange.budget.clone(),
                    )))),
                },
                Err(e) => Post::Failed(e),
            };
        }
    }
}

fn lock(shared: &Mutex<Post>) -> io::Result<std::sync::MutexGuard<'_, Post>> {
    shared
        .lock()
        .map_err(|_| io::Error::other("http request state poisoned by an earlier panic"))
}

/// The POST body writer handed to gix.
pub struct PostBody(pub Arc<Mutex<Post>>);

impl Write for PostBody {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut *lock(&self.0)? {
            Post::Buffering { body, .. } => {
                body.extend_from_slice(buf);
                Ok(buf.len())
            }
            _ => Err(io::Error::other(
                "http: write to a request that was already sent",
            )),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Response headers as `name: value\n` lines; for a POST, reading them sends the request.
pub struct Headers {
    pending: Option<Arc<Mutex<Post>>>,
    lines: Cursor<Vec<u8>>,
}

impl Headers {
    /// The headers of a response already in.
    pub fn answered(lines: Vec<u8>) -> Headers {
        Headers {
            pending: None,
            lines: Cursor::new(lines),
        }
    }

    /// The headers of a POST not sent yet.
    pub fn pending(post: Arc<Mutex<Post>>) -> Headers {
        Headers {
            pending: Some(post),
            lines: Cursor::new(Vec::new()),
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        if let Some(shared) = self.pending.take() {
            let mut post = lock(&shared)?;
            post.send();
            match &mut *post {
                Post::Answered { headers, .. } => {
                    self.lines = Cursor::new(headers.take().unwrap_or_default())
                }
                Post::Failed(e) => return Err(e.to_io()),
                Post::Buffering { .. } => return Err(io::Error::other("http: request not sent")),
            }
        }
        Ok(())
    }
}

impl Read for Headers {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fill()?;
        self.lines.read(buf)
    }
}

impl BufRead for Headers {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.fill()?;
        self.lines.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.lines.consume(amt)
    }
}

/// The response body; for a POST, reading it sends the request (if the headers were not read).
pub struct Body {
    pending: Option<Arc<Mutex<Post>>>,
    reader: Option<BodyReader>,
    /// A read that fails mid-body (a reset, a timeout) notes `Kind::Network` here.
    failure: Failure,
    /// Names the remote and the bound in a read-timeout message.
    exchange: Exchange,
}

impl Body {
    /// The body of a response already in.
    pub fn answered(reader: BodyReader, exchange: Exchange) -> Body {
        Body {
            pending: None,
            reader: Some(reader),
            failure: exchange.failure.clone(),
            exchange,
        }
    }

    /// The body of a POST not sent yet.
    pub fn pending(post: Arc<Mutex<Post>>, exchange: Exchange) -> Body {
        Body {
            pending: Some(post),
            reader: None,
            failure: exchange.failure.clone(),
            exchange,
        }
    }

    fn reader(&mut self) -> io::Result<&mut BodyReader> {
        if let Some(shared) = self.pending.take() {
            let mut post = lock(&shared)?;
            post.send();
            match &mut *post {
                Post::Answered { body, .. } => self.reader = body.take(),
                Post::Failed(e) => return Err(e.to_io()),
                Post::Buffering { .. } => return Err(io::Error::other("http: request not sent")),
            }
        }
        self.reader
            .as_mut()
            .ok_or_else(|| io::Error::other("http: response body already taken"))
    }
}

/// A failed read of a response body, explained: a timeout names the operation, the bound
/// and the key to raise (gix would call it a failure to *write* the received pack).
fn read_failed(e: io::Error, failure: &Failure, exchange: &Exchange) -> io::Error {
    if matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) {
        let err = Error::new(
            Kind::Network,
            format!(
                "{}: timed out reading the server's answer to {} {}: no data for network_timeout = {} s (raise network_timeout in the agent config for slow links)",
                exchange.shown, exchange.method, exchange.what, exchange.timeout_secs
            ),
        );
        failure.record_error(&err);
        return io_error(io::ErrorKind::TimedOut, err);
    }
    failure.record(Kind::Network);
    e
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (failure, exchange) = (self.failure.clone(), self.exchange.clone());
        self.reader()?
            .read(buf)
            .map_err(|e| read_failed(e, &failure, &exchange))
    }
}

impl BufRead for Body {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let (failure, exchange) = (self.failure.clone(), self.exchange.clone());
        self.reader()?
            .fill_buf()
            .map_err(|e| read_failed(e, &failure, &exchange))
    }
    fn consume(&mut self, amt: usize) {
        if let Some(reader) = self.reader.as_mut() {
            reader.consume(amt)
        }
    }
}
