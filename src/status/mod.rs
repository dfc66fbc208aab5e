//! `gitops-agent status [--json]` (SPEC §13): the last pass as the device saw it, per app
//! status, commit, last change, paused/deferred and last error, read from
//! `$GITOPS_AGENT_HOME` alone: no network, no pass lock (the record is replaced atomically).
//! The record itself (`record`), its rendering (`render`, `json`) and its file
//! (`state::last_pass`) live beside this shell.

pub mod record;
pub mod render;

use std::io::Write;
use std::path::{Path, PathBuf};

use argh::FromArgs;

use crate::error::Result;
use crate::layout::Layout;
use crate::state::last_pass::{self, Read};

/// show the last pass as this device saw it: per app status, commit, last change,
/// paused/deferred, last error (local, no network); exit 0 all healthy, 1 otherwise or
/// before the first pass
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "status")]
pub struct Status {
    /// print one JSON object instead of text
    #[argh(switch)]
    pub json: bool,
    /// agent config file (default: the top-level --config, $GITOPS_AGENT_CONFIG, /etc/gitops-agent/config.toml)
    #[argh(option, arg_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Print the record. `Ok(true)` when every app of the last pass was healthy and every report
/// published; `Ok(false)` otherwise, and before any pass (a message on stderr says so).
pub fn run(args: &Status, config_path: &Path, layout: &Layout) -> Result<bool> {
    let record = match last_pass::read(&layout.state_dir()) {
        Read::Record(r) => r,
        Read::Missing => {
            eprintln!(
                "no pass recorded yet in {}: run `gitops-agent --once` or start the service, then ask again",
                layout.home.display()
            );
            return Ok(false);
        }
        Read::Unreadable(why) => {
            eprintln!("the last pass's record cannot be read ({why})");
            return Ok(false);
        }
    };
    // The config only adds "configured since the last pass"; status works without it.
    let configured: Vec<String> = match crate::config::load(config_path) {
        Ok(cfg) => cfg.apps.into_iter().map(|a| a.name).collect(),
        Err(e) => {
            log::warn!("{e}; showing the record without it");
            Vec::new()
        }
    };
    let view = render::View {
        record: &record,
        now: crate::clock::now(),
        not_in_record: record::not_in_record(&record, &configured),
    };
    let out = if args.json {
        render::json(&view)
    } else {
        render::text(&view)
    };
    // A closed pipe (`status | head -1`) is not worth a panic.
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(record.healthy())
}
