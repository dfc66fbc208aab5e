//! SPEC §10, where config files and code go, built as the attacker would: a code repo
//! commits a symlink where a config file will be written, a local user plants a link in a
//! folder anyone may write, infra_meta points a code folder at the agent's own home.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::git;
use common::scenario::{CodeRepo, Scenario, INFRA};

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A code repo whose one commit holds `app.txt` and a symlink `link` -> `target`.
fn code_with_symlink(s: &Scenario, link: &str, target: &Path) -> (CodeRepo, String) {
    let (code, _) = s.code_repo("web", &[("app.txt", "v1\n")]);
    std::os::unix::fs::symlink(target, code.work.join(link)).unwrap();
    git(&code.work, &["add", "-A"]);
    git(&code.work, &["commit", "-qm", "innocent"]);
    git(&code.work, &["push", "-q", "origin", "HEAD:main"]);
    let c = git(&code.work, &["rev-parse", "HEAD"]);
    (code, c)
}

fn config_files(src: &str, dst: &Path, extra: &str) -> String {
    format!(
        "config_files = [ {{ src = \"{INFRA}/{src}\", dst = \"{}\"{extra} }} ]",
        dst.display()
    )
}

fn config_side(s: &Scenario, app: &str) -> (String, String) {
    let fb = s.feedback();
    (
        fb[app]["status"].as_str().unwrap().to_string(),
        fb[app]["config-updation"]["git-status"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

/// `conf -> /srv/web-public` committed in the code repo, `dst = /srv/web/conf/secret.env`:
/// the secret would land in the web root. Refused on the pass that checks the link out, and
/// on every pass after.
#[test]
fn code_repo_symlinked_folder_cannot_send_a_config_file_outside_the_app() {
    let s = Scenario::new();
    let public = s.path().join("web-public");
    fs::create_dir_all(&public).unwrap();
    let (code, c) = code_with_symlink(&s, "conf", &public);
    s.deploy(&[(&format!("{INFRA}/secret.env"), "SECRET=1\n")]);
    let dst = s.srv("web").join("conf/secret.env");
    s.infra_meta(&[s.section("web", &code, &c, &config_files("secret.env", &dst, ""))]);
    s.agent_config(&["web"]);
    for _ in 0..2 {
        let run = s.once();
        run.expect_code(1);
        assert!(!public.join("secret.env").exists(), "{}", run.stderr);
        let (status, why) = config_side(&s, "web");
        assert_eq!(status, "❌ config update failed");
        assert!(
            why.contains(&s.srv("web").join("conf").display().to_string()),
            "{why}"
        );
    }
}

/// `app.env -> /etc/passwd` committed in the code repo, `dst` = that link: refused, naming
/// it; the victim is untouched.
#[test]
fn code_repo_symlink_at_the_dst_is_refused() {
    let s = Scenario::new();
    let victim = s.path().join("victim-passwd");
    fs::write(&victim, "root:x:0:0\n").unwrap();
    let (code, c) = code_with_symlink(&s, "app.env", &victim);
    s.deploy(&[(&format!("{INFRA}/app.env"), "SECRET=1\n")]);
    let dst = s.srv("web").join("app.env");
    s.infra_meta(&[s.section("web", &code, &c, &config_files("app.env", &dst, ""))]);
    s.agent_config(&["web"]);
    s.once().expect_code(1);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "root:x:0:0\n");
    let (status, why) = config_side(&s, "web");
    assert_eq!(status, "❌ config update failed");
    assert!(why.contains(&dst.display().to_string()), "{why}");
    assert!(fs::symlink_metadata(&dst).unwrap().file_type().is_symlink());
}

/// OpenWrt's `/var -> /tmp`: a link owned by root in a folder only root may write is
/// followed. The same link in a folder anyone may write is a local user's trap
/// (protected_symlinks): refused, naming it.
#[test]
fn system_symlink_is_followed_but_one_in_a_world_writable_folder_is_refused() {
    let s = Scenario::new();
    let (code, c) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let root = s.path().join("sysroot");
    fs::create_dir_all(root.join("tmp")).unwrap();
    std::os::unix::fs::symlink(root.join("tmp"), root.join("var")).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    s.deploy(&[(&format!("{INFRA}/app.env"), "A=1\n")]);
    let dst = root.join("var/run/app.env");
    s.infra_meta(&[s.section("web", &code, &c, &config_files("app.env", &dst, ""))]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    assert_eq!(
        fs::read_to_string(root.join("tmp/run/app.env")).unwrap(),
        "A=1\n"
    );

    fs::remove_file(root.join("tmp/run/app.env")).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).unwrap();
    s.once().expect_code(1);
    assert!(!root.join("tmp/run/app.env").exists());
    let (status, why) = config_side(&s, "web");
    assert_eq!(status, "❌ config update failed");
    assert!(
        why.contains(&root.join("var").display().to_string()),
        "{why}"
    );
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
}

/// `mode = "0600"`: a new file is created 0600, an existing 0644 one with the same bytes
/// becomes 0600 (it is not "in sync" while its mode differs).
#[test]
fn config_file_mode_applies_to_new_and_existing_files() {
    let s = Scenario::new();
    let (code, c) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.deploy(&[(&format!("{INFRA}/a.env"), "A=1\n")]);
    s.deploy(&[(&format!("{INFRA}/b.env"), "B=1\n")]);
    let out = s.path().join("etc-app");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("b.env"), "B=1\n").unwrap();
    fs::set_permissions(out.join("b.env"), fs::Permissions::from_mode(0o644)).unwrap();
    let files = format!(
        "config_files = [ {{ src = \"{INFRA}/a.env\", dst = \"{}\", mode = \"0600\" }}, {{ src = \"{INFRA}/b.env\", dst = \"{}\", mode = \"0600\" }} ]",
        out.join("a.env").display(),
        out.join("b.env").display()
    );
    s.infra_meta(&[s.section("web", &code, &c, &files)]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    assert_eq!(mode(&out.join("a.env")), 0o600);
    assert_eq!(mode(&out.join("b.env")), 0o600);
    // someone loosens it: that is drift, and it is put back
    fs::set_permissions(out.join("a.env"), fs::Permissions::from_mode(0o644)).unwrap();
    s.once().expect_code(0);
    assert_eq!(mode(&out.join("a.env")), 0o600);
    assert_eq!(fs::read_to_string(out.join("a.env")).unwrap(), "A=1\n");
}

/// A code folder at the agent's home, inside it, or holding it (also through a symlink)
/// would let a code repo overwrite the deploy clones and the agent's records: refused
/// before anything runs.
#[test]
fn code_local_path_at_inside_or_holding_the_agent_home_is_refused() {
    let s = Scenario::new();
    let (code, c) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c, "")]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    let link = s.path().join("home-link");
    std::os::unix::fs::symlink(&s.home, &link).unwrap();
    let marker = s.path().join("hook-ran");
    for bad in [
        s.home.clone(),
        s.home.join("app-configs"),
        link.join("state"),
        s.path().to_path_buf(),
    ] {
        let section = format!(
            "[web]\ncode_url = \"{}\"\ncode_commit_hash = \"{c}\"\ncode_local_path = \"{}\"\npre_updation_command = \"touch {}\"\n",
            code.url,
            bad.display(),
            marker.display()
        );
        s.infra_meta(&[section]);
        s.once().expect_code(1);
        let (status, why) = config_side(&s, "web");
        assert_eq!(status, "❌ config update failed", "{}", bad.display());
        assert!(why.contains("code_local_path"), "{why}");
        assert!(!marker.exists(), "{}", bad.display());
        assert!(!bad.join(".git").exists(), "{}", bad.display());
    }
}
