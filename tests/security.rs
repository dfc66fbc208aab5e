//! SPEC §10, built as the attacker would: each test commits the malicious thing to a real
//! repo (or plants it on the device) and runs the real binary, then checks that nothing
//! outside the app was reached. Named for the attack it stops.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::git;
use common::scenario::{Scenario, INFRA};

fn mode(p: &std::path::Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A code-repo committer ships the agent's old, predictable temp name as a symlink to a
/// file outside the app; the config write must not follow it.
#[test]
fn code_repo_symlink_at_the_temp_name_cannot_redirect_a_config_write() {
    let s = Scenario::new();
    let victim = s.path().join("victim-passwd");
    fs::write(&victim, "root:x:0:0\n").unwrap();
    let (code, _) = s.code_repo("web", &[("app.txt", "v1\n")]);
    std::os::unix::fs::symlink(&victim, code.work.join(".app.env.gitops-agent-tmp")).unwrap();
    git(&code.work, &["add", "-A"]);
    git(&code.work, &["commit", "-qm", "innocent"]);
    git(&code.work, &["push", "-q", "origin", "HEAD:main"]);
    let c2 = git(&code.work, &["rev-parse", "HEAD"]);
    let extra = format!(
        "config_files = [ {{ src = \"{INFRA}/app.env\", dst = \"{}\" }} ]",
        s.srv("web").join("app.env").display()
    );
    s.deploy(&[(&format!("{INFRA}/app.env"), "SECRET=1\n")]);
    s.infra_meta(&[s.section("web", &code, &c2, &extra)]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "root:x:0:0\n");
    assert_eq!(
        fs::read_to_string(s.srv("web").join("app.env")).unwrap(),
        "SECRET=1\n"
    );
    // and again on an unchanged pass with drift on the config file
    fs::write(s.srv("web").join("app.env"), "changed\n").unwrap();
    s.once().expect_code(0);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "root:x:0:0\n");
}

/// A home left 0755 by an older install (or a migration) holds every device's config
/// secrets in its deploy clones: it becomes 0700, and the agent's own files 0600.
#[test]
fn home_left_world_readable_by_a_migration_becomes_private() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    fs::create_dir_all(s.home.join("state/applied")).unwrap();
    for d in [
        &s.home,
        &s.home.join("state"),
        &s.home.join("state/applied"),
    ] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::write(s.home.join("agent.lock"), "").unwrap();
    fs::set_permissions(s.home.join("agent.lock"), fs::Permissions::from_mode(0o644)).unwrap();
    s.once().expect_code(0);
    assert_eq!(mode(&s.home), 0o700);
    assert_eq!(mode(&s.home.join("state")), 0o700);
    assert_eq!(mode(&s.home.join("agent.lock")), 0o600);
    let records: Vec<_> = fs::read_dir(s.home.join("state/applied"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!records.is_empty(), "an applied record was written");
    for r in records {
        assert_eq!(mode(&r), 0o600, "{}", r.display());
    }
}

/// A deploy-repo hook is root's business, but the agent's own secrets are not: its ssh
/// command, git knobs and proxy credentials do not reach hooks; `GITOPS_*` tell the hook what
/// is happening.
#[test]
fn hooks_do_not_inherit_the_agents_git_and_proxy_secrets() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let dump = s.path().join("hook-env");
    let extra = format!("post_updation_command = \"env > {}\"", dump.display());
    s.infra_meta(&[s.section("web", &code, &c1, &extra)]);
    s.agent_config(&["web"]);
    let out = s
        .agent()
        .arg("--once")
        .env("GIT_SSH_COMMAND", "ssh -i /root/.ssh/fleet_key")
        .env("https_proxy", "http://proxyuser:proxypass@127.0.0.1:3128")
        .env("HTTP_PROXY", "127.0.0.1:3128")
        .env("GITOPS_APP", "spoofed")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = fs::read_to_string(&dump).unwrap();
    for leaked in ["fleet_key", "proxypass", "GITOPS_AGENT_HOME", "spoofed"] {
        assert!(!env.contains(leaked), "hook saw {leaked}:\n{env}");
    }
    assert!(env.contains("HTTP_PROXY=127.0.0.1:3128"), "{env}");
    assert!(env.contains(&format!("GITOPS_INFRA={INFRA}\n")), "{env}");
    assert!(env.contains("GITOPS_APP=web\n"));
    assert!(env.contains(&format!("GITOPS_COMMIT={c1}\n")), "{env}");
    assert!(
        env.contains("GITOPS_PREVIOUS_COMMIT=\n"),
        "first install: set and empty"
    );
    assert!(env.contains("GITOPS_REASON=code folder missing"), "{env}");
}
