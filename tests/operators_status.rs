//! What operators see without a server (SPEC §13), with the real binary: `metrics_file`
//! read line by line as a Prometheus scraper would, `gitops-agent status [--json]` from
//! `$GITOPS_AGENT_HOME` alone (the deploy repo gone), before any pass, a bad `metrics_file`.

mod common;
mod support_status;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::scenario::{Scenario, INFRA};
use support_status::{family, parse_json, parse_metrics, Json, Sample};

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `web` (post command `true`) and `db` (post command `exit 3`), each with its own code
/// repo; `metrics_file` in a textfile-collector folder. Returns (scenario, web's commit,
/// db's commit).
fn two_apps() -> (Scenario, String, String) {
    let mut s = Scenario::new();
    s.config_extra = format!(
        "metrics_file = \"{}\"",
        s.path().join("textfile/gitops-agent.prom").display()
    );
    let (web, c_web) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let (db, c_db) = s.code_repo("db", &[("db.txt", "v1\n")]);
    s.infra_meta(&[
        s.section("web", &web, &c_web, "post_updation_command = \"true\""),
        s.section("db", &db, &c_db, "post_updation_command = \"exit 3\""),
    ]);
    s.agent_config(&["web", "db"]);
    (s, c_web, c_db)
}

fn metrics(s: &Scenario) -> Vec<Sample> {
    let path = s.path().join("textfile/gitops-agent.prom");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_metrics(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn app_sample<'a>(samples: &'a [Sample], name: &str, app: &str) -> &'a Sample {
    family(samples, name)
        .into_iter()
        .find(|s| s.label("app") == app)
        .unwrap_or_else(|| panic!("no {name} for {app} in {samples:?}"))
}

/// `gitops-agent status` plus `args`: (exit code, stdout, stderr).
fn status(s: &Scenario, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gitops-agent"))
        .arg("status")
        .args(args)
        .arg("--config")
        .arg(&s.config)
        .env("GITOPS_AGENT_HOME", &s.home)
        .env_remove("GITOPS_AGENT_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run gitops-agent status");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn status_json(s: &Scenario) -> (i32, Json) {
    let (code, out, err) = status(s, &["--json"]);
    let json = parse_json(&out).unwrap_or_else(|e| panic!("{e}\nstdout:\n{out}\nstderr:\n{err}"));
    (code, json)
}

fn app<'a>(json: &'a Json, name: &str) -> &'a Json {
    json.get("apps")
        .array()
        .iter()
        .find(|a| a.get("name").str() == name)
        .unwrap_or_else(|| panic!("no app {name} in {json:?}"))
}

/// The deploy repo moves away: every network contact fails from now on.
fn remote_gone(s: &Scenario) {
    fs::rename(&s.deploy_bare, s.path().join("gone.git")).unwrap();
}

#[test]
fn metrics_file_shows_healthy_and_failing_apps_line_by_line() {
    let (s, c_web, c_db) = two_apps();
    let before = unix_now();
    let t0 = Instant::now();
    s.once().expect_code(1);
    let (after, took) = (unix_now(), t0.elapsed().as_secs_f64());
    let m = metrics(&s);

    for sample in &m {
        assert_eq!(sample.label("infra"), INFRA, "{sample:?}");
    }
    assert_eq!(family(&m, "gitops_agent_app_healthy").len(), 2, "{m:?}");
    assert_eq!(app_sample(&m, "gitops_agent_app_healthy", "web").value, 1.0);
    assert_eq!(app_sample(&m, "gitops_agent_app_healthy", "db").value, 0.0);
    let web = app_sample(&m, "gitops_agent_app_info", "web");
    assert_eq!(web.value, 1.0);
    assert_eq!(web.label("status"), "✅ healthy");
    let commit = web.label("commit");
    assert!(
        commit.len() >= 7 && c_web.starts_with(commit),
        "{commit} vs {c_web}"
    );
    let db = app_sample(&m, "gitops_agent_app_info", "db");
    assert_eq!(db.label("status"), "❌ post-command exited non-zero");
    assert!(c_db.starts_with(db.label("commit")) && db.label("commit").len() >= 7);

    let one = |name: &str| {
        let f = family(&m, name);
        assert_eq!(f.len(), 1, "{name}: {f:?}");
        f[0].value
    };
    let ended = one("gitops_agent_last_pass_timestamp_seconds");
    assert!(
        ended >= before.floor() && ended <= after.ceil(),
        "{before} <= {ended} <= {after}"
    );
    let duration = one("gitops_agent_pass_duration_seconds");
    assert!(
        duration > 0.0 && duration <= took,
        "0 < {duration} <= {took}"
    );
    assert_eq!(one("gitops_agent_publish_failures_total"), 0.0);

    // node_exporter runs as its own user: readable by all, written by the agent only.
    let mode = fs::metadata(s.path().join("textfile/gitops-agent.prom"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    // Atomic: nothing but the file in the collector's folder.
    let names: Vec<_> = fs::read_dir(s.path().join("textfile"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["gitops-agent.prom"]);
}

#[test]
fn status_and_json_need_no_remote() {
    let (s, c_web, _) = two_apps();
    s.once().expect_code(1);
    remote_gone(&s);

    let (code, text, err) = status(&s, &[]);
    assert_eq!(code, 1, "db needs attention\n{text}\n{err}");
    assert!(
        text.starts_with(&format!("{INFRA}: last pass ended ")),
        "{text}"
    );
    assert!(text.contains("1 of 2 apps need attention: db\n"), "{text}");
    assert!(text.contains("\nweb: ✅ healthy\n"), "{text}");
    assert!(
        text.contains(&format!("  commit: {}", &c_web[..7])),
        "{text}"
    );
    assert!(
        text.contains("\ndb: ❌ post-command exited non-zero\n"),
        "{text}"
    );
    assert!(text.contains("  error: `post` exited 3 ("), "{text}");
    // Both apps were installed by this pass: their last change is now, as a local stamp.
    assert_eq!(text.matches("  last change: 20").count(), 2, "{text}");

    let (code, json) = status_json(&s);
    assert_eq!(code, 1);
    assert_eq!(json.get("infra").str(), INFRA);
    assert_eq!(json.get("healthy"), &Json::Bool(false));
    assert_eq!(json.get("publish_failures_total").num(), 0.0);
    let ended = json.get("last_pass_end_unix").num();
    assert!((unix_now() - ended).abs() < 600.0, "{ended}");
    let web = app(&json, "web");
    assert_eq!(web.get("status").str(), "✅ healthy");
    assert_eq!(web.get("healthy"), &Json::Bool(true));
    assert!(c_web.starts_with(web.get("commit").str()));
    assert_eq!(web.get("paused"), &Json::Bool(false));
    assert_eq!(web.get("deferred"), &Json::Bool(false));
    assert_eq!(web.get("last_error"), &Json::Null);
    assert_eq!(web.get("last_change_unix").num(), ended);
    let db = app(&json, "db");
    assert_eq!(db.get("healthy"), &Json::Bool(false));
    assert_eq!(db.get("last_error").str(), "`post` exited 3");
}

#[test]
fn status_shows_a_paused_app_and_exit_0_when_all_is_well() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "paused = true")]);
    s.agent_config(&["web"]);
    s.once().expect_code(0);
    remote_gone(&s);
    let (code, json) = status_json(&s);
    assert_eq!(code, 0, "{json:?}");
    let web = app(&json, "web");
    assert_eq!(web.get("status").str(), "⏸️ paused");
    assert_eq!(web.get("paused"), &Json::Bool(true));
    assert_eq!(web.get("paused_by").str(), "paused = true in infra_meta");
    let (code, text, _) = status(&s, &[]);
    assert_eq!(code, 0);
    assert!(
        text.contains("  paused by: paused = true in infra_meta\n"),
        "{text}"
    );
}

#[test]
fn status_before_any_pass_says_so_and_exits_1() {
    let (s, _, _) = two_apps();
    for args in [&[][..], &["--json"][..]] {
        let (code, out, err) = status(&s, args);
        assert_eq!(code, 1, "{args:?}\n{out}\n{err}");
        assert!(out.is_empty(), "{args:?}: nothing on stdout: {out}");
        assert!(
            err.contains("no pass recorded yet") && err.contains("gitops-agent --once"),
            "{err}"
        );
    }
}

#[test]
fn publish_failures_are_counted_across_runs() {
    let (s, _, _) = two_apps();
    s.once().expect_code(1);
    remote_gone(&s);
    for run in 1..=2 {
        s.once().expect_code(1);
        let m = metrics(&s);
        let total = family(&m, "gitops_agent_publish_failures_total");
        assert_eq!(total[0].value, f64::from(run), "run {run}: {m:?}");
    }
    let (_, json) = status_json(&s);
    assert_eq!(json.get("publish_failures_total").num(), 2.0);
    assert_eq!(json.get("unpublished").array().len(), 1);
    // The apps were not looked at (no deploy clone update): they keep their commits.
    assert!(!app(&json, "web").get("commit").str().is_empty());
}

#[test]
fn bad_metrics_file_is_refused_at_config_load() {
    let (mut s, _, _) = two_apps();
    s.config_extra = "metrics_file = \"textfile/gitops-agent.prom\"".into();
    s.agent_config(&["web", "db"]);
    let run = s.once();
    run.expect_code(2);
    for part in [
        s.config.display().to_string().as_str(),
        "key `metrics_file`",
        "absolute path",
        "e.g. `metrics_file = \"/",
    ] {
        assert!(run.stderr.contains(part), "{part} in\n{}", run.stderr);
    }
    assert!(!s.home.join("app-configs").exists(), "no pass ran");
}

#[test]
fn unwritable_metrics_file_is_logged_and_the_pass_goes_on() {
    let mut s = Scenario::new();
    // The folder of the metrics file is a regular file: every write fails.
    fs::write(s.path().join("blocker"), "").unwrap();
    s.config_extra = format!(
        "metrics_file = \"{}\"",
        s.path().join("blocker/gitops-agent.prom").display()
    );
    s.one_app("true");
    let run = s.once();
    run.expect_code(0);
    assert!(
        run.stderr.contains("metrics_file") && run.stderr.contains("not written"),
        "{}",
        run.stderr
    );
    assert!(s.monitoring_head().is_some(), "the report was still pushed");
    let (code, _, _) = status(&s, &[]);
    assert_eq!(code, 0, "the record was still written");
}

#[test]
fn the_daemon_writes_metrics_after_its_passes() {
    let (s, _, _) = two_apps();
    let mut child = s
        .agent()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let path = s.path().join("textfile/gitops-agent.prom");
    let t0 = Instant::now();
    let mut seen = Vec::new();
    // interval = 1: at least two passes, each rewriting the file with a later time stamp.
    while seen.len() < 2 && t0.elapsed() < Duration::from_secs(60) {
        if let Ok(text) = fs::read_to_string(&path) {
            let m = parse_metrics(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let ended = family(&m, "gitops_agent_last_pass_timestamp_seconds")[0].value;
            if seen.last() != Some(&ended) {
                seen.push(ended);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let _ = child.wait();
    assert_eq!(
        seen.len(),
        2,
        "two passes seen in the metrics file: {seen:?}"
    );
    assert!(seen[1] > seen[0]);
}
