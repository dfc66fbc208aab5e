//! `gitops-agent pause APP...|--all` and `gitops-agent resume APP...|--all` (SPEC §12): a
//! paused app is observed and reported (`⏸️ paused`, drift in `git-status`) but never
//! changed. Kept under `$GITOPS_AGENT_HOME` (survives restarts); no network, no pass lock:
//! the app names come from the agent config, the deploy clones on disk and the records.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use argh::FromArgs;

use crate::config::{self, AgentConfig};
use crate::error::{Error, Kind, Result};
use crate::layout::Layout;
use crate::state::{self, paused};
use crate::{clock, infra_meta};

/// pause apps on this device: they are observed and reported (⏸️ paused) but never changed,
/// until `gitops-agent resume` (local, survives restarts, no network)
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "pause")]
pub struct Pause {
    /// every app of this device
    #[argh(switch)]
    pub all: bool,
    /// agent config file (default: the top-level --config, $GITOPS_AGENT_CONFIG, /etc/gitops-agent/config.toml)
    #[argh(option, arg_name = "PATH")]
    pub config: Option<PathBuf>,
    /// apps to pause
    #[argh(positional, arg_name = "APP")]
    pub apps: Vec<String>,
}

/// resume apps paused with `gitops-agent pause`: the next pass updates them again
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "resume")]
pub struct Resume {
    /// every paused app
    #[argh(switch)]
    pub all: bool,
    /// agent config file (default: the top-level --config, $GITOPS_AGENT_CONFIG, /etc/gitops-agent/config.toml)
    #[argh(option, arg_name = "PATH")]
    pub config: Option<PathBuf>,
    /// apps to resume
    #[argh(positional, arg_name = "APP")]
    pub apps: Vec<String>,
}

/// Run `pause` (`pausing`) or `resume`. Errors are `Kind::Config` (exit 2): an unknown app,
/// or no app.
pub fn run(
    pausing: bool,
    all: bool,
    named: &[String],
    config_path: &Path,
    layout: &Layout,
) -> Result<()> {
    let cfg = config::load(config_path)?;
    let state_dir = layout.state_dir();
    let verb = if pausing { "pause" } else { "resume" };
    let currently = paused::all(&state_dir);
    let apps: Vec<String> = match (all, named.is_empty()) {
        (true, true) if pausing => known_apps(&cfg, layout).into_iter().collect(),
        (true, true) => currently.clone(),
        (false, false) => {
            let mut known = known_apps(&cfg, layout);
            if !pausing {
                known.extend(currently.iter().cloned());
            }
            for app in named {
                if !known.contains(app) {
                    let list: Vec<&str> = known.iter().map(String::as_str).collect();
                    return Err(Error::new(
                        Kind::Config,
                        format!(
                            "unknown app `{}`; the apps of {} are: {}",
                            crate::text::clip(app),
                            config_path.display(),
                            list.join(", ")
                        ),
                    ));
                }
            }
            named.to_vec()
        }
        _ => {
            return Err(Error::new(
                Kind::Config,
                format!("name the apps to {verb}, or give --all (not both)"),
            ))
        }
    };
    let now = clock::stamp(clock::now());
    for app in &apps {
        if pausing {
            paused::pause(&state_dir, app, &now)?;
            log::info!("{app}: paused (observed and reported, never changed) until `gitops-agent resume {app}`");
        } else {
            paused::resume(&state_dir, app)?;
            log::info!("{app}: resumed; the next pass updates it when it needs it");
        }
    }
    if apps.is_empty() {
        log::info!("nothing to {verb}");
    }
    Ok(())
}

/// Every app this device knows without the network: `[applications]`, the sections of a
/// `"*"` group's deploy clone, and the apps with a record of an apply.
fn known_apps(cfg: &AgentConfig, layout: &Layout) -> BTreeSet<String> {
    let mut known: BTreeSet<String> = BTreeSet::new();
    for group in cfg.groups() {
        for app in &group.apps {
            if app != crate::config::ALL_SECTIONS {
                known.insert(app.clone());
                continue;
            }
            let file = layout
                .deploy_clone(&group.url, &group.branch)
                .join(&cfg.infra_name)
                .join("infra_meta.toml");
            let doc = std::fs::read(&file)
                .ok()
                .and_then(|b| infra_meta::parse_file(&file.display().to_string(), &b).ok());
            known.extend(
                doc.iter()
                    .flat_map(infra_meta::sections)
                    .filter(|s| config::check_name(s).is_ok()),
            );
        }
    }
    known.extend(state::names_in(&layout.applied_dir()));
    known
}
