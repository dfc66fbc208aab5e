//! Pushing one ref: the client side of `git-receive-pack`, in-process (gix has no push yet,
//! gitoxide issue #306).
//!
//! The flow is the one `git send-pack` uses with protocol v1 (receive-pack has no v2):
//! read the ref advertisement, decide locally (compare-and-swap on the old value, fast-forward
//! check), send one update command, then a complete (never thin) pack of what the remote lacks,
//! then read the `report-status` answer. The old value in the command makes the server refuse
//! the update if the ref moved since the advertisement, so a concurrent pusher is never
//! overwritten, even for forced updates.
//!
//! This module decides and talks; `pack` makes the pack, `report` reads the answer.

mod pack;
pub mod report;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use gix::bstr::ByteSlice;
use gix::protocol::handshake::Ref;
use gix::protocol::transport::client::blocking_io::{ExtendedBufRead, Transport};
use gix::protocol::transport::client::{MessageKind, WriteMode};
use gix::protocol::transport::Service;
use gix::ObjectId;

use self::pack::{objects_to_send, write_pack};
use self::report::{check_report, read_report};
use crate::bail;
use crate::error::{Context, Error, Kind, Result};
use crate::git::transport::{self, BoxedTransport};
use crate::git::NetOptions;
use crate::url::Url;

/// One ref update to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// The full ref name on the remote, e.g. `refs/heads/main-monitoring`.
    pub name: String,
    /// What the caller believes the remote ref points to: `None` means it must not exist
    /// yet (create). The push is refused if the remote differs ("remote ref moved").
    pub expected_old: Option<ObjectId>,
    /// The commit the remote ref should point to; it must exist in the local repository.
    pub new: ObjectId,
    /// Allow a non-fast-forward update (history rewrite). The compare-and-swap on
    /// `expected_old` still applies.
    pub force: bool,
}

/// Make the remote ref `update.name` at `url` point to `update.new`.
///
/// Refuses, without sending anything, when the remote ref is not at `update.expected_old`
/// ("remote ref moved": someone else pushed; retry on the next pass) or when the update is
/// not a fast-forward and `force` is unset. A remote already at `update.new` is success
/// without a push, whatever `expected_old` says: the wanted state is reached.
/// Every error names the (redacted) url and the ref, and has a kind: `RefMoved` for a lost
/// compare-and-swap, `Rejected` for the server's refusals, `Network` for the link.
pub fn push(repo: &gix::Repository, url: &Url, net: &NetOptions, update: &RefUpdate) -> Result<()> {
    push_until(repo, url, net, update, &AtomicBool::new(false))
}

/// [`push`] that gives up when `stop` becomes true (the agent is shutting down) while the
/// pack is made or sent; the error is then `Interrupted`, and the remote ref is unchanged.
pub fn push_until(
    repo: &gix::Repository,
    url: &Url,
    net: &NetOptions,
    update: &RefUpdate,
    stop: &AtomicBool,
) -> Result<()> {
    let ctx = |e: Error| e.context(format!("push {} to {url}", update.name));
    check_name(&update.name).map_err(ctx)?;
    let session = Session::open(url, net, stop, false).map_err(ctx)?;
    session.send(repo, update, stop)
}

/// A receive-pack session: connected, its ref advertisement read, ready for one update.
///
/// Opened `ahead` (on another thread, while the caller fetches the head it will build on), the
/// server's process start is off the time between that fetch and the update, where another
/// device's push makes this one lose the race (SPEC §9). Its advertisement may then be older
/// than the fetch, so the caller's `expected_old` is what the update is checked against
/// (the server's compare-and-swap still decides), and the fetched head counts as a tip the
/// remote has.
pub struct Session {
    transport: BoxedTransport,
    failure: transport::Failure,
    refs: Vec<Ref>,
    caps: gix::protocol::transport::client::Capabilities,
    url: Url,
    ahead: bool,
}

impl Session {
    /// Connect to receive-pack at `url` and read its advertisement. `ahead`: see [`Session`].
    pub fn open(url: &Url, net: &NetOptions, stop: &AtomicBool, ahead: bool) -> Result<Session> {
        let link = transport::open(url, Service::ReceivePack, net)?;
        let (mut transport, failure) = (link.transport, link.failure);
        let handshake = gix::protocol::handshake(
            &mut transport,
            Service::ReceivePack,
            // git:// and file:// never ask; http credentials are the transport's business.
            |_action| Ok(None),
            Vec::new(),
            &mut gix::progress::Discard,
        )
        .map_err(|e| failure.wrap(e, stop, "handshake"))?;
        Ok(Session {
            transport,
            failure,
            refs: handshake.refs.unwrap_or_default(),
            caps: handshake.capabilities,
            url: url.clone(),
            ahead,
        })
    }

    /// Send `update` (see [`push`]) and read the server's answer.
    pub fn send(self, repo: &gix::Repository, update: &RefUpdate, stop: &AtomicBool) -> Result<()> {
        let url = self.url.clone();
        self.send_inner(repo, update, stop)
            .map_err(|e| e.context(format!("push {} to {}", update.name, url)))
    }

    /// End the session unused: the server exits cleanly.
    pub fn close(mut self) {
        let _ = close_without_commands(&mut self.transport);
    }

    fn send_inner(
        mut self,
        repo: &gix::Repository,
        update: &RefUpdate,
        stop: &AtomicBool,
    ) -> Result<()> {
        check_name(&update.name)?;
        let new_commit = repo
            .find_commit(update.new)
            .with_context(|| format!("new value {} is not a local commit", update.new))?;
        drop(new_commit);
        let remote_old = advertised_value(&self.refs, &update.name);
        if remote_old == Some(update.new) {
            log::debug!("{} already at {} on {}", update.name, update.new, self.url);
            return close_without_commands(&mut self.transport);
        }
        let known = remote_old.is_some_and(|id| repo.has_object(id));
        if let Some(why) = moved(remote_old, known, update.expected_old, self.ahead) {
            self.close();
            bail!(Kind::RefMoved, "remote ref moved: {why}");
        }
        if let (Some(old), false) = (update.expected_old, update.force) {
            if let Err(e) = ensure_fast_forward(repo, old, update.new) {
                self.close();
                return Err(e);
            }
        }
        self.update(repo, update, stop)
    }

    /// Send the command and the pack, read the report.
    fn update(
        mut self,
        repo: &gix::Repository,
        update: &RefUpdate,
        stop: &AtomicBool,
    ) -> Result<()> {
        let caps = &self.caps;
        if !caps.contains("report-status") {
            self.close();
            bail!(
                Kind::Invalid,
                "the server does not offer report-status; cannot learn the outcome of a push"
            );
        }
        // Ask only for what the server advertised. side-band-64k lets hook and error messages
        // (e.g. a pre-receive hook's stderr) reach us, so they can go into the error;
        // `quiet` keeps unpack progress off that channel.
        let sideband = caps.contains("side-band-64k");
        let mut wanted = vec!["report-status".to_string()];
        if sideband {
            wanted.push("side-band-64k".into());
        }
        if caps.contains("quiet") {
            wanted.push("quiet".into());
        }
        if caps.contains("agent") {
            wanted.push(format!("agent=gitops-agent/{}", env!("CARGO_PKG_VERSION")));
        }

        let mut remote_tips = advertised_tips(&self.refs);
        remote_tips.extend(update.expected_old);
        let objects = match objects_to_send(repo, &remote_tips, update.new, stop) {
            Ok(objects) => objects,
            Err(e) => {
                self.close();
                return Err(e);
            }
        };
        log::debug!(
            "pushing {} ({} objects) to {}",
            update.name,
            objects.len(),
            self.url
        );

        let zero = ObjectId::null(repo.object_hash());
        let command = format!(
            "{} {} {}\0{}",
            update.expected_old.unwrap_or(zero),
            update.new,
            update.name,
            wanted.join(" ")
        );

        let failure = self.failure;
        // Binary mode: each write becomes one pkt-line, which is what the command needs;
        // the pack afterwards must go raw, hence `into_parts`.
        let mut request = self
            .transport
            .request(WriteMode::Binary, MessageKind::Flush, false)
            .map_err(|e| failure.wrap(e, stop, "start request"))?;
        request
            .write_all(command.as_bytes())
            .map_err(|e| failure.wrap(e, stop, "send update command"))?;
        request
            .write_message(MessageKind::Flush)
            .map_err(|e| failure.wrap(e, stop, "send flush after command"))?;
        let (mut writer, mut reader) = request.into_parts();
        let sent = write_pack(repo, objects, &mut writer, stop)
            .and_then(|()| writer.flush().context("flush pack"));
        // Dropping the writer ends the request (for http, the POST body) before reading.
        drop(writer);
        if let Err(e) = sent {
            if e.kind() == Kind::Interrupted || stop.load(Ordering::Relaxed) {
                // The remote waits for the rest of the pack; no report will come. Dropping the
                // connection ends the session; a pack cut short is never applied.
                return Err(e.with_kind(Kind::Interrupted));
            }
            return Err(finish_after_failed_send(
                e,
                &mut reader,
                sideband,
                &failure,
                stop,
                &update.name,
            ));
        }

        let (report, remote_said) = read_report(&mut reader, sideband, &failure, stop);
        let report =
            report.map_err(|e| Error::new(e.kind(), format!("{}{remote_said}", e.message())))?;
        check_report(&report, &update.name).map_err(|e| {
            let kind = report::with_messages(e.kind(), &remote_said);
            Error::new(kind, format!("{}{remote_said}", e.message()))
        })
    }
}

/// A ref name a push can update: valid, and full (`refs/...`).
fn check_name(name: &str) -> Result<()> {
    gix::validate::reference::name(name.as_bytes().as_bstr())
        .with_context(|| format!("invalid ref name '{name}'"))
        .map_err(|e| e.with_kind(Kind::Invalid))?;
    if !name.starts_with("refs/") {
        bail!(
            Kind::Invalid,
            "ref name '{name}' must be a full ref (refs/...)"
        );
    }
    Ok(())
}

/// Why the update is known lost before anything is sent (`None`: send it; the server's
/// compare-and-swap decides). `advertised`: the ref in the advertisement, `known`: whether
/// this repository has that commit; `expected`: what the caller built on. A session opened
/// at once shows the ref as it is: any difference is a move. One opened `ahead` may show it
/// as it was before the caller's fetch, so only a value this repository has never seen is
/// certainly newer than that fetch.
fn moved(
    advertised: Option<ObjectId>,
    known: bool,
    expected: Option<ObjectId>,
    ahead: bool,
) -> Option<String> {
    let unseen = advertised.is_some() && !known;
    (advertised != expected && (!ahead || unseen)).then(|| {
        format!(
            "expected {}, remote has {} (someone else pushed; retry after fetching)",
            describe(expected),
            describe(advertised)
        )
    })
}

/// Every object id the advertisement names (what the remote has).
fn advertised_tips(refs: &[Ref]) -> Vec<ObjectId> {
    refs.iter()
        .filter_map(|r| match r {
            Ref::Direct { object, .. }
            | Ref::Peeled { object, .. }
            | Ref::Symbolic { object, .. } => Some(*object),
            Ref::Unborn { .. } => None,
        })
        .collect()
}

/// The error for a pack that could not be sent. The answer is read anyway: a server that
/// gave up mid-pack (size limit, full disk) says why on the side band before hanging up,
/// and that beats the bare socket error it caused.
fn finish_after_failed_send<'a>(
    sent: Error,
    reader: &mut Box<dyn ExtendedBufRead<'a> + Unpin + 'a>,
    sideband: bool,
    failure: &transport::Failure,
    stop: &AtomicBool,
    name: &str,
) -> Error {
    let (report, remote_said) = read_report(reader, sideband, failure, stop);
    if let Ok(lines) = &report {
        if let Err(reason) = check_report(lines, name) {
            let kind = report::with_messages(reason.kind(), &remote_said);
            return Error::new(kind, format!("{}{remote_said}", reason.message()));
        }
    }
    Error::new(
        Kind::Network,
        format!(
            "{} (the remote hung up while the pack was being sent; it may have refused the pack){remote_said}",
            sent.message()
        ),
    )
}

/// The value of `name` in the advertisement (the tag object for annotated tags).
fn advertised_value(refs: &[Ref], name: &str) -> Option<ObjectId> {
    refs.iter().find_map(|r| match r {
        Ref::Direct {
            full_ref_name,
            object,
        } if full_ref_name == name => Some(*object),
        Ref::Peeled {
            full_ref_name, tag, ..
        } if full_ref_name == name => Some(*tag),
        Ref::Symbolic {
            full_ref_name,
            tag,
            object,
            ..
        } if full_ref_name == name => Some(tag.unwrap_or(*object)),
        _ => None,
    })
}

fn describe(id: Option<ObjectId>) -> String {
    id.map_or_else(|| "no such ref".to_string(), |id| id.to_string())
}

/// End the session without commands: receive-pack takes a lone flush as "nothing to do"
/// and exits cleanly instead of logging a hung-up client.
fn close_without_commands(transport: &mut BoxedTransport) -> Result<()> {
    let request = transport
        .request(WriteMode::Binary, MessageKind::Flush, false)
        .context("start closing request")?;
    let (mut writer, _reader) = request.into_parts();
    writer.write_all(b"0000").context("send closing flush")?;
    writer.flush().context("send closing flush")?;
    Ok(())
}

/// receive-pack does not refuse non-fast-forwards unless configured to, so check here:
/// the remote tip must be an ancestor of `new` in the local history. A tip we lack is
/// `RefMoved` (fetching first helps); one that is not an ancestor is `Invalid` (the update
/// itself is wrong without `force`).
fn ensure_fast_forward(repo: &gix::Repository, old: ObjectId, new: ObjectId) -> Result<()> {
    if !repo.has_object(old) {
        bail!(
            Kind::RefMoved,
            "not a fast-forward: the remote tip {old} is unknown locally (fetch first)"
        );
    }
    let base = repo
        .merge_base(old, new)
        .with_context(|| format!("find merge base of {old} and {new}"))?;
    if base.map(|b| b.detach()) != Some(old) {
        bail!(
            Kind::Invalid,
            "not a fast-forward: the remote tip {old} is not an ancestor of {new}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(byte: u8) -> Option<ObjectId> {
        Some(ObjectId::from_bytes_or_panic(&[byte; 20]))
    }

    #[test]
    fn a_session_opened_at_once_takes_any_difference_as_a_move() {
        assert!(moved(id(1), true, id(2), false).is_some());
        assert!(moved(None, false, id(2), false).is_some());
        assert!(moved(id(1), true, None, false).is_some());
        assert!(moved(id(1), true, id(1), false).is_none());
    }

    #[test]
    fn a_session_opened_ahead_leaves_a_seen_value_to_the_server() {
        // The advertisement predates the caller's fetch: an older head, or no branch yet.
        assert!(moved(id(1), true, id(2), true).is_none());
        assert!(moved(None, false, id(2), true).is_none());
        assert!(moved(id(1), true, None, true).is_none());
    }

    #[test]
    fn a_session_opened_ahead_takes_an_unseen_value_as_a_move() {
        let why = moved(id(3), false, id(2), true).expect("moved");
        assert!(why.contains("remote has 0303"), "{why}");
        assert!(moved(id(3), false, None, true).is_some());
        assert!(moved(None, false, None, true).is_none());
    }
}
