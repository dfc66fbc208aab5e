//! gitops-agent: GitOps for machines without Kubernetes. See ARCHITECTURE.md for the map.

pub mod backoff;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod dashboard;
pub mod error;
pub mod files;
pub mod git;
pub mod health;
pub mod hooks;
pub mod infra_meta;
pub mod jitter;
pub mod layout;
pub mod lock;
pub mod monitoring;
pub mod pass;
pub mod plan;
pub mod reconcile;
pub mod report;
pub mod sdnotify;
pub mod state;
pub mod trim;
pub mod url;
