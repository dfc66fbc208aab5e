//! What a remote's branches point at, listed on one connection (issue 7): a pass asks once
//! for a group's deploy branch and its `-monitoring` branch, and a fetch whose tip is
//! already here is not made. An unchanged pass therefore contacts the remote once, not
//! once per branch. The rule is `needless`; the listing is `list`.

use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, OnceLock};

use gix::bstr::BString;
use gix::protocol::handshake::Ref;
use gix::protocol::transport::Service;
use gix::ObjectId;

use crate::code_fetch::Depth;
use crate::error::Result;
use crate::git::{retry, transport, NetOptions};
use crate::url::Url;

/// The remote tips of the refs a listing asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tips {
    /// Full ref names asked for.
    asked: Vec<String>,
    /// Those the remote has, and their objects (a tag: the object it points to, as fetched).
    found: Vec<(String, ObjectId)>,
}

impl Tips {
    /// The remote tip of `name`: `Some(None)` when the remote lacks it, `None` when it was
    /// not asked for (then nothing is known).
    pub fn tip(&self, name: &str) -> Option<Option<ObjectId>> {
        self.asked.iter().any(|a| a == name).then(|| {
            self.found
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, id)| *id)
        })
    }

    /// Whether the remote's `refs/heads/<branch>` is where the clone at `dir` has its
    /// tracking ref, read from the loose ref file gix writes (no repository opened: this
    /// decides whether a thread is worth starting). Packed, missing or not listed: no.
    pub fn at_tracking_ref(&self, dir: &std::path::Path, branch: &str) -> bool {
        let Some(Some(tip)) = self.tip(&format!("refs/heads/{branch}")) else {
            return false;
        };
        let file = dir.join(".git/refs/remotes/origin").join(branch);
        crate::files::read_small(&file)
            .ok()
            .and_then(|bytes| ObjectId::from_hex(bytes.trim_ascii_end()).ok())
            == Some(tip)
    }

    /// Whether fetching the one-branch `refspec` (`+refs/heads/x:refs/remotes/origin/x`)
    /// into `repo` at `depth` would change nothing (see `needless`).
    pub fn make_fetch_needless(&self, repo: &gix::Repository, refspec: &str, depth: Depth) -> bool {
        let Some((src, dst)) = refspec.trim_start_matches('+').split_once(':') else {
            return false;
        };
        let here = repo
            .try_find_reference(dst)
            .ok()
            .flatten()
            .and_then(|r| r.target().try_id().map(ToOwned::to_owned));
        needless(self.tip(src), here, depth)
    }
}

/// A listing made once, by whichever thread needs it first; another that needs it then waits
/// for that one. A pass makes it on a second thread and reconciles meanwhile, so the round
/// trip and the local work overlap. Its connection opens in [`Shared::new`], on the thread
/// already running, and a git:// request is sent at once: the server starts its side (both
/// of `git daemon`'s processes) while the second thread is still being scheduled (measured:
/// 0.8 ms of a 10 ms unchanged pass, on a VM whose idle CPUs sleep). The cost: the local
/// work starts one connect (a round trip) later; it still ends within the listing unless
/// it takes longer than the two round trips left.
pub struct Shared<'a> {
    cell: OnceLock<Result<Tips>>,
    /// The first attempt's connection, opened in `new`; taken by the listing.
    early: Mutex<Option<Result<transport::Link>>>,
    url: &'a Url,
    names: Vec<String>,
    net: &'a NetOptions,
    stop: &'a AtomicBool,
}

impl<'a> Shared<'a> {
    /// `names` of `url`: connected now (the request sent where the protocol allows), listed
    /// by the first [`Shared::get`].
    pub fn new(
        url: &'a Url,
        names: Vec<String>,
        net: &'a NetOptions,
        stop: &'a AtomicBool,
    ) -> Self {
        let early = (!stop.load(std::sync::atomic::Ordering::SeqCst))
            .then(|| transport::open_requesting(url, Service::UploadPack, net));
        Shared {
            cell: OnceLock::new(),
            early: Mutex::new(early),
            url,
            names,
            net,
            stop,
        }
    }

    /// The listing: made now, or awaited when another thread is making it.
    pub fn get(&self) -> &Result<Tips> {
        self.cell.get_or_init(|| {
            let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
            let early = self.early.lock().ok().and_then(|mut e| e.take());
            list(self.url, &names, self.net, self.stop, early)
        })
    }
}

/// The rule: a fetch is needless when the remote was asked, has the branch, and the local
/// ref already names its tip, unless the whole history is wanted (`Unshallow` deepens a
/// shallow clone whatever its tip). A depth-limited fetch of a tip that is here changes
/// nothing either: `fetch` asks for the refs alone then. A branch gone from the remote is
/// never needless: the fetch prunes its tracking ref.
fn needless(remote: Option<Option<ObjectId>>, here: Option<ObjectId>, depth: Depth) -> bool {
    depth != Depth::Unshallow && matches!(remote, Some(Some(id)) if here == Some(id))
}

/// List `names` (full ref names) on `url` over one connection (`transport::open`, so
/// `network_timeout`, our http client and `stop` apply). Protocol v2 asks `ls-refs` for
/// those names alone; a v0/v1 server's advertisement is filtered. A dropped connection is
/// tried again as a fetch's is (`retry`). Errors read and are kinded as a fetch's.
/// `early`: the first attempt's connection when it is open already.
pub fn list(
    url: &Url,
    names: &[&str],
    net: &NetOptions,
    stop: &AtomicBool,
    mut early: Option<Result<transport::Link>>,
) -> Result<Tips> {
    let bound = retry::quick_bound(net.timeout, net.transfer_timeout);
    retry::retrying(&format!("fetch {url}"), bound, stop, || {
        let link = early
            .take()
            .unwrap_or_else(|| transport::open(url, Service::UploadPack, net));
        list_once(url, names, link, stop)
    })
}

/// One connection of [`list`].
fn list_once(
    url: &Url,
    names: &[&str],
    link: Result<transport::Link>,
    stop: &AtomicBool,
) -> Result<Tips> {
    let ctx = || format!("fetch {url}");
    let link = link.map_err(|e| e.context(ctx()))?;
    let (mut transport, failure) = (link.transport, link.failure);
    let mut handshake = gix::protocol::handshake(
        &mut transport,
        Service::UploadPack,
        // git:// and file:// never ask; http credentials are the transport's business.
        |_action| Ok(None),
        Vec::new(),
        &mut gix::progress::Discard,
    )
    .map_err(|e| failure.wrap(e, stop, ctx()))?;
    let refs = match handshake.refs.take() {
        // v0/v1: the advertisement was every ref.
        Some(refs) => refs,
        None => {
            let mut prefixes = gix::protocol::ls_refs::RefPrefixes::new();
            prefixes.extend(names.iter().map(|n| BString::from(*n)));
            let agent = (
                "agent",
                Some(format!("gitops-agent/{}", env!("CARGO_PKG_VERSION"))),
            );
            gix::protocol::LsRefsCommand::new(Some(prefixes), &handshake.capabilities, agent)
                .invoke_blocking(&mut transport, &mut gix::progress::Discard, false)
                .map_err(|e| failure.wrap(e, stop, ctx()))?
        }
    };
    // The polite end (a flush: no wants); the answer is in hand whatever the server does.
    let _ = gix::protocol::indicate_end_of_interaction(&mut transport, false);
    Ok(from_refs(names, &refs))
}

/// The asked names among `refs` (a prefix also lists longer names: they are left out).
fn from_refs(names: &[&str], refs: &[Ref]) -> Tips {
    let found = refs
        .iter()
        .filter_map(|r| {
            let (name, id) = match r {
                Ref::Direct {
                    full_ref_name,
                    object,
                } => (full_ref_name, object),
                Ref::Peeled {
                    full_ref_name,
                    object,
                    ..
                } => (full_ref_name, object),
                Ref::Symbolic {
                    full_ref_name,
                    object,
                    ..
                } => (full_ref_name, object),
                Ref::Unborn { .. } => return None,
            };
            let name = String::from_utf8_lossy(name.as_ref()).into_owned();
            names.contains(&name.as_str()).then_some((name, *id))
        })
        .collect();
    Tips {
        asked: names.iter().map(|n| n.to_string()).collect(),
        found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[n; 20])
    }

    #[test]
    fn needless_when_the_local_ref_is_at_the_remote_tip() {
        assert!(needless(Some(Some(id(1))), Some(id(1)), Depth::AsIs));
        assert!(needless(Some(Some(id(1))), Some(id(1)), Depth::AtRemote(1)));
    }

    #[test]
    fn needed_when_the_tip_moved_or_nothing_is_here() {
        assert!(!needless(Some(Some(id(2))), Some(id(1)), Depth::AsIs));
        assert!(!needless(Some(Some(id(2))), None, Depth::AtRemote(1)));
    }

    #[test]
    fn needed_when_the_branch_is_gone_so_its_tracking_ref_is_pruned() {
        assert!(!needless(Some(None), Some(id(1)), Depth::AsIs));
        assert!(!needless(Some(None), None, Depth::AsIs));
    }

    #[test]
    fn a_shared_listing_sends_its_git_request_when_made_not_when_read() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = Url::new(format!("git://127.0.0.1:{port}/deploy.git"));
        let (net, stop) = (NetOptions::default(), AtomicBool::new(false));
        let names = vec!["refs/heads/main".to_string()];
        let shared = Shared::new(&url, names, &net, &stop);
        // Nothing has asked for the listing yet: the server already has the request.
        listener.set_nonblocking(true).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut conn = loop {
            match listener.accept() {
                Ok((conn, _)) => break conn,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                Err(e) => panic!("no connection before the listing was asked for: {e}"),
            }
        };
        conn.set_nonblocking(false).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut line = [0u8; 4 + 15];
        conn.read_exact(&mut line).unwrap();
        assert_eq!(&line[4..], b"git-upload-pack");
        drop((conn, listener));
        // (the server hung up: the listing fails, as a dropped connection does)
        assert!(shared.get().is_err());
    }

    #[test]
    fn needed_when_the_ref_was_not_listed() {
        assert!(!needless(None, Some(id(1)), Depth::AsIs));
    }

    #[test]
    fn needed_when_the_whole_history_is_wanted() {
        assert!(!needless(Some(Some(id(1))), Some(id(1)), Depth::Unshallow));
    }

    #[test]
    fn a_listing_keeps_the_asked_names_only() {
        let refs = vec![
            Ref::Direct {
                full_ref_name: "refs/heads/main".into(),
                object: id(1),
            },
            Ref::Direct {
                full_ref_name: "refs/heads/main-monitoring".into(),
                object: id(2),
            },
            Ref::Direct {
                full_ref_name: "refs/heads/mainline".into(),
                object: id(3),
            },
        ];
        let tips = from_refs(&["refs/heads/main", "refs/heads/gone"], &refs);
        assert_eq!(tips.tip("refs/heads/main"), Some(Some(id(1))));
        assert_eq!(tips.tip("refs/heads/gone"), Some(None));
        assert_eq!(tips.tip("refs/heads/mainline"), None, "not asked");
        assert_eq!(tips.tip("refs/heads/main-monitoring"), None, "not asked");
    }
}
