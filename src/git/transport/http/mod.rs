//! smart-HTTP for git: the client behind gix-transport's `Http` trait, built on ureq + rustls,
//! used for clone, fetch and push over `http://` and `https://` (protocol v2 or v1, whatever
//! the server offers; gix does the protocol, this module moves the bytes).
//!
//! This module owns, for http(s) remotes:
//! - **credentials**: taken only from the url's userinfo and `https_password_file`, and sent
//!   preemptively as `Authorization: Basic` on every request. gix never sees them: the url
//!   handed to gix-transport has its userinfo removed, so it cannot echo into gix errors, and
//!   a 401 is reported as a plain error rather than `PermissionDenied`, so gix never starts
//!   its credential-helper machinery (no `git credential` process, no prompt). The password
//!   file goes only over https to the deploy repos' hosts and `https_credential_hosts`; a
//!   url's own userinfo goes to its host, over plain `http://` too, with a WARN line.
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
//!   (never userinfo) and say what to fix, and a kind (`exchange`). No secret reaches a log
//!   line or an error.
//!
//! Submodules: `auth` (credentials), `client` (the ureq agent: proxy, TLS, timeouts; shared with
//! the event webhook), `proxy`, `tls` (roots), `exchange` (a request's errors
//! and kinds), `body` (the readers and writer gix gets).

mod auth;
mod body;
pub mod client;
mod exchange;
mod proxy;
mod tls;

use std::io::BufReader;
use std::sync::{Arc, Mutex};

use gix::protocol::transport::client::blocking_io::http::{
    connect_http, GetResponse, Http, PostBodyDataKind, PostResponse,
};
use gix::protocol::transport::Protocol;

pub use self::auth::DEFAULT_USER;
use self::auth::{basic_auth, Secret};
use self::body::{header_lines, Body, Headers, Post, PostBody};
pub use self::client::Client;
use self::exchange::Exchange;
pub use self::proxy::proxy_from_env;
use super::budget::{Bounded, Budget};
use super::link::{BoxedTransport, Failure};
use crate::error::{Context, Result};
use crate::git::NetOptions;
use crate::url::Url;

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
    let failure = Failure::default();
    let budget = Budget::new(net.transfer_timeout, failure.clone());
    open(url, version, net, env, &failure, &budget)
}

/// [`connect_with_env`], noting the kind of a failed request in `failure`, every response
/// charged to `budget`.
pub fn open(
    url: &gix::url::Url,
    version: Protocol,
    net: &NetOptions,
    env: impl Fn(&str) -> Option<String>,
    failure: &Failure,
    budget: &Budget,
) -> Result<BoxedTransport> {
    let client = Ureq::new(url, net, env, failure.clone(), budget.clone())?;
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

/// The `Http` implementation: one configured ureq agent per remote (its proxy choice and TLS
/// roots depend on the url), plus the Authorization header to send.
#[derive(Debug)]
pub struct Ureq {
    /// The agent with its proxy (and `Proxy-Authorization`), TLS roots and timeouts.
    client: Client,
    authorization: Option<Secret>,
    timeout_secs: u64,
    /// A user is sent but no password was configured (none in the url, no
    /// `https_password_file`): a 401 then says so.
    password_missing: bool,
    /// Where a failed request notes its kind.
    failure: Failure,
    /// The whole transfer's bound (`transfer_timeout`, bytes before the pack).
    budget: Budget,
}

impl Ureq {
    /// A client for `url` (http or https): credentials from its userinfo or
    /// `net.https_password_file`, TLS roots (`tls`), proxy from `env`, timeouts.
    fn new(
        url: &gix::url::Url,
        net: &NetOptions,
        env: impl Fn(&str) -> Option<String>,
        failure: Failure,
        budget: Budget,
    ) -> Result<Ureq> {
        let shown = Url::from(url);
        let https = url.scheme == gix::url::Scheme::Https;
        let client = Client::new(
            url.scheme.as_str(),
            url.host().unwrap_or_default(),
            &shown,
            net.timeout,
            net.https_ca_file.as_deref(),
            env,
        )?;
        let authorization =
            basic_auth(url, net).with_context(|| format!("credentials for {shown}"))?;
        // Only a url's own userinfo can get here (the password file never goes over http).
        if authorization.is_some() && !https {
            log::warn!("http: sending the credentials of the url without TLS to {shown}: anyone on the way can read them; use https");
        }
        Ok(Ureq {
            client,
            authorization,
            timeout_secs: net.timeout.as_secs(),
            password_missing: url.user().is_some_and(|u| !u.is_empty())
                && url.password().is_none()
                && net.https_password_file.is_none(),
            failure,
            budget,
        })
    }

    /// A request carrying gix's header lines (`Name: value`) and our Authorization.
    fn request(
        &self,
        method: &str,
        url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> ureq::Request {
        let mut req = self.client.request(method, url);
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
        // Near the end of transfer_timeout every wait of this request gets only what is
        // left (ureq's deadline replaces the per-read bound, so only then).
        let silence = std::time::Duration::from_secs(self.timeout_secs);
        let left = self.budget.wait_bound(silence);
        if left < silence {
            req = req.timeout(left);
        }
        req
    }

    fn describe(&self, method: &'static str, url: &str, base_url: &str) -> Exchange {
        Exchange {
            method,
            shown: Url::new(base_url),
            what: url
                .strip_prefix(base_url)
                .unwrap_or(url)
                .trim_start_matches('/')
                .to_string(),
            authorized: self.authorization.is_some(),
            password_missing: self.password_missing,
            timeout_secs: self.timeout_secs,
            failure: self.failure.clone(),
            budget: self.budget.clone(),
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
            .map_err(|e| gix::error::Error::from_error(e.to_io()))?;
        Ok(GetResponse {
            headers: Headers::answered(header_lines(&resp)),
            body: Body::answered(
                BufReader::new(Box::new(Bounded::new(
                    resp.into_reader(),
                    self.budget.clone(),
                ))),
                exchange,
            ),
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
            headers: Headers::pending(shared.clone()),
            body: Body::pending(shared, self.describe("POST", url, base_url)),
        })
    }

    /// gix passes `http.*` options from the repo config here; the agent config is the only
    /// source of truth for how to reach remotes, so they are ignored.
    fn configure(&mut self, _config: &dyn std::any::Any) -> gix::error::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> gix::url::Url {
        gix::url::parse(gix::bstr::BStr::new(s)).expect("valid url")
    }

    #[test]
    fn gix_never_sees_userinfo() {
        assert!(!format!("{:?}", without_userinfo(&url("https://u:tok@h/r"))).contains("tok"));
    }
}
