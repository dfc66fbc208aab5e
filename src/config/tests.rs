//! Unit tests of the agent config: every key, every error naming file and key.
use super::*;

fn p(text: &str) -> Result<AgentConfig> {
    parse(Path::new("/etc/gitops-agent/config.toml"), text.as_bytes())
}

#[test]
fn minimal_config_gets_defaults() {
    let c = p("infra_name = \"edge-17\"\n[applications]\nweb = \"git@h:o/d.git@prod\"\n").unwrap();
    assert_eq!(c.interval, Duration::from_secs(300));
    assert_eq!(c.retention_days, 30);
    assert_eq!(c.network_timeout, Duration::from_secs(60));
    assert_eq!(c.transfer_timeout, Duration::from_secs(3600));
    assert_eq!(c.command_timeout, Duration::from_secs(1800));
    assert_eq!(c.heartbeat_hours, 24);
    assert_eq!(c.splay, Duration::ZERO);
    assert_eq!(
        c.apps,
        vec![AppRef {
            name: "web".into(),
            url: "git@h:o/d.git".into(),
            branch: "prod".into()
        }]
    );
    assert!(c.warnings.is_empty());
}

#[test]
fn groups_share_url_and_branch() {
    let c = p(r#"infra_name = "x"
[applications]
a = "https://h/o/d.git@main"
b = "https://tok@h/o/d@main"
c = "https://h/o/d.git@dev"
"#)
    .unwrap();
    let g = c.groups();
    assert_eq!(g.len(), 2);
    assert_eq!(g[0].apps, vec!["a", "b"]);
    assert_eq!(g[1].apps, vec!["c"]);
}

#[test]
fn errors_name_file_and_key() {
    for (text, key) in [
        ("interval = 5", "infra_name"),
        ("infra_name = 3", "infra_name"),
        ("infra_name = \"\"", "infra_name"),
        ("infra_name = \"a/b\"", "infra_name"),
        ("infra_name = \"..\"", "infra_name"),
        ("infra_name = \"a\\u0007\"", "infra_name"),
        ("infra_name = \"x\"\ninterval = 0", "interval"),
        ("infra_name = \"x\"\ninterval = -5", "interval"),
        ("infra_name = \"x\"\ninterval = \"300\"", "interval"),
        (
            "infra_name = \"x\"\nmonitoring_history_retention_days = -1",
            "monitoring_history_retention_days",
        ),
        (
            "infra_name = \"x\"\nnetwork_timeout = 1.5",
            "network_timeout",
        ),
        ("infra_name = \"x\"\nssh_key = \"id_rsa\"", "ssh_key"),
        (
            "infra_name = \"x\"\nssh_command = \"/opt/my-wrapper\"\nssh_key = \"/k\"",
            "ssh_key",
        ),
        (
            "infra_name = \"x\"\nheartbeat_hours = -1",
            "heartbeat_hours",
        ),
        (
            "infra_name = \"x\"\nheartbeat_hours = \"24\"",
            "heartbeat_hours",
        ),
        (
            "infra_name = \"x\"\nheartbeat_hours = 1000000",
            "heartbeat_hours",
        ),
        ("infra_name = \"x\"\nsplay = -5", "splay"),
        ("infra_name = \"x\"\nsplay = 2.5", "splay"),
        (
            "infra_name = \"x\"\nallowed_signers = \"signers\"",
            "allowed_signers",
        ),
        (
            "infra_name = \"x\"\ntrusted_pgp_keys = 3",
            "trusted_pgp_keys",
        ),
        ("infra_name = \"x\"\napplications = 3", "applications"),
        (
            "infra_name = \"x\"\n[applications]\nweb = 3",
            "applications.web",
        ),
        (
            "infra_name = \"x\"\n[applications]\nweb = { config_url = \"u\" }",
            "applications.web",
        ),
        (
            "infra_name = \"x\"\n[applications]\n\"../w\" = \"u@b\"",
            "applications.../w",
        ),
    ] {
        let e = p(text).unwrap_err().to_string();
        assert!(
            e.starts_with("/etc/gitops-agent/config.toml: key `"),
            "{text}: {e}"
        );
        assert!(e.contains(&format!("`{key}`")), "{text}: {e}");
    }
    assert!(
        p("infra_name = \"x\"\n[applications]\nweb = { config_url = \"u\" }")
            .unwrap_err()
            .to_string()
            .contains("NAME = \"<deploy repo url>@<branch>\"")
    );
    assert!(p(&format!("infra_name = \"{}\"", "a".repeat(500)))
        .unwrap_err()
        .to_string()
        .contains("under"));
}

#[test]
fn fleet_keys_heartbeat_and_splay() {
    let c = p("infra_name = \"x\"\nheartbeat_hours = 0\nsplay = 30\n").unwrap();
    assert_eq!(c.heartbeat_hours, 0);
    assert_eq!(c.splay, Duration::from_secs(30));
    assert_eq!(
        c.warnings.len(),
        1,
        "only the missing [applications]: {:?}",
        c.warnings
    );
}

#[test]
fn safe_change_keys() {
    let c = p("infra_name = \"x\"\nprune = true\nupdate_windows = [\"Sat,Sun 00:00-23:59\"]\n[applications]\n\"*\" = \"git@h:o/d.git@prod\"\n").unwrap();
    assert!(c.prune);
    assert_eq!(c.update_windows.len(), 1);
    assert_eq!(c.groups()[0].apps, vec!["*".to_string()]);
    assert!(!p("infra_name = \"x\"\n").unwrap().prune, "prune is opt-in");
    for (text, key) in [
        ("prune = 1", "prune"),
        ("update_windows = [\"Mon 2-4\"]", "update_windows"),
        ("update_windows = \"Mon 02:00-04:00\"", "update_windows"),
    ] {
        let e = p(&format!("infra_name = \"x\"\n{text}\n")).unwrap_err();
        assert_eq!(e.kind(), Kind::Config);
        let e = e.to_string();
        assert!(e.contains(&format!("key `{key}`")), "{e}");
        if key == "update_windows" {
            assert!(e.contains("Mon-Fri 02:00-04:00"), "{e}");
        }
    }
}

#[test]
fn bad_toml_and_bad_utf8_name_the_file() {
    let e = p("infra_name = ").unwrap_err().to_string();
    assert!(
        e.contains("config.toml: invalid TOML") && e.contains("line 1"),
        "{e}"
    );
    let e = parse(Path::new("/c.toml"), b"infra_name = \"\xff\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("/c.toml: not valid UTF-8"), "{e}");
}

#[test]
fn unknown_keys_warn() {
    let c = p("infra_name = \"x\"\nfuture_knob = 1\n").unwrap();
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings); // unknown key + no applications
    assert!(c.warnings[0].contains("future_knob"));
}

#[test]
fn trust_key_files_are_read_by_load_and_their_errors_are_config_errors() {
    let dir = std::env::temp_dir().join(format!("gitops-cfg-trust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    let signers = dir.join("allowed_signers");
    let write = |extra: &str| {
        std::fs::write(
            &cfg,
            format!("infra_name = \"x\"\n{extra}\n[applications]\n"),
        )
        .unwrap()
    };
    write(&format!("allowed_signers = \"{}\"", signers.display()));
    let e = load(&cfg).unwrap_err();
    assert_eq!(e.kind(), Kind::Config);
    assert!(
        e.to_string().contains(&signers.display().to_string()),
        "{e}"
    );
    std::fs::write(
        &signers,
        "dev@x ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOxLzq0WUzTbDampfu9o8/NMe+U4VSC/f4HdzLNmjuig\n",
    )
    .unwrap();
    let c = load(&cfg).unwrap();
    assert!(c.verifying());
    assert_eq!(c.trusted_keys.as_ref().map(|k| k.ssh.len()), Some(1));
    write("trusted_pgp_keys = \"/nonexistent/keys.asc\"");
    let e = load(&cfg).unwrap_err();
    assert_eq!(e.kind(), Kind::Config);
    assert!(e.to_string().contains("/nonexistent/keys.asc"), "{e}");
    write("");
    assert!(!load(&cfg).unwrap().verifying());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn secrets_in_app_urls_are_not_echoed() {
    let e = p("infra_name = \"x\"\n[applications]\nweb = \"https://u:sekret@h/o/d@\"")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("sekret"), "{e}");
}

#[test]
fn credential_hosts_are_the_deploy_hosts_and_the_listed_ones() {
    let c = p(r#"infra_name = "x"
https_credential_hosts = ["Code.Example.com", "git.example.com"]
[applications]
a = "https://tok@Git.Example.com/o/d.git@main"
b = "git@ssh.example.com:o/d.git"
"#)
    .unwrap();
    assert_eq!(
        c.net_options().credential_hosts,
        ["git.example.com", "ssh.example.com", "code.example.com"]
    );
    for bad in ["\"h\"", "[\"https://h\"]", "[\"u@h\"]", "[\"\"]", "[3]"] {
        let e = p(&format!(
            "infra_name = \"x\"\nhttps_credential_hosts = {bad}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("key `https_credential_hosts`"), "{bad}: {e}");
    }
}

#[test]
fn metrics_file_is_an_absolute_file_path() {
    let c = p("infra_name = \"x\"\nmetrics_file = \"/var/lib/node_exporter/textfile_collector/gitops-agent.prom\"\n[applications]\n").unwrap();
    assert_eq!(
        c.metrics_file.as_deref(),
        Some(Path::new(
            "/var/lib/node_exporter/textfile_collector/gitops-agent.prom"
        ))
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(p("infra_name = \"x\"\n").unwrap().metrics_file, None);
}

#[test]
fn bad_metrics_file_names_file_key_and_fix() {
    for bad in ["\"gitops.prom\"", "\"/var/lib/textfile/\"", "\"\"", "3"] {
        let e = p(&format!("infra_name = \"x\"\nmetrics_file = {bad}\n")).unwrap_err();
        assert_eq!(e.kind(), Kind::Config);
        let e = e.to_string();
        assert!(
            e.starts_with("/etc/gitops-agent/config.toml: key `metrics_file`"),
            "{bad}: {e}"
        );
        if bad != "3" && bad != "\"\"" {
            assert!(e.contains("e.g. `metrics_file = \"/"), "{bad}: {e}");
        }
    }
}

#[test]
fn metrics_file_not_ending_in_prom_warns() {
    let c = p("infra_name = \"x\"\nmetrics_file = \"/run/metrics.txt\"\n[applications]\n").unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("metrics_file") && c.warnings[0].contains(".prom"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn metrics_file_that_is_a_directory_is_refused_by_load() {
    let dir = std::env::temp_dir().join(format!("gitops-cfg-metrics-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("collector.prom")).unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "infra_name = \"x\"\nmetrics_file = \"{}\"\n[applications]\n",
            dir.join("collector.prom").display()
        ),
    )
    .unwrap();
    let e = load(&cfg).unwrap_err();
    assert_eq!(e.kind(), Kind::Config);
    let e = e.to_string();
    assert!(
        e.contains("key `metrics_file`") && e.contains("is a directory"),
        "{e}"
    );
    assert!(e.contains("gitops-agent.prom"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
