//! The pack a push sends: the objects the remote lacks, as a complete (never thin) V2 pack.

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use gix::ObjectId;
use gix_pack::data::output;

use crate::bail;
use crate::error::{Context, Kind, Result};

/// Objects the remote lacks for `new`: commits reachable from `new` but not from any
/// tip the remote has (`remote_tips`) that we have locally; for each, its tree and blobs unless the remote has that
/// tree already (the tree of any commit in its history: a trimmed push of a long history
/// sends the rewritten commits, not their trees and blobs again); minus everything in the
/// trees of the tips. A blob the remote has only deep in its history, inside a new tree, may
/// be sent again; that costs bytes, never correctness. Never relies on the remote for delta
/// bases (no thin pack). Counting gives up when `stop` is set.
pub fn objects_to_send(
    repo: &gix::Repository,
    remote_tips: &[ObjectId],
    new: ObjectId,
    stop: &AtomicBool,
) -> Result<Vec<output::Count>> {
    let hidden: Vec<ObjectId> = remote_tips
        .iter()
        .copied()
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
    let count = |ids: Vec<ObjectId>, expansion| {
        output::count::objects_unthreaded(
            &db,
            &mut ids.into_iter().map(Ok),
            &gix::progress::Discard,
            stop,
            expansion,
        )
        .map(|(counts, _)| counts)
    };
    use output::count::objects::ObjectExpansion;
    let mut counts = count(with_new_tree, ObjectExpansion::TreeContents)
        .context("count objects to send")
        .map_err(|e| interrupted_if(e, stop))?;
    if hidden.is_empty() || counts.is_empty() {
        counts.extend(
            count(commit_only, ObjectExpansion::AsIs)
                .context("count commits to send")
                .map_err(|e| interrupted_if(e, stop))?,
        );
        return Ok(counts);
    }
    let known: HashSet<ObjectId> = count(hidden, ObjectExpansion::TreeContents)
        .context("count objects the remote has")
        .map_err(|e| interrupted_if(e, stop))?
        .into_iter()
        .map(|c| c.id)
        .collect();
    counts.retain(|c| !known.contains(&c.id));
    counts.extend(
        count(commit_only, ObjectExpansion::AsIs)
            .context("count commits to send")
            .map_err(|e| interrupted_if(e, stop))?,
    );
    Ok(counts)
}

/// The object database as a thread-safe `gix_pack::Find`; packs must stay loaded while
/// entries are copied out of them, or `iter_from_counts` panics.
pub fn pack_db(repo: &gix::Repository) -> Result<gix::odb::HandleArc> {
    let mut db = repo
        .objects
        .clone()
        .into_arc()
        .context("open object database for packing")?
        .into_inner();
    db.prevent_pack_unload();
    Ok(db)
}

/// Write a complete V2 pack of `counts` to `out` (a 0-object pack is valid). Between two
/// pieces of the pack it looks at `stop`: a stopping agent does not finish sending a big
/// pack over a thin link (the remote discards a pack cut short; nothing changes there).
pub fn write_pack(
    repo: &gix::Repository,
    counts: Vec<output::Count>,
    out: &mut dyn Write,
    stop: &AtomicBool,
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
        if stop.load(Ordering::Relaxed) {
            bail!(
                Kind::Interrupted,
                "stopped while sending the pack: the agent is shutting down"
            );
        }
        written.context("write pack")?;
    }
    Ok(())
}

/// A counting error caused by `stop` is `Interrupted`, whatever gix called it.
fn interrupted_if(err: crate::error::Error, stop: &AtomicBool) -> crate::error::Error {
    if stop.load(Ordering::Relaxed) {
        err.with_kind(Kind::Interrupted)
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::repo::test_support::*;

    #[test]
    fn a_set_stop_flag_ends_writing_the_pack_as_interrupted() {
        let tmp = TempDir::new("pack-stop");
        let remote = make_remote(tmp.path());
        let repo = gix::open(&remote.bare).unwrap();
        let counts = objects_to_send(&repo, &[], remote.c2, &AtomicBool::new(false)).unwrap();
        assert!(!counts.is_empty());
        let mut out = Vec::new();
        let err = write_pack(&repo, counts, &mut out, &AtomicBool::new(true)).unwrap_err();
        assert_eq!(err.kind(), Kind::Interrupted);
        // Without the flag the same pack is complete: git can index it.
        let counts = objects_to_send(&repo, &[], remote.c2, &AtomicBool::new(false)).unwrap();
        let mut out = Vec::new();
        write_pack(&repo, counts, &mut out, &AtomicBool::new(false)).unwrap();
        let pack = tmp.path().join("p.pack");
        std::fs::write(&pack, &out).unwrap();
        git(tmp.path(), &["index-pack", pack.to_str().unwrap()]);
    }
}
