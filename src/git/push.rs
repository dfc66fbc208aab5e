//! Pushing one ref: the client side of `git-receive-pack`, in-process (gix has no push yet,
//! gitoxide issue #306).
//!
//! The flow is the one `git send-pack` uses with protocol v1 (receive-pack has no v2):
//! read the ref advertisement, decide locally (compare-and-swap on the old value, fast-forward
//! check), send one update command, then a complete (never thin) pack of what the remote lacks,
//! then read the `report-status` answer. The old value in the command makes the server refuse
//! the update if the ref moved since the advertisement, so a concurrent pusher is never
//! overwritten, even for forced updates.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use gix::bstr::ByteSlice;
use gix::protocol::handshake::Ref;
use gix::protocol::transport::client::blocking_io::{ExtendedBufRead, Transport};
use gix::protocol::transport::client::{MessageKind, WriteMode};
use gix::protocol::transport::{Protocol, Service};
use gix::ObjectId;
use gix_pack::data::output;

use super::transport::{connect, BoxedTransport};
use super::NetOptions;
use crate::bail;
use crate::error::{Context, Error, Kind, Result};
use crate::url::redact;

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
/// Every error names the (redacted) url and the ref.
pub fn push(repo: &gix::Repository, url: &str, net: &NetOptions, update: &RefUpdate) -> Result<()> {
    push_inner(repo, url, net, update)
        .map_err(|e| e.context(format!("push {} to {}", update.name, redact(url))))
}

fn push_inner(
    repo: &gix::Repository,
    url: &str,
    net: &NetOptions,
    update: &RefUpdate,
) -> Result<()> {
    gix::validate::reference::name(update.name.as_bytes().as_bstr())
        .with_context(|| format!("invalid ref name '{}'", update.name))?;
    if !update.name.starts_with("refs/") {
        bail!("ref name '{}' must be a full ref (refs/...)", update.name);
    }
    let new_commit = repo
        .find_commit(update.new)
        .with_context(|| format!("new value {} is not a local commit", update.new))?;
    drop(new_commit);

    let mut transport = connect(url, Service::ReceivePack, net)?;
    let handshake = gix::protocol::handshake(
        &mut transport,
        Service::ReceivePack,
        // git:// and file:// never ask; http credentials are the transport's business.
        |_action| Ok(None),
        Vec::new(),
        &mut gix::progress::Discard,
    )
    .context("handshake")?;
    let refs = handshake.refs.unwrap_or_default();
    let remote_old = advertised_value(&refs, &update.name);

    if remote_old == Some(update.new) {
        log::debug!(
            "{} already at {} on {}",
            update.name,
            update.new,
            redact(url)
        );
        return close_without_commands(&mut transport);
    }
    if remote_old != update.expected_old {
        let _ = close_without_commands(&mut transport);
        bail!(
            Kind::RefMoved,
            "remote ref moved: expected {}, remote has {} (someone else pushed; retry after fetching)",
            describe(update.expected_old),
            describe(remote_old)
        );
    }
    if let (Some(old), false) = (remote_old, update.force) {
        if let Err(e) = ensure_fast_forward(repo, old, update.new) {
            let _ = close_without_commands(&mut transport);
            return Err(e);
        }
    }

    let caps = &handshake.capabilities;
    if !caps.contains("report-status") {
        let _ = close_without_commands(&mut transport);
        bail!("the server does not offer report-status; cannot learn the outcome of a push");
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

    let objects = match objects_to_send(repo, &refs, update.new) {
        Ok(objects) => objects,
        Err(e) => {
            let _ = close_without_commands(&mut transport);
            return Err(e);
        }
    };
    log::debug!(
        "pushing {} ({} objects) to {}",
        update.name,
        objects.len(),
        redact(url)
    );

    let zero = ObjectId::null(repo.object_hash());
    let command = format!(
        "{} {} {}\0{}",
        remote_old.unwrap_or(zero),
        update.new,
        update.name,
        wanted.join(" ")
    );

    // Binary mode: each write becomes one pkt-line, which is what the command needs;
    // the pack afterwards must go raw, hence `into_parts`.
    let mut request = transport
        .request(WriteMode::Binary, MessageKind::Flush, false)
        .context("start request")?;
    request
        .write_all(command.as_bytes())
        .context("send update command")?;
    request
        .write_message(MessageKind::Flush)
        .context("send flush after command")?;
    let (mut writer, mut reader) = request.into_parts();
    let sent =
        write_pack(repo, objects, &mut writer).and_then(|()| writer.flush().context("flush pack"));
    // Dropping the writer ends the request (for http, the POST body) before reading.
    drop(writer);

    // Read the answer even when sending failed: a server that gave up mid-pack (size
    // limit, full disk) says why on the side band before hanging up.
    let (report, remote_said) = read_report(&mut reader, sideband);
    drop(reader);
    drop(transport);
    if let Err(e) = sent {
        // A report that explains the failure beats the bare socket error it caused.
        if let Ok(lines) = &report {
            if let Err(reason) = check_report(lines, &update.name) {
                return Err(Error::new(
                    reason.kind(),
                    format!("{}{remote_said}", reason.message()),
                ));
            }
        }
        bail!(
            Kind::Network,
            "{} (the remote hung up while the pack was being sent; it may have refused the pack){remote_said}",
            e.message()
        );
    }
    let report =
        report.map_err(|e| Error::new(e.kind(), format!("{}{remote_said}", e.message())))?;
    check_report(&report, &update.name)
        .map_err(|e| Error::new(e.kind(), format!("{}{remote_said}", e.message())))
}

const HUNG_UP: &str = "read push report (the remote hung up; it may have refused the pack)";

/// Read `report-status` lines; also returns what the server said on the side band,
/// formatted as an error suffix (empty if nothing).
fn read_report<'a>(
    reader: &mut Box<dyn ExtendedBufRead<'a> + Unpin + 'a>,
    sideband: bool,
) -> (Result<Vec<String>>, String) {
    // The reader stopped at the flush ending the ref advertisement; go past it.
    reader.reset(Protocol::V1);
    if !sideband {
        let mut lines = Vec::new();
        while let Some(line) = reader.readline() {
            match line
                .context(HUNG_UP)
                .and_then(|l| l.context("decode push report"))
            {
                Ok(line) => {
                    if let Some(data) = line.as_slice() {
                        lines.push(String::from_utf8_lossy(data).trim_end().to_string());
                    }
                }
                Err(e) => return (Err(e), String::new()),
            }
        }
        return (Ok(lines), String::new());
    }
    // Channel 2/3 (hook output, errors) is collected; channel 1 carries the report as
    // pkt-lines inside the side-band pkt-lines, up to the outer flush.
    let messages = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = Arc::clone(&messages);
    reader.set_progress_handler(Some(Box::new(move |_is_error: bool, text: &[u8]| {
        if let Ok(mut buf) = sink.lock() {
            buf.extend_from_slice(text);
            if !text.ends_with(b"\n") {
                buf.push(b'\n');
            }
        }
        std::ops::ControlFlow::Continue(())
    })));
    let mut band1 = Vec::new();
    let read = reader.read_to_end(&mut band1);
    reader.set_progress_handler(None);
    let remote_said = take_messages(&messages);
    // A server that stops reading mid-pack and exits resets a TCP connection, which can
    // destroy its last words (git's own client shows the same); say what that likely means.
    let report = read
        .context(HUNG_UP)
        .and_then(|_| parse_pkt_lines(&band1).context("decode push report"));
    (report, remote_said)
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
/// the remote tip must be an ancestor of `new` in the local history.
fn ensure_fast_forward(repo: &gix::Repository, old: ObjectId, new: ObjectId) -> Result<()> {
    if !repo.has_object(old) {
        bail!("not a fast-forward: the remote tip {old} is unknown locally (fetch first)");
    }
    let base = repo
        .merge_base(old, new)
        .with_context(|| format!("find merge base of {old} and {new}"))?;
    if base.map(|b| b.detach()) != Some(old) {
        bail!("not a fast-forward: the remote tip {old} is not an ancestor of {new}");
    }
    Ok(())
}

/// Objects the remote lacks for `new`: commits reachable from `new` but not from any
/// advertised tip we have locally; for each, its tree and blobs unless the remote has that
/// tree already (the tree of any commit in its history: a trimmed push of a long history
/// sends the rewritten commits, not their trees and blobs again); minus everything in the
/// trees of the tips. A blob the remote has only deep in its history, inside a new tree, may
/// be sent again; that costs bytes, never correctness. Never relies on the remote for delta
/// bases (no thin pack).
fn objects_to_send(
    repo: &gix::Repository,
    refs: &[Ref],
    new: ObjectId,
) -> Result<Vec<output::Count>> {
    let hidden: Vec<ObjectId> = refs
        .iter()
        .filter_map(|r| match r {
            Ref::Direct { object, .. }
            | Ref::Peeled { object, .. }
            | Ref::Symbolic { object, .. } => Some(*object),
            Ref::Unborn { .. } => None,
        })
        // Only commits can be hidden in a walk; tips we lack locally tell us nothing.
        .filter(|id| {
            repo.find_header(*id)
                .is_ok_and(|h| h.kind() == gix::object::Kind::Commit)
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();

    let walk = |tips: Vec<ObjectId>, hide: &[ObjectId], what: &str| -> Result<Vec<ObjectId>> {
        repo.rev_walk(tips)
            .with_hidden(hide.iter().copied())
            .all()
            .with_context(|| format!("walk {what}"))?
            .map(|info| info.map(|i| i.id))
            .collect::<std::result::Result<_, _>>()
            .with_context(|| format!("walk {what}"))
    };
    let tree_of = |id: ObjectId| -> Result<ObjectId> {
        let commit = repo.find_commit(id).context("read commit to send")?;
        Ok(commit.tree_id().context("read commit to send")?.detach())
    };
    let commits = walk(vec![new], &hidden, "commits to send")?;
    // Trees of every commit the remote has (reading commits only; no tree is expanded).
    let remote_trees: HashSet<ObjectId> = if hidden.is_empty() {
        HashSet::new()
    } else {
        walk(hidden.clone(), &[], "commits the remote has")?
            .into_iter()
            .map(tree_of)
            .collect::<Result<_>>()?
    };
    let (mut with_new_tree, mut commit_only) = (Vec::new(), Vec::new());
    for c in commits {
        if remote_trees.contains(&tree_of(c)?) {
            commit_only.push(c);
        } else {
            with_new_tree.push(c);
        }
    }

    let db = pack_db(repo)?;
    let interrupt = AtomicBool::new(false);
    let count = |ids: Vec<ObjectId>, expansion| {
        output::count::objects_unthreaded(
            &db,
            &mut ids.into_iter().map(Ok),
            &gix::progress::Discard,
            &interrupt,
            expansion,
        )
        .map(|(counts, _)| counts)
    };
    use output::count::objects::ObjectExpansion;
    let mut counts =
        count(with_new_tree, ObjectExpansion::TreeContents).context("count objects to send")?;
    if hidden.is_empty() || counts.is_empty() {
        counts.extend(count(commit_only, ObjectExpansion::AsIs).context("count commits to send")?);
        return Ok(counts);
    }
    let known: HashSet<ObjectId> = count(hidden, ObjectExpansion::TreeContents)
        .context("count objects the remote has")?
        .into_iter()
        .map(|c| c.id)
        .collect();
    counts.retain(|c| !known.contains(&c.id));
    counts.extend(count(commit_only, ObjectExpansion::AsIs).context("count commits to send")?);
    Ok(counts)
}

/// The object database as a thread-safe `gix_pack::Find`; packs must stay loaded while
/// entries are copied out of them, or `iter_from_counts` panics.
fn pack_db(repo: &gix::Repository) -> Result<gix::odb::HandleArc> {
    let mut db = repo
        .objects
        .clone()
        .into_arc()
        .context("open object database for packing")?
        .into_inner();
    db.prevent_pack_unload();
    Ok(db)
}

/// Write a complete V2 pack of `counts` to `out` (a 0-object pack is valid).
fn write_pack(
    repo: &gix::Repository,
    counts: Vec<output::Count>,
    out: &mut dyn Write,
) -> Result<()> {
    let num_entries = u32::try_from(counts.len()).context("too many objects for one pack")?;
    let db = pack_db(repo)?;
    let entries = output::entry::iter_from_counts(
        counts,
        db,
        Box::new(gix::progress::Discard),
        output::entry::iter_from_counts::Options {
            thread_limit: Some(1),
            mode: output::entry::iter_from_counts::Mode::PackCopyAndBaseObjects,
            allow_thin_pack: false,
            version: gix_pack::data::Version::V2,
            ..Default::default()
        },
    )
    .context("prepare pack entries")?;
    let pack = output::bytes::FromEntriesIter::new(
        gix::parallel::InOrderIter::from(entries),
        out,
        num_entries,
        gix_pack::data::Version::V2,
        repo.object_hash(),
    );
    for written in pack {
        written.context("write pack")?;
    }
    Ok(())
}

/// Split side-band channel 1 data into its pkt-lines (the report is pkt-lines inside pkt-lines).
fn parse_pkt_lines(mut data: &[u8]) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    while data.len() >= 4 {
        let len_hex = std::str::from_utf8(&data[..4]).context("bad pkt-line length")?;
        let len = usize::from_str_radix(len_hex, 16).context("bad pkt-line length")?;
        if len == 0 {
            // A flush ends the report.
            break;
        }
        if len < 4 || len > data.len() {
            bail!("truncated pkt-line in push report");
        }
        lines.push(
            String::from_utf8_lossy(&data[4..len])
                .trim_end()
                .to_string(),
        );
        data = &data[len..];
    }
    Ok(lines)
}

/// Interpret `report-status`: `unpack ok|<reason>`, then `ok <ref>` or `ng <ref> <reason>`.
fn check_report(lines: &[String], name: &str) -> Result<()> {
    let mut lines = lines.iter();
    match lines.next().map(String::as_str) {
        Some("unpack ok") => {}
        Some(other) => {
            let reason = other.strip_prefix("unpack ").unwrap_or(other);
            bail!(
                Kind::Rejected,
                "the remote failed to unpack the pack: {reason}"
            );
        }
        None => bail!(
            Kind::Network,
            "the remote sent no report (connection closed?)"
        ),
    }
    for line in lines {
        if let Some(rest) = line.strip_prefix("ok ") {
            if rest == name {
                return Ok(());
            }
        } else if let Some(rest) = line.strip_prefix("ng ") {
            let (ref_name, reason) = rest.split_once(' ').unwrap_or((rest, "no reason given"));
            if ref_name == name {
                // The server's words for a lost compare-and-swap (another pusher won).
                let moved = [
                    "cannot lock ref",
                    "fetch first",
                    "non-fast-forward",
                    "stale info",
                ]
                .iter()
                .any(|m| reason.contains(m));
                let kind = if moved {
                    Kind::RefMoved
                } else {
                    Kind::Rejected
                };
                bail!(kind, "rejected by the remote: {reason}");
            }
        }
    }
    bail!(
        Kind::Invalid,
        "the remote's report does not mention the ref"
    )
}

/// Messages the server sent on the side band, formatted as an error suffix.
fn take_messages(messages: &Mutex<Vec<u8>>) -> String {
    let text = messages
        .lock()
        .map(|buf| String::from_utf8_lossy(&buf).trim().to_string())
        .unwrap_or_default();
    if text.is_empty() {
        String::new()
    } else {
        format!(" (remote: {})", text.lines().collect::<Vec<_>>().join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_parsing() {
        let ok = vec!["unpack ok".to_string(), "ok refs/heads/x".to_string()];
        assert!(check_report(&ok, "refs/heads/x").is_ok());
        let ng = vec![
            "unpack ok".to_string(),
            "ng refs/heads/x pre-receive hook declined".to_string(),
        ];
        let e = check_report(&ng, "refs/heads/x").unwrap_err();
        assert!(e.message().contains("pre-receive hook declined"), "{e}");
        let unpack = vec!["unpack index-pack abnormal exit".to_string()];
        let e = check_report(&unpack, "refs/heads/x").unwrap_err();
        assert!(e.message().contains("index-pack abnormal exit"), "{e}");
        assert!(check_report(&[], "refs/heads/x").is_err());
    }

    #[test]
    fn nested_pkt_lines() {
        let data = b"000eunpack ok\n0014ok refs/heads/x\n0000";
        assert_eq!(
            parse_pkt_lines(data).unwrap(),
            vec!["unpack ok".to_string(), "ok refs/heads/x".to_string()]
        );
        assert!(parse_pkt_lines(b"00ffshort").is_err());
    }
}
