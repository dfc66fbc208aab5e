//! How a pass reaches the remote (issue 7): one listing of both branches, a fetch only of
//! what moved, the monitoring fetch beside the reconcile, and a push built on a head
//! fetched right before it (never on one that went stale during the reconcile).

mod common;
mod support_fleet;

use std::fs;

use common::agent::{git_wrapper_on_path, real_git};
use common::scenario::{Scenario, INFRA};
use common::{commit_file, file_url, git};
use support_fleet::push_to_branch;

/// `git` for the agent's file:// helper: each `upload-pack` of the deploy repo is logged
/// with its start and end (ns) and held 1 s before it answers, so two that run at the same
/// time cannot be missed.
fn timed_upload_packs(s: &Scenario, log: &std::path::Path) -> String {
    git_wrapper_on_path(
        s,
        &format!(
            "if [ \"$1\" = upload-pack ]; then\n  start=$(date +%s%N)\n  sleep 1\n  {git} \"$@\"\n  rc=$?\n  echo \"$start $(date +%s%N) $2\" >> '{log}'\n  exit $rc\nfi\nexec {git} \"$@\"\n",
            git = real_git(),
            log = log.display()
        ),
    )
}

/// The (start, end) of each logged upload-pack of the deploy repo.
fn deploy_upload_packs(s: &Scenario, log: &std::path::Path) -> Vec<(u128, u128)> {
    let deploy = s.deploy_bare.display().to_string();
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.ends_with(&deploy) || l.ends_with(&format!("{deploy}/")))
        .map(|l| {
            let mut f = l.split(' ');
            let start = f.next().unwrap().parse().unwrap();
            let end = f.next().unwrap().parse().unwrap();
            (start, end)
        })
        .collect()
}

/// `--once` with `timed_upload_packs` on PATH; it must exit 0.
fn once_timing_upload_packs(s: &Scenario, log: &std::path::Path) {
    let out = s
        .agent()
        .arg("--once")
        .env("PATH", timed_upload_packs(s, log))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn an_unchanged_pass_lists_both_branches_on_one_connection() {
    let s = Scenario::new();
    s.one_app_with("");
    s.once().expect_code(0);
    let log = s.path().join("upload-packs.log");
    once_timing_upload_packs(&s, &log);
    let runs = deploy_upload_packs(&s, &log);
    assert_eq!(runs.len(), 1, "one contact for both branches: {runs:?}");
}

/// A device's first pass (no deploy clone yet) fetches the deploy branch whatever a
/// listing would say, so it lists nothing: the deploy fetch and the monitoring fetch are
/// its only contacts, not three (one more server process per device in a fleet that comes
/// up together).
#[test]
fn a_first_pass_makes_no_listing() {
    let s = Scenario::new();
    s.one_app_with("");
    // Another device's report is on the branch already: the monitoring fetch has a head.
    s.once().expect_code(0);
    fs::remove_dir_all(&s.home).unwrap();
    fs::remove_dir_all(s.srv("web")).unwrap();
    let log = s.path().join("upload-packs.log");
    once_timing_upload_packs(&s, &log);
    let runs = deploy_upload_packs(&s, &log);
    assert_eq!(
        runs.len(),
        2,
        "the deploy fetch and the monitoring fetch: {runs:?}"
    );
}

/// Only the monitoring branch moved (other devices pushed: most passes of a fleet): it is
/// fetched on the listing thread while the apps are reconciled. Here the reconcile corrects
/// drift, so its pre command runs (1 s); the monitoring fetch runs during it.
#[test]
fn the_monitoring_fetch_runs_beside_the_reconcile() {
    let s = Scenario::new();
    let times = s.path().join("pre.times");
    s.one_app_with(&format!(
        "pre_updation_command = \"date +%s%N >> {t}; sleep 1; date +%s%N >> {t}\"",
        t = times.display()
    ));
    s.once().expect_code(0);
    let _ = fs::remove_file(&times);
    push_to_branch(&s, |w| fs::write(w.join("other.toml"), "x = 1\n").unwrap());
    fs::write(s.srv("web").join("app.txt"), "drifted\n").unwrap();
    let log = s.path().join("upload-packs.log");
    once_timing_upload_packs(&s, &log);
    let pre: Vec<u128> = fs::read_to_string(&times)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(pre.len(), 2, "the pre command ran once: {pre:?}");
    let runs = deploy_upload_packs(&s, &log);
    assert!(
        runs.iter().any(|r| r.0 < pre[1] && pre[0] < r.1),
        "no fetch ran during the pre command {pre:?}: {runs:?}"
    );
    assert_eq!(
        fs::read_to_string(s.srv("web").join("app.txt")).unwrap(),
        "v1\n"
    );
    let tree = git(
        &s.deploy_bare,
        &["ls-tree", "--name-only", "main-monitoring"],
    );
    assert!(
        tree.contains("other.toml") && tree.contains(&format!("{INFRA}.toml")),
        "{tree}"
    );
}

/// Another device pushes while this device's apps are reconciled (its pre command lands the
/// other device's commit): the status commit is built on the branch as it is after the
/// reconcile, so it lands at the first push, without a lost race and its wait.
#[test]
fn a_push_is_built_on_the_head_after_the_reconcile_not_the_one_listed_before() {
    let s = Scenario::new();
    let (code, _) = s.one_app_with("");
    s.once().expect_code(0);

    // The other device's commit, made now on the current head and pushed by the hook.
    let other = s.path().join("other-device");
    git(
        s.path(),
        &[
            "clone",
            "--quiet",
            "--branch",
            "main-monitoring",
            &file_url(&s.deploy_bare),
            other.to_str().unwrap(),
        ],
    );
    commit_file(&other, "other.toml", "x = 1\n", "other device");
    let hook = s.path().join("push-other.sh");
    fs::write(
        &hook,
        format!(
            "git -C '{}' push --quiet '{}' HEAD:refs/heads/main-monitoring\n",
            other.display(),
            file_url(&s.deploy_bare)
        ),
    )
    .unwrap();
    let c2 = commit_file(&code.work, "app.txt", "v2\n", "v2");
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    s.infra_meta(&[s.section(
        "web",
        &code,
        &c2,
        &format!("pre_updation_command = \"sh {}\"", hook.display()),
    )]);

    let run = s.once();
    run.expect_code(0);
    assert!(
        !run.stderr.contains("published at attempt") && !run.stderr.contains("trying again"),
        "the first push was lost: {}",
        run.stderr
    );
    let tree = git(
        &s.deploy_bare,
        &["ls-tree", "--name-only", "main-monitoring"],
    );
    assert!(tree.contains("other.toml"), "{tree}");
    let parent = git(&s.deploy_bare, &["rev-parse", "main-monitoring^"]);
    assert_eq!(parent, git(&other, &["rev-parse", "HEAD"]));
    assert_eq!(common::agent::head(&s.srv("web")), c2);
    assert_eq!(s.feedback()["web"]["status"].as_str(), Some("✅ healthy"));
}
