//! Signing deploy commits as developers do, for tests/signed.rs: `ssh-keygen` keys and a
//! throwaway `gpg` keyring, `git commit -S`, `git verify-commit`, hand-forged commits, and
//! the agent run with a PATH that holds only `sh`.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::scenario::{CodeRepo, Run, Scenario, INFRA};
use crate::common::{git, git_command};

/// A way to sign (or not) a deploy commit.
#[derive(Clone)]
pub enum Signer {
    /// `gpg.format=ssh` with this private key file.
    Ssh(PathBuf),
    /// OpenPGP with this key (fingerprint) from the keyring `home`.
    Gpg {
        home: PathBuf,
        key: String,
    },
    Unsigned,
}

impl Signer {
    /// `git` with this signer's configuration.
    fn git(&self, dir: &Path) -> Command {
        let mut cmd = git_command(dir);
        match self {
            Signer::Ssh(key) => {
                cmd.args(["-c", "gpg.format=ssh", "-c"])
                    .arg(format!("user.signingKey={}", key.display()));
            }
            Signer::Gpg { home, key } => {
                cmd.env("GNUPGHOME", home)
                    .args(["-c", "gpg.format=openpgp", "-c"])
                    .arg(format!("user.signingKey={key}!"));
            }
            Signer::Unsigned => {}
        }
        cmd
    }
}

/// An ssh key made by `ssh-keygen -t <kind>` in `dir`; returns the private key path.
pub fn ssh_key(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let key = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(args)
        .args(["-q", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    key
}

/// `SHA256:…` as `ssh-keygen -l` prints it.
pub fn ssh_fingerprint(key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace().nth(1).unwrap().to_string()
}

/// An allowed-signers file listing `keys`, with `options` before each key.
pub fn allowed_signers(path: &Path, keys: &[&Path], options: &str) {
    let mut text = String::from("# test signers\n");
    for k in keys {
        let public = fs::read_to_string(k.with_extension("pub")).unwrap();
        text.push_str(&format!("dev@example.com {options} {public}"));
    }
    fs::write(path, text).unwrap();
}

/// A throwaway gpg keyring; its agent is stopped when dropped.
pub struct Keyring {
    pub home: PathBuf,
}

impl Keyring {
    pub fn new(dir: &Path) -> Keyring {
        let home = dir.join("gnupg");
        fs::create_dir_all(&home).unwrap();
        let mut perms = fs::metadata(&home).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        fs::set_permissions(&home, perms).unwrap();
        Keyring { home }
    }

    pub fn gpg(&self, args: &[&str]) -> String {
        let out = Command::new("gpg")
            .env("GNUPGHOME", &self.home)
            .args(["--batch", "--quiet", "--no-tty"])
            .args(args)
            .output()
            .expect("run gpg");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// A new signing key of `algo` (`ed25519`, `rsa2048`); returns its fingerprint.
    pub fn new_key(&self, uid: &str, algo: &str) -> String {
        self.gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            algo,
            "sign",
            "never",
        ]);
        self.fingerprints(uid)[0].clone()
    }

    /// Fingerprints of `uid`'s primary key and subkeys, in order.
    pub fn fingerprints(&self, uid: &str) -> Vec<String> {
        self.gpg(&["--with-colons", "--fingerprint", "--fingerprint", uid])
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .map(|l| l.split(':').nth(9).unwrap().to_string())
            .collect()
    }

    pub fn signer(&self, key: &str) -> Signer {
        Signer::Gpg {
            home: self.home.clone(),
            key: key.to_string(),
        }
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.home)
            .args(["--kill", "all"])
            .output();
    }
}

/// Commit `files` to the deploy repo as `by` signs, push (forced: tests rewind), and return
/// the commit id.
pub fn deploy_signed(s: &Scenario, files: &[(&str, &str)], by: &Signer) -> String {
    for (f, c) in files {
        let p = s.deploy_work.join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, c).unwrap();
    }
    git(&s.deploy_work, &["add", "--all"]);
    let mut commit = by.git(&s.deploy_work);
    commit.args(["commit", "--quiet", "--allow-empty", "-m", "deploy"]);
    if !matches!(by, Signer::Unsigned) {
        commit.arg("-S");
    }
    let out = commit.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    push(s, "HEAD");
    git(&s.deploy_work, &["rev-parse", "HEAD"])
}

pub fn push(s: &Scenario, rev: &str) {
    git(
        &s.deploy_work,
        &[
            "push",
            "--quiet",
            "--force",
            "origin",
            &format!("{rev}:refs/heads/main"),
        ],
    );
}

/// `git verify-commit` with `by`'s trust (and `signers` as the allowed-signers file).
pub fn git_verifies(s: &Scenario, by: &Signer, signers: &Path, commit: &str) -> bool {
    let mut cmd = by.git(&s.deploy_work);
    cmd.arg("-c")
        .arg(format!("gpg.ssh.allowedSignersFile={}", signers.display()))
        .args(["verify-commit", commit]);
    cmd.output().unwrap().status.success()
}

/// A PATH holding only `sh` (hooks run through it): no git, gpg or ssh-keygen.
pub fn bare_path(s: &Scenario) -> PathBuf {
    let bin = s.path().join("only-sh");
    if !bin.exists() {
        fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink("/bin/sh", bin.join("sh")).unwrap();
    }
    bin
}

pub fn once(s: &Scenario, args: &[&str]) -> Run {
    s.agent()
        .arg("--once")
        .args(args)
        .env("PATH", bare_path(s))
        .output()
        .expect("run gitops-agent")
        .into()
}

/// infra_meta.toml text for `web` at `commit` of `code`.
pub fn meta(s: &Scenario, apps: &[(&str, &CodeRepo, &str)]) -> (String, String) {
    let text: String = apps
        .iter()
        .map(|(a, code, c)| s.section(a, code, c, ""))
        .collect();
    (format!("{INFRA}/infra_meta.toml"), text)
}

pub fn head_of(dir: &Path) -> String {
    git(dir, &["rev-parse", "HEAD"])
}

pub fn deploy_clone_head(s: &Scenario) -> String {
    let clones = s.home.join("app-configs");
    let clone = fs::read_dir(&clones)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with("deploy@main-") && !n.ends_with("-monitoring")
        })
        .unwrap();
    head_of(&clone)
}

/// `[app]` status and config-updation git-status on the monitoring branch.
pub fn app_status(s: &Scenario, app: &str) -> (String, String) {
    let fb = s.feedback();
    let t = fb[app].as_table().unwrap();
    (
        t["status"].as_str().unwrap().to_string(),
        t["config-updation"]["git-status"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

/// One world: a code repo with two commits, a deploy repo over git daemon, the agent config
/// with `extra` lines. Returns the code repo and its two commits.
pub fn world(s: &mut Scenario, extra: &str) -> (CodeRepo, String, String) {
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let c2 = crate::common::commit_file(&code.work, "app.txt", "v2\n", "v2");
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    s.config_extra = extra.to_string();
    s.agent_config(&["web"]);
    (code, c1, c2)
}

/// `signed` with its tree swapped for `tree`, gpgsig kept: a commit altered after signing,
/// written with `git hash-object -w -t commit`.
pub fn forge(dir: &Path, signed: &str, tree: &str) -> String {
    let raw = git(dir, &["cat-file", "commit", signed]);
    let mut lines: Vec<String> = raw.lines().map(str::to_string).collect();
    lines[0] = format!("tree {tree}");
    hash_object(dir, &(lines.join("\n") + "\n"))
}

/// `signed` with the last byte of its OpenPGP signature packet changed (armor rebuilt
/// without the optional CRC line), written as a new commit object.
pub fn flip_signature_byte(dir: &Path, signed: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = git(dir, &["cat-file", "commit", signed]);
    let (head, rest) = raw.split_once("gpgsig ").unwrap();
    let end = rest.find("-----END PGP SIGNATURE-----").unwrap();
    let after = &rest[end + "-----END PGP SIGNATURE-----".len()..];
    let body: String = rest[..end]
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('='))
        .collect();
    let mut packet = b64.decode(body).unwrap();
    *packet.last_mut().unwrap() ^= 0x01;
    let text = b64.encode(packet);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let armor = format!(
        "gpgsig -----BEGIN PGP SIGNATURE-----\n \n {}\n -----END PGP SIGNATURE-----",
        lines.join("\n ")
    );
    hash_object(dir, &format!("{head}{armor}{after}\n"))
}

/// `git hash-object -w -t commit` of `text`; returns the id.
pub fn hash_object(dir: &Path, text: &str) -> String {
    let path = dir.join(".git").join("forged");
    fs::write(&path, text).unwrap();
    let id = git(
        dir,
        &["hash-object", "-w", "-t", "commit", path.to_str().unwrap()],
    );
    fs::remove_file(path).unwrap();
    id
}
