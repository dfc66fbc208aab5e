//! SPEC §10, code clones, built as the attacker would: whoever can write a code clone's
//! `.git/config` (the app's service user, a careless chmod) must not get a program run as
//! root, nor redirect the checkout out of the app folder. Each test plants the key in a real
//! clone made by the agent, then runs an ordinary pass (nothing to do) and an update.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::git;
use common::scenario::{CodeRepo, Scenario};

/// A device with one app whose code repo tracks `*.txt` through the filter `evil` (a
/// committed `.gitattributes`, harmless without a driver), installed by a first pass.
fn installed() -> (Scenario, CodeRepo) {
    let s = Scenario::new();
    let (code, _) = s.code_repo("web", &[("app.txt", "v1\n")]);
    fs::write(code.work.join(".gitattributes"), "*.txt filter=evil\n").unwrap();
    git(&code.work, &["add", "-A"]);
    git(&code.work, &["commit", "-qm", "attributes"]);
    git(&code.work, &["push", "-q", "origin", "HEAD:main"]);
    let c = git(&code.work, &["rev-parse", "HEAD"]);
    s.infra_meta(&[s.section("web", &code, &c, "")]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    (s, code)
}

/// A program that leaves `marker` behind when run, then passes stdin through (a filter).
fn marker_program(s: &Scenario, marker: &Path) -> PathBuf {
    let prog = s.path().join("evil.sh");
    fs::write(
        &prog,
        format!("#!/bin/sh\ntouch {}\nexec cat\n", marker.display()),
    )
    .unwrap();
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
    prog
}

/// A new code commit (adds `b.txt`) pinned in infra_meta: the next pass updates the clone.
fn new_commit(s: &Scenario, code: &CodeRepo) {
    let c = common::commit_file(&code.work, "b.txt", "b\n", "b");
    git(&code.work, &["push", "-q", "origin", "HEAD:main"]);
    s.infra_meta(&[s.section("web", code, &c, "")]);
}

/// Ordinary pass with the app's files touched (their stat data changed, not their content:
/// the status check must hash them, where git runs a clean filter), then an update (where
/// git runs a smudge filter and fsmonitor).
fn ordinary_pass_and_update(s: &Scenario, code: &CodeRepo) {
    let app = s.srv("web").join("app.txt");
    let f = fs::File::options().append(true).open(&app).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(f);
    s.once().expect_code(0);
    new_commit(s, code);
    s.once().expect_code(0);
    assert_eq!(
        fs::read_to_string(s.srv("web").join("b.txt")).unwrap(),
        "b\n"
    );
    assert_eq!(fs::read_to_string(&app).unwrap(), "v1\n");
}

#[test]
fn filter_driver_in_a_code_clone_config_runs_nothing() {
    let (s, code) = installed();
    let marker = s.path().join("filter-ran");
    let prog = marker_program(&s, &marker);
    let clone = s.srv("web");
    for key in ["filter.evil.clean", "filter.evil.smudge"] {
        git(&clone, &["config", key, prog.to_str().unwrap()]);
    }
    git(&clone, &["config", "filter.evil.required", "true"]);
    ordinary_pass_and_update(&s, &code);
    assert!(!marker.exists(), "a filter driver ran as the agent");
}

#[test]
fn fsmonitor_in_a_code_clone_config_runs_nothing() {
    let (s, code) = installed();
    let marker = s.path().join("fsmonitor-ran");
    let prog = marker_program(&s, &marker);
    git(
        &s.srv("web"),
        &["config", "core.fsmonitor", prog.to_str().unwrap()],
    );
    ordinary_pass_and_update(&s, &code);
    assert!(!marker.exists(), "core.fsmonitor ran as the agent");
}

#[test]
fn core_worktree_in_a_code_clone_config_cannot_move_the_checkout() {
    let (s, code) = installed();
    let elsewhere = s.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::write(elsewhere.join("precious"), "keep\n").unwrap();
    git(
        &s.srv("web"),
        &["config", "core.worktree", elsewhere.to_str().unwrap()],
    );
    ordinary_pass_and_update(&s, &code);
    let left: Vec<_> = fs::read_dir(&elsewhere)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("precious")]);
    assert_eq!(
        fs::read_to_string(elsewhere.join("precious")).unwrap(),
        "keep\n"
    );
}

#[test]
fn include_path_in_a_code_clone_config_brings_in_nothing() {
    let (s, code) = installed();
    let marker = s.path().join("include-ran");
    let prog = marker_program(&s, &marker);
    let elsewhere = s.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let included = s.path().join("included.cfg");
    fs::write(
        &included,
        format!(
            "[filter \"evil\"]\n\tclean = {p}\n\tsmudge = {p}\n[core]\n\tworktree = {w}\n\tfsmonitor = {p}\n",
            p = prog.display(),
            w = elsewhere.display()
        ),
    )
    .unwrap();
    git(
        &s.srv("web"),
        &["config", "include.path", included.to_str().unwrap()],
    );
    ordinary_pass_and_update(&s, &code);
    assert!(!marker.exists(), "an included config ran a program");
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
}

/// Like git's `safe.directory`: a `.git` anyone may write is not the agent's to trust. The
/// app fails naming the path, no hook runs, nothing is checked out.
#[test]
fn world_writable_code_clone_is_refused_naming_the_path() {
    let (s, code) = installed();
    let dot_git = s.srv("web").join(".git");
    fs::set_permissions(&dot_git, fs::Permissions::from_mode(0o777)).unwrap();
    let hook_ran = s.path().join("hook-ran");
    let c = common::commit_file(&code.work, "b.txt", "b\n", "b");
    git(&code.work, &["push", "-q", "origin", "HEAD:main"]);
    s.infra_meta(&[s.section(
        "web",
        &code,
        &c,
        &format!("pre_updation_command = \"touch {}\"", hook_ran.display()),
    )]);
    let run = s.once();
    run.expect_code(1);
    let status = s.feedback()["web"]["app-updation"]["git-status"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        status.contains(&dot_git.display().to_string()),
        "{status}\n{}",
        run.stderr
    );
    assert!(!hook_ran.exists());
    assert!(!s.srv("web").join("b.txt").exists());
    // fixed by the operator: the next pass goes on
    fs::set_permissions(&dot_git, fs::Permissions::from_mode(0o755)).unwrap();
    s.once().expect_code(0);
    assert!(hook_ran.exists());
    assert!(s.srv("web").join("b.txt").exists());
}

#[test]
fn code_clone_owned_by_another_user_is_refused_naming_the_path() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to chown");
        return;
    }
    let (s, code) = installed();
    let dot_git = s.srv("web").join(".git");
    let out = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&dot_git)
        .status()
        .unwrap();
    assert!(out.success());
    new_commit(&s, &code);
    let run = s.once();
    run.expect_code(1);
    let status = s.feedback()["web"]["app-updation"]["git-status"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(status.contains(&dot_git.display().to_string()), "{status}");
    assert!(status.contains("owned by uid 65534"), "{status}");
    assert!(!s.srv("web").join("b.txt").exists());
}

/// A person on the device runs `git commit -a` in the code clone (git holds `.git/index.lock`
/// while the editor is open) just as the agent corrects drift: the lock is theirs, the
/// agent leaves it (and tries again next pass), their commit goes through.
#[test]
fn a_persons_live_git_lock_in_a_code_clone_is_left_alone() {
    let (s, _code) = installed();
    let clone = s.srv("web");
    fs::write(clone.join("app.txt"), "v1\nlocal fix\n").unwrap();
    let mut person = common::git_command(&clone)
        .args(["commit", "-a", "-q"])
        .env("GIT_EDITOR", "sleep 6; echo person-commit >")
        .spawn()
        .unwrap();
    let lock = clone.join(".git/index.lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !lock.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(lock.exists(), "git did not take its lock");
    let run = s.once();
    assert!(
        lock.exists(),
        "the agent removed a live lock:\n{}",
        run.stderr
    );
    assert!(
        person.wait().unwrap().success(),
        "the person's commit failed"
    );
    assert_eq!(git(&clone, &["log", "-1", "--format=%s"]), "person-commit");
}
