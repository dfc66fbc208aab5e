//! What one group's visit learns once and every app's turn reuses: the folders proven
//! real (`paths::Memo`). Whatever changes the disk (apply, recovery, removal) calls
//! [`GroupMemo::disk_changes`] first, so nothing learnt before is trusted after it.

use crate::paths;

/// Facts gathered once per group visit (module doc).
#[derive(Debug, Default)]
pub(super) struct GroupMemo {
    /// Folders proven real on the way to `dst` files and code folders.
    pub paths: paths::Memo,
}

impl GroupMemo {
    /// The agent is about to change the disk (a checkout, a config write, a hook): forget
    /// the folders proven real, a symlink may stand there afterwards.
    pub fn disk_changes(&self) {
        self.paths.forget();
    }
}
