//! `gitops-agent plan` (SPEC §13) with the real binary against a deploy repo over file://:
//! before the first pass (exit 1, nothing created outside the home, no hook run, nothing
//! pushed), after a pass (exit 0), after a config-file change in the deploy repo (exit 1,
//! the diff shows the changed lines, the file in place untouched); a config it cannot use
//! exits 2. And `--help` lists the subcommands.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::scenario::{Scenario, INFRA};

/// One app `web` with a config file whose `dst` is outside its code folder, and hooks that
/// leave a mark when they run.
fn world(s: &Scenario) -> (PathBuf, PathBuf) {
    let (code, c1) = s.code_repo("web", &[("app.txt", "v1\n")]);
    let dst = s.path().join("etc-web").join("web.env");
    let marks = s.path().join("hook-ran");
    s.deploy(&[(&format!("{INFRA}/web.env"), "PORT=80\nMODE=prod\n")]);
    s.infra_meta(&[s.section(
        "web",
        &code,
        &c1,
        &format!(
            "config_files = [ {{ src = \"{INFRA}/web.env\", dst = \"{}\" }} ]\npre_updation_command = \"touch {m}\"\npost_updation_command = \"touch {m}\"",
            dst.display(),
            m = marks.display()
        ),
    )]);
    s.agent_config(&["web"]);
    (dst, marks)
}

fn plan(s: &Scenario) -> (i32, String) {
    let out: Output = s
        .agent()
        .arg("plan")
        .output()
        .expect("run gitops-agent plan");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        out.status.code().unwrap_or(-1),
        format!("{text}\n--- log ---\n{log}"),
    )
}

#[test]
fn plan_before_the_first_pass_changes_nothing_and_says_everything() {
    let s = Scenario::new();
    let (dst, marks) = world(&s);
    let (code, out) = plan(&s);
    assert_eq!(code, 1, "{out}");
    for want in [
        "[web] would update: code folder missing; config file",
        &format!(
            "clone {}",
            common::file_url(&s.path().join("served/web.git"))
        ),
        &format!("write {} from {INFRA}/web.env", dst.display()),
        &format!(
            "run post_updation_command in {}: touch",
            s.srv("web").display()
        ),
        &format!(
            "--- /dev/null\n+++ {} (from {INFRA}/web.env)\n@@ -0,0 +1,2 @@\n+PORT=80\n+MODE=prod\n",
            dst.display()
        ),
        "plan: 1 of 1 app(s) would change",
    ] {
        assert!(out.contains(want), "no `{want}` in:\n{out}");
    }
    // (no pre command: the folder does not exist, so apply would not run it either)
    assert!(!out.contains("pre_updation_command"), "{out}");
    assert!(!s.srv("web").exists(), "the code folder was created");
    assert!(
        !dst.exists() && !dst.parent().unwrap().exists(),
        "the config file was written"
    );
    assert!(!marks.exists(), "a hook ran");
    assert_eq!(s.monitoring_head(), None, "something was pushed");
    assert!(
        !s.home.join("state/applied/web").exists(),
        "an apply was recorded"
    );
}

#[test]
fn plan_after_a_pass_has_nothing_to_do_and_then_shows_a_config_change() {
    let s = Scenario::new();
    let (dst, marks) = world(&s);
    s.once().expect_code(0);
    std::fs::remove_file(&marks).unwrap();
    let pushed = s.monitoring_head();
    let (code, out) = plan(&s);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[web] in sync: nothing would change"), "{out}");
    assert!(out.contains("plan: 0 of 1 app(s) would change"), "{out}");

    s.deploy(&[(&format!("{INFRA}/web.env"), "PORT=81\nMODE=prod\n")]);
    let (code, out) = plan(&s);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "[web] would update: config file {} differs",
            dst.display()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("--- {d}\n+++ {d} (from {INFRA}/web.env)\n@@ -1,2 +1,2 @@\n-PORT=80\n+PORT=81\n MODE=prod\n", d = dst.display())),
        "{out}"
    );
    assert!(out.contains("run pre_updation_command"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&dst).unwrap(),
        "PORT=80\nMODE=prod\n"
    );
    assert!(!marks.exists(), "a hook ran");
    assert_eq!(s.monitoring_head(), pushed, "something was pushed");
    // The pass that follows does what the plan said.
    s.once().expect_code(0);
    assert_eq!(
        std::fs::read_to_string(&dst).unwrap(),
        "PORT=81\nMODE=prod\n"
    );
    let (code, out) = plan(&s);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn plan_with_a_config_it_cannot_use_exits_2() {
    let s = Scenario::new();
    std::fs::write(&s.config, "interval = 1\n").unwrap();
    let (code, out) = plan(&s);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("infra_name"), "{out}");
}

#[test]
fn help_lists_the_subcommands() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gitops-agent"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["pause", "resume", "validate", "plan"] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&format!("{cmd} "))),
            "{cmd} not in --help:\n{text}"
        );
    }
}

/// `diff` applied to `old`: the new text, or why the diff does not fit `old`.
fn patch(old: &str, diff: &str) -> Result<String, String> {
    let old: Vec<&str> = old.split_inclusive('\n').collect();
    let mut out: Vec<String> = Vec::new();
    let mut at = 0; // next old line not yet copied
    let mut body = diff.split_inclusive('\n').skip(2).peekable();
    while let Some(line) = body.next() {
        if let Some(h) = line.strip_prefix("@@ -") {
            let old_range = h.split(' ').next().unwrap();
            let start: usize = old_range.split(',').next().unwrap().parse().unwrap();
            // (`-N,0`: nothing old in the hunk, it goes after line N)
            let start = if old_range.ends_with(",0") {
                start
            } else {
                start.saturating_sub(1)
            };
            out.extend(old[at..start.min(old.len())].iter().map(|s| s.to_string()));
            at = start;
            continue;
        }
        let mut text = line[1..].to_string();
        if body.peek() == Some(&"\\ No newline at end of file\n") {
            body.next();
            text.pop();
        }
        match &line[..1] {
            " " | "-" => {
                if old.get(at) != Some(&text.as_str()) {
                    return Err(format!("line {at}: {text:?} is not {:?}", old.get(at)));
                }
                at += 1;
                if &line[..1] == " " {
                    out.push(text);
                }
            }
            "+" => out.push(text),
            other => return Err(format!("bad line start {other:?}")),
        }
    }
    out.extend(old[at.min(old.len())..].iter().map(|s| s.to_string()));
    Ok(out.concat())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    #[test]
    fn a_diff_applied_to_the_old_text_gives_the_new(
        old in proptest::collection::vec("[abc]\n", 0..30),
        new in proptest::collection::vec("[abc]\n", 0..30),
        old_end in "[xy]?",
        new_end in "[xy]?",
    ) {
        let (old, new) = (old.concat() + &old_end, new.concat() + &new_end);
        let d = gitops_agent::diff::unified(Some(old.as_bytes()), new.as_bytes(), "a", "b");
        if old == new {
            proptest::prop_assert_eq!(d, "");
        } else {
            proptest::prop_assert_eq!(patch(&old, &d), Ok(new), "{}", d);
        }
    }
}
