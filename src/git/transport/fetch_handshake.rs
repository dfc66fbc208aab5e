//! What a fetch's handshake hands gix, and what it notes for the operation: the protocol the
//! server spoke ([`Spoken`]: a refused want means "no such commit" on v2, "not served by
//! id" on v0/v1), and v0/v1 advertisements without `deepen-relative`.
//!
//! Why the latter: shallow fetches from protocol v0/v1 servers: gix 0.90 echoes every capability the
//! server offers in its first `want` line, `deepen-relative` included, and with that
//! capability git's upload-pack reads `deepen 1` as "one more commit than the client's
//! shallow boundary". An empty clone has no boundary, so it got the whole history (measured:
//! 3 commits instead of 1). The server's advertisement is therefore handed to gix without
//! `deepen-relative`; gix never asks for relative depth (`Shallow::Deepen`) here.

use gix::protocol::transport::client::blocking_io::{RequestWriter, SetServiceResponse, Transport};
use gix::protocol::transport::client::{
    Capabilities, Error as TransportError, MessageKind, WriteMode,
};
use gix::protocol::transport::{Protocol, Service};

use super::link::{BoxedTransport, Spoken};

/// `inner`, with `deepen-relative` removed from v0/v1 advertisements and the protocol noted.
pub struct FetchHandshake {
    pub inner: BoxedTransport,
    pub spoken: Spoken,
}

super::link::forward_transport_without_io!(FetchHandshake, inner);

impl Transport for FetchHandshake {
    fn handshake<'a>(
        &mut self,
        service: Service,
        extra_parameters: &'a [(&'a str, Option<&'a str>)],
    ) -> std::result::Result<SetServiceResponse<'_>, TransportError> {
        let mut response = self.inner.handshake(service, extra_parameters)?;
        self.spoken.record(response.actual_protocol);
        if response.actual_protocol != Protocol::V2 {
            if let Some(kept) = without_relative_deepen(&response.capabilities) {
                response.capabilities = kept;
            }
        }
        Ok(response)
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

/// v0/v1 `capabilities` without `deepen-relative`; `None` when it is not there (or the
/// rest cannot be parsed back, then gix gets what the server sent).
fn without_relative_deepen(capabilities: &Capabilities) -> Option<Capabilities> {
    if !capabilities.contains("deepen-relative") {
        return None;
    }
    let mut line = vec![0u8];
    for cap in capabilities
        .iter()
        .filter(|c| c.name() != "deepen-relative")
    {
        if line.len() > 1 {
            line.push(b' ');
        }
        line.extend_from_slice(cap.name());
        if let Some(value) = cap.value() {
            line.push(b'=');
            line.extend_from_slice(value);
        }
    }
    Capabilities::from_bytes(&line).ok().map(|(caps, _)| caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(caps: &str) -> Capabilities {
        Capabilities::from_bytes(format!("\0{caps}").as_bytes())
            .unwrap()
            .0
    }

    fn names(caps: &Capabilities) -> Vec<String> {
        caps.iter()
            .map(|c| match c.value() {
                Some(v) => format!("{}={v}", c.name()),
                None => c.name().to_string(),
            })
            .collect()
    }

    #[test]
    fn relative_deepen_is_never_offered_to_gix_on_v1() {
        let caps = v1("multi_ack shallow deepen-since deepen-relative symref=HEAD:refs/heads/main agent=git/2.47.3");
        let kept = without_relative_deepen(&caps).unwrap();
        assert_eq!(
            names(&kept),
            vec![
                "multi_ack",
                "shallow",
                "deepen-since",
                "symref=HEAD:refs/heads/main",
                "agent=git/2.47.3"
            ]
        );
    }

    #[test]
    fn an_advertisement_without_it_is_left_alone() {
        assert!(without_relative_deepen(&v1("multi_ack shallow")).is_none());
    }
}
