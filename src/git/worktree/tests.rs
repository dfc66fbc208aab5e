//! Unit tests of checkout, status and describe against the git CLI.
use super::*;
use crate::git::repo::test_support::*;
use crate::git::repo::{fetch, find_ref, open_or_init};
use crate::git::NetOptions;

const MAIN: &str = "+refs/heads/main:refs/remotes/origin/main";

/// A fresh clone of `make_remote`, fetched but not checked out.
pub(super) fn fetched_clone(tmp: &TempDir) -> (Remote, std::path::PathBuf, gix::Repository) {
    let remote = make_remote(tmp.path());
    let dir = tmp.path().join("clone");
    let repo = open_or_init(&dir, &remote.url()).unwrap();
    fetch(&repo, &remote.url(), &[MAIN], &NetOptions::default()).unwrap();
    (remote, dir, repo)
}

pub(super) fn porcelain(dir: &Path) -> String {
    git(dir, &["status", "--porcelain"])
}

#[test]
fn fresh_clone_checkout_then_newer_commit_removes_dropped_files_and_keeps_untracked() {
    let tmp = TempDir::new("checkout");
    let (remote, dir, repo) = fetched_clone(&tmp);
    // Untracked files already in the folder (like a code folder that existed before).
    write(&dir, "untracked.txt", "mine\n");
    write(&dir, "dir/sub/local.txt", "mine too\n");
    assert_eq!(head_commit(&repo), None);

    checkout(&repo, remote.c1, HeadTarget::Detached).unwrap();
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), remote.c1.to_string());
    assert_eq!(head_commit(&repo), Some(remote.c1));
    assert_eq!(
        std::fs::read_to_string(dir.join("dir/b.txt")).unwrap(),
        "b\n"
    );
    assert_eq!(porcelain(&dir), "?? dir/sub/local.txt\n?? untracked.txt");
    assert!(!has_tracked_changes(&repo).unwrap());

    checkout(&repo, remote.c2, HeadTarget::Detached).unwrap();
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), remote.c2.to_string());
    assert!(!dir.join("dir/b.txt").exists());
    assert!(!dir.join("dir/sub/c.txt").exists());
    // dir/sub holds an untracked file, so it (and dir) stay.
    assert_eq!(
        std::fs::read_to_string(dir.join("dir/sub/local.txt")).unwrap(),
        "mine too\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("untracked.txt")).unwrap(),
        "mine\n"
    );
    assert_eq!(std::fs::read_to_string(dir.join("a.txt")).unwrap(), "two\n");
    assert_eq!(porcelain(&dir), "?? dir/\n?? untracked.txt");
    assert!(!has_tracked_changes(&repo).unwrap());
    assert!(lock_files(&dir).is_empty());

    // Back to c1 and forward again with no untracked files in dir/: the folder goes.
    std::fs::remove_file(dir.join("dir/sub/local.txt")).unwrap();
    checkout(&repo, remote.c1, HeadTarget::Detached).unwrap();
    assert!(dir.join("dir/sub/c.txt").exists());
    assert!(!dir.join("d.txt").exists());
    checkout(&repo, remote.c2, HeadTarget::Detached).unwrap();
    assert!(!dir.join("dir").exists());
    assert_eq!(porcelain(&dir), "?? untracked.txt");
    git(&dir, &["fsck", "--full"]);
    // The reflog needs an identity; the fallback one was used.
    assert!(!git(&dir, &["reflog", "-1", "HEAD"]).is_empty());
}

#[test]
fn drift_is_detected_and_repaired() {
    let tmp = TempDir::new("drift");
    let (remote, dir, repo) = fetched_clone(&tmp);
    checkout(&repo, remote.c1, HeadTarget::Detached).unwrap();
    assert!(!has_tracked_changes(&repo).unwrap());

    // Untracked files do not count.
    write(&dir, "new.txt", "x");
    write(&dir, "dir/new.txt", "x");
    assert!(!has_tracked_changes(&repo).unwrap());

    // A local edit.
    write(&dir, "a.txt", "edited\n");
    assert!(has_tracked_changes(&repo).unwrap());
    assert_eq!(
        status_summary(&repo).unwrap().lines().nth(1),
        Some("1 tracked file changed")
    );
    checkout(&repo, remote.c1, HeadTarget::Detached).unwrap();
    assert!(!has_tracked_changes(&repo).unwrap());
    assert_eq!(std::fs::read_to_string(dir.join("a.txt")).unwrap(), "one\n");

    // A deletion.
    std::fs::remove_file(dir.join("dir/sub/c.txt")).unwrap();
    assert!(has_tracked_changes(&repo).unwrap());
    checkout(&repo, remote.c1, HeadTarget::Detached).unwrap();
    assert!(!has_tracked_changes(&repo).unwrap());
    assert!(dir.join("dir/sub/c.txt").exists());

    // Index differs from HEAD (staged change, worktree matches index).
    write(&dir, "a.txt", "staged\n");
    git(&dir, &["add", "a.txt"]);
    let repo = open_or_init(&dir, &remote.url()).unwrap();
    assert!(has_tracked_changes(&repo).unwrap());
    checkout(&repo, remote.c1, HeadTarget::Detached).unwrap();
    assert!(!has_tracked_changes(&repo).unwrap());

    // A mode change counts too.
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(dir.join("a.txt"))
        .status()
        .unwrap();
    assert!(has_tracked_changes(&repo).unwrap());
    checkout(&repo, remote.c1, HeadTarget::Detached).unwrap();
    assert!(!has_tracked_changes(&repo).unwrap());

    assert_eq!(porcelain(&dir), "?? dir/new.txt\n?? new.txt");
    assert_eq!(std::fs::read_to_string(dir.join("new.txt")).unwrap(), "x");
}

#[test]
fn same_size_edit_with_restored_mtime_is_detected() {
    // The racy case: same size, same mtime as recorded, and the index is not newer than the
    // file, so only the content tells.
    let tmp = TempDir::new("racy");
    let (remote, dir, repo) = fetched_clone(&tmp);
    checkout(&repo, remote.c1, HeadTarget::Detached).unwrap();
    let path = dir.join("a.txt");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, "ONE\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(dir.join(".git/index"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let repo = open_or_init(&dir, &remote.url()).unwrap();
    assert!(has_tracked_changes(&repo).unwrap());
}

#[test]
fn removal_does_not_follow_a_symlinked_folder() {
    let tmp = TempDir::new("symlink");
    let (remote, dir, repo) = fetched_clone(&tmp);
    checkout(&repo, remote.c1, HeadTarget::Detached).unwrap();
    // Someone replaced the tracked folder `dir` with a link to a folder outside.
    let outside = tmp.path().join("outside");
    write(&outside, "b.txt", "precious\n");
    std::fs::remove_dir_all(dir.join("dir")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("dir")).unwrap();
    checkout(&repo, remote.c2, HeadTarget::Detached).unwrap();
    assert_eq!(
        std::fs::read_to_string(outside.join("b.txt")).unwrap(),
        "precious\n"
    );
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), remote.c2.to_string());
}

#[test]
fn stale_locks_are_removed() {
    let tmp = TempDir::new("locks");
    let (remote, dir, repo) = fetched_clone(&tmp);
    checkout(&repo, remote.c1, HeadTarget::Detached).unwrap();
    std::fs::write(dir.join(".git/index.lock"), "").unwrap();
    std::fs::write(dir.join(".git/HEAD.lock"), "").unwrap();
    write(&dir, "a.txt", "edited\n");
    checkout(&repo, remote.c2, HeadTarget::Detached).unwrap();
    assert!(lock_files(&dir).is_empty(), "{:?}", lock_files(&dir));
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), remote.c2.to_string());
    assert_eq!(porcelain(&dir), "");
}

#[test]
fn branch_target_sets_branch_and_symbolic_head() {
    let tmp = TempDir::new("branch");
    let (remote, dir, repo) = fetched_clone(&tmp);
    checkout(&repo, remote.c1, HeadTarget::Branch("main".into())).unwrap();
    assert_eq!(git(&dir, &["symbolic-ref", "HEAD"]), "refs/heads/main");
    assert_eq!(git(&dir, &["rev-parse", "main"]), remote.c1.to_string());
    assert_eq!(find_ref(&repo, "refs/heads/main").unwrap(), Some(remote.c1));
    assert_eq!(
        status_summary(&repo).unwrap(),
        "On branch main\nnothing to commit, working tree clean"
    );
    checkout(&repo, remote.c2, HeadTarget::Branch("main".into())).unwrap();
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), remote.c2.to_string());
    assert_eq!(porcelain(&dir), "");
    // From a branch to detached.
    checkout(&repo, remote.c1, HeadTarget::Detached).unwrap();
    assert!(git_cmd(&dir)
        .args(["symbolic-ref", "-q", "HEAD"])
        .output()
        .unwrap()
        .stdout
        .is_empty());
    assert_eq!(git(&dir, &["rev-parse", "main"]), remote.c2.to_string());
    assert!(lock_files(&dir).is_empty());
}

#[test]
fn status_summary_reads_like_git_status() {
    let tmp = TempDir::new("summary");
    let (remote, dir, repo) = fetched_clone(&tmp);
    assert_eq!(
        status_summary(&repo).unwrap(),
        "On branch main\nNo commits yet\nnothing to commit, working tree clean"
    );
    checkout(&repo, remote.c1, HeadTarget::Detached).unwrap();
    let short = &remote.c1.to_string()[..7];
    assert_eq!(
        status_summary(&repo).unwrap(),
        format!("HEAD detached at {short}\nnothing to commit, working tree clean")
    );
    write(&dir, "untracked", "x");
    write(&dir, "a.txt", "changed");
    std::fs::remove_file(dir.join("dir/b.txt")).unwrap();
    assert_eq!(
        status_summary(&repo).unwrap(),
        format!("HEAD detached at {short}\n2 tracked files changed")
    );
    // git agrees on the first line.
    let git_status = git(&dir, &["status"]);
    assert!(
        git_status.starts_with(&format!("HEAD detached at {short}")),
        "{git_status}"
    );
}

/// Commit in `work` with the given author date and message, return its id.
fn commit_dated(work: &Path, file: &str, msg: &str, date: &str) -> ObjectId {
    write(work, file, msg);
    git(work, &["add", "-A"]);
    let out = git_cmd(work)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_AUTHOR_NAME", "Jöhn Q. Dev")
        .args(["commit", "-q", "-m", msg])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    oid(&git(work, &["rev-parse", "HEAD"]))
}

#[test]
fn describe_matches_git_log() {
    let tmp = TempDir::new("describe");
    let work = tmp.path().join("w");
    git(tmp.path(), &["init", "-q", work.to_str().unwrap()]);
    let cases = [
        ("f1", "Fix: the thing", "2026-11-04T10:00:00+0100"),
        (
            "f2",
            "subject line one\nstill subject\n\nbody text",
            "2026-11-24T23:59:59-0930",
        ),
        ("f3", "  padded subject  \n", "2001-01-01T00:00:00+0000"),
        ("f4", "ünïcode ✅ subject", "2030-02-28T12:34:56+0545"),
        (
            "f5",
            "tabs\tinside  \n\t indented second line\t\n\nbody",
            "1999-12-31T23:59:59-0000",
        ),
    ];
    let repo_ids: Vec<_> = cases
        .iter()
        .map(|(f, m, d)| commit_dated(&work, f, m, d))
        .collect();
    let repo = gix::open(&work).unwrap();
    for id in repo_ids {
        let expected = git_raw(
            &work,
            &[
                "log",
                "-1",
                "--pretty=format:'%h - %s (%an, %ad)'",
                &id.to_string(),
            ],
        );
        assert_eq!(describe(&repo, id).unwrap(), expected);
    }
}

#[test]
fn has_tracked_changes_is_cheap() {
    let tmp = TempDir::new("perf");
    let (remote, dir, repo) = fetched_clone(&tmp);
    checkout(&repo, remote.c1, HeadTarget::Detached).unwrap();
    // Files written in the same second as the index are "racy" and get hashed; the first
    // check a second later records their stat data in the index, after which a check is
    // stat calls only and writes nothing.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(!has_tracked_changes(&repo).unwrap());
    let index_mtime = || {
        std::fs::metadata(dir.join(".git/index"))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = index_mtime();
    let start = std::time::Instant::now();
    for _ in 0..50 {
        assert!(!has_tracked_changes(&repo).unwrap());
    }
    let elapsed = start.elapsed();
    eprintln!("50 x has_tracked_changes: {elapsed:?}");
    assert_eq!(
        index_mtime(),
        before,
        "a clean check must not rewrite the index"
    );
    // Generous for an unoptimized build on a busy machine; a release build is far below.
    assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
}
