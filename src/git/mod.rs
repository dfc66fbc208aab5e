//! Everything that talks git, in-process with gix: transports, clone/fetch, worktree,
//! commit and push. Callers see plain functions over `gix::Repository` and object ids;
//! nothing here decides *what* to do (that is `plan`, `report`, `trim`).
//!
//! One folder per operation, as gitoxide does: `transport/` (reaching a remote: tcp, http,
//! ssh, file, each failure with its kind), `repo/` (open or create a clone, fetch, resolve),
//! `push/` (decide, pack, report); `worktree`, `commit` and `locks` work on a clone.

pub(crate) mod commit;
pub(crate) mod locks;
pub mod push;
pub mod repo;
pub(crate) mod retry;
pub(crate) mod sparse;
pub mod transport;
pub(crate) mod worktree;

// The http transport's short path (`git::http`), used by tests.
pub use transport::http;

use std::time::Duration;

/// How to reach remotes: everything a transport needs besides the url.
/// Built from the agent config; cheap to clone.
#[derive(Debug, Clone)]
pub struct NetOptions {
    /// Bound on any single network operation (connect, and each read/write).
    pub timeout: Duration,
    /// Bound on a whole fetch or push, whatever the server trickles (SPEC §10).
    pub transfer_timeout: Duration,
    /// Program (with arguments) used for ssh remotes; `GIT_SSH_COMMAND` semantics.
    pub ssh_command: Option<String>,
    /// A private key for ssh remotes (`-i <key>`), used when `ssh_command` is unset.
    pub ssh_key: Option<std::path::PathBuf>,
    /// File holding the https password/token, used when the url carries none, and only
    /// over https to `credential_hosts`.
    pub https_password_file: Option<std::path::PathBuf>,
    /// Hosts (lowercase) `https_password_file` may be sent to: the deploy repos' hosts and
    /// `https_credential_hosts` (SPEC §10).
    pub credential_hosts: Vec<String>,
    /// Extra PEM CA bundle for https remotes.
    pub https_ca_file: Option<std::path::PathBuf>,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            timeout: Duration::from_secs(60),
            transfer_timeout: Duration::from_secs(3600),
            ssh_command: None,
            ssh_key: None,
            https_password_file: None,
            credential_hosts: Vec::new(),
            https_ca_file: None,
        }
    }
}
