//! Entry point: parse flags, set up logging, dispatch to one mode; the exit code is decided
//! here and only here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use argh::FromArgs;

use gitops_agent::config::{self, AgentConfig};
use gitops_agent::error::{Context, Error, Kind, Result};
use gitops_agent::layout::Layout;
use gitops_agent::lock;
use gitops_agent::{cli, daemon, jitter, pass};

/// GitOps for machines without Kubernetes: keeps each app of this device at the commit its
/// deploy repo pins, copies its config files, runs its hooks, corrects drift, and pushes a
/// health report to the `<branch>-monitoring` branch of the deploy repo.
#[derive(FromArgs)]
#[argh(
    note = "Environment:\n  GITOPS_AGENT_CONFIG     agent config used when --config is not given (default /etc/gitops-agent/config.toml)\n  GITOPS_AGENT_HOME       state root; clones live in $GITOPS_AGENT_HOME/app-configs (default /opt/gitops-agent)\n  GITOPS_AGENT_LOCK_WAIT  seconds to wait for another agent's pass lock (default 120)\n  GIT_SSH_COMMAND         ssh command for ssh remotes, as git uses it (also GIT_SSH, GIT_SSH_VARIANT); ssh_command in the config wins\n  GITOPS_AGENT_LOG        log level: error, warn, info (default), debug, trace\n\nWithout --once the agent runs forever: a pass at start, then one every `interval` seconds.\nSignals: TERM/INT stop (after the current app), HUP reloads the config, USR1 starts a pass now.",
    error_code(
        0,
        "--once: every app of this pass is healthy (also: daemon stopped by SIGTERM/SIGINT)"
    ),
    error_code(
        1,
        "--once: an app of this pass needs attention, or a report could not be pushed"
    ),
    error_code(
        2,
        "the agent config cannot be used (unreadable, bad TOML, bad or missing key)"
    ),
    error_code(
        3,
        "another gitops-agent held the lock in $GITOPS_AGENT_HOME past the wait bound"
    )
)]
struct Args {
    /// agent config file (default: $GITOPS_AGENT_CONFIG, else /etc/gitops-agent/config.toml)
    #[argh(option, arg_name = "PATH")]
    config: Option<PathBuf>,
    /// run one pass and exit (for cloud-init, initramfs and cron); see exit codes below
    #[argh(switch)]
    once: bool,
    /// push a status commit this pass even when nothing changed
    #[argh(switch)]
    force_report: bool,
    /// with --once: wait a random time up to SECONDS before the pass (cron fleets; SIGTERM ends the wait)
    #[argh(option, arg_name = "SECONDS")]
    splay: Option<u64>,
    /// open the config in $EDITOR (else /usr/bin/nano, else vi) and exit
    #[argh(switch)]
    configure: bool,
    /// print the version and exit
    #[argh(switch)]
    version: bool,
    #[argh(subcommand)]
    command: Option<cli::Command>,
}

const EXIT_UNHEALTHY: u8 = 1;
const EXIT_CONFIG: u8 = 2;
const EXIT_LOCKED: u8 = 3;

/// What a mode ended with, before it becomes a process exit code.
enum Outcome {
    /// Done; everything healthy (or the daemon stopped on request).
    Healthy,
    /// Done; an app of this pass needs attention (or the editor failed).
    Unhealthy,
}

/// The one place where outcomes and errors become exit codes (SPEC §1).
fn exit_code(result: &Result<Outcome>) -> u8 {
    match result {
        Ok(Outcome::Healthy) => 0,
        Ok(Outcome::Unhealthy) => EXIT_UNHEALTHY,
        Err(e) => match e.kind() {
            Kind::Config => EXIT_CONFIG,
            Kind::Locked => EXIT_LOCKED,
            // Anything else (signal setup, lock file I/O, the editor not starting) is not
            // the config's fault: "needs attention".
            _ => EXIT_UNHEALTHY,
        },
    }
}

/// The static builds' allocator: musl's returns memory to the kernel on every free (see
/// Cargo.toml for the measured difference).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(code) => return code,
    };
    if args.version {
        println!("gitops-agent {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    init_logging();
    let result = try_main(args);
    if let Err(e) = &result {
        log::error!("{e}");
    }
    ExitCode::from(exit_code(&result))
}

/// Like `argh::from_env`, but a usage error exits 2 (1 means "an app needs attention").
fn parse_args() -> Result<Args, ExitCode> {
    let strings: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cmd = strings
        .first()
        .map_or("gitops-agent", |s| s.rsplit('/').next().unwrap_or(s));
    let rest: Vec<&str> = strings.iter().skip(1).map(String::as_str).collect();
    Args::from_args(&[cmd], &rest).map_err(|early| match early.status {
        Ok(()) => {
            println!("{}", early.output);
            ExitCode::SUCCESS
        }
        Err(()) => {
            eprintln!(
                "{}\nRun gitops-agent --help for more information.",
                early.output
            );
            ExitCode::from(EXIT_CONFIG)
        }
    })
}

fn init_logging() {
    let level = std::env::var("GITOPS_AGENT_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(log::LevelFilter::Info);
    let logger = simple_logger::SimpleLogger::new().with_level(level);
    // journald stamps each line itself: no doubled timestamps under systemd.
    let logger = if std::env::var_os("JOURNAL_STREAM").is_some() {
        logger.without_timestamps()
    } else {
        logger.with_local_timestamps()
    };
    let _ = logger.init();
}

fn try_main(args: Args) -> Result<Outcome> {
    let config_path = args
        .command
        .as_ref()
        .and_then(|c| c.config().map(PathBuf::from))
        .or(args.config)
        .or_else(|| {
            std::env::var_os("GITOPS_AGENT_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    if args.configure {
        return configure(&config_path);
    }
    let layout = Layout::from_env();
    if args.command.as_ref().is_none_or(cli::Command::needs_home) {
        layout.prepare_home()?;
    }
    if let Some(cmd) = &args.command {
        return cmd.run(&config_path, &layout).map(|healthy| {
            if healthy {
                Outcome::Healthy
            } else {
                Outcome::Unhealthy
            }
        });
    }
    let lock_wait = std::env::var("GITOPS_AGENT_LOCK_WAIT")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(lock::DEFAULT_WAIT, Duration::from_secs);
    if args.once {
        let splay = Duration::from_secs(args.splay.unwrap_or(0));
        run_once(&config_path, &layout, args.force_report, lock_wait, splay)
    } else if args.splay.is_some() {
        Err(Error::new(
            Kind::Config,
            "--splay is for --once; the daemon reads `splay` from the agent config",
        ))
    } else {
        daemon::run(&config_path, &layout, args.force_report, lock_wait).map(|()| Outcome::Healthy)
    }
}

/// One pass for cloud-init, initramfs and cron: exit 0 healthy, 1 attention, 2 config, 3 lock.
fn run_once(
    config_path: &std::path::Path,
    layout: &Layout,
    force_report: bool,
    lock_wait: Duration,
    splay: Duration,
) -> Result<Outcome> {
    let cfg: AgentConfig = config::load(config_path)?;
    for w in &cfg.warnings {
        log::warn!("{w}");
    }
    // SIGTERM/SIGINT end the pass after the current app (and end a running hook), as in
    // the daemon: a shutdown during cloud-init or cron never cuts a clone or a file in half.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("install signal handlers")?;
    }
    // Before the lock: a device waiting out its splay holds nothing.
    if !splay_unless_stopped(splay, &stop) {
        log::info!("stopped during --splay; no pass was run");
        return Ok(Outcome::Healthy);
    }
    let _lock = lock::acquire(&layout.lock_file(), lock_wait, &stop)?;
    let summary = pass::run(&cfg, layout, force_report, &stop, None);
    log::info!("pass done: {}", summary.line());
    Ok(if summary.healthy() {
        Outcome::Healthy
    } else {
        Outcome::Unhealthy
    })
}

/// Sleep a random time in [0, `splay`]; false when SIGTERM/SIGINT ended the wait.
fn splay_unless_stopped(splay: Duration, stop: &AtomicBool) -> bool {
    let delay = jitter::splay_delay(splay, jitter::Rng::seeded().next_u64());
    if delay.is_zero() {
        return true;
    }
    log::info!("--splay: starting the pass in {:.1} s", delay.as_secs_f64());
    let until = std::time::Instant::now() + delay;
    while !stop.load(Ordering::SeqCst) {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
    false
}

/// `--configure`: edit the config with the operator's editor.
fn configure(path: &std::path::Path) -> Result<Outcome> {
    let editor = std::env::var("EDITOR")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| {
            if std::path::Path::new("/usr/bin/nano").exists() {
                "/usr/bin/nano".into()
            } else {
                "vi".into()
            }
        });
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .with_context(|| format!("start editor `{editor}`"))?;
    if status.success() {
        Ok(Outcome::Healthy)
    } else {
        Err(Error::msg(format!(
            "editor `{editor}` exited with {status}"
        )))
    }
}
