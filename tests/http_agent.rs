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

/// A TCP relay to `upstream` that passes the first `limit` bytes the server sends on each
/// connection, then goes silent while keeping the connection open (a link that dies
/// mid-transfer without a reset).
fn stalling_relay(upstream: u16, limit: usize) -> u16 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
            });
            std::thread::spawn(move || {
                let mut sent = 0;
                let mut buf = [0u8; 4096];
                while let Ok(n) = server.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let pass = n.min(limit.saturating_sub(sent));
                    if pass == 0 {
                        // silent from here on; hold the socket open
                        std::thread::sleep(std::time::Duration::from_secs(120));
                        break;
                    }
                    if client.write_all(&buf[..pass]).is_err() {
                        break;
                    }
                    sent += pass;
                }
            });
        }
    });
    port
}

/// Issue 14.2: an https read timeout in the middle of a pack used to read "Failed to write
/// the received pack: … timed out reading response": "write" for a read, and no hint. It
/// now names the operation, the bound and the key.
#[test]
fn https_read_timeout_mid_pack_names_the_read_the_bound_and_the_key() {
    let mut s = Scenario::new();
    let (ca, tls) = make_tls(s.path());
    let server = serve(&s, Some(tls));
    // incompressible, so the pack is far longer than what the relay lets through
    let mut noise = vec![0u8; 2_000_000];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").unwrap(),
        &mut noise,
    )
    .unwrap();
    let (mut code, _) = s.code_repo("web", &[("app.txt", "v1\n")]);
    std::fs::write(code.work.join("big.bin"), &noise).unwrap();
    git(&code.work, &["add", "big.bin"]);
    git(&code.work, &["commit", "-qm", "big"]);
    git(&code.work, &["push", "-q", "origin", "HEAD:main"]);
    let c2 = git(&code.work, &["rev-parse", "HEAD"]);
    over_http(
        &mut s,
        &mut code,
        "https",
        server.port,
        &format!("{USER}:{TOKEN}@"),
    );
    let relay = stalling_relay(server.port, 200_000);
    code.url = format!("https://{USER}:{TOKEN}@127.0.0.1:{relay}/web.git");
    s.infra_meta(&[s.section("web", &code, &c2, "")]);
    s.config_extra = format!("network_timeout = 2\nhttps_ca_file = \"{}\"", ca.display());
    s.agent_config(&["web"]);
    let run = s.once();
    run.expect_code(1);
    assert_no_token(&run.stderr);
    let fb = s.feedback_text();
    for text in [&run.stderr, &fb] {
        assert!(text.contains("timed out reading"), "{text}");
        assert!(text.contains("network_timeout = 2 s"), "{text}");
        assert!(!text.contains("Failed to write"), "{text}");
    }
}

/// Issue 14.4: a user in the url and no password anywhere used to end in a bare
/// "authentication failed"; the error now says that no password was configured.
#[test]
fn user_without_a_password_is_told_that_none_was_configured() {
    let mut s = Scenario::new();
    let server = serve(&s, None);
    let (mut code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    over_http(&mut s, &mut code, "http", server.port, &format!("{USER}@"));
    s.agent_config(&["web"]);
    let run = s.once();
    run.expect_code(1);
    assert!(
        run.stderr.contains("no password was configured")
            && run.stderr.contains("https_password_file"),
        "{}",
        run.stderr
    );
}

/// Issue 14.3: a device migrated from the Python agent trusts its private CA through git's
/// `GIT_SSL_CAINFO`; with `https_ca_file` unset the agent reads it too.
#[test]
fn git_ssl_cainfo_is_honoured_when_https_ca_file_is_unset() {
    let mut s = Scenario::new();
    let (ca, tls) = make_tls(s.path());
    let server = serve(&s, Some(tls));
    let (mut code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    over_http(
        &mut s,
        &mut code,
        "https",
        server.port,
        &format!("{USER}:{TOKEN}@"),
    );
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    s.agent_config(&["web"]);
    // without it: the unknown-issuer error names both settings
    let run = s.once();
    run.expect_code(1);
    assert!(run.stderr.contains("GIT_SSL_CAINFO"), "{}", run.stderr);
    let out = s
        .agent()
        .arg("--once")
        .env("GIT_SSL_CAINFO", &ca)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(git(&s.srv("web"), &["rev-parse", "HEAD"]), c1);
}
