//! Test support for tests/http.rs: a small HTTP/1.1 server on 127.0.0.1 that runs
//! `git http-backend` as a CGI program behind Basic auth, optionally behind TLS (rustls, with
//! a throwaway CA and server certificate made by the `openssl` CLI), plus git-CLI helpers.
//!
//! One request per connection (`Connection: close`), each answered with a Content-Length, so
//! the client under test must handle a fresh connection per request (it does).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

/// A running server; it lives until the test process ends.
pub struct Server {
    pub port: u16,
    /// One line per request: `METHOD path?query auth=<ok|none|bad> proto=<Git-Protocol>`.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

pub struct Options {
    /// Repositories live here: `<root>/<name>.git`, served as `/<name>.git`.
    pub root: PathBuf,
    /// Required `user:password`; `None` serves without auth.
    pub credentials: Option<(String, String)>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

pub fn start(options: Options) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::new(options);
    let log = requests.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let shared = shared.clone();
            let log = log.clone();
            std::thread::spawn(move || {
                if let Err(e) = serve(conn, &shared, &log) {
                    log.lock().unwrap().push(format!("connection error: {e}"));
                }
            });
        }
    });
    Server { port, requests }
}

fn serve(conn: TcpStream, options: &Options, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    match &options.tls {
        Some(config) => {
            let tls =
                rustls::ServerConnection::new(config.clone()).map_err(std::io::Error::other)?;
            handle(rustls::StreamOwned::new(tls, conn), options, log)
        }
        None => handle(conn, options, log),
    }
}

fn handle<S: Read + Write>(
    stream: S,
    options: &Options,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let mut target = parts.next().unwrap_or_default().to_string();
    // Absolute form (ureq sends it through a proxy, even inside a CONNECT tunnel; RFC 7230
    // says servers must accept it): keep the path and query.
    if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        target = rest
            .find('/')
            .map_or("/".to_string(), |i| rest[i..].to_string());
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }

    let auth = match (&options.credentials, header("authorization")) {
        (None, _) => "ok",
        (Some(_), None) => "none",
        (Some((u, p)), Some(given)) => {
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            );
            if given == want {
                "ok"
            } else {
                "bad"
            }
        }
    };
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    log.lock().unwrap().push(format!(
        "{method} {target} auth={auth} proto={}",
        header("git-protocol").unwrap_or_default()
    ));
    let stream = reader.get_mut();
    if auth != "ok" {
        let msg = "unauthorized\n";
        write!(
            stream,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
            msg.len()
        )?;
        return stream.flush();
    }

    let user = options
        .credentials
        .as_ref()
        .map_or("anonymous".to_string(), |(u, _)| u.clone());
    let mut cmd = Command::new(backend());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &options.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("REMOTE_USER", user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REQUEST_METHOD", &method)
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = header("git-protocol") {
        cmd.env("HTTP_GIT_PROTOCOL", p);
    }
    if let Some(enc) = header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", enc);
    }
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output()?;
    let _ = feeder.join();

    // CGI answer: header lines, a blank line, the body. `Status:` becomes the status line.
    let split = find_blank_line(&out.stdout);
    let (head, rest) = match split {
        Some((end, skip)) => (&out.stdout[..end], &out.stdout[end + skip..]),
        None => (&out.stdout[..], &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut status = "200 OK".to_string();
    let mut lines = Vec::new();
    for l in head.lines() {
        match l.split_once(':') {
            Some((n, v)) if n.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some(_) => lines.push(l.to_string()),
            None => {}
        }
    }
    write!(stream, "HTTP/1.1 {status}\r\n")?;
    for l in lines {
        write!(stream, "{l}\r\n")?;
    }
    write!(
        stream,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        rest.len()
    )?;
    stream.write_all(rest)?;
    stream.flush()
}

fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    for i in 0..buf.len() {
        if buf[i..].starts_with(b"\r\n\r\n") {
            return Some((i, 4));
        }
        if buf[i..].starts_with(b"\n\n") {
            return Some((i, 2));
        }
    }
    None
}

fn backend() -> PathBuf {
    let out = Command::new("git")
        .arg("--exec-path")
        .output()
        .expect("git on PATH");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("git-http-backend")
}

/// Run git, panic with its stderr on failure, return trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A fresh temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "gitops-agent-http-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `<root>/repo.git`, a bare repo with one commit on `main`; returns that commit id.
pub fn make_repo(root: &Path) -> String {
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("app.toml"), "version = 1\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "first"]);
    let head = git(&work, &["rev-parse", "HEAD"]);
    git(root, &["clone", "-q", "--bare", "work", "repo.git"]);
    git(
        &root.join("repo.git"),
        &["config", "http.receivepack", "true"],
    );
    head
}

/// A test CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI.
/// Returns (CA PEM path, server TLS config).
pub fn make_tls(dir: &Path) -> (PathBuf, Arc<rustls::ServerConfig>) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl CLI on PATH");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("srv.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=gitops-agent test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "srv.ext",
    ]);
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(dir.join("srv.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(dir.join("srv.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    (dir.join("ca.pem"), Arc::new(config))
}

/// Every log record, for asserting that no secret was logged. Every test calls this first;
/// its one-time setup also clears proxy variables a CI machine may set, so the 127.0.0.1
/// servers are reached directly (done under the OnceLock, before any test goes on).
pub fn captured_logs() -> &'static Mutex<Vec<String>> {
    static LOGS: std::sync::OnceLock<&'static Mutex<Vec<String>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        for var in [
            "http_proxy",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ] {
            std::env::remove_var(var);
        }
        let store: &'static Mutex<Vec<String>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        struct Capture(&'static Mutex<Vec<String>>);
        impl log::Log for Capture {
            fn enabled(&self, _: &log::Metadata) -> bool {
                true
            }
            fn log(&self, record: &log::Record) {
                self.0.lock().unwrap().push(format!(
                    "{} {}: {}",
                    record.level(),
                    record.target(),
                    record.args()
                ));
            }
            fn flush(&self) {}
        }
        let _ = log::set_boxed_logger(Box::new(Capture(store)));
        log::set_max_level(log::LevelFilter::Trace);
        store
    })
}

/// An error and its causes on one line: the agent's own formatting.
#[allow(unused_imports)] // not every test binary that includes this module uses it
pub use gitops_agent::error::chain;

/// A forward proxy on 127.0.0.1: `CONNECT host:port` tunnels (https), absolute-form requests
/// (`GET http://host:port/path`) are rewritten to origin-form and forwarded (http). Records
/// each request line; `Proxy-Authorization` must equal `proxy_auth` when given.
pub fn start_proxy(proxy_auth: Option<String>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let log = log.clone();
            let proxy_auth = proxy_auth.clone();
            std::thread::spawn(move || {
                let _ = tunnel(conn, &log, proxy_auth.as_deref());
            });
        }
    });
    Server { port, requests }
}

fn tunnel(
    client: TcpStream,
    log: &Mutex<Vec<String>>,
    proxy_auth: Option<&str>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut head = Vec::new();
    let mut auth_ok = proxy_auth.is_none();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim_end().is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            if n.trim().eq_ignore_ascii_case("proxy-authorization") {
                // The scheme name is case-insensitive (ureq sends `basic`).
                let norm = |s: &str| {
                    s.split_once(' ')
                        .map(|(a, b)| (a.to_ascii_lowercase(), b.to_string()))
                };
                auth_ok = proxy_auth.and_then(norm) == norm(v.trim());
                continue;
            }
        }
        head.push(h);
    }
    log.lock()
        .unwrap()
        .push(format!("{} proxy-auth={auth_ok}", request_line.trim_end()));
    let mut client_w = client.try_clone()?;
    if !auth_ok {
        client_w.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        return Ok(());
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut upstream;
    if method == "CONNECT" {
        upstream = TcpStream::connect(&target)?;
        client_w.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    } else {
        let rest = target.strip_prefix("http://").unwrap_or(&target);
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        upstream = TcpStream::connect(authority)?;
        write!(upstream, "{method} {path} HTTP/1.1\r\n")?;
        for h in &head {
            upstream.write_all(h.as_bytes())?;
        }
        upstream.write_all(b"\r\n")?;
    }
    // Whatever the BufReader already holds belongs to the upstream too.
    let buffered = reader.buffer().to_vec();
    upstream.write_all(&buffered)?;
    let mut up_r = upstream.try_clone()?;
    let down = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_r, &mut client_w);
        let _ = client_w.shutdown(std::net::Shutdown::Write);
    });
    let mut client_r = reader.into_inner();
    let _ = std::io::copy(&mut client_r, &mut upstream);
    let _ = upstream.shutdown(std::net::Shutdown::Write);
    let _ = down.join();
    Ok(())
}
