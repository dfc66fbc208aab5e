//! The command line, the agent config and signals, end to end: exit codes, `--help`,
//! `--configure`, the config path from the environment, the lock, SIGTERM during a hook.

mod common;

use std::fs;

use common::agent::web_world;
use common::git;
use common::scenario::Scenario;

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
