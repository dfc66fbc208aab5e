//! A clone's worktree: where HEAD is, whether tracked files drifted, and putting it at a
//! commit (`git reset --hard` semantics, SPEC §5), plus the one-line descriptions the
//! feedback file carries (SPEC §6). Checkout is here; `status` (with the pure per-file stat
//! rule in `stat`) and `describe` beside it, and `look`, the unchanged pass's shortcut for a
//! code clone (with its object reader `objects` and config reader `gitconfig`).

mod describe;
mod gitconfig;
mod look;
mod look_memo;
mod objects;
mod stat;
mod status;

pub use describe::describe;
pub use look::{in_sync, InSync};
pub use status::{
    changed_tracked_paths, has_tracked_changes, status_summary, status_summary_given,
};

use std::path::{Component, Path};
use std::sync::atomic::AtomicBool;

use gix::bstr::{BStr, ByteSlice};
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::Target;
use gix::ObjectId;

use super::repo::repo_dir;
use crate::error::{Context, Error, Result};

/// The commit HEAD points to, or `None` when HEAD is unborn or unreadable.
pub fn head_commit(repo: &gix::Repository) -> Option<ObjectId> {
    repo.head_commit().ok().map(|c| c.id)
}

/// Where HEAD ends up after [`checkout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadTarget {
    /// HEAD holds the commit id itself (the app clones: SPEC §5).
    Detached,
    /// `refs/heads/<name>` is set to the commit and HEAD points to it symbolically.
    Branch(String),
}

/// Put the worktree at `commit` like `git reset --hard <commit>`: the index is rebuilt from
/// the commit's tree, tracked files are written (overwriting local edits), files the old
/// index tracked but the commit lacks are deleted (and folders left empty by that), untracked
/// files are left alone, then HEAD is moved as `head` says.
///
/// Lock files a crashed run left in `.git` are removed first, unless a live process may be
/// holding them (`locks`): then writing the index fails and the next pass tries again.
pub fn checkout(repo: &gix::Repository, commit: ObjectId, head: HeadTarget) -> Result<()> {
    checkout_except(repo, commit, head, &[])
}

/// [`checkout`], but the root-level files named in `written` are left alone on disk: the
/// caller has already put their new content in place atomically (gix writes files in place,
/// so a reader could see a partial file).
pub fn checkout_except(
    repo: &gix::Repository,
    commit: ObjectId,
    head: HeadTarget,
    written: &[&str],
) -> Result<()> {
    let dir = repo_dir(repo);
    let ctx = || format!("{dir}: checkout {}", commit.to_hex_with_len(12));
    let workdir = repo
        .workdir()
        .with_context(|| format!("{dir}: bare repository has no worktree"))?
        .to_path_buf();

    remove_stale_locks(repo.git_dir(), &head)?;

    let tree = repo
        .find_commit(commit)
        .with_context(ctx)?
        .tree_id()
        .with_context(ctx)?
        .detach();
    let mut new_index = repo.index_from_tree(&tree).with_context(ctx)?;

    // What was tracked before: the index on disk; if that is unreadable, HEAD's tree.
    let old_index = match repo.open_index() {
        Ok(index) => Some(index),
        Err(_) if !repo.index_path().exists() => None,
        Err(_) => match head_commit(repo) {
            Some(old) => repo
                .find_commit(old)
                .and_then(|c| c.tree_id())
                .and_then(|t| repo.index_from_tree(&t))
                .ok(),
            None => None,
        },
    };
    if let Some(old) = &old_index {
        for entry in old.entries() {
            let path = entry.path(old);
            if new_index.entry_by_path(path).is_none() {
                remove_tracked_file(&workdir, path).with_context(ctx)?;
            }
        }
    }

    let mut opts = repo
        .checkout_options(gix::worktree::stack::state::attributes::Source::IdMapping)
        .with_context(ctx)?;
    opts.destination_is_initially_empty = false;
    opts.overwrite_existing = true;
    let skip = gix::index::entry::Flags::SKIP_WORKTREE;
    for (entry, path) in new_index.entries_mut_with_paths() {
        if written.iter().any(|w| path == w.as_bytes()) {
            entry.flags.insert(skip);
        }
    }
    let objects = repo.objects.clone().into_arc().with_context(ctx)?;
    let interrupt = AtomicBool::new(false);
    let outcome = gix::worktree::state::checkout(
        &mut new_index,
        &workdir,
        objects,
        &gix::progress::Discard,
        &gix::progress::Discard,
        &interrupt,
        opts,
    )
    .with_context(ctx)?;
    if let Some(first) = outcome.errors.first() {
        return Err(Error::msg(format!(
            "{}: {} file(s) could not be written, first {}: {:#}",
            ctx(),
            outcome.errors.len(),
            first.path,
            first.error
        )));
    }
    if let Some(first) = outcome.collisions.first() {
        return Err(Error::msg(format!(
            "{}: {} path(s) collided with what is on disk, first {} ({:?})",
            ctx(),
            outcome.collisions.len(),
            first.path,
            first.error_kind
        )));
    }
    // The flag only steered this checkout; git must keep tracking those files.
    for entry in new_index.entries_mut() {
        entry.flags.remove(skip);
    }
    new_index
        .write(gix::index::write::Options::default())
        .with_context(|| format!("{}: write index", ctx()))?;

    set_head(repo, commit, &head).with_context(ctx)
}

/// Remove lock files a crash may have left behind (`index.lock`, `HEAD.lock`, ...), by the
/// rule of `locks`.
fn remove_stale_locks(git_dir: &Path, head: &HeadTarget) -> Result<()> {
    let mut locks = vec![
        git_dir.join("index.lock"),
        git_dir.join("HEAD.lock"),
        git_dir.join("packed-refs.lock"),
    ];
    if let HeadTarget::Branch(name) = head {
        locks.push(git_dir.join("refs/heads").join(format!("{name}.lock")));
    }
    // Only those no live process may be holding (a person's `git` in a code clone).
    super::locks::remove_if_stale(git_dir, &locks)
}

/// Delete the file at the index path `rela` (no longer tracked) and any parent folders that
/// become empty. Folders (a submodule) and paths that could leave the worktree are skipped.
fn remove_tracked_file(workdir: &Path, rela: &BStr) -> Result<()> {
    let Ok(rela) = rela.to_str() else {
        return Ok(());
    };
    let rela = Path::new(rela);
    if !rela
        .components()
        .all(|c| matches!(c, Component::Normal(n) if n != ".git"))
    {
        return Ok(());
    }
    let path = workdir.join(rela);
    // Never follow a symlinked folder out of the worktree (git's "leading symlink" check):
    // the file we would delete is not the one that was tracked.
    let mut ancestor = workdir.to_path_buf();
    if let Some(parent) = rela.parent() {
        for c in parent.components() {
            ancestor.push(c);
            match std::fs::symlink_metadata(&ancestor) {
                Ok(meta) if meta.is_dir() => {}
                _ => return Ok(()),
            }
        }
    }
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => {
            std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::msg(format!("inspect {}: {e}", path.display()))),
    }
    let mut parent = path.parent();
    while let Some(dir) = parent {
        if dir == workdir || !dir.starts_with(workdir) || std::fs::remove_dir(dir).is_err() {
            break;
        }
        parent = dir.parent();
    }
    Ok(())
}

/// Move HEAD (and for a branch, the branch) to `commit` in one ref transaction.
fn set_head(repo: &gix::Repository, commit: ObjectId, head: &HeadTarget) -> Result<()> {
    let log = |message: String| LogChange {
        mode: RefLog::AndReference,
        force_create_reflog: false,
        message: message.into(),
    };
    // git's own reflog wording: `git status` reads "checkout: moving from A to B" to print
    // "HEAD detached at <id>" instead of "Not currently on any branch".
    let from = match repo.head() {
        Ok(h) => match (h.referent_name(), h.id()) {
            (Some(name), _) => name.shorten().to_str_lossy().into_owned(),
            (None, Some(id)) => id.to_string(),
            (None, None) => "HEAD".to_string(),
        },
        Err(_) => "HEAD".to_string(),
    };
    let edits = match head {
        HeadTarget::Detached => vec![RefEdit {
            change: Change::Update {
                log: log(format!("checkout: moving from {from} to {commit}")),
                expected: PreviousValue::Any,
                new: Target::Object(commit),
            },
            name: "HEAD".try_into().context("HEAD ref name")?,
            deref: false,
        }],
        HeadTarget::Branch(name) => {
            let full: gix::refs::FullName = format!("refs/heads/{name}")
                .try_into()
                .with_context(|| format!("invalid branch name {name:?}"))?;
            vec![
                RefEdit {
                    change: Change::Update {
                        log: log(format!("reset: moving to {commit}")),
                        expected: PreviousValue::Any,
                        new: Target::Object(commit),
                    },
                    name: full.clone(),
                    deref: false,
                },
                RefEdit {
                    change: Change::Update {
                        log: log(format!("checkout: moving from {from} to {name}")),
                        expected: PreviousValue::Any,
                        new: Target::Symbolic(full),
                    },
                    name: "HEAD".try_into().context("HEAD ref name")?,
                    deref: false,
                },
            ]
        }
    };
    repo.edit_references(edits).context("update HEAD")?;
    Ok(())
}

#[cfg(test)]
mod tests;
