//! Thin links (SPEC §14) over http, https and ssh: the transports negotiate shallow fetches
//! differently (http is stateless: every round is a new request carrying the shallow
//! state; ssh and git:// keep one connection), so the tip-pin bound is checked on each. The
//! byte-counting proxy sits in front of the http server or sshd; git's own
//! `git fetch --depth 1` goes through the same proxy.

mod common;
mod support_http;
mod support_proxy;
mod support_ssh;
mod support_thin;

use common::git;
use common::scenario::Scenario;
use support_proxy::Proxy;
use support_ssh::Sshd;
use support_thin::*;

/// First sync of `web` pinned at its tip over `url` (through `proxy`), against git's
/// depth-1 fetch of the same commit; `env` is what git needs to reach the server.
fn tip_pin_costs_what_git_costs(
    s: &mut Scenario,
    what: &str,
    proxy: &Proxy,
    url: String,
    env: &[(&str, &str)],
) {
    let (mut code, ids) = long_history(s, "web", 20);
    code.url = url;
    let tip = ids.last().unwrap();
    s.agent_config(&["web"]);
    pin(s, &code, tip);
    proxy.take();
    let run = s.once();
    eprintln!("{}", run.stderr);
    run.expect_code(0);
    let agent = proxy.take().bytes;
    assert_eq!(git(&s.srv("web"), &["rev-parse", "HEAD"]), *tip);
    assert!(s.srv("web").join(".git/shallow").exists());
    let git_bytes = git_depth_1(proxy, &code.url, tip, env);
    assert_thin(what, agent, git_bytes);
    git(&s.srv("web"), &["fsck", "--no-progress"]);
}

#[test]
fn tip_pin_over_http_costs_what_git_fetch_depth_1_costs() {
    let mut s = Scenario::new();
    let server = support_http::start(support_http::Options {
        root: s.path().join("served"),
        credentials: None,
        tls: None,
    });
    let proxy = Proxy::start(server.port);
    let url = format!("http://127.0.0.1:{}/web.git", proxy.port);
    tip_pin_costs_what_git_costs(&mut s, "tip pin over http", &proxy, url, &[]);
    // Protocol v2 was spoken (by id needs no advertisement of every ref).
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.contains("/web.git/") && r.contains("version=2")),
        "{:?}",
        server.requests()
    );
}

#[test]
fn tip_pin_over_https_costs_what_git_fetch_depth_1_costs() {
    let mut s = Scenario::new();
    let (ca, tls) = support_http::make_tls(s.path());
    let server = support_http::start(support_http::Options {
        root: s.path().join("served"),
        credentials: None,
        tls: Some(tls),
    });
    let proxy = Proxy::start(server.port);
    let url = format!("https://127.0.0.1:{}/web.git", proxy.port);
    s.config_extra = format!("https_ca_file = \"{}\"", ca.display());
    let ca = ca.display().to_string();
    tip_pin_costs_what_git_costs(
        &mut s,
        "tip pin over https",
        &proxy,
        url,
        &[("GIT_SSL_CAINFO", &ca)],
    );
}

#[test]
fn tip_pin_over_ssh_costs_what_git_fetch_depth_1_costs() {
    let Some(sshd) = Sshd::start("tip_pin_over_ssh_costs_what_git_fetch_depth_1_costs") else {
        return;
    };
    let mut s = Scenario::new();
    let proxy = Proxy::start(sshd.port);
    // The host key, known under the proxy's port.
    let known = std::fs::read_to_string(&sshd.known_hosts).unwrap().replace(
        &format!("[127.0.0.1]:{}", sshd.port),
        &format!("[127.0.0.1]:{}", proxy.port),
    );
    let known_hosts = s.path().join("known_hosts");
    std::fs::write(&known_hosts, known).unwrap();
    let command = sshd.command_with(&sshd.key, &known_hosts);
    s.config_extra = format!("ssh_command = '{command}'");
    let bare = s.path().join("served/web.git");
    let url = format!(
        "ssh://{}@127.0.0.1:{}{}",
        sshd.user,
        proxy.port,
        bare.display()
    );
    tip_pin_costs_what_git_costs(
        &mut s,
        "tip pin over ssh",
        &proxy,
        url,
        &[("GIT_SSH_COMMAND", &command)],
    );
}
