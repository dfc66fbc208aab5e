//! Unit tests of the feedback document, rule by rule.
use super::*;

fn ok(s: &str) -> Updation {
    Updation {
        ok: true,
        git_status: s.into(),
        latest_commit: "'abc1234 - msg (me, date)'".into(),
    }
}

fn report(name: &str, commands: Commands) -> AppReport {
    AppReport {
        name: name.into(),
        config: ok("clean"),
        app: ok("clean"),
        commands,
        safety: Safety::default(),
    }
}

#[test]
fn fresh_file_has_all_keys() {
    let f = build(
        None,
        &[report(
            "web",
            Commands::Ran {
                codes: vec![("pre", 0), ("post", 0)],
                logs: "hi".into(),
            },
        )],
        "2026-11-24 10:00:00",
    );
    let t: toml::Table = f.text.parse().unwrap();
    assert_eq!(t["last-updated"].as_str(), Some("2026-11-24 10:00:00"));
    assert_eq!(t["overall_status"].as_str(), Some("✅ all 1 apps healthy"));
    assert_eq!(t["web"]["status"].as_str(), Some("✅ healthy"));
    assert_eq!(
        t["web"]["config-updation"]["updation-return-value"].as_bool(),
        Some(true)
    );
    assert_eq!(
        t["web"]["app-updation"]["git-status"].as_str(),
        Some("clean")
    );
    assert_eq!(
        t["web"]["extra-command-output"]["command-return-val"].as_str(),
        Some("{'pre': 0, 'post': 0}")
    );
    assert_eq!(
        t["web"]["extra-command-output"]["command-run-logs"].as_str(),
        Some("hi")
    );
    assert!(f.text.starts_with("last-updated = "), "{}", f.text);
}

#[test]
fn nothing_ran_carries_previous_output_forward() {
    let first = build(
        None,
        &[report(
            "web",
            Commands::Ran {
                codes: vec![("post", 3)],
                logs: "boom".into(),
            },
        )],
        "t1",
    );
    let second = build(
        Some(&first.text),
        &[report("web", Commands::NothingRan)],
        "t2",
    );
    let t: toml::Table = second.text.parse().unwrap();
    assert_eq!(
        t["web"]["extra-command-output"]["command-return-val"].as_str(),
        Some("{'post': 3}")
    );
    assert_eq!(
        t["web"]["status"].as_str(),
        Some("❌ post-command exited non-zero")
    );
    assert!(same_content(&first.text, &second.text));
    assert!(!same_content(
        &first.text,
        &build(
            Some(&first.text),
            &[report(
                "web",
                Commands::Ran {
                    codes: vec![],
                    logs: String::new()
                }
            )],
            "t3"
        )
        .text
    ));
}

#[test]
fn nothing_ran_without_history_says_so() {
    let f = build(None, &[report("web", Commands::NothingRan)], "t");
    let t: toml::Table = f.text.parse().unwrap();
    assert_eq!(
        t["web"]["extra-command-output"]["command-return-val"].as_str(),
        Some("True")
    );
    assert_eq!(
        t["web"]["extra-command-output"]["command-run-logs"].as_str(),
        Some("Nothing was run")
    );
}

#[test]
fn kept_apps_count_in_overall() {
    let prev = "last-updated = \"x\"\n[old]\nconfig-updation = true\n";
    let f = build(Some(prev), &[report("web", Commands::NothingRan)], "t");
    let t: toml::Table = f.text.parse().unwrap();
    assert!(t.contains_key("old"));
    assert_eq!(
        t["overall_status"].as_str(),
        Some("⚠️ 1 of 2 apps need attention: old")
    );
    assert_eq!(f.apps.len(), 2);
}

#[test]
fn garbage_previous_is_replaced() {
    let f = build(
        Some("this is = = not toml"),
        &[report("web", Commands::NothingRan)],
        "t",
    );
    assert!(f.text.contains("[web]"));
    assert!(!same_content("this is = = not toml", &f.text));
}

fn checked(rollback: bool) -> AppReport {
    let mut r = report(
        "web",
        Commands::Ran {
            codes: vec![("post", 0)],
            logs: String::new(),
        },
    );
    r.safety.health = HealthCheck::Ran(HealthRun {
        codes: vec![("health", 1), ("rollback-health", 0)],
        logs: "[health] $ false".into(),
        rollback: rollback.then(|| Rollback {
            from: "b".repeat(40),
            running: "a".repeat(40),
        }),
    });
    r
}

#[test]
fn rollback_writes_the_health_table() {
    let f = build(None, &[checked(true)], "t");
    let t: toml::Table = f.text.parse().unwrap();
    let h = &t["web"]["health"];
    assert_eq!(
        h["command-return-val"].as_str(),
        Some("{'health': 1, 'rollback-health': 0}")
    );
    assert_eq!(
        h["rolled-back-from"].as_str(),
        Some("b".repeat(40).as_str())
    );
    assert_eq!(h["running"].as_str(), Some("a".repeat(40).as_str()));
    assert_eq!(
        t["web"]["status"].as_str(),
        Some("❌ rolled back: health check failed")
    );
}

#[test]
fn health_table_is_carried_forward_without_its_rollback_note() {
    let first = build(None, &[checked(true)], "t1");
    let second = build(
        Some(&first.text),
        &[report("web", Commands::NothingRan)],
        "t2",
    );
    let t: toml::Table = second.text.parse().unwrap();
    let h = t["web"]["health"].as_table().unwrap();
    assert!(h.contains_key("command-return-val") && !h.contains_key("rolled-back-from"));
}

#[test]
fn an_update_without_health_check_drops_the_table() {
    let first = build(None, &[checked(false)], "t1");
    assert_eq!(first.apps[0].1, Health::HealthCheckFailed);
    let mut again = report("web", Commands::NothingRan);
    again.safety.health = HealthCheck::Cleared;
    let t: toml::Table = build(Some(&first.text), &[again], "t2")
        .text
        .parse()
        .unwrap();
    assert!(t["web"].get("health").is_none());
}

#[test]
fn holds_are_named_in_the_entry() {
    let mut p = report("a", Commands::NothingRan);
    p.safety.hold = Some(Hold::Paused("gitops-agent pause"));
    let mut d = report("b", Commands::NothingRan);
    d.safety.hold = Some(Hold::Deferred("update_windows"));
    let f = build(None, &[p, d], "t");
    let t: toml::Table = f.text.parse().unwrap();
    assert_eq!(t["a"]["paused-by"].as_str(), Some("gitops-agent pause"));
    assert_eq!(t["a"]["status"].as_str(), Some("⏸️ paused"));
    assert_eq!(t["b"]["deferred-by"].as_str(), Some("update_windows"));
    assert_eq!(t["b"]["status"].as_str(), Some("⏸️ update deferred"));
    assert_eq!(t["overall_status"].as_str(), Some("✅ all 2 apps healthy"));
}

#[test]
fn a_removed_app_becomes_a_tombstone_then_leaves() {
    let first = build(None, &[report("web", Commands::NothingRan)], "t1");
    let mut gone = report(
        "web",
        Commands::Ran {
            codes: vec![("remove", 0)],
            logs: "bye".into(),
        },
    );
    gone.safety.removal = Some(Removal::At("2026-11-24 10:00:00".into()));
    let second = build(Some(&first.text), &[gone], "t2");
    let t: toml::Table = second.text.parse().unwrap();
    let web = t["web"].as_table().unwrap();
    assert_eq!(web["status"].as_str(), Some("🗑️ removed"));
    assert_eq!(web["removed-at"].as_str(), Some("2026-11-24 10:00:00"));
    assert!(!web.contains_key("app-updation"));
    // kept as it is by passes that do not mention it
    let third = build(Some(&second.text), &[], "t3");
    assert!(same_content(&second.text, &third.text));
    let mut expired = report("web", Commands::NothingRan);
    expired.safety.removal = Some(Removal::Expired);
    let fourth = build(Some(&third.text), &[expired], "t4");
    let t: toml::Table = fourth.text.parse().unwrap();
    assert!(!t.contains_key("web"));
    assert_eq!(t["overall_status"].as_str(), Some("⚠️ no apps reported"));
}

#[test]
fn stamps_compare_across_days_months_and_years() {
    assert_eq!(stamp_seconds("1970-01-01 00:00:00"), Some(0));
    assert_eq!(stamp_seconds("2026-11-18 11:06:40"), Some(1_795_000_000));
    assert_eq!(
        age_seconds("2024-02-28 23:00:00", "2024-03-01 01:00:00"),
        Some(26 * 3600),
        "2024 is a leap year"
    );
    assert_eq!(
        age_seconds("2025-12-31 23:59:59", "2026-01-01 00:00:00"),
        Some(1)
    );
    assert_eq!(
        age_seconds("2026-01-02 00:00:00", "2026-01-01 00:00:00"),
        Some(-86_400)
    );
    for bad in [
        "",
        "2026-11-18",
        "2026-13-01 00:00:00",
        "2026-11-18T11:06:40",
        "2026-11-18 1:06:40x",
        "x026-11-18 11:06:40",
    ] {
        assert_eq!(stamp_seconds(bad), None, "{bad}");
    }
}

#[test]
fn heartbeat_due_when_the_branch_copy_is_older_than_heartbeat_hours() {
    let prev = "last-updated = \"2026-11-24 10:00:00\"\n";
    assert!(!heartbeat_due(prev, "2026-11-25 09:59:59", 24));
    assert!(heartbeat_due(prev, "2026-11-25 10:00:00", 24));
    assert!(heartbeat_due(prev, "2026-11-24 11:00:00", 1));
}

#[test]
fn heartbeat_zero_is_off() {
    let prev = "last-updated = \"2000-01-01 00:00:00\"\n";
    assert!(!heartbeat_due(prev, "2026-11-25 10:00:00", 0));
}

#[test]
fn heartbeat_due_when_the_time_cannot_be_read() {
    assert!(heartbeat_due(
        "overall_status = \"x\"\n",
        "2026-11-25 10:00:00",
        24
    ));
    assert!(heartbeat_due(
        "last-updated = \"yesterday\"\n",
        "2026-11-25 10:00:00",
        24
    ));
    assert!(heartbeat_due("not toml [", "2026-11-25 10:00:00", 24));
}

#[test]
fn heartbeat_not_due_for_a_copy_from_the_future() {
    let prev = "last-updated = \"2030-01-01 00:00:00\"\n";
    assert!(!heartbeat_due(prev, "2026-11-25 10:00:00", 24));
}

#[test]
fn timestamp_alone_is_no_change_and_output_is_stable() {
    let r = [
        report("b", Commands::NothingRan),
        report("a", Commands::NothingRan),
    ];
    let one = build(None, &r, "t1");
    let two = build(Some(&one.text), &r, "t1");
    assert_eq!(one.text, two.text);
    let three = build(Some(&one.text), &r, "t9");
    assert!(same_content(&one.text, &three.text));
}

#[test]
fn same_content_is_the_parsed_comparison_whatever_the_text() {
    let r = [report("a", Commands::NothingRan)];
    let ours = build(None, &r, "t1").text;
    // Another writer's spelling of the same document (spacing, quotes, stamp).
    let theirs = ours
        .replace("last-updated = \"t1\"", "last-updated = 't0'")
        .replace("overall_status = ", "overall_status  =  ");
    assert_ne!(theirs, ours);
    assert!(same_content(&theirs, &ours), "{theirs}\n---\n{ours}");
    // A nested `last-updated` is content, not the stamp.
    let nested = ours.replace("[a.app-updation]", "[a.app-updation]\nlast-updated = \"x\"");
    assert!(!same_content(&nested, &ours));
    let nested2 = ours.replace("[a.app-updation]", "[a.app-updation]\nlast-updated = \"y\"");
    assert!(!same_content(&nested, &nested2));
    // Without a stamp line, the parsed comparison decides.
    let unstamped = ours.replace("last-updated = \"t1\"\n", "");
    assert!(same_content(&unstamped, &ours));
    assert!(!same_content(&ours.replace("Nothing was run", "x"), &ours));
}

#[test]
fn last_updated_read_from_its_line_agrees_with_the_full_parse() {
    let full = |t: &str| -> Option<String> {
        let t: toml::Table = t.parse().ok()?;
        t.get("last-updated")?.as_str().map(str::to_string)
    };
    for text in [
        "last-updated = \"2026-11-30 10:00:00\"\noverall_status = \"x\"\n",
        "overall_status = \"x\"\nlast-updated = \"2026-11-30 10:00:00\"\n[web]\nstatus = \"y\"\n",
        "last-updated = \"2026-11-30 10:00:00\" # a comment\n",
        "last-updated = \"2026\\u002D11-30 10:00:00\"\n",
        "last-updated = '2026-11-30 10:00:00'\n",
        "[web]\nlast-updated = \"2026-11-30 10:00:00\"\n",
        "note = \"\"\"\nlast-updated = \"fake\"\n\"\"\"\nlast-updated = \"2026-11-30 10:00:00\"\n",
        "no stamp = 1\n",
    ] {
        assert_eq!(last_updated(text), full(text), "{text:?}");
    }
}
