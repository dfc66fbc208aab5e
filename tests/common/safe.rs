//! Helpers shared by the safe-change tests (SPEC §12): code commits, the marks hooks write,
//! statuses and git-status lines of the feedback file, an installed app.

use std::path::Path;

use super::scenario::{CodeRepo, Run, Scenario};
use super::{commit_file, git};

pub fn head(dir: &Path) -> String {
    git(dir, &["rev-parse", "HEAD"])
}

/// Commit `content` as `app.txt` in the code repo and push it; returns the commit.
pub fn code_commit(code: &CodeRepo, content: &str) -> String {
    let c = commit_file(&code.work, "app.txt", content, content.trim());
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    c
}

/// What the hooks wrote to `<tmp>/marks`, one line per run.
pub fn marks(s: &Scenario) -> Vec<String> {
    std::fs::read_to_string(s.path().join("marks"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The `status` of `app` in the feedback file.
pub fn status(s: &Scenario, app: &str) -> String {
    s.feedback()[app]["status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The app-updation `git-status` of `app` in the feedback file.
pub fn app_git_status(s: &Scenario, app: &str) -> String {
    s.feedback()[app]["app-updation"]["git-status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// `web` installed at `v1` with no health check; returns (code repo, v1, v2 pushed).
pub fn installed(s: &Scenario) -> (CodeRepo, String, String) {
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let c2 = code_commit(&code, "v2\n");
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    (code, c1, c2)
}

/// `gitops-agent <args>` with the config from `$GITOPS_AGENT_CONFIG` (not --config).
pub fn agent_cmd(s: &Scenario, args: &[&str]) -> Run {
    std::process::Command::new(env!("CARGO_BIN_EXE_gitops-agent"))
        .args(args)
        .env("GITOPS_AGENT_CONFIG", &s.config)
        .env("GITOPS_AGENT_HOME", &s.home)
        .output()
        .expect("run gitops-agent")
        .into()
}
