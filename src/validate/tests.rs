//! `validate` over texts: every finding, its line, its words.
use super::*;

const FILE: &str = "edge/infra_meta.toml";

fn found(text: &str) -> Vec<String> {
    let src_exists = |src: &str| match src {
        "edge/web.env" => Ok(()),
        _ => Err(format!("\"{src}\" does not exist in the deploy repo")),
    };
    check_file(
        FILE,
        text.as_bytes(),
        Path::new("/opt/gitops-agent"),
        &src_exists,
    )
    .iter()
    .map(ToString::to_string)
    .collect()
}

const GOOD: &str = "[web]\ncode_url = \"u\"\ncode_commit_hash = \"4f1c2e9\"\ncode_local_path = \"/srv/web\"\nconfig_files = [ { src = \"edge/web.env\", dst = \"/srv/web/.env\" } ]\n";

#[test]
fn a_clean_file_has_no_finding() {
    assert_eq!(found(GOOD), Vec::<String>::new());
}

#[test]
fn every_problem_is_a_line_with_file_line_app_and_key() {
    let text = "allow_empty = \"yes\"\n[web]\ncode_url = 1\ncode_commit_hash = \"a b\"\ncode_local_path = \"/etc\"\nconfig_files = [\n  { src = \"edge/gone.env\", dst = \"/srv/web/.env\" },\n  { src = \"../x\", dst = \"rel\" },\n]\nhelth_command = \"true\"\nconfig_dst_path_abs = \"/x\"\n[\"a/b\"]\ncode_url = \"u\"\n";
    let got = found(text);
    let want = [
        "edge/infra_meta.toml:1: [allow_empty] must be true or false, found string; e.g. `allow_empty = true`",
        "edge/infra_meta.toml:3: [web] code_url: must be a non-empty string, found integer; e.g. `code_url = \"git@github.com:org/app.git\"`",
        "edge/infra_meta.toml:4: [web] code_commit_hash: \"a b\" is neither",
        "edge/infra_meta.toml:7: [web] config_files[0].src: \"edge/gone.env\" does not exist",
        "edge/infra_meta.toml:8: [web] config_files[1].src: \"../x\" leaves the deploy repo",
        "edge/infra_meta.toml:8: [web] config_files[1].dst: \"rel\" must be an absolute path",
        "edge/infra_meta.toml:10: [web] helth_command: unknown key",
        "edge/infra_meta.toml:11: [web] config_dst_path_abs: was removed",
        "edge/infra_meta.toml:12: [a/b] section name",
        "edge/infra_meta.toml:12: [a/b] code_commit_hash: missing",
        "edge/infra_meta.toml:12: [a/b] code_local_path: missing",
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for w in want {
        assert!(got.iter().any(|g| g.starts_with(w)), "no `{w}` in {got:#?}");
    }
}

#[test]
fn the_code_folder_rule_is_the_agents() {
    let got = found(&GOOD.replace("/srv/web\"", "/opt/gitops-agent/x\""));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("edge/infra_meta.toml:4: [web] code_local_path: /opt/gitops-agent/x is inside the agent's home"),
        "{got:?}"
    );
}

#[test]
fn invalid_toml_is_one_finding_at_its_line() {
    let got = found("[web]\ncode_url = \"u\"\ncode_url = \"v\"\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("edge/infra_meta.toml:3: invalid TOML"),
        "{got:?}"
    );
}

#[test]
fn a_non_table_top_key_is_named() {
    let got = found(&format!("version = 2\n{GOOD}"));
    assert_eq!(got, vec!["edge/infra_meta.toml:1: [version] `version` must be a table `[version]`, found integer".to_string()]);
}

#[test]
fn a_message_stays_on_one_line() {
    let f = Finding {
        file: "f".into(),
        line: 1,
        app: "a".into(),
        key: String::new(),
        message: "x\ny".into(),
        warning: false,
    };
    assert_eq!(f.to_string(), "f:1: [a] x y");
}
