//! End-to-end behaviour of `gitops-agent --once` against real remotes (file:// bare repos and
//! a `git daemon` on 127.0.0.1), checked with the git CLI: a pass, its commands and its
//! report (SPEC §1–§6). Drift: `agent_drift.rs`; monitoring branch: `agent_monitoring.rs`;
//! command line, config and signals: `agent_cli.rs`; remotes and links: `agent_network.rs`.

mod common;

use std::fs;

use common::agent::{head, runs, sha256_hex, web_world};
use common::scenario::{Scenario, INFRA};
use common::{commit_file, fsck, git};

#[test]
fn first_pass_clones_checks_out_copies_and_reports_healthy() {
    let s = Scenario::new();
    let (_code, c1) = web_world(&s);
    s.once().expect_code(0);

    let srv = s.srv("web");
    assert_eq!(head(&srv), c1);
    // detached HEAD, clean worktree
    assert!(
        !common::try_git(&srv, &["symbolic-ref", "-q", "HEAD"])
            .status
            .success(),
        "HEAD must be detached"
    );
    assert_eq!(
        git(&srv, &["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    assert_eq!(
        fs::read_to_string(srv.join("conf/.env")).unwrap(),
        "PORT=80\n"
    );
    assert_eq!(
        runs(&s, "pre"),
        0,
        "pre runs only when the code folder already existed"
    );
    assert_eq!(runs(&s, "post"), 1);

    let fb = s.feedback();
    assert_eq!(fb["overall_status"].as_str(), Some("✅ all 1 apps healthy"));
    assert!(fb["last-updated"].as_str().unwrap().len() == 19);
    let web = &fb["web"];
    assert_eq!(web["status"].as_str(), Some("✅ healthy"));
    assert_eq!(
        web["config-updation"]["updation-return-value"].as_bool(),
        Some(true)
    );
    assert_eq!(
        web["app-updation"]["updation-return-value"].as_bool(),
        Some(true)
    );
    let latest = web["app-updation"]["git-repo-latest-commit"]
        .as_str()
        .unwrap();
    let expected = git(&srv, &["log", "-1", "--pretty=format:'%h - %s (%an, %ad)'"]);
    assert_eq!(latest, expected);
    assert_eq!(
        web["extra-command-output"]["command-return-val"].as_str(),
        Some("{'post': 0}")
    );

    // the status commit: identity and message
    let who = git(
        &s.deploy_bare,
        &[
            "log",
            "-1",
            "--format=%an <%ae>|%cn <%ce>|%s",
            "main-monitoring",
        ],
    );
    assert_eq!(who, format!("{INFRA} <gitops-agent@{INFRA}>|{INFRA} <gitops-agent@{INFRA}>|✅ Status: all 1 apps healthy"));
    // the monitoring branch is an orphan: it shares no history with main
    assert_eq!(s.monitoring_commits(), 1);
    fsck(&s.deploy_bare);
}

#[test]
fn layout_matches_the_python_agent() {
    let s = Scenario::new();
    web_world(&s);
    s.once().expect_code(0);
    let hash = &sha256_hex(s.deploy_url.trim_end_matches(".git"))[..8];
    let base = s
        .home
        .join("app-configs")
        .join(format!("deploy@main-{hash}"));
    assert!(base.join(".git").is_dir(), "{} missing", base.display());
    assert!(base.join(INFRA).join("infra_meta.toml").is_file());
    let mon = s
        .home
        .join("app-configs")
        .join(format!("deploy@main-{hash}-monitoring"));
    assert!(mon.join(".git").is_dir());
    // the pushed report is on disk too, with a clean index and the branch checked out
    assert_eq!(
        fs::read_to_string(mon.join(format!("{INFRA}.toml"))).unwrap(),
        s.feedback_text() + "\n"
    );
    assert_eq!(git(&mon, &["status", "--porcelain"]), "");
    assert_eq!(
        git(&mon, &["symbolic-ref", "--short", "HEAD"]),
        "main-monitoring"
    );
    // the clones stay usable by the git CLI
    assert_eq!(
        git(&base, &["rev-parse", "HEAD"]),
        git(&s.deploy_bare, &["rev-parse", "main"])
    );
}

#[test]
fn unchanged_world_makes_no_commit_and_runs_nothing() {
    let s = Scenario::new();
    web_world(&s);
    s.once().expect_code(0);
    let head1 = s.monitoring_head();
    let file1 = s.feedback_text();
    std::thread::sleep(std::time::Duration::from_millis(1100)); // last-updated would differ
    s.once().expect_code(0);
    s.once().expect_code(0);
    assert_eq!(s.monitoring_head(), head1);
    assert_eq!(s.feedback_text(), file1, "file must stay byte-identical");
    assert_eq!(runs(&s, "post"), 1);
    assert_eq!(runs(&s, "pre"), 0);
}

#[test]
fn force_report_commits_even_when_unchanged() {
    let s = Scenario::new();
    web_world(&s);
    s.once().expect_code(0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.once_with(&["--force-report"]).expect_code(0);
    assert_eq!(s.monitoring_commits(), 2);
    fsck(&s.deploy_bare);
}

#[test]
fn new_commit_is_checked_out_and_stale_files_removed_untracked_kept() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n"), ("lib/old.txt", "old\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    let srv = s.srv("web");
    fs::write(srv.join("local-untracked.log"), "keep me").unwrap();

    git(&code.work, &["rm", "-q", "lib/old.txt"]);
    let c2 = commit_file(&code.work, "app.txt", "v2\n", "v2");
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    s.infra_meta(&[s.section("web", &code, &c2, "")]);
    s.once().expect_code(0);

    assert_eq!(head(&srv), c2);
    assert_eq!(fs::read_to_string(srv.join("app.txt")).unwrap(), "v2\n");
    assert!(
        !srv.join("lib/old.txt").exists(),
        "file the new commit lacks must go"
    );
    assert!(!srv.join("lib").exists(), "its emptied folder too");
    assert_eq!(
        fs::read_to_string(srv.join("local-untracked.log")).unwrap(),
        "keep me"
    );
    assert_eq!(
        git(&srv, &["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
}

#[test]
fn section_change_alone_triggers_an_update() {
    let s = Scenario::new();
    let marker = s.path().join("post-runs");
    let (code, c1) = s.one_app(&format!("echo a >> {}", marker.display()));
    s.once().expect_code(0);
    s.once().expect_code(0);
    assert_eq!(runs(&s, "post"), 1);
    s.infra_meta(&[s.section(
        "web",
        &code,
        &c1,
        &format!("post_updation_command = \"echo b >> {}\"", marker.display()),
    )]);
    s.once().expect_code(0);
    assert_eq!(runs(&s, "post"), 2);
    assert_eq!(fs::read_to_string(&marker).unwrap(), "a\nb\n");
}

#[test]
fn migrated_device_in_sync_adopts_its_section_without_running_commands() {
    let s = Scenario::new();
    let (code, c1) = web_world(&s);
    // the Python agent left the code in place: same clone, no record of ours
    git(
        s.path(),
        &[
            "clone",
            "--quiet",
            &code.url,
            s.srv("web").to_str().unwrap(),
        ],
    );
    git(&s.srv("web"), &["checkout", "--quiet", &c1]);
    fs::create_dir_all(s.srv("web").join("conf")).unwrap();
    fs::write(s.srv("web").join("conf/.env"), "PORT=80\n").unwrap();
    s.once().expect_code(0);
    assert_eq!(runs(&s, "post"), 0);
    assert_eq!(runs(&s, "pre"), 0);
    assert!(s.home.join("state/applied/web.toml").is_file());
    // ... and a later section change is then noticed
    s.once().expect_code(0);
    assert_eq!(runs(&s, "post"), 0);
}

#[test]
fn failed_post_command_is_retried_and_reported() {
    let s = Scenario::new();
    let marker = s.path().join("post-runs");
    s.one_app(&format!(
        "echo post >> {}; printf '\\\\033[31mboom\\\\033[0m'; exit 7",
        marker.display()
    ));
    s.once().expect_code(1);
    let fb = s.feedback();
    assert_eq!(
        fb["web"]["status"].as_str(),
        Some("❌ post-command exited non-zero")
    );
    assert_eq!(
        fb["web"]["extra-command-output"]["command-return-val"].as_str(),
        Some("{'post': 7}")
    );
    let logs = fb["web"]["extra-command-output"]["command-run-logs"]
        .as_str()
        .unwrap();
    assert!(
        logs.contains("boom") && !logs.contains('\u{1b}'),
        "{logs:?}"
    );
    assert_eq!(
        fb["overall_status"].as_str(),
        Some("⚠️ 1 of 1 apps need attention: web")
    );
    let msg = git(
        &s.deploy_bare,
        &["log", "-1", "--format=%s", "main-monitoring"],
    );
    assert_eq!(msg, "⚠️ Status: 1 of 1 issues (web)");
    s.once().expect_code(1);
    assert_eq!(
        runs(&s, "post"),
        2,
        "a failed apply is not recorded, so it is retried"
    );
}

#[test]
fn nothing_ran_carries_previous_command_output_forward() {
    let s = Scenario::new();
    web_world(&s);
    s.once().expect_code(0);
    let before = s.feedback();
    s.once_with(&["--force-report"]).expect_code(0);
    let after = s.feedback();
    assert_eq!(
        after["web"]["extra-command-output"],
        before["web"]["extra-command-output"]
    );
    assert_eq!(
        after["web"]["extra-command-output"]["command-return-val"].as_str(),
        Some("{'post': 0}")
    );
}

#[test]
fn one_bad_app_section_does_not_stop_the_others() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let bad = format!(
        "[api]\ncode_url = \"{}\"\ncode_commit_hash = \"{c1}\"\ncode_local_path = \"{}\"\nconfig_src_path_rel_in_this_repo = \"x\"\n",
        code.url,
        s.srv("api").display()
    );
    let escaping = s.section(
        "db",
        &code,
        &c1,
        "config_files = [ { src = \"../../etc/passwd\", dst = \"/tmp/x\" } ]",
    );
    s.infra_meta(&[s.section("web", &code, &c1, ""), bad, escaping]);
    s.agent_config(&["web", "api", "db"]);
    s.once().expect_code(1);
    assert_eq!(head(&s.srv("web")), c1);
    assert!(!s.srv("api").exists() && !s.srv("db").exists());
    let fb = s.feedback();
    assert_eq!(fb["web"]["status"].as_str(), Some("✅ healthy"));
    assert_eq!(
        fb["api"]["status"].as_str(),
        Some("❌ config update failed")
    );
    let why = fb["api"]["config-updation"]["git-status"].as_str().unwrap();
    assert!(
        why.contains("config_src_path_rel_in_this_repo") && why.contains("config_files = ["),
        "{why}"
    );
    assert_eq!(fb["db"]["status"].as_str(), Some("❌ config update failed"));
    assert!(fb["db"]["config-updation"]["git-status"]
        .as_str()
        .unwrap()
        .contains("config_files[0].src"));
    assert_eq!(
        fb["overall_status"].as_str(),
        Some("⚠️ 2 of 3 apps need attention: api, db")
    );
}

#[test]
fn missing_config_src_is_skipped_not_looped() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let dst = s.srv("web").join("x.env");
    let marker = s.path().join("post-runs");
    s.infra_meta(&[s.section(
        "web",
        &code,
        &c1,
        &format!(
            "config_files = [ {{ src = \"{INFRA}/nope.env\", dst = \"{}\" }} ]\npost_updation_command = \"echo p >> {}\"",
            dst.display(),
            marker.display()
        ),
    )]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    s.once().expect_code(0);
    assert!(!dst.exists());
    assert_eq!(runs(&s, "post"), 1);
}

#[test]
fn commit_given_as_tag_or_abbreviation() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    git(&code.work, &["tag", "-a", "v1.0", "-m", "release"]);
    let c2 = commit_file(&code.work, "app.txt", "v2\n", "v2");
    git(
        &code.work,
        &["push", "--quiet", "origin", "HEAD:main", "--tags"],
    );
    s.infra_meta(&[
        s.section("web", &code, "v1.0", ""),
        s.section("api", &code, &c2[..9], ""),
    ]);
    s.agent_config(&["web", "api"]);
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c1);
    assert_eq!(head(&s.srv("api")), c2);
    s.once().expect_code(0);
}

#[test]
fn unknown_commit_fails_the_app_with_a_clear_reason() {
    let s = Scenario::new();
    let (code, _c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, "deadbeefdeadbeef", "")]);
    s.agent_config(&["web"]);
    s.once().expect_code(1);
    let fb = s.feedback();
    assert_eq!(fb["web"]["status"].as_str(), Some("❌ app update failed"));
    assert!(fb["web"]["app-updation"]["git-status"]
        .as_str()
        .unwrap()
        .contains("deadbeefdeadbeef"));
}

#[test]
fn in_sync_app_needs_no_network() {
    let s = Scenario::new();
    let (code, c1) = web_world(&s);
    s.once().expect_code(0);
    // the code remote disappears: an app already in sync must not notice
    fs::remove_dir_all(&code.bare).unwrap();
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c1);
    assert_eq!(s.monitoring_commits(), 1);
}
