//! `git::push::push` against real receive-pack: a bare repository over file:// (gix spawns
//! git-receive-pack) and the same kind of repository behind `git daemon` (git://, fully
//! in-process on our side). Fixtures are built and results checked with the git CLI.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use common::*;
use gitops_agent::error::Kind;
use gitops_agent::git::push::{push, RefUpdate, Session};
use gitops_agent::git::NetOptions;

#[derive(Debug, Clone, Copy)]
enum Remote {
    File,
    Daemon,
}

/// A local worktree repository and a bare remote reachable at `url`.
struct Fixture {
    local: PathBuf,
    remote: PathBuf,
    url: String,
    // Dropped after the daemon (fields drop in order), so the daemon never serves a
    // deleted directory.
    daemon: Option<GitDaemon>,
    _dir: TempDir,
}

fn fixture(kind: Remote) -> Fixture {
    let dir = TempDir::new("push");
    let local = work_repo(&dir.join("local"));
    let served = dir.join("served");
    let remote = bare_repo(&served.join("remote.git"));
    let (url, daemon) = match kind {
        Remote::File => (file_url(&remote), None),
        Remote::Daemon => {
            let daemon = GitDaemon::start(&served);
            (daemon.url("remote.git"), Some(daemon))
        }
    };
    Fixture {
        local,
        remote,
        url,
        daemon,
        _dir: dir,
    }
}

/// Run `test` once against a file:// remote and once against a git:// daemon.
fn for_each_remote(test: impl Fn(&Fixture)) {
    for kind in [Remote::File, Remote::Daemon] {
        eprintln!("--- remote: {kind:?}");
        let fixture = fixture(kind);
        test(&fixture);
        if let Some(daemon) = &fixture.daemon {
            eprintln!("daemon log:\n{}", daemon.log());
        }
    }
}

fn oid(hex: &str) -> gix::ObjectId {
    gix::ObjectId::from_hex(hex.as_bytes()).expect("object id")
}

fn short_net() -> NetOptions {
    NetOptions {
        timeout: std::time::Duration::from_secs(20),
        ..Default::default()
    }
}

/// Push `new` to `name` from the local repository (opened afresh, so it sees new objects).
fn push_ref(
    f: &Fixture,
    name: &str,
    expected_old: Option<&str>,
    new: &str,
    force: bool,
) -> gitops_agent::error::Result<()> {
    let repo = gix::open(&f.local).expect("open local repo");
    let update = RefUpdate {
        force,
        ..update(name, expected_old, new)
    };
    push(&repo, &f.url.as_str().into(), &short_net(), &update)
}

/// The remote ref is at `expected` and the remote repository is complete and valid.
fn assert_remote(f: &Fixture, name: &str, expected: &str) {
    assert_eq!(
        rev_parse(&f.remote, name).as_deref(),
        Some(expected),
        "{name} on {}",
        f.url
    );
    fsck(&f.remote);
}

fn commit_tree(repo: &Path, tree_of: &str, parent: Option<&str>, message: &str) -> String {
    let tree = format!("{tree_of}^{{tree}}");
    let mut args = vec!["commit-tree", tree.as_str(), "-m", message];
    if let Some(p) = parent {
        args.extend(["-p", p]);
    }
    git(repo, &args)
}

#[test]
fn creates_branches_on_empty_and_non_empty_remote() {
    for_each_remote(|f| {
        commit_file(&f.local, "a.txt", "one\n", "first");
        let c2 = commit_file(&f.local, "dir/b.txt", "two\n", "second");
        push_ref(f, "refs/heads/main", None, &c2, false).expect("create on empty remote");
        assert_remote(f, "refs/heads/main", &c2);

        // An orphan branch next to an existing one, as the monitoring branch is.
        git(
            &f.local,
            &["checkout", "--quiet", "--orphan", "main-monitoring"],
        );
        git(&f.local, &["rm", "--quiet", "-r", "-f", "."]);
        let m1 = commit_file(&f.local, "edge.toml", "overall_status = \"ok\"\n", "status");
        push_ref(f, "refs/heads/main-monitoring", None, &m1, false).expect("create orphan branch");
        assert_remote(f, "refs/heads/main-monitoring", &m1);
        assert_remote(f, "refs/heads/main", &c2);

        // A branch built on what the remote has: only the new objects are needed.
        git(&f.local, &["checkout", "--quiet", "-b", "feature", &c2]);
        let c3 = commit_file(&f.local, "dir/c.txt", "three\n", "third");
        push_ref(f, "refs/heads/feature", None, &c3, false).expect("create branch on top of main");
        assert_remote(f, "refs/heads/feature", &c3);
    });
}

#[test]
fn fast_forwards() {
    for_each_remote(|f| {
        let c1 = commit_file(&f.local, "a.txt", "one\n", "first");
        push_ref(f, "refs/heads/main", None, &c1, false).expect("create");
        assert_eq!(loose_object_count(&f.remote), 3, "commit, tree, blob");
        commit_file(&f.local, "a.txt", "two\n", "second");
        let c3 = commit_file(&f.local, "b.txt", "three\n", "third");
        push_ref(f, "refs/heads/main", Some(&c1), &c3, false).expect("fast-forward");
        assert_remote(f, "refs/heads/main", &c3);
        // Only what the remote lacks: 2 commits, 2 trees, 2 blobs (a.txt's first version
        // and nothing else is sent again).
        assert_eq!(loose_object_count(&f.remote), 3 + 6);
    });
}

/// Local objects in packs with deltas (as after a clone or gc) are copied or, when their
/// base is not sent, re-encoded: the remote must end up complete either way.
#[test]
fn pushes_from_packed_repository_with_deltas() {
    for_each_remote(|f| {
        let big: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        commit_file(&f.local, "big.txt", &big, "v0");
        let mut tip = String::new();
        for v in 1..4 {
            tip = commit_file(
                &f.local,
                "big.txt",
                &format!("{big}v{v}\n"),
                &format!("v{v}"),
            );
        }
        git(&f.local, &["gc", "--quiet", "--aggressive"]);
        push_ref(f, "refs/heads/main", None, &tip, false).expect("push packed history");
        assert_remote(f, "refs/heads/main", &tip);

        let old = tip.clone();
        for v in 4..7 {
            tip = commit_file(
                &f.local,
                "big.txt",
                &format!("{big}v{v}\n"),
                &format!("v{v}"),
            );
        }
        git(&f.local, &["gc", "--quiet", "--aggressive"]);
        push_ref(f, "refs/heads/main", Some(&old), &tip, false).expect("push on top");
        assert_remote(f, "refs/heads/main", &tip);
    });
}

#[test]
fn moves_ref_to_object_the_remote_has_with_empty_pack() {
    for_each_remote(|f| {
        let c1 = commit_file(&f.local, "a.txt", "one\n", "first");
        let c2 = commit_file(&f.local, "a.txt", "two\n", "second");
        push_ref(f, "refs/heads/main", None, &c2, false).expect("create");
        push_ref(f, "refs/heads/old", None, &c1, false).expect("new ref at an existing commit");
        assert_remote(f, "refs/heads/old", &c1);
    });
}

#[test]
fn forced_update_replaces_history_with_squashed_chain() {
    for_each_remote(|f| {
        commit_file(&f.local, "a.txt", "1\n", "c1");
        let c2 = commit_file(&f.local, "a.txt", "2\n", "c2");
        let c3 = commit_file(&f.local, "b.txt", "3\n", "c3");
        let c4 = commit_file(&f.local, "a.txt", "4\n", "c4");
        push_ref(f, "refs/heads/main", None, &c4, false).expect("create");

        // What the history trim does: c1..c2 squashed into one parentless commit with c2's
        // tree, c3 and c4 replayed on it unchanged in content.
        let squash = commit_tree(&f.local, &c2, None, "History trimmed");
        let r3 = commit_tree(&f.local, &c3, Some(&squash), "c3");
        let r4 = commit_tree(&f.local, &c4, Some(&r3), "c4");

        let err = push_ref(f, "refs/heads/main", Some(&c4), &r4, false).expect_err("needs force");
        assert!(err.message().contains("not a fast-forward"), "{err}");
        assert_eq!(err.kind(), Kind::Invalid);
        assert_remote(f, "refs/heads/main", &c4);

        push_ref(f, "refs/heads/main", Some(&c4), &r4, true).expect("forced update");
        assert_remote(f, "refs/heads/main", &r4);
        assert_eq!(
            git(&f.remote, &["rev-list", "--count", "refs/heads/main"]),
            "3"
        );
        assert_eq!(
            git(&f.remote, &["rev-parse", "refs/heads/main^{tree}"]),
            git(&f.local, &["rev-parse", &format!("{c4}^{{tree}}")])
        );
    });
}

#[test]
fn no_op_when_remote_already_there() {
    for_each_remote(|f| {
        let c1 = commit_file(&f.local, "a.txt", "one\n", "first");
        push_ref(f, "refs/heads/main", None, &c1, false).expect("create");
        push_ref(f, "refs/heads/main", Some(&c1), &c1, false).expect("no-op");
        // A caller with a stale idea of the remote still gets success: the remote is
        // already where it wants it.
        push_ref(f, "refs/heads/main", None, &c1, false).expect("no-op with stale expectation");
        assert_remote(f, "refs/heads/main", &c1);
    });
}

#[test]
fn refuses_when_expected_old_does_not_match() {
    for_each_remote(|f| {
        let c1 = commit_file(&f.local, "a.txt", "one\n", "first");
        let c2 = commit_file(&f.local, "a.txt", "two\n", "second");
        let c3 = commit_file(&f.local, "a.txt", "three\n", "third");
        push_ref(f, "refs/heads/main", None, &c2, false).expect("create");

        let err = push_ref(f, "refs/heads/main", Some(&c1), &c3, true).expect_err("moved");
        let msg = err.message();
        eprintln!("error: {msg}");
        assert!(msg.contains("remote ref moved"), "{msg}");
        assert!(msg.contains("refs/heads/main"), "names the ref: {msg}");
        assert!(msg.contains(&f.url), "names the url: {msg}");
        assert_eq!(err.kind(), Kind::RefMoved);
        assert!(err.can_retry());

        let err = push_ref(f, "refs/heads/main", None, &c3, false).expect_err("exists already");
        assert!(err.message().contains("remote ref moved"), "{err}");
        assert_eq!(err.kind(), Kind::RefMoved);

        let err =
            push_ref(f, "refs/heads/absent", Some(&c1), &c3, false).expect_err("does not exist");
        assert!(err.message().contains("remote ref moved"), "{err}");
        assert_eq!(rev_parse(&f.remote, "refs/heads/absent"), None);
        assert_remote(f, "refs/heads/main", &c2);
    });
}

#[test]
fn refuses_non_fast_forward_without_force() {
    for_each_remote(|f| {
        let c1 = commit_file(&f.local, "a.txt", "one\n", "first");
        let c2 = commit_file(&f.local, "a.txt", "two\n", "second");
        push_ref(f, "refs/heads/main", None, &c2, false).expect("create");
        git(&f.local, &["checkout", "--quiet", "-b", "other", &c1]);
        let d2 = commit_file(&f.local, "a.txt", "diverged\n", "diverged");

        let err = push_ref(f, "refs/heads/main", Some(&c2), &d2, false).expect_err("not ff");
        assert!(err.message().contains("not a fast-forward"), "{err}");
        assert_eq!(err.kind(), Kind::Invalid);
        assert_remote(f, "refs/heads/main", &c2);
    });
}

#[test]
fn server_rejection_carries_its_reason() {
    for_each_remote(|f| {
        let c1 = commit_file(&f.local, "a.txt", "one\n", "first");
        let c2 = commit_file(&f.local, "a.txt", "two\n", "second");
        push_ref(f, "refs/heads/main", None, &c2, false).expect("create");
        git(
            &f.remote,
            &["config", "receive.denyNonFastForwards", "true"],
        );
        let rewritten = commit_tree(&f.local, &c2, None, "squashed");

        let err = push_ref(f, "refs/heads/main", Some(&c2), &rewritten, true).expect_err("denied");
        let msg = err.message();
        eprintln!("error: {msg}");
        assert!(msg.contains("rejected by the remote"), "{msg}");
        assert!(msg.contains("non-fast-forward"), "server's reason: {msg}");
        assert!(
            msg.contains("refs/heads/main") && msg.contains(&f.url),
            "{msg}"
        );
        assert_remote(f, "refs/heads/main", &c2);
        let _ = c1;
    });
}

#[test]
fn pre_receive_hook_message_reaches_the_error() {
    for_each_remote(|f| {
        let c1 = commit_file(&f.local, "a.txt", "one\n", "first");
        let hook = f.remote.join("hooks").join("pre-receive");
        std::fs::write(
            &hook,
            "#!/bin/sh\necho 'policy: this repository is frozen' >&2\nexit 1\n",
        )
        .expect("write hook");
        make_executable(&hook);

        let err = push_ref(f, "refs/heads/main", None, &c1, false).expect_err("hook declines");
        let msg = err.message();
        eprintln!("error: {msg}");
        assert!(msg.contains("pre-receive hook declined"), "{msg}");
        assert!(
            msg.contains("policy: this repository is frozen"),
            "hook output: {msg}"
        );
        assert_eq!(err.kind(), Kind::Rejected);
        assert!(!err.can_retry());
        assert_eq!(rev_parse(&f.remote, "refs/heads/main"), None);
    });
}

#[test]
fn unpack_failure_carries_the_servers_reason() {
    for_each_remote(|f| {
        let big: String = (0..5000).map(|i| format!("{i} ")).collect();
        let c1 = commit_file(&f.local, "a.txt", &big, "first");
        git(&f.remote, &["config", "receive.maxInputSize", "100"]);

        let err = push_ref(f, "refs/heads/main", None, &c1, false).expect_err("too big");
        let msg = err.message();
        eprintln!("error: {msg}");
        match f.daemon {
            None => {
                assert!(
                    msg.contains("maximum allowed size"),
                    "server's reason: {msg}"
                );
                assert_eq!(err.kind(), Kind::Rejected);
            }
            // receive-pack exits with our pack unread, so TCP resets the connection and
            // its report can be lost (`git push` prints "Connection reset by peer" too).
            Some(_) => assert!(
                msg.contains("maximum allowed size")
                    || msg.contains("it may have refused the pack"),
                "{msg}"
            ),
        }
        assert!(
            msg.contains("refs/heads/main") && msg.contains(&f.url),
            "{msg}"
        );
        assert_eq!(rev_parse(&f.remote, "refs/heads/main"), None);
    });
}

/// A pack far larger than socket buffers: the server gives up while the pack is still
/// being sent, so the send itself fails. The error must still say what happened rather
/// than surface a bare "broken pipe" / "connection reset".
#[test]
fn server_hanging_up_mid_pack_is_explained() {
    for_each_remote(|f| {
        // Incompressible text (xorshift hex), so the pack stays ~4 MB.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let big: String = (0..500_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                format!("{:08x}", x as u32)
            })
            .collect();
        let c1 = commit_file(&f.local, "big.txt", &big, "first");
        git(&f.remote, &["config", "receive.maxInputSize", "1000"]);

        let err = push_ref(f, "refs/heads/main", None, &c1, false).expect_err("too big");
        let msg = err.message();
        eprintln!("error: {msg}");
        assert!(
            msg.contains("maximum allowed size") || msg.contains("it may have refused the pack"),
            "{msg}"
        );
        assert!(
            msg.contains("refs/heads/main") && msg.contains(&f.url),
            "{msg}"
        );
        assert_eq!(rev_parse(&f.remote, "refs/heads/main"), None);
    });
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Env vars handing the child test its job (see `git_daemon_push_without_git_on_path`).
const CHILD_LOCAL: &str = "GITOPS_PUSH_TEST_LOCAL";
const CHILD_URL: &str = "GITOPS_PUSH_TEST_URL";
const CHILD_NEW: &str = "GITOPS_PUSH_TEST_NEW";

/// git:// pushes must not need a `git` executable (devices have none). The push runs in a
/// child test process whose PATH holds no git; the daemon and the checks stay here.
#[test]
fn git_daemon_push_without_git_on_path() {
    let f = fixture(Remote::Daemon);
    let c1 = commit_file(&f.local, "a.txt", "one\n", "first");
    let empty_path = TempDir::new("no-git-path");
    let out = std::process::Command::new(std::env::current_exe().expect("current exe"))
        .args([
            "--exact",
            "push_child_without_git",
            "--ignored",
            "--nocapture",
        ])
        .env("PATH", empty_path.path())
        .env(CHILD_LOCAL, &f.local)
        .env(CHILD_URL, &f.url)
        .env(CHILD_NEW, &c1)
        .output()
        .expect("run child test");
    assert!(
        out.status.success(),
        "child failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The filter must have matched exactly the child test, or nothing was checked.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_remote(&f, "refs/heads/main", &c1);
}

/// The child half of `git_daemon_push_without_git_on_path`; does nothing when run alone.
#[test]
#[ignore = "run by git_daemon_push_without_git_on_path"]
fn push_child_without_git() {
    let (Some(local), Some(url), Some(new)) = (
        std::env::var_os(CHILD_LOCAL),
        std::env::var(CHILD_URL).ok(),
        std::env::var(CHILD_NEW).ok(),
    ) else {
        return;
    };
    assert!(
        std::process::Command::new("git")
            .arg("--version")
            .output()
            .is_err(),
        "git must not be reachable in the child"
    );
    let repo = gix::open(PathBuf::from(local)).expect("open local repo");
    let update = RefUpdate {
        name: "refs/heads/main".into(),
        expected_old: None,
        new: oid(&new),
        force: false,
    };
    push(&repo, &url.as_str().into(), &short_net(), &update).expect("push without git on PATH");
}

fn update(name: &str, expected_old: Option<&str>, new: &str) -> RefUpdate {
    RefUpdate {
        name: name.to_string(),
        expected_old: expected_old.map(oid),
        new: oid(new),
        force: false,
    }
}

/// A session opened ahead, while the caller fetches the head it will build on (issue 8),
/// shows the ref as it was before that fetch; the update on the fetched head lands. A session
/// opened at once takes the same stale view as a move and sends nothing.
#[test]
fn a_session_opened_ahead_lands_on_the_head_fetched_after_it() {
    for_each_remote(|f| {
        let c1 = commit_file(&f.local, "a.txt", "one\n", "first");
        let c2 = commit_file(&f.local, "a.txt", "two\n", "second");
        let c3 = commit_file(&f.local, "a.txt", "three\n", "third");
        push_ref(f, "refs/heads/main", None, &c1, false).expect("create");
        // Keep pushed packs as they came (no unpacking into loose objects).
        git(&f.remote, &["config", "receive.unpackLimit", "1"]);
        let (url, stop) = (f.url.as_str().into(), AtomicBool::new(false));
        let ahead = Session::open(&url, &short_net(), &stop, true).expect("open ahead");
        let at_once = Session::open(&url, &short_net(), &stop, false).expect("open at once");
        // Another device's push, then this device's fetch (it has c2).
        push_ref(f, "refs/heads/main", Some(&c1), &c2, false).expect("the other device");
        let repo = gix::open(&f.local).expect("open local repo");

        let main = update("refs/heads/main", Some(&c2), &c3);
        let err = at_once.send(&repo, &main, &stop).expect_err("stale view");
        assert_eq!(err.kind(), Kind::RefMoved, "{err}");
        assert_remote(f, "refs/heads/main", &c2);
        let before = pack_indexes(&f.remote);
        ahead
            .send(&repo, &main, &stop)
            .expect("lands on the fetched head");
        assert_remote(f, "refs/heads/main", &c3);
        // The pushed pack holds c3 with its tree and blob, not c2's objects again (the
        // fetched head counts as a tip the remote has).
        assert_eq!(
            new_pack_objects(&f.remote, &before).1.iter().sum::<usize>(),
            3
        );
    });
}

/// The race a session opened ahead can still lose: another device pushes after this one
/// fetched. The server's compare-and-swap refuses the update (a lost race, `RefMoved`); a
/// head the advertisement shows and this repository never saw is known lost before the pack.
#[test]
fn a_session_opened_ahead_loses_to_a_push_after_the_fetch() {
    for_each_remote(|f| {
        let c1 = commit_file(&f.local, "a.txt", "one\n", "first");
        let c2 = commit_file(&f.local, "a.txt", "two\n", "second");
        let c3 = commit_file(&f.local, "a.txt", "three\n", "third");
        push_ref(f, "refs/heads/main", None, &c1, false).expect("create");
        let (url, stop) = (f.url.as_str().into(), AtomicBool::new(false));
        let repo = gix::open(&f.local).expect("open local repo");

        // Fetched c1, built c3 on it; c2 lands meanwhile.
        let ahead = Session::open(&url, &short_net(), &stop, true).expect("open ahead");
        push_ref(f, "refs/heads/main", Some(&c1), &c2, false).expect("the other device");
        let err = ahead
            .send(&repo, &update("refs/heads/main", Some(&c1), &c3), &stop)
            .expect_err("lost on the server");
        eprintln!("error: {err}");
        assert_eq!(err.kind(), Kind::RefMoved, "{err}");
        assert_remote(f, "refs/heads/main", &c2);

        // A head made elsewhere (not in the local repository) is there before the session.
        let tree = format!("{c2}^{{tree}}");
        let other = git(
            &f.remote,
            &["commit-tree", &tree, "-p", &c2, "-m", "elsewhere"],
        );
        git(&f.remote, &["update-ref", "refs/heads/main", &other]);
        let ahead = Session::open(&url, &short_net(), &stop, true).expect("open ahead");
        let err = ahead
            .send(&repo, &update("refs/heads/main", Some(&c2), &c3), &stop)
            .expect_err("known lost");
        assert_eq!(err.kind(), Kind::RefMoved, "{err}");
        assert!(
            err.message().contains(&format!("remote has {other}")),
            "{err}"
        );
        assert_remote(f, "refs/heads/main", &other);
    });
}
