//! Health checks and rollback (SPEC §12), end to end through `--once` against real repos:
//! rollback of commit and config bytes, the rollback's hooks, the health table, quarantine,
//! first-install failure, health timeout and retries. Gates: `safe_gates.rs`; the `"*"` group
//! and prune: `safe_prune.rs`.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::git;
use common::safe::{code_commit, head, marks, status};
use common::scenario::{CodeRepo, Scenario, INFRA};

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
