//! Unit tests of the last-pass record: one test per rule of `build`.
use super::*;
use crate::report::{HealthRun, Rollback, Safety, Updation};

const REPO: &str = "https://h/o/deploy.git@main";
const T0: i64 = 1_795_000_000;
const T1: i64 = T0 + 300;

fn side(ok: bool, status: &str, commit: &str) -> Updation {
    Updation {
        ok,
        git_status: status.into(),
        latest_commit: commit.into(),
    }
}

fn report(name: &str) -> AppReport {
    AppReport {
        name: name.into(),
        config: side(true, "", "'aaaaaaa - deploy (x, d)'"),
        app: side(true, "clean", "'4f1c2e9 - subject (Test User, date)'"),
        commands: Commands::NothingRan,
        safety: Safety::default(),
    }
}

fn ran(codes: Vec<(&'static str, i32)>) -> Commands {
    Commands::Ran {
        codes,
        logs: String::new(),
    }
}

fn facts<'a>(reports: &'a [(AppReport, Health)], now: i64) -> PassFacts<'a> {
    PassFacts {
        infra: "edge-1",
        ended_unix: now,
        duration_seconds: 1.5,
        apps: reports
            .iter()
            .map(|(report, health)| Seen {
                repo: REPO,
                report,
                health: *health,
            })
            .collect(),
        visited: vec![REPO.into()],
        configured: vec![REPO.into()],
        unpublished: vec![],
    }
}

fn one(prev: Option<&LastPass>, r: AppReport, h: Health, now: i64) -> AppStatus {
    let reports = [(r, h)];
    build(prev, &facts(&reports, now)).apps.remove(0)
}

#[test]
fn status_is_the_label_and_healthy_follows_the_exit_code_rule() {
    let a = one(None, report("web"), Health::Paused, T0);
    assert_eq!((a.status.as_str(), a.healthy), ("⏸️ paused", true));
    let b = one(None, report("web"), Health::CommandFailed, T0);
    assert_eq!(
        (b.status.as_str(), b.healthy),
        ("❌ post-command exited non-zero", false)
    );
}

#[test]
fn commit_is_the_short_id_of_latest_commit() {
    assert_eq!(
        commit_of("'4f1c2e9 - s (a, d)'").as_deref(),
        Some("4f1c2e9")
    );
    assert_eq!(commit_of("NA"), None);
    assert_eq!(commit_of(""), None);
    assert_eq!(commit_of("'not hex - s'"), None);
    assert_eq!(
        one(None, report("web"), Health::Healthy, T0).commit,
        "4f1c2e9"
    );
}

#[test]
fn unknown_commit_keeps_the_previous_one() {
    let first = build(None, &facts(&[(report("web"), Health::Healthy)], T0));
    let mut r = report("web");
    r.app = side(true, "Not checked for updates", "NA");
    assert_eq!(
        one(Some(&first), r, Health::ConfigUpdateFailed, T1).commit,
        "4f1c2e9"
    );
}

#[test]
fn removed_app_runs_no_commit() {
    let first = build(None, &facts(&[(report("web"), Health::Healthy)], T0));
    let mut r = report("web");
    r.safety.removal = Some(Removal::At("2026-11-18 12:00:00".into()));
    let a = one(Some(&first), r, Health::Removed, T1);
    assert_eq!((a.commit.as_str(), a.changed_unix), ("", Some(T1)));
}

#[test]
fn first_sight_without_an_update_has_no_change_time() {
    assert_eq!(
        one(None, report("web"), Health::Healthy, T0).changed_unix,
        None
    );
}

#[test]
fn an_update_that_ran_is_a_change() {
    let mut r = report("web");
    r.commands = ran(vec![]);
    assert_eq!(
        one(None, r.clone(), Health::Healthy, T0).changed_unix,
        Some(T0)
    );
    let first = build(None, &facts(&[(report("web"), Health::Healthy)], T0));
    assert_eq!(
        one(Some(&first), r, Health::Healthy, T1).changed_unix,
        Some(T1)
    );
}

#[test]
fn a_new_commit_is_a_change_and_an_unchanged_one_keeps_the_time() {
    let mut r = report("web");
    r.commands = ran(vec![]);
    let first = build(None, &facts(&[(r, Health::Healthy)], T0));
    assert_eq!(
        one(Some(&first), report("web"), Health::Healthy, T1).changed_unix,
        Some(T0)
    );
    let mut moved = report("web");
    moved.app = side(true, "", "'0123abc - other (a, d)'");
    assert_eq!(
        one(Some(&first), moved, Health::Healthy, T1).changed_unix,
        Some(T1)
    );
}

#[test]
fn holds_name_who_holds_the_app() {
    let mut r = report("web");
    r.safety.hold = Some(Hold::Paused("gitops-agent pause"));
    let a = one(None, r, Health::Paused, T0);
    assert_eq!(
        (a.paused_by.as_deref(), a.deferred_by),
        (Some("gitops-agent pause"), None)
    );
    let mut r = report("web");
    r.safety.hold = Some(Hold::Deferred("update_lock"));
    let a = one(None, r, Health::Deferred, T0);
    assert_eq!(
        (a.paused_by, a.deferred_by.as_deref()),
        (None, Some("update_lock"))
    );
}

#[test]
fn failed_update_error_is_the_first_line_of_its_git_status() {
    let mut r = report("web");
    r.app = side(false, "\nfetch failed: no route to host\nclean", "NA");
    let a = one(None, r, Health::AppUpdateFailed, T0);
    assert_eq!(
        a.last_error.as_deref(),
        Some("fetch failed: no route to host")
    );
    assert_eq!(a.last_error_unix, Some(T0));
    let mut r = report("web");
    r.config = side(false, "infra_meta.toml: bad key", "NA");
    assert_eq!(
        explain(&r, Health::ConfigUpdateFailed).as_deref(),
        Some("infra_meta.toml: bad key")
    );
}

#[test]
fn failed_commands_are_named_with_their_codes() {
    let mut r = report("web");
    r.commands = ran(vec![("pre", 0), ("post", 2)]);
    assert_eq!(
        explain(&r, Health::CommandFailed).as_deref(),
        Some("`post` exited 2")
    );
}

#[test]
fn health_failures_and_rollbacks_are_explained() {
    let mut r = report("web");
    r.safety.health = HealthCheck::Ran(HealthRun {
        codes: vec![("health", 1)],
        logs: String::new(),
        rollback: None,
    });
    assert_eq!(
        explain(&r, Health::HealthCheckFailed).as_deref(),
        Some("health check failed: `health` exited 1")
    );
    r.safety.health = HealthCheck::Ran(HealthRun {
        codes: vec![("health", 1), ("rollback-health", 0)],
        logs: String::new(),
        rollback: Some(Rollback {
            from: "b".repeat(40),
            running: "a".repeat(40),
        }),
    });
    assert_eq!(
        explain(&r, Health::RolledBack).as_deref(),
        Some("health check failed on bbbbbbb; rolled back to aaaaaaa")
    );
}

#[test]
fn errors_are_clipped() {
    let mut r = report("web");
    r.app = side(false, &"x".repeat(5000), "NA");
    let e = explain(&r, Health::AppUpdateFailed).unwrap();
    assert_eq!(e.chars().count(), crate::text::MAX_SHOWN + 1);
}

#[test]
fn unexplained_failure_keeps_the_previous_explanation_of_the_same_status() {
    let mut r = report("web");
    r.commands = ran(vec![("post", 3)]);
    let first = build(None, &facts(&[(r, Health::CommandFailed)], T0));
    // Nothing ran this pass; the feedback file carries the failure forward.
    let a = one(Some(&first), report("web"), Health::CommandFailed, T1);
    assert_eq!(a.last_error.as_deref(), Some("`post` exited 3"));
    assert_eq!(a.last_error_unix, Some(T1));
    // With no previous explanation, the label says it.
    let b = one(None, report("web"), Health::CommandFailed, T1);
    assert_eq!(
        b.last_error.as_deref(),
        Some("❌ post-command exited non-zero")
    );
}

#[test]
fn healthy_app_keeps_its_last_error_and_its_time() {
    let mut r = report("web");
    r.commands = ran(vec![("post", 3)]);
    let first = build(None, &facts(&[(r, Health::CommandFailed)], T0));
    let a = one(Some(&first), report("web"), Health::Healthy, T1);
    assert!(a.healthy);
    assert_eq!(
        (a.last_error.as_deref(), a.last_error_unix),
        (Some("`post` exited 3"), Some(T0))
    );
}

#[test]
fn apps_of_groups_not_visited_are_kept_while_configured() {
    let first = build(
        None,
        &facts(
            &[
                (report("a"), Health::Healthy),
                (report("b"), Health::Healthy),
            ],
            T0,
        ),
    );
    let other = "https://h/o/other.git@main";
    let reports = [(report("c"), Health::Healthy)];
    let mut pass = facts(&reports, T1);
    pass.apps[0].repo = other;
    pass.visited = vec![other.into()];
    pass.configured = vec![REPO.into(), other.into()];
    let names = |l: &LastPass| l.apps.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&build(Some(&first), &pass)), ["a", "b", "c"]);
    // REPO's group is no longer configured: its apps go.
    pass.configured = vec![other.into()];
    assert_eq!(names(&build(Some(&first), &pass)), ["c"]);
}

#[test]
fn apps_gone_from_a_visited_group_are_dropped() {
    let first = build(
        None,
        &facts(
            &[
                (report("a"), Health::Healthy),
                (report("b"), Health::Healthy),
            ],
            T0,
        ),
    );
    let next = build(Some(&first), &facts(&[(report("a"), Health::Healthy)], T1));
    assert_eq!(next.apps.len(), 1);
}

#[test]
fn publish_failures_accumulate_across_passes() {
    let reports = [(report("web"), Health::Healthy)];
    let mut pass = facts(&reports, T0);
    pass.unpublished = vec![REPO.into()];
    let first = build(None, &pass);
    assert_eq!(first.publish_failures_total, 1);
    assert!(!first.healthy());
    let second = build(Some(&first), &pass);
    assert_eq!(second.publish_failures_total, 2);
    pass.unpublished.clear();
    let third = build(Some(&second), &pass);
    assert_eq!(third.publish_failures_total, 2);
    assert!(third.healthy());
}

#[test]
fn apps_are_sorted_and_attention_lists_the_unhealthy() {
    let l = build(
        None,
        &facts(
            &[
                (report("z"), Health::AppUpdateFailed),
                (report("a"), Health::Healthy),
                (report("m"), Health::RolledBack),
            ],
            T0,
        ),
    );
    assert_eq!(l.apps[0].name, "a");
    assert_eq!(l.attention(), ["m", "z"]);
    assert!(!l.healthy());
}

#[test]
fn metrics_show_every_app_of_the_record() {
    let l = build(
        None,
        &facts(
            &[
                (report("a"), Health::Healthy),
                (report("b"), Health::CommandFailed),
            ],
            T0,
        ),
    );
    let m = metrics(&l);
    assert_eq!(m.infra, "edge-1");
    assert_eq!(m.last_pass_unix, T0);
    assert_eq!(m.apps.len(), 2);
    assert!(m.apps[0].healthy && !m.apps[1].healthy);
    assert_eq!(m.apps[1].commit, "4f1c2e9");
}

#[test]
fn configured_apps_missing_from_the_record_are_named() {
    let l = build(None, &facts(&[(report("a"), Health::Healthy)], T0));
    let configured = ["b".to_string(), "a".to_string(), "*".to_string()];
    assert_eq!(not_in_record(&l, &configured), ["b"]);
}
