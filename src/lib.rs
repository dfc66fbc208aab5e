//! gitops-agent: GitOps for machines without Kubernetes. See ARCHITECTURE.md for the map.
//!
//! Modules are `pub(crate)` unless `src/main.rs` or the integration tests (`tests/`) use
//! them, so the compiler reports dead code.

pub(crate) mod atomic;
pub(crate) mod backoff;
pub mod cli;
pub mod clock;
pub(crate) mod code_fetch;
pub mod config;
pub mod daemon;
pub(crate) mod dashboard;
pub mod error;
pub(crate) mod files;
pub mod git;
pub(crate) mod health;
pub(crate) mod hook_env;
pub(crate) mod hooks;
pub mod infra_meta;
pub mod jitter;
pub mod layout;
pub mod lock;
// Public only until the metrics_file writer (SPEC §13) uses it: unused today.
pub mod metrics;
pub(crate) mod monitoring;
pub mod pass;
pub mod paths;
pub(crate) mod pause;
pub(crate) mod plan;
pub(crate) mod procgroup;
pub(crate) mod prune;
pub(crate) mod reconcile;
pub mod report;
pub(crate) mod rollback;
pub(crate) mod sdnotify;
pub(crate) mod state;
pub mod text;
pub(crate) mod trim;
pub(crate) mod trust;
pub mod url;
pub mod verify;
pub mod windows;
