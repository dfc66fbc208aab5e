//! Crash safety (SPEC §8): the agent is SIGKILLed at random moments across many passes that
//! change apps; a normal pass afterwards must leave everything converged and intact.

mod common;

use std::fs;
use std::time::Duration;

use common::scenario::{Scenario, INFRA};
use common::{commit_file, fsck, git};

/// A small deterministic PRNG: the kill moments vary but a failure can be replayed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn sigkill_at_random_moments_then_a_normal_pass_converges() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n"), ("lib/a.txt", "a\n")]);
    git(&code.work, &["rm", "-q", "lib/a.txt"]);
    let c2 = commit_file(&code.work, "app.txt", &"v2\n".repeat(5000), "v2");
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    let commits = [c1, c2];
    let dst = s.srv("web").join("etc/web.env");
    let sections = |i: usize| {
        let extra = format!(
            "config_files = [ {{ src = \"{INFRA}/web.env\", dst = \"{}\" }} ]\npost_updation_command = \"echo run {i}\"",
            dst.display()
        );
        s.section("web", &code, &commits[i % 2], &extra)
    };
    s.agent_config(&["web"]);
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = Lcg(seed);
    let mut last_env = String::new();
    for i in 0..50 {
        last_env = format!("PASS={i}\n{}", "x".repeat(20_000));
        s.deploy(&[(&format!("{INFRA}/web.env"), &last_env)]);
        s.infra_meta(&[sections(i)]);
        let mut child = s
            .agent()
            .arg("--once")
            .arg("--force-report")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.next() % 120));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let run = s.once();
    run.expect_code(0);

    let srv = s.srv("web");
    assert_eq!(
        git(&srv, &["rev-parse", "HEAD"]),
        commits[49 % 2],
        "seed {seed}"
    );
    assert_eq!(
        git(&srv, &["status", "--porcelain", "--untracked-files=no"]),
        "",
        "seed {seed}"
    );
    fsck(&srv.join(".git"));
    assert_eq!(
        fs::read_to_string(&dst).unwrap(),
        last_env,
        "config file whole (seed {seed})"
    );
    for entry in fs::read_dir(s.home.join("app-configs")).unwrap() {
        let dir = entry.unwrap().path();
        fsck(&dir.join(".git"));
        assert_eq!(
            git(&dir, &["status", "--porcelain", "--untracked-files=no"]),
            "",
            "{}",
            dir.display()
        );
    }
    fsck(&s.deploy_bare);
    let fb = s.feedback();
    assert_eq!(fb["web"]["status"].as_str(), Some("✅ healthy"));
    // no stale lock files anywhere in the clones
    let locks = std::process::Command::new("find")
        .arg(s.home.join("app-configs"))
        .arg(&srv)
        .args(["-name", "*.lock"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&locks.stdout), "", "seed {seed}");
}

/// SIGKILL during updates whose health check fails (SPEC §12): after one normal pass the app
/// is in the old state or the new one, never a mix (commit and config bytes of the same
/// release), and the monitoring branch says which.
#[test]
fn sigkill_during_health_checked_updates_ends_old_or_new_never_a_mix() {
    let s = Scenario::new();
    const N: usize = 30;
    let (code, c0) = s.code_repo("web", &[("app.txt", "v0\n")]);
    let mut commits = vec![c0];
    for i in 1..=N {
        commits.push(commit_file(
            &code.work,
            "app.txt",
            &format!("v{i}\n"),
            "next",
        ));
    }
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    let dst = s.srv("web").join("etc/web.env");
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4); // (a seed under which skipping the crash recovery is caught)
    let mut rng = Lcg(seed);
    // Release i: commit i and a config file that says whether its health check passes.
    let mut envs = Vec::new();
    let mut good = Vec::new();
    let release = |i: usize, ok: bool| {
        let env = format!(
            "RELEASE={i} {}\n{}",
            if ok { "GOOD" } else { "BAD" },
            "x".repeat(10_000)
        );
        let extra = format!(
            "config_files = [ {{ src = \"{INFRA}/web.env\", dst = \"{}\" }} ]\npre_updation_command = \"echo pre {i}\"\npost_updation_command = \"echo post {i}\"\nhealth_command = \"grep -q GOOD {}\"\nhealth_retries = 1",
            dst.display(),
            dst.display()
        );
        s.deploy(&[(&format!("{INFRA}/web.env"), &env)]);
        s.infra_meta(&[s.section("web", &code, &commits[i], &extra)]);
        env
    };
    envs.push(release(0, true));
    good.push(true);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    for i in 1..=N {
        // Mostly bad releases; the last one decides which end state is right.
        let ok = rng.next().is_multiple_of(3);
        envs.push(release(i, ok));
        good.push(ok);
        let mut child = s
            .agent()
            .arg("--once")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.next() % 500));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let run = s.once();
    let srv = s.srv("web");
    let head = git(&srv, &["rev-parse", "HEAD"]);
    let j = commits
        .iter()
        .position(|c| *c == head)
        .unwrap_or_else(|| panic!("HEAD {head} is no release (seed {seed})"));
    assert_eq!(
        fs::read_to_string(&dst).unwrap(),
        envs[j],
        "config bytes of release {j}, as its commit (seed {seed})"
    );
    assert_eq!(
        git(&srv, &["status", "--porcelain", "--untracked-files=no"]),
        "",
        "seed {seed}"
    );
    assert!(
        good[j],
        "release {j} was refused by its health check (seed {seed})"
    );
    let fb = s.feedback();
    let web = &fb["web"];
    if j == N {
        run.expect_code(0);
        assert_eq!(web["status"].as_str(), Some("✅ healthy"), "seed {seed}");
    } else {
        run.expect_code(1);
        assert!(
            !good[N],
            "a good last release must be applied (seed {seed})"
        );
        assert_eq!(
            web["status"].as_str(),
            Some("❌ rolled back: health check failed"),
            "seed {seed}"
        );
        assert_eq!(
            web["health"]["rolled-back-from"].as_str(),
            Some(commits[N].as_str())
        );
        assert_eq!(web["health"]["running"].as_str(), Some(head.as_str()));
    }
    assert!(
        !s.home.join("state/snapshots/web/manifest.toml").exists(),
        "seed {seed}"
    );
    fsck(&srv.join(".git"));
}
