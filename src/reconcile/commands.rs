//! The commands one visit of an app runs (pre, post, their rollback runs, remove): each a
//! hook (`hooks::run`: `sh -c` in the code folder, timeout, process group, bounded output),
//! collected in order for the report's `extra-command-output`.

use std::path::Path;
use std::time::Duration;

use super::Ctx;
use crate::hook_env::HookContext;
use crate::hooks;
use crate::report::Commands;

/// Exit codes and logs of the commands run so far, in order, and what every one of them is
/// told in its environment (`hook_env`).
#[derive(Debug)]
pub(super) struct Ran {
    codes: Vec<(&'static str, i32)>,
    logs: Vec<String>,
    hook: HookContext,
}

/// What the hooks of one visit of `app` are told (`GITOPS_*`, SPEC §10).
pub(super) fn hook_context(
    ctx: &Ctx,
    app: &str,
    commit: String,
    previous_commit: Option<String>,
    reason: impl Into<String>,
) -> HookContext {
    HookContext {
        infra: ctx.cfg.infra_name.clone(),
        app: app.to_string(),
        commit,
        previous_commit,
        reason: reason.into(),
    }
}

impl Ran {
    pub fn new(hook: HookContext) -> Ran {
        Ran {
            codes: Vec::new(),
            logs: Vec::new(),
            hook,
        }
    }

    /// Run `cmd` (labelled `label` in the report) in `dir`, when it is set and `dir` exists
    /// (hooks run in the code folder, SPEC §5). Returns its exit code when it ran.
    pub fn hook(
        &mut self,
        ctx: &Ctx,
        app: &str,
        label: &'static str,
        cmd: Option<&str>,
        dir: &Path,
        timeout: Duration,
    ) -> Option<i32> {
        let cmd = cmd.filter(|_| dir.is_dir())?;
        log::info!("[{app}] running {label} command: {cmd}");
        let outcome = hooks::run(cmd, dir, timeout, ctx.stop, &self.hook).unwrap_or_else(|e| {
            hooks::Outcome {
                code: 127,
                output: e.to_string(),
            }
        });
        if outcome.code != 0 {
            log::warn!("[{app}] {label} command exited {}", outcome.code);
        }
        self.codes.push((label, outcome.code));
        self.logs
            .push(format!("[{label}] $ {cmd}\n{}", outcome.output));
        Some(outcome.code)
    }

    /// Add these commands after those already in `commands` (a rollback's after the update's).
    pub fn append_to(self, commands: &mut Commands) {
        match commands {
            Commands::Ran { codes, logs } => {
                codes.extend(self.codes);
                for l in self.logs {
                    if !logs.is_empty() {
                        logs.push('\n');
                    }
                    logs.push_str(&l);
                }
            }
            Commands::NothingRan => *commands = self.commands(),
        }
    }

    pub fn commands(self) -> Commands {
        Commands::Ran {
            codes: self.codes,
            logs: self.logs.join("\n"),
        }
    }
}
