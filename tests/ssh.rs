//! ssh remotes end to end: the real `gitops-agent --once` against a real `sshd` on 127.0.0.1
//! (see support_ssh), results checked with the git CLI. Covers clone, unchanged and changed
//! passes, the monitoring branch pushed over ssh (create, fast-forward, forced trim), the
//! command precedence (`ssh_command` > `GIT_SSH_COMMAND` > `ssh_key`), and failures that must
//! be fast and clear: a refused key, an unknown host key, a black-holed server.
//!
//! Skips (with a printed reason) when `/usr/sbin/sshd` is missing: Debian `openssh-server`.

mod common;
mod support_ssh;

use std::fs;
use std::process::Command;
use std::time::Duration;

use common::scenario::{CodeRepo, Scenario};
use common::{commit_file, fsck, git, rev_parse};
use support_ssh::{keygen, run_with_deadline, script, BlackHole, Sshd};

/// The agent's ssh environment made hermetic: nothing from the developer's shell.
fn agent(s: &Scenario) -> Command {
    let mut cmd = s.agent();
    cmd.env_remove("GIT_SSH_COMMAND")
        .env_remove("GIT_SSH")
        .env_remove("GIT_SSH_VARIANT")
        .env_remove("SSH_AUTH_SOCK");
    cmd
}

fn once(s: &Scenario) -> common::scenario::Run {
    let mut cmd = agent(s);
    cmd.arg("--once");
    let (run, elapsed) = run_with_deadline(cmd, Duration::from_secs(120));
    assert!(
        run.code != -1,
        "agent killed after {elapsed:?}:\n{}",
        run.stderr
    );
    run
}

/// `--once` that must fail (exit 1) fast: a refused connection is no reason to wait.
fn once_failing_fast(s: &Scenario) -> common::scenario::Run {
    let mut cmd = agent(s);
    cmd.arg("--once");
    let (run, elapsed) = run_with_deadline(cmd, Duration::from_secs(60));
    run.expect_code(1);
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    run
}

/// A scenario whose deploy repo is reached over ssh (the fixture side still uses file://).
fn ssh_scenario(sshd: &Sshd) -> Scenario {
    let mut s = Scenario::new();
    s.deploy_url = sshd.url(&s.deploy_bare);
    s
}

/// A code repo served over ssh.
fn ssh_code_repo(
    s: &Scenario,
    sshd: &Sshd,
    name: &str,
    files: &[(&str, &str)],
) -> (CodeRepo, String) {
    let (mut code, c1) = s.code_repo(name, files);
    code.url = sshd.url(&code.bare);
    (code, c1)
}

fn toml_line(key: &str, value: &str) -> String {
    format!("{key} = '{value}'\n")
}

fn head(dir: &std::path::Path) -> String {
    git(dir, &["rev-parse", "HEAD"])
}

#[test]
fn clone_unchanged_and_changed_passes_with_monitoring_push_over_ssh() {
    let Some(sshd) =
        Sshd::start("clone_unchanged_and_changed_passes_with_monitoring_push_over_ssh")
    else {
        return;
    };
    let mut s = ssh_scenario(&sshd);
    s.config_extra = toml_line("ssh_command", &sshd.command());
    let (code, c1) = ssh_code_repo(&s, &sshd, "web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);

    // first pass: clone deploy and code over ssh, create the monitoring branch
    let run = once(&s);
    run.expect_code(0);
    assert_eq!(head(&s.srv("web")), c1);
    let m1 = s
        .monitoring_head()
        .expect("monitoring branch created over ssh");
    assert_eq!(s.monitoring_commits(), 1);
    assert_eq!(s.feedback()["web"]["status"].as_str(), Some("✅ healthy"));
    fsck(&s.deploy_bare);

    // unchanged pass: fetches over ssh, pushes nothing
    std::thread::sleep(Duration::from_millis(1100));
    once(&s).expect_code(0);
    assert_eq!(s.monitoring_head().as_deref(), Some(m1.as_str()));

    // changed pass: new code commit fetched over ssh, status fast-forwarded
    let c2 = commit_file(&code.work, "app.txt", "v2\n", "web: v2");
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    s.infra_meta(&[s.section("web", &code, &c2, "")]);
    once(&s).expect_code(0);
    assert_eq!(head(&s.srv("web")), c2);
    assert_eq!(
        fs::read_to_string(s.srv("web").join("app.txt")).unwrap(),
        "v2\n"
    );
    let m2 = s.monitoring_head().expect("monitoring head");
    assert_ne!(m2, m1);
    assert_eq!(
        git(&s.deploy_bare, &["rev-parse", &format!("{m2}^")]),
        m1,
        "fast-forward"
    );
    fsck(&s.deploy_bare);
    assert!(sshd.log().contains("Accepted publickey"), "{}", sshd.log());
}

#[test]
fn old_monitoring_history_is_trimmed_and_force_pushed_over_ssh() {
    let Some(sshd) = Sshd::start("old_monitoring_history_is_trimmed_and_force_pushed_over_ssh")
    else {
        return;
    };
    let mut s = ssh_scenario(&sshd);
    s.config_extra = format!(
        "monitoring_history_retention_days = 7\n{}",
        toml_line("ssh_command", &sshd.command())
    );
    let (code, c1) = ssh_code_repo(&s, &sshd, "web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    // three commits 30..28 days old and one of yesterday on the monitoring branch
    let ids = s.old_monitoring_history(&[30, 29, 28, 1]);

    once(&s).expect_code(0);
    let log = git(
        &s.deploy_bare,
        &["log", "--format=%P|%s", "main-monitoring"],
    );
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines[1].ends_with("|old 3"), "{log}");
    assert!(
        lines[2].starts_with("|📉 History trimmed"),
        "parentless squash: {log}"
    );
    // the old tip is no longer reachable: a forced update happened on the server
    let merged = common::try_git(
        &s.deploy_bare,
        &["merge-base", "--is-ancestor", &ids[3], "main-monitoring"],
    );
    assert!(!merged.status.success(), "history was rewritten: {log}");
    fsck(&s.deploy_bare);
}

#[test]
fn refused_key_fails_fast_with_a_clear_error_and_no_userinfo() {
    let Some(sshd) = Sshd::start("refused_key_fails_fast_with_a_clear_error_and_no_userinfo")
    else {
        return;
    };
    // deploy over file:// so the failure lands in the feedback file; the code repo over
    // ssh with a key the server does not know, and a password in the url that must never show
    let mut s = Scenario::new();
    let stranger = s.path().join("stranger_key");
    keygen(&stranger);
    s.config_extra = toml_line(
        "ssh_command",
        &sshd.command_with(&stranger, &sshd.known_hosts),
    );
    let (mut code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    code.url = format!(
        "ssh://{}:S3CRET-pw@127.0.0.1:{}{}",
        sshd.user,
        sshd.port,
        code.bare.display()
    );
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);

    let run = once_failing_fast(&s);
    assert!(run.stderr.contains("Permission denied"), "{}", run.stderr);
    assert!(
        run.stderr.contains("authorized"),
        "the fix is named: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("127.0.0.1:{}", sshd.port)),
        "{}",
        run.stderr
    );
    let feedback = s.feedback_text();
    assert!(feedback.contains("Permission denied"), "{feedback}");
    assert_eq!(
        s.feedback()["web"]["status"].as_str(),
        Some("❌ app update failed")
    );
    let userinfo = format!("{}@127.0.0.1", sshd.user);
    for (what, text) in [("log", &run.stderr), ("feedback", &feedback)] {
        assert!(!text.contains("S3CRET-pw"), "password in {what}: {text}");
        assert!(!text.contains(&userinfo), "userinfo in {what}: {text}");
    }
    assert!(!s.srv("web").join("app.txt").exists());
}

#[test]
fn unknown_host_key_is_refused_and_names_ssh_keyscan() {
    let Some(sshd) = Sshd::start("unknown_host_key_is_refused_and_names_ssh_keyscan") else {
        return;
    };
    let mut s = ssh_scenario(&sshd);
    let empty = s.path().join("empty_known_hosts");
    fs::write(&empty, "").unwrap();
    s.config_extra = toml_line("ssh_command", &sshd.command_with(&sshd.key, &empty));
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);

    let run = once_failing_fast(&s);
    assert!(run.stderr.contains("host key"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "ssh-keyscan -p {} 127.0.0.1 >> ~/.ssh/known_hosts",
            sshd.port
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        fs::read_to_string(&empty).unwrap(),
        "",
        "the agent never adds a key itself"
    );
    assert!(s.monitoring_head().is_none());
}

#[test]
fn git_ssh_command_is_honoured_and_ssh_command_overrides_it() {
    let Some(sshd) = Sshd::start("git_ssh_command_is_honoured_and_ssh_command_overrides_it") else {
        return;
    };
    let mut s = ssh_scenario(&sshd);
    let (code, c1) = ssh_code_repo(&s, &sshd, "web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    // a wrapper whose name says nothing: the agent must find out it is OpenSSH (it passes a
    // port) and still add BatchMode
    let calls = s.path().join("wrapper-calls");
    let wrapper = s.path().join("wrap-transport");
    script(
        &wrapper,
        &format!(
            "echo \"$*\" >> '{}'\nexec {} \"$@\"",
            calls.display(),
            sshd.command()
        ),
    );

    let mut cmd = agent(&s);
    cmd.arg("--once").env("GIT_SSH_COMMAND", &wrapper);
    let (run, _) = run_with_deadline(cmd, Duration::from_secs(120));
    run.expect_code(0);
    assert_eq!(head(&s.srv("web")), c1);
    let recorded = fs::read_to_string(&calls).expect("GIT_SSH_COMMAND was used");
    assert!(
        recorded
            .lines()
            .any(|l| l.contains("BatchMode=yes") && l.contains(&format!("-p{}", sshd.port))),
        "{recorded}"
    );

    // ssh_command in the config wins over GIT_SSH_COMMAND
    fs::remove_file(&calls).unwrap();
    s.config_extra = toml_line("ssh_command", &sshd.command());
    s.agent_config(&["web"]);
    let c2 = commit_file(&code.work, "app.txt", "v2\n", "web: v2");
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    s.infra_meta(&[s.section("web", &code, &c2, "")]);
    let mut cmd = agent(&s);
    cmd.arg("--once").env("GIT_SSH_COMMAND", &wrapper);
    let (run, _) = run_with_deadline(cmd, Duration::from_secs(120));
    run.expect_code(0);
    assert_eq!(head(&s.srv("web")), c2);
    assert!(
        !calls.exists(),
        "GIT_SSH_COMMAND must not run when ssh_command is set"
    );
}

#[test]
fn ssh_key_shortcut_logs_in_with_that_key() {
    let Some(sshd) = Sshd::start("ssh_key_shortcut_logs_in_with_that_key") else {
        return;
    };
    let mut s = ssh_scenario(&sshd);
    s.config_extra = toml_line("ssh_key", &sshd.key.display().to_string());
    let (code, c1) = ssh_code_repo(&s, &sshd, "web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    // ssh reads known_hosts from the passwd home, not $HOME: an `ssh` first on PATH adds
    // this server's known_hosts (and records its arguments) before the real client runs
    let bin = s.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let calls = s.path().join("ssh-calls");
    let real_ssh = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v ssh"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    script(
        &bin.join("ssh"),
        &format!(
            "echo \"$*\" >> '{}'\nexec {} -F /dev/null -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes \"$@\"",
            calls.display(),
            real_ssh.trim(),
            sshd.known_hosts.display()
        ),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut cmd = agent(&s);
    cmd.arg("--once").env("PATH", path);
    let (run, _) = run_with_deadline(cmd, Duration::from_secs(120));
    run.expect_code(0);
    assert_eq!(head(&s.srv("web")), c1);
    assert!(s.monitoring_head().is_some());
    let recorded = fs::read_to_string(&calls).unwrap();
    let key_arg = format!(
        "-i {} -o IdentitiesOnly=yes -o BatchMode=yes",
        sshd.key.display()
    );
    assert!(recorded.lines().all(|l| l.contains(&key_arg)), "{recorded}");
    fsck(&s.deploy_bare);
}

#[test]
fn black_holed_ssh_server_fails_within_network_timeout_and_the_pass_finishes() {
    let Some(sshd) =
        Sshd::start("black_holed_ssh_server_fails_within_network_timeout_and_the_pass_finishes")
    else {
        return;
    };
    let hole = BlackHole::start();
    // `lost` is behind a server that accepts TCP and never speaks
    let (s, c1) = healthy_web_beside(&sshd.command(), "lost", |_| {
        format!("ssh://{}@127.0.0.1:{}/srv/lost.git", sshd.user, hole.port)
    });
    dead_group_fails_fast(&s, &c1, "timed out");
}

/// App `web` in a healthy file:// deploy repo, and app `name` in a group at the url `url`
/// makes, which must fail; `network_timeout = 3`. Returns the scenario and web's commit.
fn healthy_web_beside(
    ssh_command: &str,
    name: &str,
    url: impl FnOnce(&Scenario) -> String,
) -> (Scenario, String) {
    let mut s = Scenario::new();
    s.config_extra = format!(
        "network_timeout = 3\n{}",
        toml_line("ssh_command", ssh_command)
    );
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    let dead_url = url(&s);
    let mut config = fs::read_to_string(&s.config).unwrap();
    config.push_str(&format!("{name} = \"{dead_url}@main\"\n"));
    fs::write(&s.config, config).unwrap();
    (s, c1)
}

/// One `--once` over [`healthy_web_beside`]: the dead group fails within the bound with an
/// error that `says` why, and the pass still reconciles and reports `web`.
fn dead_group_fails_fast(s: &Scenario, web_commit: &str, says: &str) {
    let mut cmd = agent(s);
    cmd.arg("--once");
    let (run, elapsed) = run_with_deadline(cmd, Duration::from_secs(60));
    run.expect_code(1);
    assert!(
        elapsed < Duration::from_secs(15),
        "network_timeout = 3, took {elapsed:?}:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains(says), "{}", run.stderr);
    assert_eq!(
        head(&s.srv("web")),
        web_commit,
        "the other group still reconciled"
    );
    assert_eq!(s.feedback()["web"]["status"].as_str(), Some("✅ healthy"));
    assert!(rev_parse(&s.deploy_bare, "refs/heads/main-monitoring").is_some());
}

#[test]
fn changed_host_key_is_refused_with_the_steps_to_fix_it() {
    let Some(sshd) = Sshd::start("changed_host_key_is_refused_with_the_steps_to_fix_it") else {
        return;
    };
    let mut s = ssh_scenario(&sshd);
    // known_hosts holds another key for this host:port, as after a server reinstall
    let other = s.path().join("other_host_key");
    keygen(&other);
    let other_pub = fs::read_to_string(other.with_extension("pub")).unwrap();
    let mut fields = other_pub.split_whitespace();
    let stale = s.path().join("stale_known_hosts");
    fs::write(
        &stale,
        format!(
            "[127.0.0.1]:{} {} {}\n",
            sshd.port,
            fields.next().unwrap(),
            fields.next().unwrap()
        ),
    )
    .unwrap();
    s.config_extra = toml_line("ssh_command", &sshd.command_with(&sshd.key, &stale));
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);

    let run = once_failing_fast(&s);
    assert!(run.stderr.contains("has CHANGED"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("ssh-keygen -R '[127.0.0.1]:{}'", sshd.port)),
        "{}",
        run.stderr
    );
    assert!(s.monitoring_head().is_none());
}

/// A server that lets the agent in and then never sends a byte of git protocol (a hung
/// `git-upload-pack`, an overloaded forge): sshd keeps answering keep-alives, so only the
/// agent's own silence bound can end it.
#[test]
fn ssh_server_stalling_after_login_fails_within_network_timeout() {
    let Some(sshd) = Sshd::start("ssh_server_stalling_after_login_fails_within_network_timeout")
    else {
        return;
    };
    let stall_key = sshd.dir.join("stall_key");
    keygen(&stall_key);
    let stall_pub = fs::read_to_string(stall_key.with_extension("pub")).unwrap();
    let authorized = sshd.dir.join("authorized_keys");
    let mut keys = fs::read_to_string(&authorized).unwrap();
    keys.push_str(&format!("command=\"sleep 30\" {stall_pub}"));
    fs::write(&authorized, keys).unwrap();

    let command = sshd.command_with(&stall_key, &sshd.known_hosts);
    let (s, c1) = healthy_web_beside(&command, "stuck", |s| sshd.url(&s.deploy_bare));
    dead_group_fails_fast(&s, &c1, "no data from ssh");
    let ps = Command::new("pgrep")
        .args(["-f", "stall_key"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&ps.stdout).trim().is_empty(),
        "no ssh left behind"
    );
}

/// Whether process `pid` is gone within `bound` (dead, or a zombie: in a container pid 1
/// may never reap).
fn gone_within(pid: i32, bound: Duration) -> bool {
    let t0 = std::time::Instant::now();
    loop {
        // SAFETY: signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        let zombie = fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        });
        if !alive || zombie {
            return true;
        }
        if t0.elapsed() > bound {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An ssh wrapper (a name the agent cannot recognise, so it is probed with `-G`) that
/// starts a child in the background and then hangs, whatever it is asked: the probe and the
/// connection both end within `network_timeout` bounds, and everything the wrapper started
/// ends with them. No sshd needed: the wrapper never connects anywhere.
#[test]
fn hanging_ssh_wrapper_and_its_children_are_gone_within_the_bound() {
    let mut s = Scenario::new();
    let pids = s.path().join("wrapper-children");
    let wrapper = s.path().join("wrap-ssh");
    script(
        &wrapper,
        &format!(
            "sleep 1000 &\necho $! >> '{}'\nwhile :; do sleep 1; done",
            pids.display()
        ),
    );
    s.config_extra = format!(
        "network_timeout = 1\n{}",
        toml_line("ssh_command", &wrapper.to_string_lossy())
    );
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    let mut config = fs::read_to_string(&s.config).unwrap();
    // No port: a probed-as-simple wrapper could not take one, and the connection must run.
    config.push_str("hang = \"ssh://git@127.0.0.1/srv/hang.git@main\"\n");
    fs::write(&s.config, config).unwrap();

    let mut cmd = agent(&s);
    cmd.arg("--once");
    let (run, elapsed) = run_with_deadline(cmd, Duration::from_secs(60));
    run.expect_code(1);
    // Per ssh contact: the probe (1 s) and the first read (1.5 s); the deploy fetch and
    // the monitoring fetch of the dead group each make one.
    assert!(
        elapsed < Duration::from_secs(15),
        "network_timeout = 1, took {elapsed:?}:\n{}",
        run.stderr
    );
    let children: Vec<i32> = fs::read_to_string(&pids)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(
        children.len() >= 4,
        "probes and connections ran: {children:?}"
    );
    let survivors: Vec<i32> = children
        .iter()
        .copied()
        .filter(|&pid| !gone_within(pid, Duration::from_secs(1)))
        .collect();
    for &pid in &survivors {
        // SAFETY: ending this test's own leftovers before failing.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(
        survivors.is_empty(),
        "the wrapper's children {survivors:?} (of {children:?}) outlived the run"
    );
    assert_eq!(head(&s.srv("web")), c1, "the other group still reconciled");
}

/// Issue 14: `ssh_key` used to be ignored silently when `ssh_command` was set; an
/// `ssh_command` without `-i` plus `ssh_key` failed with "Permission denied". Now the key is
/// passed after the operator's options.
#[test]
fn ssh_key_is_used_together_with_an_ssh_command_without_a_key() {
    let Some(sshd) = Sshd::start("ssh_key_is_used_together_with_an_ssh_command_without_a_key")
    else {
        return;
    };
    let mut s = ssh_scenario(&sshd);
    let no_key = format!(
        "ssh -F /dev/null -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes",
        sshd.known_hosts.display()
    );
    s.config_extra = format!(
        "{}{}",
        toml_line("ssh_command", &no_key),
        toml_line("ssh_key", &sshd.key.display().to_string())
    );
    let (code, c1) = ssh_code_repo(&s, &sshd, "web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    once(&s).expect_code(0);
    assert_eq!(head(&s.srv("web")), c1);
    assert!(s.monitoring_head().is_some());
}
