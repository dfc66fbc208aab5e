//! The few `.git/config` settings [`look`](super::look) needs, read by a deliberately small
//! parser: plain `[section]` / `[section "sub"]` headers, `key = value` lines and comments.
//! Anything else (quotes, escapes, continuation lines, inline comments, includes, repository
//! extensions, settings the shortcut does not model) answers `None`, which sends the caller
//! to gix, whose full parser then decides as before. Pure.

/// The settings of a clone that decide how its worktree is compared with its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Settings {
    pub stat: gix::index::entry::stat::Options,
    pub symlinks: bool,
    pub executable_bit: bool,
}

/// One `key = value` line: lower-cased section and key, subsection as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry<'a> {
    section: String,
    subsection: Option<&'a str>,
    key: String,
    /// `None` for a key written without `=` (git reads it as boolean true).
    value: Option<&'a str>,
}

/// `Some` when `config` parses with the small parser, `remote.origin.url` names the same
/// repository as `url` (the origin guard) and every setting that could change what gix
/// decides is one the shortcut models, with git's defaults for the rest.
pub(super) fn settings(config: &[u8], url: &crate::url::Url) -> Option<Settings> {
    let entries = parse(std::str::from_utf8(config).ok()?)?;
    let last = |section: &str, sub: Option<&str>, key: &str| {
        entries
            .iter()
            .rev()
            .find(|e| e.section == section && e.subsection == sub && e.key == key)
    };
    let origin = last("remote", Some("origin"), "url")?.value?;
    if !url.same_repo(origin) {
        return None;
    }
    for e in &entries {
        let modelled = match (e.section.as_str(), e.subsection) {
            ("core", None) => matches!(
                e.key.as_str(),
                "repositoryformatversion"
                    | "filemode"
                    | "bare"
                    | "logallrefupdates"
                    | "ignorecase"
                    | "precomposeunicode"
                    | "symlinks"
                    | "trustctime"
                    | "checkstat"
            ),
            // Remotes, branches and users do not change how a worktree is compared.
            ("remote" | "branch" | "user" | "gc" | "fetch" | "pull" | "advice", _) => true,
            _ => false,
        };
        if !modelled {
            return None;
        }
    }
    let flag = |key: &str, default: bool| match last("core", None, key) {
        None => Some(default),
        Some(e) => boolean(e.value),
    };
    if flag("bare", false)? || flag("ignorecase", false)? || flag("precomposeunicode", false)? {
        return None;
    }
    match last("core", None, "repositoryformatversion") {
        None => {}
        Some(e) if matches!(e.value.map(str::trim), Some("0" | "1")) => {}
        Some(_) => return None,
    }
    let check_stat = match last("core", None, "checkstat").map(|e| e.value) {
        None => true,
        Some(Some(v)) if v.eq_ignore_ascii_case("default") => true,
        Some(Some(v)) if v.eq_ignore_ascii_case("minimal") => false,
        Some(_) => return None,
    };
    Some(Settings {
        stat: gix::index::entry::stat::Options {
            trust_ctime: flag("trustctime", true)?,
            check_stat,
            use_nsec: false,
            use_stdev: false,
        },
        symlinks: flag("symlinks", true)?,
        executable_bit: flag("filemode", true)?,
    })
}

/// git's boolean spellings; `None` for anything else.
fn boolean(value: Option<&str>) -> Option<bool> {
    let Some(v) = value else {
        return Some(true); // `[core] bare` alone means true
    };
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" | "" => Some(false),
        _ => None,
    }
}

/// Every `key = value` line under its section; `None` at the first line outside the subset.
fn parse(text: &str) -> Option<Vec<Entry<'_>>> {
    let mut entries = Vec::new();
    let mut section: Option<(String, Option<&str>)> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            section = Some(parse_header(header.strip_suffix(']')?)?);
            continue;
        }
        let (name, sub) = section.as_ref()?;
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (line, None),
        };
        let plain_key = key.starts_with(|c: char| c.is_ascii_alphabetic())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let plain_value = value.is_none_or(|v| !v.contains(['"', '\\', '#', ';']));
        if !plain_key || !plain_value {
            return None;
        }
        entries.push(Entry {
            section: name.clone(),
            subsection: *sub,
            key: key.to_ascii_lowercase(),
            value,
        });
    }
    Some(entries)
}

/// `core` or `remote "origin"` (the text between the brackets).
fn parse_header(header: &str) -> Option<(String, Option<&str>)> {
    let (name, sub) = match header.split_once(' ') {
        Some((name, rest)) => {
            let sub = rest.trim().strip_prefix('"')?.strip_suffix('"')?;
            if sub.contains(['"', '\\']) {
                return None;
            }
            (name, Some(sub))
        }
        None => (header, None),
    };
    let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    plain.then(|| (name.to_ascii_lowercase(), sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "git://host/code/app";

    /// What `git init` / gix write, plus the origin.
    fn standard(extra: &str) -> String {
        format!(
            "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\
             \tlogallrefupdates = true\n{extra}[remote \"origin\"]\n\turl = {URL}\n\
             \tfetch = +refs/heads/*:refs/remotes/origin/*\n"
        )
    }

    fn read(config: &str) -> Option<Settings> {
        settings(config.as_bytes(), &crate::url::Url::new(URL))
    }

    #[test]
    fn a_standard_config_has_git_defaults() {
        let s = read(&standard("")).unwrap();
        assert!(s.executable_bit && s.symlinks);
        assert!(s.stat.trust_ctime && s.stat.check_stat);
        assert!(!s.stat.use_nsec && !s.stat.use_stdev);
    }

    #[test]
    fn the_origin_guard_applies() {
        assert!(settings(standard("").as_bytes(), &"git://host/code/other".into()).is_none());
        assert!(read("[core]\n\tbare = false\n").is_none(), "no origin");
        // Same repository, spelled differently (url::same_repo's rules).
        assert!(settings(standard("").as_bytes(), &"git://host/code/app.git".into()).is_some());
    }

    #[test]
    fn modelled_settings_are_read_with_gits_spellings() {
        let s = read(&standard(
            "\tfileMode = off\n\tsymlinks = no\n\ttrustCtime = 0\n\tcheckStat = minimal\n",
        ))
        .unwrap();
        assert!(!s.executable_bit && !s.symlinks);
        assert!(!s.stat.trust_ctime && !s.stat.check_stat);
        // The last value wins, a bare key is true.
        let s = read(&standard("\tfilemode = false\n\tfilemode\n")).unwrap();
        assert!(s.executable_bit);
    }

    #[test]
    fn settings_that_change_the_comparison_are_left_to_gix() {
        for extra in [
            "\tignorecase = true\n",
            "\tbare = true\n",
            "\tabbrev = 12\n",
            "\tworktree = /elsewhere\n",
            "\tfilemode = maybe\n",
            "\tcheckstat = sometimes\n",
            "\trepositoryformatversion = 2\n",
            "[extensions]\n\tobjectformat = sha256\n",
            "[include]\n\tpath = other\n",
            "[gitoxide \"core\"]\n\tuseNsec = true\n",
            "[index]\n\tskipHash = true\n",
        ] {
            assert!(read(&standard(extra)).is_none(), "{extra:?}");
        }
    }

    #[test]
    fn syntax_outside_the_small_subset_is_left_to_gix() {
        for extra in [
            "\tfilemode = \"true\"\n",
            "\tfilemode = true # inline comment\n",
            "\tfilemode = tr\\\nue\n",
            "[remote.origin]\n\turl = x\n",
            "[core\n",
            "\t= value\n",
        ] {
            assert!(read(&standard(extra)).is_none(), "{extra:?}");
        }
        // Comments and blank lines are fine.
        assert!(read(&format!("# made by hand\n\n; note\n{}", standard(""))).is_some());
    }
}
