//! smart-HTTP for git: the client behind gix-transport's `Http` trait, built on ureq + rustls,
//! used for clone, fetch and push over `http://` and `https://` (protocol v2 or v1, whatever
//! the server offers; gix does the protocol, this module moves the bytes).
//!
//! This module owns, for http(s) remotes:
//! - **credentials**: taken only from the url's userinfo and `https_password_file`, and sent
//!   preemptively as `Authorization: Basic` on every request. gix never sees them: the url
//!   handed to gix-transport has its userinfo removed, so it cannot echo into gix errors, and
//!   a 401 is reported as a plain error rather than `PermissionDenied`, so gix never starts
//!   its credential-helper machinery (no `git credential` process, no prompt). Credentials are
//!   sent over plain `http://` too when configured (as git does); use https for real secrets.
//! - **TLS roots**: the bundled webpki roots, plus the system CA bundle when the image has one,
//!   plus `https_ca_file` (PEM) for private CAs.
//! - **proxy**: `https_proxy`/`HTTPS_PROXY`, `http_proxy`, `all_proxy`/`ALL_PROXY`, minus
//!   `no_proxy`/`NO_PROXY` (curl's rules; ureq 2 alone ignores NO_PROXY). Proxy credentials
//!   (`http://user:pw@proxy:port`) are sent in the CONNECT for https and as
//!   `Proxy-Authorization` on plain http requests (ureq only does the former). Only http
//!   proxies: `socks*://` needs ureq's `socks-proxy` feature, which is off.
//! - **timeouts**: `NetOptions::timeout` bounds connect and every single read and write.
//! - **redirects**: not followed. ureq would turn a redirected POST into a GET and could carry
//!   the Authorization header to another host; a 3xx becomes an error naming the new location.
//! - **errors**: 401/403/404, TLS and connect failures become messages that name the repo url
//!   (never userinfo) and say what to fix. No secret reaches a log line or an error.

use std::fmt;
use std::io::{self, BufRead, BufReader, Cursor, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use gix::protocol::transport::client::blocking_io::http::{
    connect_http, GetResponse, Http, PostBodyDataKind, PostResponse,
};
use gix::protocol::transport::Protocol;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::CertificateDer;

use super::BoxedTransport;
use crate::error::{Context, Error, Result};
use crate::git::NetOptions;
use crate::url::redact;

/// The Basic-auth user sent when only a password/token is known (from `https_password_file`,
/// or a url like `https://:token@host/...`). GitHub, GitLab (personal/project tokens) and Gitea
/// accept any user name with a token; servers that need a specific user get it from the url:
/// `https://deploy-bot@host/org/repo.git` plus the token in the password file.
pub const DEFAULT_USER: &str = "git";

/// Open a gix transport for an http(s) `url` (which may carry `user:token@`), speaking
/// `version` of the git protocol (the server may answer with another; gix adapts).
pub fn connect(url: &gix::url::Url, version: Protocol, net: &NetOptions) -> Result<BoxedTransport> {
    connect_with_env(url, version, net, |name| std::env::var(name).ok())
}

/// `connect`, with the proxy variables read through `env` instead of the process environment
/// (tests; the environment is process-global).
pub fn connect_with_env(
    url: &gix::url::Url,
    version: Protocol,
    net: &NetOptions,
    env: impl Fn(&str) -> Option<String>,
) -> Result<BoxedTransport> {
    let client = Ureq::with_env(url, net, env)?;
    Ok(Box::new(connect_http(
        client,
        without_userinfo(url),
        version,
        false,
    )))
}

/// `url` with user and password removed: what gix-transport gets, so its errors and
/// `to_url()` never show a secret.
pub fn without_userinfo(url: &gix::url::Url) -> gix::url::Url {
    let mut bare = url.clone();
    bare.set_user(None);
    bare.set_password(None);
    bare
}

/// A value that must never be printed (its `Debug` shows `***`).
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The `Http` implementation: one configured ureq agent per remote (its proxy choice and TLS
/// roots depend on the url), plus the Authorization header to send.
#[derive(Debug)]
pub struct Ureq {
    agent: ureq::Agent,
    authorization: Option<Secret>,
    /// `Proxy-Authorization` for http:// requests through a proxy with `user:password@`.
    proxy_authorization: Option<Secret>,
    timeout_secs: u64,
}

impl Ureq {
    /// A client for `url` (http or https): credentials from its userinfo or
    /// `net.https_password_file`, TLS roots, proxy from the environment, timeouts.
    pub fn new(url: &gix::url::Url, net: &NetOptions) -> Result<Ureq> {
        Self::with_env(url, net, |name| std::env::var(name).ok())
    }

    /// `new`, reading proxy variables through `env`.
    pub fn with_env(
        url: &gix::url::Url,
        net: &NetOptions,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Ureq> {
        let shown = redact(&url.to_bstring().to_string());
        let https = url.scheme == gix::url::Scheme::Https;
        let mut builder = ureq::AgentBuilder::new()
            .timeout_connect(net.timeout)
            .timeout_read(net.timeout)
            .timeout_write(net.timeout)
            .redirects(0)
            .user_agent(concat!("gitops-agent/", env!("CARGO_PKG_VERSION")))
            // Done by `proxy_from_env` below, which also honours NO_PROXY.
            .try_proxy_from_env(false);
        if https {
            builder = builder.tls_config(tls_config(net.https_ca_file.as_deref())?);
        }
        let host = url.host().unwrap_or_default();
        let mut proxy_authorization = None;
        if let Some(proxy) = proxy_from_env(url.scheme.as_str(), host, env) {
            let parsed = ureq::Proxy::new(&proxy).map_err(|e| {
                Error::msg(format!(
                    "proxy {} from the environment: {}",
                    redact(&proxy),
                    e.kind()
                ))
            })?;
            log::debug!("http: {shown} goes through proxy {}", redact(&proxy));
            builder = builder.proxy(parsed);
            // ureq sends proxy credentials only in a CONNECT (https); plain http requests
            // go to the proxy directly and need the header on the request itself.
            if !https {
                proxy_authorization = proxy_basic_auth(&proxy);
            }
        }
        let authorization =
            basic_auth(url, net).with_context(|| format!("credentials for {shown}"))?;
        if authorization.is_some() && !https {
            log::debug!("http: sending credentials without TLS to {shown}");
        }
        Ok(Ureq {
            agent: builder.build(),
            authorization,
            proxy_authorization,
            timeout_secs: net.timeout.as_secs(),
        })
    }

    /// A request carrying gix's header lines (`Name: value`) and our Authorization.
    fn request(
        &self,
        method: &str,
        url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> ureq::Request {
        let mut req = self.agent.request(method, url);
        for line in headers {
            if let Some((name, value)) = line.as_ref().split_once(':') {
                let name = name.trim();
                // Credentials come only from us (gix has none: its url has no userinfo).
                if !name.eq_ignore_ascii_case("authorization") {
                    req = req.set(name, value.trim());
                }
            }
        }
        if let Some(auth) = &self.authorization {
            req = req.set("Authorization", &auth.0);
        }
        if let Some(auth) = &self.proxy_authorization {
            req = req.set("Proxy-Authorization", &auth.0);
        }
        req
    }

    fn describe(&self, method: &'static str, url: &str, base_url: &str) -> Exchange {
        Exchange {
            method,
            shown: redact(base_url),
            what: url
                .strip_prefix(base_url)
                .unwrap_or(url)
                .trim_start_matches('/')
                .to_string(),
            authorized: self.authorization.is_some(),
            timeout_secs: self.timeout_secs,
        }
    }
}

/// What a request was, for error messages (never holds a secret).
#[derive(Debug, Clone)]
struct Exchange {
    method: &'static str,
    /// The repo url, redacted (gix's url has no userinfo anyway).
    shown: String,
    /// The part after the repo url, e.g. `info/refs?service=git-upload-pack`.
    what: String,
    authorized: bool,
    timeout_secs: u64,
}

impl Exchange {
    /// The response if it is a 2xx; otherwise an io::Error whose message is the full story.
    fn check(
        &self,
        result: std::result::Result<ureq::Response, ureq::Error>,
    ) -> io::Result<ureq::Response> {
        let Exchange {
            method,
            shown,
            what,
            ..
        } = self;
        match result {
            Ok(resp) if (200..300).contains(&resp.status()) => Ok(resp),
            Ok(resp) if (300..400).contains(&resp.status()) => {
                let to = resp
                    .header("location")
                    .map(redact)
                    .unwrap_or_else(|| "nowhere".into());
                Err(io::Error::other(format!(
                    "{shown}: {method} {what}: the server redirects (HTTP {}) to {to}; redirects are not followed, put the final url in the config",
                    resp.status()
                )))
            }
            Ok(resp) => Err(self.status_error(resp.status(), resp.status_text())),
            Err(ureq::Error::Status(code, resp)) => {
                Err(self.status_error(code, resp.status_text()))
            }
            Err(ureq::Error::Transport(t)) => Err(self.transport_error(&t)),
        }
    }

    fn status_error(&self, code: u16, text: &str) -> io::Error {
        let Exchange {
            method,
            shown,
            what,
            authorized,
            ..
        } = self;
        let (kind, why) = match code {
            401 if *authorized => (
                io::ErrorKind::PermissionDenied,
                "authentication failed: the server rejected the credentials (user/token in the url or https_password_file)".to_string(),
            ),
            401 => (
                io::ErrorKind::PermissionDenied,
                "authentication required: give a token in https_password_file or in the url".to_string(),
            ),
            403 => (
                io::ErrorKind::PermissionDenied,
                "access denied (HTTP 403): the credentials lack access to this repository".to_string(),
            ),
            404 => (
                io::ErrorKind::NotFound,
                "repository not found (HTTP 404): check the url (and that the credentials may see it)".to_string(),
            ),
            _ => (io::ErrorKind::Other, format!("HTTP {code} {text}")),
        };
        io::Error::new(kind, format!("{shown}: {why} [{method} {what}]"))
    }

    fn transport_error(&self, t: &ureq::Transport) -> io::Error {
        let Exchange {
            method,
            shown,
            what,
            timeout_secs,
            ..
        } = self;
        // The ureq message and the source chain; not ureq's Display, which repeats the url.
        let mut detail = t
            .message()
            .map(str::to_string)
            .unwrap_or_else(|| t.kind().to_string());
        let mut kind = io::ErrorKind::Other;
        let mut source = std::error::Error::source(t);
        while let Some(err) = source {
            if let Some(io_err) = err.downcast_ref::<io::Error>() {
                kind = io_err.kind();
            }
            // ureq's io errors repeat the outer text ("Network Error: ..."): keep the longer.
            let text = err.to_string();
            if text.contains(&detail) {
                detail = text;
            } else if !detail.contains(&text) {
                detail = format!("{detail}: {text}");
            }
            source = err.source();
        }
        if matches!(kind, io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) {
            detail = format!("{detail} (no answer within network_timeout = {timeout_secs}s)");
        }
        if detail.contains("certificate") || detail.contains("UnknownIssuer") {
            detail = format!("{detail} (for a private CA, name its PEM file in https_ca_file)");
        }
        io::Error::new(kind, format!("{shown}: {method} {what}: {detail}"))
    }
}

/// `name: value\n` lines, the form gix reads (it checks Content-Type).
fn header_lines(resp: &ureq::Response) -> Vec<u8> {
    let mut out = Vec::new();
    for name in resp.headers_names() {
        for value in resp.all(&name) {
            out.extend_from_slice(format!("{name}: {value}\n").as_bytes());
        }
    }
    out
}

type BodyReader = BufReader<Box<dyn Read + Send + Sync + 'static>>;

/// A POST in flight. gix writes the body first and reads the response after, so the request
/// is sent on the first read of headers or body, with the whole body and a Content-Length
/// (CGI servers such as git-http-backend want one). Pushes are buffered in memory: fine for
/// deploy repos.
enum Post {
    Buffering {
        request: ureq::Request,
        body: Vec<u8>,
        exchange: Exchange,
    },
    Answered {
        headers: Option<Vec<u8>>,
        body: Option<BodyReader>,
    },
    Failed {
        kind: io::ErrorKind,
        message: String,
    },
}

impl Post {
    /// Send if not sent yet; afterwards the state is `Answered` or `Failed`.
    fn send(&mut self) {
        if !matches!(self, Post::Buffering { .. }) {
            return;
        }
        let placeholder = Post::Failed {
            kind: io::ErrorKind::Other,
            message: "http request state lost".into(),
        };
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
                    body: Some(BufReader::new(resp.into_reader())),
                },
                Err(e) => Post::Failed {
                    kind: e.kind(),
                    message: e.to_string(),
                },
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
pub struct PostBody(Arc<Mutex<Post>>);

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
    fn fill(&mut self) -> io::Result<()> {
        if let Some(shared) = self.pending.take() {
            let mut post = lock(&shared)?;
            post.send();
            match &mut *post {
                Post::Answered { headers, .. } => {
                    self.lines = Cursor::new(headers.take().unwrap_or_default())
                }
                Post::Failed { kind, message } => {
                    return Err(io::Error::new(*kind, message.clone()))
                }
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
}

impl Body {
    fn reader(&mut self) -> io::Result<&mut BodyReader> {
        if let Some(shared) = self.pending.take() {
            let mut post = lock(&shared)?;
            post.send();
            match &mut *post {
                Post::Answered { body, .. } => self.reader = body.take(),
                Post::Failed { kind, message } => {
                    return Err(io::Error::new(*kind, message.clone()))
                }
                Post::Buffering { .. } => return Err(io::Error::other("http: request not sent")),
            }
        }
        self.reader
            .as_mut()
            .ok_or_else(|| io::Error::other("http: response body already taken"))
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader()?.read(buf)
    }
}

impl BufRead for Body {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.reader()?.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        if let Some(reader) = self.reader.as_mut() {
            reader.consume(amt)
        }
    }
}

impl Http for Ureq {
    type Headers = Headers;
    type ResponseBody = Body;
    type PostBody = PostBody;

    fn get(
        &mut self,
        url: &str,
        base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> gix::error::Result<GetResponse<Headers, Body>> {
        let exchange = self.describe("GET", url, base_url);
        log::debug!("http: GET {} {}", exchange.shown, exchange.what);
        // Failures are returned here, not as PermissionDenied through the headers: gix then
        // shows our message and never asks a credential helper.
        let resp = exchange
            .check(self.request("GET", url, headers).call())
            .map_err(gix::error::Error::from_error)?;
        Ok(GetResponse {
            headers: Headers {
                pending: None,
                lines: Cursor::new(header_lines(&resp)),
            },
            body: Body {
                pending: None,
                reader: Some(BufReader::new(resp.into_reader())),
            },
        })
    }

    fn post(
        &mut self,
        url: &str,
        base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        _body: PostBodyDataKind,
    ) -> gix::error::Result<PostResponse<Headers, Body, PostBody>> {
        let shared = Arc::new(Mutex::new(Post::Buffering {
            request: self.request("POST", url, headers),
            body: Vec::new(),
            exchange: self.describe("POST", url, base_url),
        }));
        Ok(PostResponse {
            post_body: PostBody(shared.clone()),
            headers: Headers {
                pending: Some(shared.clone()),
                lines: Cursor::new(Vec::new()),
            },
            body: Body {
                pending: Some(shared),
                reader: None,
            },
        })
    }

    /// gix passes `http.*` options from the repo config here; the agent config is the only
    /// source of truth for how to reach remotes, so they are ignored.
    fn configure(&mut self, _config: &dyn std::any::Any) -> gix::error::Result<()> {
        Ok(())
    }
}

/// The Basic Authorization header value, if the url or the password file give credentials.
/// A password in the url wins over the file; a user in the url wins over `DEFAULT_USER`.
fn basic_auth(url: &gix::url::Url, net: &NetOptions) -> Result<Option<Secret>> {
    let user = url.user().filter(|u| !u.is_empty());
    let password = match (url.password(), &net.https_password_file) {
        (Some(p), _) => Some(p.to_string()),
        (None, Some(file)) => Some(read_password_file(file)?),
        (None, None) => None,
    };
    let pair = match (user, password) {
        (None, None) => return Ok(None),
        (user, password) => format!(
            "{}:{}",
            user.unwrap_or(DEFAULT_USER),
            password.unwrap_or_default()
        ),
    };
    Ok(Some(Secret(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    ))))
}

/// The token in `path`: the file's text without its trailing line break. The error names the
/// file, never its content.
fn read_password_file(path: &Path) -> Result<String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read https_password_file {shown}"))?;
    let token = text.trim_end_matches(['\r', '\n']);
    if token.is_empty() {
        crate::bail!("https_password_file {shown} is empty");
    }
    if token.contains(['\r', '\n']) {
        crate::bail!("https_password_file {shown} must hold a single line (the password or token)");
    }
    Ok(token.to_string())
}

/// The proxy for a request to `scheme://host`, per curl's environment rules: `https_proxy`
/// (or `HTTPS_PROXY`) for https, `http_proxy` for http (lowercase only: a CGI parent may set
/// `HTTP_PROXY` from a request header), then `all_proxy`/`ALL_PROXY`; none when `no_proxy`/
/// `NO_PROXY` is `*` or lists the host or a parent domain of it. An empty value means none.
pub fn proxy_from_env(
    scheme: &str,
    host: &str,
    var: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let get = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| var(n))
            .map(|v| v.trim().to_string())
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if let Some(no_proxy) = get(&["no_proxy", "NO_PROXY"]) {
        let bypass = no_proxy
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .any(|entry| {
                if entry == "*" {
                    return true;
                }
                let entry = entry.trim_start_matches("*.").trim_start_matches('.');
                // `host:port` entries: the port is ignored (as curl does).
                let entry = match entry.rsplit_once(':') {
                    Some((h, port))
                        if !h.contains(':') && port.chars().all(|c| c.is_ascii_digit()) =>
                    {
                        h
                    }
                    _ => entry,
                };
                let entry = entry
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_ascii_lowercase();
                host == entry || host.ends_with(&format!(".{entry}"))
            });
        if bypass {
            return None;
        }
    }
    let proxy = match scheme {
        "https" => get(&["https_proxy", "HTTPS_PROXY"]),
        _ => get(&["http_proxy"]),
    }
    .filter(|p| !p.is_empty())
    .or_else(|| get(&["all_proxy", "ALL_PROXY"]));
    proxy.filter(|p| !p.is_empty())
}

/// Basic credentials from a proxy url's `user:password@`, as ureq reads them (not decoded).
fn proxy_basic_auth(proxy: &str) -> Option<Secret> {
    let rest = proxy.split_once("://").map_or(proxy, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (user, password) = userinfo.split_once(':')?;
    Some(Secret(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )))
}

/// rustls client config: bundled roots + system bundle + `ca_file`. Read on every connect (a
/// few ms), so an updated system store or CA file is used without a restart.
fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(bundle) = system_bundle() {
        // Unparsable entries in the system store are skipped, as curl/openssl do.
        match CertificateDer::pem_file_iter(&bundle) {
            Ok(certs) => {
                let (added, skipped) =
                    roots.add_parsable_certificates(certs.filter_map(|c| c.ok()));
                log::trace!(
                    "http: {added} roots from {} ({skipped} skipped)",
                    bundle.display()
                );
            }
            Err(e) => log::debug!(
                "http: system CA bundle {} unreadable: {e}",
                bundle.display()
            ),
        }
    }
    if let Some(path) = ca_file {
        let shown = path.display();
        let mut count = 0;
        for cert in CertificateDer::pem_file_iter(path)
            .with_context(|| format!("read https_ca_file {shown}"))?
        {
            let cert = cert.with_context(|| format!("https_ca_file {shown}: bad PEM"))?;
            roots
                .add(cert)
                .with_context(|| format!("https_ca_file {shown}: unusable CA certificate"))?;
            count += 1;
        }
        if count == 0 {
            crate::bail!("https_ca_file {shown}: no PEM certificate in it");
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS setup")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The system's CA bundle: `SSL_CERT_FILE`, else the first of the usual distribution paths.
fn system_bundle() -> Option<std::path::PathBuf> {
    const CANDIDATES: &[&str] = &[
        "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Arch, Yocto
        "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // newer RHEL
        "/etc/ssl/ca-bundle.pem",             // openSUSE
        "/etc/ssl/cert.pem",                  // Alpine (libressl), OpenWrt
    ];
    std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            CANDIDATES
                .iter()
                .map(std::path::PathBuf::from)
                .find(|p| p.is_file())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn proxy_per_scheme_and_no_proxy() {
        let vars = env(&[
            ("HTTPS_PROXY", "http://u:pw@proxy:3128"),
            ("http_proxy", "http://plain:8080"),
            ("NO_PROXY", "internal.example, .corp.lan,10.0.0.5:443"),
        ]);
        assert_eq!(
            proxy_from_env("https", "github.com", &vars).as_deref(),
            Some("http://u:pw@proxy:3128")
        );
        assert_eq!(
            proxy_from_env("http", "github.com", &vars).as_deref(),
            Some("http://plain:8080")
        );
        assert_eq!(proxy_from_env("https", "internal.example", &vars), None);
        assert_eq!(proxy_from_env("https", "git.internal.example", &vars), None);
        assert_eq!(proxy_from_env("https", "GIT.corp.lan", &vars), None);
        assert_eq!(proxy_from_env("https", "10.0.0.5", &vars), None);
        assert!(proxy_from_env("https", "notinternal.example", &vars).is_some());
        assert_eq!(
            proxy_from_env(
                "https",
                "x",
                env(&[("NO_PROXY", "*"), ("HTTPS_PROXY", "p")])
            ),
            None
        );
        // Uppercase HTTP_PROXY is ignored (httpoxy); ALL_PROXY is the fallback.
        assert_eq!(
            proxy_from_env("http", "x", env(&[("HTTP_PROXY", "p")])),
            None
        );
        assert_eq!(
            proxy_from_env("http", "x", env(&[("ALL_PROXY", "a")])).as_deref(),
            Some("a")
        );
        assert_eq!(
            proxy_from_env("https", "x", env(&[("https_proxy", "")])),
            None
        );
    }

    fn url(s: &str) -> gix::url::Url {
        gix::url::parse(gix::bstr::BStr::new(s)).expect("valid url")
    }

    #[test]
    fn credentials_from_url_and_file() {
        let net = NetOptions::default();
        let decode = |s: Option<Secret>| {
            let b64 = s
                .expect("credentials")
                .0
                .trim_start_matches("Basic ")
                .to_string();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("b64"),
            )
            .expect("utf8")
        };
        assert_eq!(
            decode(basic_auth(&url("https://u:p%40ss@h/r"), &net).unwrap()),
            "u:p@ss"
        );
        assert_eq!(
            decode(basic_auth(&url("https://tok@h/r"), &net).unwrap()),
            "tok:"
        );
        assert!(basic_auth(&url("https://h/r"), &net).unwrap().is_none());

        let dir =
            std::env::temp_dir().join(format!("gitops-agent-http-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        let net = NetOptions {
            https_password_file: Some(file.clone()),
            ..Default::default()
        };
        assert_eq!(
            decode(basic_auth(&url("https://h/r"), &net).unwrap()),
            "git:s3cret"
        );
        assert_eq!(
            decode(basic_auth(&url("https://bot@h/r"), &net).unwrap()),
            "bot:s3cret"
        );
        assert_eq!(
            decode(basic_auth(&url("https://bot:inurl@h/r"), &net).unwrap()),
            "bot:inurl"
        );
        std::fs::write(&file, "\n").unwrap();
        let err = basic_auth(&url("https://h/r"), &net)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is empty"), "{err}");
        std::fs::write(&file, "a\nb\n").unwrap();
        let err = basic_auth(&url("https://h/r"), &net)
            .unwrap_err()
            .to_string();
        assert!(err.contains("single line"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn secret_debug_is_hidden() {
        assert_eq!(format!("{:?}", Secret("tok".into())), "***");
        assert!(!format!("{:?}", without_userinfo(&url("https://u:tok@h/r"))).contains("tok"));
    }
}
