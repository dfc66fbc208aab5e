//! A fleet on one deploy repo for tests/fleet.rs: one `git daemon` on 127.0.0.1 serving the
//! deploy repo and one code repo, and N simulated devices, each with its own
//! `GITOPS_AGENT_HOME`, config and `infra_name`, run as the real binary at the same moment.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::scenario::{CodeRepo, Run, Scenario};
use crate::common::{file_url, git, rev_parse};

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

/// Local time `hours_ago` as the agent stamps it.
pub fn stamp_hours_ago(hours_ago: i64) -> String {
    let now = gitops_agent::clock::now();
    gitops_agent::clock::stamp(gix_time(now.seconds - hours_ago * 3600, now.offset))
}

pub fn gix_time(seconds: i64, offset: i32) -> gix::date::Time {
    gix::date::Time::new(seconds, offset)
}

/// The branch must be one linear chain from a single root.
pub fn assert_linear(bare: &Path) {
    let merges = git(bare, &["rev-list", "--min-parents=2", "main-monitoring"]);
    assert_eq!(merges, "", "no merge commits");
    let roots = git(bare, &["rev-list", "--max-parents=0", "main-monitoring"]);
    assert_eq!(roots.lines().count(), 1, "one root: {roots}");
}

/// Put `files` on the server's monitoring branch as another party would (a plain git push).
pub fn push_to_branch(s: &Scenario, edit: impl FnOnce(&Path)) {
    let tmp = crate::common::TempDir::new("branch-work");
    let work = tmp.path();
    let exists = s.monitoring_head().is_some();
    if exists {
        git(
            s.path(),
            &[
                "clone",
                "--quiet",
                "--branch",
                "main-monitoring",
                &file_url(&s.deploy_bare),
                work.to_str().unwrap(),
            ],
        );
    } else {
        crate::common::work_repo(work);
    }
    edit(work);
    git(work, &["add", "--all"]);
    git(work, &["commit", "--quiet", "-m", "another party"]);
    git(
        work,
        &[
            "push",
            "--quiet",
            &file_url(&s.deploy_bare),
            "HEAD:refs/heads/main-monitoring",
        ],
    );
}

pub fn install_hook(s: &Scenario, name: &str, script: &str) {
    let hook = s.deploy_bare.join("hooks").join(name);
    fs::create_dir_all(hook.parent().unwrap()).unwrap();
    fs::write(&hook, format!("#!/bin/sh\n{script}")).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    fs::set_permissions(&hook, mode).unwrap();
}

/// Shell for a hook: count its runs in `counter`, `$n` is this run's number.
pub fn counting(counter: &Path) -> String {
    format!(
        "c='{}'\nn=$(( $(cat \"$c\" 2>/dev/null || echo 0) + 1 ))\necho $n > \"$c\"\n",
        counter.display()
    )
}

/// Shell for a hook: land another device's commit (edge-99.toml) on the branch first, as a
/// device pushing at the same instant would (outside the push's quarantine).
pub const LAND_OTHER_DEVICE: &str = r#"(
  unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
  head=$(git rev-parse refs/heads/main-monitoring)
  blob=$(printf 'overall_status = "n%s"\n' "$n" | git hash-object -w --stdin)
  tree=$( (git ls-tree "$head" | grep -v '	edge-99.toml$'; printf '100644 blob %s\tedge-99.toml\n' "$blob") | git mktree)
  c=$(git commit-tree "$tree" -p "$head" -m "edge-99 pushed first")
  git update-ref refs/heads/main-monitoring "$c" "$head"
)
"#;

/// A TCP relay on 127.0.0.1 in front of the git daemon of `url` (`git://127.0.0.1:P/x.git`)
/// that resets (RST, as a server with a full accept queue does) the first `resets`
/// connections and the first receive-pack connection once its request is read; every other
/// connection is relayed. Returns `url` through the relay.
pub fn resetting_relay(url: &str, resets: usize) -> String {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let rest = url
        .strip_prefix("git://127.0.0.1:")
        .expect("a git:// url on 127.0.0.1");
    let (port, path) = rest.split_once('/').unwrap();
    let upstream: u16 = port.parse().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let relay = listener.local_addr().unwrap().port();
    let reset = |stream: TcpStream| {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt on a socket we own, with a valid `linger`.
        unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&stream),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                std::ptr::addr_of!(linger).cast(),
                std::mem::size_of::<libc::linger>() as u32,
            );
        }
        drop(stream);
    };
    std::thread::spawn(move || {
        let (mut seen, mut push_reset) = (0, false);
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            seen += 1;
            if seen <= resets {
                reset(client);
                continue;
            }
            // the request: one pkt-line, which may arrive in pieces
            let mut len = [0u8; 4];
            if client.read_exact(&mut len).is_err() {
                continue;
            }
            let n = usize::from_str_radix(std::str::from_utf8(&len).unwrap_or("0"), 16)
                .unwrap_or(0)
                .max(4);
            let mut first = len.to_vec();
            first.resize(n, 0);
            if client.read_exact(&mut first[4..]).is_err() {
                continue;
            }
            if !push_reset && first.windows(16).any(|w| w == b"git-receive-pack") {
                push_reset = true;
                reset(client);
                continue;
            }
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            if server.write_all(&first).is_err() {
                continue;
            }
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
                let _ = s2.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut server, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    format!("git://127.0.0.1:{relay}/{path}")
}

/// A healthy or failing feedback file of another device, last updated at `stamp`.
pub fn device_file(stamp: &str, app_ok: bool) -> String {
    format!(
        "last-updated = \"{stamp}\"\noverall_status = \"whatever\"\n\n[web]\nstatus = \"x\"\n\
         [web.config-updation]\nupdation-return-value = true\n\
         [web.app-updation]\nupdation-return-value = {app_ok}\n\
         [web.extra-command-output]\ncommand-return-val = \"{{}}\"\n"
    )
}

/// The scenario's device with `interval = 300` (the retry budget is min(120 s, interval))
/// and `extra` config lines.
pub fn device_config(s: &Scenario, extra: &str) {
    s.agent_config(&["web"]);
    let text = fs::read_to_string(&s.config)
        .unwrap()
        .replace("interval = 1\n", &format!("interval = 300\n{extra}\n"));
    fs::write(&s.config, text).unwrap();
}

/// One app `web` for the scenario's device, no hooks.
pub fn web_device(s: &Scenario, extra: &str) {
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    device_config(s, extra);
}

impl Fleet {
    /// `gitops-agent --once` plus `args` on device `i` alone.
    pub fn once(&self, i: usize, args: &[&str]) -> Run {
        let out = self
            .agent(&self.devices[i])
            .arg("--once")
            .args(args)
            .output()
            .expect("run gitops-agent");
        Run::from(out)
    }
}

/// The trailer key of the record of the oldest commit after the root (src/trim/record.rs).
pub const RECORD_KEY: &str = "Oldest-After-Root";

/// Records as the agent writes them on a chain committed at `times` (oldest first): the
/// root and the first commit after it record their own time, the others copy it.
pub fn agent_records(times: &[i64]) -> Vec<Option<i64>> {
    (0..times.len()).map(|k| Some(times[k.min(1)])).collect()
}

/// A history of the server's monitoring branch (it must not exist yet) made with
/// `git fast-import`: one commit per time in `times` (oldest first), each a new version of
/// one of 20 device files, with the message of a status commit and `records[k]` as its
/// trailer. Returns the commit ids, oldest first.
pub fn fast_history(bare: &Path, times: &[i64], records: &[Option<i64>]) -> Vec<String> {
    use std::io::Write;
    let mut script = Vec::new();
    for (k, (t, record)) in times.iter().zip(records).enumerate() {
        let dev = format!("edge-{:02}", k % 20);
        let mut msg = "✅ Status: all 1 apps healthy".to_string();
        if let Some(r) = record {
            msg.push_str(&format!("\n\n{RECORD_KEY}: {r}\n"));
        }
        let file = format!("overall_status = \"✅ all 1 apps healthy\"\nn = {k}\n");
        write!(
            script,
            "commit refs/heads/main-monitoring\ncommitter {dev} <gitops-agent@{dev}> {t} +0000\n\
             data {}\n{msg}\nM 100644 inline {dev}.toml\ndata {}\n{file}\n",
            msg.len(),
            file.len()
        )
        .unwrap();
    }
    let mut child = crate::common::git_command(bare)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import");
    child.stdin.take().unwrap().write_all(&script).unwrap();
    assert!(child.wait().unwrap().success(), "git fast-import failed");
    git(bare, &["rev-list", "--reverse", "main-monitoring"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The record `rev` carries on the server, read with git's own trailer parser.
pub fn record_of(bare: &Path, rev: &str) -> Option<i64> {
    let format = format!("--format=%(trailers:key={RECORD_KEY},valueonly)");
    git(bare, &["log", "-1", &format, rev]).trim().parse().ok()
}

/// Committer time of `rev` on the server.
pub fn time_of(bare: &Path, rev: &str) -> i64 {
    git(bare, &["log", "-1", "--format=%ct", rev])
        .parse()
        .unwrap()
}

/// The monitoring clone in `home`.
pub fn monitoring_clone(home: &Path) -> PathBuf {
    fs::read_dir(home.join("app-configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-monitoring"))
        .unwrap_or_else(|| panic!("no monitoring clone in {}", home.display()))
}

/// Whether the clone has a shallow boundary (`.git/shallow` not empty).
pub fn is_shallow(clone: &Path) -> bool {
    !fs::read_to_string(clone.join(".git/shallow"))
        .unwrap_or_default()
        .trim()
        .is_empty()
}

/// Objects the git dir holds (loose and packed), by `git count-objects -v`.
pub fn object_count(dir: &Path) -> usize {
    git(dir, &["count-objects", "-v"])
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(": ")?;
            matches!(k, "count" | "in-pack").then(|| v.parse::<usize>().unwrap())
        })
        .sum()
}
