//! A fleet on one deploy repo for tests/fleet.rs: one `git daemon` on 127.0.0.1 serving the
//! deploy repo and one code repo, and N simulated devices, each with its own
//! `GITOPS_AGENT_HOME`, config and `infra_name`, run as the real binary at the same moment.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::scenario::{CodeRepo, Run, Scenario};
use crate::common::{git, rev_parse};

pub struct Device {
    pub name: String,
    pub home: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
}

pub struct Fleet {
    pub s: Scenario,
    pub code: CodeRepo,
    pub devices: Vec<Device>,
}

/// A running agent whose log goes to a file.
pub struct Running {
    pub child: Child,
    pub log: PathBuf,
}

impl Running {
    /// Wait for the exit (at most `limit`) and read the log.
    pub fn finish(mut self, limit: Duration) -> Run {
        let t0 = Instant::now();
        let code = loop {
            if let Some(status) = self.child.try_wait().expect("wait for agent") {
                break status.code().unwrap_or(-1);
            }
            if t0.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "agent still running after {limit:?}; log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            code,
            stderr: std::fs::read_to_string(&self.log).unwrap_or_default(),
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Fleet {
    /// `n` devices `dev-00`.. sharing one deploy repo (branch `main`) served by git daemon.
    pub fn new(n: usize) -> Fleet {
        let s = Scenario::with_daemon();
        let (code, _) = s.code_repo("web", &[("app.txt", "v0\n")]);
        let devices = (0..n)
            .map(|i| {
                let name = format!("dev-{i:02}");
                let dir = s.path().join("devices").join(&name);
                std::fs::create_dir_all(&dir).unwrap();
                Device {
                    home: dir.join("home"),
                    config: dir.join("config.toml"),
                    log: dir.join("agent.log"),
                    name,
                }
            })
            .collect();
        Fleet { s, code, devices }
    }

    /// Commit `content` as the code repo's app.txt; returns the commit.
    pub fn code_commit(&self, content: &str) -> String {
        let c = crate::common::commit_file(&self.code.work, "app.txt", content, content.trim());
        git(&self.code.work, &["push", "--quiet", "origin", "HEAD:main"]);
        c
    }

    /// Pin every device's app `web` to `commit` (one deploy push).
    pub fn pin_all(&self, commit: &str) {
        let files: Vec<(String, String)> = self
            .devices
            .iter()
            .map(|d| {
                let path = self.s.path().join("srv").join(&d.name).join("web");
                (
                    format!("{}/infra_meta.toml", d.name),
                    format!(
                        "[web]\ncode_url = \"{}\"\ncode_commit_hash = \"{commit}\"\ncode_local_path = \"{}\"\n",
                        self.code.url,
                        path.display()
                    ),
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(f, c)| (f.as_str(), c.as_str()))
            .collect();
        self.s.deploy(&refs);
    }

    /// Write every device's agent config; `extra` lines go before `[applications]`.
    pub fn configure(&self, extra: &str) {
        for d in &self.devices {
            std::fs::write(
                &d.config,
                format!(
                    "infra_name = \"{}\"\ninterval = 300\n{extra}\n[applications]\nweb = \"{}@main\"\n",
                    d.name, self.s.deploy_url
                ),
            )
            .unwrap();
        }
    }

    /// The agent command of device `d`.
    pub fn agent(&self, d: &Device) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitops-agent"));
        cmd.arg("--config")
            .arg(&d.config)
            .env("GITOPS_AGENT_HOME", &d.home)
            .env_remove("GITOPS_AGENT_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null());
        cmd
    }

    /// Start `gitops-agent --once` on every device at once.
    pub fn start_all(&self, args: &[&str]) -> Vec<Running> {
        self.devices
            .iter()
            .map(|d| {
                let child = self
                    .agent(d)
                    .arg("--once")
                    .args(args)
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(&d.log).unwrap())
                    .spawn()
                    .expect("spawn gitops-agent");
                Running {
                    child,
                    log: d.log.clone(),
                }
            })
            .collect()
    }

    /// Run `--once` on every device at the same moment; their exits and logs.
    pub fn run_all(&self, args: &[&str]) -> Vec<Run> {
        self.start_all(args)
            .into_iter()
            .map(|r| r.finish(Duration::from_secs(300)))
            .collect()
    }

    pub fn bare(&self) -> &Path {
        &self.s.deploy_bare
    }

    pub fn head(&self) -> Option<String> {
        rev_parse(self.bare(), "refs/heads/main-monitoring")
    }

    /// A file of the monitoring branch on the server.
    pub fn show(&self, file: &str) -> String {
        git(self.bare(), &["show", &format!("main-monitoring:{file}")])
    }
}

/// The device column of the dashboard's table rows, in order.
pub fn readme_devices(readme: &str) -> Vec<String> {
    readme
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| device "))
        .map(|l| {
            l.trim_start_matches("| ")
                .split(" | ")
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// The dashboard row of `device`.
pub fn readme_row<'a>(readme: &'a str, device: &str) -> &'a str {
    readme
        .lines()
        .find(|l| l.starts_with(&format!("| {device} | ")))
        .unwrap_or_else(|| panic!("no row for {device} in:\n{readme}"))
}
