//! The monitoring branch, end to end through `--once` (SPEC §5): one status commit per
//! repo and pass, other devices' files kept, history squashed, a deleted branch or a
//! clone left behind its push put right.

mod common;

use std::fs;

use common::agent::web_world;
use common::scenario::{Scenario, INFRA};
use common::{commit_file, fsck, git};

#[test]
fn apps_of_one_repo_share_one_status_commit_per_pass() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[
        s.section("web", &code, &c1, ""),
        s.section("api", &code, &c1, ""),
    ]);
    s.agent_config(&["web", "api"]);
    s.once().expect_code(0);
    assert_eq!(s.monitoring_commits(), 1);
    let fb = s.feedback();
    assert_eq!(fb["overall_status"].as_str(), Some("✅ all 2 apps healthy"));
}

#[test]
fn apps_no_longer_configured_are_kept_in_the_file() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[
        s.section("web", &code, &c1, ""),
        s.section("api", &code, &c1, "post_updation_command = \"exit 1\""),
    ]);
    s.agent_config(&["web", "api"]);
    s.once().expect_code(1);
    s.agent_config(&["web"]);
    // kept apps count in the file but not in this pass's exit code
    s.once().expect_code(0);
    let fb = s.feedback();
    assert!(fb.contains_key("api"));
    assert_eq!(
        fb["overall_status"].as_str(),
        Some("⚠️ 1 of 2 apps need attention: api")
    );
}

#[test]
fn other_devices_files_on_the_monitoring_branch_are_kept() {
    let s = Scenario::new();
    web_world(&s);
    s.once().expect_code(0);
    // another device pushes its own file to the same branch
    let other = s.path().join("other-device");
    git(
        s.path(),
        &[
            "clone",
            "--quiet",
            "--branch",
            "main-monitoring",
            &common::file_url(&s.deploy_bare),
            "other-device",
        ],
    );
    commit_file(
        &other,
        "edge-99.toml",
        "overall_status = \"x\"\n",
        "edge-99",
    );
    git(
        &other,
        &["push", "--quiet", "origin", "HEAD:main-monitoring"],
    );
    s.once_with(&["--force-report"]).expect_code(0);
    let files = git(
        &s.deploy_bare,
        &["ls-tree", "--name-only", "main-monitoring"],
    );
    // README.md: the fleet dashboard every status commit rewrites (SPEC §9)
    assert_eq!(files, format!("README.md\n{INFRA}.toml\nedge-99.toml"));
    fsck(&s.deploy_bare);
}

#[test]
fn old_history_is_squashed_and_force_pushed() {
    let mut s = Scenario::new();
    s.config_extra = "monitoring_history_retention_days = 7".into();
    web_world(&s);
    // an existing monitoring history: three commits 30 days old, one of yesterday
    let ids = s.old_monitoring_history(&[30, 29, 28, 1]);
    let boundary_tree = s.tree_of(&ids[2]);

    s.once().expect_code(0);
    let log = git(
        &s.deploy_bare,
        &["log", "--format=%P|%T|%s", "main-monitoring"],
    );
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines[0].ends_with("✅ Status: all 1 apps healthy"));
    assert!(
        lines[1].ends_with("|old 3"),
        "the newer commit is replayed: {log}"
    );
    let root: Vec<&str> = lines[2].split('|').collect();
    assert_eq!(root[0], "", "squash commit is parentless");
    assert_eq!(
        root[1], boundary_tree,
        "it holds the tree of the newest old commit"
    );
    assert!(
        root[2].starts_with("📉 History trimmed: commits before "),
        "{}",
        root[2]
    );
    fsck(&s.deploy_bare);
    // the next pass does not squash again
    let head = s.monitoring_head();
    s.once().expect_code(0);
    assert_eq!(s.monitoring_head(), head);
}

#[test]
fn retention_zero_squashes_everything_before_now() {
    let mut s = Scenario::new();
    s.config_extra = "monitoring_history_retention_days = 0".into();
    web_world(&s);
    s.once().expect_code(0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.once_with(&["--force-report"]).expect_code(0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.once_with(&["--force-report"]).expect_code(0);
    assert_eq!(
        s.monitoring_commits(),
        2,
        "{}",
        git(&s.deploy_bare, &["log", "--oneline", "main-monitoring"])
    );
    fsck(&s.deploy_bare);
}

#[test]
fn deleted_monitoring_branch_is_published_again() {
    let s = Scenario::new();
    web_world(&s);
    s.once().expect_code(0);
    // An operator resets the dashboard. The device's tracking ref must not make it expect
    // the old tip forever (every push would be refused as a stale compare-and-swap).
    git(
        &s.deploy_bare,
        &[
            "update-ref",
            "-d",
            &format!("refs/heads/{}-monitoring", s.branch),
        ],
    );
    s.once().expect_code(0);
    assert!(s.monitoring_head().is_some(), "branch published again");
    assert_eq!(s.monitoring_commits(), 1);
    assert_eq!(s.feedback()["web"]["status"].as_str(), Some("✅ healthy"));
    fsck(&s.deploy_bare);
}

/// Killed after pushing a report but before showing it in the local monitoring clone (the
/// index already at the new commit, the branch not): the next pass, even with nothing new
/// to report, puts the clone back at the branch head.
#[test]
fn monitoring_clone_left_behind_its_push_is_caught_up() {
    let s = Scenario::new();
    web_world(&s);
    s.once().expect_code(0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.once_with(&["--force-report"]).expect_code(0);
    let mon = fs::read_dir(s.home.join("app-configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-monitoring"))
        .unwrap();
    let head = s.monitoring_head().unwrap();
    git(
        &mon,
        &["update-ref", "refs/heads/main-monitoring", "HEAD~1"],
    );
    assert_ne!(
        git(&mon, &["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    s.once().expect_code(0);
    assert_eq!(
        s.monitoring_head().as_deref(),
        Some(head.as_str()),
        "no new commit"
    );
    assert_eq!(git(&mon, &["rev-parse", "HEAD"]), head);
    assert_eq!(
        git(&mon, &["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    assert_eq!(
        fs::read_to_string(mon.join(format!("{INFRA}.toml"))).unwrap(),
        s.feedback_text() + "\n"
    );
}

/// An unchanged pass reuses what the pass before found (the feedback file is not rebuilt),
/// but only for the same previous file and the same reports: a pass after it whose hook
/// fails is still published.
#[test]
fn an_unchanged_pass_never_hides_the_next_change() {
    let s = Scenario::new();
    let flag = s.path().join("fail-now");
    s.one_app(&format!("test ! -e {}", flag.display()));
    s.once().expect_code(0);
    s.once().expect_code(0);
    assert_eq!(s.monitoring_commits(), 1, "the second pass changed nothing");
    // Drift makes the next pass run the post command again, which now fails.
    fs::write(s.srv("web").join("app.txt"), "edited on the device\n").unwrap();
    fs::write(&flag, "").unwrap();
    s.once().expect_code(1);
    assert_eq!(s.monitoring_commits(), 2, "the failure is published");
    let fb = s.feedback();
    assert_eq!(
        fb["web"]["status"].as_str(),
        Some("❌ post-command exited non-zero")
    );
}
