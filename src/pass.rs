//! One reconcile pass, top to bottom: per group, reconcile its apps, then publish the
//! feedback. The outcome decides `--once`'s exit code (in `main`).

use std::sync::atomic::AtomicBool;

use crate::config::AgentConfig;
use crate::health::Health;
use crate::layout::Layout;
use crate::{monitoring, reconcile, url};

/// What a pass did, summed over groups.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassSummary {
    /// Apps reconciled this pass.
    pub apps: usize,
    /// Apps of this pass that need attention, sorted.
    pub attention: Vec<String>,
    /// Groups whose feedback could not be published.
    pub failed_groups: Vec<String>,
    pub pushed: usize,
    pub stopped: bool,
    /// Every group visited, by `group_key`, and whether it failed (fetch or publish).
    pub groups: Vec<(String, bool)>,
}

/// Identity of a group across passes (for retries).
pub fn group_key(group: &crate::config::Group) -> String {
    format!("{}@{}", url::normalize(&group.url), group.branch)
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
    let mut summary = PassSummary::default();
    for group in cfg.groups() {
        let key = group_key(&group);
        if only.is_some_and(|keys| !keys.contains(&key)) {
            continue;
        }
        let shown = format!("{}@{}", url::redact(&group.url), group.branch);
        let outcome = reconcile::group(cfg, layout, &group, stop);
        let names: Vec<String> = outcome.reports.iter().map(|r| r.name.clone()).collect();
        summary.apps += names.len();
        if outcome.stopped {
            // Shutting down: the report waits for the next run, so the agent exits within
            // seconds instead of spending up to 2 x network_timeout on a push.
            log::info!("{shown}: stopping; this pass's report is not published");
            summary.attention.extend(unhealthy(&outcome.reports));
            summary.stopped = true;
            break;
        }
        let published =
            monitoring::publish(cfg, layout, &group, &outcome.reports, force_report, stop);
        summary
            .groups
            .push((key, outcome.deploy_failed || published.is_err()));
        match published {
            Ok((published, apps)) => {
                if published != monitoring::Published::Unchanged {
                    summary.pushed += 1;
                }
                for (name, h) in apps {
                    if h != Health::Healthy && names.contains(&name) {
                        summary.attention.push(name);
                    }
                }
            }
            Err(e) => {
                log::error!("{shown}: feedback not published: {e}");
                summary.failed_groups.push(shown);
                summary.attention.extend(unhealthy(&outcome.reports));
            }
        }
    }
    summary.attention.sort();
    summary.attention.dedup();
    summary
}

/// This pass's apps that are not healthy, judged from the reports alone (no previous file).
fn unhealthy(reports: &[crate::report::AppReport]) -> Vec<String> {
    crate::report::build(None, reports, "")
        .apps
        .into_iter()
        .filter(|(_, h)| *h != Health::Healthy)
        .map(|(n, _)| n)
        .collect()
}
