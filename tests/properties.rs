//! Property tests for the parsers of what a remote or a repo controls (SPEC §10): thousands
//! of generated inputs each, no panic, bounded output, and redaction never shows the secret.

use gitops_agent::url::{normalize, redact, short_hash, slug, split_branch, Url};
use gitops_agent::{infra_meta, report, text, windows};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2000,
        ..ProptestConfig::default()
    }
}

/// Characters a hand-written url might hold, separators over-represented.
fn url_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("://".to_string()),
            Just("@".to_string()),
            Just("/".to_string()),
            Just(":".to_string()),
            Just("?".to_string()),
            Just("&".to_string()),
            Just("=".to_string()),
            Just("#".to_string()),
            Just(".git".to_string()),
            Just("token".to_string()),
            "[a-zA-Z0-9 é\u{0}-\u{1f}]{0,6}",
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

/// A secret that is not a substring of the url's other parts (so "not shown" is checkable).
fn secret() -> impl Strategy<Value = String> {
    "S3CR[A-Za-z0-9/:%+]{4,30}"
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn url_functions_never_panic_and_redact_stays_short(s in url_text()) {
        let _ = split_branch(&s);
        let _ = normalize(&s);
        let _ = slug(&s);
        prop_assert_eq!(short_hash(&s).len(), 8);
        prop_assert!(redact(&s).chars().count() <= text::MAX_SHOWN + 1);
    }

    #[test]
    fn redact_never_shows_the_userinfo_secret(
        scheme in prop_oneof![Just("https"), Just("http"), Just("ssh"), Just("git")],
        user in "[a-z]{0,8}",
        pw in secret(),
        host in "[a-z]{1,10}(:[0-9]{1,5})?",
        path in "(/[a-z@.]{0,8}){0,4}",
    ) {
        let url = format!("{scheme}://{user}:{pw}@{host}{path}");
        let shown = redact(&url);
        prop_assert!(!shown.contains(&pw), "{} shows {}", shown, pw);
        prop_assert!(!Url::new(url.clone()).to_string().contains(&pw));
        let debug = format!("{:?}", Url::new(url));
        prop_assert!(!debug.contains(&pw));
    }

    #[test]
    fn redact_never_shows_a_secret_query_value(
        name in prop_oneof![
            Just("token"), Just("access_token"), Just("private_token"),
            Just("password"), Just("key"), Just("sig"), Just("ACCESS_TOKEN"),
        ],
        value in "S3CR[A-Za-z0-9%+/]{4,30}",
        before in "(x=[a-z]{0,4}&){0,2}",
        after in "(&y=[a-z]{0,4}){0,2}(#[a-z]{0,4})?",
    ) {
        let url = format!("https://h/o/r.git?{before}{name}={value}{after}");
        let shown = redact(&url);
        prop_assert!(!shown.contains(&value), "{} shows {}", shown, value);
    }

    #[test]
    fn infra_meta_parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(doc) = infra_meta::parse_file("i/infra_meta.toml", &bytes) {
            for app in doc.keys() {
                let _ = infra_meta::app_spec("i/infra_meta.toml", &doc, app);
            }
        }
    }

    #[test]
    fn infra_meta_sections_of_any_shape_never_panic(
        keys in proptest::collection::vec(
            (
                prop_oneof![
                    Just("code_url"), Just("code_commit_hash"), Just("code_local_path"),
                    Just("config_files"), Just("pre_updation_command"),
                    Just("post_updation_command"), Just("command_timeout"),
                    Just("config_src_path_rel_in_this_repo"), Just("config_dst_path_abs"),
                    Just("other"),
                ],
                prop_oneof![
                    Just("\"/srv/a\"".to_string()),
                    Just("\"rel/x\"".to_string()),
                    Just("\"../../etc/passwd\"".to_string()),
                    Just("\"\"".to_string()),
                    Just("-1".to_string()),
                    Just("99999999999".to_string()),
                    Just("true".to_string()),
                    Just("[ { src = \"a\", dst = \"/b\" } ]".to_string()),
                    Just("[ { src = 1 } ]".to_string()),
                    Just("[1, \"x\"]".to_string()),
                    Just("{ a = 1 }".to_string()),
                    any::<String>().prop_map(|s| toml::Value::String(s).to_string()),
                ],
            ),
            0..10,
        ),
    ) {
        let mut text = String::from("[app]\n");
        let mut seen = std::collections::HashSet::new();
        for (k, v) in &keys {
            if seen.insert(*k) {
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        let doc = infra_meta::parse_file("i/infra_meta.toml", text.as_bytes())
            .expect("generated TOML parses");
        if let Err(e) = infra_meta::app_spec("i/infra_meta.toml", &doc, "app") {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn previous_feedback_file_of_any_content_never_breaks_build(
        prev in prop_oneof![
            any::<String>(),
            url_text(),
            Just("[web]\nstatus = 1\n[web.config-updation]\nupdation-return-value = \"x\"\n".to_string()),
            Just("web = [1, 2]\n[db.extra-command-output]\ncommand-return-val = 5\n".to_string()),
        ],
    ) {
        let fb = report::build(Some(&prev), &[], "2026-01-01 00:00:00");
        prop_assert!(fb.text.contains("overall_status"));
        let _ = report::same_content(&prev, &fb.text);
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn window_parser_never_panics_and_errors_stay_short(
        s in prop_oneof![
            any::<String>(),
            "(Mon|Tue|Sun|Xyz|-|,){0,6} [0-9:]{0,6}-[0-9:]{0,6}",
        ],
        weekday in 0u8..7,
        minute in 0u16..1440,
    ) {
        match windows::Window::parse(&s) {
            Ok(w) => { let _ = w.contains(windows::LocalMinute { weekday, minute }); }
            Err(e) => prop_assert!(e.to_string().chars().count() < 400),
        }
    }
}

#[test]
fn a_huge_value_is_not_echoed_whole_by_redact() {
    let url = format!("https://h/{}", "x".repeat(10 << 20));
    assert!(redact(&url).len() < 1024);
}
