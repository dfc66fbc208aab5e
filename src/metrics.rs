//! `metrics_file` (SPEC §13): the last pass in Prometheus text format, for node_exporter's
//! textfile collector. Pure rendering; the shell writes it atomically after every pass.

use std::fmt::Write;

/// One app as the metrics show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppMetric {
    pub app: String,
    /// The status label (`✅ healthy`, `❌ ...`, `⏸️ paused`, ...).
    pub status: String,
    /// Counts as healthy for alerting (healthy, paused, deferred, removed).
    pub healthy: bool,
    /// The commit the app runs (empty when unknown).
    pub commit: String,
}

/// Everything one metrics file says.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub infra: String,
    pub apps: Vec<AppMetric>,
    /// When the pass ended, unix seconds.
    pub last_pass_unix: i64,
    pub pass_seconds: f64,
    /// Reports not published since the agent's state began (kept across restarts).
    pub publish_failures_total: u64,
}

/// The file's text.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    let infra = escape(&s.infra);
    header(
        &mut out,
        "gitops_agent_app_healthy",
        "gauge",
        "1 when the app is healthy (also paused, deferred or removed), 0 when it needs attention.",
    );
    for a in &s.apps {
        let _ = writeln!(
            out,
            "gitops_agent_app_healthy{{infra=\"{infra}\",app=\"{}\"}} {}",
            escape(&a.app),
            u8::from(a.healthy)
        );
    }
    header(
        &mut out,
        "gitops_agent_app_info",
        "gauge",
        "The app's commit and status as labels; always 1.",
    );
    for a in &s.apps {
        let _ = writeln!(
            out,
            "gitops_agent_app_info{{infra=\"{infra}\",app=\"{}\",commit=\"{}\",status=\"{}\"}} 1",
            escape(&a.app),
            escape(&a.commit),
            escape(&a.status)
        );
    }
    for (name, kind, help, value) in [
        (
            "gitops_agent_last_pass_timestamp_seconds",
            "gauge",
            "When the last pass ended (unix time).",
            s.last_pass_unix.to_string(),
        ),
        (
            "gitops_agent_pass_duration_seconds",
            "gauge",
            "How long the last pass took.",
            format!("{:.3}", s.pass_seconds),
        ),
        (
            "gitops_agent_publish_failures_total",
            "counter",
            "Status reports that could not be pushed to the monitoring branch.",
            s.publish_failures_total.to_string(),
        ),
    ] {
        header(&mut out, name, kind, help);
        let _ = writeln!(out, "{name}{{infra=\"{infra}\"}} {value}");
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped; cut to the
/// usual bound so a hostile value cannot bloat the file.
fn escape(v: &str) -> String {
    crate::text::clip(v)
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        Snapshot {
            infra: "edge-1".into(),
            apps: vec![
                AppMetric {
                    app: "web".into(),
                    status: "✅ healthy".into(),
                    healthy: true,
                    commit: "4f1c2e9".into(),
                },
                AppMetric {
                    app: "db".into(),
                    status: "❌ post-command exited non-zero".into(),
                    healthy: false,
                    commit: "".into(),
                },
            ],
            last_pass_unix: 1_795_000_000,
            pass_seconds: 0.25,
            publish_failures_total: 3,
        }
    }

    #[test]
    fn every_required_family_is_present_with_type_lines() {
        let text = render(&snap());
        for name in [
            "gitops_agent_app_healthy",
            "gitops_agent_app_info",
            "gitops_agent_last_pass_timestamp_seconds",
            "gitops_agent_pass_duration_seconds",
            "gitops_agent_publish_failures_total",
        ] {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
        assert!(text.contains("gitops_agent_app_healthy{infra=\"edge-1\",app=\"web\"} 1\n"));
        assert!(text.contains("gitops_agent_app_healthy{infra=\"edge-1\",app=\"db\"} 0\n"));
        assert!(text.contains(
            "gitops_agent_app_info{infra=\"edge-1\",app=\"web\",commit=\"4f1c2e9\",status=\"✅ healthy\"} 1\n"
        ));
        assert!(text.contains("gitops_agent_publish_failures_total{infra=\"edge-1\"} 3\n"));
        assert!(text.contains("gitops_agent_pass_duration_seconds{infra=\"edge-1\"} 0.250\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = snap();
        s.apps[0].status = "a\"b\\c\nd".into();
        let text = render(&s);
        assert!(text.contains("status=\"a\\\"b\\\\c\\nd\""));
        // every sample line stays one line
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("gitops_agent_app_info"))
                .count(),
            2
        );
    }

    #[test]
    fn families_are_not_interleaved() {
        let text = render(&snap());
        let first_info = text.find("gitops_agent_app_info{").unwrap();
        let last_healthy = text.rfind("gitops_agent_app_healthy{").unwrap();
        assert!(last_healthy < first_info);
    }
}
