//! One reconcile pass, top to bottom: per group, reconcile its apps, then publish the
//! feedback; at the end, record the pass for `status` and `metrics_file` (SPEC §13). The
//! outcome decides `--once`'s exit code (in `main`).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::config::AgentConfig;
use crate::git::repo::SharedTips;
use crate::health::{self, Health};
use crate::layout::Layout;
use crate::report::AppReport;
use crate::state::last_pass;
use crate::status::record::{self, PassFacts, Seen};
use crate::{events, monitoring, reconcile};

/// What a pass did, summed over groups.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassSummary {
    /// Apps reconciled this pass.
    pub apps: usize,
    /// Apps of this pass that need attention, sorted.
    pub attention: Vec<String>,
    /// Groups whose feedback could not be published.
    pub failed_groups: Vec<String>,
    /// Every group visited, by `group_key`, and whether it failed (fetch or publish).
    pub groups: Vec<(String, bool)>,
}

/// Identity of a group across passes (for retries).
pub fn group_key(group: &crate::config::Group) -> String {
    format!("{}@{}", group.url.normalized(), group.branch)
}

impl PassSummary {
    pub fn healthy(&self) -> bool {
        self.attention.is_empty() && self.failed_groups.is_empty()
    }

    /// One line for logs and systemd's STATUS=.
    pub fn line(&self) -> String {
        let mut s = if self.attention.is_empty() {
            format!("{} apps healthy", self.apps)
        } else {
            format!(
                "{} of {} apps need attention: {}",
                self.attention.len(),
                self.apps,
                self.attention.join(", ")
            )
        };
        if !self.failed_groups.is_empty() {
            s.push_str(&format!(
                "; feedback not published for {}",
                self.failed_groups.join(", ")
            ));
        }
        s
    }
}

/// Run one pass over every group of `cfg`, or only over the groups named in `only`.
pub fn run(
    cfg: &AgentConfig,
    layout: &Layout,
    force_report: bool,
    stop: &AtomicBool,
    only: Option<&[String]>,
) -> PassSummary {
    let started = Instant::now();
    let mut summary = PassSummary::default();
    // For the record of this pass: (group shown, report, health as judged for the exit code).
    let mut seen: Vec<(String, AppReport, Health)> = Vec::new();
    let mut visited: Vec<String> = Vec::new();
    let mut facts = events::PassFacts::default();
    let groups = cfg.groups();
    for group in &groups {
        let key = group_key(group);
        if only.is_some_and(|keys| !keys.contains(&key)) {
            continue;
        }
        let shown = shown(group);
        visited.push(shown.clone());
        // Every pass, until signature checks (SPEC §11) vouch for what such a remote sends.
        if let Some(scheme) = group.url.cleartext_scheme().filter(|_| !cfg.verifying()) {
            log::warn!(
                "{shown}: fetched over {scheme}:// without signature verification: anyone on the network path can change what this device runs as root; use https or ssh, or turn on signature checks (allowed_signers / trusted_pgp_keys)"
            );
        }
        // One contact for both branches: what is here already is not fetched again.
        let net = cfg.net_options();
        let names = vec![
            format!("refs/heads/{}", group.branch),
            format!("refs/heads/{}-monitoring", group.branch),
        ];
        // A device without the deploy clone (its first pass) fetches that branch whatever
        // a listing says, so the listing would be one more contact, not one fewer: in a
        // fleet coming up together that is one more server process per device.
        let cloned = layout
            .deploy_clone(&group.url, &group.branch)
            .join(".git")
            .exists();
        let listed = cloned.then(|| SharedTips::new(&group.url, names, &net, stop));
        let (outcome, early) = match &listed {
            Some(listed) => reconcile_and_fetch_ahead(cfg, layout, group, stop, listed),
            None => (
                reconcile::group(cfg, layout, group, stop, None),
                monitoring::Early::Nothing,
            ),
        };
        // (a table dropped from the feedback file is no app of this pass)
        summary.apps += outcome
            .reports
            .iter()
            .filter(|r| r.safety.removal != Some(crate::report::Removal::Expired))
            .count();
        if outcome.stopped {
            // Shutting down: the report waits for the next run, so the agent exits within
            // seconds instead of spending up to 2 x network_timeout on a push.
            log::info!("{shown}: stopping; this pass's report is not published");
            summary.attention.extend(attention(&outcome.reports, None));
            facts.add_apps(&outcome.reports, None);
            seen.extend(judged(&shown, outcome.reports, None));
            break;
        }
        let published = monitoring::publish(
            cfg,
            layout,
            group,
            &outcome.reports,
            force_report,
            stop,
            early,
        );
        summary
            .groups
            .push((key, outcome.deploy_failed || published.is_err()));
        match published {
            Ok((_, apps)) => {
                summary
                    .attention
                    .extend(attention(&outcome.reports, Some(&apps)));
                facts.add_apps(&outcome.reports, Some(&apps));
                facts.add_publish(&shown, None);
                seen.extend(judged(&shown, outcome.reports, Some(&apps)));
            }
            Err(e) => {
                log::error!("{shown}: feedback not published: {e}");
                facts.add_apps(&outcome.reports, None);
                facts.add_publish(&shown, Some(e.to_string()));
                summary.attention.extend(attention(&outcome.reports, None));
                seen.extend(judged(&shown, outcome.reports, None));
                summary.failed_groups.push(shown);
            }
        }
    }
    summary.attention.sort();
    summary.attention.dedup();
    let configured = groups.iter().map(shown).collect();
    record_pass(cfg, layout, &seen, visited, configured, &summary, started);
    // Delivery failures are logged there, never a failed pass; bounded by network_timeout.
    events::after_pass(cfg, layout, &facts, stop);
    summary
}

/// Reconcile `group` while a second thread lists its two branches (`listed`) and, when the
/// monitoring branch moved but the deploy branch did not (or the listing failed), fetches
/// the monitoring branch: the round trips overlap the local work. The reconcile waits for
/// the listing only once the deploy clone is open.
/// Without that thread (it could not start), the reconcile lists and `publish` fetches.
fn reconcile_and_fetch_ahead<'a>(
    cfg: &AgentConfig,
    layout: &Layout,
    group: &crate::config::Group,
    stop: &AtomicBool,
    listed: &'a SharedTips<'_>,
) -> (reconcile::GroupOutcome, monitoring::Early<'a>) {
    let (outcome, ahead) = std::thread::scope(|scope| {
        let ahead = std::thread::Builder::new()
            .name("listing".into())
            // The main thread's size: gix is written for it (only touched pages cost memory).
            .stack_size(8 << 20)
            .spawn_scoped(scope, || {
                let here = |dir: std::path::PathBuf, branch: &str| {
                    matches!(listed.get(), Ok(tips) if tips.at_tracking_ref(&dir, branch))
                };
                let deploy = layout.deploy_clone(&group.url, &group.branch);
                let mon = layout.monitoring_clone(&group.url, &group.branch);
                // Worth it when the pass will likely only read the branch: it moved, the
                // deploy branch did not (or the listing failed: then publish fetches anyway).
                let moved = !here(mon, &format!("{}-monitoring", group.branch));
                (moved && (here(deploy, &group.branch) || listed.get().is_err()))
                    .then(|| monitoring::fetch_ahead(cfg, layout, group, stop))
                    .flatten()
            });
        let outcome = reconcile::group(cfg, layout, group, stop, Some(listed));
        (outcome, ahead.ok().and_then(|h| h.join().ok().flatten()))
    });
    let early = match (ahead, listed.get()) {
        (Some(ahead), _) => monitoring::Early::Ahead(ahead),
        (None, Ok(tips)) => monitoring::Early::Listed(tips),
        (None, Err(_)) => monitoring::Early::Nothing,
    };
    (outcome, early)
}

/// A group as logs, the record and `status` show it: redacted url, `@branch`.
fn shown(group: &crate::config::Group) -> String {
    format!("{}@{}", group.url, group.branch)
}

/// Record the pass for `gitops-agent status` and write `metrics_file` (SPEC §13). Neither
/// can fail the pass: a failure is a log line.
fn record_pass(
    cfg: &AgentConfig,
    layout: &Layout,
    seen: &[(String, AppReport, Health)],
    visited: Vec<String>,
    configured: Vec<String>,
    summary: &PassSummary,
    started: Instant,
) {
    let state_dir = layout.state_dir();
    let stored = last_pass::previous(&state_dir);
    let previous = match &stored.read {
        last_pass::Read::Record(r) => Some(r),
        last_pass::Read::Missing => None,
        last_pass::Read::Unreadable(why) => {
            log::warn!("{why}; publish_failures_total starts again from 0");
            None
        }
    };
    let facts = PassFacts {
        infra: &cfg.infra_name,
        ended_unix: crate::clock::now().seconds,
        duration_seconds: started.elapsed().as_secs_f64(),
        apps: seen
            .iter()
            .map(|(repo, report, health)| Seen {
                repo,
                report,
                health: *health,
            })
            .collect(),
        visited,
        configured,
        unpublished: summary.failed_groups.clone(),
    };
    let rec = record::build(previous, &facts);
    if let Err(e) = last_pass::store(&state_dir, &rec, &stored) {
        log::warn!("the record of this pass (for `gitops-agent status`): {e}");
    }
    if let Some(path) = &cfg.metrics_file {
        let text = crate::metrics::render(&record::metrics(&rec));
        // 0644: node_exporter runs as its own user; nothing in the file is secret. Unsynced:
        // rewritten every pass, and a scrape only needs it whole.
        if let Err(e) = crate::atomic::write_unsynced(path, text.as_bytes(), Some(0o644)) {
            log::error!(
                "metrics_file {}: not written: {e}; check that the folder exists and is writable by the agent (the pass itself is unaffected)",
                path.display()
            );
        }
    }
}

/// This pass's apps that need attention. With `published` (every app of the feedback file
/// and its health as published), as the file says: it carries command output forward from
/// earlier passes. Without (not published), judged from the typed reports alone.
fn attention(reports: &[AppReport], published: Option<&[(String, Health)]>) -> Vec<String> {
    reports
        .iter()
        .filter(|r| health_of(r, published).is_some_and(|h| !h.is_ok()))
        .map(|r| r.name.clone())
        .collect()
}

/// An app's health by the rule of [`attention`]; `None` for an app missing from the
/// published file (a tombstone dropped this pass: no app of this pass).
fn health_of(r: &AppReport, published: Option<&[(String, Health)]>) -> Option<Health> {
    match published {
        Some(apps) => apps.iter().find(|(n, _)| *n == r.name).map(|(_, h)| *h),
        None => Some(health::of_report(r)),
    }
}

/// This pass's apps with their health by the rule of [`attention`]; an app missing from the
/// published file (a tombstone dropped this pass) is no app of this pass.
fn judged(
    repo: &str,
    reports: Vec<AppReport>,
    published: Option<&[(String, Health)]>,
) -> Vec<(String, AppReport, Health)> {
    reports
        .into_iter()
        .filter_map(|r| health_of(&r, published).map(|h| (repo.to_string(), r, h)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Commands, Updation};

    fn report(name: &str, app_ok: bool, codes: Vec<(&'static str, i32)>) -> AppReport {
        let side = |ok| Updation {
            ok,
            git_status: String::new(),
            latest_commit: "NA".into(),
        };
        AppReport {
            name: name.into(),
            config: side(true),
            app: side(app_ok),
            commands: if codes.is_empty() {
                Commands::NothingRan
            } else {
                Commands::Ran {
                    codes,
                    logs: String::new(),
                }
            },
            safety: Default::default(),
        }
    }

    #[test]
    fn unpublished_apps_are_judged_from_their_reports() {
        let reports = [
            report("a", true, vec![]),
            report("b", false, vec![]),
            report("c", true, vec![("post", 1)]),
            report("d", true, vec![("pre", 0), ("post", 0)]),
        ];
        assert_eq!(attention(&reports, None), ["b", "c"]);
    }

    #[test]
    fn published_apps_are_judged_as_the_file_says() {
        // `a` ran nothing this pass, but the file carries its failed command forward; `old`
        // is only in the file (another pass's app) and is not this pass's concern.
        let reports = [report("a", true, vec![]), report("b", true, vec![])];
        let file = [
            ("a".to_string(), Health::CommandFailed),
            ("b".to_string(), Health::Healthy),
            ("old".to_string(), Health::Unknown),
        ];
        assert_eq!(attention(&reports, Some(&file)), ["a"]);
    }

    #[test]
    fn summary_line_names_apps_and_unpublished_groups() {
        let s = PassSummary {
            apps: 3,
            attention: vec!["b".into(), "c".into()],
            failed_groups: vec!["h/o/r@main".into()],
            ..PassSummary::default()
        };
        assert!(!s.healthy());
        assert_eq!(
            s.line(),
            "2 of 3 apps need attention: b, c; feedback not published for h/o/r@main"
        );
        let ok = PassSummary {
            apps: 2,
            ..PassSummary::default()
        };
        assert!(ok.healthy());
        assert_eq!(ok.line(), "2 apps healthy");
    }
}
