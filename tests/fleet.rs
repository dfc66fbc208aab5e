//! A fleet on one deploy repo (SPEC §9), against a real `git daemon` on 127.0.0.1 and the real
//! binary: many devices publishing at the same moment, lost races retried in the same pass,
//! servers that refuse a push or a forced update, the README.md dashboard, heartbeat, splay.

mod common;
mod support_fleet;

use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::scenario::{Scenario, INFRA};
use common::{fsck, git, new_pack_objects, pack_indexes};
use support_fleet::{
    assert_linear, counting, device_file, install_hook, push_to_branch, readme_devices, readme_row,
    resetting_relay, stamp_hours_ago, Fleet, Running, LAND_OTHER_DEVICE,
};
use support_fleet::{device_config, web_device};

#[test]
fn eight_devices_at_once_every_round_lands_in_one_pass() {
    let f = Fleet::new(8);
    f.configure("");
    let mut trims = 0;
    for round in 0..4 {
        let commit = f.code_commit(&format!("v{}\n", round + 1));
        f.pin_all(&commit);
        if round == 1 {
            // Another party's garbage on the branch never stops a device's publish.
            push_to_branch(&f.s, |w| {
                fs::write(w.join("zz-junk.toml"), "not = = toml").unwrap()
            });
        }
        if round == 3 {
            // Every push a trim: retention 0 squashes everything before now.
            f.configure("monitoring_history_retention_days = 0");
            std::thread::sleep(Duration::from_millis(1100));
        }
        let before = f.head();
        let runs = f.run_all(&[]);
        for (d, run) in f.devices.iter().zip(&runs) {
            assert_eq!(run.code, 0, "round {round}, {}:\n{}", d.name, run.stderr);
            let report: toml::Table = f.show(&format!("{}.toml", d.name)).parse().unwrap();
            let latest = report["web"]["app-updation"]["git-repo-latest-commit"]
                .as_str()
                .unwrap();
            assert!(
                latest.contains(&commit[..7]),
                "round {round}: {} reports {latest}, not {commit}",
                d.name
            );
        }
        let retries: usize = runs
            .iter()
            .map(|r| r.stderr.matches("trying again").count())
            .sum();
        eprintln!("round {round}: {retries} retried pushes");
        trims += runs
            .iter()
            .filter(|r| r.stderr.contains("(history trimmed)"))
            .count();
        assert_ne!(f.head(), before, "round {round} published");
        assert_linear(f.bare());
        fsck(f.bare());
        let readme = f.show("README.md");
        let junk = if round >= 1 { 1 } else { 0 };
        assert!(
            readme.contains(&format!(
                "{} devices: 8 healthy, {junk} need attention, 0 silent",
                8 + junk
            )),
            "round {round}:\n{readme}"
        );
        if round >= 1 {
            assert!(readme_row(&readme, "zz-junk").contains("❓ unreadable"));
        }
    }
    assert!(trims >= 1, "the retention-0 round trimmed");
    let log = git(f.bare(), &["log", "--format=%s", "main-monitoring"]);
    assert!(
        log.lines()
            .last()
            .unwrap()
            .starts_with("📉 History trimmed"),
        "{log}"
    );
    assert!(
        log.lines().count() <= 1 + 8,
        "everything before the last round is squashed:\n{log}"
    );

    // An unchanged world: nobody pushes.
    let head = f.head();
    for run in f.run_all(&[]) {
        run.expect_code(0);
    }
    assert_eq!(f.head(), head);
}

#[test]
fn a_pre_receive_hook_that_declines_the_first_push_is_retried_in_the_same_pass() {
    let s = Scenario::with_daemon();
    web_device(&s, "");
    let counter = s.path().join("hook-runs");
    install_hook(
        &s,
        "pre-receive",
        &format!(
            "{}if [ $n -eq 1 ]; then echo 'test hook: not now' >&2; exit 1; fi\n",
            counting(&counter)
        ),
    );
    let run = s.once();
    run.expect_code(0);
    assert_eq!(fs::read_to_string(&counter).unwrap().trim(), "2");
    assert!(run.stderr.contains("trying again"), "{}", run.stderr);
    assert_eq!(s.feedback()["web"]["status"].as_str(), Some("✅ healthy"));
    fsck(&s.deploy_bare);
}

#[test]
fn a_push_that_loses_the_race_on_the_server_is_rebuilt_on_the_new_head() {
    let s = Scenario::with_daemon();
    web_device(&s, "");
    s.once().expect_code(0);
    let counter = s.path().join("hook-runs");
    // The first push loses: another device's commit lands between our fetch and our update
    // (receive-pack's own compare-and-swap fails: "failed to update ref").
    install_hook(
        &s,
        "pre-receive",
        &format!(
            "{}if [ $n -eq 1 ]; then {LAND_OTHER_DEVICE} fi\n",
            counting(&counter)
        ),
    );
    let before = s.monitoring_head().unwrap();
    let upload_packs = || {
        let daemon = s.daemon.as_ref().unwrap();
        daemon.log().matches("Request upload-pack").count()
    };
    let contacts = upload_packs();
    let run = s.once_with(&["--force-report"]);
    run.expect_code(0);
    assert!(run.stderr.contains("trying again"), "{}", run.stderr);
    // The side band says why ("cannot lock ref ... but expected"): a lost race is known
    // without fetching to see whether the branch moved. The listing, the fetch the push is
    // built on, and the fetch of the new head: three.
    assert_eq!(upload_packs() - contacts, 3, "{}", run.stderr);
    let files = git(
        &s.deploy_bare,
        &["ls-tree", "--name-only", "main-monitoring"],
    );
    assert_eq!(files, format!("README.md\n{INFRA}.toml\nedge-99.toml"));
    assert_eq!(
        git(&s.deploy_bare, &["show", "main-monitoring:edge-99.toml"]),
        "overall_status = \"n1\"",
        "the other device's file is untouched"
    );
    let chain = git(&s.deploy_bare, &["log", "--format=%s", "main-monitoring"]);
    assert_eq!(
        chain.lines().nth(1),
        Some("edge-99 pushed first"),
        "ours is on top of the other device's commit:\n{chain}"
    );
    assert!(git(
        &s.deploy_bare,
        &["merge-base", "--is-ancestor", &before, "main-monitoring"]
    )
    .is_empty());
    // the dashboard is rebuilt on the new head: it counts edge-99
    let readme = git(&s.deploy_bare, &["show", "main-monitoring:README.md"]);
    assert!(readme.contains("2 devices:"), "{readme}");
    assert_linear(&s.deploy_bare);
    fsck(&s.deploy_bare);
}

#[test]
fn a_hook_that_always_declines_fails_fast_not_after_minutes() {
    let s = Scenario::with_daemon();
    web_device(&s, "");
    let counter = s.path().join("hook-runs");
    install_hook(
        &s,
        "pre-receive",
        &format!(
            "{}echo 'test hook: never' >&2; exit 1\n",
            counting(&counter)
        ),
    );
    let t0 = Instant::now();
    let run = s.once();
    run.expect_code(1);
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    assert_eq!(
        fs::read_to_string(&counter).unwrap().trim(),
        "2",
        "a refusal in place is tried once more, no storm"
    );
    assert!(run.stderr.contains("test hook: never"), "{}", run.stderr);
}

#[test]
fn sigterm_ends_the_retries_at_once() {
    let s = Scenario::with_daemon();
    web_device(&s, "");
    s.once().expect_code(0);
    // Every push loses: another device always lands first.
    install_hook(&s, "pre-receive", &format!("n=x\n{LAND_OTHER_DEVICE}"));
    let log = s.path().join("agent.log");
    let child = s
        .agent()
        .args(["--once", "--force-report"])
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let running = Running { child, log };
    let t0 = Instant::now();
    while running.log_text().matches("trying again").count() < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no retries seen:\n{}",
            running.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    running.signal(libc::SIGTERM);
    let stopped = Instant::now();
    let run = running.finish(Duration::from_secs(10));
    assert!(
        stopped.elapsed() < Duration::from_secs(3),
        "exited {:?} after SIGTERM",
        stopped.elapsed()
    );
    assert!(run.stderr.contains("stopped"), "{}", run.stderr);
}

#[test]
fn deny_non_fast_forwards_with_a_trim_due_still_publishes_untrimmed() {
    let s = Scenario::with_daemon();
    web_device(&s, "monitoring_history_retention_days = 7");
    let old = s.old_monitoring_history(&[30, 29, 28, 1]);
    git(
        &s.deploy_bare,
        &["config", "receive.denyNonFastForwards", "true"],
    );
    let run = s.once();
    run.expect_code(0);
    assert!(
        run.stderr.contains("refused the forced update") && run.stderr.contains("WARN"),
        "{}",
        run.stderr
    );
    let head = s.monitoring_head().unwrap();
    assert_eq!(
        git(&s.deploy_bare, &["rev-parse", &format!("{head}^")]),
        old[3],
        "a plain fast-forward on the old history"
    );
    assert_eq!(s.feedback()["web"]["status"].as_str(), Some("✅ healthy"));
    assert_eq!(s.monitoring_commits(), 5, "history kept, not trimmed");
    fsck(&s.deploy_bare);
}

#[test]
fn readme_rows_attention_then_silent_then_healthy_and_bad_files_are_unreadable_rows() {
    let s = Scenario::with_daemon();
    web_device(&s, "");
    push_to_branch(&s, |w| {
        fs::write(w.join("ok-1.toml"), device_file(&stamp_hours_ago(1), true)).unwrap();
        fs::write(
            w.join("bad-app.toml"),
            device_file(&stamp_hours_ago(1), false),
        )
        .unwrap();
        fs::write(
            w.join("quiet.toml"),
            device_file(&stamp_hours_ago(240), true),
        )
        .unwrap();
        fs::write(w.join("garbage.toml"), "this is = = not toml").unwrap();
        std::os::unix::fs::symlink("ok-1.toml", w.join("link.toml")).unwrap();
        fs::create_dir_all(w.join("folder.toml")).unwrap();
        fs::write(w.join("folder.toml/inner.txt"), "x").unwrap();
        // valid TOML (comments only), but 2 MiB
        fs::write(w.join("huge.toml"), "# padding\n".repeat(210_000)).unwrap();
        fs::write(w.join("notes.txt"), "not a device").unwrap();
        fs::write(w.join("README.md"), "stale").unwrap();
    });
    let others = git(&s.deploy_bare, &["ls-tree", "main-monitoring"]);
    let run = s.once();
    run.expect_code(0);
    assert_eq!(s.feedback()["web"]["status"].as_str(), Some("✅ healthy"));
    let readme = git(&s.deploy_bare, &["show", "main-monitoring:README.md"]);
    assert_eq!(
        readme_devices(&readme),
        ["bad-app", "folder", "garbage", "huge", "link", "quiet", INFRA, "ok-1"],
        "{readme}"
    );
    assert!(
        readme.contains("\n8 devices: 2 healthy, 5 need attention, 1 silent\n"),
        "{readme}"
    );
    assert!(
        readme_row(&readme, "bad-app").ends_with("| web |"),
        "{readme}"
    );
    for bad in ["folder", "garbage", "huge", "link"] {
        assert!(
            readme_row(&readme, bad).contains("❓ unreadable"),
            "{readme}"
        );
    }
    assert!(
        readme_row(&readme, "quiet").contains("⏰ silent"),
        "{readme}"
    );
    assert!(
        readme_row(&readme, INFRA).contains("✅ all 1 apps healthy"),
        "{readme}"
    );
    // every other entry, symlink and folder included, is exactly as it was
    let after = git(&s.deploy_bare, &["ls-tree", "main-monitoring"]);
    for line in others.lines().filter(|l| !l.ends_with("\tREADME.md")) {
        assert!(after.lines().any(|a| a == line), "{line} changed:\n{after}");
    }
    fsck(&s.deploy_bare);
}

/// Set `last-updated` of this device's file on the branch to `hours` ago (content otherwise
/// unchanged), as if the last report were that old.
fn backdate(s: &Scenario, hours: i64) {
    let stamp = stamp_hours_ago(hours);
    push_to_branch(s, |w| {
        let file = w.join(format!("{INFRA}.toml"));
        let text = fs::read_to_string(&file).unwrap();
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("last-updated = ") {
                    format!("last-updated = \"{stamp}\"\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        fs::write(file, text).unwrap();
    });
}

#[test]
fn heartbeat_refreshes_an_old_report_and_zero_turns_it_off() {
    let s = Scenario::with_daemon();
    web_device(&s, "");
    s.once().expect_code(0);

    // default 24 h: a report 30 h old is committed again though nothing changed
    backdate(&s, 30);
    let old = s.monitoring_head();
    let old_stamp = s.feedback()["last-updated"].as_str().unwrap().to_string();
    s.once().expect_code(0);
    assert_ne!(s.monitoring_head(), old, "heartbeat commit");
    assert_ne!(s.feedback()["last-updated"].as_str().unwrap(), old_stamp);
    let fresh = s.monitoring_head();
    s.once().expect_code(0);
    assert_eq!(
        s.monitoring_head(),
        fresh,
        "a fresh report is not refreshed"
    );

    // 48 h: 30 h is not due yet
    device_config(&s, "heartbeat_hours = 48");
    backdate(&s, 30);
    let head = s.monitoring_head();
    s.once().expect_code(0);
    assert_eq!(s.monitoring_head(), head);

    // 0 = off: never refreshed
    device_config(&s, "heartbeat_hours = 0");
    backdate(&s, 24 * 365);
    let head = s.monitoring_head();
    s.once().expect_code(0);
    assert_eq!(s.monitoring_head(), head);
}

#[test]
fn once_splay_waits_and_sigterm_cuts_it_short() {
    let s = Scenario::with_daemon();
    web_device(&s, "");
    let log = s.path().join("splay.log");
    let child = s
        .agent()
        .args(["--once", "--splay", "3600"])
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let running = Running { child, log };
    let t0 = Instant::now();
    while !running.log_text().contains("--splay: starting the pass in") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{}",
            running.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    running.signal(libc::SIGTERM);
    let stopped = Instant::now();
    let run = running.finish(Duration::from_secs(10));
    run.expect_code(0);
    assert!(stopped.elapsed() < Duration::from_secs(2));
    assert!(s.monitoring_head().is_none(), "no pass ran");
    assert!(!s.srv("web").exists());
    // a small splay runs the pass after it
    s.once_with(&["--splay", "1"]).expect_code(0);
    assert!(s.monitoring_head().is_some());
    // --splay without --once is a usage error
    assert_eq!(
        s.agent()
            .args(["--splay", "5"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn daemon_splay_before_every_pass_sigusr1_and_sigterm_cut_it_short() {
    let s = Scenario::with_daemon();
    web_device(&s, "splay = 3600");
    let log = s.path().join("daemon.log");
    let start = || {
        let child = s
            .agent()
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Running {
            child,
            log: log.clone(),
        }
    };
    let wait_for = |r: &Running, what: &str, n: usize| {
        let t0 = Instant::now();
        while r.log_text().matches(what).count() < n {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "waiting for {what}:\n{}",
                r.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // the first pass waits too; SIGUSR1 starts it now
    let d = start();
    wait_for(&d, "splay: starting the pass in", 1);
    assert!(s.monitoring_head().is_none());
    d.signal(libc::SIGUSR1);
    wait_for(&d, "pass done", 1);
    assert!(s.monitoring_head().is_some());
    // SIGTERM during a splay ends the daemon at once
    d.signal(libc::SIGUSR1);
    wait_for(&d, "splay: starting the pass in", 2);
    d.signal(libc::SIGTERM);
    let t0 = Instant::now();
    d.finish(Duration::from_secs(10)).expect_code(0);
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[test]
fn readme_is_not_a_device_and_commit_and_file_stay_stable() {
    // README.md is rewritten only with a status commit: an unchanged world stays byte-identical.
    let s = Scenario::with_daemon();
    web_device(&s, "");
    s.once().expect_code(0);
    let head = s.monitoring_head();
    let readme = git(&s.deploy_bare, &["show", "main-monitoring:README.md"]);
    assert!(
        readme.contains("1 devices: 1 healthy, 0 need attention, 0 silent"),
        "{readme}"
    );
    assert!(!readme_devices(&readme).contains(&"README".to_string()));
    s.once().expect_code(0);
    assert_eq!(s.monitoring_head(), head);
}

#[test]
fn a_trimmed_push_sends_the_rewritten_commits_not_their_trees_and_blobs() {
    let s = Scenario::with_daemon();
    web_device(&s, "monitoring_history_retention_days = 7");
    // 40 commits over 40 days, each a new version of this device's file
    let ages: Vec<u64> = (1..=40).rev().collect();
    s.old_monitoring_history(&ages);
    // keep every pushed pack as it came (no unpacking into loose objects)
    git(&s.deploy_bare, &["config", "receive.unpackLimit", "1"]);
    let before = pack_indexes(&s.deploy_bare);
    let run = s.once();
    run.expect_code(0);
    assert!(run.stderr.contains("(history trimmed)"), "{}", run.stderr);
    let (packs, [commits, trees, blobs]) = new_pack_objects(&s.deploy_bare, &before);
    assert_eq!(packs.len(), 1, "one push, one pack");
    // every commit of the branch is new (rewritten), but only the status commit's tree and
    // its two new files (this device's report, README.md) were missing on the server
    assert_eq!(commits, s.monitoring_commits());
    assert_eq!((trees, blobs), (1, 2), "{commits} commits");
    fsck(&s.deploy_bare);

    // a plain status push sends one commit, one tree and the changed files only (a second
    // later, so last-updated and the README differ), never another device's file the
    // server has
    std::thread::sleep(Duration::from_millis(1100));
    push_to_branch(&s, |w| fs::write(w.join("other.toml"), "x = 1\n").unwrap());
    let before = pack_indexes(&s.deploy_bare);
    s.once_with(&["--force-report"]).expect_code(0);
    let (_, counts) = new_pack_objects(&s.deploy_bare, &before);
    assert_eq!(counts, [1, 1, 2]);
}

/// A server that resets new connections (a full accept queue under a herd): the deploy
/// fetch and the status push are tried again in the same pass, and the report lands.
#[test]
fn connections_the_server_resets_are_tried_again_in_the_same_pass() {
    let s = Scenario::with_daemon();
    web_device(&s, "");
    let relayed = resetting_relay(&s.deploy_url, 3);
    let text = fs::read_to_string(&s.config).unwrap();
    fs::write(&s.config, text.replace(&s.deploy_url, &relayed)).unwrap();
    let run = s.once();
    run.expect_code(0);
    assert_eq!(s.feedback()["web"]["status"].as_str(), Some("✅ healthy"));
    let dropped = |what: &str| {
        run.stderr
            .lines()
            .filter(|l| l.contains(what) && l.contains("connection dropped, trying again"))
            .count()
    };
    assert_eq!(dropped("fetch git://"), 3, "{}", run.stderr);
    assert_eq!(dropped("main-monitoring of git://"), 1, "{}", run.stderr);
    fsck(&s.deploy_bare);
}
