//! Safe change on devices no one can reach (SPEC §12), end to end through `--once` against
//! real repos: health checks and rollback, quarantine, pause, update locks and windows, the
//! `"*"` group and prune.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::scenario::{CodeRepo, Scenario, INFRA};
use common::{commit_file, git};

fn head(dir: &Path) -> String {
    git(dir, &["rev-parse", "HEAD"])
}

/// Commit `content` as `app.txt` in the code repo and push it; returns the commit.
fn code_commit(code: &CodeRepo, content: &str) -> String {
    let c = commit_file(&code.work, "app.txt", content, content.trim());
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    c
}

/// What the hooks wrote, one line per run.
fn marks(s: &Scenario) -> Vec<String> {
    fs::read_to_string(s.path().join("marks"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn status(s: &Scenario, app: &str) -> String {
    s.feedback()[app]["status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// A section whose hooks write `<tag>-pre` / `<tag>-post` to the marks file and whose health
/// check passes only while the code says `v1`.
fn section(s: &Scenario, code: &CodeRepo, commit: &str, tag: &str, extra: &str) -> String {
    let m = s.path().join("marks");
    s.section(
        "web",
        code,
        commit,
        &format!(
            "pre_updation_command = \"echo {tag}-pre >> {m}\"\npost_updation_command = \"echo {tag}-post >> {m}\"\nhealth_command = \"grep -qx v1 app.txt\"\nhealth_retries = 1\n{extra}",
            m = m.display()
        ),
    )
}

fn env_dst(s: &Scenario) -> PathBuf {
    s.srv("web").join("conf/.env")
}

fn extra_dst(s: &Scenario) -> PathBuf {
    s.srv("web").join("conf/extra.env")
}

/// `web` installed and healthy at `v1` (section A, one config file, made 0600 on the device);
/// then section B at `v2` (health check fails), which also adds a second config file.
/// Returns (code repo, v1 commit, v2 commit).
fn world_with_bad_release(s: &Scenario) -> (CodeRepo, String, String) {
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let c2 = code_commit(&code, "v2\n");
    s.deploy(&[(&format!("{INFRA}/web.env"), "A=1\n")]);
    let files_a = format!(
        "config_files = [ {{ src = \"{INFRA}/web.env\", dst = \"{}\" }} ]",
        env_dst(s).display()
    );
    s.infra_meta(&[section(s, &code, &c1, "A", &files_a)]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    fs::set_permissions(env_dst(s), fs::Permissions::from_mode(0o600)).unwrap();

    s.deploy(&[
        (&format!("{INFRA}/web.env"), "B=2\n"),
        (&format!("{INFRA}/extra.env"), "NEW=1\n"),
    ]);
    let files_b = format!(
        "config_files = [ {{ src = \"{INFRA}/web.env\", dst = \"{}\" }}, {{ src = \"{INFRA}/extra.env\", dst = \"{}\" }} ]",
        env_dst(s).display(),
        extra_dst(s).display()
    );
    s.infra_meta(&[section(s, &code, &c2, "B", &files_b)]);
    (code, c1, c2)
}

#[test]
fn failed_health_check_rolls_back_code_and_config_bytes() {
    let s = Scenario::new();
    let (_code, c1, c2) = world_with_bad_release(&s);
    s.once().expect_code(1);

    let srv = s.srv("web");
    assert_eq!(head(&srv), c1, "HEAD back at the previous commit");
    assert_eq!(
        git(&srv, &["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    assert_eq!(fs::read_to_string(env_dst(&s)).unwrap(), "A=1\n");
    let mode = fs::metadata(env_dst(&s)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600, "previous mode put back");
    assert!(
        !extra_dst(&s).exists(),
        "a dst that did not exist before is removed"
    );
    // The update ran B's hooks, the rollback ran A's again.
    assert_eq!(marks(&s), ["A-post", "B-pre", "B-post", "A-pre", "A-post"]);

    let fb = s.feedback();
    let web = &fb["web"];
    assert_eq!(
        web["status"].as_str(),
        Some("❌ rolled back: health check failed")
    );
    let health = &web["health"];
    assert_eq!(
        health["command-return-val"].as_str(),
        Some("{'health': 1, 'rollback-health': 0}")
    );
    assert_eq!(health["rolled-back-from"].as_str(), Some(c2.as_str()));
    assert_eq!(health["running"].as_str(), Some(c1.as_str()));
    assert!(health["command-run-logs"]
        .as_str()
        .unwrap()
        .contains("[health] $ grep -qx v1 app.txt"));
    assert_eq!(
        web["extra-command-output"]["command-return-val"].as_str(),
        Some("{'pre': 0, 'post': 0, 'rollback-pre': 0, 'rollback-post': 0}")
    );
    assert!(fb["overall_status"]
        .as_str()
        .unwrap()
        .contains("need attention: web"));
    // Nothing half-done is left: the snapshot is gone once the rollback is recorded.
    assert!(!s.home.join("state/snapshots/web/manifest.toml").exists());
}

#[test]
fn refused_section_is_not_tried_again_until_it_changes() {
    let s = Scenario::new();
    let (code, c1, c2) = world_with_bad_release(&s);
    s.once().expect_code(1);
    let after_rollback = marks(&s).len();
    let commits = s.monitoring_commits();
    for _ in 0..2 {
        s.once().expect_code(1);
        assert_eq!(marks(&s).len(), after_rollback, "no hook ran");
        assert_eq!(head(&s.srv("web")), c1);
        assert_eq!(status(&s, "web"), "❌ rolled back: health check failed");
        let fb = s.feedback();
        assert_eq!(
            fb["web"]["health"]["rolled-back-from"].as_str(),
            Some(c2.as_str())
        );
    }
    assert_eq!(
        s.monitoring_commits(),
        commits,
        "an unchanged world commits nothing"
    );

    // A new src byte is a new deployment: tried (and refused) again.
    s.deploy(&[(&format!("{INFRA}/web.env"), "B=3\n")]);
    s.once().expect_code(1);
    assert_eq!(marks(&s).len(), after_rollback + 4);
    assert_eq!(fs::read_to_string(env_dst(&s)).unwrap(), "A=1\n");

    // A good release goes through and ends the quarantine.
    let c3 = code_commit(&code, "v1\n");
    s.infra_meta(&[section(&s, &code, &c3, "C", "")]);
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c3);
    assert_eq!(status(&s, "web"), "✅ healthy");
    let fb = s.feedback();
    assert_eq!(
        fb["web"]["health"]["command-return-val"].as_str(),
        Some("{'health': 0}")
    );
    assert!(fb["web"]["health"].get("rolled-back-from").is_none());
}

#[test]
fn failing_first_install_has_nothing_to_roll_back_to() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v2\n")]);
    s.infra_meta(&[section(&s, &code, &c1, "A", "")]);
    s.agent_config(&["web"]);
    s.once().expect_code(1);
    assert_eq!(head(&s.srv("web")), c1, "nothing to go back to: it stays");
    let fb = s.feedback();
    assert_eq!(fb["web"]["status"].as_str(), Some("❌ health check failed"));
    assert_eq!(
        fb["web"]["health"]["command-return-val"].as_str(),
        Some("{'health': 1}")
    );
    assert!(fb["web"]["health"].get("rolled-back-from").is_none());
}

#[test]
fn health_check_is_killed_at_health_timeout() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let flag = s.path().join("survivor");
    s.infra_meta(&[s.section(
        "web",
        &code,
        &c1,
        &format!(
            "health_command = \"(sleep 4; touch {}) & sleep 60\"\nhealth_timeout = 1\nhealth_retries = 1",
            flag.display()
        ),
    )]);
    s.agent_config(&["web"]);
    let t0 = Instant::now();
    s.once().expect_code(1);
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    let fb = s.feedback();
    assert_eq!(fb["web"]["status"].as_str(), Some("❌ health check failed"));
    let logs = fb["web"]["health"]["command-run-logs"].as_str().unwrap();
    assert!(
        logs.contains("health_timeout 1 s") && logs.contains("killed"),
        "{logs}"
    );
    std::thread::sleep(Duration::from_secs(5));
    assert!(!flag.exists(), "the health check's process group was ended");
}

#[test]
fn health_check_is_tried_again_5_s_later() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let flag = s.path().join("second-try");
    s.infra_meta(&[s.section(
        "web",
        &code,
        &c1,
        &format!(
            "health_command = \"test -f {f} || {{ touch {f}; exit 1; }}\"\nhealth_retries = 2",
            f = flag.display()
        ),
    )]);
    s.agent_config(&["web"]);
    let t0 = Instant::now();
    s.once().expect_code(0);
    assert!(t0.elapsed() >= Duration::from_secs(5));
    let fb = s.feedback();
    assert_eq!(fb["web"]["status"].as_str(), Some("✅ healthy"));
    let logs = fb["web"]["health"]["command-run-logs"].as_str().unwrap();
    assert!(
        logs.contains("(try 1 of 2") && logs.contains("(try 2 of 2"),
        "{logs}"
    );
}

/// `web` installed at `v1` with no health check; returns (code repo, v1, v2 pushed).
fn installed(s: &Scenario) -> (CodeRepo, String, String) {
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let c2 = code_commit(&code, "v2\n");
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    (code, c1, c2)
}

fn app_git_status(s: &Scenario, app: &str) -> String {
    s.feedback()[app]["app-updation"]["git-status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn paused_key_observes_and_reports_drift_but_changes_nothing() {
    let s = Scenario::new();
    let (code, c1, c2) = installed(&s);
    s.infra_meta(&[s.section("web", &code, &c2, "paused = true")]);
    fs::write(s.srv("web").join("app.txt"), "edited on the device\n").unwrap();
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c1);
    assert_eq!(
        fs::read_to_string(s.srv("web").join("app.txt")).unwrap(),
        "edited on the device\n",
        "drift is not corrected while paused"
    );
    assert_eq!(status(&s, "web"), "⏸️ paused");
    assert_eq!(
        s.feedback()["web"]["paused-by"].as_str(),
        Some("paused = true in infra_meta")
    );
    let gs = app_git_status(&s, "web");
    assert!(
        gs.contains("would update: HEAD is not the desired commit")
            && gs.contains("1 tracked file changed"),
        "{gs}"
    );
    assert_eq!(
        s.feedback()["overall_status"].as_str(),
        Some("✅ all 1 apps healthy")
    );

    s.infra_meta(&[s.section("web", &code, &c2, "")]);
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c2);
    assert_eq!(status(&s, "web"), "✅ healthy");
    assert!(s.feedback()["web"].get("paused-by").is_none());
}

/// `gitops-agent <args>` with the config from `$GITOPS_AGENT_CONFIG` (not --config).
fn agent_cmd(s: &Scenario, args: &[&str]) -> common::scenario::Run {
    std::process::Command::new(env!("CARGO_BIN_EXE_gitops-agent"))
        .args(args)
        .env("GITOPS_AGENT_CONFIG", &s.config)
        .env("GITOPS_AGENT_HOME", &s.home)
        .output()
        .expect("run gitops-agent")
        .into()
}

#[test]
fn pause_command_works_offline_and_survives_restarts() {
    let s = Scenario::new();
    let (code, c1, c2) = installed(&s);
    // No remote can be reached while pausing.
    let served = s.path().join("served");
    let away = s.path().join("served-away");
    fs::rename(&served, &away).unwrap();
    agent_cmd(&s, &["pause", "web"]).expect_code(0);
    agent_cmd(&s, &["pause", "nosuch"]).expect_code(2);
    agent_cmd(&s, &["pause"]).expect_code(2);
    fs::rename(&away, &served).unwrap();

    s.infra_meta(&[s.section("web", &code, &c2, "")]);
    for _ in 0..2 {
        // (each run is a fresh process: the pause is kept on disk)
        s.once().expect_code(0);
        assert_eq!(head(&s.srv("web")), c1);
        assert_eq!(status(&s, "web"), "⏸️ paused");
        assert_eq!(
            s.feedback()["web"]["paused-by"].as_str(),
            Some("gitops-agent pause")
        );
    }
    agent_cmd(&s, &["resume", "--all"]).expect_code(0);
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c2);
    assert_eq!(status(&s, "web"), "✅ healthy");

    // --all pauses every app of the device; --config after the subcommand is honoured.
    let other = s.path().join("other.toml");
    fs::copy(&s.config, &other).unwrap();
    s.agent()
        .args(["pause", "--all", "--config"])
        .arg(&other)
        .output()
        .map(common::scenario::Run::from)
        .unwrap()
        .expect_code(0);
    let c3 = code_commit(&code, "v3\n");
    s.infra_meta(&[s.section("web", &code, &c3, "")]);
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c2);
    agent_cmd(&s, &["resume", "web"]).expect_code(0);
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c3);
}

#[test]
fn update_waits_for_its_lock_and_then_needs_no_network() {
    let s = Scenario::new();
    let (code, c1, _) = installed(&s);
    let c2 = code_commit(&code, "v3\n"); // not in the clone yet
    let lock = s.path().join("updates.lock");
    fs::write(&lock, "busy").unwrap();
    s.infra_meta(&[s.section(
        "web",
        &code,
        &c2,
        &format!("update_lock = \"{}\"", lock.display()),
    )]);
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c1);
    assert_eq!(status(&s, "web"), "⏸️ update deferred");
    assert_eq!(
        s.feedback()["web"]["deferred-by"].as_str(),
        Some("update_lock")
    );
    let gs = app_git_status(&s, "web");
    assert!(
        gs.contains(&format!("update_lock {} exists", lock.display()))
            && gs.contains("fetched ahead"),
        "{gs}"
    );
    assert!(
        common::try_git(
            &s.srv("web"),
            &["cat-file", "-e", &format!("{c2}^{{commit}}")]
        )
        .status
        .success(),
        "the commit is fetched ahead"
    );
    let commits = s.monitoring_commits();
    s.once().expect_code(0);
    assert_eq!(
        s.monitoring_commits(),
        commits,
        "a held app's report is stable"
    );

    // The code remote is gone by the time the lock is released.
    fs::rename(&code.bare, s.path().join("web-gone.git")).unwrap();
    fs::remove_file(&lock).unwrap();
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c2);
    assert_eq!(status(&s, "web"), "✅ healthy");
}

/// A window on a day three days from today (UTC): never today in any time zone.
fn closed_window() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400;
    let today = (days + 3) % 7; // 1970-01-01 was a Thursday; Mon = 0
    let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    format!("{} 00:00-23:59", names[((today + 3) % 7) as usize])
}

const OPEN_WINDOW: &str = "Mon-Sun 00:00-23:59";

#[test]
fn update_windows_defer_outside_and_apply_inside() {
    let mut s = Scenario::new();
    let (code, c1, c2) = installed(&s);
    // The device default is closed now.
    s.config_extra = format!("update_windows = [\"{}\"]", closed_window());
    s.agent_config(&["web"]);
    s.infra_meta(&[s.section("web", &code, &c2, "")]);
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c1);
    assert_eq!(status(&s, "web"), "⏸️ update deferred");
    assert_eq!(
        s.feedback()["web"]["deferred-by"].as_str(),
        Some("update_windows")
    );
    let gs = app_git_status(&s, "web");
    assert!(
        gs.contains("outside update_windows") && gs.contains("(the agent config)"),
        "{gs}"
    );

    // The app's own (open) list replaces the device default.
    s.infra_meta(&[s.section(
        "web",
        &code,
        &c2,
        &format!("update_windows = [\"{OPEN_WINDOW}\"]"),
    )]);
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c2);
    assert_eq!(status(&s, "web"), "✅ healthy");

    // An app's closed window holds it without any device default.
    s.config_extra = String::new();
    s.agent_config(&["web"]);
    let c3 = code_commit(&code, "v3\n");
    s.infra_meta(&[s.section(
        "web",
        &code,
        &c3,
        &format!("update_windows = [\"{}\"]", closed_window()),
    )]);
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c2);
    assert!(app_git_status(&s, "web").contains("(infra_meta)"));

    // Bad windows: the app fails (infra_meta), the agent refuses to start (agent config).
    s.infra_meta(&[s.section("web", &code, &c3, "update_windows = [\"Mon 2-4\"]")]);
    s.once().expect_code(1);
    assert_eq!(status(&s, "web"), "❌ config update failed");
    let why = s.feedback()["web"]["config-updation"]["git-status"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.contains("`update_windows`") && why.contains("Mon-Fri 02:00-04:00"),
        "{why}"
    );
    s.config_extra = "update_windows = [\"Mon 2-4\"]".into();
    s.agent_config(&["web"]);
    let run = s.once();
    run.expect_code(2);
    assert!(
        run.stderr.contains("`update_windows`") && run.stderr.contains("Mon-Fri 02:00-04:00"),
        "{}",
        run.stderr
    );
}

/// Sections for `web` and `api` (each its own code repo and config file). `web` has a
/// `remove_command`; `api` has `prune_code = true`.
struct TwoApps {
    web: (CodeRepo, String),
    api: (CodeRepo, String),
}

impl TwoApps {
    fn new(s: &Scenario) -> TwoApps {
        s.deploy(&[
            (&format!("{INFRA}/web.env"), "W=1\n"),
            (&format!("{INFRA}/api.env"), "A=1\n"),
        ]);
        TwoApps {
            web: s.code_repo("web", &[("app.txt", "web\n")]),
            api: s.code_repo("api", &[("app.txt", "api\n")]),
        }
    }

    fn web(&self, s: &Scenario) -> String {
        s.section(
            "web",
            &self.web.0,
            &self.web.1,
            &format!(
                "config_files = [ {{ src = \"{INFRA}/web.env\", dst = \"{}\" }} ]\nremove_command = \"echo removed web >> {}\"",
                s.srv("etc").join("web.env").display(),
                s.path().join("marks").display()
            ),
        )
    }

    fn api(&self, s: &Scenario) -> String {
        s.section(
            "api",
            &self.api.0,
            &self.api.1,
            &format!(
                "config_files = [ {{ src = \"{INFRA}/api.env\", dst = \"{}\" }} ]\nprune_code = true",
                s.srv("etc").join("api.env").display()
            ),
        )
    }
}

const ALL: &str = "\"*\"";

#[test]
fn star_group_adds_an_app_by_a_commit_alone() {
    let s = Scenario::new();
    let two = TwoApps::new(&s);
    s.infra_meta(&[two.web(&s)]);
    s.agent_config(&[ALL]);
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), two.web.1);
    assert!(!s.srv("api").exists());
    let config_before = fs::read(&s.config).unwrap();

    s.infra_meta(&[two.web(&s), two.api(&s)]);
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("api")), two.api.1);
    assert_eq!(fs::read(&s.config).unwrap(), config_before, "no local edit");
    let fb = s.feedback();
    assert_eq!(fb["api"]["status"].as_str(), Some("✅ healthy"));
    assert_eq!(fb["overall_status"].as_str(), Some("✅ all 2 apps healthy"));
}

#[test]
fn without_prune_a_removed_section_changes_nothing() {
    let s = Scenario::new();
    let two = TwoApps::new(&s);
    s.infra_meta(&[two.web(&s), two.api(&s)]);
    s.agent_config(&[ALL]);
    s.once().expect_code(0);
    let before = s.feedback();
    s.infra_meta(&[two.web(&s)]);
    s.once().expect_code(0);
    assert!(s.srv("api").join("app.txt").exists());
    assert!(s.srv("etc").join("api.env").exists());
    let after = s.feedback();
    assert_eq!(after["api"], before["api"], "the table is kept as it was");
    assert!(marks(&s).is_empty());
}

#[test]
fn prune_removes_apps_whose_section_is_gone() {
    let mut s = Scenario::new();
    let two = TwoApps::new(&s);
    let (keep_code, keep_c) = s.code_repo("keep", &[("app.txt", "keep\n")]);
    let keep = s.section("keep", &keep_code, &keep_c, "");
    s.infra_meta(&[two.web(&s), two.api(&s), keep.clone()]);
    s.config_extra = "prune = true".into();
    s.agent_config(&[ALL]);
    s.once().expect_code(0);
    // Someone edits api's config file on the device: it is not the agent's to delete now.
    fs::write(s.srv("etc").join("api.env"), "A=edited\n").unwrap();

    s.infra_meta(std::slice::from_ref(&keep));
    let run = s.once();
    run.expect_code(0);
    assert_eq!(
        marks(&s),
        ["removed web"],
        "remove_command ran in web's folder"
    );
    assert!(
        !s.srv("etc").join("web.env").exists(),
        "written file deleted"
    );
    assert!(
        s.srv("web").join("app.txt").exists(),
        "no prune_code: code kept"
    );
    assert!(!s.srv("api").exists(), "prune_code: code folder deleted");
    assert_eq!(
        fs::read_to_string(s.srv("etc").join("api.env")).unwrap(),
        "A=edited\n",
        "a file changed since the agent wrote it is kept"
    );
    assert!(
        run.stderr.contains("changed since the agent wrote it"),
        "{}",
        run.stderr
    );
    let fb = s.feedback();
    for app in ["web", "api"] {
        assert_eq!(fb[app]["status"].as_str(), Some("🗑️ removed"));
        let at = fb[app]["removed-at"].as_str().unwrap();
        assert!(at.len() == 19 && at.as_bytes()[10] == b' ', "{at}");
    }
    assert_eq!(fb["overall_status"].as_str(), Some("✅ all 3 apps healthy"));

    // Once removed, removed: nothing runs again and the branch does not move.
    let commits = s.monitoring_commits();
    s.once().expect_code(0);
    assert_eq!(marks(&s).len(), 1);
    assert_eq!(s.monitoring_commits(), commits);

    // Tombstones leave the file once older than the retention.
    s.config_extra = "prune = true\nmonitoring_history_retention_days = 0".into();
    s.agent_config(&[ALL]);
    std::thread::sleep(Duration::from_millis(1100));
    s.once().expect_code(0);
    let fb = s.feedback();
    assert!(fb.get("web").is_none() && fb.get("api").is_none(), "{fb:?}");
    assert_eq!(fb["overall_status"].as_str(), Some("✅ all 1 apps healthy"));
}

#[test]
fn an_emptied_infra_meta_removes_nothing_unless_allow_empty() {
    let mut s = Scenario::new();
    let two = TwoApps::new(&s);
    s.infra_meta(&[two.web(&s)]);
    s.config_extra = "prune = true".into();
    s.agent_config(&[ALL]);
    s.once().expect_code(0);

    s.infra_meta(&["# nothing here for now\n".to_string()]);
    let run = s.once();
    run.expect_code(1);
    assert!(
        run.stderr.contains("WARN") && run.stderr.contains("allow_empty"),
        "{}",
        run.stderr
    );
    assert!(marks(&s).is_empty(), "remove_command did not run");
    assert!(s.srv("etc").join("web.env").exists());
    assert_eq!(status(&s, "web"), "❌ config update failed");

    s.infra_meta(&["allow_empty = true\n".to_string()]);
    s.once().expect_code(0);
    assert_eq!(marks(&s), ["removed web"]);
    assert_eq!(status(&s, "web"), "🗑️ removed");
}
