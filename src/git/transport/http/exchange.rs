//! One http request as error messages see it, and what its failure means: the text names
//! the repo url (never userinfo) and says what to fix; the kind goes to the transport's
//! [`Failure`] slot (401/403/404 and other refusals are `Rejected`, server trouble, connect,
//! TLS and timeouts `Network`).

use std::io;

use crate::error::{Error, Kind};
use crate::git::transport::budget::Budget;
use crate::git::transport::link::{io_error, Failure};
use crate::url::Url;

/// What a request was, for error messages (never holds a secret), and where its failure's
/// kind goes.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: &'static str,
    /// The repo url, redacted (gix's url has no userinfo anyway).
    pub shown: Url,
    /// The part after the repo url, e.g. `info/refs?service=git-upload-pack`.
    pub what: String,
    pub authorized: bool,
    /// A user was sent with no password configured anywhere.
    pub password_missing: bool,
    pub timeout_secs: u64,
    pub failure: Failure,
    /// The whole transfer's bound; the response body is charged to it.
    pub budget: Budget,
}

/// The kind of an http status that is not a success: the server refused (redirects are
/// not followed, 401/403 are auth, 404 a wrong url, other 4xx), or, for 5xx, was in trouble
/// and may answer later.
pub fn status_kind(code: u16) -> Kind {
    if code >= 500 {
        Kind::Network
    } else {
        Kind::Rejected
    }
}

/// The kind of a failure before any status arrived (ureq's words): a url or proxy setting
/// that cannot work is `Config`; a proxy refusing our credentials `Rejected`; an answer that
/// is not http `Invalid`; everything else (dns, connect, TLS, timeouts, resets) `Network`.
pub fn transport_kind(kind: ureq::ErrorKind) -> Kind {
    use ureq::ErrorKind as U;
    match kind {
        U::InvalidUrl | U::UnknownScheme | U::InvalidProxyUrl | U::InsecureRequestHttpsOnly => {
            Kind::Config
        }
        U::ProxyUnauthorized => Kind::Rejected,
        U::BadStatus | U::BadHeader | U::TooManyRedirects => Kind::Invalid,
        U::HTTP => Kind::Rejected,
        U::Dns | U::ConnectionFailed | U::Io | U::ProxyConnect => Kind::Network,
    }
}

/// A failed request: the error (message and kind) and the io kind gix gets with it.
#[derive(Debug, Clone)]
pub struct RequestError {
    pub io_kind: io::ErrorKind,
    pub error: Error,
}

impl RequestError {
    /// The `io::Error` handed to gix; it carries our error, kind included.
    pub fn to_io(&self) -> io::Error {
        io_error(self.io_kind, self.error.clone())
    }
}

impl Exchange {
    /// The response if it is a 2xx; otherwise the full story, with its kind (also noted in
    /// the failure slot).
    pub fn check(
        &self,
        result: std::result::Result<ureq::Response, ureq::Error>,
    ) -> std::result::Result<ureq::Response, RequestError> {
        let Exchange {
            method,
            shown,
            what,
            ..
        } = self;
        let (io_kind, kind, msg) = match result {
            Ok(resp) if (200..300).contains(&resp.status()) => return Ok(resp),
            Ok(resp) if (300..400).contains(&resp.status()) => {
                let to = resp
                    .header("location")
                    .map(|to| Url::new(to).to_string())
                    .unwrap_or_else(|| "nowhere".into());
                (
                    io::ErrorKind::Other,
                    Kind::Rejected,
                    format!(
                        "{shown}: {method} {what}: the server redirects (HTTP {}) to {to}; redirects are not followed, put the final url in the config",
                        resp.status()
                    ),
                )
            }
            Ok(resp) => self.status_error(resp.status(), resp.status_text()),
            Err(ureq::Error::Status(code, resp)) => self.status_error(code, resp.status_text()),
            Err(ureq::Error::Transport(t)) => self.transport_error(&t),
        };
        self.failure.record(kind);
        Err(RequestError {
            io_kind,
            error: Error::new(kind, msg),
        })
    }

    fn status_error(&self, code: u16, text: &str) -> (io::ErrorKind, Kind, String) {
        let Exchange {
            method,
            shown,
            what,
            authorized,
            password_missing,
            ..
        } = self;
        let (io_kind, why) = match code {
            401 if *password_missing => (
                io::ErrorKind::PermissionDenied,
                "authentication failed: the url names a user but no password was configured; put the password or token in the file named by https_password_file (or in the url)".to_string(),
            ),
            401 if *authorized => (
                io::ErrorKind::PermissionDenied,
                "authentication failed: the server rejected the credentials (user/token in the url or https_password_file)".to_string(),
            ),
            401 => (
                io::ErrorKind::PermissionDenied,
                "authentication required: give a token in the url, or in https_password_file (sent only over https, to the deploy repos' hosts and those in https_credential_hosts)".to_string(),
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
        (
            io_kind,
            status_kind(code),
            format!("{shown}: {why} [{method} {what}]"),
        )
    }

    fn transport_error(&self, t: &ureq::Transport) -> (io::ErrorKind, Kind, String) {
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
        let mut io_kind = io::ErrorKind::Other;
        let mut source = std::error::Error::source(t);
        while let Some(err) = source {
            if let Some(io_err) = err.downcast_ref::<io::Error>() {
                io_kind = io_err.kind();
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
        if matches!(io_kind, io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) {
            detail = match self.budget.check_time() {
                Err(over) => over.to_string(),
                Ok(()) => {
                    format!("{detail} (no answer within network_timeout = {timeout_secs}s)")
                }
            };
        }
        if detail.contains("certificate") || detail.contains("UnknownIssuer") {
            detail = format!("{detail} (for a private CA, name its PEM file in https_ca_file; GIT_SSL_CAINFO is read only when https_ca_file is unset)");
        }
        (
            io_kind,
            transport_kind(t.kind()),
            format!("{shown}: {method} {what}: {detail}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_rejected_and_server_trouble_is_network() {
        for code in [301, 401, 403, 404, 422] {
            assert_eq!(status_kind(code), Kind::Rejected, "{code}");
        }
        for code in [500, 502, 503, 504] {
            assert_eq!(status_kind(code), Kind::Network, "{code}");
        }
    }

    #[test]
    fn connect_dns_and_tls_failures_are_network() {
        use ureq::ErrorKind as U;
        // rustls failures (unknown issuer, bad certificate) reach ureq as io errors.
        for k in [U::Dns, U::ConnectionFailed, U::Io, U::ProxyConnect] {
            assert_eq!(transport_kind(k), Kind::Network, "{k:?}");
        }
        assert_eq!(transport_kind(U::ProxyUnauthorized), Kind::Rejected);
        assert_eq!(transport_kind(U::BadStatus), Kind::Invalid);
        assert_eq!(transport_kind(U::InvalidProxyUrl), Kind::Config);
    }

    fn exchange(authorized: bool) -> Exchange {
        Exchange {
            method: "GET",
            shown: Url::new("https://h/r.git"),
            what: "info/refs?service=git-upload-pack".into(),
            authorized,
            password_missing: false,
            timeout_secs: 5,
            failure: Failure::default(),
            budget: Budget::unbounded(),
        }
    }

    #[test]
    fn a_refused_request_names_the_fix_and_notes_rejected() {
        let ex = exchange(true);
        let err = ex
            .check(Err(ureq::Error::Status(
                401,
                ureq::Response::new(401, "Unauthorized", "").unwrap(),
            )))
            .unwrap_err()
            .to_io();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(
            err.to_string().contains("rejected the credentials"),
            "{err}"
        );
        assert_eq!(ex.failure.recorded(), Some(Kind::Rejected));
        assert_eq!(
            crate::git::transport::link::chain_kind(&err),
            Some(Kind::Rejected)
        );
    }

    #[test]
    fn a_refused_connection_notes_network() {
        let ex = exchange(false);
        let agent = ureq::AgentBuilder::new().build();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let err = ex
            .check(agent.get(&format!("http://127.0.0.1:{port}/")).call())
            .unwrap_err()
            .error;
        assert_eq!(err.kind(), Kind::Network);
        assert!(
            err.to_string().contains("https://h/r.git: GET info/refs"),
            "{err}"
        );
        assert_eq!(ex.failure.recorded(), Some(Kind::Network));
    }
}
