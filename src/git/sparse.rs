//! The monitoring clone's checkout (SPEC §10): the shared branch is written to by every
//! device of the fleet, so only this device's own files reach the disk. Everything else the
//! branch holds (other devices' files, symlinks, folders) stays in the index and the
//! commits, never in the worktree.

use std::path::{Component, Path};

use gix::bstr::ByteSlice;
use gix::ObjectId;

use super::worktree::{self, HeadTarget};
use crate::error::{Context, Result};

/// [`worktree::checkout_except`] of `commit`, writing only the root-level regular files
/// named in `keep` (a symlink or folder of that name is not written either); `written` are
/// those of them the caller already put in place atomically. Whatever else the previous
/// checkout tracked is removed from the disk (clones made before this rule showed the
/// whole branch), without following a symlinked folder.
pub fn checkout_only(
    repo: &gix::Repository,
    commit: ObjectId,
    head: HeadTarget,
    keep: &[&str],
    written: &[&str],
) -> Result<()> {
    let ctx = || format!("{}: checkout {commit}", super::repo::repo_dir(repo));
    let tree = repo
        .find_commit(commit)
        .with_context(ctx)?
        .tree_id()
        .with_context(ctx)?
        .detach();
    let index = repo.index_from_tree(&tree).with_context(ctx)?;
    let mut skip: Vec<String> = written.iter().map(|w| w.to_string()).collect();
    for entry in index.entries() {
        let path = entry.path(&index);
        let ours = keep.iter().any(|k| path == k.as_bytes())
            && matches!(
                entry.mode,
                gix::index::entry::Mode::FILE | gix::index::entry::Mode::FILE_EXECUTABLE
            );
        if !ours {
            skip.push(path.to_str_lossy().into_owned());
        }
    }
    if let (Ok(old), Some(workdir)) = (repo.open_index(), repo.workdir()) {
        for entry in old.entries() {
            let path = entry.path(&old).to_str_lossy();
            if skip.iter().any(|s| *s == path) && !written.contains(&path.as_ref()) {
                remove_shown(workdir, Path::new(path.as_ref()))?;
            }
        }
    }
    let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
    worktree::checkout_except(repo, commit, head, &skip)
}

/// Remove the file or symlink at `rela` in `workdir` and the folders it leaves empty;
/// nothing when a folder on the way is a symlink (the file there is not the tracked one).
fn remove_shown(workdir: &Path, rela: &Path) -> Result<()> {
    if !rela
        .components()
        .all(|c| matches!(c, Component::Normal(n) if n != ".git"))
    {
        return Ok(());
    }
    let mut at = workdir.to_path_buf();
    for c in rela.parent().into_iter().flat_map(Path::components) {
        at.push(c);
        if !std::fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir()) {
            return Ok(());
        }
    }
    let path = workdir.join(rela);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if !m.is_dir() => {
            std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
        }
        _ => return Ok(()),
    }
    let mut parent = path.parent();
    while let Some(dir) = parent.filter(|d| *d != workdir && d.starts_with(workdir)) {
        if std::fs::remove_dir(dir).is_err() {
            break;
        }
        parent = dir.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::repo::test_support::*;
    use crate::git::repo::{fetch, open_or_init};

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".git")
            .collect();
        v.sort();
        v
    }

    #[test]
    fn only_the_kept_regular_files_reach_the_disk_and_earlier_ones_go() {
        let tmp = TempDir::new("sparse");
        let remote = make_remote(tmp.path());
        std::os::unix::fs::symlink("/etc/passwd", remote.work.join("link.toml")).unwrap();
        let c3 = remote.push_commit("dir/e.txt", "e\n", "third");
        let dir = tmp.path().join("mon");
        let repo = open_or_init(&dir, &remote.url()).unwrap();
        fetch(
            &repo,
            &remote.url(),
            &["+refs/heads/main:refs/remotes/origin/main"],
            &crate::git::NetOptions::default(),
        )
        .unwrap();
        // a clone made before the rule: the whole branch on disk
        worktree::checkout(&repo, c3, HeadTarget::Detached).unwrap();
        assert_eq!(names(&dir), ["a.txt", "d.txt", "dir", "link.toml"]);

        checkout_only(
            &repo,
            c3,
            HeadTarget::Detached,
            &["a.txt", "link.toml"],
            &[],
        )
        .unwrap();
        assert_eq!(names(&dir), ["a.txt"], "a symlink is never kept");
        assert_eq!(std::fs::read_to_string(dir.join("a.txt")).unwrap(), "two\n");
        // the index still tracks the whole branch: commits keep every device's file
        let index = repo.open_index().unwrap();
        assert_eq!(index.entries().len(), 4);
        // `written` is left as the caller put it
        std::fs::write(dir.join("a.txt"), "mine\n").unwrap();
        checkout_only(&repo, c3, HeadTarget::Detached, &["a.txt"], &["a.txt"]).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("a.txt")).unwrap(),
            "mine\n"
        );
    }
}
