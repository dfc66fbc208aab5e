//! A real OpenSSH server for tests: `/usr/sbin/sshd` on 127.0.0.1 and a free port, run as
//! the current user (root or not) with a generated host key, key-only login for this user,
//! and a client key plus a known_hosts file for the agent. Also a black-holed "ssh" port
//! and a runner with a deadline, so a hanging agent fails the test instead of the suite.
//!
//! Needs the Debian packages `openssh-server` (sshd) and `openssh-client` (ssh, ssh-keygen).
//! Without `/usr/sbin/sshd`, [`Sshd::start`] prints why and returns `None`: tests skip.

#![allow(dead_code)] // not every test uses every helper

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::scenario::Run;
use crate::common::TempDir;

pub const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    pub dir: TempDir,
    pub port: u16,
    pub user: String,
    /// Private key whose public half is authorized.
    pub key: PathBuf,
    /// known_hosts naming this server's host key.
    pub known_hosts: PathBuf,
    log: PathBuf,
    child: Child,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `ssh-keygen -t ed25519 -N ''` into `path` (and `path.pub`).
pub fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "gitops-agent-test",
            "-f",
        ])
        .arg(path));
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// The folder of the `git` on our PATH, so the sshd session finds `git-upload-pack`.
fn git_dir_on_path() -> String {
    let out = run(Command::new("sh").args(["-c", "command -v git"]));
    Path::new(&out)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "/usr/bin".into())
}

impl Sshd {
    /// Start sshd, or `None` (with a printed reason) when it is not installed.
    pub fn start(test: &str) -> Option<Sshd> {
        if !Path::new(SSHD).exists() {
            eprintln!(
                "SKIP {test}: {SSHD} not found (apt-get install -y openssh-server openssh-client)"
            );
            return None;
        }
        let dir = TempDir::new("sshd");
        let user = run(Command::new("id").arg("-un"));
        let host_key = dir.join("host_key");
        keygen(&host_key);
        let key = dir.join("client_key");
        keygen(&key);
        let authorized = dir.join("authorized_keys");
        std::fs::copy(key.with_extension("pub"), &authorized).expect("authorized_keys");
        // sshd refuses to start as root without its privilege-separation folder.
        if run(Command::new("id").arg("-u")) == "0" {
            std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        }
        let port = free_port();
        let config = dir.join("sshd_config");
        let path = format!(
            "{}:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
            git_dir_on_path()
        );
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\nPort {port}\nHostKey {}\nPidFile none\nUsePAM no\nStrictModes no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nAuthorizedKeysFile {}\nAllowUsers {user}\n\
                 AcceptEnv GIT_PROTOCOL\nSetEnv PATH={path}\nLogLevel VERBOSE\n",
                host_key.display(),
                authorized.display()
            ),
        )
        .expect("write sshd_config");
        let log = dir.join("sshd.log");
        let log_file = std::fs::File::create(&log).expect("sshd log");
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn sshd");
        let host_pub = std::fs::read_to_string(host_key.with_extension("pub")).expect("host key");
        let mut fields = host_pub.split_whitespace();
        let (kind, blob) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        let known_hosts = dir.join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {kind} {blob}\n"))
            .expect("known_hosts");
        let mut sshd = Sshd {
            dir,
            port,
            user,
            key,
            known_hosts,
            log,
            child,
        };
        sshd.wait_ready();
        Some(sshd)
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sshd exited ({status}):\n{}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "sshd not listening on {} after 10s:\n{}",
            self.port,
            self.log()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `ssh://<user>@127.0.0.1:<port><abs path>`.
    pub fn url(&self, repo: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            repo.display()
        )
    }

    /// An ssh command that trusts only this server and logs in with `key`; `-F /dev/null`
    /// keeps the real user's ~/.ssh/config and /etc/ssh/ssh_config out of the test.
    pub fn command_with(&self, key: &Path, known_hosts: &Path) -> String {
        format!(
            "ssh -F /dev/null -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes",
            key.display(),
            known_hosts.display()
        )
    }

    pub fn command(&self) -> String {
        self.command_with(&self.key, &self.known_hosts)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port on 127.0.0.1 that accepts connections and never says a word (a dead ssh
/// server behind a live TCP stack). Connections are held until the listener is dropped.
pub struct BlackHole {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind black hole");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            // Bounded: at most two minutes, then the thread gives up on its own.
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                if let Ok((conn, _)) = listener.accept() {
                    held.push(conn);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        BlackHole { port, stop }
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Run `cmd` (stdin null) and kill it at `limit`: returns what it printed and how long it
/// took, with exit code -1 when it had to be killed.
pub fn run_with_deadline(mut cmd: Command, limit: Duration) -> (Run, Duration) {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn agent");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let code = loop {
        match child.try_wait().expect("wait agent") {
            Some(status) => break status.code().unwrap_or(-1),
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break -1;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let elapsed = start.elapsed();
    let out = out_thread.join().unwrap_or_default();
    let err = err_thread.join().unwrap_or_default();
    let run = Run {
        code,
        stderr: format!(
            "{}{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        ),
    };
    (run, elapsed)
}

/// Write an executable shell script.
pub fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod script");
}
