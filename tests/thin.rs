//! Thin links (SPEC §14): a device downloads the pinned commit and nothing else. The code
//! repo is served by `git daemon` behind a byte-counting proxy (tests/support_proxy); the
//! deploy repo goes over file://, so the proxy sees only what the code repo costs. Every
//! bound is git's own `git fetch --depth 1 <url> <id>` measured on the same proxy.

mod common;
mod support_proxy;
mod support_thin;

use common::scenario::{CodeRepo, Scenario};
use common::{git, GitDaemon};
use support_proxy::{Proxy, Traffic};
use support_thin::*;

/// The refusal's log line (one per refused fetch).
const REFUSED: &str = "refuses to send a commit by id";

struct World {
    s: Scenario,
    code: CodeRepo,
    /// `main`'s commits, oldest first (after the README commit).
    ids: Vec<String>,
    proxy: Proxy,
    _daemon: GitDaemon,
}

/// A device with one app `web` whose code repo (`commits` long) is reached through the
/// proxy; `v0` makes the server speak protocol v0 (see `Proxy::v0_only`).
fn world(commits: usize, v0: bool) -> World {
    let s = Scenario::new();
    let (mut code, ids) = long_history(&s, "web", commits);
    let daemon = GitDaemon::start(&s.path().join("served"));
    let proxy = if v0 {
        Proxy::v0_only(daemon.port())
    } else {
        Proxy::start(daemon.port())
    };
    code.url = format!("git://127.0.0.1:{}/web.git", proxy.port);
    s.agent_config(&["web"]);
    World {
        s,
        code,
        ids,
        proxy,
        _daemon: daemon,
    }
}

impl World {
    /// Pin `web` at `id`, run one pass (it must succeed), return what the code server sent.
    fn sync(&self, id: &str) -> u64 {
        self.sync_traffic(id).bytes
    }

    fn sync_traffic(&self, id: &str) -> Traffic {
        pin(&self.s, &self.code, id);
        self.proxy.take();
        let run = self.s.once();
        eprintln!("{}", run.stderr);
        run.expect_code(0);
        assert!(!run.stderr.contains(REFUSED), "{}", run.stderr);
        assert_eq!(
            self.head(),
            git(&self.code.work, &["rev-parse", &format!("{id}^{{commit}}")])
        );
        self.proxy.take()
    }

    fn head(&self) -> String {
        git(&self.s.srv("web"), &["rev-parse", "HEAD"])
    }

    fn is_shallow(&self) -> bool {
        self.s.srv("web").join(".git/shallow").exists()
    }

    fn push_version(&self, seed: u64) -> String {
        let id = commit_version(&self.code, seed);
        git(&self.code.work, &["push", "--quiet", "origin", "HEAD:main"]);
        id
    }
}

#[test]
fn first_sync_of_a_tip_pin_costs_what_git_fetch_depth_1_costs() {
    let w = world(60, false);
    let tip = w.ids.last().unwrap();
    let agent = w.sync(tip);
    let git_bytes = git_depth_1(&w.proxy, &w.code.url, tip, &[]);
    assert_thin("tip pin", agent, git_bytes);
    assert!(w.is_shallow(), "a depth-1 clone is shallow");
    assert_eq!(commits_held(&w.s.srv("web")), 1);
    git(&w.s.srv("web"), &["fsck", "--no-progress"]);
}

#[test]
fn first_sync_of_an_old_pin_costs_what_git_fetch_depth_1_costs() {
    let w = world(60, false);
    let old = &w.ids[19]; // 40 commits behind the tip
    let agent = w.sync(old);
    let git_bytes = git_depth_1(&w.proxy, &w.code.url, old, &[]);
    assert_thin("old pin", agent, git_bytes);
    assert_eq!(commits_held(&w.s.srv("web")), 1);
}

#[test]
fn an_unrelated_big_branch_is_never_downloaded() {
    let w = world(2, false);
    big_branch(&w.code, "assets", 16 << 20);
    let big = git(&w.code.work, &["rev-parse", "assets"]);
    let tip = w.ids.last().unwrap();
    let agent = w.sync(tip);
    let git_bytes = git_depth_1(&w.proxy, &w.code.url, tip, &[]);
    assert_thin("pin beside a 16 MiB branch", agent, git_bytes);
    assert!(agent < 4 << 20, "{agent} bytes: the big branch came along");
    let out = common::try_git(&w.s.srv("web"), &["cat-file", "-e", &big]);
    assert!(
        !out.status.success(),
        "the big branch's commit is in the clone"
    );
}

#[test]
fn a_move_fetches_the_new_objects_an_unchanged_pass_nothing_and_rollback_stays_local() {
    let w = world(5, false);
    let tip = w.ids.last().unwrap().clone();
    let first = w.sync(&tip);

    // Unchanged: not one connection to the code server.
    w.s.once().expect_code(0);
    assert_eq!(w.proxy.take(), Traffic::NONE);

    // One commit on: its new app.bin, not lib/ again.
    let next = w.push_version(100);
    let moved = w.sync(&next);
    eprintln!("first sync {first} bytes, one-commit move {moved} bytes");
    assert!(
        moved >= APP_BIN as u64 && moved <= APP_BIN as u64 + 65_536,
        "a one-commit move downloaded {moved} bytes; the new objects are ~{APP_BIN}"
    );
    git(&w.s.srv("web"), &["fsck", "--no-progress"]);

    // Back to the previous commit (a rollback): it is still in the clone.
    assert_eq!(w.sync_traffic(&tip), Traffic::NONE);
    assert_eq!(w.sync_traffic(&next), Traffic::NONE);
}

#[test]
fn drift_on_a_shallow_clone_is_corrected_without_the_network() {
    let w = world(3, false);
    let tip = w.ids.last().unwrap().clone();
    w.sync(&tip);
    assert!(w.is_shallow());
    let srv = w.s.srv("web");
    std::fs::write(srv.join("version.txt"), "edited on the device\n").unwrap();
    std::fs::remove_file(srv.join("lib/part0.bin")).unwrap();
    w.s.once().expect_code(0);
    assert_eq!(git(&srv, &["status", "--porcelain"]), "");
    assert_eq!(w.head(), tip);
    assert_eq!(w.proxy.take(), Traffic::NONE);
}

#[test]
fn code_fetch_depth_0_makes_a_shallow_clone_whole_at_its_next_fetch() {
    let mut w = world(10, false);
    w.sync(w.ids.last().unwrap());
    assert!(w.is_shallow());
    w.s.config_extra = "code_fetch_depth = 0".into();
    w.s.agent_config(&["web"]);
    let next = w.push_version(100);
    w.sync(&next);
    assert!(!w.is_shallow(), ".git/shallow is gone");
    // README commit + 10 + the new one
    assert_eq!(commits_held(&w.s.srv("web")), 12);
    git(&w.s.srv("web"), &["fsck", "--no-progress"]);
}

#[test]
fn code_fetch_depth_0_clones_whole_history() {
    let mut w = world(5, false);
    w.s.config_extra = "code_fetch_depth = 0".into();
    w.s.agent_config(&["web"]);
    w.sync(&w.ids[1]);
    assert!(!w.is_shallow());
    assert_eq!(commits_held(&w.s.srv("web")), 3);
}

#[test]
fn a_server_refusing_fetch_by_id_gets_the_fallback_with_one_log_line() {
    // `git daemon` passes the client's `version=2` on to upload-pack, and protocol v2 serves
    // any commit by id; a server that predates v2 (the proxy hides the request for it)
    // serves only advertised tips unless uploadpack.allowReachableSHA1InWant is set.
    let w = world(5, true);
    git(
        &w.code.bare,
        &["config", "uploadpack.allowReachableSHA1InWant", "false"],
    );
    let old = &w.ids[1];
    pin(&w.s, &w.code, old);
    let run = w.s.once();
    run.expect_code(0);
    assert_eq!(w.head(), *old);
    let lines: Vec<&str> = run.stderr.lines().filter(|l| l.contains(REFUSED)).collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].contains(&w.code.url), "{}", lines[0]);
    // The fallback is the whole history of branches and tags, as before.
    assert!(!w.is_shallow());
    assert_eq!(commits_held(&w.s.srv("web")), 3);
    git(&w.s.srv("web"), &["fsck", "--no-progress"]);
}

#[test]
fn a_tip_pin_on_a_v0_server_needs_no_fallback() {
    // An advertised tip is "our ref" even for a v0 server that refuses other ids.
    let w = world(3, true);
    let tip = w.ids.last().unwrap();
    let agent = w.sync(tip);
    let git_bytes = git_depth_1(&w.proxy, &w.code.url, tip, &[]);
    assert_thin("tip pin over protocol v0", agent, git_bytes);
    assert!(w.is_shallow());
}

#[test]
fn a_full_clone_made_by_git_clone_keeps_working_and_is_not_downloaded_again() {
    let w = world(10, false);
    // What the Python agent left: `git clone <code_url>`, then the pinned commit checked out.
    let srv = w.s.srv("web");
    std::fs::create_dir_all(srv.parent().unwrap()).unwrap();
    git(
        srv.parent().unwrap(),
        &["clone", "--quiet", &w.code.url, srv.to_str().unwrap()],
    );
    git(&srv, &["checkout", "--quiet", "--detach", &w.ids[8]]);
    // Adopted as it is: nothing to download.
    assert_eq!(w.sync_traffic(&w.ids[8]), Traffic::NONE);
    // A move to a commit pushed since fetches what the clone lacks; the clone stays whole.
    let next = w.push_version(100);
    let moved = w.sync(&next);
    assert!(
        moved >= APP_BIN as u64 && moved <= APP_BIN as u64 + 65_536,
        "{moved} bytes"
    );
    assert!(!w.is_shallow());
    assert_eq!(commits_held(&srv), 12, "README commit + 10 + the new one");
    git(&srv, &["fsck", "--no-progress"]);
}

#[test]
fn a_tag_pin_fetches_that_tag_only() {
    let w = world(4, false);
    git(
        &w.code.work,
        &["tag", "-a", "v1", "-m", "release 1", &w.ids[1]],
    );
    git(&w.code.work, &["tag", "v2", &w.ids[3]]);
    git(&w.code.work, &["push", "--quiet", "origin", "v1", "v2"]);
    let agent = w.sync("v1");
    let git_bytes = git_depth_1(&w.proxy, &w.code.url, "refs/tags/v1", &[]);
    assert_thin("tag pin", agent, git_bytes);
    let refs = git(&w.s.srv("web"), &["for-each-ref", "--format=%(refname)"]);
    assert_eq!(refs, "refs/tags/v1");
}

#[test]
fn an_abbreviated_pin_is_resolved_from_branches_and_tags() {
    let w = world(4, false);
    let short = &w.ids[1][..10];
    w.sync(short);
    assert_eq!(w.head(), w.ids[1]);
}

#[test]
fn an_unknown_full_id_fails_the_app_without_downloading_the_repo() {
    let w = world(5, false);
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    pin(&w.s, &w.code, unknown);
    w.proxy.take();
    let run = w.s.once();
    run.expect_code(1);
    assert!(!run.stderr.contains(REFUSED), "{}", run.stderr);
    let status = w.s.feedback()["web"]["app-updation"]["git-status"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        status.contains(&format!(
            "code_commit_hash `{unknown}` is not a commit or tag"
        )),
        "{status}"
    );
    let traffic = w.proxy.take();
    assert!(traffic.bytes < 65_536, "{traffic:?}");
}
