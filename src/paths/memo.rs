//! Folders a group's visit has already proven real this pass, so each app's checks `lstat`
//! only the components below them (every app's `dst` and code folder share the same few
//! ancestors: `/`, `/etc`, `/srv`, …; walking each from `/` was ~10 calls per app).
//!
//! An entry is a path with every symlink already resolved whose `lstat` said "a folder, not
//! a symlink". Trusting it for the rest of the group's visit adds no race the check does
//! not already have with its use (a link planted between a check and the write it guards is
//! missed either way; the next pass walks anew). What the agent itself changes is another
//! matter: a checkout, a config write or a hook may put a symlink where a folder was, so
//! everything that changes the disk (apply, recovery, removal) calls [`Memo::forget`] first,
//! and the check right before a `dst` is written (after the checkout) never uses the memo:
//! the memo only spares the early checks that refuse a section before anything runs.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Folders proven real during one group's visit (see the module doc).
#[derive(Debug, Default)]
pub struct Memo {
    real_dirs: RefCell<HashSet<PathBuf>>,
    /// What `lstat` said of the regular files at the end of the ways walked (a `dst`): the
    /// observation right after the check compares them without asking again.
    files: RefCell<HashMap<PathBuf, std::fs::Metadata>>,
}

impl Memo {
    /// Whether `path` (symlinks resolved) was found a real folder earlier this visit.
    pub fn is_real_dir(&self, path: &Path) -> bool {
        self.real_dirs.borrow().contains(path)
    }

    /// `lstat` found `path` (symlinks resolved) a folder, not a symlink.
    pub fn saw_real_dir(&self, path: &Path) {
        self.real_dirs.borrow_mut().insert(path.to_path_buf());
    }

    /// `lstat` found `path` (symlinks resolved) a regular file, with `meta`.
    pub fn saw_file(&self, path: &Path, meta: std::fs::Metadata) {
        self.files.borrow_mut().insert(path.to_path_buf(), meta);
    }

    /// What `lstat` said of the regular file `path` this visit, if it was walked to; once
    /// (a second question reads the disk).
    pub fn take_file(&self, path: &Path) -> Option<std::fs::Metadata> {
        self.files.borrow_mut().remove(path)
    }

    /// Drop everything: the agent is about to change the disk.
    pub fn forget(&self) {
        self.real_dirs.borrow_mut().clear();
        self.files.borrow_mut().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_known_once_seen_real_and_until_forgotten() {
        let memo = Memo::default();
        let d = Path::new("/srv/x");
        assert!(!memo.is_real_dir(d));
        memo.saw_real_dir(d);
        assert!(memo.is_real_dir(d));
        assert!(!memo.is_real_dir(Path::new("/srv")), "only what was seen");
        memo.forget();
        assert!(!memo.is_real_dir(d));
    }

    #[test]
    fn a_file_seen_is_served_once_and_forgotten_with_the_rest() {
        let memo = Memo::default();
        let me = std::env::current_exe().unwrap();
        let meta = std::fs::symlink_metadata(&me).unwrap();
        memo.saw_file(&me, meta.clone());
        assert_eq!(memo.take_file(&me).map(|m| m.len()), Some(meta.len()));
        assert!(memo.take_file(&me).is_none(), "once");
        memo.saw_file(&me, meta);
        memo.forget();
        assert!(memo.take_file(&me).is_none());
    }
}
