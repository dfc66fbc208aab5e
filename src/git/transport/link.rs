//! What every transport hands the operation that uses it (fetch, push): the boxed gix
//! transport, and a [`Failure`] slot where the transport notes what kind of failure it met.
//!
//! The slot exists because kinds cannot be relied on to survive gix's errors: gix wraps
//! transport errors in its own types, and not every layer keeps the `io::Error` reachable
//! through `source()` (gix-error's `Exn`, used for http, does not; our own `Error` carried
//! inside one, see [`io_error`], is found today). A transport knows best (an http 401 is
//! `Rejected`, a helper gone silent is `Network`), so it notes that here; the operation
//! turns a failed gix call into a kind with [`Failure::kind_of`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gix::protocol::transport::client::blocking_io::Transport;
use gix::protocol::transport::Protocol;

use crate::error::{Error, Kind};

/// A boxed transport ready for a handshake.
pub type BoxedTransport = Box<dyn Transport + Send>;

/// `TransportWithoutIO` for a wrapper around a transport that changes none of it: every
/// call goes to the wrapped transport in field `$inner` (the wrappers differ only in
/// their handshake).
macro_rules! forward_transport_without_io {
    ($wrapper:ty, $inner:ident) => {
        impl gix::protocol::transport::client::TransportWithoutIO for $wrapper {
            fn set_identity(
                &mut self,
                identity: gix::sec::identity::Account,
            ) -> std::result::Result<(), gix::protocol::transport::client::Error> {
                self.$inner.set_identity(identity)
            }

            fn to_url(&self) -> std::borrow::Cow<'_, gix::bstr::BStr> {
                self.$inner.to_url()
            }

            fn supported_protocol_versions(&self) -> &[gix::protocol::transport::Protocol] {
                self.$inner.supported_protocol_versions()
            }

            fn connection_persists_across_multiple_requests(&self) -> bool {
                self.$inner.connection_persists_across_multiple_requests()
            }

            fn configure(&mut self, config: &dyn std::any::Any) -> gix::error::Result {
                self.$inner.configure(config)
            }
        }
    };
}
pub(crate) use forward_transport_without_io;

/// A connected transport, its failure slot, and the budget of the whole transfer (the
/// operation says when the pack follows: `Budget::pack_follows`).
pub struct Link {
    pub transport: BoxedTransport,
    pub failure: Failure,
    pub budget: super::budget::Budget,
    pub spoken: Spoken,
}

/// The protocol version the server answered a fetch's handshake in (`None` before it did).
#[derive(Debug, Clone, Default)]
pub struct Spoken(Arc<Mutex<Option<Protocol>>>);

impl Spoken {
    pub fn record(&self, protocol: Protocol) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(protocol);
        }
    }

    pub fn get(&self) -> Option<Protocol> {
        self.0.lock().ok().and_then(|slot| *slot)
    }
}

/// The kind of the first failure a transport met; shared by the transport (which records)
/// and the operation (which reads it after gix gives up). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Failure(Arc<Mutex<Option<Noted>>>);

/// A noted failure: its kind, and the transport's own words when they beat gix's.
type Noted = (Kind, Option<String>);

impl Failure {
    /// Note `kind`, unless a failure was noted before (later ones are its consequences).
    pub fn record(&self, kind: Kind) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert((kind, None));
        }
    }

    /// Note `err` whole: its text then replaces gix's words for the failure, which can be
    /// misleading (a read timeout mid-pack reads "Failed to write the received pack").
    pub fn record_error(&self, err: &Error) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert((err.kind(), Some(err.message().to_string())));
        }
    }

    pub fn recorded(&self) -> Option<Kind> {
        self.0
            .lock()
            .ok()
            .and_then(|slot| slot.as_ref().map(|s| s.0))
    }

    fn recorded_message(&self) -> Option<String> {
        self.0.lock().ok().and_then(|slot| slot.as_ref()?.1.clone())
    }

    /// The kind of `err`, what a gix operation over this transport returned.
    pub fn kind_of(&self, err: &(dyn std::error::Error + 'static), stop: &AtomicBool) -> Kind {
        decide(
            stop.load(Ordering::Relaxed),
            self.recorded(),
            chain_kind(err),
        )
    }

    /// `err`, from a gix operation over this transport, as our error: `ctx` and the cause
    /// chain for people, [`Failure::kind_of`] for code.
    pub fn wrap(
        &self,
        err: impl std::error::Error + 'static,
        stop: &AtomicBool,
        ctx: impl std::fmt::Display,
    ) -> Error {
        let said = self
            .recorded_message()
            .unwrap_or_else(|| crate::error::chain(&err));
        Error::new(self.kind_of(&err, stop), format!("{ctx}: {said}"))
    }
}

/// The kind of a failed network operation, first rule that applies:
/// stopped on purpose → `Interrupted` (whatever gix made of the interrupt); what the
/// transport recorded; what the error chain says (our own error's kind, a network or local
/// io error); no io error anywhere → `Invalid`: the remote sent something gix refused
/// (a protocol violation, a bad object).
pub fn decide(stopped: bool, recorded: Option<Kind>, from_chain: Option<Kind>) -> Kind {
    if stopped {
        return Kind::Interrupted;
    }
    recorded.or(from_chain).unwrap_or(Kind::Invalid)
}

/// The kind the cause chain of `err` shows: our own `Error` keeps its kind (also inside an
/// `io::Error`); io errors that only links produce are `Network` (a socket read timeout is
/// `WouldBlock`); an interrupted one `Interrupted`; any other io error is local `Io`.
/// `None` when there is no io error at all.
pub fn chain_kind(err: &(dyn std::error::Error + 'static)) -> Option<Kind> {
    let mut local = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(ours) = e.downcast_ref::<Error>() {
            return Some(ours.kind());
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(ours) = io.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
                return Some(ours.kind());
            }
            match crate::error::classify(io) {
                Kind::Io if io.kind() == std::io::ErrorKind::WouldBlock => {
                    return Some(Kind::Network)
                }
                Kind::Io => local = Some(Kind::Io),
                other => return Some(other),
            }
        }
        cur = e.source();
    }
    local
}

/// An `io::Error` of `io_kind` carrying `err`, so that [`chain_kind`] finds `err`'s kind
/// where gix keeps the io error in its chain. Its text is `err`'s.
pub fn io_error(io_kind: std::io::ErrorKind, err: Error) -> std::io::Error {
    std::io::Error::new(io_kind, err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn stopping_makes_any_failure_interrupted() {
        assert_eq!(
            decide(true, Some(Kind::Network), Some(Kind::Io)),
            Kind::Interrupted
        );
    }

    #[test]
    fn what_the_transport_recorded_wins_over_the_chain() {
        assert_eq!(
            decide(false, Some(Kind::Rejected), Some(Kind::Network)),
            Kind::Rejected
        );
    }

    #[test]
    fn without_a_record_the_chain_decides() {
        assert_eq!(decide(false, None, Some(Kind::Network)), Kind::Network);
    }

    #[test]
    fn no_io_error_at_all_is_invalid() {
        assert_eq!(decide(false, None, None), Kind::Invalid);
    }

    #[test]
    fn the_first_record_stays() {
        let f = Failure::default();
        let shared = f.clone();
        shared.record(Kind::Network);
        f.record(Kind::Rejected);
        assert_eq!(f.recorded(), Some(Kind::Network));
    }

    #[derive(Debug)]
    struct Wrap(Option<io::Error>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("gix says")
        }
    }
    impl std::error::Error for Wrap {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.0.as_ref().map(|e| e as _)
        }
    }

    #[test]
    fn chain_kinds() {
        let of = |e: Option<io::Error>| chain_kind(&Wrap(e));
        assert_eq!(of(None), None);
        assert_eq!(
            of(Some(io::ErrorKind::UnexpectedEof.into())),
            Some(Kind::Network)
        );
        assert_eq!(
            of(Some(io::ErrorKind::WouldBlock.into())),
            Some(Kind::Network)
        );
        assert_eq!(of(Some(io::ErrorKind::StorageFull.into())), Some(Kind::Io));
        let ours = io_error(
            io::ErrorKind::Other,
            Error::new(Kind::Rejected, "host key verification failed"),
        );
        assert_eq!(ours.to_string(), "host key verification failed");
        assert_eq!(of(Some(ours)), Some(Kind::Rejected));
    }
}
