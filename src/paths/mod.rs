//! Where the deploy repo may make the agent write (SPEC §10): config `dst` files never
//! through a symlink a code repo or a local user could have planted, and code folders never
//! at a system folder or the agent's own home. The rules are pure (`rules`); `walk` reads
//! the disk one path component at a time (`lstat`, never following a link it has not
//! judged) and asks them.

mod memo;
pub mod rules;
pub(crate) mod walk;

pub use memo::Memo;

use std::path::{Path, PathBuf};

use crate::error::{Error, Kind, Result};
use crate::infra_meta::AppSpec;

/// Check `spec` against the policy before anything of the app runs: its `code_local_path`
/// (`rules::code_folder`) and every config `dst` (`check_dst`). `code_folders` are the code
/// folders of every app known on this device (`known_code_folders`), `home` is
/// `$GITOPS_AGENT_HOME` and `home_physical` its [`physical`] path (resolved once per group,
/// not per app). `memo` spares reading again the folders this group's visit has already
/// proven real (`memo` module). Errors are `Invalid`, name the key, the path and the link.
pub fn check_app(
    spec: &AppSpec,
    code_folders: &CodeFolders,
    home: &Path,
    home_physical: &Path,
    memo: Option<&Memo>,
) -> Result<()> {
    let physical = walk::physical_in(&spec.code_local_path, memo);
    rules::code_folder(&spec.code_local_path, &physical, home, home_physical).map_err(|why| {
        Error::new(
            Kind::Invalid,
            format!(
                "key `code_local_path`: {} {why}",
                spec.code_local_path.display()
            ),
        )
    })?;
    for (i, cf) in spec.config_files.iter().enumerate() {
        check_dst(&cf.dst, code_folders, memo)
            .map_err(|e| Error::new(Kind::Invalid, format!("key `config_files[{i}].dst`: {e}")))?;
    }
    Ok(())
}

/// `dst` may be written: no symlink inside a code folder on its way or at its end, and
/// every other symlink on its way passes `rules::may_follow`. The error names the link.
/// Without a `memo` every component is read (the re-check after a checkout).
pub fn check_dst(dst: &Path, code_folders: &CodeFolders, memo: Option<&Memo>) -> Result<()> {
    let folders = || {
        code_folders
            .get()
            .iter()
            .map(|f| walk::physical_in(f, memo))
            .collect()
    };
    walk::judge_links(dst, folders, crate::files::current_uid(), memo)
        .map_err(|why| Error::new(Kind::Invalid, format!("{}: {why}", dst.display())))
}

/// The code folders of every app this device knows of ([`known_code_folders`]), worked out
/// on first use: parsing every applied record as TOML costs more than the rest of a path
/// check (about 3 M instructions for 50 apps), and the list is needed only when a `dst`
/// path meets a symlink (`walk::judge_links`).
pub struct CodeFolders {
    doc: Vec<PathBuf>,
    records: Vec<(String, String)>,
    all: std::cell::OnceCell<Vec<PathBuf>>,
}

impl CodeFolders {
    /// `doc`: the group's infra_meta; `records`: `state::read_all` of the applied folder.
    pub fn new(doc: Option<&toml::Table>, records: Vec<(String, String)>) -> CodeFolders {
        CodeFolders {
            doc: known_code_folders(doc, &[]),
            records,
            all: std::cell::OnceCell::new(),
        }
    }

    /// The folders, from `doc` first, then from the records.
    pub fn get(&self) -> &[PathBuf] {
        self.all.get_or_init(|| {
            let mut all = self.doc.clone();
            for p in known_code_folders(None, &self.records) {
                if !all.contains(&p) {
                    all.push(p);
                }
            }
            all
        })
    }
}

/// The code folders of every app this device knows of: those named in `doc` (the group's
/// infra_meta, every section, also apps of other devices), and those of the `records` of
/// earlier applies (`state::read_all` of the applied folder: apps of the other deploy repos).
pub fn known_code_folders(doc: Option<&toml::Table>, records: &[(String, String)]) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = Vec::new();
    let mut add = |table: &toml::Table| {
        if let Some(toml::Value::String(p)) = table.get("code_local_path") {
            let p = PathBuf::from(p.trim());
            if p.is_absolute() && !folders.contains(&p) {
                folders.push(p);
            }
        }
    };
    if let Some(doc) = doc {
        for section in doc.values().filter_map(toml::Value::as_table) {
            add(section);
        }
    }
    // Records are the sections applied last (their text, see `state`).
    for (_, text) in records {
        if let Ok(table) = text.parse::<toml::Table>() {
            add(&table);
        }
    }
    folders
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<(String, String)> {
        vec![
            ("a".into(), "code_local_path = \"/srv/a\"\n".into()),
            ("b".into(), "code_local_path = \"/srv/shared\"\n".into()),
            ("broken".into(), "not toml [".into()),
        ]
    }

    #[test]
    fn code_folders_are_the_known_ones_in_the_same_order() {
        let doc: toml::Table =
            "[x]\ncode_local_path = \"/srv/shared\"\n[y]\ncode_local_path = \"rel\"\n"
                .parse()
                .unwrap();
        let lazy = CodeFolders::new(Some(&doc), records());
        assert_eq!(lazy.get(), known_code_folders(Some(&doc), &records()));
        assert_eq!(
            lazy.get(),
            [PathBuf::from("/srv/shared"), PathBuf::from("/srv/a")]
        );
    }

    #[test]
    fn code_folders_parse_the_records_only_when_a_dst_meets_a_link() {
        let d =
            std::env::temp_dir().join(format!("gitops-agent-codefolders-{}", std::process::id()));
        std::fs::create_dir_all(d.join("real")).unwrap();
        std::os::unix::fs::symlink(d.join("real"), d.join("link")).unwrap();
        let folders = CodeFolders::new(None, records());
        check_dst(&d.join("real/x.env"), &folders, None).unwrap();
        assert!(
            folders.all.get().is_none(),
            "no link on the way: records not read"
        );
        let _ = check_dst(&d.join("link/x.env"), &folders, None);
        assert!(folders.all.get().is_some(), "a link on the way needs them");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
