use std::os::unix::fs::MetadataExt;

use super::*;

fn record() -> LastPass {
    LastPass {
        infra: "edge-1".into(),
        ended_unix: 1_795_000_000,
        duration_seconds: 2.5,
        publish_failures_total: 4,
        unpublished: vec!["https://h/o/d.git@main".into()],
        apps: vec![
            AppStatus {
                name: "a.b \"odd\"".into(),
                repo: "https://h/o/d.git@main".into(),
                status: "⏸️ paused".into(),
                healthy: true,
                commit: String::new(),
                changed_unix: None,
                paused_by: Some("gitops-agent pause".into()),
                deferred_by: None,
                last_error: Some("line\nwith \"quotes\"".into()),
                last_error_unix: Some(1_794_000_000),
            },
            AppStatus {
                name: "web".into(),
                repo: "https://h/o/d.git@main".into(),
                status: "✅ healthy".into(),
                healthy: true,
                commit: "4f1c2e9".into(),
                changed_unix: Some(1_795_000_000),
                paused_by: None,
                deferred_by: Some("update_lock".into()),
                last_error: None,
                last_error_unix: None,
            },
        ],
    }
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("gitops-last-pass-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_record_reads_back_as_written() {
    let text = toml::to_string(&encode(&record())).unwrap();
    assert_eq!(decode(&text), Some(record()));
}

#[test]
fn another_version_or_a_broken_file_reads_as_none() {
    let mut t = encode(&record());
    t.insert("version".into(), Value::Integer(2));
    assert_eq!(decode(&toml::to_string(&t).unwrap()), None);
    assert_eq!(decode("not toml ["), None);
    assert_eq!(decode("version = 1\n"), None);
    assert_eq!(
        decode_apps("gitops-agent last-pass-apps 3\ninfra\tx\nfailures\t0\n"),
        None
    );
    assert_eq!(decode_apps(&format!("{APPS_HEADER}\ninfra\tx\n")), None);
    assert_eq!(
        decode_apps(&format!(
            "{APPS_HEADER}\ninfra\tx\nfailures\t0\napp\tshort\n"
        )),
        None
    );
    assert_eq!(decode_time("gitops-agent last-pass-time 3\n1\t2\n"), None);
}

#[test]
fn the_apps_and_time_lines_read_back_as_written() {
    let mut r = record();
    r.apps[1].last_error = Some(String::new());
    r.apps[1].status = "tab\there, back\\slash, \\- and \\n, cr\r".into();
    r.infra = "\\-".into();
    r.unpublished.push("second\tone\n".into());
    r.duration_seconds = 0.1 + 0.2;
    r.publish_failures_total = u64::MAX;
    let mut back = decode_apps(&encode_apps(&r)).unwrap();
    let (ended, duration) = decode_time(&encode_time(&r)).unwrap();
    (back.ended_unix, back.duration_seconds) = (ended, duration);
    assert_eq!(back, r);
    // One line per app, whatever the values hold.
    assert_eq!(
        encode_apps(&r)
            .lines()
            .filter(|l| l.starts_with("app\t"))
            .count(),
        2
    );
}

#[test]
fn an_escape_never_written_reads_as_none() {
    assert_eq!(unesc("a\\xb"), None);
    assert_eq!(unesc("trailing\\"), None);
    assert_eq!(unesc("a\\\\b\\tc"), Some("a\\b\tc".into()));
}

#[test]
fn files_are_private_and_missing_reads_as_missing() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new("private");
    let dir = &dir.0;
    assert_eq!(read(dir), Read::Missing);
    write(dir, &record()).unwrap();
    assert_eq!(read(dir), Read::Record(record()));
    for file in [apps_path(dir), time_path(dir)] {
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    std::fs::write(apps_path(dir), "garbage").unwrap();
    assert!(matches!(read(dir), Read::Unreadable(_)));
}

#[test]
fn an_unchanged_apps_file_is_not_rewritten() {
    let dir = Dir::new("unchanged");
    let dir = &dir.0;
    write(dir, &record()).unwrap();
    let inode = |p: PathBuf| std::fs::metadata(p).unwrap().ino();
    let (apps, time) = (inode(apps_path(dir)), inode(time_path(dir)));
    let before = previous(dir);
    let mut next = record();
    next.ended_unix += 60;
    next.duration_seconds = 0.02;
    store(dir, &next, &before).unwrap();
    assert_eq!(inode(apps_path(dir)), apps, "the apps file was rewritten");
    assert_ne!(inode(time_path(dir)), time, "the time file was not written");
    assert_eq!(read(dir), Read::Record(next.clone()));
    // A changed app is written.
    next.apps[1].commit = "0123abc".into();
    store(dir, &next, &previous(dir)).unwrap();
    assert_ne!(inode(apps_path(dir)), apps);
    assert_eq!(read(dir), Read::Record(next));
}

#[test]
fn a_pass_reads_the_apps_without_the_time_file() {
    let dir = Dir::new("notime");
    let dir = &dir.0;
    write(dir, &record()).unwrap();
    std::fs::remove_file(time_path(dir)).unwrap();
    // `status` says it cannot read the record; the pass still has the apps and the counter.
    assert!(matches!(read(dir), Read::Unreadable(_)));
    let Read::Record(r) = previous(dir).read else {
        panic!("the apps file was not read");
    };
    assert_eq!(r.publish_failures_total, 4);
    assert_eq!(r.apps, record().apps);
}

#[test]
fn a_version_1_record_is_read_and_replaced() {
    let dir = Dir::new("v1");
    let dir = &dir.0;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(path(dir), toml::to_string(&encode(&record())).unwrap()).unwrap();
    assert_eq!(read(dir), Read::Record(record()));
    let before = previous(dir);
    assert_eq!(before.read, Read::Record(record()));
    store(dir, &record(), &before).unwrap();
    assert!(!path(dir).exists(), "the version-1 file is left behind");
    assert_eq!(read(dir), Read::Record(record()));
    // A version-1 file that cannot be read says so (the next pass replaces it).
    std::fs::remove_file(apps_path(dir)).unwrap();
    std::fs::write(path(dir), "version = 7\n").unwrap();
    assert!(matches!(read(dir), Read::Unreadable(_)));
}
