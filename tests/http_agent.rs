//! The agent end to end over smart HTTP(S): `git http-backend` behind a Basic-auth server on
//! 127.0.0.1 (tests/support_http), for the deploy repo, the code repo and the monitoring push.

mod common;
mod support_http;

use common::scenario::{CodeRepo, Scenario};
use common::{commit_file, fsck, git};
use support_http::{make_tls, start, Options, Server};

const USER: &str = "alice";
const TOKEN: &str = "tok-S3CRET-4711";

fn serve(s: &Scenario, tls: Option<std::sync::Arc<rustls::ServerConfig>>) -> Server {
    start(Options {
        root: s.path().join("served"),
        credentials: Some((USER.into(), TOKEN.into())),
        tls,
    })
}

fn assert_no_token(text: &str) {
    assert!(!text.contains(TOKEN), "token leaked:\n{text}");
}

/// Point the scenario and `code` at the http server, with `userinfo` (e.g. `alice:tok@`).
fn over_http(s: &mut Scenario, code: &mut CodeRepo, scheme: &str, port: u16, userinfo: &str) {
    s.deploy_url = format!("{scheme}://{userinfo}127.0.0.1:{port}/deploy.git");
    code.url = format!("{scheme}://{userinfo}127.0.0.1:{port}/web.git");
}

#[test]
fn http_clone_unchanged_changed_push_and_trim() {
    let mut s = Scenario::new();
    let server = serve(&s, None);
    let (mut code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    over_http(
        &mut s,
        &mut code,
        "http",
        server.port,
        &format!("{USER}:{TOKEN}@"),
    );
    s.config_extra = "monitoring_history_retention_days = 0".into();
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);

    // first pass: clones over http, creates the monitoring branch by push
    let run = s.once();
    run.expect_code(0);
    assert_no_token(&run.stderr);
    assert_eq!(git(&s.srv("web"), &["rev-parse", "HEAD"]), c1);
    assert_eq!(s.monitoring_commits(), 1);
    fsck(&s.deploy_bare);
    assert_no_token(&s.feedback_text());
    // no token on disk either: the clones' origin urls carry none
    for dir in std::fs::read_dir(s.home.join("app-configs")).unwrap() {
        assert_no_token(&std::fs::read_to_string(dir.unwrap().path().join(".git/config")).unwrap());
    }
    assert_no_token(&std::fs::read_to_string(s.srv("web").join(".git/config")).unwrap());

    // unchanged: two fetches of the deploy repo, nothing pushed
    let before = server.requests().len();
    s.once().expect_code(0);
    let new: Vec<String> = server.requests()[before..].to_vec();
    assert!(
        new.iter()
            .all(|r| r.contains("/deploy.git/") && !r.contains("receive-pack")),
        "{new:?}"
    );
    assert_eq!(s.monitoring_commits(), 1);

    // changed: new commit fetched over http, status fast-forwarded; retention 0 squashes
    let c2 = commit_file(&code.work, "app.txt", "v2\n", "v2");
    git(&code.work, &["push", "--quiet", "origin", "HEAD:main"]);
    s.infra_meta(&[s.section("web", &code, &c2, "")]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let run = s.once();
    run.expect_code(0);
    assert_no_token(&run.stderr);
    assert_eq!(git(&s.srv("web"), &["rev-parse", "HEAD"]), c2);
    assert_eq!(s.monitoring_commits(), 2, "fast-forward");
    fsck(&s.deploy_bare);
    // one more report: the two older commits are squashed and force-pushed over http
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.once_with(&["--force-report"]).expect_code(0);
    let log = git(
        &s.deploy_bare,
        &["log", "--format=%P|%s", "main-monitoring"],
    );
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[1].starts_with("|📉 History trimmed"),
        "forced trim pushed over http: {log}"
    );
    fsck(&s.deploy_bare);
    assert!(server
        .requests()
        .iter()
        .any(|r| r.contains("git-receive-pack")));
}

#[test]
fn https_with_private_ca_and_password_file() {
    let mut s = Scenario::new();
    let (ca, tls) = make_tls(s.path());
    let server = serve(&s, Some(tls));
    let token_file = s.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let (mut code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    over_http(&mut s, &mut code, "https", server.port, &format!("{USER}@"));
    s.infra_meta(&[s.section("web", &code, &c1, "")]);

    // without the CA: a certificate error that says what to do
    s.config_extra = format!("https_password_file = \"{}\"", token_file.display());
    s.agent_config(&["web"]);
    let run = s.once();
    run.expect_code(1);
    assert!(run.stderr.contains("https_ca_file"), "{}", run.stderr);

    s.config_extra = format!(
        "https_password_file = \"{}\"\nhttps_ca_file = \"{}\"",
        token_file.display(),
        ca.display()
    );
    s.agent_config(&["web"]);
    let run = s.once();
    run.expect_code(0);
    assert_no_token(&run.stderr);
    assert_eq!(git(&s.srv("web"), &["rev-parse", "HEAD"]), c1);
    assert_eq!(s.feedback()["web"]["status"].as_str(), Some("✅ healthy"));
    fsck(&s.deploy_bare);
}

#[test]
fn wrong_credentials_fail_clearly_without_the_secret() {
    let mut s = Scenario::new();
    let server = serve(&s, None);
    let (mut code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    over_http(
        &mut s,
        &mut code,
        "http",
        server.port,
        "alice:wrong-S3CRET@",
    );
    s.agent_config(&["web"]);
    let run = s.once();
    run.expect_code(1);
    assert!(
        run.stderr.contains("authentication failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("127.0.0.1:{}/deploy", server.port)),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("wrong-S3CRET"), "{}", run.stderr);
    assert!(!s.srv("web").exists());
}
