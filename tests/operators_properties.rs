//! Property tests of the operators' views (SPEC §13): whatever an app name, status, commit
//! or error holds, `status --json` stays one valid JSON document that reads back the same,
//! the metrics file stays valid Prometheus text whose labels read back the same (clipped),
//! and the last-pass record reads back as written.

mod support_status;

use gitops_agent::json;
use gitops_agent::metrics::{self, AppMetric, Snapshot};
use gitops_agent::state::last_pass;
use gitops_agent::status::record::{AppStatus, LastPass};
use gitops_agent::text::clip;
use proptest::prelude::*;
use support_status::{family, parse_json, parse_metrics, Json};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Text with what breaks writers over-represented: quotes, backslashes, control
/// characters, line separators, emoji, and sometimes more than the 200 characters shown.
fn hostile() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("\n".to_string()),
            Just("\r".to_string()),
            Just("\u{2028}".to_string()),
            Just("✅ ".to_string()),
            Just("\\n".to_string()),
            "[\u{0}-\u{1f}\u{7f}]",
            "[a-z0-9 {}=,#]{0,8}",
            any::<char>().prop_map(String::from),
        ],
        0..24,
    )
    .prop_flat_map(|parts| {
        let s = parts.concat();
        prop_oneof![Just(s.clone()), Just(s.repeat(8))]
    })
}

fn app_metric() -> impl Strategy<Value = AppMetric> {
    (hostile(), hostile(), any::<bool>(), hostile()).prop_map(|(app, status, healthy, commit)| {
        AppMetric {
            app,
            status,
            healthy,
            commit,
        }
    })
}

fn app_status() -> impl Strategy<Value = AppStatus> {
    (
        (hostile(), hostile(), hostile(), any::<bool>(), hostile()),
        (
            proptest::option::of(any::<i64>()),
            proptest::option::of(hostile()),
            proptest::option::of(hostile()),
            proptest::option::of(hostile()),
            proptest::option::of(any::<i64>()),
        ),
    )
        .prop_map(
            |((name, repo, status, healthy, commit), (changed, paused, deferred, error, at))| {
                AppStatus {
                    name,
                    repo,
                    status,
                    healthy,
                    commit,
                    changed_unix: changed,
                    paused_by: paused,
                    deferred_by: deferred,
                    last_error: error,
                    last_error_unix: at,
                }
            },
        )
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn json_strings_read_back_unchanged(s in hostile()) {
        let encoded = json::string(&s);
        prop_assert!(!encoded.contains('\n') && !encoded.contains('\r'));
        prop_assert!(!encoded.chars().any(|c| (c as u32) < 0x20));
        prop_assert_eq!(parse_json(&encoded), Ok(Json::String(s)));
    }

    #[test]
    fn json_objects_of_hostile_keys_and_values_are_valid(k in hostile(), v in hostile()) {
        let doc = json::object(&[(k.as_str(), json::array(&[json::string(&v), "null".into()]))]);
        let parsed = parse_json(&doc).map_err(|e| TestCaseError::fail(format!("{e}: {doc}")))?;
        prop_assert_eq!(
            parsed,
            Json::Object(vec![(k, Json::Array(vec![Json::String(v), Json::Null]))])
        );
    }

}

// Whole documents of many hostile strings: fewer cases (each is a few hundred strings).
proptest! {
    #![proptest_config(config(150))]

    #[test]
    fn metrics_labels_read_back_clipped_and_every_sample_is_one_line(
        infra in hostile(),
        apps in proptest::collection::vec(app_metric(), 0..4),
        failures in any::<u64>(),
        ended in any::<i64>(),
        seconds in 0.0f64..1e6,
    ) {
        let snap = Snapshot {
            infra: infra.clone(),
            apps: apps.clone(),
            last_pass_unix: ended,
            pass_seconds: seconds,
            publish_failures_total: failures,
        };
        let text = metrics::render(&snap);
        let samples = parse_metrics(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(samples.len(), 2 * apps.len() + 3);
        let sample_lines = text.lines().filter(|l| !l.starts_with('#')).count();
        prop_assert_eq!(sample_lines, samples.len());
        for s in &samples {
            prop_assert_eq!(s.label("infra").to_string(), clip(&infra).into_owned());
        }
        let healthy = family(&samples, "gitops_agent_app_healthy");
        let info = family(&samples, "gitops_agent_app_info");
        for (i, a) in apps.iter().enumerate() {
            prop_assert_eq!(healthy[i].label("app").to_string(), clip(&a.app).into_owned());
            prop_assert_eq!(healthy[i].value, if a.healthy { 1.0 } else { 0.0 });
            prop_assert_eq!(info[i].label("app").to_string(), clip(&a.app).into_owned());
            prop_assert_eq!(info[i].label("commit").to_string(), clip(&a.commit).into_owned());
            prop_assert_eq!(info[i].label("status").to_string(), clip(&a.status).into_owned());
        }
        let total = family(&samples, "gitops_agent_publish_failures_total");
        prop_assert_eq!(total[0].value, failures as f64);
    }

    #[test]
    fn last_pass_record_reads_back_as_written(
        infra in hostile(),
        apps in proptest::collection::btree_map(hostile(), app_status(), 0..4),
        unpublished in proptest::collection::vec(hostile(), 0..3),
        ended in any::<i64>(),
        failures in 0..=i64::MAX as u64,
        seconds in 0.0f64..1e6,
    ) {
        // One entry per name, sorted by name, as `record::build` makes them.
        let apps: Vec<AppStatus> = apps
            .into_iter()
            .map(|(name, a)| AppStatus { name, ..a })
            .collect();
        let record = LastPass {
            infra,
            ended_unix: ended,
            duration_seconds: seconds,
            publish_failures_total: failures,
            unpublished,
            apps,
        };
        let text = toml::to_string(&last_pass::encode(&record)).unwrap();
        prop_assert_eq!(last_pass::decode(&text), Some(record.clone()));
        // The two files of today's record, too.
        let mut back = last_pass::decode_apps(&last_pass::encode_apps(&record)).unwrap();
        (back.ended_unix, back.duration_seconds) =
            last_pass::decode_time(&last_pass::encode_time(&record)).unwrap();
        prop_assert_eq!(back, record);
    }
}
