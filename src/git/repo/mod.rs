//! Opening (or creating) a clone, fetching into it, and looking up refs and commits.
//!
//! Clones made here must stay ordinary git clones: a device that ran the Python agent has
//! clones made by `git clone`, and operators inspect ours with the git CLI. So the remote is
//! written to `.git/config` as `[remote "origin"]` with the usual fetch refspec.
//!
//! One module per operation: `open` (open or create a clone; the origin guard lives in
//! `origin`, the ownership gate of code clones in `gate`), `fetch`, `tips` (what the remote's branches point at, on one connection: a fetch
//! of a tip already here is not made), `resolve` (refs and commits, locally).

mod fetch;
pub(crate) mod gate;
mod open;
mod origin;
mod resolve;
#[cfg(test)]
pub(crate) mod test_support;
mod tips;

pub use self::fetch::{fetch, fetch_at_depth, fetch_until};
pub use self::open::{open_clone, open_or_init, open_or_init_code, repo_dir};
pub use self::resolve::{find_ref, resolve_commit};
pub use self::tips::{Shared as SharedTips, Tips};
