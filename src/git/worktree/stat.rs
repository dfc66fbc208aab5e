//! The stat-only verdict on one index entry: is the file certainly unchanged, or does it need
//! the full status (content hashing, filters, conflict handling)? Pure; the `lstat` is done
//! by the caller (`status::stat_pass`).
//!
//! The rules are git's and gix's (`gix_status::index_as_worktree`), restricted to the cases
//! where they decide without reading the file: an entry is `Clean` only where gix would
//! return "unchanged" before hashing, so answering `Unsure` is always safe.

use gix::index::entry::stat::{self, Time};
use gix::index::entry::{Flags, Mode, Stat};

/// What one `lstat` of a tracked path showed. `None` (in [`verdict`]) means it is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seen {
    pub is_file: bool,
    pub is_dir: bool,
    pub is_symlink: bool,
    pub is_executable: bool,
    pub stat: Stat,
}

/// What the index recorded for one tracked path (the fields of `gix::index::Entry` that
/// matter here).
#[derive(Debug, Clone, Copy)]
pub(super) struct Recorded<'a> {
    pub flags: Flags,
    pub mode: Mode,
    pub stat: Stat,
    pub id: &'a gix::oid,
}

impl<'a> Recorded<'a> {
    pub fn of(entry: &'a gix::index::Entry) -> Self {
        Recorded {
            flags: entry.flags,
            mode: entry.mode,
            stat: entry.stat,
            id: &entry.id,
        }
    }
}

/// The answer for one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Certainly as recorded in the index (or never looked at, like git).
    Clean,
    /// Maybe changed: only the full status can tell.
    Unsure,
}

/// Flags under which git and gix do not look at the worktree file at all.
const NOT_CHECKED: Flags = Flags::UPTODATE
    .union(Flags::SKIP_WORKTREE)
    .union(Flags::ASSUME_VALID)
    .union(Flags::FSMONITOR_VALID);

/// Judge one index entry from what `lstat` showed (`seen`), the index file's own mtime
/// (`index_time`, for racy-git), the stat comparison options and the filesystem's
/// `symlinks` / `executable_bit` capabilities.
pub(super) fn verdict(
    entry: &Recorded,
    seen: Option<&Seen>,
    index_time: Time,
    options: stat::Options,
    symlinks: bool,
    executable_bit: bool,
) -> Verdict {
    if entry.flags.intersects(NOT_CHECKED) {
        return Verdict::Clean;
    }
    // A conflict (stages 1-3): the full status reports it.
    if entry.flags.intersects(Flags::STAGE_MASK) {
        return Verdict::Unsure;
    }
    let Some(seen) = seen else {
        return Verdict::Unsure; // deleted
    };
    if seen.is_dir {
        // Submodules are never populated by our checkout and never judged (Ignore::All);
        // any other tracked path that became a folder was removed.
        return if entry.mode.is_submodule() {
            Verdict::Clean
        } else {
            Verdict::Unsure
        };
    }
    if entry.flags.contains(Flags::INTENT_TO_ADD) {
        return Verdict::Unsure;
    }
    let mode_change = entry.mode.change_to_match_fs_with_values(
        seen.is_file,
        seen.is_dir,
        seen.is_symlink,
        seen.is_executable,
        symlinks,
        executable_bit,
    );
    if mode_change.is_some() {
        return Verdict::Unsure;
    }
    if !seen.stat.matches(&entry.stat, options) {
        return Verdict::Unsure;
    }
    // The empty blob recorded with a size is inconsistent; gix hashes it, so do not decide.
    if entry.id.is_empty_blob() && entry.stat.size != 0 {
        return Verdict::Unsure;
    }
    // Racy git: written in the same second as the index (or later), the stat data cannot
    // tell a same-size edit apart.
    if is_racy(&seen.stat, index_time, options) {
        return Verdict::Unsure;
    }
    Verdict::Clean
}

/// `gix::index::entry::Stat::is_racy`, over the index time as a plain [`Time`].
fn is_racy(seen: &Stat, index_time: Time, options: stat::Options) -> bool {
    use std::cmp::Ordering;
    match index_time.secs.cmp(&seen.mtime.secs) {
        Ordering::Less => true,
        Ordering::Equal if options.use_nsec && options.check_stat => {
            index_time.nsecs <= seen.mtime.nsecs
        }
        Ordering::Equal => true,
        Ordering::Greater => false,
    }
}

/// The worktree-relative folders of `path` that must be real folders (not symlinks) for the
/// file to be the tracked one, outermost first: `a/b/c.txt` → `a`, `a/b`.
pub(super) fn leading_dirs(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'/')
        .map(move |(i, _)| &path[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: stat::Options = stat::Options {
        trust_ctime: true,
        check_stat: true,
        use_nsec: false,
        use_stdev: false,
    };

    fn stat(mtime: u32, size: u32) -> Stat {
        Stat {
            mtime: Time {
                secs: mtime,
                nsecs: 5,
            },
            ctime: Time {
                secs: mtime,
                nsecs: 5,
            },
            dev: 1,
            ino: 42,
            uid: 1000,
            gid: 1000,
            size,
        }
    }

    /// The id of the blob "hello\n".
    static HELLO: std::sync::LazyLock<gix::ObjectId> = std::sync::LazyLock::new(|| {
        gix::ObjectId::from_hex(b"ce013625030ba8dba906f756967f9e9ca394464a").unwrap()
    });

    fn entry(mode: Mode, st: Stat) -> Recorded<'static> {
        Recorded {
            stat: st,
            id: &HELLO,
            flags: Flags::empty(),
            mode,
        }
    }

    fn file(st: Stat) -> Seen {
        Seen {
            is_file: true,
            is_dir: false,
            is_symlink: false,
            is_executable: false,
            stat: st,
        }
    }

    /// The index was written at t=200; files at t=100 are not racy.
    const INDEX_TIME: Time = Time {
        secs: 200,
        nsecs: 0,
    };

    fn judge(e: &Recorded, seen: Option<&Seen>) -> Verdict {
        verdict(e, seen, INDEX_TIME, OPTS, true, true)
    }

    #[test]
    fn same_stat_older_than_the_index_is_clean() {
        let e = entry(Mode::FILE, stat(100, 7));
        assert_eq!(judge(&e, Some(&file(stat(100, 7)))), Verdict::Clean);
    }

    #[test]
    fn a_deleted_file_is_unsure() {
        let e = entry(Mode::FILE, stat(100, 7));
        assert_eq!(judge(&e, None), Verdict::Unsure);
    }

    #[test]
    fn any_stat_difference_is_unsure() {
        let e = entry(Mode::FILE, stat(100, 7));
        let mut changed = [stat(100, 8), stat(101, 7), stat(100, 7), stat(100, 7)];
        changed[2].ino = 43;
        changed[3].ctime.secs = 150; // chmod, chown, rename over it
        for st in changed {
            assert_eq!(judge(&e, Some(&file(st))), Verdict::Unsure, "{st:?}");
        }
    }

    #[test]
    fn a_file_as_new_as_the_index_is_racy_and_unsure() {
        // Same second as the index: a same-size edit would keep size and mtime.
        let e = entry(Mode::FILE, stat(200, 7));
        assert_eq!(judge(&e, Some(&file(stat(200, 7)))), Verdict::Unsure);
        let e = entry(Mode::FILE, stat(250, 7));
        assert_eq!(judge(&e, Some(&file(stat(250, 7)))), Verdict::Unsure);
        // With nanosecond checks, only a file not older than the index is racy.
        let nsec = stat::Options {
            use_nsec: true,
            ..OPTS
        };
        let e = entry(Mode::FILE, stat(200, 7)); // 200 s + 5 ns
        let at = |nsecs| Time { secs: 200, nsecs };
        let seen = file(stat(200, 7));
        assert_eq!(
            verdict(&e, Some(&seen), at(4), nsec, true, true),
            Verdict::Unsure
        );
        assert_eq!(
            verdict(&e, Some(&seen), at(5), nsec, true, true),
            Verdict::Unsure
        );
        assert_eq!(
            verdict(&e, Some(&seen), at(6), nsec, true, true),
            Verdict::Clean
        );
    }

    #[test]
    fn an_executable_bit_change_is_unsure() {
        let e = entry(Mode::FILE, stat(100, 7));
        let mut seen = file(stat(100, 7));
        seen.is_executable = true;
        assert_eq!(judge(&e, Some(&seen)), Verdict::Unsure);
        let e = entry(Mode::FILE_EXECUTABLE, stat(100, 7));
        assert_eq!(judge(&e, Some(&file(stat(100, 7)))), Verdict::Unsure);
        // Without a trustworthy executable bit (core.fileMode=false) it is ignored.
        assert_eq!(
            verdict(&e, Some(&file(stat(100, 7))), INDEX_TIME, OPTS, true, false),
            Verdict::Clean
        );
    }

    #[test]
    fn a_type_change_is_unsure() {
        let e = entry(Mode::FILE, stat(100, 7));
        let mut link = file(stat(100, 7));
        link.is_file = false;
        link.is_symlink = true;
        assert_eq!(judge(&e, Some(&link)), Verdict::Unsure);
        let e = entry(Mode::SYMLINK, stat(100, 7));
        assert_eq!(judge(&e, Some(&link)), Verdict::Clean);
        assert_eq!(judge(&e, Some(&file(stat(100, 7)))), Verdict::Unsure);
    }

    #[test]
    fn a_file_that_became_a_folder_is_unsure_but_a_submodule_folder_is_clean() {
        let mut dir = file(stat(100, 4096));
        dir.is_file = false;
        dir.is_dir = true;
        assert_eq!(
            judge(&entry(Mode::FILE, stat(100, 7)), Some(&dir)),
            Verdict::Unsure
        );
        assert_eq!(
            judge(&entry(Mode::COMMIT, stat(0, 0)), Some(&dir)),
            Verdict::Clean
        );
    }

    #[test]
    fn skipped_entries_are_never_looked_at() {
        for flag in [Flags::SKIP_WORKTREE, Flags::ASSUME_VALID] {
            let mut e = entry(Mode::FILE, stat(100, 7));
            e.flags.insert(flag);
            assert_eq!(judge(&e, None), Verdict::Clean, "{flag:?}");
        }
    }

    #[test]
    fn intent_to_add_and_conflicts_are_unsure() {
        let mut e = entry(Mode::FILE, stat(100, 7));
        e.flags.insert(Flags::INTENT_TO_ADD);
        assert_eq!(judge(&e, Some(&file(stat(100, 7)))), Verdict::Unsure);
        let mut e = entry(Mode::FILE, stat(100, 7));
        e.flags.insert(Flags::from_bits_retain(1 << 12)); // stage 1
        assert_eq!(judge(&e, Some(&file(stat(100, 7)))), Verdict::Unsure);
    }

    #[test]
    fn an_empty_blob_recorded_with_a_size_is_unsure() {
        let empty = gix::ObjectId::empty_blob(gix::hash::Kind::Sha1);
        let mut e = entry(Mode::FILE, stat(100, 0));
        e.id = &empty;
        assert_eq!(judge(&e, Some(&file(stat(100, 0)))), Verdict::Clean);
        e.stat.size = 3;
        assert_eq!(judge(&e, Some(&file(stat(100, 3)))), Verdict::Unsure);
    }

    #[test]
    fn leading_dirs_are_every_parent_outermost_first() {
        let dirs: Vec<&[u8]> = leading_dirs(b"a/b/c.txt").collect();
        assert_eq!(dirs, vec![&b"a"[..], &b"a/b"[..]]);
        assert_eq!(leading_dirs(b"top.txt").count(), 0);
    }
}
