//! Apps paused on the device with `gitops-agent pause` (SPEC §12): one marker file per app,
//! so `pause` and `resume` need no lock, no network and no read-modify-write of a shared file.

use std::path::{Path, PathBuf};

use super::{names_in, read_table, remove_file, write_table};
use crate::error::Result;

fn dir(state: &Path) -> PathBuf {
    state.join("paused")
}

fn path(state: &Path, app: &str) -> PathBuf {
    dir(state).join(format!("{app}.toml"))
}

/// Pause `app`; `at` is the local time stamp kept for people reading the folder.
pub fn pause(state: &Path, app: &str, at: &str) -> Result<()> {
    if read_table(&path(state, app)).is_some() {
        return Ok(()); // keep the first time stamp
    }
    let mut t = toml::Table::new();
    t.insert("paused-at".into(), at.into());
    write_table(&path(state, app), &t)
}

pub fn resume(state: &Path, app: &str) -> Result<()> {
    remove_file(&path(state, app))
}

pub fn is_paused(state: &Path, app: &str) -> bool {
    path(state, app).exists()
}

/// Every app paused on this device, sorted.
pub fn all(state: &Path) -> Vec<String> {
    names_in(&dir(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_and_resume() {
        let d = std::env::temp_dir().join(format!(
            "gitops-paused-{}-{:x}",
            std::process::id(),
            crate::atomic::random_u64()
        ));
        assert!(!is_paused(&d, "web"));
        pause(&d, "web", "2026-11-24 10:00:00").unwrap();
        pause(&d, "web", "2026-11-24 11:00:00").unwrap();
        assert!(is_paused(&d, "web"));
        assert_eq!(all(&d), vec!["web".to_string()]);
        resume(&d, "web").unwrap();
        resume(&d, "web").unwrap();
        assert!(!is_paused(&d, "web"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
