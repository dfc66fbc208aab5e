//! gitops-agent: GitOps for machines without Kubernetes. See ARCHITECTURE.md for the map.

pub mod atomic;
pub mod backoff;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod error;
pub mod files;
pub mod git;
pub mod health;
pub mod hooks;
pub mod infra_meta;
pub mod layout;
pub mod lock;
pub mod monitoring;
pub mod pass;
pub mod plan;
pub mod reconcile;
pub mod report;
pub mod sdnotify;
pub mod state;
pub mod text;
pub mod trim;
pub mod trust;
pub mod url;
pub mod verify;
