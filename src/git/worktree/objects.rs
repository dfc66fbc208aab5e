//! A read-only view of a clone's object database for [`look`](super::look): the pack indices
//! are mapped once, a pack is mapped only when an object is read from it, loose objects are
//! read by path. Unlike a gix `Repository` it never rescans the disk (the agent holds its
//! pass lock, nothing else writes), so finding a few objects and abbreviating an id costs a
//! handful of system calls. Anything unusual (alternates, an unreadable pack, a delta whose
//! base is in another pack) answers `None`, and the caller falls back to gix.

use std::path::{Path, PathBuf};

use gix::hash::{Kind as HashKind, Prefix};
use gix::objs::Kind;
use gix::{oid, ObjectId};
use gix_pack::data::decode::entry::ResolvedBase;

/// One pack: its index (always mapped) and its data (mapped on first use).
struct Pack {
    index: gix_pack::index::File,
    data_path: PathBuf,
    data: Option<gix_pack::data::File>,
}

pub(super) struct Objects {
    dir: PathBuf,
    hash: HashKind,
    packs: Vec<Pack>,
}

thread_local! {
    /// One zlib stream for every clone a pass looks at: setting one up costs more than
    /// inflating a commit and its trees.
    static INFLATE: std::cell::RefCell<gix::zlib::Inflate> = Default::default();
}

/// How many objects share a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Matches {
    None,
    One(ObjectId),
    Several,
}

impl Objects {
    /// The object database in `dir` (a `.git/objects` folder). `None` when it borrows from
    /// another one (`info/alternates`) or a pack index cannot be read.
    pub fn open(dir: &Path, hash: HashKind) -> Option<Objects> {
        if std::fs::symlink_metadata(dir.join("info/alternates")).is_ok() {
            return None;
        }
        let mut packs = Vec::new();
        match std::fs::read_dir(dir.join("pack")) {
            Ok(entries) => {
                for entry in entries {
                    let path = entry.ok()?.path();
                    if path.extension().is_some_and(|e| e == "idx") {
                        packs.push(Pack {
                            index: gix_pack::index::File::at(&path, hash).ok()?,
                            data_path: path.with_extension("pack"),
                            data: None,
                        });
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return None,
        }
        Some(Objects {
            dir: dir.to_path_buf(),
            hash,
            packs,
        })
    }

    /// Read object `id` into `out` (packs first, then loose, as gix does); its kind, or
    /// `None` when it is not found or cannot be decoded here.
    pub fn find(&mut self, id: &oid, out: &mut Vec<u8>) -> Option<Kind> {
        for pack in &mut self.packs {
            let Some(i) = pack.index.lookup(id) else {
                continue;
            };
            if pack.data.is_none() {
                pack.data = Some(gix_pack::data::File::at(&pack.data_path, self.hash).ok()?);
            }
            let (index, data) = (&pack.index, pack.data.as_ref()?);
            let entry = data.entry(index.pack_offset_at_index(i)).ok()?;
            // Deltas against objects of the same pack only (ref-deltas of a fetched pack
            // point into it); anything else is left to gix.
            let resolve = |base: &oid, _: &mut Vec<u8>| {
                Ok(match index.lookup(base) {
                    Some(b) => Some(ResolvedBase::InPack(
                        data.entry(index.pack_offset_at_index(b))?,
                    )),
                    None => None,
                })
            };
            let outcome = INFLATE
                .with_borrow_mut(|inflate| {
                    data.decode_entry(entry, out, inflate, &resolve, &mut gix_pack::cache::Never)
                })
                .ok()?;
            return Some(outcome.kind);
        }
        let loose = gix::odb::loose::Store::at(&self.dir, self.hash);
        loose.try_find(id, out).ok()?.map(|data| data.kind)
    }

    /// Objects in all packs (gix's base for the automatic abbreviation length).
    pub fn packed_count(&self) -> u64 {
        self.packs
            .iter()
            .map(|p| u64::from(p.index.num_objects()))
            .sum()
    }

    /// The distinct objects whose id starts with `prefix`, in packs and loose. `None` when
    /// the loose folder cannot be read.
    pub fn matching(&self, prefix: Prefix) -> Option<Matches> {
        let mut found = Matches::None;
        let mut add = |id: ObjectId| {
            found = match found {
                Matches::None => Matches::One(id),
                Matches::One(seen) if seen == id => Matches::One(seen),
                _ => Matches::Several,
            }
        };
        for pack in &self.packs {
            match pack.index.lookup_prefix(prefix, None) {
                Some(Ok(i)) => add(pack.index.oid_at_index(i).to_owned()),
                Some(Err(())) => return Some(Matches::Several),
                None => {}
            }
        }
        let hex = prefix.as_oid().to_hex().to_string();
        let (fanout, rest) = hex.split_at(2);
        let rest = &rest[..prefix.hex_len() - 2];
        match std::fs::read_dir(self.dir.join(fanout)) {
            Ok(entries) => {
                for entry in entries {
                    let name = entry.ok()?.file_name();
                    let name = name.to_str()?;
                    if name.starts_with(rest) && name.len() == hex.len() - 2 {
                        add(ObjectId::from_hex(format!("{fanout}{name}").as_bytes()).ok()?);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return None,
        }
        Some(found)
    }

    /// `id` abbreviated as gix's `Id::shorten` does with `core.abbrev` unset: at least 7 hex
    /// digits (more for big repositories), lengthened until no other object shares it.
    pub fn abbreviate(&self, id: &oid) -> Option<String> {
        let mut len = auto_hex_len(self.packed_count());
        while len < id.kind().len_in_hex() {
            match self.matching(Prefix::new(id, len).ok()?)? {
                Matches::One(found) if found == id => break,
                Matches::Several => len += 1,
                // The object itself is missing: gix would fail to shorten it too.
                _ => return None,
            }
        }
        Some(id.to_hex_with_len(len).to_string())
    }
}

/// gix's automatic abbreviation length for `packed` objects (`core.abbrev` unset).
pub(super) fn auto_hex_len(packed: u64) -> usize {
    let bits = 64 - packed.leading_zeros();
    (bits.div_ceil(2) as usize).max(7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::repo::test_support::*;

    #[test]
    fn auto_hex_len_is_seven_until_a_big_repository() {
        assert_eq!(auto_hex_len(0), 7);
        assert_eq!(auto_hex_len(5_000), 7);
        assert_eq!(auto_hex_len(1 << 14), 8); // 15 bits
        assert_eq!(auto_hex_len(1 << 20), 11);
    }

    /// Objects read from packs and loose files, and abbreviations, agree with git's.
    #[test]
    fn finds_packed_and_loose_objects_and_abbreviates_like_git() {
        let tmp = TempDir::new("objects");
        let work = tmp.path().join("w");
        git(tmp.path(), &["init", "-q", work.to_str().unwrap()]);
        for i in 0..30 {
            write(&work, &format!("f{i}.txt"), &format!("content {i}\n"));
        }
        let packed = commit_all(&work, "packed");
        git(&work, &["repack", "-adq"]);
        write(&work, "loose.txt", "loose\n");
        let loose = commit_all(&work, "loose");
        let dir = work.join(".git/objects");
        let mut objects = Objects::open(&dir, HashKind::Sha1).unwrap();
        assert_eq!(objects.packs.len(), 1);
        let mut buf = Vec::new();
        for id in [packed, loose] {
            assert_eq!(objects.find(&id, &mut buf), Some(Kind::Commit));
            let expected = git_raw(&work, &["cat-file", "commit", &id.to_string()]);
            assert_eq!(buf, expected.as_bytes());
            let short = git(&work, &["rev-parse", "--short", &id.to_string()]);
            assert_eq!(objects.abbreviate(&id).unwrap(), short);
        }
        // A blob deltified in the pack is rebuilt.
        let blob = oid(&git(&work, &["rev-parse", "HEAD~1:f7.txt"]));
        assert_eq!(objects.find(&blob, &mut buf), Some(Kind::Blob));
        assert_eq!(buf, b"content 7\n");
        let missing = ObjectId::from_hex(b"0123456789012345678901234567890123456789").unwrap();
        assert_eq!(objects.find(&missing, &mut buf), None);
        assert_eq!(objects.abbreviate(&missing), None);
        // Every object of the repository is found by its 4-digit prefix or is ambiguous.
        let prefix = Prefix::new(&loose, 4).unwrap();
        assert!(
            matches!(
                objects.matching(prefix).unwrap(),
                Matches::One(id) if id == loose
            ) || objects.matching(prefix) == Some(Matches::Several)
        );
    }

    #[test]
    fn a_store_with_alternates_is_left_to_gix() {
        let tmp = TempDir::new("alternates");
        let work = tmp.path().join("w");
        git(tmp.path(), &["init", "-q", work.to_str().unwrap()]);
        write(&work, ".git/objects/info/alternates", "/elsewhere\n");
        assert!(Objects::open(&work.join(".git/objects"), HashKind::Sha1).is_none());
    }
}
