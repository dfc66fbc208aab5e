//! What holds an update back (SPEC §12), end to end through `--once`: pause by key and by
//! command (offline), `update_lock` (the commit fetched ahead), `update_windows` (per app and
//! as the device default).

mod common;

use std::fs;

use common::safe::{agent_cmd, app_git_status, code_commit, head, installed, status};
use common::scenario::Scenario;

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
