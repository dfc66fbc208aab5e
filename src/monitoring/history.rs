//! How much of the monitoring branch's history a pass holds and what it does with it (SPEC §6,
//! §9, issue 8): the fetch (the head alone at depth 1, deepened to the whole history only
//! when a trim may be due), the clone's memo of the oldest commit after the root, the record
//! a new status commit carries (`trim::record`), and the trim's rewrite. The decisions are in
//! `trim`; this is their I/O.

use gix::bstr::ByteSlice;
use gix::ObjectId;

use super::Branch;
use crate::clock;
use crate::code_fetch::Depth;
use crate::error::{Context, Result};
use crate::git::commit::{self, Sig};
use crate::git::repo::{self, repo_dir};
use crate::trim::{self, record, History};

/// Fetch the monitoring branch for a pass: its head on the remote (`None`: not created yet)
/// and whether the whole history is here. The head comes alone (depth 1: a steady pass and a
/// device joining a long history download the head tree, not the history); a second fetch
/// deepens to the whole history only when the clone's memo and the head's record both leave
/// a trim possible (`trim::history`). A head that says no trim is due is remembered, so the
/// next pass needs no look at it. `here`: the pass's listing showed the remote head is here
/// already (judged by the caller), so the first fetch is not made.
pub(super) fn fetch(
    b: &Branch<'_>,
    retention_days: u64,
    here: bool,
) -> Result<(Option<ObjectId>, bool)> {
    let head = match here {
        true => repo::find_ref(&b.mon, &b.tracking)?,
        false => fetch_head(b, false)?,
    };
    let Some(id) = head else {
        // No branch yet: its whole history (none) is here.
        return Ok((None, true));
    };
    let (_, head_record) = facts(&b.mon, id)?;
    let now = clock::now().seconds;
    match trim::history(read_oldest(&b.dir), head_record, now, retention_days) {
        History::HeadOnly => Ok((head, false)),
        History::HeadOnlyRemember(t) => {
            write_oldest(&b.dir, t);
            Ok((head, false))
        }
        History::Whole => Ok((fetch_head(b, true)?, true)),
    }
}

/// Fetch the monitoring branch; its head on the remote (`None`: not created yet). Only the
/// head commit (depth 1: a steady pass downloads what changed, a few KB), unless `whole`:
/// then all of its history, which judging and making a trim needs (a shallow clone is
/// deepened).
pub(super) fn fetch_head(b: &Branch<'_>, whole: bool) -> Result<Option<ObjectId>> {
    let depth = if whole {
        Depth::Unshallow
    } else {
        Depth::AtRemote(1)
    };
    repo::fetch_at_depth(&b.mon, b.url, &[&b.refspec()], depth, &b.net, b.stop)
        .with_context(|| format!("monitoring branch {}", b.name))?;
    repo::find_ref(&b.mon, &b.tracking)
}

/// Whether `id` is a root commit, and the record its message carries.
fn facts(mon: &gix::Repository, id: ObjectId) -> Result<(bool, Option<i64>)> {
    let ctx = || format!("{}: read commit {id}", repo_dir(mon));
    let commit = mon.find_commit(id).with_context(ctx)?;
    let decoded = commit.decode().with_context(ctx)?;
    let is_root = decoded.parents().next().is_none();
    Ok((is_root, record::parse(&decoded.message.to_str_lossy())))
}

/// The record of a status commit written at `own_time` on `head` (`trim::record`); `whole`:
/// the whole history of `head` is here, so the value is computed from it.
pub(super) fn record_for(
    mon: &gix::Repository,
    head: Option<ObjectId>,
    whole: bool,
    own_time: i64,
) -> Result<Option<i64>> {
    let Some(head) = head else {
        return Ok(record::for_new_commit(own_time, None));
    };
    let (is_root, parent_record) = facts(mon, head)?;
    let chain = if whole && !is_root {
        Some(chain_times(mon, head)?)
    } else {
        None
    };
    let parent = record::Parent {
        is_root,
        record: parent_record,
        chain: chain.as_deref(),
    };
    Ok(record::for_new_commit(own_time, Some(&parent)))
}

/// When a rewrite is due (`trim::plan`), squash the commits older than the retention into
/// one parentless commit and replay the newer ones on it, unchanged; returns the new head.
/// The last commit is this device's status commit (`subject` is its message without the
/// record): it is written again with the record of the new chain, so the new head tells
/// joining devices the truth at once.
pub(super) fn trim_history(
    mon: &gix::Repository,
    head: ObjectId,
    retention_days: u64,
    now: &Sig,
    subject: &str,
) -> Result<Option<ObjectId>> {
    let chain = commit::first_parent_chain(mon, head)?;
    let times: Vec<i64> = chain.iter().map(|c| c.committer.time.seconds).collect();

    let Some(b) = trim::plan(&times, now.time.seconds, retention_days) else {
        return Ok(None);
    };
    let Some((status, replayed)) = chain[b + 1..].split_last() else {
        // The status commit itself would be squashed (it is dated now, never older than the
        // cutoff): nothing sensible to rewrite.
        return Ok(None);
    };
    let cutoff = trim::cutoff(now.time.seconds, retention_days);
    let cutoff_date = clock::date(gix::date::Time::new(cutoff, now.time.offset));
    let message = format!("📉 History trimmed: commits before {cutoff_date} squashed");
    let mut tip = commit::write_commit(mon, chain[b].tree, &[], &message, now, now)?;
    let mut new_times = vec![now.time.seconds];
    for c in replayed {
        // Unchanged, record too: a stale record is older than the truth (`trim::record`).
        tip = commit::write_commit(mon, c.tree, &[tip], &c.message, &c.author, &c.committer)?;
        new_times.push(c.committer.time.seconds);
    }
    let parent = record::Parent {
        is_root: replayed.is_empty(),
        record: None,
        chain: Some(&new_times),
    };
    let own = record::for_new_commit(status.committer.time.seconds, Some(&parent));
    tip = commit::write_commit(
        mon,
        status.tree,
        &[tip],
        &record::message(subject, own),
        &status.author,
        &status.committer,
    )?;
    log::info!(
        "trimming monitoring history: {} commits before {cutoff_date} squashed",
        b + 1
    );
    Ok(Some(tip))
}

/// Committer times of the first-parent chain of `head`, oldest first (whole history only).
pub(super) fn chain_times(mon: &gix::Repository, head: ObjectId) -> Result<Vec<i64>> {
    Ok(commit::first_parent_chain(mon, head)?
        .iter()
        .map(|c| c.committer.time.seconds)
        .collect())
}

/// The file in the monitoring clone's git dir holding the committer time of the oldest commit
/// after the root when this device last saw the whole history, or a head's record that said
/// no trim was due (`trim::history`).
fn oldest_file(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join(".git").join("gitops-agent-oldest-commit")
}

/// The remembered time; `None` when absent or unreadable (then the head's record decides).
fn read_oldest(dir: &std::path::Path) -> Option<i64> {
    std::fs::read_to_string(oldest_file(dir))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Remember `seconds`; a failure only costs a look at the head next time (logged).
pub(super) fn write_oldest(dir: &std::path::Path, seconds: i64) {
    let path = oldest_file(dir);
    if let Err(e) = crate::files::atomic_write(&path, format!("{seconds}\n").as_bytes()) {
        log::warn!("{}: {e}", path.display());
    }
}
