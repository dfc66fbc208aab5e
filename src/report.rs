//! The feedback document `<infra_name>.toml` (SPEC §6): merging this pass's outcomes into the
//! previous file, carry-forward of command output, kept apps, and the "changed at all?" test
//! that keeps an unchanged world from making commits. Pure: text in, text out.

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
        let carried = doc
            .get(&r.name)
            .and_then(|e| e.get("extra-command-output"))
            .filter(|e| e.is_table())
            .cloned();
        let mut entry = toml::Table::new();
        entry.insert("config-updation".into(), updation(&r.config));
        entry.insert("app-updation".into(), updation(&r.app));
        let commands = match (&r.commands, carried) {
            (Commands::Ran { codes, logs }, _) => {
                command_table(&health::format_return_val(codes), logs)
            }
            (Commands::NothingRan, Some(prev)) => prev,
            (Commands::NothingRan, None) => command_table("True", "Nothing was run"),
        };
        entry.insert("extra-command-output".into(), commands);
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

/// The `last-updated` of a feedback file, if it has one.
pub fn last_updated(text: &str) -> Option<String> {
    let t: toml::Table = text.parse().ok()?;
    t.get("last-updated")?.as_str().map(str::to_string)
}

/// Whether a report unchanged apart from `last-updated` is still due (SPEC §9
/// `heartbeat_hours`, 0 = off): the branch's copy was last updated `hours` or more ago (or
/// its time cannot be read), so a silent device shows on the branch. `now` is a stamp too.
pub fn heartbeat_due(previous: &str, now: &str, hours: u64) -> bool {
    if hours == 0 {
        return false;
    }
    let age = last_updated(previous).and_then(|then| age_seconds(&then, now));
    age.is_none_or(|age| age >= hours.saturating_mul(3600).min(i64::MAX as u64) as i64)
}

/// Seconds from the stamp `then` to the stamp `now` (both `YYYY-MM-DD HH:MM:SS`, local
/// time); `None` when either is malformed. Negative when `then` is later (clock skew).
pub fn age_seconds(then: &str, now: &str) -> Option<i64> {
    Some(stamp_seconds(now)? - stamp_seconds(then)?)
}

/// `YYYY-MM-DD HH:MM:SS` as seconds on a zone-free scale (days since 1970-01-01 as if UTC).
fn stamp_seconds(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = std::str::from_utf8(&b[r]).ok()?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
}
