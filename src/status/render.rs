//! What `gitops-agent status [--json]` prints for a last-pass record. Pure: the record, the
//! current time and the configured apps in, text out.

use gix::date::Time;

use super::record::{AppStatus, LastPass};
use crate::json;

/// Everything one `status` output shows.
#[derive(Debug, Clone)]
pub struct View<'a> {
    pub record: &'a LastPass,
    /// Now, in the local offset (stamps are shown in it).
    pub now: Time,
    /// Apps of the agent config the record does not know yet.
    pub not_in_record: Vec<&'a str>,
}

impl View<'_> {
    fn stamp(&self, unix: i64) -> String {
        crate::clock::stamp(Time::new(unix, self.now.offset))
    }
}

/// The human view: a summary, then one block per app.
pub fn text(v: &View) -> String {
    let r = v.record;
    let mut out = format!(
        "{}: last pass ended {} ({}), took {:.1} s\n",
        r.infra,
        v.stamp(r.ended_unix),
        ago(v.now.seconds - r.ended_unix),
        r.duration_seconds
    );
    let bad = r.attention();
    out.push_str(&match (bad.len(), r.apps.len()) {
        (_, 0) => "no apps in the last pass\n".to_string(),
        (0, n) => format!("all {n} apps healthy\n"),
        (b, n) => format!("{b} of {n} apps need attention: {}\n", bad.join(", ")),
    });
    if !r.unpublished.is_empty() {
        out.push_str(&format!(
            "feedback not published for {}\n",
            r.unpublished.join(", ")
        ));
    }
    out.push_str(&format!(
        "publish failures (total): {}\n",
        r.publish_failures_total
    ));
    if !v.not_in_record.is_empty() {
        out.push_str(&format!(
            "not in the last pass (configured since?): {}\n",
            v.not_in_record.join(", ")
        ));
    }
    for a in &r.apps {
        out.push('\n');
        out.push_str(&app_text(v, a));
    }
    out
}

fn app_text(v: &View, a: &AppStatus) -> String {
    let mut out = format!("{}: {}\n", a.name, a.status);
    let mut line = |key: &str, value: String| out.push_str(&format!("  {key}: {value}\n"));
    line("repo", a.repo.clone());
    line(
        "commit",
        if a.commit.is_empty() {
            "unknown".into()
        } else {
            a.commit.clone()
        },
    );
    line(
        "last change",
        a.changed_unix
            .map_or_else(|| "not seen changing".into(), |t| v.stamp(t)),
    );
    if let Some(by) = &a.paused_by {
        line("paused by", by.clone());
    }
    if let Some(by) = &a.deferred_by {
        line("deferred by", by.clone());
    }
    if let Some(e) = &a.last_error {
        let when = a.last_error_unix.map(|t| v.stamp(t)).unwrap_or_default();
        let key = if a.healthy { "last error" } else { "error" };
        line(key, format!("{e} ({when})"));
    }
    out
}

/// How long ago, roughly: `42 s ago`, `5 min ago`, `3 h ago`, `2 d ago`; a time ahead of
/// the clock says so.
pub fn ago(seconds: i64) -> String {
    match seconds {
        s if s < 0 => "in the future: check the clock".into(),
        s if s < 120 => format!("{s} s ago"),
        s if s < 2 * 3600 => format!("{} min ago", s / 60),
        s if s < 2 * 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    }
}

/// The machine view: one JSON object (times as unix seconds and local stamps).
pub fn json(v: &View) -> String {
    let r = v.record;
    let strings =
        |items: &[&str]| json::array(&items.iter().map(|s| json::string(s)).collect::<Vec<_>>());
    let unpublished: Vec<&str> = r.unpublished.iter().map(String::as_str).collect();
    let apps: Vec<String> = r.apps.iter().map(|a| app_json(v, a)).collect();
    let mut out = json::object(&[
        ("infra", json::string(&r.infra)),
        ("healthy", r.healthy().to_string()),
        ("last_pass_end_unix", r.ended_unix.to_string()),
        ("last_pass_end", json::string(&v.stamp(r.ended_unix))),
        ("pass_duration_seconds", json::seconds(r.duration_seconds)),
        (
            "publish_failures_total",
            r.publish_failures_total.to_string(),
        ),
        ("unpublished", strings(&unpublished)),
        ("not_in_last_pass", strings(&v.not_in_record)),
        ("apps", json::array(&apps)),
    ]);
    out.push('\n');
    out
}

fn app_json(v: &View, a: &AppStatus) -> String {
    let stamp = |t: Option<i64>| json::opt_string(t.map(|t| v.stamp(t)).as_deref());
    json::object(&[
        ("name", json::string(&a.name)),
        ("repo", json::string(&a.repo)),
        ("status", json::string(&a.status)),
        ("healthy", a.healthy.to_string()),
        (
            "commit",
            json::opt_string(Some(a.commit.as_str()).filter(|c| !c.is_empty())),
        ),
        ("last_change_unix", json::opt_int(a.changed_unix)),
        ("last_change", stamp(a.changed_unix)),
        ("paused", a.paused_by.is_some().to_string()),
        ("paused_by", json::opt_string(a.paused_by.as_deref())),
        ("deferred", a.deferred_by.is_some().to_string()),
        ("deferred_by", json::opt_string(a.deferred_by.as_deref())),
        ("last_error", json::opt_string(a.last_error.as_deref())),
        ("last_error_unix", json::opt_int(a.last_error_unix)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_795_000_000; // 2026-11-18 11:06:40 UTC

    fn app(name: &str, status: &str, healthy: bool) -> AppStatus {
        AppStatus {
            name: name.into(),
            repo: "https://h/o/d.git@main".into(),
            status: status.into(),
            healthy,
            commit: "4f1c2e9".into(),
            changed_unix: Some(T - 60),
            paused_by: None,
            deferred_by: None,
            last_error: None,
            last_error_unix: None,
        }
    }

    fn record(apps: Vec<AppStatus>) -> LastPass {
        LastPass {
            infra: "edge-1".into(),
            ended_unix: T,
            duration_seconds: 1.25,
            publish_failures_total: 2,
            unpublished: vec![],
            apps,
        }
    }

    fn view(r: &LastPass) -> View<'_> {
        View {
            record: r,
            now: Time::new(T + 30, 3600),
            not_in_record: vec![],
        }
    }

    #[test]
    fn text_summary_says_when_how_long_and_who_needs_attention() {
        let r = record(vec![
            app("web", "✅ healthy", true),
            app("db", "❌ app update failed", false),
        ]);
        let t = text(&view(&r));
        assert!(
            t.starts_with("edge-1: last pass ended 2026-11-18 12:06:40 (30 s ago), took 1.2 s\n"),
            "{t}"
        );
        assert!(t.contains("1 of 2 apps need attention: db\n"), "{t}");
        assert!(t.contains("publish failures (total): 2\n"), "{t}");
    }

    #[test]
    fn text_block_per_app_with_commit_change_and_hold() {
        let mut paused = app("web", "⏸️ paused", true);
        paused.paused_by = Some("gitops-agent pause".into());
        paused.changed_unix = None;
        paused.commit.clear();
        let t = text(&view(&record(vec![paused])));
        assert!(t.contains("\nweb: ⏸️ paused\n"), "{t}");
        assert!(t.contains("  commit: unknown\n"), "{t}");
        assert!(t.contains("  last change: not seen changing\n"), "{t}");
        assert!(t.contains("  paused by: gitops-agent pause\n"), "{t}");
        assert!(t.contains("all 1 apps healthy\n"), "{t}");
    }

    #[test]
    fn text_error_is_current_while_failing_and_last_once_healthy() {
        let mut bad = app("db", "❌ app update failed", false);
        bad.last_error = Some("no route".into());
        bad.last_error_unix = Some(T);
        let mut good = app("web", "✅ healthy", true);
        good.last_error = Some("old".into());
        good.last_error_unix = Some(T - 3600);
        let t = text(&view(&record(vec![bad, good])));
        assert!(
            t.contains("  error: no route (2026-11-18 12:06:40)\n"),
            "{t}"
        );
        assert!(
            t.contains("  last error: old (2026-11-18 11:06:40)\n"),
            "{t}"
        );
    }

    #[test]
    fn text_names_unpublished_repos_and_apps_not_in_the_record() {
        let mut r = record(vec![]);
        r.unpublished = vec!["https://h/o/d.git@main".into()];
        let mut v = view(&r);
        v.not_in_record = vec!["api"];
        let t = text(&v);
        assert!(t.contains("no apps in the last pass\n"), "{t}");
        assert!(t.contains("feedback not published for https://h/o/d.git@main\n"));
        assert!(t.contains("not in the last pass (configured since?): api\n"));
    }

    #[test]
    fn ago_is_rough() {
        assert_eq!(ago(5), "5 s ago");
        assert_eq!(ago(600), "10 min ago");
        assert_eq!(ago(3 * 3600), "3 h ago");
        assert_eq!(ago(3 * 86_400), "3 d ago");
        assert_eq!(ago(-1), "in the future: check the clock");
    }

    #[test]
    fn json_has_every_field_with_nulls_for_the_unknown() {
        let mut a = app("web", "⏸️ update deferred", true);
        a.deferred_by = Some("update_lock".into());
        a.changed_unix = None;
        let r = record(vec![a]);
        let j = json(&view(&r));
        for part in [
            r#""infra": "edge-1""#,
            r#""healthy": true"#,
            r#""last_pass_end_unix": 1795000000"#,
            r#""last_pass_end": "2026-11-18 12:06:40""#,
            r#""pass_duration_seconds": 1.250"#,
            r#""publish_failures_total": 2"#,
            r#""unpublished": []"#,
            r#""name": "web""#,
            r#""status": "⏸️ update deferred""#,
            r#""commit": "4f1c2e9""#,
            r#""last_change_unix": null"#,
            r#""last_change": null"#,
            r#""paused": false"#,
            r#""deferred": true"#,
            r#""deferred_by": "update_lock""#,
            r#""last_error": null"#,
        ] {
            assert!(j.contains(part), "{part} in {j}");
        }
        assert!(j.ends_with("}\n"));
        assert_eq!(j.lines().count(), 1);
    }

    #[test]
    fn json_escapes_hostile_values() {
        let mut a = app("web", "✅ healthy", true);
        a.last_error = Some("a\"b\\c\nd".into());
        let r = record(vec![a]);
        let j = json(&view(&r));
        assert!(j.contains(r#""last_error": "a\"b\\c\nd""#), "{j}");
        assert_eq!(j.lines().count(), 1);
    }
}
