//! Health of one app (SPEC §6, §12): the success rule ([`classify`]), applied to
//! this pass's typed reports and to the entries of the feedback file, the overall status line
//! and the status commit message. Pure: entries written by the Python agent or by hand are
//! judged by the same rule and a malformed one never crashes a pass.

use crate::report::{AppReport, Commands, HealthCheck, Hold, Removal};

/// The label of one app, first matching rule wins (in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// `HealthCheckFailed` is the SPEC §12 status "health check failed", not a repeat of the enum.
#[allow(clippy::enum_variant_names)]
pub enum Health {
    AppUpdateFailed,
    ConfigUpdateFailed,
    RolledBack,
    HealthCheckFailed,
    CommandFailed,
    Paused,
    Deferred,
    Removed,
    Healthy,
    Unknown,
}

impl Health {
    /// The status whose [`label`](Self::label) is `label`.
    pub fn from_label(label: &str) -> Option<Health> {
        [
            Health::AppUpdateFailed,
            Health::ConfigUpdateFailed,
            Health::RolledBack,
            Health::HealthCheckFailed,
            Health::CommandFailed,
            Health::Paused,
            Health::Deferred,
            Health::Removed,
            Health::Healthy,
            Health::Unknown,
        ]
        .into_iter()
        .find(|h| h.label() == label)
    }

    pub fn label(self) -> &'static str {
        match self {
            Health::AppUpdateFailed => "❌ app update failed",
            Health::ConfigUpdateFailed => "❌ config update failed",
            Health::RolledBack => "❌ rolled back: health check failed",
            Health::HealthCheckFailed => "❌ health check failed",
            Health::CommandFailed => "❌ post-command exited non-zero",
            Health::Paused => "⏸️ paused",
            Health::Deferred => "⏸️ update deferred",
            Health::Removed => "🗑️ removed",
            Health::Healthy => "✅ healthy",
            Health::Unknown => "❓ unknown status (malformed entry)",
        }
    }

    /// Counts as healthy in `overall_status` and `--once`'s exit code: paused, deferred and
    /// removed apps are as the operator asked (SPEC §12).
    pub fn is_ok(self) -> bool {
        matches!(
            self,
            Health::Healthy | Health::Paused | Health::Deferred | Health::Removed
        )
    }
}

/// Everything the status of one app is decided from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Facts {
    pub app_failed: bool,
    pub config_failed: bool,
    /// A failed health check was rolled back (this pass, or the refused section is held).
    pub rolled_back: bool,
    /// The last health check failed and nothing was rolled back.
    pub health_failed: bool,
    /// A pre/post (or remove) command exited non-zero.
    pub command_failed: bool,
    pub paused: bool,
    pub deferred: bool,
    pub removed: bool,
}

/// The status rule of SPEC §12, first match wins.
pub fn classify(f: &Facts) -> Health {
    [
        (f.app_failed, Health::AppUpdateFailed),
        (f.config_failed, Health::ConfigUpdateFailed),
        (f.rolled_back, Health::RolledBack),
        (f.health_failed, Health::HealthCheckFailed),
        (f.command_failed, Health::CommandFailed),
        (f.paused, Health::Paused),
        (f.deferred, Health::Deferred),
        (f.removed, Health::Removed),
    ]
    .into_iter()
    .find_map(|(holds, h)| holds.then_some(h))
    .unwrap_or(Health::Healthy)
}

/// Judge one app's outcome this pass, from the report alone (nothing carried forward from a
/// previous feedback file: when nothing ran, no command failed).
pub fn of_report(r: &AppReport) -> Health {
    let codes: &[(&str, i32)] = match &r.commands {
        Commands::Ran { codes, .. } => codes,
        Commands::NothingRan => &[],
    };
    let (rolled_back, health_failed) = match &r.safety.health {
        HealthCheck::Ran(run) => (
            run.rollback.is_some(),
            run.rollback.is_none() && run.codes.iter().any(|(_, c)| *c != 0),
        ),
        HealthCheck::NotRun | HealthCheck::Cleared => (false, false),
    };
    classify(&Facts {
        app_failed: !r.app.ok,
        config_failed: !r.config.ok,
        rolled_back,
        health_failed,
        command_failed: codes.iter().any(|(_, c)| *c != 0),
        paused: matches!(r.safety.hold, Some(Hold::Paused(_))),
        deferred: matches!(r.safety.hold, Some(Hold::Deferred { .. })),
        removed: matches!(r.safety.removal, Some(Removal::At(_))),
    })
}

/// Judge one `[app]` table of the feedback file.
pub fn of_entry(entry: &toml::Value) -> Health {
    let return_val = |table: &str| -> Option<Option<Vec<i64>>> {
        match entry.get(table) {
            None => Some(None),
            Some(t) => t
                .get("command-return-val")
                .and_then(|v| v.as_str())
                .and_then(parse_return_val)
                .map(Some),
        }
    };
    let failed =
        |codes: &Option<Vec<i64>>| codes.as_ref().is_some_and(|c| c.iter().any(|c| *c != 0));
    // A removed app's table is its tombstone: `removed-at` (and what remove_command did).
    if entry.get("removed-at").is_some_and(toml::Value::is_str) {
        return match return_val("extra-command-output") {
            Some(codes) => classify(&Facts {
                command_failed: failed(&codes),
                removed: true,
                ..Facts::default()
            }),
            None => Health::Unknown,
        };
    }
    let flag = |section: &str| entry.get(section)?.get("updation-return-value")?.as_bool();
    let health = entry.get("health");
    let rolled_back = health.and_then(|h| h.get("rolled-back-from")).is_some();
    let held = |key: &str| entry.get(key).is_some_and(toml::Value::is_str);
    match (
        flag("app-updation"),
        flag("config-updation"),
        return_val("extra-command-output"),
        return_val("health"),
    ) {
        (Some(app), Some(config), Some(Some(codes)), Some(health_codes)) => classify(&Facts {
            app_failed: !app,
            config_failed: !config,
            rolled_back,
            health_failed: !rolled_back && failed(&health_codes),
            command_failed: failed(&Some(codes)),
            paused: held("paused-by"),
            deferred: held("deferred-by"),
            removed: false,
        }),
        _ => Health::Unknown,
    }
}

/// The Python agent's dict-literal form of the exit codes: `{'pre': 0, 'post': 0}`, `{}`.
pub fn format_return_val(codes: &[(&str, i32)]) -> String {
    let inner: Vec<String> = codes.iter().map(|(k, v)| format!("'{k}': {v}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Read back `"True"`, `"{}"` or `"{'pre': 0, 'post': 1}"`; `None` when malformed.
pub fn parse_return_val(s: &str) -> Option<Vec<i64>> {
    let s = s.trim();
    if s == "True" {
        return Some(Vec::new());
    }
    let inner = s.strip_prefix('{')?.strip_suffix('}')?.trim();
    if inner.is_empty() {
        return Some(Vec::new());
    }
    inner
        .split(',')
        .map(|pair| {
            let (k, v) = pair.split_once(':')?;
            let k = k.trim();
            if !(k.starts_with('\'') && k.ends_with('\'') && k.len() >= 2) {
                return None;
            }
            v.trim().parse::<i64>().ok()
        })
        .collect()
}

/// Apps needing attention, sorted by name, and the number of apps.
fn tally(apps: &[(String, Health)]) -> (Vec<&str>, usize) {
    let mut bad: Vec<&str> = apps
        .iter()
        .filter(|(_, h)| !h.is_ok())
        .map(|(n, _)| n.as_str())
        .collect();
    bad.sort_unstable();
    (bad, apps.len())
}

/// `overall_status` of the feedback file.
pub fn overall(apps: &[(String, Health)]) -> String {
    match tally(apps) {
        (_, 0) => "⚠️ no apps reported".to_string(),
        (bad, n) if bad.is_empty() => format!("✅ all {n} apps healthy"),
        (bad, n) => format!(
            "⚠️ {} of {n} apps need attention: {}",
            bad.len(),
            bad.join(", ")
        ),
    }
}

/// The status commit's message.
pub fn commit_message(apps: &[(String, Health)]) -> String {
    match tally(apps) {
        (_, 0) => "⚠️ Status: no apps reported".to_string(),
        (bad, n) if bad.is_empty() => format!("✅ Status: all {n} apps healthy"),
        (bad, n) => format!(
            "⚠️ Status: {} of {n} issues ({})",
            bad.len(),
            bad.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The success rule of SPEC §6 alone, from what an apply learnt: the code update failed, the
    /// config update failed, a pre/post command exited non-zero, else healthy.
    fn judge(app_ok: bool, config_ok: bool, codes: impl IntoIterator<Item = i64>) -> Health {
        classify(&Facts {
            app_failed: !app_ok,
            config_failed: !config_ok,
            command_failed: codes.into_iter().any(|c| c != 0),
            ..Facts::default()
        })
    }

    fn entry(app: bool, config: bool, codes: &str) -> toml::Value {
        toml::Value::Table(
            format!(
                "[app-updation]\nupdation-return-value = {app}\n[config-updation]\nupdation-return-value = {config}\n[extra-command-output]\ncommand-return-val = \"{codes}\"\n"
            )
            .parse()
            .unwrap(),
        )
    }

    #[test]
    fn failed_app_update_is_app_update_failed_whatever_else() {
        assert_eq!(judge(false, false, [1]), Health::AppUpdateFailed);
    }

    #[test]
    fn failed_config_update_comes_before_commands() {
        assert_eq!(judge(true, false, [1]), Health::ConfigUpdateFailed);
    }

    #[test]
    fn any_non_zero_command_is_command_failed() {
        assert_eq!(judge(true, true, [0, 2]), Health::CommandFailed);
        assert_eq!(judge(true, true, [-9]), Health::CommandFailed);
    }

    #[test]
    fn both_sides_ok_and_zero_codes_is_healthy() {
        assert_eq!(judge(true, true, [0, 0]), Health::Healthy);
        assert_eq!(judge(true, true, []), Health::Healthy);
    }

    #[test]
    fn report_is_judged_by_the_same_rule() {
        use crate::report::Updation;
        let side = |ok| Updation {
            ok,
            git_status: String::new(),
            latest_commit: "NA".into(),
        };
        let report = |config_ok, commands| AppReport {
            name: "web".into(),
            config: side(config_ok),
            app: side(true),
            commands,
            safety: Default::default(),
        };
        let ran = |codes| Commands::Ran {
            codes,
            logs: String::new(),
        };
        assert_eq!(
            of_report(&report(true, Commands::NothingRan)),
            Health::Healthy
        );
        assert_eq!(
            of_report(&report(false, Commands::NothingRan)),
            Health::ConfigUpdateFailed
        );
        assert_eq!(
            of_report(&report(true, ran(vec![("pre", 0), ("post", 3)]))),
            Health::CommandFailed
        );
        assert_eq!(
            of_report(&report(true, ran(vec![("post", 0)]))),
            Health::Healthy
        );
    }

    #[test]
    fn first_match_wins() {
        assert_eq!(
            of_entry(&entry(false, false, "{'post': 1}")),
            Health::AppUpdateFailed
        );
        assert_eq!(
            of_entry(&entry(true, false, "{'post': 1}")),
            Health::ConfigUpdateFailed
        );
        assert_eq!(
            of_entry(&entry(true, true, "{'pre': 0, 'post': 2}")),
            Health::CommandFailed
        );
        assert_eq!(
            of_entry(&entry(true, true, "{'pre': -9}")),
            Health::CommandFailed
        );
        assert_eq!(
            of_entry(&entry(true, true, "{'pre': 0, 'post': 0}")),
            Health::Healthy
        );
        assert_eq!(of_entry(&entry(true, true, "{}")), Health::Healthy);
        assert_eq!(of_entry(&entry(true, true, "True")), Health::Healthy);
    }

    fn facts() -> Facts {
        Facts::default()
    }

    #[test]
    fn status_order_is_the_spec_order() {
        // Each rule beats every one after it.
        let order = [
            (
                Facts {
                    app_failed: true,
                    ..facts()
                },
                Health::AppUpdateFailed,
            ),
            (
                Facts {
                    config_failed: true,
                    ..facts()
                },
                Health::ConfigUpdateFailed,
            ),
            (
                Facts {
                    rolled_back: true,
                    ..facts()
                },
                Health::RolledBack,
            ),
            (
                Facts {
                    health_failed: true,
                    ..facts()
                },
                Health::HealthCheckFailed,
            ),
            (
                Facts {
                    command_failed: true,
                    ..facts()
                },
                Health::CommandFailed,
            ),
            (
                Facts {
                    paused: true,
                    ..facts()
                },
                Health::Paused,
            ),
            (
                Facts {
                    deferred: true,
                    ..facts()
                },
                Health::Deferred,
            ),
            (
                Facts {
                    removed: true,
                    ..facts()
                },
                Health::Removed,
            ),
        ];
        for (i, (f, h)) in order.iter().enumerate() {
            assert_eq!(classify(f), *h);
            let mut all_later = *f;
            for (later, _) in &order[i..] {
                all_later.app_failed |= later.app_failed;
                all_later.config_failed |= later.config_failed;
                all_later.rolled_back |= later.rolled_back;
                all_later.health_failed |= later.health_failed;
                all_later.command_failed |= later.command_failed;
                all_later.paused |= later.paused;
                all_later.deferred |= later.deferred;
                all_later.removed |= later.removed;
            }
            assert_eq!(
                classify(&all_later),
                *h,
                "{h:?} must win over the rules after it"
            );
        }
        assert_eq!(classify(&facts()), Health::Healthy);
    }

    #[test]
    fn paused_deferred_and_removed_count_as_healthy() {
        for h in [
            Health::Healthy,
            Health::Paused,
            Health::Deferred,
            Health::Removed,
        ] {
            assert!(h.is_ok(), "{h:?}");
        }
        for h in [
            Health::AppUpdateFailed,
            Health::ConfigUpdateFailed,
            Health::RolledBack,
            Health::HealthCheckFailed,
            Health::CommandFailed,
            Health::Unknown,
        ] {
            assert!(!h.is_ok(), "{h:?}");
        }
        let apps = [
            ("a".to_string(), Health::Paused),
            ("b".to_string(), Health::Deferred),
            ("c".to_string(), Health::Removed),
        ];
        assert_eq!(overall(&apps), "✅ all 3 apps healthy");
    }

    fn with(extra: &str) -> toml::Value {
        let toml::Value::Table(mut t) = entry(true, true, "{'post': 0}") else {
            unreachable!()
        };
        t.extend(extra.parse::<toml::Table>().unwrap());
        toml::Value::Table(t)
    }

    #[test]
    fn entries_of_safe_change_are_judged_from_their_tables() {
        assert_eq!(
            of_entry(&with("[health]\ncommand-return-val = \"{'health': 1, 'rollback-health': 0}\"\nrolled-back-from = \"b\"\nrunning = \"a\"\n")),
            Health::RolledBack
        );
        assert_eq!(
            of_entry(&with("[health]\ncommand-return-val = \"{'health': 1}\"\n")),
            Health::HealthCheckFailed
        );
        assert_eq!(
            of_entry(&with("[health]\ncommand-return-val = \"{'health': 0}\"\n")),
            Health::Healthy
        );
        assert_eq!(
            of_entry(&with("[health]\ncommand-return-val = \"x\"\n")),
            Health::Unknown
        );
        assert_eq!(
            of_entry(&with("paused-by = \"gitops-agent pause\"")),
            Health::Paused
        );
        assert_eq!(
            of_entry(&with("deferred-by = \"update_lock\"")),
            Health::Deferred
        );
        let tomb: toml::Table = "status = \"x\"\nremoved-at = \"2026-11-24 10:00:00\"\n"
            .parse()
            .unwrap();
        assert_eq!(of_entry(&toml::Value::Table(tomb)), Health::Removed);
        let failed_remove: toml::Table =
            "removed-at = \"t\"\n[extra-command-output]\ncommand-return-val = \"{'remove': 1}\"\n"
                .parse()
                .unwrap();
        assert_eq!(
            of_entry(&toml::Value::Table(failed_remove)),
            Health::CommandFailed
        );
    }

    #[test]
    fn malformed_entries_are_unknown() {
        assert_eq!(of_entry(&toml::Value::String("x".into())), Health::Unknown);
        assert_eq!(of_entry(&entry(true, true, "{pre: x}")), Health::Unknown);
        let python_v0: toml::Value = toml::Value::Table(
            "config-updation = true\napp-updation = true\n"
                .parse()
                .unwrap(),
        );
        assert_eq!(of_entry(&python_v0), Health::Unknown);
    }

    #[test]
    fn return_val_round_trip() {
        assert_eq!(format_return_val(&[]), "{}");
        assert_eq!(format_return_val(&[("post", 0)]), "{'post': 0}");
        assert_eq!(
            format_return_val(&[("pre", 0), ("post", 0)]),
            "{'pre': 0, 'post': 0}"
        );
        assert_eq!(parse_return_val("{'pre': 0, 'post': 3}"), Some(vec![0, 3]));
    }

    #[test]
    fn overall_and_message() {
        let h = |n: &str, h| (n.to_string(), h);
        assert_eq!(overall(&[]), "⚠️ no apps reported");
        assert_eq!(commit_message(&[]), "⚠️ Status: no apps reported");
        let all = [h("a", Health::Healthy), h("b", Health::Healthy)];
        assert_eq!(overall(&all), "✅ all 2 apps healthy");
        assert_eq!(commit_message(&all), "✅ Status: all 2 apps healthy");
        let some = [
            h("z", Health::CommandFailed),
            h("a", Health::Healthy),
            h("b", Health::Unknown),
        ];
        assert_eq!(overall(&some), "⚠️ 2 of 3 apps need attention: b, z");
        assert_eq!(commit_message(&some), "⚠️ Status: 2 of 3 issues (b, z)");
    }
}
