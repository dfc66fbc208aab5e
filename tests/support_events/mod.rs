//! A webhook receiver for the event tests: a std::net server thread on 127.0.0.1 that
//! records each request (head and body) and answers 200 — or accepts and never answers, or
//! answers one byte a second — over plain http or TLS; and a reader of the event JSON.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Request {
    pub head: String,
    pub body: String,
}

/// How a receiver treats a request.
#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    /// Record it, answer 200.
    Answer,
    /// Accept the connection, never read or answer.
    Dead,
    /// Read it, then send an answer's status line one byte a second, forever: every single
    /// read succeeds, so only a bound on the whole delivery ends it.
    Trickle,
}

/// A webhook receiver on 127.0.0.1.
pub struct Receiver {
    pub port: u16,
    got: Arc<Mutex<Vec<Request>>>,
    /// One message per connection accepted.
    pub accepted: mpsc::Receiver<()>,
}

impl Receiver {
    pub fn start(mode: Mode) -> Receiver {
        Self::on(TcpListener::bind("127.0.0.1:0").unwrap(), mode)
    }

    pub fn on(listener: TcpListener, mode: Mode) -> Receiver {
        Self::serve(listener, mode, None)
    }

    /// An https receiver (answers 200) with this TLS config.
    pub fn tls(config: Arc<rustls::ServerConfig>) -> Receiver {
        Self::serve(
            TcpListener::bind("127.0.0.1:0").unwrap(),
            Mode::Answer,
            Some(config),
        )
    }

    fn serve(
        listener: TcpListener,
        mode: Mode,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let (tx, accepted) = mpsc::channel();
        let log = Arc::clone(&got);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming().flatten() {
                let _ = tx.send(());
                if mode == Mode::Dead {
                    held.push(conn); // never answered, never closed
                    continue;
                }
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                if let Some(tls) = &tls {
                    let Ok(session) = rustls::ServerConnection::new(Arc::clone(tls)) else {
                        continue;
                    };
                    let mut stream = rustls::StreamOwned::new(session, conn);
                    if let Some(req) = read_request(&mut stream) {
                        log.lock().unwrap().push(req);
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        let _ = stream.flush();
                    }
                    continue;
                }
                let mut conn = conn;
                if let Some(req) = read_request(&mut conn) {
                    log.lock().unwrap().push(req);
                }
                if mode == Mode::Trickle {
                    std::thread::spawn(move || {
                        for b in b"HTTP/1.1 200 OK\r\nX-Slow: "
                            .iter()
                            .chain(b"a".repeat(10_000).iter())
                        {
                            if conn.write_all(&[*b]).is_err() {
                                return;
                            }
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    });
                    continue;
                }
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Receiver {
            port,
            got,
            accepted,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn https_url(&self) -> String {
        format!("https://127.0.0.1:{}/hook", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.got.lock().unwrap().clone()
    }
}

fn read_request(conn: &mut impl Read) -> Option<Request> {
    let mut reader = BufReader::new(conn);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        head,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A port nothing listens on (bound, then let go).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `"key":"value"` string of a one-line event JSON (TOML reads JSON strings alike).
pub fn field(json: &str, key: &str) -> Option<String> {
    let start = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &json[start..];
    if rest.starts_with("null") {
        return None;
    }
    let mut end = 1;
    let bytes = rest.as_bytes();
    while bytes[end] != b'"' {
        end += if bytes[end] == b'\\' { 2 } else { 1 };
    }
    let v: toml::Table = format!("v = {}", &rest[..=end]).parse().unwrap();
    v["v"].as_str().map(str::to_string)
}
