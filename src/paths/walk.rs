//! Reading the way to a path one component at a time, as the kernel would walk it, and
//! asking `rules::may_follow` before following any symlink met.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::memo::Memo;
use super::rules::{self, LinkFacts};

/// The kernel gives up after 40 links; so do we.
const MAX_LINKS: usize = 40;

/// `path` with every symlink of its existing part resolved, the rest appended as written
/// (a folder that does not exist yet is where it says).
#[cfg(test)]
pub fn physical(path: &Path) -> PathBuf {
    physical_in(path, None)
}

/// [`physical`], first trying one `lstat` per component not in `memo` (recording the real
/// folders it finds there): when no component is a symlink the path is its own physical
/// path up to the first missing one. Anything else (a link, a file on the way, an error)
/// is left to `canonicalize`, as without a memo.
pub fn physical_in(path: &Path, memo: Option<&Memo>) -> PathBuf {
    let norm = rules::normalize(path);
    if let Some(memo) = memo {
        if let Some((p, _)) = plain_physical(&norm, memo) {
            return p;
        }
    }
    canonical_physical(norm)
}

/// `std::fs::canonicalize(path).ok()`, first trying one `lstat` per component not in
/// `memo` (recording the real folders it finds): a path of plain names, none a symlink,
/// is its own canonical path when it exists and has none when it does not. Anything else
/// is left to `canonicalize`.
pub fn canonical_in(path: &Path, memo: &Memo) -> Option<PathBuf> {
    let plain = path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if plain {
        if let Some((p, exists)) = plain_physical(path, memo) {
            return exists.then_some(p);
        }
    }
    std::fs::canonicalize(path).ok()
}

/// `norm` (absolute, normalized) when every existing component is a real folder (the last
/// may also be a file) and none is a symlink, and whether all of it exists; `None` when
/// `canonicalize` must decide.
fn plain_physical(norm: &Path, memo: &Memo) -> Option<(PathBuf, bool)> {
    if !norm.is_absolute() {
        return None;
    }
    let names = components(norm);
    let mut cur = PathBuf::from("/");
    for (i, name) in names.iter().enumerate() {
        if name == ".." {
            return None;
        }
        cur.push(name);
        if memo.is_real_dir(&cur) {
            continue;
        }
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => memo.saw_real_dir(&cur),
            Ok(m) if m.is_file() && i + 1 == names.len() => return Some((cur, true)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Some((norm.to_path_buf(), false))
            }
            _ => return None,
        }
    }
    Some((cur, true))
}

fn canonical_physical(norm: PathBuf) -> PathBuf {
    let mut existing = norm.as_path();
    let mut tail: Vec<&std::ffi::OsStr> = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            let mut out = real;
            out.extend(tail.iter().rev());
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name);
                existing = parent;
            }
            _ => return norm,
        }
    }
}

/// Walk the absolute `dst` from `/`, judging every symlink met (`rules::may_follow`) with
/// the code folders (physical paths) before following it. Stops at the first component that
/// does not exist (the write creates the rest) or is not a folder.
///
/// `code_folders` is called only when a symlink is met: resolving every code folder of the
/// device for every `dst` of every app was most of an unchanged pass's system calls, and
/// without a link on the way they are never looked at.
///
/// With a `memo`, a folder it knows for real is not read again, and every real folder met
/// is added to it (see `memo`).
pub fn judge_links(
    dst: &Path,
    code_folders: impl FnOnce() -> Vec<PathBuf>,
    agent_uid: u32,
    memo: Option<&Memo>,
) -> Result<(), String> {
    let mut code_folders = Some(code_folders);
    let mut folders: Vec<PathBuf> = Vec::new();
    let mut cur = PathBuf::from("/");
    let mut rest: VecDeque<OsString> = components(dst).into();
    let mut links = 0;
    while let Some(name) = rest.pop_front() {
        if name == ".." {
            cur.pop();
            continue;
        }
        let here = cur.join(&name);
        if memo.is_some_and(|m| m.is_real_dir(&here)) {
            cur = here;
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&here) else {
            return Ok(());
        };
        if meta.file_type().is_symlink() {
            if let Some(resolve) = code_folders.take() {
                folders = resolve();
            }
            let dir = std::fs::symlink_metadata(&cur)
                .map_err(|e| format!("inspect {}: {e}", cur.display()))?;
            let facts = LinkFacts {
                in_code_folder: folders
                    .iter()
                    .find(|f| here.starts_with(f) && here != **f)
                    .cloned(),
                path: here.clone(),
                uid: meta.uid(),
                dir_uid: dir.uid(),
                dir_mode: dir.mode(),
                is_dst: rest.is_empty(),
            };
            rules::may_follow(&facts, agent_uid)?;
            if facts.is_dst {
                return Ok(());
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(format!("too many symlinks on the way ({MAX_LINKS})"));
            }
            let target = std::fs::read_link(&here)
                .map_err(|e| format!("read symlink {}: {e}", here.display()))?;
            if target.is_absolute() {
                cur = PathBuf::from("/");
            }
            for c in components(&target).into_iter().rev() {
                rest.push_front(c);
            }
        } else if meta.is_dir() {
            if let Some(m) = memo {
                m.saw_real_dir(&here);
            }
            cur = here;
        } else {
            if let (Some(m), true) = (memo, meta.is_file()) {
                m.saw_file(&here, meta);
            }
            return Ok(());
        }
    }
    Ok(())
}

/// The names of `path` (`..` kept as a name, `/` and `.` dropped).
fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "gitops-paths-{tag}-{}-{:x}",
            std::process::id(),
            crate::atomic::random_u64()
        ));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::canonicalize(d).unwrap()
    }

    fn me() -> u32 {
        crate::files::current_uid()
    }

    #[test]
    fn physical_resolves_the_existing_part_and_keeps_the_rest() {
        let d = tmp("phys");
        std::fs::create_dir_all(d.join("real")).unwrap();
        symlink(d.join("real"), d.join("link")).unwrap();
        assert_eq!(physical(&d.join("link/new/x")), d.join("real/new/x"));
        assert_eq!(physical(&d.join("link/../link/.")), d.join("real"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn relative_and_chained_links_are_judged_at_each_hop() {
        let d = tmp("chain");
        let code = d.join("code");
        std::fs::create_dir_all(code.join("inner")).unwrap();
        std::fs::create_dir_all(d.join("out")).unwrap();
        // a trusted link outside leads into the code folder, where a link leads out
        symlink("code", d.join("app")).unwrap();
        symlink("../out", code.join("conf")).unwrap();
        let folders = [code.clone()];
        let why =
            judge_links(&d.join("app/conf/x.env"), || folders.to_vec(), me(), None).unwrap_err();
        assert!(
            why.contains(&code.join("conf").display().to_string()),
            "{why}"
        );
        // the same way without the planted link is fine
        assert!(judge_links(&d.join("app/inner/x.env"), || folders.to_vec(), me(), None).is_ok());
        // a missing tail is fine: the write creates it
        assert!(judge_links(&d.join("app/new/deeper/x"), || folders.to_vec(), me(), None).is_ok());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_loop_ends_with_an_error() {
        let d = tmp("loop");
        symlink(d.join("b"), d.join("a")).unwrap();
        symlink(d.join("a"), d.join("b")).unwrap();
        let why = judge_links(&d.join("a/x"), Vec::new, me(), None).unwrap_err();
        assert!(why.contains("too many symlinks"), "{why}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn code_folders_are_resolved_only_when_a_link_is_met() {
        let d = tmp("lazy");
        std::fs::create_dir_all(d.join("real/etc")).unwrap();
        symlink(d.join("real"), d.join("link")).unwrap();
        let asked = std::cell::Cell::new(0);
        let folders = || {
            asked.set(asked.get() + 1);
            vec![d.join("code")]
        };
        assert!(judge_links(&d.join("real/etc/x.env"), folders, me(), None).is_ok());
        assert_eq!(asked.get(), 0, "no link on the way");
        assert!(judge_links(&d.join("link/etc/x.env"), folders, me(), None).is_ok());
        assert_eq!(asked.get(), 1, "resolved once, at the link");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_memo_spares_known_folders_until_forgotten_and_a_planted_link_is_then_refused() {
        let d = tmp("memo");
        let code = d.join("code");
        std::fs::create_dir_all(code.join("conf")).unwrap();
        std::fs::create_dir_all(d.join("out")).unwrap();
        let folders = [code.clone()];
        let dst = code.join("conf/x.env");
        let memo = Memo::default();
        assert!(judge_links(&dst, || folders.to_vec(), me(), Some(&memo)).is_ok());
        assert!(
            memo.is_real_dir(&code.join("conf")),
            "real folders are remembered"
        );
        // the checkout of a later commit puts a link where the folder was
        std::fs::remove_dir(code.join("conf")).unwrap();
        symlink("../out", code.join("conf")).unwrap();
        assert!(
            judge_links(&dst, || folders.to_vec(), me(), Some(&memo)).is_ok(),
            "a remembered folder is not read again"
        );
        memo.forget();
        let why = judge_links(&dst, || folders.to_vec(), me(), Some(&memo)).unwrap_err();
        assert!(why.contains("inside the code folder"), "{why}");
        // a new pass has a new memo: refused too
        let fresh = Memo::default();
        assert!(judge_links(&dst, || folders.to_vec(), me(), Some(&fresh)).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn physical_with_a_memo_agrees_with_canonicalize() {
        let d = tmp("physmemo");
        std::fs::create_dir_all(d.join("real/sub")).unwrap();
        std::fs::write(d.join("real/file"), "x").unwrap();
        symlink(d.join("real"), d.join("link")).unwrap();
        let memo = Memo::default();
        for p in [
            "real/sub",
            "real/sub/missing/deeper",
            "real/file",
            "real/file/under",
            "link/sub",
            "link/../real/./sub",
            "missing",
        ] {
            let path = d.join(p);
            assert_eq!(physical_in(&path, Some(&memo)), physical(&path), "{p}");
            // and again, now from the memo
            assert_eq!(
                physical_in(&path, Some(&memo)),
                physical(&path),
                "{p} again"
            );
        }
        assert!(memo.is_real_dir(&d.join("real/sub")));
        assert!(
            !memo.is_real_dir(&d.join("link")),
            "a link is never remembered"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn canonical_with_a_memo_agrees_with_canonicalize() {
        let d = tmp("canonmemo");
        std::fs::create_dir_all(d.join("real/sub")).unwrap();
        std::fs::write(d.join("real/file"), "x").unwrap();
        symlink(d.join("real"), d.join("link")).unwrap();
        let memo = Memo::default();
        for p in [
            "real/sub",
            "real/file",
            "real/missing",
            "link/sub",
            "link/missing",
            "real/file/x",
        ] {
            let path = d.join(p);
            let want = std::fs::canonicalize(&path).ok();
            assert_eq!(canonical_in(&path, &memo), want, "{p}");
            assert_eq!(canonical_in(&path, &memo), want, "{p} again, from the memo");
        }
        let odd = d.join("real/../real/./sub");
        assert_eq!(canonical_in(&odd, &memo), std::fs::canonicalize(&odd).ok());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
