//! Integration tests for `install/install.sh`, always run with `--prefix <tempdir>`.
//!
//! Each test makes its own scratch folder (under the system temp dir) holding the prefix
//! (with a space in its name, to catch quoting bugs), a dummy "binary" (a shell script),
//! a private HOME and TMPDIR, and a fake `systemctl` first on PATH that records any call.
//! Nothing here touches /etc, /opt or /usr: the tests check that the installer writes only
//! inside the prefix and never calls systemctl for a prefix install.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BIN: &str = "usr/local/bin/gitops-agent";
const CONFIG: &str = "etc/gitops-agent/config.toml";
const UNIT: &str = "etc/systemd/system/gitops-agent.service";
const WANTS: &str = "etc/systemd/system/multi-user.target.wants/gitops-agent.service";
const STATE: &str = "opt/gitops-agent";

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A scratch folder, removed when dropped.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "gitops-agent-install-{name}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        fs::create_dir_all(&dir).unwrap();
        let s = Scratch { dir };
        for d in ["pre fix", "home", "tmp", "fakebin"] {
            fs::create_dir_all(s.dir.join(d)).unwrap();
        }
        // A fake systemctl that only records that it was called.
        let log = s.dir.join("systemctl.log");
        let fake = s.dir.join("fakebin/systemctl");
        fs::write(
            &fake,
            format!("#!/bin/sh\necho \"$@\" >> '{}'\nexit 0\n", log.display()),
        )
        .unwrap();
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
        s.write_binary("#!/bin/sh\necho 'gitops-agent dummy 1'\n");
        s
    }

    fn prefix(&self) -> PathBuf {
        self.dir.join("pre fix")
    }

    fn binary(&self) -> PathBuf {
        self.dir.join("dummy-agent")
    }

    /// The dummy binary, deliberately 0700 so the installer must set 0755 itself.
    fn write_binary(&self, content: &str) {
        fs::write(self.binary(), content).unwrap();
        fs::set_permissions(self.binary(), fs::Permissions::from_mode(0o700)).unwrap();
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.prefix().join(rel)
    }

    fn run(&self, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}",
            self.dir.join("fakebin").display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
        );
        Command::new("sh")
            .arg(repo_file("install/install.sh"))
            .args(args)
            .env("PATH", path)
            .env("HOME", self.dir.join("home"))
            .env("TMPDIR", self.dir.join("tmp"))
            .current_dir(self.dir.join("home"))
            .output()
            .expect("run sh install/install.sh")
    }

    /// Runs install.sh with `--prefix <prefix>` and the given args; panics on failure.
    fn ok(&self, args: &[&str]) -> String {
        let prefix = self.prefix();
        let mut all = vec!["--prefix", prefix.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "install.sh {all:?} failed:\n{text}");
        text
    }

    fn install(&self) -> String {
        self.ok(&[self.binary().to_str().unwrap()])
    }

    fn systemctl_calls(&self) -> Option<String> {
        fs::read_to_string(self.dir.join("systemctl.log")).ok()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// One entry of a tree listing: everything a rewrite would change.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    ino: u64,
    mtime: (i64, i64),
    content: Vec<u8>,
}

/// Every path under `root` (relative) with type, mode, inode, mtime and content
/// (file bytes or symlink target).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        for e in fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let md = fs::symlink_metadata(&path).unwrap();
            let ft = md.file_type();
            let (kind, content) = if ft.is_symlink() {
                let t = fs::read_link(&path).unwrap();
                ("symlink", t.into_os_string().into_encoded_bytes())
            } else if ft.is_dir() {
                ("dir", Vec::new())
            } else {
                ("file", fs::read(&path).unwrap())
            };
            out.insert(
                path.strip_prefix(root).unwrap().to_path_buf(),
                Entry {
                    kind,
                    mode: md.mode() & 0o7777,
                    ino: md.ino(),
                    mtime: (md.mtime(), md.mtime_nsec()),
                    content,
                },
            );
            if ft.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn install_places_files_with_modes() {
    let s = Scratch::new("modes");
    let text = s.install();

    assert_eq!(fs::read(s.p(BIN)).unwrap(), fs::read(s.binary()).unwrap());
    assert_eq!(mode(&s.p(BIN)), 0o755, "binary mode");
    assert_eq!(
        fs::read(s.p(CONFIG)).unwrap(),
        fs::read(repo_file("install/config.toml")).unwrap()
    );
    assert_eq!(mode(&s.p(CONFIG)), 0o600, "config mode (may name secrets)");
    assert_eq!(
        fs::read(s.p(UNIT)).unwrap(),
        fs::read(repo_file("install/gitops-agent.service")).unwrap()
    );
    assert_eq!(mode(&s.p(UNIT)), 0o644, "unit mode");
    assert!(s.p(STATE).is_dir(), "state dir created");
    assert_eq!(mode(&s.p(STATE)), 0o700, "state dir mode");
    // Enabled by hand, as `systemctl enable` would do it inside the target system.
    assert_eq!(
        fs::read_link(s.p(WANTS)).unwrap(),
        Path::new("/etc/systemd/system/gitops-agent.service")
    );
    assert_eq!(
        s.systemctl_calls(),
        None,
        "systemctl called for a prefix install"
    );
    // No temporary files left beside the installed ones.
    for dir in ["usr/local/bin", "etc/gitops-agent", "etc/systemd/system"] {
        for e in fs::read_dir(s.p(dir)).unwrap() {
            let name = e.unwrap().file_name();
            assert!(
                !name.to_string_lossy().contains(".tmp"),
                "leftover {name:?} in {dir}"
            );
        }
    }
    assert!(
        text.contains("prefix"),
        "says it is a prefix install:\n{text}"
    );
}

#[test]
fn config_written_when_absent_and_kept_when_present() {
    let s = Scratch::new("config");
    s.install();
    let edited = "infra_name = \"edge-17\"\n[applications]\nweb = \"https://h/o/d.git@prod\"\n";
    fs::write(s.p(CONFIG), edited).unwrap();
    let text = s.install();
    assert_eq!(fs::read_to_string(s.p(CONFIG)).unwrap(), edited);
    assert!(
        text.contains("kept existing"),
        "says the config was kept:\n{text}"
    );

    // Removed config comes back from the template.
    fs::remove_file(s.p(CONFIG)).unwrap();
    s.install();
    assert_eq!(
        fs::read(s.p(CONFIG)).unwrap(),
        fs::read(repo_file("install/config.toml")).unwrap()
    );
}

#[test]
fn second_run_changes_nothing() {
    let s = Scratch::new("idem");
    s.install();
    let before = snapshot(&s.prefix());
    assert!(before.contains_key(Path::new(BIN)));
    // Let the clock move on, so that any rewrite would show in an mtime, not only in
    // an inode number.
    std::thread::sleep(Duration::from_millis(50));
    let text = s.install();
    let after = snapshot(&s.prefix());
    assert_eq!(
        before, after,
        "second run changed the tree; it said:\n{text}"
    );
    assert!(
        !text.contains("installed "),
        "second run installed again:\n{text}"
    );
}

#[test]
fn upgrade_replaces_binary_atomically() {
    let s = Scratch::new("upgrade");
    s.install();
    let old_ino = fs::metadata(s.p(BIN)).unwrap().ino();
    let config_before = snapshot(&s.p("etc/gitops-agent"));
    s.write_binary("#!/bin/sh\necho 'gitops-agent dummy 2'\n");
    s.install();
    assert_eq!(fs::read(s.p(BIN)).unwrap(), fs::read(s.binary()).unwrap());
    assert_eq!(mode(&s.p(BIN)), 0o755);
    // A new inode: renamed into place, not rewritten in place (a running binary and a
    // reader never see a half-written file).
    assert_ne!(fs::metadata(s.p(BIN)).unwrap().ino(), old_ino);
    assert_eq!(config_before, snapshot(&s.p("etc/gitops-agent")));
}

#[test]
fn uninstall_removes_binary_and_unit_keeps_config_and_state() {
    let s = Scratch::new("uninstall");
    s.install();
    let edited = "infra_name = \"keep-me\"\n";
    fs::write(s.p(CONFIG), edited).unwrap();
    fs::write(s.p("opt/gitops-agent/state-file"), "x").unwrap();

    s.ok(&["--uninstall"]);
    assert!(!s.p(BIN).exists(), "binary removed");
    assert!(!s.p(UNIT).exists(), "unit removed");
    assert!(
        fs::symlink_metadata(s.p(WANTS)).is_err(),
        "wants link removed"
    );
    assert_eq!(fs::read_to_string(s.p(CONFIG)).unwrap(), edited);
    assert!(s.p("opt/gitops-agent/state-file").exists(), "state kept");

    // Again: nothing left to remove, still a success.
    s.ok(&["--uninstall"]);

    s.ok(&["--uninstall", "--purge"]);
    assert!(!s.p("etc/gitops-agent").exists(), "config purged");
    assert!(!s.p(STATE).exists(), "state purged");
    assert_eq!(
        s.systemctl_calls(),
        None,
        "systemctl called for a prefix uninstall"
    );
}

#[test]
fn nothing_written_outside_the_prefix() {
    let s = Scratch::new("outside");
    // Everything in the scratch folder except the prefix: HOME, TMPDIR, fake bin, binary.
    let outside = |s: &Scratch| {
        let mut all = snapshot(&s.dir);
        all.retain(|p, _| !p.starts_with("pre fix"));
        all
    };
    let before = outside(&s);
    s.install();
    s.install();
    s.ok(&["--uninstall"]);
    s.install();
    s.ok(&["--uninstall", "--purge"]);
    assert_eq!(before, outside(&s), "files changed outside the prefix");
    assert_eq!(s.systemctl_calls(), None);
}

#[test]
fn bad_invocations_fail_clearly() {
    let s = Scratch::new("bad");
    let prefix = s.prefix();
    let pre = prefix.to_str().unwrap();

    let no_binary = s.run(&["--prefix", pre]);
    assert!(!no_binary.status.success());
    assert!(String::from_utf8_lossy(&no_binary.stderr).contains("no binary given"));

    let missing = s.run(&["--prefix", pre, "/nonexistent/gitops-agent"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such file"));

    let no_prefix_dir = s.dir.join("absent");
    let bad_prefix = s.run(&[
        "--prefix",
        no_prefix_dir.to_str().unwrap(),
        s.binary().to_str().unwrap(),
    ]);
    assert!(!bad_prefix.status.success());
    assert!(!no_prefix_dir.exists(), "created a missing prefix");

    let unknown = s.run(&["--prefix", pre, "--frobnicate"]);
    assert!(!unknown.status.success());

    let purge_alone = s.run(&["--prefix", pre, "--purge"]);
    assert!(!purge_alone.status.success());

    // None of that wrote anything.
    assert!(fs::read_dir(&prefix).unwrap().next().is_none());
}

#[test]
fn symlinked_prefix_and_existing_wrong_wants_link() {
    let s = Scratch::new("links");
    // A prefix reached through a symlink still installs inside the real folder.
    let via = s.dir.join("via-link");
    symlink(s.prefix(), &via).unwrap();
    let out = s.run(&[
        "--prefix",
        via.to_str().unwrap(),
        s.binary().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(s.p(BIN).is_file());
    // A stale enablement link pointing elsewhere is corrected.
    fs::remove_file(s.p(WANTS)).unwrap();
    symlink("/lib/systemd/system/other.service", s.p(WANTS)).unwrap();
    s.install();
    assert_eq!(
        fs::read_link(s.p(WANTS)).unwrap(),
        Path::new("/etc/systemd/system/gitops-agent.service")
    );
}

#[test]
fn install_script_is_shellcheck_clean_when_shellcheck_is_present() {
    let Ok(out) = Command::new("shellcheck")
        .args(["-s", "sh"])
        .arg(repo_file("install/install.sh"))
        .output()
    else {
        eprintln!("shellcheck not installed: skipped (apt-get install shellcheck)");
        return;
    };
    assert!(
        out.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn config_template_names_every_key() {
    let t = fs::read_to_string(repo_file("install/config.toml")).unwrap();
    assert!(
        t.contains("\ninfra_name = "),
        "infra_name must be set (required key)"
    );
    // the agent's own list, so a new key cannot be forgotten in the template
    let optional = gitops_agent::config::KNOWN_KEYS
        .iter()
        .filter(|k| !matches!(**k, "infra_name" | "applications"));
    for key in optional {
        assert!(
            t.contains(&format!("\n#{key} = ")),
            "template lacks a commented `{key}` line"
        );
    }
    assert!(t.contains("\n[applications]\n"));
}

#[test]
fn unit_passes_systemd_analyze_when_present() {
    let unit = fs::read_to_string(repo_file("install/gitops-agent.service")).unwrap();
    for line in [
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=/usr/local/bin/gitops-agent",
        "Restart=always",
        "KillMode=mixed",
        "Environment=GITOPS_AGENT_HOME=/opt/gitops-agent",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "unit lacks `{line}`");
    }
    // `systemd-analyze verify` wants ExecStart to exist: check a copy pointing at /bin/true.
    let s = Scratch::new("unit");
    let copy = s.dir.join("gitops-agent.service");
    fs::write(
        &copy,
        unit.replace("/usr/local/bin/gitops-agent", "/bin/true"),
    )
    .unwrap();
    let Ok(out) = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
    else {
        eprintln!("systemd-analyze not installed: skipped");
        return;
    };
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
