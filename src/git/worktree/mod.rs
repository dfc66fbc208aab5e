//! A clone's worktree: where HEAD is, whether tracked files drifted, and putting it at a
//! commit (`git reset --hard` semantics, SPEC §5), plus the one-line descriptions the
//! feedback file carries (SPEC §6).

use std::collections::BTreeSet;
use std::path::{Component, Path};
use std::sync::atomic::AtomicBool;

use gix::bstr::{BStr, BString, ByteSlice};
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::Target;
use gix::ObjectId;

use super::repo::repo_dir;
use crate::error::{Context, Error, Result};

/// The commit HEAD points to, or `None` when HEAD is unborn or unreadable.
pub fn head_commit(repo: &gix::Repository) -> Option<ObjectId> {
    repo.head_commit().ok().map(|c| c.id)
}

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
fn tracked_changes(repo: &gix::Repository, first_only: bool) -> Result<BTreeSet<BString>> {
    let ctx = || format!("{}: check tracked files", repo_dir(repo));
    let mut changed = BTreeSet::new();

    let head_tree = repo.head_tree_id_or_empty().with_context(ctx)?.detach();
    let index = repo.index_or_empty().with_context(ctx)?;
    {
        // A root pathspec: the default one would be limited to the process's current folder
        // when that is inside the worktree.
        let mut pathspec = repo
            .pathspec(
                false,
                None::<&str>,
                false,
                &gix::index::State::new(repo.object_hash()),
                gix::worktree::stack::state::attributes::Source::IdMapping,
            )
            .with_context(ctx)?;
        repo.tree_index_status(
            &head_tree,
            &index,
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
        )
        .with_context(ctx)?;
    }
    if first_only && !changed.is_empty() {
        return Ok(changed);
    }

    let mut iter = repo
        .status(gix::progress::Discard)
        .with_context(ctx)?
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
        .into_index_worktree_iter(Vec::new())
        .with_context(ctx)?;
    for item in iter.by_ref() {
        let item = item.with_context(ctx)?;
        if let gix::status::index_worktree::Item::Modification { rela_path, .. } = item {
            changed.insert(rela_path);
            if first_only {
                return Ok(changed);
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
    Ok(changed)
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

/// `git log -1 --pretty=format:'%h - %s (%an, %ad)' <id>`, with the quotes: the short id as
/// git abbreviates it (at least 7 hex digits), the subject, the author's name and the author
/// date in git's default format in the author's own offset.
pub fn describe(repo: &gix::Repository, id: ObjectId) -> Result<String> {
    let ctx = || format!("{}: describe {id}", repo_dir(repo));
    let commit = repo.find_commit(id).with_context(ctx)?;
    let short = commit
        .id()
        .shorten()
        .map(|p| p.to_string())
        .unwrap_or_else(|_| id.to_hex_with_len(7).to_string());
    let decoded = commit.decode().with_context(ctx)?;
    let subject = git_subject(decoded.message);
    let author = decoded.author().with_context(ctx)?.trim();
    let time = author.time().with_context(ctx)?;
    let date = time
        .format(gix::date::time::format::DEFAULT)
        .with_context(ctx)?;
    Ok(format!(
        "'{short} - {subject} ({}, {date})'",
        author.name.to_str_lossy()
    ))
}

/// git's `%s`: skip leading blank lines, then the lines up to the next blank line, each
/// without trailing whitespace, joined by one space. Leading spaces stay (gix's `summary()`
/// trims them, git does not).
fn git_subject(message: &BStr) -> String {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let trim_end =
        |line: &'_ [u8]| -> usize { line.iter().rposition(|b| !is_space(b)).map_or(0, |i| i + 1) };
    let lines = message
        .split(|b| *b == b'\n')
        .map(|line| &line[..trim_end(line)])
        .skip_while(|line| line.is_empty())
        .take_while(|line| !line.is_empty());
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(line);
    }
    String::from_utf8_lossy(&out).into_owned()
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
    let first = if head.is_detached() {
        match head.id() {
            Some(id) => format!("HEAD detached at {}", short_id(repo, id.detach())),
            None => "HEAD detached".to_string(),
        }
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
    let second = match changed {
        0 => "nothing to commit, working tree clean".to_string(),
        1 => "1 tracked file changed".to_string(),
        n => format!("{n} tracked files changed"),
    };
    Ok(format!("{first}\n{second}"))
}

fn short_id(repo: &gix::Repository, id: ObjectId) -> String {
    repo.find_object(id)
        .ok()
        .and_then(|o| o.id().shorten().ok())
        .map(|p| p.to_string())
        .unwrap_or_else(|| id.to_hex_with_len(7).to_string())
}

#[cfg(test)]
mod tests;
