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
pub mod diff;
pub mod error;
pub mod events;
pub(crate) mod files;
pub mod git;
pub(crate) mod health;
pub(crate) mod hex;
pub(crate) mod hook_env;
pub(crate) mod hooks;
pub mod infra_meta;
pub mod jitter;
pub mod json;
pub mod layout;
pub mod lock;
pub mod metrics;
pub(crate) mod monitoring;
pub mod pass;
pub mod paths;
pub(crate) mod pause;
pub(crate) mod plan;
pub(crate) mod preview;
pub(crate) mod procgroup;
pub(crate) mod prune;
pub(crate) mod racy;
pub(crate) mod reconcile;
pub mod report;
pub(crate) mod rollback;
pub(crate) mod sdnotify;
pub mod state;
pub mod status;
pub mod text;
pub(crate) mod trim;
pub(crate) mod trust;
pub mod url;
pub mod validate;
pub mod verify;
pub mod windows;
