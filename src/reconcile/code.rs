//! Bringing a pinned commit into a code clone over the network (SPEC §14, thin links): the
//! request `code_fetch` decides, and the fallback when the server refuses a commit by id.

use std::sync::atomic::AtomicBool;

use gix::ObjectId;

use crate::code_fetch::{self, Held, Request};
use crate::error::{Error, Kind, Result};
use crate::git::{repo, NetOptions};
use crate::url::Url;

/// Fetch what `pin` (`code_commit_hash`) needs from `code_url` into `code`, at
/// `code_fetch_depth` = `depth`, and resolve it to a commit. Called only when the pin is
/// not already in the clone.
pub(super) fn fetch_pin(
    code: &gix::Repository,
    code_url: &Url,
    pin: &str,
    depth: u32,
    net: &NetOptions,
    stop: &AtomicBool,
) -> Result<ObjectId> {
    let held = held(code);
    let wanted = code_fetch::request(pin, depth, held);
    match run(code, code_url, &wanted, net, stop) {
        // A v0/v1 server that serves only advertised tips.
        Err(e)
            if wanted.by_id
                && e.kind() == Kind::Rejected
                && code_fetch::is_refused_want(&e.to_string()) =>
        {
            log::warn!(
                "{} refuses to send a commit by id (protocol v0/v1 without uploadpack.allowReachableSHA1InWant); fetching its branches and tags instead",
                code_url
            );
            run(code, code_url, &code_fetch::fallback(held), net, stop)?;
        }
        // Protocol v2 serves any commit it has: this one it has not.
        Err(e)
            if wanted.by_id
                && e.kind() == Kind::Invalid
                && code_fetch::is_refused_want(&e.to_string()) =>
        {
            return Err(not_found(pin, code_url));
        }
        other => other?,
    }
    repo::resolve_commit(code, pin).ok_or_else(|| not_found(pin, code_url))
}

fn not_found(pin: &str, code_url: &Url) -> Error {
    Error::new(
        Kind::Invalid,
        format!(
            "code_commit_hash `{pin}` is not a commit or tag of {}; push it or fix infra_meta.toml",
            code_url
        ),
    )
}

fn run(
    code: &gix::Repository,
    code_url: &Url,
    request: &Request,
    net: &NetOptions,
    stop: &AtomicBool,
) -> Result<()> {
    let refspecs: Vec<&str> = request.refspecs.iter().map(String::as_str).collect();
    repo::fetch_at_depth(code, code_url, &refspecs, request.depth, net, stop)
}

/// What the clone holds: no ref at all, a shallow history, or a full one.
fn held(code: &gix::Repository) -> Held {
    if code.is_shallow().unwrap_or(false) {
        return Held::Shallow;
    }
    let has_ref = code
        .references()
        .ok()
        .and_then(|platform| platform.all().ok().map(|mut all| all.next().is_some()));
    match has_ref {
        Some(false) => Held::Empty,
        // Unreadable refs: treat as full, the cautious choice (never makes a clone shallow).
        Some(true) | None => Held::Full,
    }
}
