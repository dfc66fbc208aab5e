//! `look::in_sync` against the full gix path: the same answer when it answers, and no
//! answer for every kind of change the full path reports.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::git::repo::open_or_init;
use crate::git::repo::test_support::*;
use crate::git::worktree::tests::{fetched_clone, porcelain};
use crate::git::worktree::{checkout, describe, has_tracked_changes, status_summary, HeadTarget};
use crate::url::Url;

/// A clone checked out detached at c1 whose index no longer has racy entries (as after the
/// first pass following a checkout), with the url it was made from.
fn settled_clone(tmp: &TempDir) -> (Remote, std::path::PathBuf, Url) {
    let (remote, dir, repo) = fetched_clone(tmp);
    checkout(&repo, remote.c1, HeadTarget::Detached).unwrap();
    settle(&dir, &remote);
    (remote, dir.clone(), Url::new(remote_url(&dir)))
}

/// Wait past the index's second, then let the full path record fresh stat data.
fn settle(dir: &Path, remote: &Remote) {
    std::thread::sleep(Duration::from_millis(1100));
    let repo = open_or_init(dir, &remote.url()).unwrap();
    assert!(!has_tracked_changes(&repo).unwrap());
}

fn remote_url(dir: &Path) -> String {
    git(dir, &["config", "remote.origin.url"])
}

/// What the full path says for a clean clone at `head`.
fn full_path(dir: &Path, url: &Url, head: ObjectId) -> InSync {
    let repo = open_or_init(dir, url).unwrap();
    InSync {
        head,
        status: status_summary(&repo).unwrap(),
        latest_commit: describe(&repo, head).unwrap(),
    }
}

#[test]
fn a_clean_clone_at_the_desired_commit_reads_as_the_full_path_says() {
    let tmp = TempDir::new("look-clean");
    let (remote, dir, url) = settled_clone(&tmp);
    let expected = full_path(&dir, &url, remote.c1);
    let hex = remote.c1.to_string();
    assert_eq!(in_sync(&dir, &url, &hex), Some(expected.clone()));
    // Abbreviated, upper case, padded with blanks: resolved like `repo::resolve_commit`.
    assert_eq!(in_sync(&dir, &url, &hex[..7]), Some(expected.clone()));
    assert_eq!(in_sync(&dir, &url, &hex[..4]), Some(expected.clone()));
    assert_eq!(
        in_sync(&dir, &url, &format!(" {} ", hex.to_uppercase())),
        Some(expected.clone())
    );
    // Untracked files do not count.
    write(&dir, "untracked.txt", "x");
    write(&dir, "dir/new.txt", "x");
    assert_eq!(in_sync(&dir, &url, &hex), Some(expected));
}

#[test]
fn a_clone_made_by_git_reads_as_the_full_path_says() {
    // Devices migrated from the Python agent have clones made by `git clone`.
    let tmp = TempDir::new("look-git");
    let remote = make_remote(tmp.path());
    let dir = tmp.path().join("gitclone");
    git(
        tmp.path(),
        &["clone", "-q", remote.url().secret(), dir.to_str().unwrap()],
    );
    git(
        &dir,
        &["checkout", "-q", "--detach", &remote.c1.to_string()],
    );
    std::thread::sleep(Duration::from_millis(1100));
    git(&dir, &["status", "--porcelain"]); // git refreshes racy entries too
    let url = remote.url();
    let expected = full_path(&dir, &url, remote.c1);
    assert_eq!(in_sync(&dir, &url, &remote.c1.to_string()), Some(expected));
}

#[test]
fn every_tracked_change_sends_the_caller_to_the_full_path() {
    let tmp = TempDir::new("look-drift");
    let (remote, dir, url) = settled_clone(&tmp);
    let hex = remote.c1.to_string();
    let repo = open_or_init(&dir, &url).unwrap();
    let reset = |what: &str| {
        checkout(&repo, remote.c1, HeadTarget::Detached).unwrap();
        settle(&dir, &remote);
        assert!(in_sync(&dir, &url, &hex).is_some(), "after {what}");
    };

    write(&dir, "a.txt", "edited\n");
    assert_eq!(in_sync(&dir, &url, &hex), None, "edited");
    reset("edit");

    std::fs::remove_file(dir.join("dir/sub/c.txt")).unwrap();
    assert_eq!(in_sync(&dir, &url, &hex), None, "deleted");
    reset("deletion");

    git(&dir, &["update-index", "--chmod=+x", "a.txt"]);
    assert_eq!(in_sync(&dir, &url, &hex), None, "mode staged");
    reset("staged mode");

    std::process::Command::new("chmod")
        .arg("+x")
        .arg(dir.join("a.txt"))
        .status()
        .unwrap();
    assert_eq!(in_sync(&dir, &url, &hex), None, "mode changed");
    reset("mode change");

    // Staged: the worktree matches the index (not racily), the index differs from HEAD.
    write(&dir, "a.txt", "staged\n");
    std::thread::sleep(Duration::from_millis(1100));
    git(&dir, &["add", "a.txt"]);
    assert_eq!(in_sync(&dir, &url, &hex), None, "index differs from HEAD");
    reset("staged change");

    // The tracked folder replaced by a link to an identical copy (same inodes): git sees
    // the files under it as deleted.
    std::fs::rename(dir.join("dir"), dir.join("dir2")).unwrap();
    std::os::unix::fs::symlink("dir2", dir.join("dir")).unwrap();
    assert_eq!(in_sync(&dir, &url, &hex), None, "symlinked folder");
    assert!(has_tracked_changes(&repo).unwrap());
    std::fs::remove_file(dir.join("dir")).unwrap();
    std::fs::rename(dir.join("dir2"), dir.join("dir")).unwrap();
    reset("symlinked folder");
}

#[test]
fn a_same_size_edit_with_the_old_mtime_is_not_vouched_for() {
    // The racy case: same size and mtime as recorded, and the index is not newer than the
    // file, so only the content tells; the full path hashes it.
    let tmp = TempDir::new("look-racy");
    let (remote, dir, url) = settled_clone(&tmp);
    let path = dir.join("a.txt");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, "ONE\n").unwrap();
    let set_mtime = |p: &Path| {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(mtime)
            .unwrap()
    };
    set_mtime(&path);
    set_mtime(&dir.join(".git/index"));
    assert_eq!(in_sync(&dir, &url, &remote.c1.to_string()), None);
    let repo = open_or_init(&dir, &url).unwrap();
    assert!(has_tracked_changes(&repo).unwrap());
}

#[test]
fn anything_but_hex_naming_head_is_left_to_the_full_path() {
    let tmp = TempDir::new("look-spec");
    let (remote, dir, url) = settled_clone(&tmp);
    git(&dir, &["tag", "v1", &remote.c1.to_string()]);
    let c1 = remote.c1.to_string();
    for spec in [
        remote.c2.to_string(), // another commit
        c1[..3].to_string(),   // too short to be an id
        "v1".to_string(),      // a tag (refs are the full path's business)
        String::new(),
        format!("{}0", &c1[..39]),
    ] {
        assert_eq!(in_sync(&dir, &url, &spec), None, "{spec:?}");
    }
}

#[test]
fn a_foreign_origin_or_an_unmodelled_setting_is_left_to_the_full_path() {
    let tmp = TempDir::new("look-config");
    let (remote, dir, url) = settled_clone(&tmp);
    let hex = remote.c1.to_string();
    assert_eq!(
        in_sync(&dir, &"file:///somewhere/else.git".into(), &hex),
        None
    );
    for (key, value) in [
        ("core.ignoreCase", "true"),
        ("core.abbrev", "12"),
        ("include.path", "other"),
        ("extensions.worktreeConfig", "true"),
        ("core.checkStat", "sometimes"),
    ] {
        git(&dir, &["config", key, value]);
        assert_eq!(in_sync(&dir, &url, &hex), None, "{key}");
        git(&dir, &["config", "--unset", key]);
        assert!(in_sync(&dir, &url, &hex).is_some(), "{key} unset");
    }
    // A clone gix would not open (no `refs` folder) is repaired by the full path.
    std::fs::rename(dir.join(".git/refs"), dir.join(".git/refs-moved")).unwrap();
    assert_eq!(in_sync(&dir, &url, &hex), None);
    std::fs::rename(dir.join(".git/refs-moved"), dir.join(".git/refs")).unwrap();
    assert!(in_sync(&dir, &url, &hex).is_some());
    // A symbolic HEAD (a branch checked out) is the full path's business too.
    let repo = open_or_init(&dir, &url).unwrap();
    checkout(&repo, remote.c1, HeadTarget::Branch("main".into())).unwrap();
    settle(&dir, &remote);
    assert_eq!(in_sync(&dir, &url, &hex), None);
}

#[test]
fn core_file_mode_false_ignores_the_executable_bit_as_git_does() {
    let tmp = TempDir::new("look-filemode");
    let (remote, dir, url) = settled_clone(&tmp);
    git(&dir, &["config", "core.fileMode", "false"]);
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(dir.join("a.txt"))
        .status()
        .unwrap();
    // chmod changes ctime: the first check hashes and records it, like the full path.
    assert_eq!(in_sync(&dir, &url, &remote.c1.to_string()), None);
    settle(&dir, &remote);
    assert!(in_sync(&dir, &url, &remote.c1.to_string()).is_some());
    assert_eq!(porcelain(&dir), "");
}

#[test]
fn the_record_in_git_serves_only_its_head_and_index() {
    let tmp = TempDir::new("look-record");
    let (remote, dir, url) = settled_clone(&tmp);
    let hex = remote.c1.to_string();
    let expected = full_path(&dir, &url, remote.c1);
    assert_eq!(in_sync(&dir, &url, &hex), Some(expected.clone()));
    let record = dir.join(".git").join(CACHE_FILE);
    let text = std::fs::read_to_string(&record).unwrap();
    assert!(text.contains(&hex), "{text}");

    // It is what later looks read: a doctored tail shows through...
    let short = &expected.latest_commit[1..8];
    let doctored = text.replace(" - first", " - doctored");
    std::fs::write(&record, &doctored).unwrap();
    let seen = in_sync(&dir, &url, &hex).unwrap();
    assert!(seen
        .latest_commit
        .starts_with(&format!("'{short} - doctored")));
    // ...but not under another HEAD or index, nor when unreadable.
    std::fs::write(&record, doctored.replace(&hex, &remote.c2.to_string())).unwrap();
    assert_eq!(in_sync(&dir, &url, &hex), Some(expected.clone()));
    std::fs::write(&record, "garbage").unwrap();
    assert_eq!(in_sync(&dir, &url, &hex), Some(expected.clone()));
    assert_eq!(std::fs::read_to_string(&record).unwrap(), text, "rewritten");

    // A staged change keeps HEAD but changes the index: the record no longer applies.
    write(&dir, "a.txt", "staged\n");
    std::thread::sleep(Duration::from_millis(1100));
    git(&dir, &["add", "a.txt"]);
    assert_eq!(in_sync(&dir, &url, &hex), None);
}

#[test]
fn look_honours_no_clone_setting_beyond_what_gix_honours() {
    // SPEC §10: the shortcut reads the clone's own `.git/config`, so it must not honour a
    // value there that the full path (`repo::open_clone`) does not; where both read one,
    // they read it alike.
    let tmp = TempDir::new("look-settings");
    let (_remote, dir, url) = settled_clone(&tmp);
    for set in [
        &[][..],
        &[("core.fileMode", "false")][..],
        &[("core.symlinks", "off")][..],
        &[("core.trustCTime", "no")][..],
        &[("core.checkStat", "minimal"), ("core.fileMode", "true")][..],
    ] {
        for (key, value) in set {
            git(&dir, &["config", key, value]);
        }
        let config = std::fs::read(dir.join(".git/config")).unwrap();
        let ours = super::super::gitconfig::settings(&config, &url).unwrap();
        let repo = crate::git::repo::open_clone(&dir, &url).unwrap();
        let fs = repo.filesystem_options().unwrap();
        assert_eq!(ours.stat, repo.stat_options().unwrap(), "{set:?}");
        assert_eq!(
            (ours.symlinks, ours.executable_bit),
            (fs.symlink, fs.executable_bit),
            "{set:?}"
        );
        assert!(!fs.ignore_case && !fs.precompose_unicode);
        for (key, _) in set {
            git(&dir, &["config", "--unset", key]);
        }
    }
}

#[test]
fn look_passes_the_ownership_gate_first() {
    let tmp = TempDir::new("look-gate");
    let (remote, dir, url) = settled_clone(&tmp);
    let hex = remote.c1.to_string();
    assert!(in_sync(&dir, &url, &hex).is_some());
    use std::os::unix::fs::PermissionsExt;
    let dot_git = dir.join(".git");
    let mode = std::fs::metadata(&dot_git).unwrap().permissions().mode();
    std::fs::set_permissions(&dot_git, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_eq!(
        in_sync(&dir, &url, &hex),
        None,
        "a world-writable .git is not read"
    );
    std::fs::set_permissions(&dot_git, std::fs::Permissions::from_mode(mode)).unwrap();
    assert!(in_sync(&dir, &url, &hex).is_some());
}

#[test]
fn a_record_cut_short_is_never_read() {
    let key = "gitops-agent look 1 v h i\n";
    assert_eq!(
        record_tail(&format!("{key} - s (a, d)'\n"), key),
        Some(" - s (a, d)'")
    );
    assert_eq!(
        record_tail(&format!("{key} - s (a, d"), key),
        None,
        "no final newline"
    );
    assert_eq!(record_tail(&format!("{key} - s\0\0\n"), key), None, "zeros");
    assert_eq!(record_tail(&format!("{key}\n"), key), None, "empty");
    assert_eq!(record_tail(&format!("{key}a\nb\n"), key), None, "two lines");
    assert_eq!(record_tail(" - s\n", key), None, "another key");
}

/// A clone whose files are older than `look_memo::SETTLED`, looked at once so that its
/// memo is written; the look after it is served by the memo.
fn memo_clone(tmp: &TempDir) -> (Remote, std::path::PathBuf, Url, InSync) {
    let (remote, dir, url) = settled_clone(tmp);
    std::thread::sleep(look_memo::SETTLED + Duration::from_millis(100));
    let expected = full_path(&dir, &url, remote.c1);
    let hex = remote.c1.to_string();
    assert_eq!(in_sync(&dir, &url, &hex), Some(expected.clone()));
    // the record of the first look is young: a look after the margin adds it
    std::thread::sleep(look_memo::SETTLED + Duration::from_millis(100));
    assert_eq!(in_sync(&dir, &url, &hex), Some(expected.clone()));
    (remote, dir, url, expected)
}

/// The memo in `dir` with its short id replaced by `short` (still trusted: written now).
fn doctor_short(dir: &Path, short: &str) {
    let git_dir = dir.join(".git");
    let text = std::fs::read_to_string(git_dir.join(look_memo::MEMO_FILE)).unwrap();
    let mut memo = look_memo::parse(&text).expect("a whole memo");
    memo.short.as_mut().expect("a short id kept").short = short.into();
    look_memo::write(&git_dir, &memo);
}

#[test]
fn the_memo_serves_an_unchanged_clone_and_a_new_pack_or_loose_folder_ends_it() {
    let tmp = TempDir::new("look-memo-objects");
    let (remote, dir, url, expected) = memo_clone(&tmp);
    let hex = remote.c1.to_string();
    // A doctored short id shows through: the pack indices were not read...
    doctor_short(&dir, "doctored");
    let seen = in_sync(&dir, &url, &hex).unwrap();
    assert_eq!(seen.status, status::summary_detached("doctored", 0));
    // ...until a new pack is there (the short id could be longer now).
    write(&dir, "untracked-blob.txt", "into a new pack\n");
    git(&dir, &["hash-object", "-w", "untracked-blob.txt"]);
    git(&dir, &["repack", "-q", "-d"]);
    assert_eq!(in_sync(&dir, &url, &hex), Some(expected.clone()));
    // A new loose folder for HEAD's first two digits ends it too (everything is packed
    // now, so it is missing: the memo vouches for that by the key of `objects`).
    let loose = dir.join(".git/objects").join(&hex[..2]);
    assert!(!loose.exists());
    std::thread::sleep(look_memo::SETTLED + Duration::from_millis(100));
    assert_eq!(in_sync(&dir, &url, &hex), Some(expected.clone()));
    doctor_short(&dir, "doctored");
    std::fs::create_dir_all(&loose).unwrap();
    let other = if &hex[2..3] == "f" { "e" } else { "f" };
    write(&loose, &format!("{other}{}", "0".repeat(37)), "");
    assert_eq!(in_sync(&dir, &url, &hex), Some(expected.clone()));
    // An abbreviated desired commit is always checked against every object.
    std::thread::sleep(look_memo::SETTLED + Duration::from_millis(100));
    assert_eq!(in_sync(&dir, &url, &hex), Some(expected.clone()));
    doctor_short(&dir, "doctored");
    assert_eq!(in_sync(&dir, &url, &hex[..9]), Some(expected));
}

#[test]
fn the_memo_never_hides_an_edit_an_origin_or_a_head_changed_in_place() {
    let tmp = TempDir::new("look-memo-files");
    let (remote, dir, url, expected) = memo_clone(&tmp);
    let hex = remote.c1.to_string();
    // an edited tracked file
    write(&dir, "a.txt", "edited\n");
    assert_eq!(in_sync(&dir, &url, &hex), None);
    git(&dir, &["checkout", "-q", "--", "a.txt"]);
    settle(&dir, &remote);
    assert_eq!(in_sync(&dir, &url, &hex), Some(expected.clone()));
    // another origin: the config is read again
    let origin = remote_url(&dir);
    git(&dir, &["config", "remote.origin.url", "/elsewhere.git"]);
    assert_eq!(in_sync(&dir, &url, &hex), None);
    git(&dir, &["config", "remote.origin.url", &origin]);
    assert_eq!(in_sync(&dir, &url, &hex), Some(expected.clone()));
    // a change staged in the index alone: the index is read again
    std::thread::sleep(look_memo::SETTLED + Duration::from_millis(100));
    assert_eq!(in_sync(&dir, &url, &hex), Some(expected.clone()));
    let text = std::fs::read_to_string(dir.join(".git").join(look_memo::MEMO_FILE)).unwrap();
    assert!(text.contains("\nindex "), "the index is kept: {text}");
    git(&dir, &["update-index", "--chmod=+x", "a.txt"]);
    assert_eq!(in_sync(&dir, &url, &hex), None);
    git(&dir, &["update-index", "--chmod=-x", "a.txt"]);
    // HEAD rewritten in place, same size, its mtime put back: its ctime still tells
    let head = dir.join(".git/HEAD");
    let mtime = std::fs::metadata(&head).unwrap().modified().unwrap();
    std::fs::write(&head, format!("{}\n", remote.c2)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&head)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(in_sync(&dir, &url, &hex), None);
}
