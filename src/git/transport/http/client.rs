//! One configured ureq agent for requests to `scheme://host`: the proxy, TLS roots and
//! timeouts every http(s) request of the agent follows (git over http(s) and the event
//! webhook alike), so the two never drift apart.

use std::path::Path;
use std::time::Duration;

use super::auth::{proxy_basic_auth, Secret};
use super::proxy::proxy_from_env;
use super::tls;
use crate::error::{Error, Kind, Result};
use crate::url::Url;

/// A ureq agent with the agent's rules, plus the `Proxy-Authorization` a plain-http request
/// through a proxy with `user:password@` must carry itself.
#[derive(Debug)]
pub struct Client {
    pub agent: ureq::Agent,
    proxy_authorization: Option<Secret>,
}

impl Client {
    /// A client for requests to `scheme://host` (`shown`: the redacted url, for logs):
    /// connect, read and write each bounded by `timeout`, no redirect followed, proxy from
    /// `env` (curl's rules), TLS roots = bundled + system + `https_ca_file` (else
    /// `GIT_SSL_CAINFO`). A proxy or CA file that cannot be used is `Kind::Config`.
    pub fn new(
        scheme: &str,
        host: &str,
        shown: &Url,
        timeout: Duration,
        https_ca_file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Client> {
        let https = scheme == "https";
        let mut builder = ureq::AgentBuilder::new()
            .timeout_connect(timeout)
            .timeout_read(timeout)
            .timeout_write(timeout)
            .redirects(0)
            .user_agent(concat!("gitops-agent/", env!("CARGO_PKG_VERSION")))
            // Done by `proxy_from_env` below, which also honours NO_PROXY.
            .try_proxy_from_env(false);
        if https {
            let ca = tls::ca_file(https_ca_file, |k| std::env::var_os(k));
            builder = builder.tls_config(tls::tls_config(ca.as_ref())?);
        }
        let mut proxy_authorization = None;
        if let Some(proxy) = proxy_from_env(scheme, host, env) {
            let parsed = ureq::Proxy::new(&proxy).map_err(|e| {
                Error::new(
                    Kind::Config,
                    format!(
                        "proxy {} from the environment: {}",
                        Url::from(proxy.as_str()),
                        e.kind()
                    ),
                )
            })?;
            log::debug!(
                "http: {shown} goes through proxy {}",
                Url::from(proxy.as_str())
            );
            builder = builder.proxy(parsed);
            // ureq sends proxy credentials only in a CONNECT (https); plain http requests
            // go to the proxy directly and need the header on the request itself.
            if !https {
                proxy_authorization = proxy_basic_auth(&proxy);
            }
        }
        Ok(Client {
            agent: builder.build(),
            proxy_authorization,
        })
    }

    /// A request to `url` carrying the proxy's credentials when it needs them.
    pub fn request(&self, method: &str, url: &str) -> ureq::Request {
        let req = self.agent.request(method, url);
        match &self.proxy_authorization {
            Some(auth) => req.set("Proxy-Authorization", &auth.0),
            None => req,
        }
    }
}
