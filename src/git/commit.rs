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

/// A tree equal to `base`'s (or empty) except that each root file of `files` holds its
/// content (mode 100644), replacing whatever had that name. Git's entry order is kept (a
/// folder sorts as if its name ended in `/`), so `git fsck` accepts the tree.
pub fn tree_with_files(
    repo: &gix::Repository,
    base: Option<ObjectId>,
    files: &[(&str, &[u8])],
) -> Result<ObjectId> {
    let ctx = || format!("{}: write tree", repo_dir(repo));
    let mut tree: gix::objs::Tree = match base {
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
    for (name, content) in files {
        if name.is_empty()
            || *name == "."
            || *name == ".."
            || *name == ".git"
            || name.contains(['/', '\0'])
        {
            crate::bail!("{}: {name:?} is not a valid root file name", ctx());
        }
        let blob = repo.write_blob(content).with_context(ctx)?.detach();
        tree.entries
            .retain(|e| e.filename.as_bstr() != BStr::new(name));
        tree.entries.push(Entry {
            mode: EntryKind::Blob.into(),
            filename: (*name).into(),
            oid: blob,
        });
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::repo::test_support::*;

    fn sig(name: &str, seconds: i64, offset: i32) -> Sig {
        Sig {
            name: name.into(),
            email: format!("gitops-agent@{name}"),
            time: gix::date::Time { seconds, offset },
        }
    }

    #[test]
    fn trees_and_commits_pass_fsck_and_read_back() {
        let tmp = TempDir::new("commit");
        let work = tmp.path().join("w");
        git(tmp.path(), &["init", "-q", work.to_str().unwrap()]);
        // Names that sort differently as files and as folders: "edge" (folder) must come after
        // "edge.toml" and "edge-1" but before "edge0" in git's order.
        write(&work, "edge/nested.txt", "n\n");
        write(&work, "edge-1", "x\n");
        write(&work, "edge0", "y\n");
        write(&work, "edge.toml", "old\n");
        write(&work, "zz/deep/file.txt", "deep\n");
        let base = commit_all(&work, "base");
        let repo = gix::open(&work).unwrap();

        assert_eq!(
            read_blob_at(&repo, base, "edge.toml").unwrap(),
            Some(b"old\n".to_vec())
        );
        assert_eq!(
            read_blob_at(&repo, base, "zz/deep/file.txt").unwrap(),
            Some(b"deep\n".to_vec())
        );
        assert_eq!(read_blob_at(&repo, base, "missing.toml").unwrap(), None);
        assert_eq!(
            read_blob_at(&repo, base, "edge").unwrap(),
            None,
            "a folder is not a file"
        );

        let author = sig("edge-17", 1_795_000_000, 3600);
        let committer = sig("edge-17", 1_795_000_100, -5400);
        // Replace an existing file and add a new one whose name sorts next to a folder.
        let t1 = tree_with_files(&repo, Some(base), &[("edge.toml", &b"new = 1\n"[..])]).unwrap();
        let t2 = {
            let c = write_commit(&repo, t1, &[base], "tmp", &author, &committer).unwrap();
            tree_with_files(&repo, Some(c), &[("edge.z", "✅ status\n".as_bytes())]).unwrap()
        };
        let c1 = write_commit(
            &repo,
            t2,
            &[base],
            "✅ Status: all 2 apps healthy",
            &author,
            &committer,
        )
        .unwrap();
        set_ref(&repo, "refs/heads/main-monitoring", c1, "status").unwrap();
        // An orphan commit on the empty tree.
        let t3 = tree_with_files(&repo, None, &[("edge-17.toml", &b"a = 1\n"[..])]).unwrap();
        let orphan = write_commit(&repo, t3, &[], "orphan\n\nbody", &author, &committer).unwrap();
        let c2 = write_commit(&repo, t3, &[c1, orphan], "merge-like", &author, &committer).unwrap();
        set_ref(&repo, "refs/heads/other", c2, "status").unwrap();
        set_ref(&repo, "refs/heads/other", c2, "again, unchanged").unwrap();

        git(&work, &["fsck", "--full", "--strict"]);
        assert_eq!(
            git(&work, &["show", "main-monitoring:edge.toml"]),
            "new = 1"
        );
        assert_eq!(git(&work, &["show", "main-monitoring:edge.z"]), "✅ status");
        assert_eq!(
            git(&work, &["show", "main-monitoring:zz/deep/file.txt"]),
            "deep"
        );
        assert_eq!(
            git(&work, &["ls-tree", "--name-only", "other"]),
            "edge-17.toml"
        );
        assert_eq!(
            git(&work, &["ls-tree", "--name-only", "main-monitoring"]),
            "edge-1\nedge.toml\nedge.z\nedge\nedge0\nzz"
        );
        assert_eq!(
            git(
                &work,
                &[
                    "log",
                    "-1",
                    "--format=%an <%ae> %at %ai|%cn <%ce> %ct %ci|%s",
                    "main-monitoring"
                ]
            ),
            "edge-17 <gitops-agent@edge-17> 1795000000 2026-11-18 12:06:40 +0100|\
             edge-17 <gitops-agent@edge-17> 1795000100 2026-11-18 09:38:20 -0130|\
             ✅ Status: all 2 apps healthy"
        );
        // The working tree and index were not touched.
        assert_eq!(git(&work, &["status", "--porcelain"]), "");
        assert_eq!(git(&work, &["rev-parse", "HEAD"]), base.to_string());
        assert_eq!(
            read_blob_at(&repo, c1, "edge.z").unwrap(),
            Some("✅ status\n".as_bytes().to_vec())
        );

        let chain = first_parent_chain(&repo, c2).unwrap();
        let ids: Vec<_> = chain.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![base, c1, c2]);
        assert_eq!(chain[0].parents, Vec::<ObjectId>::new());
        assert_eq!(chain[0].message, "base\n");
        assert_eq!(chain[0].author.name, "Test Author");
        assert_eq!(chain[1].message, "✅ Status: all 2 apps healthy");
        assert_eq!(chain[1].tree, t2);
        assert_eq!(chain[1].author, author);
        assert_eq!(chain[1].committer, committer);
        assert_eq!(chain[2].parents, vec![c1, orphan]);
        let chain = first_parent_chain(&repo, orphan).unwrap();
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].message, "orphan\n\nbody");

        assert!(tree_with_files(&repo, None, &[("a/b", &b"x"[..])]).is_err());
        assert!(tree_with_files(&repo, None, &[("", &b"x"[..])]).is_err());
        assert!(lock_files(&work).is_empty());
    }

    #[test]
    fn same_content_gives_same_ids() {
        let tmp = TempDir::new("commit-stable");
        let repo = gix::init(tmp.path().join("r")).unwrap();
        let a = sig("dev", 1_700_000_000, 0);
        let t1 = tree_with_files(&repo, None, &[("f.toml", &b"x"[..])]).unwrap();
        let t2 = tree_with_files(&repo, None, &[("f.toml", &b"x"[..])]).unwrap();
        assert_eq!(t1, t2);
        let c1 = write_commit(&repo, t1, &[], "m", &a, &a).unwrap();
        let c2 = write_commit(&repo, t2, &[], "m", &a, &a).unwrap();
        assert_eq!(c1, c2);
        // Re-setting the same file on top of itself keeps the tree.
        let t3 = tree_with_files(&repo, Some(c1), &[("f.toml", &b"x"[..])]).unwrap();
        assert_eq!(t3, t1);
    }
}
