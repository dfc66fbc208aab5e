//! gitops-agent: GitOps for machines without Kubernetes. See ARCHITECTURE.md for the map.

pub mod error;
pub mod git;
pub mod url;
