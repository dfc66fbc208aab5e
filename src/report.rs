//! The feedback document `<infra_name>.toml` (SPEC §6): merging this pass's outcomes into the
//! previous file, carry-forward of command output, kept apps, the tables of SPEC §12 (health,
//! holds, tombstones), and the "changed at all?" test that keeps an unchanged world from making
//! commits. Pure: text in, text out.

use crate::health::{self, Health};

/// Outcome of one side (deploy config or app code) of an app this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updation {
    pub ok: bool,
    pub git_status: String,
    pub latest_commit: String,
}

/// What ran for an app this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commands {
    /// Nothing ran: the previous `extra-command-output` is carried forward.
    NothingRan,
    /// An update ran; `codes` in order (pre, post) for the commands that are set.
    Ran {
        codes: Vec<(&'static str, i32)>,
        logs: String,
    },
}

/// One app's outcome this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppReport {
    pub name: String,
    pub config: Updation,
    pub app: Updation,
    pub commands: Commands,
    /// Health check, hold and removal (SPEC §12); `Default` when none of it applies.
    pub safety: Safety,
}

/// What SPEC §12 adds to an app's outcome this pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Safety {
    pub health: HealthCheck,
    pub hold: Option<Hold>,
    pub removal: Option<Removal>,
}

/// The `[<app>.health]` table this pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HealthCheck {
    /// No health check ran: the previous table is carried forward, without its rollback
    /// note (only a pass that rolls back, or holds the refused section, states one).
    #[default]
    NotRun,
    /// An update ran with no health check: no table.
    Cleared,
    Ran(HealthRun),
}

/// Health checks that ran (or, for a held refused section, the ones that refused it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRun {
    /// `health`, then `rollback-health` after a rollback.
    pub codes: Vec<(&'static str, i32)>,
    pub logs: String,
    pub rollback: Option<Rollback>,
}

/// A rollback: the commit refused and the commit in place (full ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    pub from: String,
    pub running: String,
}

/// Why an app that needs an update was left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// `paused-by`: `paused = true in infra_meta` or `gitops-agent pause`.
    Paused(&'static str),
    /// `deferred-by`: `update_lock` or `update_windows`.
    Deferred(&'static str),
}

/// The app's section is gone and it was pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Removed; the local time stamp of `removed-at`.
    At(String),
    /// The tombstone is older than the retention: the table leaves the file.
    Expired,
}

/// The document and what it says, for the commit message and the exit code.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    pub text: String,
    pub apps: Vec<(String, Health)>,
}

/// Build the new feedback file from the previous one (if any) and this pass's reports.
/// `now` is the local time as `YYYY-MM-DD HH:MM:SS`.
pub fn build(previous: Option<&str>, reports: &[AppReport], now: &str) -> Feedback {
    let mut doc: toml::Table = previous.and_then(|p| p.parse().ok()).unwrap_or_default();
    doc.remove("last-updated");
    doc.remove("overall_status");
    for r in reports {
        let carried = |key: &str| {
            doc.get(&r.name)
                .and_then(|e| e.get(key))
                .and_then(toml::Value::as_table)
                .cloned()
        };
        let mut entry = toml::Table::new();
        match &r.safety.removal {
            Some(Removal::Expired) => {
                doc.remove(&r.name);
                continue;
            }
            Some(Removal::At(stamp)) => {
                entry.insert("removed-at".into(), toml::Value::String(stamp.clone()));
                if let Commands::Ran { codes, logs } = &r.commands {
                    let ret = health::format_return_val(codes);
                    entry.insert("extra-command-output".into(), command_table(&ret, logs));
                }
            }
            None => {
                entry.insert("config-updation".into(), updation(&r.config));
                entry.insert("app-updation".into(), updation(&r.app));
                let commands = match (&r.commands, carried("extra-command-output")) {
                    (Commands::Ran { codes, logs }, _) => {
                        command_table(&health::format_return_val(codes), logs)
                    }
                    (Commands::NothingRan, Some(prev)) => toml::Value::Table(prev),
                    (Commands::NothingRan, None) => command_table("True", "Nothing was run"),
                };
                entry.insert("extra-command-output".into(), commands);
                if let Some(t) = health_table(&r.safety.health, carried("health")) {
                    entry.insert("health".into(), t);
                }
                let (key, by) = match r.safety.hold {
                    Some(Hold::Paused(by)) => ("paused-by", by),
                    Some(Hold::Deferred(by)) => ("deferred-by", by),
                    None => ("", ""),
                };
                if !key.is_empty() {
                    entry.insert(key.into(), toml::Value::String(by.into()));
                }
            }
        }
        let h = health::of_entry(&toml::Value::Table(entry.clone()));
        entry.insert("status".into(), toml::Value::String(h.label().into()));
        doc.insert(r.name.clone(), toml::Value::Table(entry));
    }
    let apps: Vec<(String, Health)> = doc
        .iter()
        .filter(|(_, v)| v.is_table())
        .map(|(k, v)| (k.clone(), health::of_entry(v)))
        .collect();
    doc.insert("last-updated".into(), toml::Value::String(now.into()));
    doc.insert(
        "overall_status".into(),
        toml::Value::String(health::overall(&apps)),
    );
    let text = toml::to_string(&doc).unwrap_or_default();
    Feedback { text, apps }
}

/// True when the two files say the same thing apart from `last-updated`. A previous file
/// that does not parse always differs (it gets rewritten).
pub fn same_content(previous: &str, new: &str) -> bool {
    let strip = |s: &str| -> Option<toml::Table> {
        let mut t: toml::Table = s.parse().ok()?;
        t.remove("last-updated");
        Some(t)
    };
    match (strip(previous), strip(new)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn updation(u: &Updation) -> toml::Value {
    let mut t = toml::Table::new();
    t.insert("updation-return-value".into(), toml::Value::Boolean(u.ok));
    t.insert(
        "git-status".into(),
        toml::Value::String(u.git_status.clone()),
    );
    t.insert(
        "git-repo-latest-commit".into(),
        toml::Value::String(u.latest_commit.clone()),
    );
    toml::Value::Table(t)
}

/// `[<app>.health]`: this pass's checks, or the previous table carried forward without its
/// rollback note.
fn health_table(check: &HealthCheck, previous: Option<toml::Table>) -> Option<toml::Value> {
    match check {
        HealthCheck::Cleared => None,
        HealthCheck::NotRun => previous.map(|mut t| {
            t.remove("rolled-back-from");
            t.remove("running");
            toml::Value::Table(t)
        }),
        HealthCheck::Ran(run) => {
            let toml::Value::Table(mut t) =
                command_table(&health::format_return_val(&run.codes), &run.logs)
            else {
                return None;
            };
            if let Some(rb) = &run.rollback {
                t.insert(
                    "rolled-back-from".into(),
                    toml::Value::String(rb.from.clone()),
                );
                t.insert("running".into(), toml::Value::String(rb.running.clone()));
            }
            Some(toml::Value::Table(t))
        }
    }
}

fn command_table(ret: &str, logs: &str) -> toml::Value {
    let mut t = toml::Table::new();
    t.insert("command-return-val".into(), toml::Value::String(ret.into()));
    t.insert("command-run-logs".into(), toml::Value::String(logs.into()));
    toml::Value::Table(t)
}

#[cfg(test)]
mod tests {
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
}
