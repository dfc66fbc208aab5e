//! The crate's one error type: a kind callers branch on, plus a message with its chain of
//! context, built for operators.
//!
//! Errors are data: `kind()` says what went wrong in a way code can act on (retry after a
//! fetch, exit 2, exit 3), `Display` tells people what happened and what to do. Each layer
//! adds what it was doing (`context`), so the final line reads "group X: fetch
//! https://h/o/r: connection refused"; the kind survives every layer. Secrets are removed
//! from urls before they reach a message (`url::Url`'s `Display` is redacted).

use std::fmt;

/// What went wrong, as far as a caller needs to decide what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The agent's own configuration cannot be used (`--once` exits 2).
    Config,
    /// Another agent holds the pass lock past the wait bound (`--once` exits 3).
    Locked,
    /// Reaching a remote failed or timed out (connect, read, write, TLS, a helper that
    /// died); trying again later may work.
    Network,
    /// The remote refused what we asked, with its reason (auth, hook, unpack failure).
    Rejected,
    /// A compare-and-swap lost: the remote ref is no longer where we saw it (another
    /// device pushed or trimmed). Retry after fetching.
    RefMoved,
    /// A deploy commit did not pass signature or rewind checks.
    Verification,
    /// Something a repo or a remote controls is not usable (bad section, bad object,
    /// origin mismatch, protocol violation).
    Invalid,
    /// Local I/O: files, folders, processes.
    Io,
    /// Stopped on purpose (SIGTERM/SIGINT) before the operation finished.
    Interrupted,
}

/// An error with a kind and human context. `Display` prints the whole chain, outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: Kind,
    msg: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind`.
    pub fn new(kind: Kind, msg: impl Into<String>) -> Self {
        Error {
            kind,
            msg: msg.into(),
        }
    }

    /// A local I/O error (the most common kind; a remote's failures are built with `new`).
    pub fn msg(msg: impl Into<String>) -> Self {
        Error::new(Kind::Io, msg)
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The same error, of another kind (when a layer knows better what a failure means).
    pub fn with_kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// Whether doing the same again later may succeed without anyone changing anything.
    pub fn can_retry(&self) -> bool {
        matches!(self.kind, Kind::Network | Kind::RefMoved)
    }

    /// Prefix this error with what the caller was doing; the kind is kept.
    pub fn context(self, ctx: impl fmt::Display) -> Self {
        Error {
            kind: self.kind,
            msg: format!("{ctx}: {}", self.msg),
        }
    }

    pub fn message(&self) -> &str {
        &self.msg
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

/// Attach context to any displayable error (gix, io, toml ...) while converting it. The kind
/// is read off the cause chain (`classify`): an `io::Error` of a network kind anywhere in it
/// makes a `Network` error, an interrupt an `Interrupted` one, anything else `Io`.
pub trait Context<T> {
    fn context(self, ctx: impl fmt::Display) -> Result<T>;
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: std::error::Error + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, ctx: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::new(classify(&e), format!("{ctx}: {}", chain(&e))))
    }
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| Error::new(classify(&e), format!("{}: {}", f(), chain(&e))))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, ctx: impl fmt::Display) -> Result<T> {
        self.ok_or_else(|| Error::msg(ctx.to_string()))
    }
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::msg(f().to_string()))
    }
}

/// The kind of a foreign error, from its cause chain: our own `Error` inside keeps its
/// kind; an `io::Error` that only networks produce is `Network`; `Interrupted` io errors
/// (gix's interrupt flag) are `Interrupted`; the rest is local `Io`.
pub fn classify(err: &(dyn std::error::Error + 'static)) -> Kind {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(ours) = e.downcast_ref::<Error>() {
            return ours.kind;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::TimedOut
                | K::ConnectionRefused
                | K::ConnectionReset
                | K::ConnectionAborted
                | K::NotConnected
                | K::BrokenPipe
                | K::UnexpectedEof
                | K::HostUnreachable
                | K::NetworkUnreachable
                | K::NetworkDown
                | K::AddrNotAvailable => return Kind::Network,
                K::Interrupted => return Kind::Interrupted,
                _ => {}
            }
        }
        cur = e.source();
    }
    Kind::Io
}

/// An error and its causes on one line, skipping a cause whose text the outer one already
/// shows (gix often repeats it), so the root cause stays visible without debug dumps.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !out.contains(&text) {
            out = format!("{out}: {text}");
        }
        source = e.source();
    }
    out
}

/// `bail!("...")`: return early with a formatted `Io` error;
/// `bail!(Kind::Network, "...")`: with that kind.
#[macro_export]
macro_rules! bail {
    ($kind:path, $fmt:literal $($arg:tt)*) => {
        return Err($crate::error::Error::new($kind, format!($fmt $($arg)*)))
    };
    ($($arg:tt)*) => { return Err($crate::error::Error::msg(format!($($arg)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_kind() {
        let e = Error::new(Kind::RefMoved, "moved").context("push x");
        assert_eq!(e.kind(), Kind::RefMoved);
        assert_eq!(e.to_string(), "push x: moved");
        assert!(e.can_retry());
    }

    #[test]
    fn network_io_errors_are_network_and_retryable() {
        let r: std::result::Result<(), _> = Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        let e = r.context("connect").unwrap_err();
        assert_eq!(e.kind(), Kind::Network);
        assert!(e.can_retry());
    }

    #[test]
    fn file_io_errors_are_io_and_not_retryable() {
        let r: std::result::Result<(), _> =
            Err(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"));
        let e = r.context("open").unwrap_err();
        assert_eq!(e.kind(), Kind::Io);
        assert!(!e.can_retry());
    }

    #[test]
    fn our_error_inside_a_foreign_one_keeps_its_kind() {
        #[derive(Debug)]
        struct Wrap(Error);
        impl fmt::Display for Wrap {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("wrapped")
            }
        }
        impl std::error::Error for Wrap {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let r: std::result::Result<(), _> = Err(Wrap(Error::new(Kind::Verification, "bad")));
        assert_eq!(r.context("x").unwrap_err().kind(), Kind::Verification);
    }

    #[test]
    fn bail_with_a_kind() {
        fn f() -> Result<()> {
            bail!(Kind::Rejected, "no {}", 1);
        }
        fn g() -> Result<()> {
            bail!("plain {}", 2);
        }
        assert_eq!(f().unwrap_err().kind(), Kind::Rejected);
        assert_eq!(g().unwrap_err().kind(), Kind::Io);
        assert_eq!(g().unwrap_err().to_string(), "plain 2");
    }
}
