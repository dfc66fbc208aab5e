//! The unchanged pass's shortcut for a code clone: prove "HEAD is the desired commit and no
//! tracked file changed" from `.git/config`, `.git/HEAD`, the index, the pack index and one
//! `lstat` per tracked file (and per folder), without opening the clone with gix.
//!
//! It answers only when it is sure. Anything else (an edit, a racy timestamp, a symbolic
//! HEAD, a tag as the desired commit, a setting it does not model, a foreign origin) is
//! `None`, and the caller takes the full path (`repo::open_clone`, `status`, `describe`),
//! which decides exactly as before. So the shortcut never changes a decision; it only makes
//! the common one cheap (about 30 system calls per clone plus one per tracked file, where
//! opening with gix alone costs about 40 and its status 5 per file).

use std::path::Path;

use gix::bstr::BStr;
use gix::hash::Kind as HashKind;
use gix::objs::Kind;
use gix::ObjectId;

use super::look_memo::{self, key_of, Copy, Key, Short};
use super::objects::{Matches, Objects};
use super::{describe, gitconfig, status};

/// A code clone found at the desired commit with no tracked change, and what the feedback
/// file says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InSync {
    /// HEAD, which is the desired commit.
    pub head: ObjectId,
    /// What [`status_summary`](super::status_summary) says: detached at HEAD, clean.
    pub status: String,
    /// What [`describe`](super::describe()) says about HEAD.
    pub latest_commit: String,
}

/// `Some` when the clone at `dir` has `origin` = `url`, a detached HEAD at `commitish`
/// (a full or unique abbreviated commit id) and no tracked change; `None` when that cannot
/// be proven cheaply (the caller then opens the clone with gix).
pub fn in_sync(dir: &Path, url: &crate::url::Url, commitish: &str) -> Option<InSync> {
    // The ownership gate first (SPEC §10): a `.git` someone else owns or may write is not
    // read at all; the full path then refuses it with the path and the fix.
    crate::git::repo::gate::check(dir).ok()?;
    let git_dir = dir.join(".git");
    // What the last look read, where nothing changed since (`look_memo`).
    let old = read_memo(&git_dir).unwrap_or_default();
    let mut new = look_memo::Memo::default();
    let config = read_copy(&git_dir.join("config"), &old.config, &mut new.config)?;
    let settings = gitconfig::settings(&config, url)?;
    let head = detached_head(&read_copy(&git_dir.join("HEAD"), &old.head, &mut new.head)?)?;
    let wanted = Wanted::parse(commitish, head)?;
    // gix opens a repository only with a `refs` folder; without one the full path repairs
    // the clone, so it must see this one.
    if !std::fs::symlink_metadata(git_dir.join("refs")).is_ok_and(|m| m.is_dir()) {
        return None;
    }

    let (bytes, mtime) = read_index(&git_dir.join("index"), &old.index, &mut new.index)?;
    let (index, checksum) = gix::index::State::from_bytes(
        &bytes,
        mtime.into(),
        HashKind::Sha1,
        // Never a thread for extension blocks: the index of a code clone is small.
        gix::index::decode::Options {
            thread_limit: Some(1),
            ..Default::default()
        },
    )
    .ok()?;
    if index.link().is_some() {
        return None; // split index: gix resolves the shared part
    }
    if !status::stat_pass_at(
        dir,
        &index,
        settings.stat,
        settings.symlinks,
        settings.executable_bit,
    ) {
        return None;
    }

    let objects_dir = git_dir.join("objects");
    let hex = head.to_hex().to_string();
    let objects_key = key_of(&objects_dir);
    let loose_key = match &old.short {
        // The loose folder was missing and `objects` has the same key: no folder was
        // added to it since, so it is still missing.
        Some(s) if s.keys[0].is_some() && objects_key == Some(s.keys[0]) && s.keys[2].is_none() => {
            Some(None)
        }
        _ => key_of(&objects_dir.join(&hex[..2])),
    };
    let object_keys = [
        objects_key,
        key_of(&objects_dir.join("pack")),
        loose_key,
        key_of(&objects_dir.join("info/alternates")),
    ];
    let cache_path = git_dir.join(CACHE_FILE);
    let key = checksum.map(|sum| cache_key(head, sum));
    let tail_in = |bytes: Option<&[u8]>| {
        let text = std::str::from_utf8(bytes?).ok()?;
        record_tail(text, key.as_deref()?).map(str::to_string)
    };
    // The memo's copy of the record serves its HEAD and index as the record would (what
    // it says follows from immutable objects); another key reads the record.
    let cached = match tail_in(old.record.as_ref().map(|c| c.bytes.as_slice())) {
        Some(tail) => {
            new.record = old.record.clone();
            Some(tail)
        }
        None => tail_in(read_copy(&cache_path, &old.record, &mut new.record).as_deref()),
    };
    let (short, tail) = match (known_short(&old, &hex, &object_keys, wanted), cached) {
        // Nothing the short id depends on changed: no pack index is read.
        (Some(short), Some(tail)) => (short, tail),
        (_, cached) => {
            let mut objects = Objects::open(&objects_dir, HashKind::Sha1)?;
            if let Wanted::Prefix(prefix) = wanted {
                if objects.matching(prefix)? != Matches::One(head) {
                    return None;
                }
            }
            let tail = match cached {
                Some(tail) => tail,
                None => {
                    let tail = commit_tail(&mut objects, head, &index)?;
                    if let Some(key) = &key {
                        write_cache(&cache_path, key, &tail);
                    }
                    new.record = None; // rewritten: copied by a later look
                    tail
                }
            };
            (objects.abbreviate(&head)?, tail)
        }
    };
    if let [Some(a), Some(b), Some(c), Some(d)] = object_keys {
        new.short = Some(Short {
            head: hex,
            keys: [a, b, c, d],
            short: short.clone(),
        });
    }
    remember(&git_dir, &old, &new);
    Some(InSync {
        head,
        status: status::summary_detached(&short, 0),
        latest_commit: format!("'{short}{tail}"),
    })
}

/// The memo in `git_dir` when it is whole and every key in it settled before it was
/// written (its own mtime, `look_memo`).
fn read_memo(git_dir: &Path) -> Option<look_memo::Memo> {
    let (bytes, written) = read_file_with_mtime(&git_dir.join(look_memo::MEMO_FILE))?;
    let memo = look_memo::parse(std::str::from_utf8(&bytes).ok()?)?;
    memo.settled_before(look_memo::nanos(written)?)
        .then_some(memo)
}

/// `path`'s bytes: the memo's copy in `old` when `path` has its key, else read (and kept
/// in `slot` for the next memo when it can be keyed). `None` when it cannot be read.
fn read_copy(path: &Path, old: &Option<Copy>, slot: &mut Option<Copy>) -> Option<Vec<u8>> {
    let key: Option<Key> = key_of(path).flatten();
    if let Some(bytes) = key.and_then(|k| look_memo::Memo::copy(old, Some(k))) {
        *slot = old.clone();
        return Some(bytes.to_vec());
    }
    let bytes = read_file(path)?;
    *slot = key.map(|key| Copy {
        key,
        bytes: bytes.clone(),
    });
    Some(bytes)
}

/// The index's bytes and mtime: the memo's copy when the index has its key (the key holds
/// the mtime), else read (and kept for the next memo when at most `look_memo::MAX_COPY`).
fn read_index(
    path: &Path,
    old: &Option<Copy>,
    slot: &mut Option<Copy>,
) -> Option<(Vec<u8>, std::time::SystemTime)> {
    let key: Option<Key> = key_of(path).flatten();
    if let Some(k) = key {
        if let Some(bytes) = look_memo::Memo::copy(old, Some(k)) {
            *slot = old.clone();
            return Some((bytes.to_vec(), k.modified()?));
        }
    }
    let (bytes, mtime) = read_file_with_mtime(path)?;
    *slot = key
        .filter(|_| bytes.len() <= look_memo::MAX_COPY)
        .map(|key| Copy {
            key,
            bytes: bytes.clone(),
        });
    Some((bytes, mtime))
}

/// The short id the memo holds for `head` when the object folders it depends on (the
/// packs, the loose folder of its first two digits, alternates) have the same keys; only
/// for a full id (a prefix must be checked against every object).
fn known_short(
    old: &look_memo::Memo,
    hex: &str,
    keys: &[Option<Option<Key>>; 4],
    wanted: Wanted,
) -> Option<String> {
    let s = old.short.as_ref()?;
    let same = s.head == hex
        && keys
            .iter()
            .zip(&s.keys)
            .all(|(now, was)| *now == Some(*was));
    (same && wanted == Wanted::Head && s.keys[3].is_none()).then(|| s.short.clone())
}

/// Write the memo when what this look read differs from it and every key in it is settled
/// now (a younger one would not be trusted: the next look reads again and writes then).
fn remember(git_dir: &Path, old: &look_memo::Memo, new: &look_memo::Memo) {
    if new == old {
        return;
    }
    let Some(now) = look_memo::nanos(std::time::SystemTime::now()) else {
        return;
    };
    if new.settled_before(now) {
        look_memo::write(git_dir, new);
    }
}

/// HEAD's commit read from the object database: `None` unless it is a commit whose tree
/// holds exactly the index's entries; else the [`describe`] line after the short id.
fn commit_tail(objects: &mut Objects, head: ObjectId, index: &gix::index::State) -> Option<String> {
    let mut buf = Vec::new();
    if objects.find(&head, &mut buf)? != Kind::Commit {
        return None;
    }
    let commit = gix::objs::CommitRef::from_bytes(&buf, HashKind::Sha1).ok()?;
    let mut path = Vec::new();
    let mut at = 0;
    if !tree_is_index(objects, commit.tree(), index, &mut path, &mut at)?
        || at != index.entries().len()
    {
        return None;
    }
    describe::tail(&commit).ok()
}

/// What the last look learnt from the object database, kept in `.git`: for a HEAD and an
/// index (by its checksum, so any staging, checkout or crash in between changes it), that
/// HEAD's tree is the index and what `describe` says after the short id. Both follow from
/// immutable objects, so the record stays true as long as its key matches; reading it
/// spares inflating the commit and its trees on every pass. The short id is not kept: it
/// depends on which other objects exist, and is worked out from the pack indices each time.
const CACHE_FILE: &str = "gitops-agent-look";

/// The first line of the record: format, agent version (describe's format may change with
/// it), HEAD and the index checksum.
fn cache_key(head: ObjectId, index_checksum: ObjectId) -> String {
    format!(
        "gitops-agent look 1 {} {head} {index_checksum}\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The tail in the record `text` when its key is `key`: one line ended by a newline (a
/// record cut short has none), no NUL. Pure.
fn record_tail<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let tail = text.strip_prefix(key)?.strip_suffix('\n')?;
    (!tail.is_empty() && !tail.contains(['\n', '\0'])).then_some(tail)
}

/// Record `tail` under `key` (`atomic::write_unsynced`: a planted file or symlink is never
/// followed). No fsync: the record is only a cache, and one cut short has no final newline,
/// so it is never read back. Best effort.
fn write_cache(path: &Path, key: &str, tail: &str) {
    let _ = crate::atomic::write_unsynced(path, format!("{key}{tail}\n").as_bytes(), Some(0o600));
}

/// The id in a detached `HEAD` file (40 hex digits and a newline); `None` for a symbolic
/// or malformed HEAD.
fn detached_head(content: &[u8]) -> Option<ObjectId> {
    let hex = content.strip_suffix(b"\n").unwrap_or(content);
    if hex.len() != 40 {
        return None;
    }
    ObjectId::from_hex(hex).ok()
}

/// How the desired commit was written in `infra_meta.toml`, as far as the shortcut goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    /// The full id, equal to HEAD.
    Head,
    /// A prefix of HEAD's id: HEAD only if no other object shares it.
    Prefix(gix::hash::Prefix),
}

impl Wanted {
    /// `None` unless `commitish` is hex naming HEAD (`repo::resolve_commit` tries hex
    /// before refs, so a tag or branch of the same spelling cannot win over it).
    fn parse(commitish: &str, head: ObjectId) -> Option<Wanted> {
        let spec = commitish.trim();
        if !(4..=40).contains(&spec.len()) || !spec.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let spec = spec.to_ascii_lowercase();
        if !head.to_hex().to_string().starts_with(&spec) {
            return None;
        }
        if spec.len() == 40 {
            Some(Wanted::Head)
        } else {
            Some(Wanted::Prefix(
                gix::hash::Prefix::new(&head, spec.len()).ok()?,
            ))
        }
    }
}

/// Whether the blobs under `tree` are, in order, the next index entries from `*at`: same
/// path, mode and id, stage 0. (A tree walked depth-first in git's order yields paths in
/// the index's byte order.) `None` when an object cannot be read.
fn tree_is_index(
    objects: &mut Objects,
    tree: ObjectId,
    index: &gix::index::State,
    path: &mut Vec<u8>,
    at: &mut usize,
) -> Option<bool> {
    let mut buf = Vec::new();
    if objects.find(&tree, &mut buf)? != Kind::Tree {
        return None;
    }
    for entry in gix::objs::TreeRefIter::from_bytes(&buf, HashKind::Sha1) {
        let entry = entry.ok()?;
        let len = path.len();
        if len > 0 {
            path.push(b'/');
        }
        path.extend_from_slice(entry.filename);
        if entry.mode.is_tree() {
            if !tree_is_index(objects, entry.oid.to_owned(), index, path, at)? {
                return Some(false);
            }
        } else {
            let Some(ie) = index.entries().get(*at) else {
                return Some(false);
            };
            let same = ie.stage_raw() == 0
                && ie.id.as_ref() == entry.oid
                && ie.mode == gix::index::entry::Mode::from(entry.mode)
                && ie.path(index) == BStr::new(path.as_slice());
            if !same {
                return Some(false);
            }
            *at += 1;
        }
        path.truncate(len);
    }
    Some(true)
}

/// A small file's bytes: open, read, close (`files::read_small`).
fn read_file(path: &Path) -> Option<Vec<u8>> {
    crate::files::read_small(path).ok()
}

/// A file's bytes and modification time, read in one go (its size from `fstat`).
fn read_file_with_mtime(path: &Path) -> Option<(Vec<u8>, std::time::SystemTime)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    let mut bytes = vec![0; usize::try_from(meta.len()).ok()?];
    file.read_exact(&mut bytes).ok()?;
    Some((bytes, meta.modified().ok()?))
}

#[cfg(test)]
#[path = "look_tests.rs"]
mod tests;
