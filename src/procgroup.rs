//! Child processes in a process group of their own: spawned as the group's leader, waited
//! on with a deadline, and ended together with everything they started (a hook's background
//! jobs, the `ssh` a shell wrapper runs). Used by `hooks`, the process transport and the ssh
//! probe, so a timeout always ends the whole tree, never just the shell at its top.
//!
//! The group is signalled before its leader is reaped: until then the leader is at least a
//! zombie, its pid (the group id) stays taken, and `kill(-pgid)` cannot reach a process
//! that merely inherited a recycled id.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Longest pause between two looks at the leader; the first ones are shorter, so a helper
/// that exits at once costs about a millisecond, not a whole poll.
const MAX_POLL: Duration = Duration::from_millis(20);

/// Why [`Group::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The leader exited by itself before the deadline.
    Exited,
    /// The deadline passed; the group was signalled.
    TimedOut,
    /// The stop flag was set; the group was signalled.
    Stopped,
}

/// A spawned process group. Dropping it kills the group and reaps the leader.
#[derive(Debug)]
pub struct Group {
    child: Child,
    pgid: libc::pid_t,
    reaped: bool,
}

impl Group {
    /// Start `cmd` as the leader of a new process group.
    pub fn spawn(cmd: &mut Command) -> io::Result<Group> {
        let child = cmd.process_group(0).spawn()?;
        let Ok(pgid) = libc::pid_t::try_from(child.id()) else {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("child pid out of range"));
        };
        Ok(Group {
            child,
            pgid,
            reaped: false,
        })
    }

    /// The leader, e.g. to take its pipes.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Whether the leader has exited. It is not reaped (see the module doc); an error asking
    /// counts as exited, so no caller waits forever on a child it cannot see.
    pub fn has_exited(&self) -> bool {
        // SAFETY: an all-zero siginfo_t is a valid value; waitid only writes into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child with a valid siginfo pointer; WNOWAIT leaves it
        // waitable, so `finish` still reaps it.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pgid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid is valid to read after waitid filled (or left zeroed) the struct.
        rc != 0 || unsafe { info.si_pid() } != 0
    }

    /// Send `sig` to every process of the group.
    pub fn signal(&self, sig: libc::c_int) {
        if !self.reaped {
            // SAFETY: kill(2) with a negative pid signals a process group; no memory is
            // touched. The leader is not reaped yet, so the group id is still ours.
            unsafe {
                libc::kill(-self.pgid, sig);
            }
        }
    }

    /// Wait until the leader exits. At `deadline`, or as soon as `stop` is set, the group
    /// gets SIGTERM and, `grace` later, SIGKILL (at once when `grace` is zero); then the
    /// wait goes on until the leader is gone. `tick` runs on every look (hooks feed
    /// systemd's watchdog from it).
    pub fn wait(
        &mut self,
        deadline: Instant,
        stop: Option<&AtomicBool>,
        grace: Duration,
        tick: &mut dyn FnMut(),
    ) -> Ending {
        let mut ending = Ending::Exited;
        let mut term_sent: Option<Instant> = None;
        let mut killed = false;
        let mut pause = Duration::from_millis(1);
        while !self.has_exited() {
            if term_sent.is_none() {
                let stopped = stop.is_some_and(|s| s.load(Ordering::Relaxed));
                if stopped || Instant::now() >= deadline {
                    ending = if stopped {
                        Ending::Stopped
                    } else {
                        Ending::TimedOut
                    };
                    if !grace.is_zero() {
                        self.signal(libc::SIGTERM);
                    }
                    term_sent = Some(Instant::now());
                }
            }
            if let (Some(at), false) = (term_sent, killed) {
                if at.elapsed() >= grace {
                    self.signal(libc::SIGKILL);
                    killed = true;
                }
            }
            tick();
            std::thread::sleep(pause);
            pause = (pause * 2).min(MAX_POLL);
        }
        ending
    }

    /// Kill what is left of the group (anything the leader started and left behind), then
    /// reap the leader. `None` when its status could not be read.
    pub fn finish(mut self) -> Option<ExitStatus> {
        self.end()
    }

    fn end(&mut self) -> Option<ExitStatus> {
        if self.reaped {
            return None;
        }
        self.signal(libc::SIGKILL);
        self.reaped = true;
        self.child.wait().ok()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.end();
    }
}

/// Whether process `pid` is gone (dead, or a zombie nobody reaps: in a container pid 1 may
/// never reap) within `bound`; for tests that check a tree was ended.
#[cfg(test)]
pub(crate) fn gone_within(pid: i32, bound: Duration) -> bool {
    let t0 = Instant::now();
    loop {
        // SAFETY: kill with signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        });
        if !alive || zombie {
            return true;
        }
        if t0.elapsed() >= bound {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    fn sh(script: &str) -> Group {
        Group::spawn(
            Command::new("sh")
                .args(["-c", script])
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
        )
        .unwrap()
    }

    fn read_pid(path: &std::path::Path) -> i32 {
        let t0 = Instant::now();
        loop {
            if let Some(pid) = std::fs::read_to_string(path)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return pid;
            }
            assert!(t0.elapsed() < Duration::from_secs(5), "no pid written");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_leader_that_exits_in_time_is_exited_with_its_status() {
        let mut g = sh("exit 3");
        let ending = g.wait(
            Instant::now() + Duration::from_secs(10),
            None,
            Duration::ZERO,
            &mut || {},
        );
        assert_eq!(ending, Ending::Exited);
        assert_eq!(g.finish().and_then(|s| s.code()), Some(3));
    }

    #[test]
    fn the_deadline_ends_the_whole_group_not_just_the_leader() {
        let file = std::env::temp_dir().join(format!("gitops-agent-pg-{}", std::process::id()));
        let mut g = sh(&format!("sleep 1000 & echo $! > {}; wait", file.display()));
        let bg = read_pid(&file);
        let t0 = Instant::now();
        let ending = g.wait(
            Instant::now() + Duration::from_millis(200),
            None,
            Duration::from_millis(100),
            &mut || {},
        );
        assert_eq!(ending, Ending::TimedOut);
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
        g.finish();
        let _ = std::fs::remove_file(&file);
        assert!(
            gone_within(bg, Duration::from_secs(1)),
            "the background child {bg} survived"
        );
    }

    #[test]
    fn the_stop_flag_ends_the_group() {
        let mut g = sh("sleep 1000");
        let stop = AtomicBool::new(true);
        let ending = g.wait(
            Instant::now() + Duration::from_secs(100),
            Some(&stop),
            Duration::from_secs(5),
            &mut || {},
        );
        assert_eq!(ending, Ending::Stopped);
        // SIGTERM was enough: the shell's sleep died of it.
        let status = g.finish().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }

    #[test]
    fn leftovers_of_a_finished_leader_are_killed_with_the_group() {
        let file = std::env::temp_dir().join(format!("gitops-agent-pg2-{}", std::process::id()));
        let mut g = sh(&format!("sleep 1000 & echo $! > {}", file.display()));
        let bg = read_pid(&file);
        let ending = g.wait(
            Instant::now() + Duration::from_secs(10),
            None,
            Duration::ZERO,
            &mut || {},
        );
        assert_eq!(ending, Ending::Exited);
        assert!(!gone_within(bg, Duration::ZERO));
        g.finish();
        let _ = std::fs::remove_file(&file);
        assert!(gone_within(bg, Duration::from_secs(1)));
    }

    #[test]
    fn dropping_a_group_kills_it() {
        let g = sh("sleep 1000");
        let pid = g.child.id() as i32;
        drop(g);
        assert!(gone_within(pid, Duration::from_secs(1)));
    }
}
