//! The static cross binaries really run (issue: aarch64 and armv7 under qemu-user): a real
//! `--once` pass against a loopback `git daemon` and an http remote. Needs `cross/build.sh`
//! to have run (CI runs it first) and Debian's qemu-user-static; skipped with a message
//! otherwise.

mod common;
mod support_http;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::git;
use common::scenario::{Run, Scenario};

const USER: &str = "alice";
const TOKEN: &str = "tok-qemu-4711";

/// (target, qemu runner) for the foreign architectures.
const TARGETS: &[(&str, &str)] = &[
    ("aarch64-unknown-linux-musl", "qemu-aarch64-static"),
    ("armv7-unknown-linux-musleabihf", "qemu-arm-static"),
];

fn binary(target: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("cross/out")
        .join(target)
        .join("gitops-agent");
    path.is_file().then_some(path)
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn run_under_qemu(s: &Scenario, runner: &str, bin: &PathBuf) -> Run {
    Command::new(runner)
        .arg(bin)
        .arg("--config")
        .arg(&s.config)
        .arg("--once")
        .env("GITOPS_AGENT_HOME", &s.home)
        .stdin(Stdio::null())
        .output()
        .expect("run qemu")
        .into()
}

#[test]
fn foreign_binaries_run_a_real_pass_over_git_daemon_and_http() {
    let mut ran = 0;
    for (target, runner) in TARGETS {
        let Some(bin) = binary(target) else {
            eprintln!(
                "SKIP {target}: cross/out/{target}/gitops-agent missing (run cross/build.sh)"
            );
            continue;
        };
        if !have(runner) {
            eprintln!("SKIP {target}: {runner} missing (apt-get install qemu-user-static)");
            continue;
        }

        // git daemon
        let s = Scenario::with_daemon();
        let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
        s.infra_meta(&[s.section(
            "web",
            &code,
            &c1,
            "post_updation_command = \"echo from-qemu\"",
        )]);
        s.agent_config(&["web"]);
        let run = run_under_qemu(&s, runner, &bin);
        run.expect_code(0);
        assert_eq!(git(&s.srv("web"), &["rev-parse", "HEAD"]), c1, "{target}");
        assert_eq!(
            s.feedback()["web"]["status"].as_str(),
            Some("✅ healthy"),
            "{target}"
        );
        common::fsck(&s.deploy_bare);

        // http with basic auth
        let mut s = Scenario::new();
        let server = support_http::start(support_http::Options {
            root: s.path().join("served"),
            credentials: Some((USER.into(), TOKEN.into())),
            tls: None,
        });
        let (mut code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
        s.deploy_url = format!("http://{USER}:{TOKEN}@127.0.0.1:{}/deploy.git", server.port);
        code.url = format!("http://{USER}:{TOKEN}@127.0.0.1:{}/web.git", server.port);
        s.infra_meta(&[s.section("web", &code, &c1, "")]);
        s.agent_config(&["web"]);
        let run = run_under_qemu(&s, runner, &bin);
        run.expect_code(0);
        assert!(!run.stderr.contains(TOKEN));
        assert_eq!(git(&s.srv("web"), &["rev-parse", "HEAD"]), c1, "{target}");
        assert_eq!(
            s.monitoring_commits(),
            1,
            "{target}: status pushed over http"
        );
        common::fsck(&s.deploy_bare);
        ran += 1;
    }
    eprintln!("ran {ran} foreign binaries under qemu");
    // CI builds them first and sets this, so a skip there is a failure.
    if std::env::var_os("GITOPS_AGENT_REQUIRE_CROSS").is_some() {
        assert_eq!(
            ran,
            TARGETS.len(),
            "every foreign binary must run under qemu in CI"
        );
    }
}
