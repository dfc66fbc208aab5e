//! The clone's `origin` remote: written as `git clone` writes it, and the one origin guard
//! (SPEC §3): a clone is only ever used for the repository it was made for.

use std::path::Path;

use gix::bstr::{BStr, ByteSlice};

use crate::error::{Context, Error, Kind, Result};
use crate::url::Url;

/// The fetch refspec `git clone` writes; ours is the same so the git CLI behaves as usual.
pub const ORIGIN_FETCH_REFSPEC: &str = "+refs/heads/*:refs/remotes/origin/*";

/// The origin guard: `Ok` when `found` (the clone's `remote.origin.url`) names the same
/// repository as `url`, however either is spelled (`url::same_repo`). Otherwise an
/// `Invalid` error naming the clone and both (redacted) urls: a clone of anything else, or
/// of nothing known, is never touched.
pub fn check(dir: &Path, found: Option<&str>, url: &Url) -> Result<()> {
    match found {
        Some(found) if url.same_repo(found) => Ok(()),
        Some(found) => Err(Error::new(
            Kind::Invalid,
            format!(
                "{}: existing clone has origin {} but {} is expected; not touching it",
                dir.display(),
                Url::new(found),
                url
            ),
        )),
        None => Err(Error::new(
            Kind::Invalid,
            format!(
                "{}: existing git repository has no origin url (expected {}); not touching it",
                dir.display(),
                url
            ),
        )),
    }
}

/// `remote.origin.url` as written in the repository's own config. Read from the raw file
/// (`plumbing`): the repository's config is otherwise ignored (`open::open_options`).
pub fn url(repo: &gix::Repository) -> Option<String> {
    repo.config_snapshot()
        .plumbing()
        .string("remote.origin.url")
        .map(|u| u.to_str_lossy().into_owned())
}

/// Write `[remote "origin"]` with `url` and the standard fetch refspec into `.git/config`,
/// keeping every other line (gix-config edits losslessly), replacing the file atomically.
pub fn write(repo: &gix::Repository, url: &Url) -> Result<()> {
    let path = repo.git_dir().join("config");
    let mut config =
        gix::config::File::from_path_no_includes(path.clone(), gix::config::Source::Local)
            .with_context(|| format!("read {}", path.display()))?;
    {
        let mut section = config
            .section_mut_or_create_new("remote", Some(BStr::new("origin")))
            .with_context(|| format!("add remote section to {}", path.display()))?;
        // Tokens stay out of files on disk (`url::stored_form`).
        let stored = crate::url::stored_form(url.secret());
        section
            .set("url", BStr::new(&stored))
            .with_context(|| format!("set remote.origin.url in {}", path.display()))?;
        if section.values("fetch").is_empty() {
            section
                .push("fetch", Some(BStr::new(ORIGIN_FETCH_REFSPEC)))
                .with_context(|| format!("set remote.origin.fetch in {}", path.display()))?;
        }
    }
    crate::files::atomic_write(&path, config.to_bstring().as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = "/clones/x";

    #[test]
    fn the_same_repository_spelled_differently_passes() {
        let dir = Path::new(DIR);
        assert!(check(dir, Some("https://h/o/r.git"), &" https://h/o/r/ ".into()).is_ok());
        assert!(check(dir, Some("https://h/o/r"), &"https://tok@h/o/r.git".into()).is_ok());
    }

    #[test]
    fn another_repository_is_refused_naming_both_without_secrets() {
        let err = check(
            Path::new(DIR),
            Some("https://u:sekret@h/o/r.git"),
            &"https://h/o/other".into(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), Kind::Invalid);
        let text = err.to_string();
        assert!(text.contains(DIR), "{text}");
        assert!(text.contains("https://***@h/o/r.git"), "{text}");
        assert!(text.contains("https://h/o/other"), "{text}");
        assert!(!text.contains("sekret"), "{text}");
    }

    #[test]
    fn no_origin_is_refused() {
        let err = check(Path::new(DIR), None, &"https://h/o/r".into()).unwrap_err();
        assert_eq!(err.kind(), Kind::Invalid);
        assert!(err.to_string().contains("no origin"), "{err}");
    }
}
