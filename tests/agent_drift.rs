//! Drift and damaged clones, end to end through `--once` (SPEC §3, §6): modified, deleted
//! and moved files put back, config overlays that are not drift, foreign clones refused,
//! half-written indexes and stale locks repaired.

mod common;

use std::fs;

use common::agent::{head, runs, sha256_hex, web_world};
use common::scenario::{Scenario, INFRA};
use common::{commit_file, git};

#[test]
fn drift_is_corrected_modified_and_deleted_files() {
    let s = Scenario::new();
    web_world(&s);
    s.once().expect_code(0);
    let srv = s.srv("web");

    fs::write(srv.join("app.txt"), "hacked\n").unwrap();
    s.once().expect_code(0);
    assert_eq!(fs::read_to_string(srv.join("app.txt")).unwrap(), "v1\n");
    assert_eq!(runs(&s, "post"), 2);
    assert_eq!(runs(&s, "pre"), 1, "pre runs when the folder exists");

    fs::remove_file(srv.join("lib/old.txt")).unwrap();
    s.once().expect_code(0);
    assert_eq!(
        fs::read_to_string(srv.join("lib/old.txt")).unwrap(),
        "old\n"
    );
    assert_eq!(runs(&s, "post"), 3);

    // an untracked file is not drift
    fs::write(srv.join("cache.bin"), "x").unwrap();
    s.once().expect_code(0);
    assert_eq!(runs(&s, "post"), 3);
}

#[test]
fn head_moved_by_hand_is_put_back() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let c2 = commit_file(&code.work, "app.txt", "v2\n", "v2");
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    let srv = s.srv("web");
    // The agent fetched only the pinned commit (SPEC §14): get c2 by hand, as an operator would.
    git(&srv, &["fetch", "--quiet", "origin", "main"]);
    git(&srv, &["checkout", "--quiet", &c2]);
    s.once().expect_code(0);
    assert_eq!(head(&srv), c1);
}

#[test]
fn missing_code_folder_is_recloned() {
    let s = Scenario::new();
    let (_code, c1) = web_world(&s);
    s.once().expect_code(0);
    fs::remove_dir_all(s.srv("web")).unwrap();
    s.once().expect_code(0);
    assert_eq!(head(&s.srv("web")), c1);
    assert_eq!(runs(&s, "post"), 2);
}

#[test]
fn config_file_drift_is_recopied() {
    let s = Scenario::new();
    web_world(&s);
    s.once().expect_code(0);
    let env = s.srv("web").join("conf/.env");
    fs::write(&env, "PORT=8080\n").unwrap();
    s.once().expect_code(0);
    assert_eq!(fs::read_to_string(&env).unwrap(), "PORT=80\n");
    assert_eq!(runs(&s, "post"), 2);
    // a new src content in the deploy repo reaches the device
    s.deploy(&[(&format!("{INFRA}/web.env"), "PORT=81\n")]);
    s.once().expect_code(0);
    assert_eq!(fs::read_to_string(&env).unwrap(), "PORT=81\n");
}

#[test]
fn config_file_over_a_tracked_file_does_not_loop() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n"), ("settings.ini", "default\n")]);
    let marker = s.path().join("post-runs");
    s.deploy(&[(&format!("{INFRA}/settings.ini"), "device-specific\n")]);
    let extra = format!(
        "config_files = [ {{ src = \"{INFRA}/settings.ini\", dst = \"{}\" }} ]\npost_updation_command = \"echo p >> {}\"",
        s.srv("web").join("settings.ini").display(),
        marker.display()
    );
    s.infra_meta(&[s.section("web", &code, &c1, &extra)]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    s.once().expect_code(0);
    s.once().expect_code(0);
    assert_eq!(runs(&s, "post"), 1, "the overlay is not drift");
    assert_eq!(
        fs::read_to_string(s.srv("web").join("settings.ini")).unwrap(),
        "device-specific\n"
    );
    // other drift is still seen
    fs::write(s.srv("web").join("app.txt"), "hacked\n").unwrap();
    s.once().expect_code(0);
    assert_eq!(runs(&s, "post"), 2);
    assert_eq!(
        fs::read_to_string(s.srv("web").join("app.txt")).unwrap(),
        "v1\n"
    );
    assert_eq!(
        fs::read_to_string(s.srv("web").join("settings.ini")).unwrap(),
        "device-specific\n"
    );
}

#[test]
fn code_folder_owned_by_another_user_is_adopted() {
    use std::os::unix::fs::MetadataExt;
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to chown");
        return;
    }
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    // a service user took the app's files (a `.git` owned by someone else is refused
    // instead, SPEC §10: tests/security_clones.rs)
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("chown 65534:65534 \"$1\" && find \"$1\" -mindepth 1 -maxdepth 1 ! -name .git -exec chown -R 65534:65534 {} +")
        .arg("sh")
        .arg(s.srv("web"))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(fs::metadata(s.srv("web")).unwrap().uid(), 65534);
    fs::write(s.srv("web").join("app.txt"), "drift\n").unwrap();
    s.once().expect_code(0);
    assert_eq!(fs::metadata(s.srv("web")).unwrap().uid(), 0);
    assert_eq!(
        fs::metadata(s.srv("web").join(".git/HEAD")).unwrap().uid(),
        0
    );
    assert_eq!(
        fs::read_to_string(s.srv("web").join("app.txt")).unwrap(),
        "v1\n"
    );
}

#[test]
fn code_folder_cloned_from_another_repo_is_refused_without_running_hooks() {
    let s = Scenario::new();
    let (_code, _c1) = web_world(&s);
    let (other, _) = s.code_repo("other", &[("x.txt", "x\n")]);
    git(
        s.path(),
        &[
            "clone",
            "--quiet",
            &other.url,
            s.srv("web").to_str().unwrap(),
        ],
    );
    s.once().expect_code(1);
    s.once().expect_code(1);
    assert_eq!(
        runs(&s, "pre"),
        0,
        "no hook for a folder the agent will not touch"
    );
    assert_eq!(runs(&s, "post"), 0);
    let fb = s.feedback();
    assert_eq!(fb["web"]["status"].as_str(), Some("❌ app update failed"));
    let why = fb["web"]["app-updation"]["git-status"].as_str().unwrap();
    assert!(
        why.contains("other") && why.contains("not touching it"),
        "{why}"
    );
    assert_eq!(
        git(&s.srv("web"), &["remote", "get-url", "origin"]),
        other.url
    );
}

#[test]
fn origin_guard_refuses_a_clone_of_another_repo() {
    let s = Scenario::new();
    web_world(&s);
    let hash = &sha256_hex(s.deploy_url.trim_end_matches(".git"))[..8];
    let dir = s
        .home
        .join("app-configs")
        .join(format!("deploy@main-{hash}"));
    let foreign = common::bare_repo(&s.path().join("foreign.git"));
    fs::create_dir_all(dir.parent().unwrap()).unwrap();
    git(
        s.path(),
        &[
            "clone",
            "--quiet",
            &common::file_url(&foreign),
            dir.to_str().unwrap(),
        ],
    );
    let run = s.once();
    run.expect_code(1);
    assert!(
        run.stderr.contains("foreign") && run.stderr.contains("deploy"),
        "{}",
        run.stderr
    );
    assert_eq!(
        git(&dir, &["remote", "get-url", "origin"]),
        common::file_url(&foreign)
    );
    assert!(!s.srv("web").exists());
}

#[test]
fn half_written_index_and_stale_locks_are_repaired() {
    let s = Scenario::new();
    let (_code, c1) = web_world(&s);
    s.once().expect_code(0);
    let srv = s.srv("web");
    // a power cut mid-write: a truncated index and lock files left behind
    let index = fs::read(srv.join(".git/index")).unwrap();
    fs::write(srv.join(".git/index"), &index[..index.len() / 2]).unwrap();
    fs::write(srv.join(".git/index.lock"), "").unwrap();
    fs::write(srv.join(".git/HEAD.lock"), "").unwrap();
    let deploy = fs::read_dir(s.home.join("app-configs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::write(deploy.join(".git/refs/remotes/origin/main.lock"), "").unwrap();
    s.deploy(&[(&format!("{INFRA}/web.env"), "PORT=81\n")]);
    s.once().expect_code(0);
    assert_eq!(head(&srv), c1);
    assert_eq!(
        git(&srv, &["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    assert!(!srv.join(".git/index.lock").exists() && !srv.join(".git/HEAD.lock").exists());
    assert!(!deploy.join(".git/refs/remotes/origin/main.lock").exists());
    assert_eq!(
        fs::read_to_string(srv.join("conf/.env")).unwrap(),
        "PORT=81\n"
    );
}

/// The unchanged pass keeps the config files it found equal under their stat data
/// (`state/compare/`), and reads them again once either changes: a same-size edit of the
/// `dst` with its mtime put back is still drift (its ctime tells), as is a new `src`.
#[test]
fn config_file_drift_is_seen_after_passes_that_kept_it_equal() {
    let s = Scenario::new();
    web_world(&s);
    s.once().expect_code(0);
    let env = s.srv("web").join("conf/.env");
    // files older than the memo's margin: the next pass keeps the pair, the one after uses it
    std::thread::sleep(std::time::Duration::from_millis(2200));
    s.once().expect_code(0);
    let kept = s.path().join("home/state/compare");
    assert!(
        fs::read_dir(&kept).is_ok_and(|mut d| d.next().is_some()),
        "the pair is kept in {}",
        kept.display()
    );
    s.once().expect_code(0);
    assert_eq!(runs(&s, "post"), 1, "unchanged passes run nothing");
    let mtime = fs::metadata(&env).unwrap().modified().unwrap();
    fs::write(&env, "PORT=99\n").unwrap();
    fs::File::options()
        .write(true)
        .open(&env)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    s.once().expect_code(0);
    assert_eq!(fs::read_to_string(&env).unwrap(), "PORT=80\n");
    assert_eq!(runs(&s, "post"), 2);
}
