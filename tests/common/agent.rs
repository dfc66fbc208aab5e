//! Shared setup of the `agent_*` suites: the `web` world whose hooks count their runs, a
//! `git` wrapper on PATH for the agent's file:// helper, sha256 by the system tool.

use std::fs;

use super::git;
use super::scenario::{CodeRepo, Scenario, INFRA};

/// A scenario with one app `web` at its first commit, with a config file and hooks that
/// count their runs in files next to the code folder.
pub fn web_world(s: &Scenario) -> (CodeRepo, String) {
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n"), ("lib/old.txt", "old\n")]);
    let counter = s.path().join("post-runs");
    let extra = format!(
        "config_files = [ {{ src = \"{INFRA}/web.env\", dst = \"{}\" }} ]\npre_updation_command = \"echo pre >> {}\"\npost_updation_command = \"echo post >> {}\"",
        s.srv("web").join("conf/.env").display(),
        s.path().join("pre-runs").display(),
        counter.display()
    );
    s.deploy(&[(&format!("{INFRA}/web.env"), "PORT=80\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, &extra)]);
    s.agent_config(&["web"]);
    (code, c1)
}

pub fn runs(s: &Scenario, which: &str) -> usize {
    fs::read_to_string(s.path().join(format!("{which}-runs")))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

pub fn head(dir: &std::path::Path) -> String {
    git(dir, &["rev-parse", "HEAD"])
}

/// sha256 by the system tool, independent of the agent's own implementation.
pub fn sha256_hex(s: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// A PATH whose `git` is the shell script `body`, for the agent's file:// helper only (the
/// tests keep checking with the real git).
pub fn git_wrapper_on_path(s: &Scenario, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = s.path().join("wrapper-bin");
    fs::create_dir_all(&bin).unwrap();
    let wrapper = bin.join("git");
    fs::write(&wrapper, format!("#!/bin/sh\n{body}")).unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

/// Commit and push `size` bytes of incompressible data as `big.bin`; returns the commit.
pub fn commit_random(code: &CodeRepo, size: usize) -> String {
    let mut random = vec![0u8; size];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for b in random.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    fs::write(code.work.join("big.bin"), &random).unwrap();
    git(&code.work, &["add", "big.bin"]);
    git(&code.work, &["commit", "--quiet", "-m", "big"]);
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    git(&code.work, &["rev-parse", "HEAD"])
}

/// The path of the git a wrapper on PATH hands over to.
pub fn real_git() -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", "command -v git"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A PATH whose file:// helper sends packs at ~320 KB/s (a thin link).
pub fn throttled_git_on_path(s: &Scenario) -> String {
    let real_git = real_git();
    git_wrapper_on_path(
        s,
        &format!(
            "if [ \"$1\" = upload-pack ]; then\n  {git} \"$@\" | python3 -c '\nimport sys, time\nwhile True:\n    b = sys.stdin.buffer.read1(16384)\n    if not b: break\n    sys.stdout.buffer.write(b); sys.stdout.buffer.flush(); time.sleep(0.05)\n'\nelse\n  exec {git} \"$@\"\nfi\n",
            git = real_git.trim()
        ),
    )
}
