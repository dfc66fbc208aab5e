//! The last applied verified tip of each deploy repo and branch (SPEC §11), one file per
//! group under `$GITOPS_AGENT_HOME/state/verified/`, named like the deploy clone, holding the
//! 40-hex commit id. Written atomically (0600, folder 0700); a missing or unreadable record
//! means "no record": the deploy clone's HEAD counts instead.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use gix::ObjectId;

use crate::error::{Error, Result};
use crate::layout::{self, Layout};

/// The folder of the records.
pub fn dir(layout: &Layout) -> PathBuf {
    layout.home.join("state").join("verified")
}

/// The record of the group (`repo_url`, `branch`).
pub fn path(layout: &Layout, repo_url: &crate::url::Url, branch: &str) -> PathBuf {
    dir(layout).join(layout::folder_name(repo_url, branch))
}

/// The recorded tip; `None` when there is no record or it cannot be read (logged).
pub fn read(path: &Path) -> Option<ObjectId> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            log::warn!(
                "{}: cannot read the last verified tip ({e}); using the deploy clone's HEAD",
                path.display()
            );
            return None;
        }
    };
    match ObjectId::from_hex(text.trim().as_bytes()) {
        Ok(id) => Some(id),
        Err(_) => {
            log::warn!(
                "{}: not a commit id; using the deploy clone's HEAD",
                path.display()
            );
            None
        }
    }
}

/// Remember `tip` (atomically: a crash keeps the old record).
pub fn write(path: &Path, tip: ObjectId) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| Error::msg(format!("create {}: {e}", parent.display())))?;
    }
    crate::atomic::write(path, format!("{tip}\n").as_bytes(), Some(0o600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_record_round_trips_privately_and_garbage_reads_as_none() {
        let home = std::env::temp_dir().join(format!("gitops-store-{}", std::process::id()));
        let layout = Layout { home: home.clone() };
        let p = path(&layout, &"https://h/o/deploy.git".into(), "main");
        assert_eq!(read(&p), None);
        let id = ObjectId::from_hex(b"0123456789abcdef0123456789abcdef01234567").unwrap();
        write(&p, id).unwrap();
        assert_eq!(read(&p), Some(id));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), 0o600);
        assert_eq!(mode(&dir(&layout)), 0o700);
        std::fs::write(&p, "nonsense").unwrap();
        assert_eq!(read(&p), None);
        std::fs::remove_dir_all(&home).unwrap();
    }
}
