//! What a code repo fetch asks its server for (SPEC §14, thin links): the refspecs and the
//! depth for a pin, the fallback for a server that refuses a commit by id, and how to
//! recognise that refusal. Pure: the shell (`reconcile::code`) runs the fetch.
//!
//! A full 40-hex pin is asked for by id, at `code_fetch_depth`, with nothing else; a name
//! is asked for as that tag (and a branch of that name, which the resolver also accepts);
//! an abbreviated id cannot be asked for, so it gets what every fetch got before: all
//! branches and tags, whole history.

/// The local ref a commit fetched by id is kept under: the negotiation of the next move
/// offers it as "have" (so only new objects come), and `git gc` keeps it.
pub const PIN_REF: &str = "refs/gitops-agent/pinned";

/// On protocol v2, `ls-refs` with no prefix lists every ref of the server (thousands of
/// tags on some repos) although a fetch by id needs none: ask for a prefix no ref has.
/// (git itself skips `ls-refs` when it fetches only ids.)
pub const LIST_NO_REF: &str = "refs/gitops-agent-fetches-by-id-only";

/// What the clone holds before the fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// No ref yet: a fresh clone (or one whose first fetch never finished).
    Empty,
    /// `.git/shallow` exists: made by an earlier fetch at a depth.
    Shallow,
    /// History as deep as the server's (a clone by `git clone`, the Python agent, or ours
    /// at `code_fetch_depth = 0`).
    Full,
}

/// How much history a fetch brings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// No depth request: whatever the wanted commits need that the clone lacks (on a
    /// shallow clone, down to its shallow boundary).
    AsIs,
    /// `deepen N` from the wanted commits: N commits of history, no more.
    AtRemote(u32),
    /// Remove the shallow boundary: the whole history of the wanted commits.
    Unshallow,
}

/// One fetch: refspecs (source → local ref) and depth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub refspecs: Vec<String>,
    pub depth: Depth,
    /// The pin is asked for by id: a server may refuse that ([`is_refused_want`]), and
    /// then [`fallback`] applies.
    pub by_id: bool,
}

/// What to fetch for `pin` (`code_commit_hash`) into a clone in state `clone`, with
/// `code_fetch_depth` = `depth` (0 = whole history).
pub fn request(pin: &str, depth: u32, clone: Held) -> Request {
    let pin = pin.trim();
    if is_full_id(pin) {
        return Request {
            refspecs: vec![format!("+{}:{PIN_REF}", pin.to_ascii_lowercase())],
            depth: depth_for(depth, clone),
            by_id: true,
        };
    }
    if is_hex(pin) || !is_plain_ref_name(pin) {
        // Abbreviated (or not nameable as a ref): only the full listing can resolve it.
        return everything(clone);
    }
    Request {
        refspecs: vec![
            format!("+refs/tags/{pin}:refs/tags/{pin}"),
            format!("+refs/heads/{pin}:refs/remotes/origin/{pin}"),
        ],
        depth: depth_for(depth, clone),
        by_id: false,
    }
}

/// What a server that refused the pin by id gets instead: branches and tags, as before
/// fetches by id existed.
pub fn fallback(clone: Held) -> Request {
    everything(clone)
}

/// All branches and tags, whole history (a shallow clone is deepened, or an old commit
/// below its boundary could never be found).
fn everything(clone: Held) -> Request {
    Request {
        refspecs: vec![
            "+refs/heads/*:refs/remotes/origin/*".into(),
            "+refs/tags/*:refs/tags/*".into(),
        ],
        depth: match clone {
            Held::Shallow => Depth::Unshallow,
            Held::Empty | Held::Full => Depth::AsIs,
        },
        by_id: false,
    }
}

/// The depth rule: `code_fetch_depth` applies to fresh and already-shallow clones; a full
/// clone stays full (a device migrated from the Python agent keeps its history); 0 makes a
/// shallow clone whole again.
fn depth_for(depth: u32, clone: Held) -> Depth {
    match (depth, clone) {
        (0, Held::Shallow) => Depth::Unshallow,
        (0, _) | (_, Held::Full) => Depth::AsIs,
        (n, Held::Empty | Held::Shallow) => Depth::AtRemote(n),
    }
}

/// The server's answer to a want it does not serve, as git's upload-pack words it
/// (`not our ref <id>`; protocol v0/v1 without `uploadpack.allowReachableSHA1InWant`)
/// and, from JGit's message catalogue (not tried here), as JGit-based servers do
/// (`want <id> not valid`).
pub fn is_refused_want(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("not our ref") || (m.contains("want ") && m.contains(" not valid"))
}

/// `+<40 hex>:<dst>` or `<40 hex>`: a refspec asking for a commit by id.
pub fn is_by_id(refspec: &str) -> bool {
    let src = refspec.trim_start_matches('+');
    is_full_id(src.split_once(':').map_or(src, |(s, _)| s))
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_full_id(s: &str) -> bool {
    s.len() == 40 && is_hex(s)
}

/// A name that can stand in a refspec as it is: no glob, no `:`, nothing git forbids.
fn is_plain_ref_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/+".contains(&b))
        && !s.starts_with(['-', '/', '.'])
        && !s.ends_with(['/', '.'])
        && !s.ends_with(".lock")
        && !s.contains("..")
        && !s.contains("//")
        && !s.contains("/.")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f1c2e9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e";

    #[test]
    fn a_full_id_is_fetched_by_id_alone_at_the_configured_depth() {
        let r = request(ID, 1, Held::Empty);
        assert_eq!(r.refspecs, vec![format!("+{ID}:{PIN_REF}")]);
        assert_eq!(r.depth, Depth::AtRemote(1));
        assert!(r.by_id);
        assert_eq!(request(ID, 5, Held::Empty).depth, Depth::AtRemote(5));
    }

    #[test]
    fn an_upper_case_or_padded_id_is_asked_for_in_lower_case() {
        let r = request(&format!(" {} ", ID.to_uppercase()), 1, Held::Empty);
        assert_eq!(r.refspecs, vec![format!("+{ID}:{PIN_REF}")]);
    }

    #[test]
    fn depth_zero_fetches_whole_history() {
        assert_eq!(request(ID, 0, Held::Empty).depth, Depth::AsIs);
        assert_eq!(request(ID, 0, Held::Full).depth, Depth::AsIs);
    }

    #[test]
    fn depth_zero_makes_a_shallow_clone_whole() {
        assert_eq!(request(ID, 0, Held::Shallow).depth, Depth::Unshallow);
        assert_eq!(request("v1", 0, Held::Shallow).depth, Depth::Unshallow);
    }

    #[test]
    fn a_shallow_clone_stays_at_the_configured_depth() {
        assert_eq!(request(ID, 1, Held::Shallow).depth, Depth::AtRemote(1));
    }

    #[test]
    fn a_full_clone_stays_full() {
        let r = request(ID, 1, Held::Full);
        assert_eq!(r.depth, Depth::AsIs);
        assert!(r.by_id, "still only the pin, by id");
    }

    #[test]
    fn a_tag_name_fetches_that_tag_only() {
        let r = request("v1.2.3", 1, Held::Empty);
        assert_eq!(
            r.refspecs,
            vec![
                "+refs/tags/v1.2.3:refs/tags/v1.2.3".to_string(),
                // a branch of that name: the resolver accepts those too
                "+refs/heads/v1.2.3:refs/remotes/origin/v1.2.3".to_string(),
            ]
        );
        assert_eq!(r.depth, Depth::AtRemote(1));
        assert!(!r.by_id);
    }

    #[test]
    fn an_abbreviated_id_fetches_branches_and_tags_with_history() {
        for clone in [Held::Empty, Held::Full] {
            let r = request(&ID[..7], 1, clone);
            assert_eq!(
                r.refspecs,
                vec![
                    "+refs/heads/*:refs/remotes/origin/*",
                    "+refs/tags/*:refs/tags/*"
                ]
            );
            assert_eq!(r.depth, Depth::AsIs);
            assert!(!r.by_id);
        }
        assert_eq!(request(&ID[..7], 1, Held::Shallow).depth, Depth::Unshallow);
    }

    #[test]
    fn a_name_that_is_no_plain_ref_name_fetches_branches_and_tags() {
        for name in [
            "a*", "a:b", "..", "-x", "a b", "x.lock", "a//b", "/a", "a/.b", "a^", "",
        ] {
            assert_eq!(
                request(name, 1, Held::Empty),
                everything(Held::Empty),
                "{name}"
            );
        }
        assert!(request("release/2024-11", 1, Held::Empty).refspecs[0].contains("release/2024-11"));
    }

    #[test]
    fn the_fallback_is_branches_and_tags_with_history() {
        assert_eq!(fallback(Held::Empty).depth, Depth::AsIs);
        assert_eq!(fallback(Held::Full).depth, Depth::AsIs);
        assert_eq!(fallback(Held::Shallow).depth, Depth::Unshallow);
        assert!(!fallback(Held::Empty).by_id);
        assert_eq!(fallback(Held::Empty).refspecs.len(), 2);
    }

    #[test]
    fn a_refspec_by_id_is_told_from_one_by_name() {
        assert!(is_by_id(&request(ID, 1, Held::Empty).refspecs[0]));
        assert!(is_by_id(ID));
        assert!(!is_by_id("+refs/heads/main:refs/remotes/origin/main"));
        assert!(!is_by_id(&format!("+{}:x", &ID[..39])));
    }

    #[test]
    fn a_refused_want_is_recognised_in_the_servers_words() {
        assert!(is_refused_want(&format!(
            "fetch git://h/r: remote error: upload-pack: not our ref {ID}"
        )));
        assert!(is_refused_want(&format!("ERR want {ID} not valid")));
        assert!(!is_refused_want("connection refused"));
        assert!(!is_refused_want("repository not found"));
    }
}
