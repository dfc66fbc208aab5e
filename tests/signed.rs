//! Signed deploys (SPEC §11) end to end. Commits are signed as developers sign them —
//! `git commit -S` with `gpg.format=ssh` and `ssh-keygen` keys of each type, and with a
//! throwaway `gpg` keyring — and checked with `git verify-commit`; then the agent runs over
//! `git daemon` with a PATH holding only `sh` (no git, gpg or ssh-keygen).

mod common;
mod support_signed;

use std::fs;
use std::path::{Path, PathBuf};

use common::scenario::{Scenario, INFRA};
use common::{git, rev_parse};
use support_signed::*;

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
        assert!(!run.stderr.contains("without signature verification"));
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
fn without_verification_a_rewind_is_followed_and_turning_it_on_checks_the_current_tip() {
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
    // git:// without verification is said every pass (SPEC §10)
    assert!(
        run.stderr.contains("git:// without signature verification"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("WARN")
            && run
                .stderr
                .contains(&format!("rewind from {} to {}", &b[..12], &a[..12])),
        "{}",
        run.stderr
    );
    assert_eq!(head_of(&s.srv("web")), c1);

    // Verification turned on later: the unsigned commit the clone sits on is not trusted
    // just because it is already there.
    let key = ssh_key(s.path(), "k", &["-t", "ed25519"]);
    let signers = s.path().join("allowed_signers");
    allowed_signers(&signers, &[&key], "");
    s.config_extra = format!("allowed_signers = \"{}\"", signers.display());
    s.agent_config(&["web"]);
    once(&s, &[]).expect_code(1);
    let (status, why) = app_status(&s, "web");
    assert_eq!(status, "❌ config update failed");
    assert!(
        why.contains(&format!("{} refused: unsigned", &a[..12])),
        "{why}"
    );
    let c = deploy_signed(&s, &[("signed", "yes")], &Signer::Ssh(key));
    once(&s, &[]).expect_code(0);
    assert_eq!(deploy_clone_head(&s), c);
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
