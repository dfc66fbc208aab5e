//! Property tests for the parsers of what a remote or a repo controls (SPEC §10): thousands
//! of generated inputs each, no panic, bounded output, and redaction never shows the secret.

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use gitops_agent::git::push::report::{check_report, parse_pkt_lines};
use gitops_agent::git::transport::budget::{Bounded, Budget};
use gitops_agent::git::transport::Failure;
use gitops_agent::paths::rules;
use gitops_agent::url::{normalize, redact, short_hash, slug, split_branch, Url};
use gitops_agent::{config, infra_meta, report, text, windows};
use gix::protocol::transport::client::blocking_io::Transport;
use gix::protocol::transport::client::git::{blocking_io::Connection, ConnectMode};
use gix::protocol::transport::{Protocol, Service};
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

/// An error or log text may hold at most this much: our words plus values cut to
/// `text::MAX_SHOWN` characters.
const MAX_ERROR: usize = 600;

/// One pkt-line holding `data`.
fn pkt(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:04x}", data.len() + 4).into_bytes();
    out.extend_from_slice(data);
    out
}

/// Streams of pkt-lines as a server might send them, well-formed or not: ref lines with and
/// without capabilities, flush/delim packets, bad lengths, side-band bytes, garbage.
fn pkt_stream() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        (
            "[0-9a-f]{40}",
            "(HEAD|refs/heads/[a-z/]{1,12}|refs/tags/[a-z]{1,6}\\^\\{\\})"
        )
            .prop_map(|(oid, name)| pkt(format!("{oid} {name}\n").as_bytes())),
        ("[0-9a-f]{40}", "[ a-z0-9=_-]{0,40}")
            .prop_map(|(oid, caps)| { pkt(format!("{oid} HEAD\0{caps}\n").as_bytes()) }),
        Just(pkt(b"version 2\n")),
        Just(pkt(b"unpack ok\n")),
        "(ok|ng) refs/heads/[a-z]{1,8}( [a-z ]{0,20})?"
            .prop_map(|l| pkt(format!("{l}\n").as_bytes())),
        proptest::collection::vec(any::<u8>(), 0..80).prop_map(|b| pkt(&b)),
        (1u8..4, proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(band, b)| {
            let mut d = vec![band];
            d.extend(b);
            pkt(&d)
        }),
        Just(b"0000".to_vec()),
        Just(b"0001".to_vec()),
        Just(b"0002".to_vec()),
        "[0-9a-fA-Fxz]{4}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..16),
    ];
    proptest::collection::vec(line, 0..40).prop_map(|parts| parts.concat())
}

fn server_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        pkt_stream()
    ]
}

/// Run gix's handshake (the ref advertisement) over `bytes`, read through the agent's
/// budget as every transport does.
fn handshake_over(bytes: &[u8], version: Protocol, service: Service) -> Option<usize> {
    let budget = Budget::new(Duration::from_secs(60), Failure::default());
    let reader = Bounded::new(Cursor::new(bytes.to_vec()), budget);
    let conn = Connection::new(
        reader,
        std::io::sink(),
        version,
        "/r.git",
        None::<(&str, Option<u16>)>,
        ConnectMode::Process,
        false,
    );
    let mut transport: Box<dyn Transport + Send> = Box::new(conn);
    gix::protocol::handshake(
        &mut transport,
        service,
        |_| Ok(None),
        Vec::new(),
        &mut gix::progress::Discard,
    )
    .ok()
    .map(|h| h.refs.map_or(0, |r| r.len()))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ref_advertisement_of_any_bytes_never_panics_and_stays_small(
        bytes in server_bytes(),
        v2 in any::<bool>(),
        push in any::<bool>(),
    ) {
        let version = if v2 { Protocol::V2 } else { Protocol::V1 };
        let service = if push { Service::ReceivePack } else { Service::UploadPack };
        if let Some(refs) = handshake_over(&bytes, version, service) {
            // every ref costs at least a 4-byte header and a 40-hex id on the wire
            prop_assert!(refs <= bytes.len() / 44 + 1, "{} refs from {} bytes", refs, bytes.len());
        }
    }

    #[test]
    fn report_status_of_any_bytes_never_panics_and_errors_stay_short(
        bytes in server_bytes(),
        name in "refs/heads/[a-z-]{1,12}",
    ) {
        match parse_pkt_lines(&bytes) {
            Ok(lines) => {
                prop_assert!(lines.len() <= bytes.len() / 4);
                prop_assert!(lines.iter().map(String::len).sum::<usize>() <= bytes.len() * 3);
                if let Err(e) = check_report(&lines, &name) {
                    prop_assert!(e.to_string().chars().count() <= MAX_ERROR, "{}", e);
                }
            }
            Err(e) => prop_assert!(e.to_string().chars().count() <= MAX_ERROR),
        }
    }

    #[test]
    fn report_status_lines_of_any_shape_never_panic(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("unpack ok".to_string()),
                "unpack .{0,300}",
                "ok refs/heads/[a-z]{1,4}",
                "ng refs/heads/[a-z]{1,4}( .{0,2000})?",
                any::<String>(),
            ],
            0..12,
        ),
        name in "refs/heads/[a-z]{1,4}",
    ) {
        if let Err(e) = check_report(&lines, &name) {
            prop_assert!(e.to_string().chars().count() <= MAX_ERROR, "{}", e);
        }
    }

    #[test]
    fn agent_config_of_any_shape_never_panics_and_errors_stay_short(
        keys in proptest::collection::vec(
            (
                prop_oneof![
                    Just("interval"), Just("network_timeout"), Just("transfer_timeout"),
                    Just("https_credential_hosts"), Just("https_password_file"),
                    Just("ssh_key"), Just("monitoring_history_retention_days"), Just("x"),
                ],
                prop_oneof![
                    Just("0".to_string()), Just("-1".to_string()), Just("3600".to_string()),
                    Just("99999999999999".to_string()), Just("[\"h\", \"a/b\"]".to_string()),
                    Just("[1]".to_string()), Just("[]".to_string()), Just("\"/abs\"".to_string()),
                    any::<String>().prop_map(|s| toml::Value::String(s).to_string()),
                    proptest::collection::vec(any::<String>(), 0..3)
                        .prop_map(|v| toml::Value::from(v).to_string()),
                ],
            ),
            0..8,
        ),
    ) {
        let mut text = String::from("infra_name = \"edge\"\n");
        let mut seen = std::collections::HashSet::new();
        for (k, v) in &keys {
            if seen.insert(*k) {
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        text.push_str("[applications]\nweb = \"https://h/o/d.git@main\"\n");
        match config::parse(Path::new("/c.toml"), text.as_bytes()) {
            Ok(c) => prop_assert!(c.net_options().credential_hosts.contains(&"h".to_string())),
            Err(e) => prop_assert!(e.to_string().chars().count() <= MAX_ERROR, "{}", e),
        }
    }

    #[test]
    fn config_file_entries_of_any_shape_never_panic(
        mode in prop_oneof![
            "[0-7]{3,4}", "0[0-9]{3}", ".{0,300}",
        ],
        dst in prop_oneof![Just("/e".to_string()), "[/a-z.]{0,20}"],
    ) {
        let item = format!(
            "[{{ src = \"x\", dst = {}, mode = {} }}]",
            toml::Value::String(dst),
            toml::Value::String(mode.clone())
        );
        let text = format!(
            "[app]\ncode_url = \"u\"\ncode_commit_hash = \"c\"\ncode_local_path = \"/a\"\nconfig_files = {item}\n"
        );
        let doc = infra_meta::parse_file("i", text.as_bytes()).expect("generated TOML parses");
        match infra_meta::app_spec("i", &doc, "app") {
            Ok(spec) => {
                for cf in spec.config_files {
                    prop_assert!(cf.mode.is_none_or(|m| m <= 0o777), "{:?} from {}", cf.mode, mode);
                }
            }
            Err(e) => prop_assert!(e.to_string().chars().count() <= MAX_ERROR, "{}", e),
        }
    }

    #[test]
    fn code_folder_rule_never_panics_and_always_keeps_root_and_home(
        path in "(/|/[a-z.]{0,6}){0,5}",
        home in "/[a-z]{1,6}(/[a-z]{1,6}){0,2}",
    ) {
        let p = Path::new(&path);
        let h = Path::new(&home);
        let verdict = rules::code_folder(p, p, h, h);
        let norm = rules::normalize(p);
        if norm == Path::new("/") || norm.starts_with(h) || h.starts_with(&norm) {
            prop_assert!(verdict.is_err(), "{} allowed with home {}", path, home);
        }
    }
}

/// The harness above really parses: a well-formed advertisement gives its refs.
#[test]
fn handshake_harness_parses_a_real_advertisement() {
    let oid = "1".repeat(40);
    let mut bytes = pkt(format!("{oid} HEAD\0report-status side-band-64k\n").as_bytes());
    bytes.extend(pkt(format!("{oid} refs/heads/main\n").as_bytes()));
    bytes.extend(b"0000");
    assert_eq!(
        handshake_over(&bytes, Protocol::V1, Service::ReceivePack),
        Some(2)
    );
}

#[test]
fn a_huge_infra_meta_value_is_not_echoed_whole() {
    let huge = "x".repeat(10 << 20);
    let base = "code_url = \"https://h/o/r.git\"\ncode_commit_hash = \"abc1234\"\n";
    for section in [
        format!("[app]\n{base}code_local_path = \"rel/{huge}\"\n"),
        format!("[app]\n{base}code_local_path = \"/srv/a\"\nconfig_files = [ {{ src = \"/{huge}\", dst = \"/srv/a/e\" }} ]\n"),
        format!("[app]\n{base}code_local_path = \"/srv/a\"\nconfig_files = [ {{ src = \"e/x\", dst = \"rel/{huge}\" }} ]\n"),
        format!("[app]\n{base}code_local_path = \"/srv/a\"\nconfig_files = [ {{ src = \"../../{huge}\", dst = \"/srv/a/e\" }} ]\n"),
    ] {
        let doc = infra_meta::parse_file("i/infra_meta.toml", section.as_bytes()).unwrap();
        let e = infra_meta::app_spec("i/infra_meta.toml", &doc, "app")
            .unwrap_err()
            .to_string();
        assert!(e.len() < 1000, "{} chars: {}…", e.len(), &e[..300]);
    }
}
