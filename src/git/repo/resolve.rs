//! Looking up refs and commits in a clone, locally (never the network).

use gix::ObjectId;

use super::open::repo_dir;
use crate::error::{Context, Result};

/// The commit `name` (a full ref name like `refs/remotes/origin/main`) points to, peeled
/// through annotated tags; `None` when the ref does not exist.
pub fn find_ref(repo: &gix::Repository, name: &str) -> Result<Option<ObjectId>> {
    let ctx = || format!("{}: look up ref {name}", repo_dir(repo));
    let Some(mut reference) = repo.try_find_reference(name).with_context(ctx)? else {
        return Ok(None);
    };
    let commit = reference.peel_to_commit().with_context(ctx)?;
    Ok(Some(commit.id))
}

/// Resolve `spec` to a commit present locally: a full or abbreviated (at least 4 hex digits)
/// commit id, else a tag (annotated or lightweight), else a branch (local, then `origin`'s).
/// `None` when nothing matches or an abbreviation is ambiguous. Never uses the network.
pub fn resolve_commit(repo: &gix::Repository, spec: &str) -> Option<ObjectId> {
    let spec = spec.trim();
    if spec.is_empty() {
        return None;
    }
    let is_hex = spec.len() >= 4 && spec.len() <= 40 && spec.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex {
        match resolve_hex(repo, spec) {
            HexLookup::Found(id) => return Some(id),
            HexLookup::Ambiguous => return None,
            HexLookup::Absent => {}
        }
    }
    for prefix in ["refs/tags/", "refs/heads/", "refs/remotes/origin/"] {
        if let Ok(Some(id)) = find_ref(repo, &format!("{prefix}{spec}")) {
            return Some(id);
        }
    }
    None
}

enum HexLookup {
    Found(ObjectId),
    Ambiguous,
    Absent,
}

/// Look up a hex id or prefix, keeping only objects that peel to a commit (like git's
/// `<hex>^{commit}` disambiguation), so a blob sharing the prefix does not make it ambiguous.
fn resolve_hex(repo: &gix::Repository, hex: &str) -> HexLookup {
    let candidates: Vec<ObjectId> = if hex.len() == 40 {
        match ObjectId::from_hex(hex.as_bytes()) {
            Ok(id) => vec![id],
            Err(_) => return HexLookup::Absent,
        }
    } else {
        let Ok(prefix) = gix::hash::Prefix::from_hex(hex) else {
            return HexLookup::Absent;
        };
        let mut set = std::collections::HashSet::new();
        match repo.objects.lookup_prefix(prefix, Some(&mut set)) {
            Ok(_) => set.into_iter().collect(),
            Err(_) => return HexLookup::Absent,
        }
    };
    let mut commits: Vec<ObjectId> = candidates
        .into_iter()
        .filter_map(|id| peel_to_commit(repo, id))
        .collect();
    commits.sort();
    commits.dedup();
    match commits.len() {
        0 => HexLookup::Absent,
        1 => HexLookup::Found(commits[0]),
        _ => HexLookup::Ambiguous,
    }
}

fn peel_to_commit(repo: &gix::Repository, id: ObjectId) -> Option<ObjectId> {
    let object = repo.try_find_object(id).ok()??;
    object.peel_to_commit().ok().map(|c| c.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::repo::test_support::*;
    use crate::git::repo::{fetch, open_or_init};

    #[test]
    fn resolve_ids_tags_and_branches() {
        let tmp = TempDir::new("resolve");
        let remote = make_remote(tmp.path());
        git(
            &remote.work,
            &["tag", "-a", "v1", "-m", "release 1", &remote.c1.to_string()],
        );
        git(&remote.work, &["tag", "light", &remote.c2.to_string()]);
        git(&remote.work, &["push", "-q", "origin", "v1", "light"]);
        let repo = open_or_init(&tmp.path().join("clone"), &remote.url()).unwrap();
        assert_eq!(
            resolve_commit(&repo, &remote.c1.to_string()),
            None,
            "nothing fetched yet"
        );
        fetch(
            &repo,
            &remote.url(),
            &[MAIN, "+refs/tags/*:refs/tags/*"],
            &net(),
        )
        .unwrap();

        let hex1 = remote.c1.to_string();
        assert_eq!(resolve_commit(&repo, &hex1), Some(remote.c1));
        assert_eq!(resolve_commit(&repo, &hex1[..7]), Some(remote.c1));
        assert_eq!(
            resolve_commit(&repo, &hex1[..7].to_uppercase()),
            Some(remote.c1)
        );
        assert_eq!(resolve_commit(&repo, "v1"), Some(remote.c1));
        assert_eq!(resolve_commit(&repo, "light"), Some(remote.c2));
        assert_eq!(resolve_commit(&repo, "main"), Some(remote.c2));
        assert_eq!(resolve_commit(&repo, "nope"), None);
        assert_eq!(resolve_commit(&repo, "0000000"), None);
        assert_eq!(resolve_commit(&repo, ""), None);
        // The id of the annotated tag object itself peels to its commit.
        let tag_obj = git(&remote.work, &["rev-parse", "v1"]);
        assert_eq!(resolve_commit(&repo, &tag_obj), Some(remote.c1));
        // A tree id is not a commit.
        let tree = git(&remote.work, &["rev-parse", "HEAD^{tree}"]);
        assert_eq!(resolve_commit(&repo, &tree), None);
        assert_eq!(find_ref(&repo, "refs/tags/v1").unwrap(), Some(remote.c1));
    }
}
