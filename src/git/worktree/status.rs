//! Whether tracked files drifted from HEAD, and the `git status`-like summary of a clone.

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;

use gix::bstr::{BString, ByteSlice};
use gix::ObjectId;

use super::stat;
use crate::error::{Context, Result};
use crate::git::repo::repo_dir;

/// Whether tracked files differ from HEAD: modified or deleted in the worktree, or the index
/// differs from HEAD's tree. Untracked files do not count.
///
/// No process, no network, no directory walk: it compares the index with HEAD's tree and
/// stats the tracked files; only files whose stat data is inconclusive (racy timestamps)
/// are read and hashed.
pub fn has_tracked_changes(repo: &gix::Repository) -> Result<bool> {
    Ok(!tracked_changes(repo, true)?.is_empty())
}

/// The worktree-relative paths of tracked files that differ from HEAD (same rules as
/// [`has_tracked_changes`], but all of them).
pub fn changed_tracked_paths(repo: &gix::Repository) -> Result<BTreeSet<BString>> {
    tracked_changes(repo, false)
}

/// Paths of tracked files that differ from HEAD (index vs HEAD tree, then worktree vs index).
/// With `first_only`, stops at the first one found.
///
/// The common case, nothing changed, costs one index read, HEAD's trees from the object
/// database and one `lstat` per tracked file (plus one per folder): gix's full status is only
/// run when that cheap pass cannot vouch for every file, and it then decides exactly as before.
fn tracked_changes(repo: &gix::Repository, first_only: bool) -> Result<BTreeSet<BString>> {
    let ctx = || format!("{}: check tracked files", repo_dir(repo));
    let mut changed = BTreeSet::new();

    let head_tree = repo.head_tree_id_or_empty().with_context(ctx)?.detach();
    let index = repo.index_or_empty().with_context(ctx)?;
    // Stat pass first: right after a checkout it cannot vouch (racy files), and the index
    // need not be rebuilt from the tree for nothing.
    if stat_pass(repo, &index).with_context(ctx)? && index_matches_tree(repo, &index, head_tree) {
        return Ok(changed);
    }
    tree_index_changes(repo, &index, head_tree, first_only, &mut changed).with_context(ctx)?;
    if first_only && !changed.is_empty() {
        return Ok(changed);
    }
    worktree_changes(repo, index, first_only, &mut changed).with_context(ctx)?;
    Ok(changed)
}

/// Whether `index` holds exactly `tree` (same paths, modes and ids): the index our checkout
/// wrote. Errors count as "no" (the exact comparison then runs).
fn index_matches_tree(repo: &gix::Repository, index: &gix::index::State, tree: ObjectId) -> bool {
    let Ok(from_tree) = repo.index_from_tree(&tree) else {
        return false;
    };
    let (a, b) = (index.entries(), from_tree.entries());
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.id == y.id
                && x.mode == y.mode
                && x.stage_raw() == y.stage_raw()
                && x.path(index) == y.path(&from_tree)
        })
}

/// Index entries that differ from `tree` (gix's tree/index diff, no renames).
fn tree_index_changes(
    repo: &gix::Repository,
    index: &gix::index::State,
    tree: ObjectId,
    first_only: bool,
    changed: &mut BTreeSet<BString>,
) -> std::result::Result<(), gix::Error> {
    // A root pathspec: the default one would be limited to the process's current folder
    // when that is inside the worktree.
    let mut pathspec = repo.pathspec(
        false,
        None::<&str>,
        false,
        &gix::index::State::new(repo.object_hash()),
        gix::worktree::stack::state::attributes::Source::IdMapping,
    )?;
    repo.tree_index_status(
        &tree,
        index,
        Some(&mut pathspec),
        gix::status::tree_index::TrackRenames::Disabled,
        |change, _, _| {
            changed.insert(change.location().to_owned());
            Ok(if first_only {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            })
        },
    )?;
    Ok(())
}

/// The cheap pass over a gix repository: see [`stat_pass_at`].
fn stat_pass(repo: &gix::Repository, index: &gix::index::State) -> Result<bool> {
    let Some(workdir) = repo.workdir() else {
        return Ok(index.entries().is_empty());
    };
    let options = repo.stat_options().context("read stat options")?;
    let fs = repo
        .filesystem_options()
        .context("read filesystem options")?;
    Ok(stat_pass_at(
        workdir,
        index,
        options,
        fs.symlink,
        fs.executable_bit,
    ))
}

/// `true` when one `lstat` per tracked path (and per folder on the way) proves every entry
/// of `index` unchanged in `workdir` by git's own stat rules ([`stat::verdict`]). Nothing
/// is read or hashed; any doubt (an edit, a deletion, a racy timestamp) answers `false`.
pub(super) fn stat_pass_at(
    workdir: &std::path::Path,
    index: &gix::index::State,
    options: gix::index::entry::stat::Options,
    symlinks: bool,
    executable_bit: bool,
) -> bool {
    let index_time = index.timestamp().into();
    let mut path = workdir.to_path_buf();
    // Folders already seen to be real folders (a symlinked folder means the tracked files
    // under it are gone, as git sees it). Entries are sorted, so the last few suffice.
    let mut good_dirs: Vec<&[u8]> = Vec::new();
    for entry in index.entries() {
        let rela = entry.path(index);
        for dir in stat::leading_dirs(rela) {
            if good_dirs.contains(&dir) {
                continue;
            }
            match lstat(&mut path, workdir, dir) {
                Some(seen) if seen.is_dir => {}
                _ => return false,
            }
            good_dirs.retain(|d| dir.starts_with(d));
            good_dirs.push(dir);
        }
        let seen = lstat(&mut path, workdir, rela);
        let verdict = stat::verdict(
            &stat::Recorded::of(entry),
            seen.as_ref(),
            index_time,
            options,
            symlinks,
            executable_bit,
        );
        if verdict == stat::Verdict::Unsure {
            return false;
        }
    }
    true
}

/// `lstat` of `workdir/rela` (built in `buf`); `None` when it cannot be read (gone).
fn lstat(
    buf: &mut std::path::PathBuf,
    workdir: &std::path::Path,
    rela: &[u8],
) -> Option<stat::Seen> {
    buf.clear();
    buf.push(workdir);
    buf.push(std::ffi::OsStr::from_bytes(rela));
    let meta = gix::index::fs::Metadata::from_path_no_follow(buf).ok()?;
    Some(stat::Seen {
        is_file: meta.is_file(),
        is_dir: meta.is_dir(),
        is_symlink: meta.is_symlink(),
        is_executable: meta.is_executable(),
        stat: gix::index::entry::Stat::from_fs(&meta).ok()?,
    })
}

/// Worktree files that differ from `index` (gix's full status: hashes what stat data cannot
/// settle, applies filters, reports conflicts), added to `changed`.
fn worktree_changes(
    repo: &gix::Repository,
    index: gix::worktree::Index,
    first_only: bool,
    changed: &mut BTreeSet<BString>,
) -> std::result::Result<(), gix::Error> {
    let mut iter = repo
        .status(gix::progress::Discard)?
        .index(index.into())
        .untracked_files(gix::status::UntrackedFiles::None)
        .index_worktree_rewrites(None)
        // Our checkout never populates submodules; their state is not ours to judge.
        .index_worktree_submodules(gix::status::Submodule::Given {
            ignore: gix::submodule::config::Ignore::All,
            check_dirty: false,
        })
        // No directory walk at all: untracked files never matter here.
        .index_worktree_options_mut(|opts| opts.dirwalk_options = None)
        .into_index_worktree_iter(Vec::new())?;
    for item in iter.by_ref() {
        if let gix::status::index_worktree::Item::Modification { rela_path, .. } = item? {
            changed.insert(rela_path);
            if first_only {
                return Ok(());
            }
        }
    }
    // Files whose stat data changed but whose content did not are recorded back into the
    // index (as `git status` does) so the next pass needs no hashing. Best effort.
    if let Some(mut outcome) = iter.into_outcome() {
        if outcome.has_changes() {
            let _ = outcome.write_changes();
        }
    }
    Ok(())
}

/// A short, stable summary of the clone's state in the spirit of `git status`'s first lines:
/// where HEAD is, then whether tracked files changed. No timestamps, no network.
pub fn status_summary(repo: &gix::Repository) -> Result<String> {
    let changed = tracked_changes(repo, false)?.len();
    status_summary_given(repo, changed)
}

/// [`status_summary`] for a caller that already counted the changed tracked files (the
/// status walk is the costly part of an unchanged pass; do it once per app).
pub fn status_summary_given(repo: &gix::Repository, changed: usize) -> Result<String> {
    let ctx = || format!("{}: status", repo_dir(repo));
    let head = repo.head().with_context(ctx)?;
    if head.is_detached() {
        if let Some(id) = head.id() {
            return Ok(summary_detached(&short_id(repo, id.detach()), changed));
        }
    }
    let first = if head.is_detached() {
        "HEAD detached".to_string()
    } else {
        let branch = head
            .referent_name()
            .map(|n| n.shorten().to_str_lossy().into_owned())
            .unwrap_or_else(|| "HEAD".to_string());
        if head.is_unborn() {
            format!("On branch {branch}\nNo commits yet")
        } else {
            format!("On branch {branch}")
        }
    };
    Ok(format!("{first}\n{}", changed_line(changed)))
}

/// [`status_summary_given`] for a detached HEAD whose abbreviated id is `short`.
pub(super) fn summary_detached(short: &str, changed: usize) -> String {
    format!("HEAD detached at {short}\n{}", changed_line(changed))
}

fn changed_line(changed: usize) -> String {
    match changed {
        0 => "nothing to commit, working tree clean".to_string(),
        1 => "1 tracked file changed".to_string(),
        n => format!("{n} tracked files changed"),
    }
}

fn short_id(repo: &gix::Repository, id: ObjectId) -> String {
    repo.find_object(id)
        .ok()
        .and_then(|o| o.id().shorten().ok())
        .map(|p| p.to_string())
        .unwrap_or_else(|| id.to_hex_with_len(7).to_string())
}
