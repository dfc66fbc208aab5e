//! Apps added and removed in git alone (SPEC §12), end to end through `--once`: the `"*"`
//! group, opt-in prune (remove_command, written files, prune_code, tombstones), the
//! empty-file guard, and no prune by default.

mod common;

use std::fs;
use std::time::Duration;

use common::safe::{head, marks, status};
use common::scenario::{CodeRepo, Scenario, INFRA};

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
