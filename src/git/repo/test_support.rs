//! Helpers for tests in `git::*`: temp folders and the git CLI as the reference.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The refspec of a clone's `main`, as the tests fetch it.
pub const MAIN: &str = "+refs/heads/main:refs/remotes/origin/main";

/// Network options for tests on loopback remotes.
pub fn net() -> crate::git::NetOptions {
    crate::git::NetOptions {
        timeout: std::time::Duration::from_secs(20),
        ..Default::default()
    }
}

/// A unique folder under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "gitops-agent-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // Canonical, so paths compare equal to what git prints.
        TempDir(dir.canonicalize().unwrap())
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A git command isolated from the user's config and environment.
pub fn git_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "protocol.file.allow=always",
        ]);
    cmd
}

/// Run git in `dir`, panic with its stderr on failure, return trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// Like [`git`] but returns stdout untrimmed.
pub fn git_raw(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn write(dir: &Path, rela: &str, content: &str) {
    let path = dir.join(rela);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Commit everything in `work` and return the new commit id.
pub fn commit_all(work: &Path, msg: &str) -> gix::ObjectId {
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "--allow-empty", "-m", msg]);
    oid(&git(work, &["rev-parse", "HEAD"]))
}

pub fn oid(hex: &str) -> gix::ObjectId {
    gix::ObjectId::from_hex(hex.trim().as_bytes()).unwrap()
}

/// A bare repo `remote.git` fed from a work repo `src`, both in `tmp`.
/// Commit 1: a.txt, dir/b.txt, dir/sub/c.txt. Commit 2: a.txt changed, dir/ removed, d.txt added.
pub struct Remote {
    pub bare: PathBuf,
    pub work: PathBuf,
    pub c1: gix::ObjectId,
    pub c2: gix::ObjectId,
}

impl Remote {
    pub fn url(&self) -> crate::url::Url {
        crate::url::Url::new(format!("file://{}", self.bare.display()))
    }
    /// Add a commit on main in the work repo and push it.
    pub fn push_commit(&self, file: &str, content: &str, msg: &str) -> gix::ObjectId {
        write(&self.work, file, content);
        let id = commit_all(&self.work, msg);
        git(&self.work, &["push", "-q", "origin", "main"]);
        id
    }
}

pub fn make_remote(tmp: &Path) -> Remote {
    let bare = tmp.join("remote.git");
    let work = tmp.join("src");
    git(tmp, &["init", "-q", "--bare", bare.to_str().unwrap()]);
    git(tmp, &["init", "-q", work.to_str().unwrap()]);
    git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
    write(&work, "a.txt", "one\n");
    write(&work, "dir/b.txt", "b\n");
    write(&work, "dir/sub/c.txt", "c\n");
    let c1 = commit_all(&work, "first");
    std::fs::remove_dir_all(work.join("dir")).unwrap();
    write(&work, "a.txt", "two\n");
    write(&work, "d.txt", "d\n");
    let c2 = commit_all(&work, "second");
    git(&work, &["push", "-q", "origin", "main"]);
    Remote { bare, work, c1, c2 }
}

/// Every `*.lock` file under `dir/.git`.
pub fn lock_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "lock") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dir.join(".git"), &mut out);
    out
}
