//! A device and its remotes, built for one test: a deploy repo (bare, served over file:// or
//! a `git daemon`), app code repos, an agent config and a state root, all in a temp dir.
//! Tests read as the behaviour they pin: `s.deploy(...)`, `s.once()`, `s.feedback()`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{bare_repo, commit_file, file_url, git, rev_parse, GitDaemon, TempDir};

pub const INFRA: &str = "edge-17";

pub struct Scenario {
    pub tmp: TempDir,
    /// The deploy repo as the server holds it.
    pub deploy_bare: PathBuf,
    /// A worktree the "operator" edits and pushes from.
    pub deploy_work: PathBuf,
    pub deploy_url: String,
    pub branch: String,
    pub home: PathBuf,
    pub config: PathBuf,
    pub daemon: Option<GitDaemon>,
    /// Extra `key = value` lines for the agent config.
    pub config_extra: String,
}

/// One app's code repo: a worktree to commit in, served from a bare repo.
pub struct CodeRepo {
    pub work: PathBuf,
    pub bare: PathBuf,
    pub url: String,
}

impl Scenario {
    /// Deploy repo over file://.
    pub fn new() -> Scenario {
        Self::build(false)
    }

    /// Deploy and code repos served by a `git daemon` on 127.0.0.1.
    pub fn with_daemon() -> Scenario {
        Self::build(true)
    }

    fn build(daemon: bool) -> Scenario {
        let tmp = TempDir::new("agent");
        let served = tmp.join("served");
        std::fs::create_dir_all(&served).unwrap();
        let deploy_bare = bare_repo(&served.join("deploy.git"));
        let daemon = daemon.then(|| GitDaemon::start(&served));
        let deploy_url = match &daemon {
            Some(d) => d.url("deploy.git"),
            None => file_url(&deploy_bare),
        };
        let deploy_work = tmp.join("deploy-work");
        git(
            tmp.path(),
            &["clone", "--quiet", &file_url(&deploy_bare), "deploy-work"],
        );
        let home = tmp.join("home");
        let config = tmp.join("config.toml");
        Scenario {
            tmp,
            deploy_bare,
            deploy_work,
            deploy_url,
            branch: "main".into(),
            home,
            config,
            daemon,
            config_extra: String::new(),
        }
    }

    /// A code repo with one commit of `files`; returns it and that commit.
    pub fn code_repo(&self, name: &str, files: &[(&str, &str)]) -> (CodeRepo, String) {
        let bare = bare_repo(&self.tmp.join("served").join(format!("{name}.git")));
        let work = self.tmp.join(format!("{name}-work"));
        git(
            self.tmp.path(),
            &[
                "clone",
                "--quiet",
                &file_url(&bare),
                &format!("{name}-work"),
            ],
        );
        let mut last = String::new();
        for (f, c) in files {
            last = commit_file(&work, f, c, &format!("{name}: {f}"));
        }
        git(&work, &["push", "--quiet", "origin", "HEAD:main"]);
        let url = match &self.daemon {
            Some(d) => d.url(&format!("{name}.git")),
            None => file_url(&bare),
        };
        (CodeRepo { work, bare, url }, last)
    }

    /// Where an app's code lives on the "device".
    pub fn srv(&self, app: &str) -> PathBuf {
        self.tmp.join("srv").join(app)
    }

    /// Write files into the deploy repo, commit and push them to its branch.
    pub fn deploy(&self, files: &[(&str, &str)]) -> String {
        let mut last = String::new();
        for (f, c) in files {
            last = commit_file(&self.deploy_work, f, c, &format!("deploy {f}"));
        }
        git(
            &self.deploy_work,
            &[
                "push",
                "--quiet",
                "origin",
                &format!("HEAD:{}", self.branch),
            ],
        );
        last
    }

    /// `[app]` section text for infra_meta.toml.
    pub fn section(&self, app: &str, code: &CodeRepo, commit: &str, extra: &str) -> String {
        format!(
            "[{app}]\ncode_url = \"{}\"\ncode_commit_hash = \"{commit}\"\ncode_local_path = \"{}\"\n{extra}\n",
            code.url,
            self.srv(app).display()
        )
    }

    /// Publish `<infra>/infra_meta.toml` with these sections.
    pub fn infra_meta(&self, sections: &[String]) {
        self.deploy(&[(&format!("{INFRA}/infra_meta.toml"), &sections.concat())]);
    }

    /// Write the agent config naming `apps` (all in this deploy repo and branch).
    pub fn agent_config(&self, apps: &[&str]) {
        let mut text = format!(
            "infra_name = \"{INFRA}\"\ninterval = 1\n{}\n[applications]\n",
            self.config_extra
        );
        for a in apps {
            text.push_str(&format!("{a} = \"{}@{}\"\n", self.deploy_url, self.branch));
        }
        std::fs::write(&self.config, text).unwrap();
    }

    /// The agent command with this scenario's config and home.
    pub fn agent(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitops-agent"));
        cmd.arg("--config")
            .arg(&self.config)
            .env("GITOPS_AGENT_HOME", &self.home)
            .env("GITOPS_AGENT_LOCK_WAIT", "2")
            .env_remove("GITOPS_AGENT_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null());
        cmd
    }

    /// `gitops-agent --once` plus `args`.
    pub fn once_with(&self, args: &[&str]) -> Run {
        let out = self
            .agent()
            .arg("--once")
            .args(args)
            .output()
            .expect("run gitops-agent");
        Run::from(out)
    }

    pub fn once(&self) -> Run {
        self.once_with(&[])
    }

    /// The monitoring branch head on the server.
    pub fn monitoring_head(&self) -> Option<String> {
        rev_parse(
            &self.deploy_bare,
            &format!("refs/heads/{}-monitoring", self.branch),
        )
    }

    /// `<infra>.toml` on the server's monitoring branch, parsed.
    pub fn feedback(&self) -> toml::Table {
        self.feedback_text().parse().expect("feedback file is TOML")
    }

    pub fn feedback_text(&self) -> String {
        git(
            &self.deploy_bare,
            &["show", &format!("{}-monitoring:{INFRA}.toml", self.branch)],
        )
    }

    /// Number of commits on the server's monitoring branch.
    pub fn monitoring_commits(&self) -> usize {
        git(
            &self.deploy_bare,
            &[
                "rev-list",
                "--count",
                &format!("{}-monitoring", self.branch),
            ],
        )
        .parse()
        .unwrap()
    }

    /// The common world: one app `web` (one commit of `app.txt`) whose post command is
    /// `post`, configured on this device. Returns its code repo and commit.
    pub fn one_app(&self, post: &str) -> (CodeRepo, String) {
        self.one_app_with(&format!("post_updation_command = \"{post}\""))
    }

    /// One app `web` (one commit of `app.txt`) with `extra` keys in its section (may be
    /// empty), configured on this device. Returns its code repo and commit.
    pub fn one_app_with(&self, extra: &str) -> (CodeRepo, String) {
        let (code, c1) = self.code_repo("web", &[("app.txt", "v1\n")]);
        self.infra_meta(&[self.section("web", &code, &c1, extra)]);
        self.agent_config(&["web"]);
        (code, c1)
    }

    /// Put a monitoring history on the server: one commit per entry of `ages_days` (oldest
    /// first), committed that many days ago, each changing `<infra>.toml`. Returns their ids.
    pub fn old_monitoring_history(&self, ages_days: &[u64]) -> Vec<String> {
        let hist = self.tmp.join("hist");
        super::work_repo(&hist);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut ids = Vec::new();
        for (i, age) in ages_days.iter().enumerate() {
            std::fs::write(hist.join(format!("{INFRA}.toml")), format!("n = {i}\n")).unwrap();
            git(&hist, &["add", "-A"]);
            let date = format!("{} +0000", now - age * 86_400);
            let out = super::git_command(&hist)
                .args(["commit", "-q", "-m", &format!("old {i}")])
                .env("GIT_COMMITTER_DATE", &date)
                .env("GIT_AUTHOR_DATE", &date)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            ids.push(git(&hist, &["rev-parse", "HEAD"]));
        }
        let target = format!("HEAD:refs/heads/{}-monitoring", self.branch);
        git(
            &hist,
            &["push", "--quiet", &file_url(&self.deploy_bare), &target],
        );
        ids
    }

    /// Tree id of commit `id` (in the monitoring history repo or the server).
    pub fn tree_of(&self, id: &str) -> String {
        git(&self.deploy_bare, &["rev-parse", &format!("{id}^{{tree}}")])
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }
}

/// What one run of the agent did.
pub struct Run {
    pub code: i32,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        let stderr = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Run {
            code: out.status.code().unwrap_or(-1),
            stderr,
        }
    }
}

impl Run {
    /// Panic with the log unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "exit code; agent log:\n{}", self.stderr);
        self
    }
}
