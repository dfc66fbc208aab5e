//! End-to-end behaviour of `gitops-agent --once` against real remotes (file:// bare repos and
//! a `git daemon` on 127.0.0.1), checked with the git CLI. One test per rule of SPEC §1–§6.

mod common;

use std::fs;

use common::scenario::{Scenario, INFRA};
use common::{commit_file, fsck, git, rev_parse};

/// A scenario with one app `web` at its first commit, with a config file and hooks that
/// count their runs in files next to the code folder.
fn web_world(s: &Scenario) -> (common::scenario::CodeRepo, String) {
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n"), ("lib/old.txt", "old\n")]);
    let counter = s.path().join("post-runs");
    let extra = format!(
        "config_files = [ {{ src = \"{INFRA}/web.env\", dst = \"{}\" }} ]\npre_updation_command = \"echo pre >> {}\"\npost_updation_command = \"echo post >> {}\"",
        s.srv("web").join("conf/.env").display(),
        s.path().join("pre-runs").display(),
        counter.display()
    );
    s.deploy(&[(&format!("{INFRA}/web.env"), "PORT=80\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, &extra)]);
    s.agent_config(&["web"]);
    (code, c1)
}

fn runs(s: &Scenario, which: &str) -> usize {
    fs::read_to_string(s.path().join(format!("{which}-runs")))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn head(dir: &std::path::Path) -> String {
    git(dir, &["rev-parse", "HEAD"])
}

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

/// sha256 by the system tool, independent of the agent's own implementation.
fn sha256_hex(s: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
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
fn drift_is_corrected_modified_and_deleted_files() {
    let s = Scenario::new();
    web_world(&s);
    s.once().expect_code(0);
    let srv = s.srv("web");

    fs::write(srv.join("app.txt"), "hacked\n").unwrap();
    s.once().expect_code(0);
    assert_eq!(fs::read_to_string(srv.join("app.txt")).unwrap(), "v1\n");
    assert_eq!(runs(&s, "post"), 2);
    assert_eq!(runs(&s, "pre"), 1, "pre runs when the folder exists");

    fs::remove_file(srv.join("lib/old.txt")).unwrap();
    s.once().expect_code(0);
    assert_eq!(
        fs::read_to_string(srv.join("lib/old.txt")).unwrap(),
        "old\n"
    );
    assert_eq!(runs(&s, "post"), 3);

    // an untracked file is not drift
    fs::write(srv.join("cache.bin"), "x").unwrap();
    s.once().expect_code(0);
    assert_eq!(runs(&s, "post"), 3);
}

#[test]
fn head_moved_by_hand_is_put_back() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let c2 = commit_file(&code.work, "app.txt", "v2\n", "v2");
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    let srv = s.srv("web");
    // The agent fetched only the pinned commit (SPEC §14): get c2 by hand, as an operator would.
    git(&srv, &["fetch", "--quiet", "origin", "main"]);
    git(&srv, &["checkout", "--quiet", &c2]);
    s.once().expect_code(0);
    assert_eq!(head(&srv), c1);
}

#[test]
fn missing_code_folder_is_recloned() {
    let s = Scenario::new();
    let (_code, c1) = web_world(&s);
    s.once().expect_code(0);
    fs::remove_dir_all(s.srv("web")).unwrap();
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c1);
    assert_eq!(runs(&s, "post"), 2);
}

#[test]
fn config_file_drift_is_recopied() {
    let s = Scenario::new();
    web_world(&s);
    s.once().expect_code(0);
    let env = s.srv("web").join("conf/.env");
    fs::write(&env, "PORT=8080\n").unwrap();
    s.once().expect_code(0);
    assert_eq!(fs::read_to_string(&env).unwrap(), "PORT=80\n");
    assert_eq!(runs(&s, "post"), 2);
    // a new src content in the deploy repo reaches the device
    s.deploy(&[(&format!("{INFRA}/web.env"), "PORT=81\n")]);
    s.once().expect_code(0);
    assert_eq!(fs::read_to_string(&env).unwrap(), "PORT=81\n");
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
fn origin_guard_refuses_a_clone_of_another_repo() {
    let s = Scenario::new();
    web_world(&s);
    let hash = &sha256_hex(s.deploy_url.trim_end_matches(".git"))[..8];
    let dir = s
        .home
        .join("app-configs")
        .join(format!("deploy@main-{hash}"));
    let foreign = common::bare_repo(&s.path().join("foreign.git"));
    fs::create_dir_all(dir.parent().unwrap()).unwrap();
    git(
        s.path(),
        &[
            "clone",
            "--quiet",
            &common::file_url(&foreign),
            dir.to_str().unwrap(),
        ],
    );
    let run = s.once();
    run.expect_code(1);
    assert!(
        run.stderr.contains("foreign") && run.stderr.contains("deploy"),
        "{}",
        run.stderr
    );
    assert_eq!(
        git(&dir, &["remote", "get-url", "origin"]),
        common::file_url(&foreign)
    );
    assert!(!s.srv("web").exists());
}

#[test]
fn bad_agent_config_exits_2_and_clones_nothing() {
    let s = Scenario::new();
    web_world(&s);
    fs::write(
        &s.config,
        "infra_name = \"edge\"\ninterval = -1\n[applications]\nweb = \"x@main\"\n",
    )
    .unwrap();
    let run = s.once();
    run.expect_code(2);
    assert!(
        run.stderr.contains(s.config.to_str().unwrap()) && run.stderr.contains("`interval`"),
        "{}",
        run.stderr
    );
    assert!(!s.home.join("app-configs").exists());
    fs::write(&s.config, "not toml [").unwrap();
    s.once().expect_code(2);
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_gitops-agent"))
        .args(["--once", "--config", "/nonexistent/config.toml"])
        .env("GITOPS_AGENT_HOME", &s.home)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn config_path_from_environment() {
    let s = Scenario::new();
    web_world(&s);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gitops-agent"))
        .arg("--once")
        .env("GITOPS_AGENT_CONFIG", &s.config)
        .env("GITOPS_AGENT_HOME", &s.home)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(s.srv("web").join("app.txt").exists());
}

#[test]
fn second_agent_waits_for_the_lock_then_exits_3() {
    let s = Scenario::new();
    web_world(&s);
    fs::create_dir_all(&s.home).unwrap();
    let held = gitops_agent::lock::acquire(
        &s.home.join("agent.lock"),
        std::time::Duration::ZERO,
        &std::sync::atomic::AtomicBool::new(false),
    )
    .unwrap();
    let run = s.once();
    run.expect_code(3);
    assert!(
        run.stderr.contains("another gitops-agent"),
        "{}",
        run.stderr
    );
    assert!(!s.srv("web").exists());
    drop(held);
    s.once().expect_code(0);
}

#[test]
fn help_explains_flags_and_environment() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gitops-agent"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--config",
        "--once",
        "--force-report",
        "--configure",
        "--version",
        "GITOPS_AGENT_CONFIG",
        "GITOPS_AGENT_HOME",
        "3",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
    let v = std::process::Command::new(env!("CARGO_BIN_EXE_gitops-agent"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("gitops-agent "));
}

#[test]
fn git_daemon_remote_with_no_git_on_path() {
    let s = Scenario::with_daemon();
    let (code, c1) = web_world(&s);
    let empty_bin = s.path().join("empty-bin");
    fs::create_dir_all(&empty_bin).unwrap();
    let run: common::scenario::Run = s
        .agent()
        .arg("--once")
        .env("PATH", &empty_bin)
        .output()
        .unwrap()
        .into();
    // hooks need `sh`, which is not on this PATH: the git work must still be complete
    assert_eq!(head(&s.srv("web")), c1, "{}", run.stderr);
    assert!(s.monitoring_head().is_some(), "{}", run.stderr);
    fsck(&s.deploy_bare);
    // an update over git:// too, still without git
    let c2 = commit_file(&code.work, "app.txt", "v2\n", "v2");
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    s.infra_meta(&[s.section("web", &code, &c2, "")]);
    let run: common::scenario::Run = s
        .agent()
        .arg("--once")
        .env("PATH", &empty_bin)
        .output()
        .unwrap()
        .into();
    run.expect_code(0);
    assert_eq!(head(&s.srv("web")), c2);
    assert_eq!(
        rev_parse(&s.deploy_bare, "main-monitoring").map(|_| ()),
        Some(())
    );
    fsck(&s.deploy_bare);
}

#[test]
fn unreachable_deploy_repo_fails_that_group_only() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    let dead = "git://127.0.0.1:9/nothing.git";
    fs::write(
        &s.config,
        format!(
            "infra_name = \"{INFRA}\"\nnetwork_timeout = 5\n[applications]\nweb = \"{}@main\"\nghost = \"{dead}@main\"\n",
            s.deploy_url
        ),
    )
    .unwrap();
    let run = s.once();
    run.expect_code(1);
    assert_eq!(head(&s.srv("web")), c1);
    assert!(run.stderr.contains("127.0.0.1:9"), "{}", run.stderr);
}

#[test]
fn unchanged_pass_contacts_the_deploy_repo_twice_and_nothing_else() {
    let s = Scenario::with_daemon();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[
        s.section("web", &code, &c1, ""),
        s.section("api", &code, &c1, ""),
    ]);
    s.agent_config(&["web", "api"]);
    s.once().expect_code(0);
    let daemon = s.daemon.as_ref().unwrap();
    let requests = |log: &str| {
        log.matches("Request upload-pack").count() + log.matches("Request receive-pack").count()
    };
    let before = requests(&daemon.log());
    s.once().expect_code(0);
    // give the daemon a moment to flush its log
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = daemon.log();
    let after = requests(&log);
    assert_eq!(
        after - before,
        2,
        "expected one fetch of main and one of main-monitoring:\n{log}"
    );
    let tail: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Request "))
        .skip(before)
        .collect();
    assert!(tail.iter().all(|l| l.contains("deploy.git")), "{tail:?}");
}

#[test]
fn code_folder_owned_by_another_user_is_adopted() {
    use std::os::unix::fs::MetadataExt;
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to chown");
        return;
    }
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    // a service user took the app's files (a `.git` owned by someone else is refused
    // instead, SPEC §10: tests/security_clones.rs)
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("chown 65534:65534 \"$1\" && find \"$1\" -mindepth 1 -maxdepth 1 ! -name .git -exec chown -R 65534:65534 {} +")
        .arg("sh")
        .arg(s.srv("web"))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(fs::metadata(s.srv("web")).unwrap().uid(), 65534);
    fs::write(s.srv("web").join("app.txt"), "drift\n").unwrap();
    s.once().expect_code(0);
    assert_eq!(fs::metadata(s.srv("web")).unwrap().uid(), 0);
    assert_eq!(
        fs::metadata(s.srv("web").join(".git/HEAD")).unwrap().uid(),
        0
    );
    assert_eq!(
        fs::read_to_string(s.srv("web").join("app.txt")).unwrap(),
        "v1\n"
    );
}

#[test]
fn black_holed_remote_fails_its_group_within_the_timeout() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    // accepts connections and never says a word
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hole.local_addr().unwrap().port();
    let _keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in hole.incoming() {
            held.push(c);
        }
    });
    fs::write(
        &s.config,
        format!(
            "infra_name = \"{INFRA}\"\nnetwork_timeout = 2\n[applications]\nghost = \"git://127.0.0.1:{port}/deploy.git@main\"\nweb = \"{}@main\"\n",
            s.deploy_url
        ),
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    let run = s.once();
    let took = t0.elapsed();
    run.expect_code(1);
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
    assert_eq!(head(&s.srv("web")), c1, "the other group still reconciles");
    assert_eq!(s.feedback()["web"]["status"].as_str(), Some("✅ healthy"));
}

#[test]
fn code_folder_cloned_from_another_repo_is_refused_without_running_hooks() {
    let s = Scenario::new();
    let (_code, _c1) = web_world(&s);
    let (other, _) = s.code_repo("other", &[("x.txt", "x\n")]);
    git(
        s.path(),
        &[
            "clone",
            "--quiet",
            &other.url,
            s.srv("web").to_str().unwrap(),
        ],
    );
    s.once().expect_code(1);
    s.once().expect_code(1);
    assert_eq!(
        runs(&s, "pre"),
        0,
        "no hook for a folder the agent will not touch"
    );
    assert_eq!(runs(&s, "post"), 0);
    let fb = s.feedback();
    assert_eq!(fb["web"]["status"].as_str(), Some("❌ app update failed"));
    let why = fb["web"]["app-updation"]["git-status"].as_str().unwrap();
    assert!(
        why.contains("other") && why.contains("not touching it"),
        "{why}"
    );
    assert_eq!(
        git(&s.srv("web"), &["remote", "get-url", "origin"]),
        other.url
    );
}

#[test]
fn config_file_over_a_tracked_file_does_not_loop() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n"), ("settings.ini", "default\n")]);
    let marker = s.path().join("post-runs");
    s.deploy(&[(&format!("{INFRA}/settings.ini"), "device-specific\n")]);
    let extra = format!(
        "config_files = [ {{ src = \"{INFRA}/settings.ini\", dst = \"{}\" }} ]\npost_updation_command = \"echo p >> {}\"",
        s.srv("web").join("settings.ini").display(),
        marker.display()
    );
    s.infra_meta(&[s.section("web", &code, &c1, &extra)]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    s.once().expect_code(0);
    s.once().expect_code(0);
    assert_eq!(runs(&s, "post"), 1, "the overlay is not drift");
    assert_eq!(
        fs::read_to_string(s.srv("web").join("settings.ini")).unwrap(),
        "device-specific\n"
    );
    // other drift is still seen
    fs::write(s.srv("web").join("app.txt"), "hacked\n").unwrap();
    s.once().expect_code(0);
    assert_eq!(runs(&s, "post"), 2);
    assert_eq!(
        fs::read_to_string(s.srv("web").join("app.txt")).unwrap(),
        "v1\n"
    );
    assert_eq!(
        fs::read_to_string(s.srv("web").join("settings.ini")).unwrap(),
        "device-specific\n"
    );
}

#[test]
fn half_written_index_and_stale_locks_are_repaired() {
    let s = Scenario::new();
    let (_code, c1) = web_world(&s);
    s.once().expect_code(0);
    let srv = s.srv("web");
    // a power cut mid-write: a truncated index and lock files left behind
    let index = fs::read(srv.join(".git/index")).unwrap();
    fs::write(srv.join(".git/index"), &index[..index.len() / 2]).unwrap();
    fs::write(srv.join(".git/index.lock"), "").unwrap();
    fs::write(srv.join(".git/HEAD.lock"), "").unwrap();
    let deploy = fs::read_dir(s.home.join("app-configs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::write(deploy.join(".git/refs/remotes/origin/main.lock"), "").unwrap();
    s.deploy(&[(&format!("{INFRA}/web.env"), "PORT=81\n")]);
    s.once().expect_code(0);
    assert_eq!(head(&srv), c1);
    assert_eq!(
        git(&srv, &["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    assert!(!srv.join(".git/index.lock").exists() && !srv.join(".git/HEAD.lock").exists());
    assert!(!deploy.join(".git/refs/remotes/origin/main.lock").exists());
    assert_eq!(
        fs::read_to_string(srv.join("conf/.env")).unwrap(),
        "PORT=81\n"
    );
}

#[test]
fn sigterm_during_once_ends_the_hook_and_finishes_cleanly() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let marker = s.path().join("hook-finished");
    s.infra_meta(&[
        s.section(
            "web",
            &code,
            &c1,
            &format!(
                "post_updation_command = \"sleep 60; touch {}\"",
                marker.display()
            ),
        ),
        s.section("zz", &code, &c1, ""),
    ]);
    // apps run in name order: web, then zz
    s.agent_config(&["web", "zz"]);
    let mut child = s
        .agent()
        .arg("--once")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // wait until the hook runs (the code is in place by then)
    let t0 = std::time::Instant::now();
    while !s.srv("web").join("app.txt").exists() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(20));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(t0.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(
        status.code(),
        Some(1),
        "the killed hook counts as a failure"
    );
    assert!(!marker.exists());
    assert!(
        !s.srv("zz").exists(),
        "apps after the current one are left for the next run"
    );
    assert_eq!(
        git(
            &s.srv("web"),
            &["status", "--porcelain", "--untracked-files=no"]
        ),
        ""
    );
}

#[test]
fn configure_opens_the_config_in_editor() {
    let s = Scenario::new();
    s.agent_config(&[]);
    let editor = s.path().join("fake-editor");
    fs::write(&editor, "#!/bin/sh\necho '# edited' >> \"$1\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&editor, fs::Permissions::from_mode(0o755)).unwrap();
    let out = s
        .agent()
        .arg("--configure")
        .env("EDITOR", &editor)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fs::read_to_string(&s.config)
        .unwrap()
        .ends_with("# edited\n"));
    assert!(!s.home.exists(), "--configure runs no pass");
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

#[test]
fn deleted_deploy_branch_is_reported_and_the_last_config_kept() {
    let s = Scenario::new();
    let (_code, c1) = s.one_app("true");
    s.once().expect_code(0);
    git(
        &s.deploy_bare,
        &["update-ref", "-d", &format!("refs/heads/{}", s.branch)],
    );
    let run = s.once();
    run.expect_code(1);
    assert!(
        run.stderr
            .contains(&format!("branch `{}` not found", s.branch)),
        "{}",
        run.stderr
    );
    assert_eq!(
        head(&s.srv("web")),
        c1,
        "app stays where the last config put it"
    );
    let fb = s.feedback_text();
    assert!(fb.contains("not found"), "{fb}");
    // Restoring the branch heals it.
    git(&s.deploy_work, &["push", "-q", "origin", &s.branch]);
    s.once().expect_code(0);
}

/// A PATH whose `git` is the shell script `body`, for the agent's file:// helper only (the
/// tests keep checking with the real git).
fn git_wrapper_on_path(s: &Scenario, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = s.path().join("wrapper-bin");
    fs::create_dir_all(&bin).unwrap();
    let wrapper = bin.join("git");
    fs::write(&wrapper, format!("#!/bin/sh\n{body}")).unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

/// A file:// remote whose helper never answers (a repository on a hung network mount):
/// the group fails within the silence bound, and no helper is left behind.
#[test]
fn stalled_file_remote_fails_within_network_timeout() {
    let mut s = Scenario::new();
    s.config_extra = "network_timeout = 2\n".into();
    s.one_app("true");
    // The helper and a process it started both record their pids; both must be ended.
    let pids = s.path().join("helper-pids");
    let path = git_wrapper_on_path(
        &s,
        &format!(
            "echo $$ >> {p}\nsleep 30 &\necho $! >> {p}\nwait\n",
            p = pids.display()
        ),
    );
    let t0 = std::time::Instant::now();
    let run: common::scenario::Run = s
        .agent()
        .arg("--once")
        .env("PATH", path)
        .output()
        .unwrap()
        .into();
    let took = t0.elapsed();
    run.expect_code(1);
    assert!(run.stderr.contains("no data from git"), "{}", run.stderr);
    // Two contacts (deploy branch, monitoring branch), each 1.5 x network_timeout.
    assert!(took < std::time::Duration::from_secs(12), "{took:?}");
    let pids = fs::read_to_string(&pids).unwrap();
    assert_eq!(pids.lines().count(), 4, "two contacts, two processes each");
    for pid in pids.lines() {
        // Gone, or a zombie waiting for init to reap it.
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(") ").next().and_then(|r| r.chars().next());
        assert!(
            stat.is_empty() || state == Some('Z'),
            "helper process {pid} left running: {stat}"
        );
    }
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

#[test]
fn file_remote_without_git_says_what_to_install() {
    let s = Scenario::new();
    s.one_app("true");
    let empty_bin = s.path().join("empty-bin");
    fs::create_dir_all(&empty_bin).unwrap();
    let run: common::scenario::Run = s
        .agent()
        .arg("--once")
        .env("PATH", &empty_bin)
        .output()
        .unwrap()
        .into();
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("file:// remotes need git on the device"),
        "{}",
        run.stderr
    );
}

/// SIGTERM while a big clone trickles in over a thin link: the agent gives up the fetch and
/// exits within seconds (SPEC §8), leaves nothing half-done, and the next run completes it.
#[test]
fn sigterm_during_a_slow_clone_stops_within_seconds() {
    use std::time::{Duration, Instant};
    let s = Scenario::new();
    let (code, _) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let mut random = vec![0u8; 6 << 20];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for b in random.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    fs::write(code.work.join("big.bin"), &random).unwrap();
    git(&code.work, &["add", "big.bin"]);
    git(&code.work, &["commit", "--quiet", "-m", "big"]);
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    let c2 = git(&code.work, &["rev-parse", "HEAD"]);
    s.infra_meta(&[s.section("web", &code, &c2, "")]);
    s.agent_config(&["web"]);

    // The file:// helper, throttled to ~320 KB/s: the 6 MB pack takes ~20 s.
    let real_git = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let path = git_wrapper_on_path(
        &s,
        &format!(
            "if [ \"$1\" = upload-pack ]; then\n  {git} \"$@\" | python3 -c '\nimport sys, time\nwhile True:\n    b = sys.stdin.buffer.read1(16384)\n    if not b: break\n    sys.stdout.buffer.write(b); sys.stdout.buffer.flush(); time.sleep(0.05)\n'\nelse\n  exec {git} \"$@\"\nfi\n",
            git = real_git.trim()
        ),
    );

    let mut child = s
        .agent()
        .arg("--once")
        .env("PATH", &path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !s.srv("web").join(".git").exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "clone never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    let term = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let took = term.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "exit took {took:?} after SIGTERM"
    );
    assert_eq!(status.code(), Some(1), "the cut-short app needs attention");
    assert!(
        !s.srv("web").join("big.bin").exists(),
        "the fetch was cut short, not finished"
    );

    // The next run (normal link) completes the clone.
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c2);
    fsck(&s.srv("web").join(".git"));
}
