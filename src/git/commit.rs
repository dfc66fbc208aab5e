//! Reading files out of commits and writing new trees, commits and refs: what the
//! monitoring branch needs (SPEC §6), without touching any worktree.

use gix::bstr::{BStr, ByteSlice};
use gix::objs::tree::{Entry, EntryKind};
use gix::refs::transaction::PreviousValue;
use gix::ObjectId;

use super::repo::repo_dir;
use crate::error::{Context, Result};

/// The content of the file at `path` (`a.toml` or `dir/b.toml`) in `commit`'s tree.
/// `None` when there is no such path or it is not a regular file (a folder, a symlink, a
/// submodule).
pub fn read_blob_at(
    repo: &gix::Repository,
    commit: ObjectId,
    path: &str,
) -> Result<Option<Vec<u8>>> {
    let ctx = || format!("{}: read {path} at {commit}", repo_dir(repo));
    let tree = repo
        .find_commit(commit)
        .with_context(ctx)?
        .tree()
        .with_context(ctx)?;
    let Some(entry) = tree.lookup_entry_by_path(path).with_context(ctx)? else {
        return Ok(None);
    };
    if !matches!(
        entry.mode().kind(),
        EntryKind::Blob | EntryKind::BlobExecutable
    ) {
        return Ok(None);
    }
    let blob = entry.object().with_context(ctx)?;
    Ok(Some(blob.detach().data))
}

/// Write a tree equal to `base_commit`'s (or the empty tree) except that the root file `name`
/// holds `content` (mode 100644); returns the new tree's id. Entries keep git's order (a
/// folder sorts as if its name ended in `/`), so `git fsck` accepts the tree.
pub fn tree_with_file(
    repo: &gix::Repository,
    base_commit: Option<ObjectId>,
    name: &str,
    content: &[u8],
) -> Result<ObjectId> {
    let ctx = || format!("{}: write tree with {name}", repo_dir(repo));
    if name.is_empty()
        || name == "."
        || name == ".."
        || name == ".git"
        || name.contains(['/', '\0'])
    {
        crate::bail!("{}: {name:?} is not a valid root file name", ctx());
    }
    let mut tree: gix::objs::Tree = match base_commit {
        Some(base) => repo
            .find_commit(base)
            .with_context(ctx)?
            .tree()
            .with_context(ctx)?
            .decode()
            .with_context(ctx)?
            .into(),
        None => gix::objs::Tree::empty(),
    };
    let blob = repo.write_blob(content).with_context(ctx)?.detach();
    tree.entries
        .retain(|e| e.filename.as_bstr() != BStr::new(name));
    tree.entries.push(Entry {
        mode: EntryKind::Blob.into(),
        filename: name.into(),
        oid: blob,
    });
    tree.entries.sort();
    Ok(repo.write_object(&tree).with_context(ctx)?.detach())
}

/// An identity with a time, for authors and committers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sig {
    pub name: String,
    pub email: String,
    pub time: gix::date::Time,
}

impl From<&Sig> for gix::actor::Signature {
    fn from(s: &Sig) -> Self {
        gix::actor::Signature {
            name: s.name.as_str().into(),
            email: s.email.as_str().into(),
            time: s.time,
        }
    }
}

/// Write a commit object (no ref is changed) and return its id.
pub fn write_commit(
    repo: &gix::Repository,
    tree: ObjectId,
    parents: &[ObjectId],
    message: &str,
    author: &Sig,
    committer: &Sig,
) -> Result<ObjectId> {
    let commit = gix::objs::Commit {
        tree,
        parents: parents.iter().copied().collect(),
        author: author.into(),
        committer: committer.into(),
        encoding: None,
        message: message.into(),
        extra_headers: Vec::new(),
    };
    Ok(repo
        .write_object(&commit)
        .with_context(|| format!("{}: write commit", repo_dir(repo)))?
        .detach())
}

/// A decoded commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub id: ObjectId,
    pub tree: ObjectId,
    pub parents: Vec<ObjectId>,
    pub message: String,
    pub author: Sig,
    pub committer: Sig,
}

/// The commits reached from `head` by following first parents, oldest first.
pub fn first_parent_chain(repo: &gix::Repository, head: ObjectId) -> Result<Vec<CommitInfo>> {
    let mut chain = Vec::new();
    let mut next = Some(head);
    while let Some(id) = next {
        let ctx = || format!("{}: read commit {id}", repo_dir(repo));
        let commit = repo.find_commit(id).with_context(ctx)?;
        let decoded = commit.decode().with_context(ctx)?;
        let sig = |s: gix::actor::SignatureRef<'_>| -> Result<Sig> {
            Ok(Sig {
                name: s.name.to_str_lossy().into_owned(),
                email: s.email.to_str_lossy().into_owned(),
                time: s.time().with_context(ctx)?,
            })
        };
        let info = CommitInfo {
            id,
            tree: decoded.tree(),
            parents: decoded.parents().collect(),
            message: decoded.message.to_str_lossy().into_owned(),
            author: sig(decoded.author().with_context(ctx)?)?,
            committer: sig(decoded.committer().with_context(ctx)?)?,
        };
        next = info.parents.first().copied();
        chain.push(info);
    }
    chain.reverse();
    Ok(chain)
}

/// Force-set the ref `name` (full name, e.g. `refs/heads/main-monitoring`) to `id`, with
/// `msg` in its reflog.
pub fn set_ref(repo: &gix::Repository, name: &str, id: ObjectId, msg: &str) -> Result<()> {
    repo.reference(name, id, PreviousValue::Any, msg)
        .with_context(|| format!("{}: set {name} to {id}", repo_dir(repo)))?;
    Ok(())
}
