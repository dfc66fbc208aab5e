//! One test per rule of `transitions`, and how a report becomes what the rules see.

use super::*;
use crate::report::{HealthRun, Hold, Rollback, Safety, Updation};

fn app(name: &str, health: Health) -> Seen {
    Seen {
        app: name.into(),
        health,
        updated: false,
        rollback_from: None,
        commit: Some("abc1234".into()),
        message: "m".into(),
        removed: false,
    }
}

fn updated(name: &str) -> Seen {
    Seen {
        updated: true,
        ..app(name, Health::Healthy)
    }
}

fn rolled_back(name: &str, from: &str) -> Seen {
    Seen {
        rollback_from: Some(from.into()),
        ..app(name, Health::RolledBack)
    }
}

fn names(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.name.as_str()).collect()
}

/// Run the passes in order from nothing announced; the events of each pass.
fn passes(seq: &[Vec<Seen>]) -> Vec<Vec<&'static str>> {
    let mut state = Announced::default();
    seq.iter()
        .map(|apps| {
            let (events, next) = transitions(&state, apps, &[]);
            state = next;
            names(&events)
        })
        .collect()
}

#[test]
fn healthy_update_fires_app_updated_first_install_included() {
    assert_eq!(passes(&[vec![updated("web")]]), [vec!["app_updated"]]);
}

#[test]
fn nothing_fires_for_a_healthy_app_that_did_not_update() {
    assert_eq!(
        passes(&[
            vec![app("web", Health::Healthy)],
            vec![app("web", Health::Healthy)]
        ]),
        [Vec::<&str>::new(), vec![]]
    );
}

#[test]
fn failing_fires_app_failed_once_while_it_stays_failing() {
    let failing = || {
        vec![Seen {
            updated: true,
            ..app("web", Health::CommandFailed)
        }]
    };
    assert_eq!(
        passes(&[
            failing(),
            failing(),
            vec![app("web", Health::HealthCheckFailed)]
        ]),
        [vec!["app_failed"], vec![], vec![]]
    );
}

#[test]
fn healthy_again_fires_app_recovered_once() {
    assert_eq!(
        passes(&[
            vec![app("web", Health::CommandFailed)],
            vec![app("web", Health::Healthy)],
            vec![app("web", Health::Healthy)],
        ]),
        [vec!["app_failed"], vec!["app_recovered"], vec![]]
    );
}

#[test]
fn a_fix_by_update_fires_app_updated_and_app_recovered() {
    assert_eq!(
        passes(&[
            vec![app("web", Health::AppUpdateFailed)],
            vec![updated("web")]
        ]),
        [vec!["app_failed"], vec!["app_updated", "app_recovered"]]
    );
}

#[test]
fn pausing_or_deferring_a_failing_app_is_not_a_recovery() {
    assert_eq!(
        passes(&[
            vec![app("web", Health::CommandFailed)],
            vec![app("web", Health::Paused)],
            vec![app("web", Health::Deferred)],
            vec![app("web", Health::Healthy)],
        ]),
        [vec!["app_failed"], vec![], vec![], vec!["app_recovered"]]
    );
}

#[test]
fn rollback_fires_once_per_refused_commit_instead_of_app_failed() {
    assert_eq!(
        passes(&[
            vec![rolled_back("web", "c2")],
            // the held section restates the rollback every pass
            vec![rolled_back("web", "c2")],
            vec![rolled_back("web", "c3")],
        ]),
        [vec!["app_rolled_back"], vec![], vec!["app_rolled_back"]]
    );
}

#[test]
fn recovery_after_a_rollback_clears_it() {
    let (_, state) = transitions(&Announced::default(), &[rolled_back("web", "c2")], &[]);
    let (events, state) = transitions(&state, &[updated("web")], &[]);
    assert_eq!(names(&events), ["app_updated", "app_recovered"]);
    assert_eq!(state.apps["web"], Mark::default());
}

#[test]
fn unknown_health_needs_attention() {
    assert_eq!(
        passes(&[vec![app("web", Health::Unknown)]]),
        [vec!["app_failed"]]
    );
}

#[test]
fn apps_not_visited_keep_their_state() {
    let (_, state) = transitions(
        &Announced::default(),
        &[app("a", Health::CommandFailed)],
        &[],
    );
    let (events, next) = transitions(&state, &[app("b", Health::Healthy)], &[]);
    assert!(events.is_empty());
    assert!(next.apps["a"].failing);
}

#[test]
fn removed_apps_are_forgotten_silently() {
    let (_, state) = transitions(
        &Announced::default(),
        &[app("a", Health::CommandFailed)],
        &[],
    );
    let gone = Seen {
        removed: true,
        ..app("a", Health::Removed)
    };
    let (events, next) = transitions(&state, &[gone], &[]);
    assert!(events.is_empty());
    assert!(!next.apps.contains_key("a"));
}

#[test]
fn publish_failed_fires_once_until_a_publish_succeeds() {
    let g = |err: Option<&str>| GroupSeen {
        group: "h/o/d@main".into(),
        publish_error: err.map(str::to_string),
    };
    let mut state = Announced::default();
    let mut seen = Vec::new();
    for group in [
        g(Some("push refused")),
        g(Some("again")),
        g(None),
        g(Some("x")),
    ] {
        let (events, next) = transitions(&state, &[], &[group]);
        state = next;
        seen.push(names(&events));
    }
    assert_eq!(
        seen,
        [
            vec!["publish_failed"],
            vec![],
            vec![],
            vec!["publish_failed"]
        ]
    );
}

#[test]
fn events_carry_app_commit_status_and_message() {
    let (events, _) = transitions(
        &Announced::default(),
        &[app("web", Health::CommandFailed)],
        &[],
    );
    assert_eq!(
        events,
        [Event {
            name: Name::AppFailed,
            app: Some("web".into()),
            group: None,
            commit: Some("abc1234".into()),
            status: Some("❌ post-command exited non-zero".into()),
            message: Some("m".into()),
        }]
    );
}

fn report(app_ok: bool, codes: Vec<(&'static str, i32)>) -> AppReport {
    AppReport {
        name: "web".into(),
        config: Updation {
            ok: true,
            git_status: String::new(),
            latest_commit: "NA".into(),
        },
        app: Updation {
            ok: app_ok,
            git_status: "\nfetch failed: no route\nmore".into(),
            latest_commit: "'abc1234 - fix it (Dev, Mon Nov 30 2026)'".into(),
        },
        commands: if codes.is_empty() {
            Commands::NothingRan
        } else {
            Commands::Ran {
                codes,
                logs: String::new(),
            }
        },
        safety: Safety::default(),
    }
}

#[test]
fn a_report_is_seen_with_its_short_commit_and_why() {
    let s = seen(&report(true, vec![("post", 0)]), None).unwrap();
    assert!(s.updated && s.health == Health::Healthy);
    assert_eq!(s.commit.as_deref(), Some("abc1234"));
    assert_eq!(s.message, "'abc1234 - fix it (Dev, Mon Nov 30 2026)'");
    let s = seen(&report(false, vec![]), None).unwrap();
    assert!(!s.updated);
    assert_eq!(s.message, "fetch failed: no route");
    let s = seen(&report(true, vec![("pre", 0), ("post", 3)]), None).unwrap();
    assert_eq!(s.message, "post command exited 3");
}

#[test]
fn a_report_is_judged_as_published_when_it_was() {
    let file = [("web".to_string(), Health::CommandFailed)];
    let s = seen(&report(true, vec![]), Some(&file)).unwrap();
    assert_eq!(s.health, Health::CommandFailed);
}

#[test]
fn a_rollback_names_the_refused_commit() {
    let mut r = report(true, vec![("pre", 0)]);
    r.safety.health = HealthCheck::Ran(HealthRun {
        codes: vec![("health", 1), ("rollback-health", 0)],
        logs: String::new(),
        rollback: Some(Rollback {
            from: "c2".repeat(20),
            running: "c1".repeat(20),
        }),
    });
    let s = seen(&r, None).unwrap();
    assert_eq!(s.health, Health::RolledBack);
    assert_eq!(s.rollback_from.as_deref(), s.commit.as_deref());
    assert!(s
        .message
        .starts_with("health check failed; rolled back from c2c2"));
}

#[test]
fn held_and_removed_reports() {
    let mut r = report(true, vec![]);
    r.safety.hold = Some(Hold::Paused("gitops-agent pause"));
    assert_eq!(seen(&r, None).unwrap().health, Health::Paused);
    r.safety.removal = Some(Removal::At("2026-11-30 10:00:00".into()));
    assert!(seen(&r, None).unwrap().removed);
    r.safety.removal = Some(Removal::Expired);
    assert_eq!(seen(&r, None), None);
}

#[test]
fn short_commit_of_a_describe_line() {
    assert_eq!(
        short_commit("'abc1234 - s (a, d)'").as_deref(),
        Some("abc1234")
    );
    assert_eq!(short_commit("NA"), None);
    assert_eq!(short_commit("'xyz - s'"), None);
}
