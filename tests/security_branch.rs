//! SPEC §10, the shared monitoring branch, built as the attacker would: a second "device"
//! (anyone who may push to the branch) pushes symlinks and folders there. Nothing of it may
//! reach this device's disk: the monitoring clone shows this device's file (and the
//! README.md) only.

mod common;

use std::fs;
use std::path::Path;

use common::scenario::{Scenario, INFRA};
use common::{file_url, git};

/// Everything under `dir` (not following symlinks), `.git` excepted, as relative paths.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(base).unwrap().display().to_string();
            if rel == ".git" {
                continue;
            }
            let t = e.file_type().unwrap();
            if t.is_dir() {
                out.push(format!("{rel}/"));
                walk(base, &e.path(), out);
            } else if t.is_symlink() {
                out.push(format!("{rel} -> symlink"));
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn another_device_cannot_put_symlinks_or_folders_on_this_device_through_the_branch() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);

    // Outside the clone: what the planted links point at.
    let victim = s.path().join("victim");
    fs::write(&victim, "precious\n").unwrap();
    let victim_dir = s.path().join("victim-dir");
    fs::create_dir_all(&victim_dir).unwrap();

    // The other device: a clone of the branch, links and a folder, pushed.
    let other = s.path().join("other-device");
    let branch = "main-monitoring";
    git(
        s.path(),
        &[
            "clone",
            "-q",
            "-b",
            branch,
            &file_url(&s.deploy_bare),
            other.to_str().unwrap(),
        ],
    );
    let link = |name: &str, target: &Path| {
        // (README.md is on the branch already: the dashboard)
        let _ = fs::remove_file(other.join(name));
        std::os::unix::fs::symlink(target, other.join(name)).unwrap();
    };
    link(&format!(".{INFRA}.toml.gitops-agent-tmp"), &victim);
    link("README.md", &victim);
    link("edge-99.toml", &victim);
    link("dir-link", &victim_dir);
    fs::create_dir_all(other.join("evil/deeper")).unwrap();
    fs::write(other.join("evil/deeper/payload.sh"), "#!/bin/sh\n").unwrap();
    fs::write(other.join("edge-2.toml"), "overall_status = \"x\"\n").unwrap();
    git(&other, &["add", "-A"]);
    git(&other, &["commit", "-qm", "another device"]);
    git(&other, &["push", "-q", "origin", branch]);

    let mon = fs::read_dir(s.home.join("app-configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-monitoring"))
        .expect("monitoring clone");

    // An unchanged pass (the branch moved: the clone catches up), then one with news.
    s.once().expect_code(0);
    s.once_with(&["--force-report"]).expect_code(0);

    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(fs::read_dir(&victim_dir).unwrap().count(), 0);
    // (a README.md this device writes itself is a regular file, and welcome)
    let seen: Vec<String> = listing(&mon)
        .into_iter()
        .filter(|e| e != "README.md")
        .collect();
    assert_eq!(seen, vec![format!("{INFRA}.toml")]);
    // and the branch still holds the other device's files: only the disk is spared
    let tree = git(&s.deploy_bare, &["ls-tree", "--name-only", branch]);
    for name in [
        "edge-2.toml",
        "edge-99.toml",
        "evil",
        "dir-link",
        "README.md",
    ] {
        assert!(tree.lines().any(|l| l == name), "{name} kept: {tree}");
    }
}
