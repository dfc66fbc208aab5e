//! What [`look`](super::look) read last time, kept in `.git/gitops-agent-look-stat` under
//! the stat data of what it was read from, so an unchanged clone costs a `statx` per file
//! instead of reading `.git/config`, `HEAD`, the index and the `look` record, listing the
//! packs, mapping their indices and probing the loose folder.
//!
//! A copy is used only when the file (or folder) it came from has the same inode, size,
//! mtime and ctime as when it was read, and was already at least [`SETTLED`] older than the
//! memo itself, and than the clock when it was written right after the reads (git's
//! racy-timestamp rule, with a margin: a change made after the copy was read cannot carry
//! those times, and nobody can set a ctime back). Each copy was read after its stat, so it is never older than its key.
//! Anything else reads the disk, as without the memo. The memo is a cache: written without
//! fsync under a random name (`O_EXCL|O_NOFOLLOW`) and renamed; one cut short lacks its
//! `end` line and is never used.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(super) const MEMO_FILE: &str = "gitops-agent-look-stat";

/// The largest index kept in the memo (a big clone reads its index each time).
pub(super) const MAX_COPY: usize = 64 * 1024;

/// How much older than the memo a file's times must be for its copy to be trusted on a
/// fine-grained file system, so that a change made after a copy was read cannot carry the
/// copy's times (`racy`: whole-second times wait longer).
#[cfg(test)]
pub(super) const SETTLED: Duration = Duration::from_nanos(crate::racy::FINE_MARGIN_NS as u64);

/// The stat data a copy is keyed by; `None` for a path that did not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Key {
    pub ino: u64,
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub mtime: i128,
    pub ctime: i128,
}

impl Key {
    pub fn of(meta: &std::fs::Metadata) -> Key {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Key {
            ino: meta.ino(),
            size: meta.size(),
            mtime: ns(meta.mtime(), meta.mtime_nsec()),
            ctime: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The mtime as a time.
    pub fn modified(&self) -> Option<SystemTime> {
        let ns = u64::try_from(self.mtime).ok()?;
        UNIX_EPOCH.checked_add(Duration::from_nanos(ns))
    }

    /// Whether both times are at least [`SETTLED`] before `at` (nanoseconds).
    pub fn settled_before(&self, at: i128) -> bool {
        crate::racy::settled_before(self.mtime, self.ctime, at)
    }
}

/// The key of `path` (`lstat`): `Some(None)` when it does not exist, `None` when it cannot
/// be keyed: unreadable, or a symlink (what it points to may change under the same link).
pub(super) fn key_of(path: &Path) -> Option<Option<Key>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => None,
        Ok(m) => Some(Some(Key::of(&m))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(None),
        Err(_) => None,
    }
}

/// Nanoseconds since the epoch of `t`.
pub(super) fn nanos(t: SystemTime) -> Option<i128> {
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_nanos() as i128)
}

/// A file's bytes as read after its key was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Copy {
    pub key: Key,
    pub bytes: Vec<u8>,
}

/// What the object database said: for `head` and these folders, its short id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Short {
    pub head: String,
    /// `objects`, `objects/pack`, `objects/<first two hex of head>`, `objects/info/alternates`.
    pub keys: [Option<Key>; 4],
    pub short: String,
}

/// The memo's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Memo {
    pub config: Option<Copy>,
    pub head: Option<Copy>,
    pub index: Option<Copy>,
    /// The `look` record (`look::CACHE_FILE`).
    pub record: Option<Copy>,
    pub short: Option<Short>,
}

impl Memo {
    /// Every key of the memo settled before `at` (the memo's own mtime when read, now when
    /// written). Pure.
    pub fn settled_before(&self, at: i128) -> bool {
        let copies = [&self.config, &self.head, &self.index, &self.record];
        copies
            .iter()
            .filter_map(|c| c.as_ref())
            .all(|c| c.key.settled_before(at))
            && self
                .short
                .iter()
                .flat_map(|s| s.keys.iter().flatten())
                .all(|k| k.settled_before(at))
    }

    /// The copy in `slot` when `now` (the path's key now) is its key.
    pub fn copy(slot: &Option<Copy>, now: Option<Key>) -> Option<&[u8]> {
        let c = slot.as_ref()?;
        (Some(c.key) == now).then_some(c.bytes.as_slice())
    }
}

const HEADER: &str = "gitops-agent look-stat 1";

fn key_text(k: &Option<Key>) -> String {
    match k {
        Some(k) => format!("{}.{}.{}.{}", k.ino, k.size, k.mtime, k.ctime),
        None => "-".into(),
    }
}

fn parse_key(s: &str) -> Option<Option<Key>> {
    if s == "-" {
        return Some(None);
    }
    let mut it = s.split('.');
    let k = Key {
        ino: it.next()?.parse().ok()?,
        size: it.next()?.parse().ok()?,
        mtime: it.next()?.parse().ok()?,
        ctime: it.next()?.parse().ok()?,
    };
    it.next().is_none().then_some(Some(k))
}

/// The memo as text: a header, one line per part, `end`. Pure.
pub(super) fn format(m: &Memo) -> String {
    let mut out = format!("{HEADER}\n");
    for (name, c) in [
        ("config", &m.config),
        ("HEAD", &m.head),
        ("index", &m.index),
        ("record", &m.record),
    ] {
        if let Some(c) = c {
            out.push_str(&format!(
                "{name} {} {}\n",
                key_text(&Some(c.key)),
                crate::hex::encode(&c.bytes)
            ));
        }
    }
    if let Some(s) = &m.short {
        let keys: Vec<String> = s.keys.iter().map(key_text).collect();
        out.push_str(&format!(
            "short {} {} {}\n",
            s.head,
            keys.join(" "),
            s.short
        ));
    }
    out.push_str("end\n");
    out
}

/// The memo in `text`; `None` unless it is whole (header to `end`) and every line parses.
/// Pure.
pub(super) fn parse(text: &str) -> Option<Memo> {
    let body = text.strip_prefix(HEADER)?.strip_prefix('\n')?;
    let body = body.strip_suffix("end\n")?;
    let mut m = Memo::default();
    for line in body.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let copy = || {
            Some(Copy {
                key: parse_key(f.get(1)?)??,
                bytes: crate::hex::decode(f.get(2)?)?,
            })
        };
        match (f.first()?, f.len()) {
            (&"config", 3) => m.config = Some(copy()?),
            (&"HEAD", 3) => m.head = Some(copy()?),
            (&"index", 3) => m.index = Some(copy()?),
            (&"record", 3) => m.record = Some(copy()?),
            (&"short", 7) => {
                m.short = Some(Short {
                    head: f[1].to_string(),
                    keys: [
                        parse_key(f[2])?,
                        parse_key(f[3])?,
                        parse_key(f[4])?,
                        parse_key(f[5])?,
                    ],
                    short: f[6].to_string(),
                })
            }
            _ => return None,
        }
    }
    Some(m)
}

/// Write `memo` into `git_dir` (best effort, see the module doc).
pub(super) fn write(git_dir: &Path, memo: &Memo) {
    let path = git_dir.join(MEMO_FILE);
    let _ = crate::atomic::write_unsynced(&path, format(memo).as_bytes(), Some(0o600));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: i128) -> Key {
        Key {
            ino: 7,
            size: 41,
            mtime: t,
            ctime: t + 1,
        }
    }

    fn memo() -> Memo {
        Memo {
            config: Some(Copy {
                key: key(10),
                bytes: b"[core]\n\tbare = false\n".to_vec(),
            }),
            head: Some(Copy {
                key: key(20),
                bytes: b"abc\n".to_vec(),
            }),
            index: Some(Copy {
                key: key(5),
                bytes: b"DIRC\0\0".to_vec(),
            }),
            record: None,
            short: Some(Short {
                head: "abc".into(),
                keys: [Some(key(30)), Some(key(40)), None, None],
                short: "abcdef0".into(),
            }),
        }
    }

    #[test]
    fn a_memo_reads_back_as_written_and_one_cut_short_not_at_all() {
        let text = format(&memo());
        assert_eq!(parse(&text), Some(memo()));
        let cut = &text[..text.len() - "end\n".len()];
        assert_eq!(parse(cut), None, "no end line");
        assert_eq!(parse(&text.replace("short abc", "short abc x")), None);
        assert_eq!(parse("garbage"), None);
    }

    #[test]
    fn a_copy_serves_only_the_key_it_was_read_under() {
        let m = memo();
        assert!(Memo::copy(&m.config, Some(key(10))).is_some());
        for other in [
            Some(key(11)),
            Some(Key { ino: 8, ..key(10) }),
            Some(Key { size: 1, ..key(10) }),
            Some(Key {
                ctime: 99,
                ..key(10)
            }),
            None,
        ] {
            assert!(Memo::copy(&m.config, other).is_none(), "{other:?}");
        }
    }

    /// A memo's parts as generated: any bytes in the copies, any keys.
    fn any_memo() -> impl proptest::strategy::Strategy<Value = Memo> {
        use proptest::prelude::*;
        let key = (any::<u64>(), any::<u64>(), any::<i64>(), any::<i64>()).prop_map(
            |(ino, size, mtime, ctime)| Key {
                ino,
                size,
                mtime: i128::from(mtime),
                ctime: i128::from(ctime),
            },
        );
        let copy = (key.clone(), proptest::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(key, bytes)| Copy { key, bytes });
        let short = (
            "[0-9a-f]{40}",
            proptest::array::uniform4(proptest::option::of(key)),
            "[0-9a-f]{7,12}",
        )
            .prop_map(|(head, keys, short)| Short { head, keys, short });
        (
            proptest::option::of(copy.clone()),
            proptest::option::of(copy.clone()),
            proptest::option::of(copy.clone()),
            proptest::option::of(copy),
            proptest::option::of(short),
        )
            .prop_map(|(config, head, index, record, short)| Memo {
                config,
                head,
                index,
                record,
                short,
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]

        /// The file is read back on every unchanged pass: whatever it holds (a cut, a
        /// flipped character, garbage), parsing answers and never panics.
        #[test]
        fn every_memo_written_reads_back_and_any_text_parses_or_is_refused(
            m in any_memo(),
            cut in 0usize..4000,
            at in 0usize..4000,
            with in proptest::char::any(),
            noise in ".{0,400}",
            lines in "((config|HEAD|index|record|short|end)( [-0-9a-fg.]{0,12}){0,8}\n){0,6}",
        ) {
            let text = format(&m);
            proptest::prop_assert_eq!(parse(&text), Some(m));
            let cut_at = text.floor_char_boundary(cut.min(text.len()));
            let _ = parse(&text[..cut_at]);
            let mut changed: Vec<char> = text.chars().collect();
            if !changed.is_empty() {
                let i = at % changed.len();
                changed[i] = with;
            }
            let _ = parse(&changed.into_iter().collect::<String>());
            let _ = parse(&format!("{HEADER}\n{noise}"));
            let _ = parse(&format!("{HEADER}\n{lines}end\n"));
            let _ = parse(&noise);
        }
    }

    #[test]
    fn a_memo_is_trusted_only_when_every_key_is_settled_before_it() {
        let m = memo();
        let margin = SETTLED.as_nanos() as i128;
        // the youngest time is the short's objects/pack ctime: 41
        assert!(m.settled_before(41 + margin + 1));
        assert!(
            !m.settled_before(41 + margin),
            "racy: as young as the margin"
        );
        assert!(!m.settled_before(0));
    }
}
