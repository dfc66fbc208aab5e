//! Config files found equal to their `src` on an earlier pass, kept per group in
//! `state/compare/<group hash>` under the stat keys (inode, size, mtime, ctime) of both files,
//! so an unchanged pass costs an `lstat` of each instead of reading both.
//!
//! A pair is kept only when both keys were already at least [`SETTLED`] older than the
//! clock when the files were compared, and serves only while both keys are unchanged and
//! older than the memo file (git's racy-timestamp rule, with a margin; a ctime cannot be
//! set back), and never for a symlink (what it points to
//! may change under the same link). A `mode` asked for is still checked every time. The
//! memo is the agent's own record: 0600 in a 0700 folder, written atomically; a file cut
//! short lacks its `end` line and is not used.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// How much older than the comparison (and the memo) both files' times must be on a
/// fine-grained file system (`racy`; whole-second times wait longer).
#[cfg(test)]
pub(super) const SETTLED: std::time::Duration =
    std::time::Duration::from_nanos(crate::racy::FINE_MARGIN_NS as u64);

/// Inode, size, mtime and ctime (nanoseconds) of a regular file.
pub(super) type Key = (u64, u64, i128, i128);

/// The key of the regular file at `path` (`lstat`); `None` for anything else.
pub(super) fn key_of(path: &Path) -> Option<Key> {
    key_from(&std::fs::symlink_metadata(path).ok()?)
}

/// The key of what `lstat` said (`None` unless a regular file).
pub(super) fn key_from(m: &std::fs::Metadata) -> Option<Key> {
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    m.file_type().is_file().then(|| {
        (
            m.ino(),
            m.size(),
            ns(m.mtime(), m.mtime_nsec()),
            ns(m.ctime(), m.ctime_nsec()),
        )
    })
}

/// Nanoseconds since the epoch.
pub(super) fn nanos(t: SystemTime) -> Option<i128> {
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_nanos() as i128)
}

/// Whether both times of `k` are at least [`SETTLED`] before `at`. Pure.
pub(super) fn settled_before(k: &Key, at: i128) -> bool {
    crate::racy::settled_before(k.2, k.3, at)
}

/// Which pair: the app and the index of its `config_files` entry.
pub(super) type Slot = (String, usize);

/// Pairs of (src key, dst key) found equal.
pub(super) type Pairs = HashMap<Slot, (Key, Key)>;

const HEADER: &str = "gitops-agent compare 1";

fn key_text(k: &Key) -> String {
    format!("{}.{}.{}.{}", k.0, k.1, k.2, k.3)
}

fn parse_key(s: &str) -> Option<Key> {
    let mut it = s.split('.');
    let k = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    it.next().is_none().then_some(k)
}

/// The pairs as text, sorted (the same pairs give the same text). Pure.
pub(super) fn format(pairs: &Pairs) -> String {
    let mut lines: Vec<String> = pairs
        .iter()
        .map(|((app, i), (s, d))| format!("{app} {i} {} {}\n", key_text(s), key_text(d)))
        .collect();
    lines.sort();
    format!("{HEADER}\n{}end\n", lines.concat())
}

/// The pairs in `text`; `None` unless whole and every line parses. Pure.
pub(super) fn parse(text: &str) -> Option<Pairs> {
    let body = text.strip_prefix(HEADER)?.strip_prefix('\n')?;
    let body = body.strip_suffix("end\n")?;
    let mut pairs = Pairs::new();
    for line in body.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let [app, i, s, d] = f.as_slice() else {
            return None;
        };
        pairs.insert(
            (app.to_string(), i.parse().ok()?),
            (parse_key(s)?, parse_key(d)?),
        );
    }
    Some(pairs)
}

/// The pairs at `path` whose keys were all settled before the file was written (the
/// others are dropped: they are read again).
pub(super) fn read(path: &Path) -> Pairs {
    let Some((text, written)) = read_with_mtime(path) else {
        return Pairs::new();
    };
    let Some(at) = nanos(written) else {
        return Pairs::new();
    };
    let mut pairs = parse(&text).unwrap_or_default();
    pairs.retain(|_, (s, d)| settled_before(s, at) && settled_before(d, at));
    pairs
}

/// The text and mtime of `path`: open, fstat, one read of the size it gives, close.
fn read_with_mtime(path: &Path) -> Option<(String, SystemTime)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    let mut bytes = vec![0; usize::try_from(meta.len()).ok()?];
    file.read_exact(&mut bytes).ok()?;
    Some((String::from_utf8(bytes).ok()?, meta.modified().ok()?))
}

/// Write `pairs` to `path` (0600, folder 0700, atomically); best effort: a cache.
pub(super) fn write(path: &Path, pairs: &Pairs) {
    if let Some(dir) = path.parent() {
        if crate::state::private_dir(dir).is_err() {
            return;
        }
    }
    if let Err(e) = crate::atomic::write(path, format(pairs).as_bytes(), Some(0o600)) {
        log::debug!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_read_back_as_written_and_a_file_cut_short_not_at_all() {
        let mut pairs = Pairs::new();
        pairs.insert(("web".into(), 0), ((1, 2, 3, 4), (5, 6, 7, 8)));
        pairs.insert(("db".into(), 2), ((9, 9, 9, 9), (1, 1, 1, 1)));
        let text = format(&pairs);
        assert_eq!(parse(&text), Some(pairs));
        assert_eq!(parse(&text[..text.len() - 4]), None, "no end line");
        assert_eq!(parse(&text.replace("web 0", "web x")), None);
    }

    #[test]
    fn a_pair_is_trusted_only_when_settled_before_the_memo() {
        let margin = SETTLED.as_nanos() as i128;
        let k = (1, 2, 10, 20);
        assert!(settled_before(&k, 20 + margin + 1));
        assert!(!settled_before(&k, 20 + margin), "ctime counts");
    }

    #[test]
    fn only_regular_files_have_a_key() {
        let d = std::env::temp_dir().join(format!("gitops-compare-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("f"), "x").unwrap();
        let _ = std::fs::remove_file(d.join("l"));
        std::os::unix::fs::symlink(d.join("f"), d.join("l")).unwrap();
        assert!(key_of(&d.join("f")).is_some());
        assert!(key_of(&d.join("l")).is_none(), "a symlink");
        assert!(key_of(&d).is_none(), "a folder");
        assert!(key_of(&d.join("missing")).is_none());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
