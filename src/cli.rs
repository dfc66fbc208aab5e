//! The subcommands beside the flags of `gitops-agent` (SPEC §1, §12, §13): one variant per
//! subcommand, each defined and run by the module that owns it; this module only dispatches.

use std::path::Path;

use argh::FromArgs;

use crate::error::Result;
use crate::layout::Layout;
use crate::pause::{self, Pause, Resume};

/// The subcommands beside the flags of `gitops-agent`.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum Command {
    Pause(Pause),
    Resume(Resume),
    Status(crate::status::Status),
}

impl Command {
    /// The `--config` given after the subcommand, if any (it wins over the top-level one).
    pub fn config(&self) -> Option<&Path> {
        match self {
            Command::Pause(p) => p.config.as_deref(),
            Command::Resume(r) => r.config.as_deref(),
            Command::Status(s) => s.config.as_deref(),
        }
    }

    /// Run the subcommand. `Ok(true)`: all is well (exit 0); `Ok(false)`: something needs
    /// attention (exit 1). Errors become exit codes in `main`.
    pub fn run(&self, config_path: &Path, layout: &Layout) -> Result<bool> {
        match self {
            Command::Pause(p) => {
                pause::run(true, p.all, &p.apps, config_path, layout).map(|()| true)
            }
            Command::Resume(r) => {
                pause::run(false, r.all, &r.apps, config_path, layout).map(|()| true)
            }
            Command::Status(s) => crate::status::run(s, config_path, layout),
        }
    }
}
