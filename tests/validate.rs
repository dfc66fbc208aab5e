//! `gitops-agent validate` (SPEC §13) with the real binary on a plain folder, with no `git`
//! on PATH: clean, problems, `--json`, bad path, unknown `--infra`; and the exact command
//! line of `examples/ci/*.yml`, so those pipelines cannot rot. Plus properties of the line
//! finder and the JSON strings (no panic on any input).

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::TempDir;
use proptest::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_gitops-agent");

const GOOD: &str = "[web]\ncode_url = \"git@h:o/web.git\"\ncode_commit_hash = \"4f1c2e9\"\ncode_local_path = \"/srv/web\"\nconfig_files = [ { src = \"edge-17/web.env\", dst = \"/srv/web/.env\" } ]\n";

/// `edge-17/infra_meta.toml` with `text`, `edge-17/web.env`, and a second infra `edge-18`.
fn deploy_repo(text: &str) -> TempDir {
    let d = TempDir::new("validate");
    for infra in ["edge-17", "edge-18"] {
        std::fs::create_dir_all(d.join(infra)).unwrap();
    }
    std::fs::write(d.join("edge-17/infra_meta.toml"), text).unwrap();
    std::fs::write(d.join("edge-17/web.env"), "PORT=80\n").unwrap();
    std::fs::write(d.join("edge-18/infra_meta.toml"), "allow_empty = true\n").unwrap();
    d
}

/// A broken file: a bad type, a missing `src`, a removed key (lines 3, 5, 6).
const BROKEN: &str = "[web]\ncode_url = \"git@h:o/web.git\"\ncode_commit_hash = 5\ncode_local_path = \"/srv/web\"\nconfig_files = [ { src = \"edge-17/gone.env\", dst = \"/srv/web/.env\" } ]\nconfig_dst_path_abs = \"/x\"\n";

const BROKEN_LINES: [&str; 3] = [
    "edge-17/infra_meta.toml:3: [web] code_commit_hash: must be a non-empty string, found integer",
    "edge-17/infra_meta.toml:5: [web] config_files[0].src: \"edge-17/gone.env\" does not exist in the deploy repo",
    "edge-17/infra_meta.toml:6: [web] config_dst_path_abs: was removed; write `config_files = [",
];

/// The binary with nothing of the environment but `PATH` (no `git` there: only an empty
/// folder), run in `cwd`.
fn validate(cwd: &Path, args: &[&str]) -> Output {
    let empty = TempDir::new("no-git");
    Command::new(BIN)
        .arg("validate")
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", empty.path())
        .stdin(Stdio::null())
        .output()
        .expect("run gitops-agent")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn assert_lines(out: &str, want: &[&str]) {
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), want.len(), "{out}");
    for (g, w) in got.iter().zip(want) {
        assert!(g.starts_with(w), "`{g}` should start with `{w}`\n{out}");
    }
}

#[test]
fn a_clean_checkout_exits_0_and_prints_nothing() {
    let d = deploy_repo(GOOD);
    let o = validate(d.path(), &["."]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(stdout(&o), "");
}

#[test]
fn problems_are_one_line_each_and_exit_1() {
    let d = deploy_repo(BROKEN);
    let o = validate(Path::new("/"), &[d.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_lines(&stdout(&o), &BROKEN_LINES);
}

#[test]
fn json_is_an_array_of_findings() {
    let d = deploy_repo(&BROKEN.replace("gone.env", "gone\\\"\\\\.env"));
    let o = validate(d.path(), &["--json", "."]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let out = stdout(&o);
    assert!(out.starts_with("[\n{") && out.ends_with("}\n]\n"), "{out}");
    assert_eq!(out.lines().count(), 5, "{out}");
    assert!(
        out.contains("{\"file\":\"edge-17/infra_meta.toml\",\"line\":3,\"app\":\"web\",\"key\":\"code_commit_hash\",\"message\":\"must be a non-empty string, found integer;"),
        "{out}"
    );
    assert!(
        out.contains("\"message\":\"\\\"edge-17/gone\\\"\\\\.env\\\" does not exist"),
        "{out}"
    );
    let clean = deploy_repo(GOOD);
    let o = validate(clean.path(), &["--json", "."]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "[]\n"));
}

#[test]
fn infra_limits_the_files_checked() {
    let d = deploy_repo(BROKEN);
    let o = validate(d.path(), &[".", "--infra", "edge-18"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let o = validate(d.path(), &[".", "--infra", "edge-18", "--infra", "edge-17"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
}

#[test]
fn unusable_input_exits_2() {
    let d = deploy_repo(GOOD);
    for args in [
        vec!["./nowhere"],
        vec!["edge-17/web.env"],
        vec![".", "--infra", "edge-99"],
        vec![".", "--infra", "../edge-17"],
        vec!["edge-17"],
    ] {
        let o = validate(d.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
        assert_eq!(stdout(&o), "", "{args:?}");
    }
    let o = validate(d.path(), &[".", "--infra", "edge-99"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--infra edge-99") && err.contains("edge-17, edge-18"),
        "{err}"
    );
}

/// The `gitops-agent validate` command line of a CI file, as the runner's shell gets it.
fn ci_command(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/ci")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let commands: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && l.contains("gitops-agent validate"))
        .map(|l| {
            let l = l
                .strip_prefix("run:")
                .or_else(|| l.strip_prefix('-'))
                .unwrap_or(l);
            l.trim().to_string()
        })
        .collect();
    assert_eq!(commands.len(), 1, "{file}: one validate line: {commands:?}");
    commands[0].clone()
}

#[test]
fn the_ci_examples_run_validate_on_the_checkout() {
    for file in ["github-actions.yml", "gitlab-ci.yml"] {
        let cmd = ci_command(file);
        // The pipelines put the binary on PATH: so does this test, and nothing else.
        let bin = TempDir::new("ci-bin");
        std::os::unix::fs::symlink(BIN, bin.join("gitops-agent")).unwrap();
        let run = |repo: &Path| {
            Command::new("/bin/sh")
                .args(["-c", &cmd])
                .current_dir(repo)
                .env_clear()
                .env("PATH", bin.path())
                .stdin(Stdio::null())
                .output()
                .unwrap()
        };
        let clean = deploy_repo(GOOD);
        let o = run(clean.path());
        assert_eq!(o.status.code(), Some(0), "{file}: `{cmd}`: {o:?}");
        let broken = deploy_repo(BROKEN);
        let o = run(broken.path());
        assert_eq!(o.status.code(), Some(1), "{file}: `{cmd}`: {o:?}");
        assert_lines(&stdout(&o), &BROKEN_LINES);
    }
}

/// A JSON string literal read back (the subset `json::string` writes).
fn json_unescape(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                _ => return None,
            },
            '"' => return None,
            c if (c as u32) < 0x20 => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn json_strings_read_back_as_written(s in any::<String>()) {
        let j = gitops_agent::json::string(&s);
        prop_assert_eq!(json_unescape(&j), Some(s));
    }

    #[test]
    fn the_line_finder_never_panics_and_stays_in_the_text(
        text in "(\\[|\\]|\\{|\\}|=|\"|'|#|\n|\\.|web|src|dst|config_files| |x|\"\"\"|é){0,80}",
        key in "(config_files|src|\\[|\\]|[0-9]|\\.|web|dst|x){0,8}",
    ) {
        let n = gitops_agent::validate::lines::line_of(&text, "web", &key);
        prop_assert!(n >= 1 && n <= text.split('\n').count(), "{} for {:?}", n, text);
    }

    #[test]
    fn the_line_finder_takes_any_bytes(text in any::<String>(), app in any::<String>(), key in any::<String>()) {
        let n = gitops_agent::validate::lines::line_of(&text, &app, &key);
        prop_assert!(n >= 1 && n <= text.split('\n').count());
    }
}
