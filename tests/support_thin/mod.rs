//! Fixtures for the thin-link tests (SPEC §14): a code repo with a long history of
//! incompressible commits, and git's own `git fetch --depth 1 <url> <id>` measured on the
//! same proxy, the yardstick the agent is held to.
#![allow(dead_code)]

use std::path::Path;

use crate::common::scenario::{CodeRepo, Scenario};
use crate::common::{git, git_command, TempDir};
use crate::support_proxy::Proxy;

/// Bytes of `app.bin`, rewritten by every commit.
pub const APP_BIN: usize = 150_000;
/// Files under `lib/` that never change after the first commit (4 × 64 KiB).
pub const LIB_FILES: usize = 4;
pub const LIB_FILE: usize = 64 * 1024;

/// `len` bytes git cannot compress or delta, different for every `seed`.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A code repo `name` with `commits` commits on `main` (oldest first): the first adds
/// `lib/`, every one rewrites `app.bin` with new random bytes and `version.txt`.
pub fn long_history(s: &Scenario, name: &str, commits: usize) -> (CodeRepo, Vec<String>) {
    let (code, _) = s.code_repo(name, &[("README", "thin\n")]);
    for i in 0..LIB_FILES {
        write(
            &code.work,
            &format!("lib/part{i}.bin"),
            &random_bytes(1000 + i as u64, LIB_FILE),
        );
    }
    let mut ids = Vec::new();
    for n in 0..commits {
        ids.push(commit_version(&code, n as u64));
    }
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    (code, ids)
}

/// One more commit (not pushed): new `app.bin` bytes from `seed`.
pub fn commit_version(code: &CodeRepo, seed: u64) -> String {
    write(&code.work, "app.bin", &random_bytes(seed + 1, APP_BIN));
    write(&code.work, "version.txt", format!("{seed}\n").as_bytes());
    git(&code.work, &["add", "--all"]);
    git(
        &code.work,
        &["commit", "--quiet", "-m", &format!("version {seed}")],
    );
    git(&code.work, &["rev-parse", "HEAD"])
}

/// Push a branch `name` holding `bytes` of random data, unrelated to `main`.
pub fn big_branch(code: &CodeRepo, name: &str, bytes: usize) {
    git(&code.work, &["checkout", "--quiet", "--orphan", name]);
    git(&code.work, &["rm", "-r", "--quiet", "--cached", "."]);
    write(&code.work, "big.bin", &random_bytes(77, bytes));
    git(&code.work, &["add", "big.bin"]);
    git(&code.work, &["commit", "--quiet", "-m", "big"]);
    git(
        &code.work,
        &["push", "--quiet", "origin", &format!("HEAD:{name}")],
    );
    git(&code.work, &["checkout", "--quiet", "--force", "main"]);
    git(&code.work, &["clean", "-fdxq"]);
}

fn write(dir: &Path, rel: &str, bytes: &[u8]) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// What `git fetch --depth 1 <url> <id>` into an empty repository downloads through
/// `proxy`; `env` adds variables (e.g. `GIT_SSH_COMMAND`).
pub fn git_depth_1(proxy: &Proxy, url: &str, id: &str, env: &[(&str, &str)]) -> u64 {
    let tmp = TempDir::new("git-depth-1");
    git(tmp.path(), &["init", "--quiet"]);
    proxy.take();
    let out = git_command(tmp.path())
        .args(["fetch", "--quiet", "--depth", "1", url, id])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git fetch --depth 1 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    proxy.take().bytes
}

/// The bound of SPEC §14: 1.5 × git's depth-1 fetch plus 64 KiB.
pub fn assert_thin(what: &str, agent: u64, git: u64) {
    eprintln!("{what}: agent {agent} bytes, git fetch --depth 1 {git} bytes");
    assert!(
        agent as f64 <= 1.5 * git as f64 + 65_536.0,
        "{what}: the agent downloaded {agent} bytes, git fetch --depth 1 {git}"
    );
}

/// Point the scenario's only app `web` at `code` pinned at `pin`.
pub fn pin(s: &Scenario, code: &CodeRepo, pin: &str) {
    s.infra_meta(&[s.section("web", code, pin, "")]);
}

/// Commits in the clone at `dir` (`git rev-list --count HEAD`; shallow clones count
/// only what they hold).
pub fn commits_held(dir: &Path) -> usize {
    git(dir, &["rev-list", "--count", "HEAD"]).parse().unwrap()
}
