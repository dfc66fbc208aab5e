//! A byte-counting TCP proxy on 127.0.0.1 in front of any server (git daemon, the http
//! server, sshd): accept, connect upstream, copy both ways, count what flows downstream
//! (server → client: what a device downloads). The agent and the git CLI go through the
//! same proxy, so their figures are measured on the same wire.
//!
//! `v0_only` also rewrites a git:// request so the server never sees the client's
//! `version=2` (the extra parameters after `\0\0`): the server answers in protocol v0, as a
//! server that predates v2 does.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Counters {
    down: AtomicU64,
    connections: AtomicUsize,
    open: AtomicUsize,
}

/// Downstream bytes and connections made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    pub bytes: u64,
    pub connections: usize,
}

impl Traffic {
    pub const NONE: Traffic = Traffic {
        bytes: 0,
        connections: 0,
    };
}

pub struct Proxy {
    pub port: u16,
    counters: Arc<Counters>,
}

impl Proxy {
    pub fn start(upstream: u16) -> Proxy {
        Self::spawn(upstream, false)
    }

    /// For git daemon: the server is never told the client asked for protocol v2.
    pub fn v0_only(upstream: u16) -> Proxy {
        Self::spawn(upstream, true)
    }

    fn spawn(upstream: u16, v0: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let counters = Arc::new(Counters::default());
        let shared = counters.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                shared.open.fetch_add(2, Ordering::SeqCst);
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let up = shared.clone();
                std::thread::spawn(move || {
                    let mut client = client;
                    let mut server = server;
                    if v0 {
                        let _ = forward_request_without_v2(&mut client, &mut server);
                    }
                    let _ = std::io::copy(&mut client, &mut server);
                    let _ = server.shutdown(Shutdown::Write);
                    up.open.fetch_sub(1, Ordering::SeqCst);
                });
                let down = shared.clone();
                std::thread::spawn(move || {
                    let (mut server, mut client) = (s2, c2);
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = server.read(&mut buf) {
                        if n == 0 || client.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        down.down.fetch_add(n as u64, Ordering::SeqCst);
                    }
                    let _ = client.shutdown(Shutdown::Write);
                    down.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Proxy { port, counters }
    }

    /// What went to clients since the last `take` (once every connection closed).
    pub fn take(&self) -> Traffic {
        self.wait_idle();
        Traffic {
            bytes: self.counters.down.swap(0, Ordering::SeqCst),
            connections: self.counters.connections.swap(0, Ordering::SeqCst),
        }
    }

    fn wait_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.counters.open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Copy the first pkt-line (`git-upload-pack /r.git\0host=h\0\0version=2\0`) without the
/// extra parameters after `\0\0`.
fn forward_request_without_v2(
    client: &mut TcpStream,
    server: &mut TcpStream,
) -> std::io::Result<()> {
    let mut len = [0u8; 4];
    client.read_exact(&mut len)?;
    let n = usize::from_str_radix(std::str::from_utf8(&len).unwrap_or("0"), 16).unwrap_or(0);
    let mut line = vec![0u8; n.saturating_sub(4)];
    client.read_exact(&mut line)?;
    if let Some(pos) = line.windows(2).position(|w| w == b"\0\0") {
        line.truncate(pos + 1);
    }
    server.write_all(format!("{:04x}", line.len() + 4).as_bytes())?;
    server.write_all(&line)
}
