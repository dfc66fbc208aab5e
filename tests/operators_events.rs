//! Events (SPEC §13) through the real binary: each event exactly once over a failing → fixed
//! sequence, `on_event_command` (JSON on stdin, `GITOPS_EVENT`, the hook environment), a
//! webhook on 127.0.0.1 with its bearer token, the outbox delivering after the receiver comes
//! back (once per sink), the token kept out of logs, state and branch, and a receiver that
//! accepts and never answers bounding neither the pass nor SIGTERM.

mod common;
mod support_events;
mod support_http;

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::scenario::{Scenario, INFRA};
use support_events::{field, free_port, Mode, Receiver};

const TOKEN: &str = "tok-3f9a1c-never-shown";

/// An on_event_command that appends the JSON it gets on stdin to `<tmp>/events.jsonl`, and
/// `$GITOPS_EVENT $GITOPS_APP <GITOPS_AGENT_* count>` to `<tmp>/names`.
fn recording_command(s: &Scenario) -> String {
    format!(
        "on_event_command = \"cat >> {d}/events.jsonl; echo $GITOPS_EVENT $GITOPS_APP $(env | grep -c ^GITOPS_AGENT_) >> {d}/names\"\n",
        d = s.path().display()
    )
}

fn lines(path: PathBuf) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn outbox(s: &Scenario) -> PathBuf {
    s.home.join("state/events/outbox")
}

fn outbox_len(s: &Scenario) -> usize {
    fs::read_dir(outbox(s)).map_or(0, |d| d.count())
}

/// A post command failing until `<tmp>/fixed` exists: app_failed once, then (fixed)
/// app_updated + app_recovered once, then nothing; the command gets each event's JSON on
/// stdin with GITOPS_EVENT, and no GITOPS_AGENT_* variable.
#[test]
fn failing_then_fixed_fires_each_event_exactly_once() {
    let mut s = Scenario::new();
    s.config_extra = recording_command(&s);
    let fixed = s.path().join("fixed");
    s.one_app(&format!("test -f {}", fixed.display()));
    s.once().expect_code(1);
    s.once().expect_code(1);
    let names = lines(s.path().join("names"));
    assert_eq!(names, ["app_failed web 0"]);
    fs::write(&fixed, "").unwrap();
    s.once().expect_code(0);
    s.once().expect_code(0);
    assert_eq!(
        lines(s.path().join("names")),
        [
            "app_failed web 0",
            "app_updated web 0",
            "app_recovered web 0"
        ]
    );
    let events = lines(s.path().join("events.jsonl"));
    assert_eq!(events.len(), 3, "{events:?}");
    for (json, name) in events
        .iter()
        .zip(["app_failed", "app_updated", "app_recovered"])
    {
        assert_eq!(field(json, "event").as_deref(), Some(name), "{json}");
        assert_eq!(field(json, "infra").as_deref(), Some(INFRA));
        assert_eq!(field(json, "app").as_deref(), Some("web"));
        assert!(field(json, "time").unwrap().ends_with('Z'));
        assert!(field(json, "id").is_some());
    }
    assert_eq!(
        field(&events[0], "message").as_deref(),
        Some("post command exited 1")
    );
    assert_eq!(outbox_len(&s), 0, "delivered events leave the outbox");
}

/// A health check failing after an update: app_rolled_back once (not again while the
/// refused section is held), naming the refused commit; nothing else.
#[test]
fn a_rollback_fires_app_rolled_back_once() {
    let mut s = Scenario::new();
    s.config_extra = recording_command(&s);
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let health = "health_command = \"grep -qx v1 app.txt\"\nhealth_retries = 1";
    s.infra_meta(&[s.section("web", &code, &c1, health)]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    let c2 = common::safe::code_commit(&code, "v2\n");
    s.infra_meta(&[s.section("web", &code, &c2, health)]);
    s.once().expect_code(1);
    s.once().expect_code(1);
    assert_eq!(
        lines(s.path().join("names")),
        ["app_updated web 0", "app_rolled_back web 0"]
    );
    let events = lines(s.path().join("events.jsonl"));
    assert_eq!(field(&events[1], "commit").as_deref(), Some(c2.as_str()));
}

/// Webhook down for a pass, then up: the event waits in the outbox (0600 in 0700), is
/// delivered once with the bearer token, and the command (which took it at once) is not
/// run for it again. The token is in no log, no state file and not on the branch.
#[test]
fn outbox_delivers_once_per_sink_after_the_receiver_comes_back() {
    let mut s = Scenario::new();
    let port = free_port();
    let token_file = s.path().join("webhook-token");
    fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    s.config_extra = format!(
        "{}webhook_url = \"http://127.0.0.1:{port}/hook\"\nwebhook_token_file = \"{}\"\n",
        recording_command(&s),
        token_file.display()
    );
    s.one_app("true");
    let mut logs = s.once().expect_code(0).stderr.clone();
    assert!(logs.contains("not delivered to the webhook"), "{logs}");
    assert_eq!(outbox_len(&s), 1);
    let entry = fs::read_dir(outbox(&s)).unwrap().next().unwrap().unwrap();
    assert_eq!(
        entry.metadata().unwrap().permissions().mode() & 0o777,
        0o600
    );
    let dir_mode = fs::metadata(outbox(&s)).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o700);

    let receiver = Receiver::on(
        TcpListener::bind(("127.0.0.1", port)).unwrap(),
        Mode::Answer,
    );
    logs += &s.once().expect_code(0).stderr;
    logs += &s.once().expect_code(0).stderr;
    let got = receiver.requests();
    assert_eq!(got.len(), 1, "{got:?}\n{logs}");
    assert!(got[0].head.starts_with("POST /hook "), "{}", got[0].head);
    assert!(
        got[0]
            .head
            .lines()
            .any(|l| l.eq_ignore_ascii_case(&format!("authorization: Bearer {TOKEN}"))),
        "{}",
        got[0].head
    );
    assert_eq!(field(&got[0].body, "event").as_deref(), Some("app_updated"));
    assert_eq!(field(&got[0].body, "app").as_deref(), Some("web"));
    assert_eq!(lines(s.path().join("names")), ["app_updated web 0"]);
    assert_eq!(
        lines(s.path().join("events.jsonl")),
        [got[0].body.trim_end()]
    );
    assert_eq!(outbox_len(&s), 0);

    assert!(!logs.contains(TOKEN), "token in the log:\n{logs}");
    let branch = common::git(&s.deploy_bare, &["log", "-p", "--all"]);
    assert!(!branch.contains(TOKEN), "token on the branch");
    for file in walk(&s.home.join("state")) {
        let text = fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&text).contains(TOKEN),
            "token in {}",
            file.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A receiver that answers one byte a second (each read within network_timeout): the
/// delivery phase as a whole still ends within network_timeout; the events stay.
#[test]
fn a_slow_receiver_does_not_hold_the_pass() {
    let mut s = Scenario::new();
    let receiver = Receiver::start(Mode::Trickle);
    s.config_extra = format!(
        "network_timeout = 4\nwebhook_url = \"{}\"\n",
        receiver.url()
    );
    let (code, c1) = s.code_repo("code", &[("app.txt", "v1\n")]);
    let apps = ["a", "b"];
    s.infra_meta(&apps.map(|a| s.section(a, &code, &c1, "")));
    s.agent_config(&apps);
    let t0 = Instant::now();
    let run = once_within(&s, Duration::from_secs(60));
    let took = t0.elapsed();
    run.expect_code(0);
    assert!(receiver.accepted.try_recv().is_ok(), "{}", run.stderr);
    assert!(
        took < Duration::from_secs(11),
        "pass took {took:?}; log:\n{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("no complete answer within network_timeout = 4 s"),
        "{}",
        run.stderr
    );
    assert_eq!(outbox_len(&s), 2);
}

/// `--once`, killed (and the test failed) if it is still running after `limit`.
fn once_within(s: &Scenario, limit: Duration) -> common::scenario::Run {
    let mut child = s
        .agent()
        .arg("--once")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}; log:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap().into()
}

/// SIGTERM while the daemon waits on a receiver that never answers: it exits at once
/// (network_timeout is long), the event kept for the next run.
#[test]
fn sigterm_is_not_held_by_a_dead_receiver() {
    let mut s = Scenario::new();
    let receiver = Receiver::start(Mode::Dead);
    s.config_extra = format!(
        "network_timeout = 120\nwebhook_url = \"{}\"\n",
        receiver.url()
    );
    s.one_app("true");
    let log = s.path().join("daemon.log");
    let mut child = s
        .agent()
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let accepted = receiver.accepted.recv_timeout(Duration::from_secs(60));
    assert!(accepted.is_ok(), "{}", fs::read_to_string(&log).unwrap());
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t0.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!(
                "still running 5 s after SIGTERM; log:\n{}",
                fs::read_to_string(&log).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    assert_eq!(outbox_len(&s), 1);
}

/// SIGKILL while an event is being delivered, then a restart with the receiver back: the
/// event comes exactly once (it was in the outbox, and the transition is not made again).
#[test]
fn sigkill_mid_delivery_then_restart_delivers_once() {
    let mut s = Scenario::new();
    let dead = Receiver::start(Mode::Dead);
    s.config_extra = format!("network_timeout = 120\nwebhook_url = \"{}\"\n", dead.url());
    s.one_app("true");
    let mut child = s
        .agent()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let accepted = dead.accepted.recv_timeout(Duration::from_secs(60));
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    assert!(accepted.is_ok());
    assert_eq!(outbox_len(&s), 1);

    let live = Receiver::start(Mode::Answer);
    s.config_extra = format!("webhook_url = \"{}\"\n", live.url());
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    s.once().expect_code(0);
    let got = live.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(field(&got[0].body, "event").as_deref(), Some("app_updated"));
    assert_eq!(outbox_len(&s), 0);
}

mod escaping {
    use gitops_agent::events::json;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any string, once escaped, reads back as itself through an independent parser
        /// (TOML's basic strings share JSON's escapes) and holds no raw control character.
        #[test]
        fn any_string_round_trips(s in "\\PC*|[\\x00-\\x1f\\x7f\"\\\\\u{2028}\u{2029}a-z]*") {
            let quoted = json::string(&s);
            prop_assert!(!quoted.chars().any(|c| c.is_control()), "{quoted:?}");
            let back: toml::Table = format!("v = {quoted}").parse().unwrap();
            prop_assert_eq!(back["v"].as_str(), Some(s.as_str()));
        }

        /// An object's values cannot end their string early: every field reads back.
        #[test]
        fn object_fields_read_back(a in "\\PC*", b in "[\\x00-\\x1f\"\\\\{}:,]*") {
            let obj = json::object(&[("a", Some(&a)), ("n", None), ("b", Some(&b))]);
            prop_assert_eq!(crate::support_events::field(&obj, "a"), Some(a));
            prop_assert_eq!(crate::support_events::field(&obj, "b"), Some(b));
            prop_assert_eq!(crate::support_events::field(&obj, "n"), None);
        }
    }
}

/// An https webhook: trusted through `https_ca_file` (as git over https is), refused without
/// it (the event waits), delivered with the bearer token once the CA is configured.
#[test]
fn an_https_webhook_uses_the_ca_rules_of_git() {
    let mut s = Scenario::new();
    let (ca, tls) = support_http::make_tls(s.path());
    let receiver = Receiver::tls(tls);
    let token_file = s.path().join("webhook-token");
    fs::write(&token_file, TOKEN).unwrap();
    let hook = format!(
        "webhook_url = \"{}\"\nwebhook_token_file = \"{}\"\n",
        receiver.https_url(),
        token_file.display()
    );
    s.config_extra = hook.clone();
    s.one_app("true");
    let run = s.once();
    run.expect_code(0);
    assert!(
        run.stderr.contains("not delivered to the webhook"),
        "{}",
        run.stderr
    );
    assert!(receiver.requests().is_empty());

    s.config_extra = format!("{hook}https_ca_file = \"{}\"\n", ca.display());
    s.agent_config(&["web"]);
    let run = s.once();
    run.expect_code(0);
    let got = receiver.requests();
    assert_eq!(got.len(), 1, "{}", run.stderr);
    assert!(got[0]
        .head
        .lines()
        .any(|l| l.eq_ignore_ascii_case(&format!("authorization: Bearer {TOKEN}"))));
    assert_eq!(field(&got[0].body, "event").as_deref(), Some("app_updated"));
    assert!(!run.stderr.contains(TOKEN));
}

/// The webhook takes the proxy of git over http: `http_proxy` (its credentials sent as
/// Proxy-Authorization on a plain-http request), and `no_proxy` goes around it.
#[test]
fn the_webhook_goes_through_the_proxy_like_git() {
    let mut s = Scenario::new();
    let proxy = Receiver::start(Mode::Answer);
    s.config_extra = "webhook_url = \"http://hooks.example.invalid/hook\"\n".into();
    s.one_app("true");
    let out = s
        .agent()
        .arg("--once")
        .env(
            "http_proxy",
            format!("http://u:pw@127.0.0.1:{}", proxy.port),
        )
        .env_remove("no_proxy")
        .env_remove("NO_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .output()
        .unwrap();
    let run = common::scenario::Run::from(out);
    run.expect_code(0);
    let got = proxy.requests();
    assert_eq!(got.len(), 1, "{}", run.stderr);
    assert!(
        got[0]
            .head
            .starts_with("POST http://hooks.example.invalid/hook HTTP/1.1"),
        "{}",
        got[0].head
    );
    // base64("u:pw")
    assert!(got[0]
        .head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("proxy-authorization: Basic dTpwdw==")));
    assert!(!run.stderr.contains("u:pw"), "{}", run.stderr);
}
