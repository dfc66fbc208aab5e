//! The monitoring branch seen from one device on a thin link (SPEC §9, §14): a steady pass
//! fetches only the new head; bad device files on the branch never stop a publish.

mod common;
mod support_fleet;

use std::fs;

use common::scenario::Scenario;
use common::{fsck, git};
use support_fleet::{
    assert_linear, device_file, push_to_branch, readme_row, stamp_hours_ago, web_device,
};

/// A steady pass (another device moved the branch) fetches the new monitoring head alone
/// (depth 1) and pushes from that shallow clone; only a clone that never saw the whole
/// history (or may owe a trim) fetches it.
#[test]
fn a_steady_pass_fetches_only_the_monitoring_head() {
    let s = Scenario::with_daemon();
    web_device(&s, "");
    s.once().expect_code(0);
    for round in 0..2 {
        push_to_branch(&s, |w| {
            fs::write(
                w.join("other.toml"),
                device_file(&stamp_hours_ago(round), true),
            )
            .unwrap();
        });
        s.once_with(&["--force-report"]).expect_code(0);
    }
    let mon = fs::read_dir(s.home.join("app-configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-monitoring"))
        .unwrap();
    let shallow = fs::read_to_string(mon.join(".git/shallow")).unwrap_or_default();
    assert!(!shallow.trim().is_empty(), "not shallow: {}", mon.display());
    assert_eq!(s.monitoring_commits(), 5);
    assert_linear(&s.deploy_bare);
    fsck(&s.deploy_bare);
}

/// Bad input (issue 8): a 50 MB device file on the branch is an unreadable row; it never
/// stops this device's publish, and is left as it is.
#[test]
fn a_50_mb_device_file_is_an_unreadable_row_and_never_breaks_the_publish() {
    let s = Scenario::with_daemon();
    web_device(&s, "");
    push_to_branch(&s, |w| {
        fs::write(w.join("ok-1.toml"), device_file(&stamp_hours_ago(1), true)).unwrap();
        fs::write(w.join("giant.toml"), "# padding\n".repeat(5_000_000)).unwrap();
    });
    let before = git(&s.deploy_bare, &["rev-parse", "main-monitoring:giant.toml"]);
    let run = s.once();
    run.expect_code(0);
    assert_eq!(s.feedback()["web"]["status"].as_str(), Some("✅ healthy"));
    let readme = git(&s.deploy_bare, &["show", "main-monitoring:README.md"]);
    assert!(
        readme_row(&readme, "giant").contains("❓ unreadable"),
        "{readme}"
    );
    assert!(readme_row(&readme, "ok-1").contains("✅"), "{readme}");
    let after = git(&s.deploy_bare, &["rev-parse", "main-monitoring:giant.toml"]);
    assert_eq!(before, after);
    fsck(&s.deploy_bare);
}
