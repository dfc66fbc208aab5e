//! Unit tests of infra_meta validation, key by key.
use super::*;

const F: &str = "/d/edge/infra_meta.toml";

fn spec(text: &str) -> Result<AppSpec> {
    app_spec(F, &parse_file(F, text.as_bytes()).unwrap(), "web")
}

#[test]
fn full_section() {
    let s = spec(
        r#"[web]
code_url = "git@h:o/web.git"
code_commit_hash = "4f1c2e9"
code_local_path = "/srv/web"
config_files = [ { src = "edge/web.env", dst = "/srv/web/.env" } ]
pre_updation_command = "echo pre"
post_updation_command = "echo post"
command_timeout = 10
"#,
    )
    .unwrap();
    assert_eq!(s.code_local_path, PathBuf::from("/srv/web"));
    assert_eq!(
        s.config_files,
        vec![ConfigFile {
            src: "edge/web.env".into(),
            dst: "/srv/web/.env".into(),
            mode: None,
        }]
    );
    assert_eq!(s.command_timeout, Some(Duration::from_secs(10)));
    assert!(s.section.contains("4f1c2e9"));
}

#[test]
fn legacy_keys_show_the_new_form() {
    let e = spec("[web]\ncode_url = \"u\"\ncode_commit_hash = \"c\"\ncode_local_path = \"/a\"\nconfig_src_path_rel_in_this_repo = \"x\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("config_src_path_rel_in_this_repo") && e.contains("config_files = ["),
        "{e}"
    );
}

#[test]
fn legacy_key_alone_is_named_like_any_bad_key() {
    let e = spec("[web]\nconfig_dst_path_abs = \"/x\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "{F}: [web] key `config_dst_path_abs`: was removed"
        )),
        "{e}"
    );
}

#[test]
fn both_legacy_keys_are_named_in_one_error() {
    let e = spec("[web]\ncode_url = \"u\"\ncode_commit_hash = \"c\"\ncode_local_path = \"/a\"\nconfig_src_path_rel_in_this_repo = \"x\"\nconfig_dst_path_abs = \"/x\"\n")
        .unwrap_err();
    assert_eq!(e.kind(), Kind::Invalid);
    let e = e.to_string();
    assert!(
        e.contains(
            "keys `config_src_path_rel_in_this_repo` and `config_dst_path_abs`: were removed"
        ) && e.contains("config_files = ["),
        "{e}"
    );
}

#[test]
fn bad_values_name_file_app_and_key() {
    let base = "[web]\ncode_url = \"u\"\ncode_commit_hash = \"c\"\n";
    for (extra, key) in [
        ("code_local_path = \"srv\"", "code_local_path"),
        ("code_local_path = \"/\"", "code_local_path"),
        ("", "code_local_path"),
        ("code_local_path = 5", "code_local_path"),
        (
            "code_local_path = \"/a\"\nconfig_files = [ { src = \"../x\", dst = \"/e\" } ]",
            "config_files[0].src",
        ),
        (
            "code_local_path = \"/a\"\nconfig_files = [ { src = \"/etc/x\", dst = \"/e\" } ]",
            "config_files[0].src",
        ),
        (
            "code_local_path = \"/a\"\nconfig_files = [ { src = \"a/../../x\", dst = \"/e\" } ]",
            "config_files[0].src",
        ),
        (
            "code_local_path = \"/a\"\nconfig_files = [ { src = \"x\", dst = \"rel\" } ]",
            "config_files[0].dst",
        ),
        (
            "code_local_path = \"/a\"\nconfig_files = \"x\"",
            "config_files",
        ),
        (
            "code_local_path = \"/a\"\npost_updation_command = 1",
            "post_updation_command",
        ),
        (
            "code_local_path = \"/a\"\ncommand_timeout = 0",
            "command_timeout",
        ),
    ] {
        let e = spec(&format!("{base}{extra}\n")).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{F}: [web] key `{key}`")),
            "{extra}: {e}"
        );
    }
}

#[test]
fn config_file_mode_is_an_octal_string_of_permission_bits() {
    let base = "[web]\ncode_url = \"u\"\ncode_commit_hash = \"c\"\ncode_local_path = \"/a\"\n";
    for (m, want) in [("0600", 0o600), ("640", 0o640), ("0755", 0o755)] {
        let s = spec(&format!(
            "{base}config_files = [ {{ src = \"x\", dst = \"/e\", mode = \"{m}\" }} ]\n"
        ))
        .unwrap();
        assert_eq!(s.config_files[0].mode, Some(want), "{m}");
    }
    for m in [
        "\"4755\"",
        "\"0o600\"",
        "\"800\"",
        "\"60\"",
        "\"rw\"",
        "600",
        "\"+600\"",
    ] {
        let e = spec(&format!(
            "{base}config_files = [ {{ src = \"x\", dst = \"/e\", mode = {m} }} ]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(&format!("{F}: [web] key `config_files[0].mode`")),
            "{m}: {e}"
        );
    }
}

#[test]
fn missing_section_and_unknown_keys() {
    let doc = parse_file(F, b"[other]\n").unwrap();
    assert!(app_spec(F, &doc, "web")
        .unwrap_err()
        .to_string()
        .contains("no [web] section"));
    let s = spec("[web]\ncode_url = \"u\"\ncode_commit_hash = \"c\"\ncode_local_path = \"/a\"\nnew_key = 1\n").unwrap();
    assert_eq!(s.warnings.len(), 1);
}

#[test]
fn safe_keys_default_to_off() {
    let s = spec("[web]\ncode_url = \"u\"\ncode_commit_hash = \"c\"\ncode_local_path = \"/a\"\n")
        .unwrap();
    assert_eq!(s.safe, SafeKeys::default());
}

#[test]
fn safe_keys_are_read() {
    let s = spec(
        r#"[web]
code_url = "u"
code_commit_hash = "c"
code_local_path = "/a"
health_command = "curl -f localhost"
health_timeout = 5
health_retries = 2
paused = true
update_lock = "/run/web.lock"
update_windows = ["Mon-Fri 02:00-04:00"]
remove_command = "systemctl disable --now web"
prune_code = true
"#,
    )
    .unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let h = s.safe.health.unwrap();
    assert_eq!(
        (h.command.as_str(), h.timeout, h.retries),
        ("curl -f localhost", Duration::from_secs(5), 2)
    );
    assert!(s.safe.paused && s.safe.prune_code);
    assert_eq!(s.safe.update_lock, Some(PathBuf::from("/run/web.lock")));
    assert_eq!(s.safe.update_windows.map(|w| w.len()), Some(1));
    assert!(s.safe.remove_command.is_some());
}

#[test]
fn health_check_defaults_are_60_s_and_3_tries() {
    let s = spec("[web]\ncode_url = \"u\"\ncode_commit_hash = \"c\"\ncode_local_path = \"/a\"\nhealth_command = \"true\"\n")
        .unwrap();
    let h = s.safe.health.unwrap();
    assert_eq!((h.timeout, h.retries), (Duration::from_secs(60), 3));
}

#[test]
fn bad_safe_keys_name_the_key() {
    let base = "[web]\ncode_url = \"u\"\ncode_commit_hash = \"c\"\ncode_local_path = \"/a\"\n";
    for (extra, key) in [
        ("health_command = 1", "health_command"),
        (
            "health_command = \"x\"\nhealth_timeout = 0",
            "health_timeout",
        ),
        (
            "health_command = \"x\"\nhealth_retries = 0",
            "health_retries",
        ),
        ("paused = \"yes\"", "paused"),
        ("update_lock = \"run/x\"", "update_lock"),
        ("update_lock = 3", "update_lock"),
        ("update_windows = \"Mon 02:00-03:00\"", "update_windows"),
        ("update_windows = [\"Mon 2-3\"]", "update_windows"),
        ("update_windows = [3]", "update_windows"),
        ("prune_code = 1", "prune_code"),
    ] {
        let e = spec(&format!("{base}{extra}\n")).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{F}: [web] key `{key}`")),
            "{extra}: {e}"
        );
        if key == "update_windows" {
            assert!(e.contains("Mon-Fri 02:00-04:00"), "{e}");
        }
    }
}

#[test]
fn sections_are_the_tables_and_allow_empty_is_a_top_key() {
    let doc = parse_file(F, b"allow_empty = true\n[b]\nx = 1\n[a]\n").unwrap();
    assert_eq!(sections(&doc), vec!["a".to_string(), "b".to_string()]);
    assert!(allow_empty(&doc));
    assert!(!allow_empty(
        &parse_file(F, b"allow_empty = \"yes\"\n").unwrap()
    ));
}

#[test]
fn non_utf8_file_is_named() {
    let e = parse_file(F, b"[web]\nx = \"\xfe\"")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with(F) && e.contains("UTF-8"), "{e}");
}

#[test]
fn check_returns_every_problem_in_the_agents_order() {
    let doc = parse_file(
        F,
        b"[web]\ncode_url = 1\ncode_local_path = \"rel\"\nconfig_files = [ { src = \"../x\", dst = \"e\" }, 3 ]\npaused = \"yes\"\nhelth_command = \"x\"\n",
    )
    .unwrap();
    let c = check(F, &doc, "web");
    assert!(c.spec.is_none());
    let keys: Vec<(&str, bool)> = c
        .problems
        .iter()
        .map(|p| (p.key.as_str(), p.warning))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("helth_command", true),
            ("code_url", false),
            ("code_commit_hash", false),
            ("code_local_path", false),
            ("config_files[0].src", false),
            ("config_files[0].dst", false),
            ("config_files[1]", false),
            ("paused", false),
        ]
    );
    // The agent's error is the first of them, in its own words.
    let e = app_spec(F, &doc, "web").unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{F}: [web] key `code_url`: must be a non-empty string"
        )),
        "{e}"
    );
}

#[test]
fn legacy_keys_are_one_problem_each_and_one_agent_error() {
    let doc = parse_file(
        F,
        b"[web]\nconfig_src_path_rel_in_this_repo = \"x\"\nconfig_dst_path_abs = \"/x\"\n",
    )
    .unwrap();
    let c = check(F, &doc, "web");
    let legacy: Vec<&str> = c
        .problems
        .iter()
        .filter(|p| p.message.contains("was removed"))
        .map(|p| p.key.as_str())
        .collect();
    assert_eq!(
        legacy,
        ["config_src_path_rel_in_this_repo", "config_dst_path_abs"]
    );
    let e = app_spec(F, &doc, "web").unwrap_err().to_string();
    assert!(
        e.contains(
            "keys `config_src_path_rel_in_this_repo` and `config_dst_path_abs`: were removed"
        ),
        "{e}"
    );
}

#[test]
fn unknown_keys_are_warnings_that_keep_the_spec() {
    let doc = parse_file(
        F,
        b"[web]\ncode_url = \"u\"\ncode_commit_hash = \"c\"\ncode_local_path = \"/a\"\nhelth = 1\n",
    )
    .unwrap();
    let c = check(F, &doc, "web");
    assert!(c.spec.is_some());
    assert_eq!(c.problems.len(), 1);
    assert!(c.problems[0].warning);
    assert_eq!(
        c.spec.unwrap().warnings,
        vec![format!("{F}: [web] unknown key `helth` ignored")]
    );
}

#[test]
fn a_section_that_is_not_a_table_is_a_problem_of_the_section() {
    let doc = parse_file(F, b"web = 3\n").unwrap();
    let c = check(F, &doc, "web");
    assert_eq!(c.problems.len(), 1);
    assert_eq!(c.problems[0].key, "");
    assert!(c.problems[0].message.contains("must be a table `[web]`"));
}

#[test]
fn pin_form_is_a_commit_id_or_a_ref_name() {
    for ok in [
        "4f1c2e9",
        "4f1c",
        &"a".repeat(40),
        "v1.2.0",
        "release/2024-05",
        "c",
        "main",
    ] {
        assert_eq!(pin_form(ok), Ok(()), "{ok}");
    }
    for bad in [
        &"a".repeat(41) as &str,
        &"0".repeat(64),
        "v1 2",
        "v1..2",
        "a@{1}",
        "-x",
        "v1.",
        "x.lock",
        "a//b",
        "HEAD~1",
        "a^",
        "x:y",
        "\u{7}",
        "@",
    ] {
        let e = pin_form(bad).unwrap_err();
        assert!(e.contains("commit id"), "{bad}: {e}");
    }
    let e =
        spec("[web]\ncode_url = \"u\"\ncode_commit_hash = \"v1 .2\"\ncode_local_path = \"/a\"\n")
            .unwrap_err()
            .to_string();
    assert!(
        e.starts_with(&format!(
            "{F}: [web] key `code_commit_hash`: \"v1 .2\" is neither"
        )),
        "{e}"
    );
}
