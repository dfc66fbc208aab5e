//! Signed deploys (SPEC §11) end to end. Commits are signed as developers sign them —
//! `git commit -S` with `gpg.format=ssh` and `ssh-keygen` keys of each type, and with a
//! throwaway `gpg` keyring — and checked with `git verify-commit`; then the agent runs over
//! `git daemon` with a PATH holding only `sh` (no git, gpg or ssh-keygen).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::scenario::{CodeRepo, Run, Scenario, INFRA};
use common::{git, git_command, rev_parse};

/// A way to sign (or not) a deploy commit.
#[derive(Clone)]
enum Signer {
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
fn ssh_key(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
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
fn ssh_fingerprint(key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace().nth(1).unwrap().to_string()
}

/// An allowed-signers file listing `keys`, with `options` before each key.
fn allowed_signers(path: &Path, keys: &[&Path], options: &str) {
    let mut text = String::from("# test signers\n");
    for k in keys {
        let public = fs::read_to_string(k.with_extension("pub")).unwrap();
        text.push_str(&format!("dev@example.com {options} {public}"));
    }
    fs::write(path, text).unwrap();
}

/// A throwaway gpg keyring; its agent is stopped when dropped.
struct Keyring {
    home: PathBuf,
}

impl Keyring {
    fn new(dir: &Path) -> Keyring {
        let home = dir.join("gnupg");
        fs::create_dir_all(&home).unwrap();
        let mut perms = fs::metadata(&home).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        fs::set_permissions(&home, perms).unwrap();
        Keyring { home }
    }

    fn gpg(&self, args: &[&str]) -> String {
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
    fn new_key(&self, uid: &str, algo: &str) -> String {
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
    fn fingerprints(&self, uid: &str) -> Vec<String> {
        self.gpg(&["--with-colons", "--fingerprint", "--fingerprint", uid])
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .map(|l| l.split(':').nth(9).unwrap().to_string())
            .collect()
    }

    fn signer(&self, key: &str) -> Signer {
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
fn deploy_signed(s: &Scenario, files: &[(&str, &str)], by: &Signer) -> String {
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

fn push(s: &Scenario, rev: &str) {
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
fn git_verifies(s: &Scenario, by: &Signer, signers: &Path, commit: &str) -> bool {
    let mut cmd = by.git(&s.deploy_work);
    cmd.arg("-c")
        .arg(format!("gpg.ssh.allowedSignersFile={}", signers.display()))
        .args(["verify-commit", commit]);
    cmd.output().unwrap().status.success()
}

/// A PATH holding only `sh` (hooks run through it): no git, gpg or ssh-keygen.
fn bare_path(s: &Scenario) -> PathBuf {
    let bin = s.path().join("only-sh");
    if !bin.exists() {
        fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink("/bin/sh", bin.join("sh")).unwrap();
    }
    bin
}

fn once(s: &Scenario, args: &[&str]) -> Run {
    s.agent()
        .arg("--once")
        .args(args)
        .env("PATH", bare_path(s))
        .output()
        .expect("run gitops-agent")
        .into()
}

/// infra_meta.toml text for `web` at `commit` of `code`.
fn meta(s: &Scenario, apps: &[(&str, &CodeRepo, &str)]) -> (String, String) {
    let text: String = apps
        .iter()
        .map(|(a, code, c)| s.section(a, code, c, ""))
        .collect();
    (format!("{INFRA}/infra_meta.toml"), text)
}

fn head_of(dir: &Path) -> String {
    git(dir, &["rev-parse", "HEAD"])
}

fn deploy_clone_head(s: &Scenario) -> String {
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
fn app_status(s: &Scenario, app: &str) -> (String, String) {
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
fn world(s: &mut Scenario, extra: &str) -> (CodeRepo, String, String) {
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let c2 = common::commit_file(&code.work, "app.txt", "v2\n", "v2");
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    s.config_extra = extra.to_string();
    s.agent_config(&["web"]);
    (code, c1, c2)
}

#[test]
fn ssh_keys_of_each_type_sign_deploys_that_apply() {
    let mut s = Scenario::with_daemon();
    let keys = s.path().join("keys");
    fs::create_dir_all(&keys).unwrap();
    let kinds: Vec<PathBuf> = [
        ("ed25519", &["-t", "ed25519"][..]),
        ("p256", &["-t", "ecdsa", "-b", "256"]),
        ("p384", &["-t", "ecdsa", "-b", "384"]),
        ("rsa", &["-t", "rsa", "-b", "3072"]),
    ]
    .iter()
    .map(|(n, a)| ssh_key(&keys, n, a))
    .collect();
    let signers = keys.join("allowed_signers");
    let refs: Vec<&Path> = kinds.iter().map(PathBuf::as_path).collect();
    allowed_signers(&signers, &refs, "namespaces=\"git\"");
    let (code, c1, c2) = world(
        &mut s,
        &format!("allowed_signers = \"{}\"", signers.display()),
    );
    for (i, key) in kinds.iter().enumerate() {
        let pin = if i % 2 == 0 { &c1 } else { &c2 };
        let by = Signer::Ssh(key.clone());
        let (f, text) = meta(&s, &[("web", &code, pin)]);
        let id = deploy_signed(&s, &[(&f, &text), ("round", &i.to_string())], &by);
        assert!(
            git_verifies(&s, &by, &signers, &id),
            "the world: {id} verifies with git"
        );
        let run = once(&s, &[]);
        run.expect_code(0);
        assert!(
            run.stderr.contains(&ssh_fingerprint(key)),
            "{}: the log names the key as ssh-keygen -l does:\n{}",
            key.display(),
            run.stderr
        );
        assert_eq!(deploy_clone_head(&s), id);
        assert_eq!(head_of(&s.srv("web")), *pin);
    }
    // The agent's own unsigned status commits never trip verification.
    let before = s.monitoring_commits();
    once(&s, &["--force-report"]).expect_code(0);
    once(&s, &["--force-report"]).expect_code(0);
    assert_eq!(s.monitoring_commits(), before + 2);
    assert!(app_status(&s, "web").0.contains("healthy"));
}

#[test]
fn openpgp_keys_sign_deploys_that_apply() {
    let mut s = Scenario::with_daemon();
    let ring = Keyring::new(s.path());
    let ed = ring.new_key("Ed Dev <ed@example.com>", "ed25519");
    let rsa = ring.new_key("Rsa Dev <rsa@example.com>", "rsa2048");
    // a signing subkey: the fingerprint reported is the subkey's
    ring.gpg(&[
        "--passphrase",
        "",
        "--quick-add-key",
        &ed,
        "ed25519",
        "sign",
        "never",
    ]);
    let sub = ring.fingerprints("ed@example.com")[1].clone();
    let keys_file = s.path().join("trusted.asc");
    fs::write(&keys_file, ring.gpg(&["--armor", "--export"])).unwrap();
    let (code, c1, c2) = world(
        &mut s,
        &format!("trusted_pgp_keys = \"{}\"", keys_file.display()),
    );
    let none = s.path().join("no-ssh-signers");
    for (i, key) in [&ed, &rsa, &sub].into_iter().enumerate() {
        let by = ring.signer(key);
        let pin = if i % 2 == 0 { &c1 } else { &c2 };
        let (f, text) = meta(&s, &[("web", &code, pin)]);
        let id = deploy_signed(&s, &[(&f, &text), ("round", &i.to_string())], &by);
        assert!(
            git_verifies(&s, &by, &none, &id),
            "the world: {id} verifies with git"
        );
        let run = once(&s, &[]);
        run.expect_code(0);
        assert!(run.stderr.contains(key.as_str()), "{key}:\n{}", run.stderr);
        assert_eq!(deploy_clone_head(&s), id);
        assert_eq!(head_of(&s.srv("web")), *pin);
    }
    // Altered after signing, for each OpenPGP algorithm: the gpgsig copied onto another tree.
    for key in [&ed, &rsa] {
        let (f, v1) = meta(&s, &[("web", &code, &c1)]);
        let signed = deploy_signed(&s, &[(&f, &v1), ("round", key.as_str())], &ring.signer(key));
        let tree = git(&s.deploy_work, &["rev-parse", "HEAD~1^{tree}"]);
        // another tree (caught by the hash prefix), and the signature value itself altered
        // (the hash prefix still matches: only the signature math can catch it)
        for forged in [
            forge(&s.deploy_work, &signed, &tree),
            flip_signature_byte(&s.deploy_work, &signed),
        ] {
            assert!(!git_verifies(&s, &ring.signer(key), &none, &forged));
            push(&s, &forged);
            once(&s, &[]).expect_code(1);
            let (_, why) = app_status(&s, "web");
            assert!(
                why.contains(&forged[..12]) && why.contains("bad signature"),
                "{why}"
            );
        }
        git(&s.deploy_work, &["reset", "--quiet", "--hard", "HEAD~1"]);
        push(&s, "HEAD");
    }
    // An ssh signature when only OpenPGP keys are trusted is an unknown key.
    let ssh = ssh_key(s.path(), "stray", &["-t", "ed25519"]);
    let id = deploy_signed(&s, &[("round", "ssh")], &Signer::Ssh(ssh.clone()));
    once(&s, &[]).expect_code(1);
    let (status, why) = app_status(&s, "web");
    assert_eq!(status, "❌ config update failed");
    assert!(why.contains(&id[..12]), "{why}");
    assert!(
        why.contains(&format!("unknown key {}", ssh_fingerprint(&ssh))),
        "{why}"
    );
}

#[test]
fn unverified_tips_are_refused_with_their_reason() {
    let mut s = Scenario::with_daemon();
    let good = ssh_key(s.path(), "good", &["-t", "ed25519"]);
    let stranger = ssh_key(s.path(), "stranger", &["-t", "ed25519"]);
    let signers = s.path().join("allowed_signers");
    allowed_signers(&signers, &[&good], "");
    let (code, c1, c2) = world(
        &mut s,
        &format!("allowed_signers = \"{}\"", signers.display()),
    );
    let good_by = Signer::Ssh(good.clone());
    let (f, v1) = meta(&s, &[("web", &code, &c1)]);
    let (_, v2) = meta(&s, &[("web", &code, &c2)]);
    let a = deploy_signed(&s, &[(&f, &v1)], &good_by);
    once(&s, &[]).expect_code(0);
    assert_eq!(head_of(&s.srv("web")), c1);

    let refused = |id: &str, reason: &str| {
        let run = once(&s, &[]);
        run.expect_code(1);
        let (status, why) = app_status(&s, "web");
        assert_eq!(status, "❌ config update failed", "{}", run.stderr);
        assert!(
            why.contains(&id[..12]) && why.contains(reason),
            "{reason}: {why}"
        );
        // nothing of it was used: the clone stays, the app stays
        assert_eq!(deploy_clone_head(&s), a);
        assert_eq!(head_of(&s.srv("web")), c1);
        git(&s.deploy_work, &["reset", "--quiet", "--hard", &a]);
    };

    let id = deploy_signed(&s, &[(&f, &v2)], &Signer::Unsigned);
    assert!(!git_verifies(&s, &good_by, &signers, &id));
    refused(&id, "unsigned");

    let id = deploy_signed(&s, &[(&f, &v2)], &Signer::Ssh(stranger.clone()));
    assert!(!git_verifies(&s, &good_by, &signers, &id));
    refused(&id, &format!("unknown key {}", ssh_fingerprint(&stranger)));

    // Altered after signing: a signed commit's gpgsig copied onto another tree.
    let signed = deploy_signed(&s, &[(&f, &v1), ("note", "signed\n")], &good_by);
    git(&s.deploy_work, &["reset", "--quiet", "--hard", &a]);
    let unsigned = deploy_signed(&s, &[(&f, &v2), ("note", "evil\n")], &Signer::Unsigned);
    let evil_tree = git(
        &s.deploy_work,
        &["rev-parse", &format!("{unsigned}^{{tree}}")],
    );
    let forged = forge(&s.deploy_work, &signed, &evil_tree);
    assert!(!git_verifies(&s, &good_by, &signers, &forged));
    push(&s, &forged);
    refused(&forged, "bad signature");

    // A rewind: a newer signed tip is applied, then the branch is forced back to `a`.
    let e = deploy_signed(&s, &[(&f, &v2)], &good_by);
    once(&s, &[]).expect_code(0);
    assert_eq!(head_of(&s.srv("web")), c2);
    push(&s, &a);
    let run = once(&s, &[]);
    run.expect_code(1);
    let (_, why) = app_status(&s, "web");
    assert!(
        why.contains(&format!("rewind from {} to {}", &e[..12], &a[..12])),
        "{why}"
    );
    assert_eq!(head_of(&s.srv("web")), c2);

    // A wiped $GITOPS_AGENT_HOME forgets the last tip: the next verified tip is accepted,
    // even an older one (README "Signed deploys").
    fs::remove_dir_all(&s.home).unwrap();
    once(&s, &[]).expect_code(0);
    assert_eq!(deploy_clone_head(&s), a);
}

/// `signed` with its tree swapped for `tree`, gpgsig kept: a commit altered after signing,
/// written with `git hash-object -w -t commit`.
fn forge(dir: &Path, signed: &str, tree: &str) -> String {
    let raw = git(dir, &["cat-file", "commit", signed]);
    let mut lines: Vec<String> = raw.lines().map(str::to_string).collect();
    lines[0] = format!("tree {tree}");
    hash_object(dir, &(lines.join("\n") + "\n"))
}

/// `signed` with the last byte of its OpenPGP signature packet changed (armor rebuilt
/// without the optional CRC line), written as a new commit object.
fn flip_signature_byte(dir: &Path, signed: &str) -> String {
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
fn hash_object(dir: &Path, text: &str) -> String {
    let path = dir.join(".git").join("forged");
    fs::write(&path, text).unwrap();
    let id = git(
        dir,
        &["hash-object", "-w", "-t", "commit", path.to_str().unwrap()],
    );
    fs::remove_file(path).unwrap();
    id
}

#[test]
fn a_refused_group_leaves_other_groups_alone_and_short_pins_fail_only_their_app() {
    let mut s = Scenario::with_daemon();
    let good = ssh_key(s.path(), "good", &["-t", "ed25519"]);
    let signers = s.path().join("allowed_signers");
    allowed_signers(&signers, &[&good], "");
    let (code, c1, _) = world(
        &mut s,
        &format!("allowed_signers = \"{}\"", signers.display()),
    );
    let (api, a1) = s.code_repo("api", &[("api.txt", "1\n")]);
    let by = Signer::Ssh(good);
    // main: web pinned by a prefix, api by the full id → web fails, api deploys
    let f = format!("{INFRA}/infra_meta.toml");
    let text = format!(
        "{}{}",
        s.section("web", &code, &c1[..10], ""),
        s.section("api", &api, &a1, "")
    );
    deploy_signed(&s, &[(&f, &text)], &by);
    // branch `other` holds an unsigned commit for app `tool`
    git(&s.deploy_work, &["checkout", "--quiet", "-b", "other"]);
    fs::write(s.deploy_work.join(&f), s.section("tool", &api, &a1, "")).unwrap();
    git(&s.deploy_work, &["commit", "--quiet", "-am", "tool"]);
    git(
        &s.deploy_work,
        &["push", "--quiet", "origin", "HEAD:refs/heads/other"],
    );
    let config = format!(
        "infra_name = \"{INFRA}\"\nallowed_signers = \"{}\"\n[applications]\nweb = \"{url}@main\"\napi = \"{url}@main\"\ntool = \"{url}@other\"\n",
        signers.display(),
        url = s.deploy_url
    );
    fs::write(&s.config, config).unwrap();
    once(&s, &[]).expect_code(1);
    let (status, why) = app_status(&s, "web");
    assert_eq!(status, "❌ config update failed");
    assert!(why.contains("code_commit_hash"), "{why}");
    assert!(!s.srv("web").exists());
    assert_eq!(app_status(&s, "api").0, "✅ healthy");
    assert_eq!(head_of(&s.srv("api")), a1);
    let other = git(
        &s.deploy_bare,
        &["show", &format!("other-monitoring:{INFRA}.toml")],
    );
    assert!(
        other.contains("unsigned") && other.contains("config update failed"),
        "{other}"
    );
    assert!(!s.srv("tool").exists());
    assert!(rev_parse(&s.deploy_bare, "other-monitoring").is_some());
}

#[test]
fn without_verification_a_rewind_is_followed_with_a_warning() {
    let mut s = Scenario::with_daemon();
    let (code, c1, c2) = world(&mut s, "");
    let (f, v1) = meta(&s, &[("web", &code, &c1)]);
    let (_, v2) = meta(&s, &[("web", &code, &c2)]);
    let a = deploy_signed(&s, &[(&f, &v1)], &Signer::Unsigned);
    let b = deploy_signed(&s, &[(&f, &v2)], &Signer::Unsigned);
    once(&s, &[]).expect_code(0);
    assert_eq!(head_of(&s.srv("web")), c2);
    push(&s, &a);
    let run = once(&s, &[]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("WARN")
            && run
                .stderr
                .contains(&format!("rewind from {} to {}", &b[..12], &a[..12])),
        "{}",
        run.stderr
    );
    assert_eq!(head_of(&s.srv("web")), c1);
}

#[test]
fn unusable_key_files_are_config_errors_naming_the_file() {
    let s = Scenario::new();
    let bad_pgp = s.path().join("keys.asc");
    fs::write(&bad_pgp, "not a key\n").unwrap();
    let ca = s.path().join("ca_signers");
    fs::write(&ca, "*@example.com cert-authority ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOxLzq0WUzTbDampfu9o8/NMe+U4VSC/f4HdzLNmjuig\n").unwrap();
    for (line, named, what) in [
        (
            "allowed_signers = \"/nonexistent/allowed_signers\"",
            "/nonexistent/allowed_signers",
            "cannot read",
        ),
        (
            &format!("trusted_pgp_keys = \"{}\"", bad_pgp.display()),
            &bad_pgp.display().to_string(),
            "PUBLIC KEY BLOCK",
        ),
        (
            &format!("allowed_signers = \"{}\"", ca.display()),
            &ca.display().to_string(),
            "cert-authority",
        ),
        (
            "allowed_signers = \"relative/path\"",
            "allowed_signers",
            "absolute",
        ),
    ] {
        let text = format!(
            "infra_name = \"{INFRA}\"\n{line}\n[applications]\nweb = \"{}@main\"\n",
            s.deploy_url
        );
        fs::write(&s.config, text).unwrap();
        let run = once(&s, &[]);
        run.expect_code(2);
        assert!(
            run.stderr.contains(named) && run.stderr.contains(what),
            "{line}:\n{}",
            run.stderr
        );
        assert!(!s.home.join("app-configs").exists(), "nothing is cloned");
    }
}
