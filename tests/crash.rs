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
