//! The fleet dashboard (SPEC §9): `README.md` at the root of the monitoring branch, rendered
//! from the `*.toml` device files of that tree (Python agents' files too) on every status
//! commit, so any git host's web page shows the fleet with no server of ours. Pure: names and
//! file contents in, Markdown out. Other devices' files are untrusted input: a file that is
//! not valid TOML, not a regular file or too big is a `❓ unreadable` row, never an error.

use crate::health::{self, Health};
use crate::report;

/// The dashboard's file name at the branch root; never a device file.
pub const README: &str = "README.md";
/// Bytes read of any one device file; a bigger one is unreadable (a 50 MB blob on the
/// branch must not cost memory or time on every device).
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Characters kept of any value shown in a cell.
const MAX_CELL: usize = 200;

/// One `*.toml` entry at the branch root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFile {
    /// The file name, e.g. `edge-17.toml`.
    pub name: String,
    pub content: Content,
}

/// What could be read of a device file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    /// Not readable as a report, and why (`a symlink`, `a folder`, `over 1 MiB`, ...).
    Unreadable(String),
}

/// Whether a root entry of the branch is a device file.
pub fn is_device_file(name: &str) -> bool {
    name.len() > ".toml".len() && name.ends_with(".toml")
}

/// Where a device stands on the dashboard; rows are shown in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    Attention,
    Silent,
    Healthy,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub device: String,
    pub standing: Standing,
    pub status: String,
    pub last_updated: String,
    pub attention_apps: Vec<String>,
}

/// Judge one device file. `now` is the writing device's local stamp; a device is silent when
/// its `last-updated` is older than 3 × `heartbeat_hours` (or missing; never when 0 = off).
pub fn row(file: &DeviceFile, now: &str, heartbeat_hours: u64) -> Row {
    let device = file
        .name
        .strip_suffix(".toml")
        .unwrap_or(&file.name)
        .to_string();
    let parsed = match &file.content {
        Content::Text(text) => text
            .parse::<toml::Table>()
            .map_err(|_| "not valid TOML".to_string()),
        Content::Unreadable(why) => Err(why.clone()),
    };
    let table = match parsed {
        Ok(t) => t,
        Err(why) => {
            return Row {
                device,
                standing: Standing::Attention,
                status: format!("❓ unreadable: {why}"),
                last_updated: String::new(),
                attention_apps: Vec::new(),
            }
        }
    };
    let apps: Vec<(String, Health)> = table
        .iter()
        .filter(|(_, v)| v.is_table())
        .map(|(k, v)| (k.clone(), health::of_entry(v)))
        .collect();
    let mut attention_apps: Vec<String> = apps
        .iter()
        .filter(|(_, h)| !h.is_ok())
        .map(|(n, _)| n.clone())
        .collect();
    attention_apps.sort();
    let last_updated = table
        .get("last-updated")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let overall = health::overall(&apps);
    let silent = heartbeat_hours > 0
        && report::age_seconds(&last_updated, now).is_none_or(|age| {
            age > heartbeat_hours
                .saturating_mul(3 * 3600)
                .min(i64::MAX as u64) as i64
        });
    let (standing, status) = if apps.is_empty() || !attention_apps.is_empty() {
        (Standing::Attention, overall)
    } else if silent {
        (Standing::Silent, format!("⏰ silent ({overall})"))
    } else {
        (Standing::Healthy, overall)
    };
    Row {
        device,
        standing,
        status,
        last_updated,
        attention_apps,
    }
}

/// The summary line: `N devices: H healthy, A need attention, S silent` (H + A + S = N).
pub fn summary(rows: &[Row]) -> String {
    let count = |s: Standing| rows.iter().filter(|r| r.standing == s).count();
    format!(
        "{} devices: {} healthy, {} need attention, {} silent",
        rows.len(),
        count(Standing::Healthy),
        count(Standing::Attention),
        count(Standing::Silent)
    )
}

/// The whole `README.md`: title, summary, one row per device (attention, then silent, then
/// healthy; by name within each), and a footer naming the writer.
pub fn render(
    branch: &str,
    files: &[DeviceFile],
    now: &str,
    heartbeat_hours: u64,
    writer: &str,
) -> String {
    let mut rows: Vec<Row> = files
        .iter()
        .filter(|f| is_device_file(&f.name))
        .map(|f| row(f, now, heartbeat_hours))
        .collect();
    rows.sort_by(|a, b| (a.standing, &a.device).cmp(&(b.standing, &b.device)));
    let mut out = format!("# Fleet status: `{}`\n\n", cell(branch).replace('`', "'"));
    out.push_str(&summary(&rows));
    out.push_str("\n\n| device | overall status | last-updated | apps needing attention |\n");
    out.push_str("|---|---|---|---|\n");
    for r in &rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell(&r.device),
            cell(&r.status),
            cell(&r.last_updated),
            cell(&r.attention_apps.join(", "))
        ));
    }
    let silent_rule = if heartbeat_hours == 0 {
        "silence is not judged (heartbeat_hours = 0)".to_string()
    } else {
        format!(
            "⏰ silent: no report for over {} h (3 × heartbeat_hours)",
            heartbeat_hours.saturating_mul(3)
        )
    };
    out.push_str(&format!(
        "\nWritten by gitops-agent on `{}` at {} (its local time) from the `*.toml` files of \
         this branch; {silent_rule}. Each device writes only its own file; this page is \
         replaced with every status commit.\n",
        cell(writer).replace('`', "'"),
        cell(now)
    ));
    out
}

/// A value made safe for one Markdown table cell: one line, no `|` breaking the table, no
/// HTML, at most 200 characters.
fn cell(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == MAX_CELL {
            out.push('…');
            break;
        }
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-11-24 10:00:00";

    fn file(name: &str, last: &str, apps: &[(&str, bool)]) -> DeviceFile {
        let mut text = format!("last-updated = \"{last}\"\noverall_status = \"x\"\n");
        for (app, ok) in apps {
            text.push_str(&format!(
                "[\"{app}\"]\nstatus = \"s\"\n[\"{app}\".config-updation]\nupdation-return-value = true\n\
                 [\"{app}\".app-updation]\nupdation-return-value = {ok}\n\
                 [\"{app}\".extra-command-output]\ncommand-return-val = \"{{}}\"\n"
            ));
        }
        DeviceFile {
            name: name.into(),
            content: Content::Text(text),
        }
    }

    fn unreadable(name: &str, why: &str) -> DeviceFile {
        DeviceFile {
            name: name.into(),
            content: Content::Unreadable(why.into()),
        }
    }

    fn table_rows(readme: &str) -> Vec<String> {
        readme
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| device"))
            .map(|l| {
                l.split(" | ")
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("| ")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn healthy_device_row() {
        let r = row(&file("edge-1.toml", NOW, &[("web", true)]), NOW, 24);
        assert_eq!(r.device, "edge-1");
        assert_eq!(r.standing, Standing::Healthy);
        assert_eq!(r.status, "✅ all 1 apps healthy");
        assert_eq!(r.last_updated, NOW);
        assert!(r.attention_apps.is_empty());
    }

    #[test]
    fn device_with_a_failing_app_needs_attention_and_names_it() {
        let f = file(
            "edge-2.toml",
            NOW,
            &[("web", false), ("api", true), ("db", false)],
        );
        let r = row(&f, NOW, 24);
        assert_eq!(r.standing, Standing::Attention);
        assert_eq!(r.attention_apps, vec!["db", "web"]);
        assert_eq!(r.status, "⚠️ 2 of 3 apps need attention: db, web");
    }

    #[test]
    fn silent_after_three_heartbeats() {
        let just = file("a.toml", "2026-11-21 10:00:00", &[("web", true)]);
        assert_eq!(row(&just, NOW, 24).standing, Standing::Healthy);
        let over = file("a.toml", "2026-11-21 09:59:59", &[("web", true)]);
        let r = row(&over, NOW, 24);
        assert_eq!(r.standing, Standing::Silent);
        assert!(r.status.starts_with("⏰ silent"), "{}", r.status);
        assert_eq!(row(&over, NOW, 1).standing, Standing::Silent);
    }

    #[test]
    fn heartbeat_off_judges_no_one_silent() {
        let old = file("a.toml", "2020-01-01 00:00:00", &[("web", true)]);
        assert_eq!(row(&old, NOW, 0).standing, Standing::Healthy);
    }

    #[test]
    fn missing_last_updated_is_silent() {
        let f = DeviceFile {
            name: "py.toml".into(),
            content: Content::Text(
                "[web.config-updation]\nupdation-return-value = true\n[web.app-updation]\n\
                 updation-return-value = true\n[web.extra-command-output]\ncommand-return-val = \"True\"\n"
                    .into(),
            ),
        };
        assert_eq!(row(&f, NOW, 24).standing, Standing::Silent);
    }

    #[test]
    fn attention_wins_over_silent() {
        let f = file("a.toml", "2020-01-01 00:00:00", &[("web", false)]);
        assert_eq!(row(&f, NOW, 24).standing, Standing::Attention);
    }

    #[test]
    fn no_apps_reported_needs_attention() {
        let r = row(&file("a.toml", NOW, &[]), NOW, 24);
        assert_eq!(r.standing, Standing::Attention);
        assert_eq!(r.status, "⚠️ no apps reported");
    }

    #[test]
    fn unreadable_files_are_rows_that_need_attention() {
        let garbage = DeviceFile {
            name: "junk.toml".into(),
            content: Content::Text("this is = = not toml".into()),
        };
        for f in [garbage, unreadable("link.toml", "a symlink")] {
            let r = row(&f, NOW, 24);
            assert_eq!(r.standing, Standing::Attention);
            assert!(r.status.starts_with("❓ unreadable"), "{}", r.status);
        }
        assert_eq!(
            row(&unreadable("big.toml", "over 1 MiB"), NOW, 24).status,
            "❓ unreadable: over 1 MiB"
        );
    }

    #[test]
    fn rows_in_order_attention_silent_healthy_then_by_name() {
        let files = vec![
            file("h2.toml", NOW, &[("web", true)]),
            file("s1.toml", "2026-01-01 00:00:00", &[("web", true)]),
            file("a2.toml", NOW, &[("web", false)]),
            file("h1.toml", NOW, &[("web", true)]),
            unreadable("a1.toml", "a folder"),
        ];
        let readme = render("main-monitoring", &files, NOW, 24, "edge-17");
        assert_eq!(table_rows(&readme), vec!["a1", "a2", "s1", "h1", "h2"]);
        assert!(
            readme.contains("\n5 devices: 2 healthy, 2 need attention, 1 silent\n"),
            "{readme}"
        );
    }

    #[test]
    fn readme_and_other_files_are_not_devices() {
        assert!(!is_device_file(README));
        assert!(!is_device_file(".toml"));
        assert!(!is_device_file("notes.txt"));
        assert!(is_device_file("edge-1.toml"));
        let files = vec![
            DeviceFile {
                name: README.into(),
                content: Content::Text("# old".into()),
            },
            file("e.toml", NOW, &[("web", true)]),
        ];
        let readme = render("b", &files, NOW, 24, "e");
        assert!(readme.contains("1 devices: 1 healthy, 0 need attention, 0 silent"));
    }

    #[test]
    fn empty_branch_renders_a_table_without_rows() {
        let readme = render("b", &[], NOW, 24, "e");
        assert!(readme.contains("0 devices: 0 healthy, 0 need attention, 0 silent"));
        assert!(table_rows(&readme).is_empty());
    }

    #[test]
    fn cells_cannot_break_the_table_or_inject_html() {
        let f = file("e|v<il>\n.toml", NOW, &[("a|b", false)]);
        let readme = render("b", &[f], NOW, 24, "e");
        let line = readme.lines().find(|l| l.starts_with("| e")).unwrap();
        assert!(line.starts_with("| e\\|v&lt;il&gt;  |"), "{line}");
        assert!(line.contains("a\\|b"), "{line}");
        assert_eq!(cell(&"x".repeat(500)).chars().count(), 201);
    }

    #[test]
    fn footer_names_the_writer_and_the_silence_rule() {
        let on = render("b", &[], NOW, 24, "edge-17");
        assert!(on.contains("`edge-17`") && on.contains("over 72 h"), "{on}");
        let off = render("b", &[], NOW, 0, "edge-17");
        assert!(off.contains("heartbeat_hours = 0"), "{off}");
    }
}
