//! Health of one app (SPEC §6): the success rule ([`judge`]), applied to this pass's typed
//! reports and to the entries of the feedback file, the overall status line and the status
//! commit message. Pure: entries written by the Python agent or by hand are judged by the
//! same rule and a malformed one never crashes a pass.

use crate::report::{AppReport, Commands};

/// The label of one app, first matching rule wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    AppUpdateFailed,
    ConfigUpdateFailed,
    CommandFailed,
    Healthy,
    Unknown,
}

impl Health {
    pub fn label(self) -> &'static str {
        match self {
            Health::AppUpdateFailed => "❌ app update failed",
            Health::ConfigUpdateFailed => "❌ config update failed",
            Health::CommandFailed => "❌ post-command exited non-zero",
            Health::Healthy => "✅ healthy",
            Health::Unknown => "❓ unknown status (malformed entry)",
        }
    }
}

/// The success rule, first match wins: the code update failed, the config update failed, a
/// pre/post command exited non-zero, else healthy. An apply is recorded as successful exactly
/// when its outcome is [`Health::Healthy`] (`plan::record_after_apply`).
pub fn judge(app_ok: bool, config_ok: bool, codes: impl IntoIterator<Item = i64>) -> Health {
    if !app_ok {
        Health::AppUpdateFailed
    } else if !config_ok {
        Health::ConfigUpdateFailed
    } else if codes.into_iter().any(|c| c != 0) {
        Health::CommandFailed
    } else {
        Health::Healthy
    }
}

/// Judge one app's outcome this pass, from the report alone (nothing carried forward from a
/// previous feedback file: when nothing ran, no command failed).
pub fn of_report(r: &AppReport) -> Health {
    let codes: &[(&str, i32)] = match &r.commands {
        Commands::Ran { codes, .. } => codes,
        Commands::NothingRan => &[],
    };
    judge(
        r.app.ok,
        r.config.ok,
        codes.iter().map(|(_, c)| i64::from(*c)),
    )
}

/// Judge one `[app]` table of the feedback file.
pub fn of_entry(entry: &toml::Value) -> Health {
    let flag = |section: &str| entry.get(section)?.get("updation-return-value")?.as_bool();
    let codes = entry
        .get("extra-command-output")
        .and_then(|t| t.get("command-return-val"))
        .and_then(|v| v.as_str())
        .and_then(parse_return_val);
    match (flag("app-updation"), flag("config-updation"), codes) {
        (Some(app), Some(config), Some(codes)) => judge(app, config, codes),
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
        .filter(|(_, h)| *h != Health::Healthy)
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
