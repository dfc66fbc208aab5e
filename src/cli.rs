//! The subcommands beside the flags of `gitops-agent` (SPEC §1, §12, §13): one variant per
//! subcommand, each defined and run by the module that owns it; this module only dispatches.

use std::path::Path;

use argh::FromArgs;

use crate::error::Result;
use crate::layout::Layout;
use crate::pause::{self, Pause, Resume};
use crate::preview::{self, Plan};
use crate::validate::{self, Validate};

/// The subcommands beside the flags of `gitops-agent`.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum Command {
    Pause(Pause),
    Resume(Resume),
    Status(crate::status::Status),
    Validate(Validate),
    Plan(Plan),
}

impl Command {
    /// Whether the subcommand works in `$GITOPS_AGENT_HOME` (made ready before it runs);
    /// `validate` runs in CI, where there is none.
    pub fn needs_home(&self) -> bool {
        !matches!(self, Command::Validate(_))
    }

    /// The `--config` given after the subcommand, if any (it wins over the top-level one).
    pub fn config(&self) -> Option<&Path> {
        match self {
            Command::Pause(p) => p.config.as_deref(),
            Command::Resume(r) => r.config.as_deref(),
            Command::Status(s) => s.config.as_deref(),
            Command::Validate(_) => None,
            Command::Plan(p) => p.config.as_deref(),
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
            Command::Validate(v) => validate::run(v, &layout.home),
            Command::Plan(_) => preview::run(config_path, layout),
        }
    }
}
