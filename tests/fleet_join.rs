//! A device joining a long monitoring history (SPEC §9, issue 8), against a real `git daemon`
//! on 127.0.0.1 and the real binary, each device with its own `GITOPS_AGENT_HOME`: the head's
//! record of the oldest commit after the root (`Oldest-After-Root` trailer) lets it fetch the
//! head alone; it deepens to the whole history only when that record says a trim is due, and
//! a stale record heals. A head without a record (the Python agent, earlier versions) makes
//! it fetch the whole history: tests/agent_monitoring.rs `old_history_is_squashed_and_force_pushed`.

mod common;
mod support_fleet;

use common::{fsck, git};
use support_fleet::{
    agent_records, assert_linear, fast_history, is_shallow, monitoring_clone, object_count,
    record_of, time_of, Fleet, RECORD_KEY,
};

const DAY: i64 = 86_400;

fn now() -> i64 {
    gitops_agent::clock::now().seconds
}

/// `n` commits evenly spread from `from_days_ago` to one hour ago, oldest first.
fn spread(n: usize, from_days_ago: i64) -> Vec<i64> {
    let (start, end) = (now() - from_days_ago * DAY, now() - 3600);
    (0..n as i64)
        .map(|k| start + k * (end - start) / (n as i64 - 1))
        .collect()
}

/// `n` devices of one app with `monitoring_history_retention_days = retention`.
fn fleet(n: usize, retention: u64) -> Fleet {
    let f = Fleet::new(n);
    f.configure(&format!("monitoring_history_retention_days = {retention}"));
    let commit = f.code_commit("v1\n");
    f.pin_all(&commit);
    f
}

/// The server's root commit of the monitoring branch.
fn root(f: &Fleet) -> String {
    git(
        f.bare(),
        &["rev-list", "--max-parents=0", "main-monitoring"],
    )
}

#[test]
fn a_device_joining_a_long_history_fetches_the_head_alone() {
    let f = fleet(1, 30);
    let times = spread(240, 20);
    fast_history(f.bare(), &times, &agent_records(&times));
    let history_objects = git(f.bare(), &["rev-list", "--objects", "main-monitoring"])
        .lines()
        .count();

    f.once(0, &[]).expect_code(0);
    let clone = monitoring_clone(&f.devices[0].home);
    assert!(is_shallow(&clone), "not shallow: {}", clone.display());
    let seen: usize = git(&clone, &["rev-list", "--count", "HEAD"])
        .parse()
        .unwrap();
    assert!(seen <= 2, "{seen} commits in the clone");
    let received = object_count(&clone);
    assert!(
        received * 10 < history_objects,
        "{received} objects received; the history holds {history_objects}"
    );
    // the new status commit: the subject as SPEC §6 words it, the record copied
    assert_eq!(
        git(f.bare(), &["log", "-1", "--format=%s", "main-monitoring"]),
        "✅ Status: all 1 apps healthy"
    );
    assert_eq!(record_of(f.bare(), "main-monitoring"), Some(times[1]));
    assert_eq!(
        git(f.bare(), &["rev-list", "--count", "main-monitoring"]),
        "241"
    );
    assert_linear(f.bare());
    fsck(f.bare());
}

#[test]
fn a_head_record_that_says_a_trim_is_due_makes_a_joining_device_deepen_and_trim() {
    let f = fleet(2, 7);
    let times = spread(60, 40);
    fast_history(f.bare(), &times, &agent_records(&times));

    let run = f.once(0, &[]);
    run.expect_code(0);
    assert!(run.stderr.contains("(history trimmed)"), "{}", run.stderr);
    let squash = root(&f);
    assert!(
        git(f.bare(), &["log", "-1", "--format=%s", &squash]).starts_with("📉 History trimmed"),
        "{}",
        git(f.bare(), &["log", "--format=%s", "main-monitoring"])
    );
    assert!(!is_shallow(&monitoring_clone(&f.devices[0].home)));
    // the trimming device's commit records the new chain's oldest commit after the root
    let first_after_root = git(f.bare(), &["rev-list", "--reverse", "main-monitoring"])
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let truth = time_of(f.bare(), &first_after_root);
    assert!(
        truth > now() - 8 * DAY,
        "the first replayed commit is within retention"
    );
    assert_eq!(record_of(f.bare(), "main-monitoring"), Some(truth));

    // the next device to join trusts it: the head alone, no second trim, the record copied
    let run = f.once(1, &[]);
    run.expect_code(0);
    assert!(!run.stderr.contains("(history trimmed)"), "{}", run.stderr);
    assert!(is_shallow(&monitoring_clone(&f.devices[1].home)));
    assert_eq!(root(&f), squash);
    assert_eq!(record_of(f.bare(), "main-monitoring"), Some(truth));
    assert_linear(f.bare());
    fsck(f.bare());
}

/// Commits replayed by a trim keep their messages, so a record can be stale (older than the
/// truth): a joining device then deepens, finds no trim due, and writes the true value.
#[test]
fn a_stale_head_record_costs_one_deepening_and_heals() {
    let f = fleet(2, 7);
    // a root of 40 days ago (a trim's squash commit), then 30 commits of the last 3 days
    // whose records still name the oldest commit of the history before that trim
    let mut times = vec![now() - 40 * DAY];
    times.extend(spread(30, 3));
    let stale = vec![Some(now() - 45 * DAY); times.len()];
    fast_history(f.bare(), &times, &stale);
    let squash = root(&f);

    let run = f.once(0, &[]);
    run.expect_code(0);
    assert!(!run.stderr.contains("(history trimmed)"), "{}", run.stderr);
    assert_eq!(root(&f), squash, "nothing to trim");
    assert!(!is_shallow(&monitoring_clone(&f.devices[0].home)));
    assert_eq!(record_of(f.bare(), "main-monitoring"), Some(times[1]));

    let run = f.once(1, &[]);
    run.expect_code(0);
    assert!(is_shallow(&monitoring_clone(&f.devices[1].home)));
    assert_eq!(record_of(f.bare(), "main-monitoring"), Some(times[1]));
    assert_eq!(
        record_of(f.bare(), "main-monitoring^"),
        Some(times[1]),
        "the deepening device's commit"
    );
    assert_linear(f.bare());
    fsck(f.bare());
}

/// Six devices join at once: lost races are retried on their shallow clones (the new head at
/// depth 1, its record read again), every commit carries the record, one chain.
#[test]
fn devices_joining_together_all_land_with_records_on_one_chain() {
    let f = fleet(6, 30);
    let times = spread(200, 20);
    fast_history(f.bare(), &times, &agent_records(&times));
    let runs = f.run_all(&[]);
    let retries: usize = runs
        .iter()
        .map(|r| r.stderr.matches("trying again").count())
        .sum();
    eprintln!("{retries} retried pushes");
    for (d, run) in f.devices.iter().zip(&runs) {
        assert_eq!(run.code, 0, "{}:\n{}", d.name, run.stderr);
        assert!(is_shallow(&monitoring_clone(&d.home)), "{}", d.name);
    }
    let records = git(
        f.bare(),
        &[
            "log",
            "-6",
            &format!("--format=%(trailers:key={RECORD_KEY},valueonly)"),
            "main-monitoring",
        ],
    );
    let values: Vec<&str> = records.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(values, vec![times[1].to_string(); 6], "{records}");
    assert_eq!(
        git(f.bare(), &["rev-list", "--count", "main-monitoring"]),
        "206"
    );
    assert_linear(f.bare());
    fsck(f.bare());
}

/// A device that joined shallow deepens its clone when a trim falls due later (here: its
/// retention shortened), and trims.
#[test]
fn a_shallow_clone_deepens_when_a_trim_falls_due_later() {
    let f = fleet(1, 30);
    let times = spread(100, 20);
    fast_history(f.bare(), &times, &agent_records(&times));
    f.once(0, &[]).expect_code(0);
    let clone = monitoring_clone(&f.devices[0].home);
    assert!(is_shallow(&clone));

    f.configure("monitoring_history_retention_days = 7");
    let run = f.once(0, &["--force-report"]);
    run.expect_code(0);
    assert!(run.stderr.contains("(history trimmed)"), "{}", run.stderr);
    assert!(!is_shallow(&clone), "deepened");
    assert!(
        git(f.bare(), &["log", "-1", "--format=%s", &root(&f)]).starts_with("📉 History trimmed")
    );
    let first_after_root = git(f.bare(), &["rev-list", "--reverse", "main-monitoring"])
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(
        record_of(f.bare(), "main-monitoring"),
        Some(time_of(f.bare(), &first_after_root))
    );
    assert_linear(f.bare());
    fsck(f.bare());
}
