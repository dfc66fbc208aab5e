//! Malformed input (SPEC §8): every bad agent config exits 2 naming the file and the key and
//! clones nothing; every bad infra_meta section fails only its app and writes nothing outside
//! the paths it is allowed to touch.

mod common;

use std::fs;

use common::scenario::{Scenario, INFRA};

#[test]
fn malformed_agent_configs_exit_2_with_file_and_key() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    s.infra_meta(&[s.section("web", &code, &c1, "")]);
    let app = format!("[applications]\nweb = \"{}@main\"\n", s.deploy_url);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (format!("interval = 5\n{app}").into_bytes(), "infra_name"),
        (
            format!("infra_name = [1]\n{app}").into_bytes(),
            "infra_name",
        ),
        (
            format!("infra_name = \"a/b\"\n{app}").into_bytes(),
            "infra_name",
        ),
        (
            format!("infra_name = \"..\"\n{app}").into_bytes(),
            "infra_name",
        ),
        (
            format!("infra_name = \"x\\ty\"\n{app}").into_bytes(),
            "infra_name",
        ),
        (
            format!("infra_name = \"{}\"\n{app}", "n".repeat(10_000)).into_bytes(),
            "infra_name",
        ),
        (
            format!("infra_name = \"e\"\ninterval = 0\n{app}").into_bytes(),
            "interval",
        ),
        (
            format!("infra_name = \"e\"\ninterval = 99999999999\n{app}").into_bytes(),
            "interval",
        ),
        (
            format!("infra_name = \"e\"\ninterval = true\n{app}").into_bytes(),
            "interval",
        ),
        (
            format!("infra_name = \"e\"\nnetwork_timeout = -1\n{app}").into_bytes(),
            "network_timeout",
        ),
        (
            format!("infra_name = \"e\"\nhttps_ca_file = \"rel.pem\"\n{app}").into_bytes(),
            "https_ca_file",
        ),
        (
            b"infra_name = \"e\"\n[applications]\n\"a/../b\" = \"u@main\"\n".to_vec(),
            "applications.a/../b",
        ),
        (
            b"infra_name = \"e\"\n[applications]\nweb = 42\n".to_vec(),
            "applications.web",
        ),
        (b"infra_name = \"\xff\xfe\"\n".to_vec(), "UTF-8"),
        (
            b"infra_name = \"e\"\ninterval = \n".to_vec(),
            "invalid TOML",
        ),
    ];
    for (text, key) in cases {
        fs::write(&s.config, &text).unwrap();
        let run = s.once();
        assert_eq!(
            run.code,
            2,
            "{}: {}",
            String::from_utf8_lossy(&text),
            run.stderr
        );
        assert!(
            run.stderr.contains(s.config.to_str().unwrap()),
            "no file name: {}",
            run.stderr
        );
        assert!(run.stderr.contains(key), "no `{key}`: {}", run.stderr);
        assert!(
            !s.home.join("app-configs").exists(),
            "cloned with a bad config"
        );
    }
    // a directory is not a config file
    let run = s
        .agent()
        .arg("--once")
        .arg("--config")
        .arg(s.path())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    // unknown keys are a warning, never fatal
    fs::write(
        &s.config,
        format!("infra_name = \"{INFRA}\"\nfrom_the_future = 1\n{app}"),
    )
    .unwrap();
    let run = s.once();
    run.expect_code(0);
    assert!(run.stderr.contains("from_the_future"), "{}", run.stderr);
}

#[test]
fn malformed_infra_meta_fails_only_that_app_and_writes_nothing_outside() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let outside = s.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret"), "do not copy").unwrap();
    // a symlink inside the deploy repo pointing out of it
    std::os::unix::fs::symlink(outside.join("secret"), s.deploy_work.join("link")).unwrap();
    // (committed together with the next file: the helper commits everything)
    s.deploy(&[("placeholder", "x")]);
    assert_eq!(common::git(&s.deploy_work, &["ls-files", "link"]), "link");
    let canary = s.path().join("canary");
    let bad = [
        (
            "relative_dst",
            format!(
                "config_files = [ {{ src = \"placeholder\", dst = \"{}\" }} ]",
                "rel/x.env"
            ),
        ),
        (
            "escaping_src",
            format!(
                "config_files = [ {{ src = \"../../outside/secret\", dst = \"{}\" }} ]",
                canary.join("a").display()
            ),
        ),
        (
            "symlink_src",
            format!(
                "config_files = [ {{ src = \"link\", dst = \"{}\" }} ]",
                canary.join("b").display()
            ),
        ),
        ("wrong_type", "config_files = \"placeholder\"".to_string()),
        ("huge_timeout", "command_timeout = 99999999999".to_string()),
    ];
    let mut sections = vec![s.section("web", &code, &c1, "")];
    let mut names = vec!["web"];
    for (name, extra) in &bad {
        sections.push(s.section(name, &code, &c1, extra));
        names.push(name);
    }
    // the section with a non-string, relative code_local_path
    sections.push(format!("[relpath]\ncode_url = \"{}\"\ncode_commit_hash = \"{c1}\"\ncode_local_path = \"srv/relpath\"\n", code.url));
    names.push("relpath");
    s.infra_meta(&sections);
    s.agent_config(&names);
    s.once().expect_code(1);
    let fb = s.feedback();
    assert_eq!(fb["web"]["status"].as_str(), Some("✅ healthy"));
    for name in names.iter().skip(1) {
        assert_eq!(
            fb[*name]["status"].as_str(),
            Some("❌ config update failed"),
            "{name}: {:?}",
            fb[*name]
        );
        let why = fb[*name]["config-updation"]["git-status"].as_str().unwrap();
        assert!(
            why.contains("infra_meta.toml") || why.contains("outside the deploy repo"),
            "{name}: {why}"
        );
    }
    assert!(
        !canary.exists(),
        "a file was written outside the allowed paths"
    );
    assert!(!s.home.join("app-configs").join("srv").exists());
    for (name, _) in &bad {
        assert!(
            !s.srv(name).exists(),
            "{name} was cloned although its section is bad"
        );
    }
}

#[test]
fn non_utf8_infra_meta_fails_every_app_of_its_group_naming_the_file() {
    let s = Scenario::new();
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let mut text = s.section("web", &code, &c1, "").into_bytes();
    text.extend_from_slice(b"# \xff\xfe\n");
    fs::create_dir_all(s.deploy_work.join(INFRA)).unwrap();
    fs::write(s.deploy_work.join(INFRA).join("infra_meta.toml"), &text).unwrap();
    common::git(&s.deploy_work, &["add", "-A"]);
    common::git(&s.deploy_work, &["commit", "-qm", "binary"]);
    common::git(&s.deploy_work, &["push", "-q", "origin", "HEAD:main"]);
    s.agent_config(&["web", "api"]);
    s.once().expect_code(1);
    let fb = s.feedback();
    for app in ["web", "api"] {
        let why = fb[app]["config-updation"]["git-status"].as_str().unwrap();
        assert!(
            why.contains("infra_meta.toml") && why.contains("UTF-8"),
            "{why}"
        );
    }
    assert!(!s.srv("web").exists());
}
