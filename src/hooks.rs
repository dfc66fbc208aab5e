//! Running an app's pre/post commands (SPEC §5, §8): `sh -c` in the code folder, stdout and
//! stderr merged, echoed to the log, kept ANSI-free and bounded, killed with its whole
//! process group (`procgroup`) on timeout or shutdown.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Context, Result};
use crate::hook_env::{hook_env, HookContext};
use crate::procgroup::{Ending, Group};

/// Captured output is cut to its last this many bytes.
pub const OUTPUT_LIMIT: usize = 64 * 1024;
/// After SIGTERM a hook gets this long before SIGKILL (shorter than the 10 s stop promise).
const GRACE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(20);

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Exit code; a signal death is `-signal` (as Python's subprocess reports it).
    pub code: i32,
    /// Merged stdout+stderr, ANSI escapes removed, at most the last `OUTPUT_LIMIT` bytes.
    pub output: String,
}

/// Run `command` with `sh -c` in `cwd`, with the environment `hook_env` documents for
/// `hook`. Ends it (and its process group) after `timeout`, or when `stop` becomes true.
/// Only a failure to start is an `Err`.
pub fn run(
    command: &str,
    cwd: &Path,
    timeout: Duration,
    stop: &AtomicBool,
    hook: &HookContext,
) -> Result<Outcome> {
    let (reader, writer) = std::io::pipe().context("create a pipe for the command's output")?;
    let writer2 = writer.try_clone().context("duplicate the output pipe")?;
    // Its own process group, so the whole tree it starts can be signalled at once.
    let mut group = Group::spawn(
        Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(cwd)
            .env_clear()
            .envs(hook_env(std::env::vars_os(), hook))
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(writer2),
    )
    .with_context(|| format!("start `sh -c` in {}", cwd.display()))?;

    let captured = Arc::new(Mutex::new(Tail::default()));
    let sink = Arc::clone(&captured);
    let pump = std::thread::spawn(move || pump_output(reader, &sink));

    let ending = group.wait(
        Instant::now() + timeout,
        Some(stop),
        GRACE,
        &mut crate::sdnotify::watchdog_tick,
    );
    // Whatever the hook left running in its group ends with it (services belong under
    // systemd or setsid, SPEC §8).
    let status = group.finish();
    // A process that left the group may still hold the pipe: wait a little, then go on with
    // what was captured (the pump thread ends when that process does).
    let deadline = Instant::now() + Duration::from_secs(2);
    while !pump.is_finished() && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
    let code = status.map_or(-libc::SIGKILL, |s| {
        use std::os::unix::process::ExitStatusExt;
        s.code()
            .or_else(|| s.signal().map(|sig| -sig))
            .unwrap_or(-1)
    });
    let mut output = captured.lock().map(|mut t| t.text()).unwrap_or_default();
    let note = match ending {
        Ending::Exited => None,
        Ending::Stopped => Some("stopped: the agent is shutting down".to_string()),
        Ending::TimedOut => Some(format!(
            "killed after command_timeout of {} s",
            timeout.as_secs()
        )),
    };
    if let Some(note) = note {
        output.push_str(&format!("\n[gitops-agent: {note}]\n"));
    }
    Ok(Outcome { code, output })
}

/// Keeps the last `OUTPUT_LIMIT` bytes of a stream and whether anything was cut.
#[derive(Default)]
struct Tail {
    buf: Vec<u8>,
    cut: bool,
}

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > OUTPUT_LIMIT * 2 {
            self.trim();
        }
    }
    fn trim(&mut self) {
        if self.buf.len() > OUTPUT_LIMIT {
            let excess = self.buf.len() - OUTPUT_LIMIT;
            self.buf.drain(..excess);
            self.cut = true;
        }
    }
    fn text(&mut self) -> String {
        self.trim();
        let text = strip_ansi(&String::from_utf8_lossy(&self.buf));
        if self.cut {
            format!(
                "[gitops-agent: output cut, only the last {} KiB kept]\n{text}",
                OUTPUT_LIMIT / 1024
            )
        } else {
            text
        }
    }
}

fn pump_output(mut reader: std::io::PipeReader, sink: &Mutex<Tail>) {
    let mut chunk = [0u8; 8192];
    let mut line = Vec::new();
    loop {
        match reader.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Ok(mut t) = sink.lock() {
                    t.push(&chunk[..n]);
                }
                // Echo whole lines to the log, bounded so a line-less flood cannot grow memory.
                for &b in &chunk[..n] {
                    if b == b'\n' || line.len() >= 4096 {
                        log::info!("\t{}", strip_ansi(&String::from_utf8_lossy(&line)));
                        line.clear();
                    } else {
                        line.push(b);
                    }
                }
            }
        }
    }
    if !line.is_empty() {
        log::info!("\t{}", strip_ansi(&String::from_utf8_lossy(&line)));
    }
}

/// Remove ANSI escape sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL|ESC \`, and
/// two-byte `ESC x`) and carriage returns before line feeds.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            if c == '\r' && chars.peek() == Some(&'\n') {
                continue;
            }
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            // Charset designations (`ESC ( B`) carry one more byte.
            Some('(' | ')' | '*' | '+') => {
                chars.next();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_sh(cmd: &str, timeout: Duration) -> Outcome {
        run(
            cmd,
            Path::new("/tmp"),
            timeout,
            &AtomicBool::new(false),
            &HookContext::default(),
        )
        .unwrap()
    }

    #[test]
    fn strips_ansi() {
        assert_eq!(strip_ansi("\u{1b}[1;31mred\u{1b}[0m ok\r\n"), "red ok\n");
        assert_eq!(strip_ansi("\u{1b}]0;title\u{7}x"), "x");
        assert_eq!(strip_ansi("a\u{1b}(Bb"), "ab");
    }

    #[test]
    fn merges_output_and_reports_exit_code() {
        let o = run_sh(
            "echo out; echo err >&2; printf '\\033[32mgreen\\033[0m'; exit 3",
            Duration::from_secs(10),
        );
        assert_eq!(o.code, 3);
        assert!(
            o.output.contains("out\n") && o.output.contains("err\n"),
            "{}",
            o.output
        );
        assert!(
            o.output.contains("green") && !o.output.contains('\u{1b}'),
            "{:?}",
            o.output
        );
    }

    #[test]
    fn runs_in_cwd() {
        let o = run(
            "pwd",
            Path::new("/"),
            Duration::from_secs(10),
            &AtomicBool::new(false),
            &HookContext::default(),
        )
        .unwrap();
        assert_eq!(o.output.trim(), "/");
    }

    #[test]
    fn output_is_bounded() {
        let o = run_sh(
            "head -c 300000 /dev/zero | tr '\\0' x; echo; echo END",
            Duration::from_secs(20),
        );
        assert_eq!(o.code, 0);
        assert!(o.output.len() < OUTPUT_LIMIT + 200, "{}", o.output.len());
        assert!(o.output.starts_with("[gitops-agent: output cut"));
        assert!(o.output.trim_end().ends_with("END"));
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let marker = std::env::temp_dir().join(format!("gitops-agent-hook-{}", std::process::id()));
        let cmd = format!("(sleep 3; touch {}) & sleep 60", marker.display());
        let t0 = Instant::now();
        let o = run_sh(&cmd, Duration::from_millis(300));
        assert!(t0.elapsed() < Duration::from_secs(8));
        assert_ne!(o.code, 0);
        assert!(o.output.contains("killed after command_timeout"));
        std::thread::sleep(Duration::from_secs(4));
        assert!(!marker.exists(), "a process of the hook's group survived");
    }
}
