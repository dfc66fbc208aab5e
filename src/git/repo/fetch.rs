//! Fetching refspecs into a clone over one connection made by `transport` (so
//! `network_timeout`, our http client and the stop flag apply), pruning tracking refs of
//! branches the remote deleted.

use std::sync::atomic::AtomicBool;

use gix::bstr::BStr;
use gix::protocol::transport::{Protocol, Service};

use super::open::repo_dir;
use crate::code_fetch::{self, Depth};
use crate::error::{Context, Error, Kind, Result};
use crate::git::NetOptions;
use crate::git::{retry, transport};
use crate::url::Url;

/// Fetch `refspecs` from `url` into `repo` over one connection made by
/// [`transport::open`] (so `net.timeout` and our http client apply).
///
/// A refspec whose source the remote lacks is not an error (a monitoring branch may not
/// exist yet): the caller checks the local ref afterwards. Tags are only fetched when a
/// refspec asks for them. Local refs of branches that vanished on the remote are kept.
pub fn fetch(repo: &gix::Repository, url: &Url, refspecs: &[&str], net: &NetOptions) -> Result<()> {
    fetch_until(repo, url, refspecs, net, &AtomicBool::new(false))
}

/// [`fetch`] that gives up when `stop` becomes true (the agent is shutting down): a big
/// pack on a thin link must not keep a stopping agent alive for minutes. Nothing is lost:
/// the partial pack is discarded and refs are untouched, so the next run fetches again.
/// Errors carry their kind: `Interrupted` once `stop` is set, `Network` or `Rejected` as
/// the transport saw it (see `transport::link`), `Invalid` for what gix refused.
pub fn fetch_until(
    repo: &gix::Repository,
    url: &Url,
    refspecs: &[&str],
    net: &NetOptions,
    stop: &AtomicBool,
) -> Result<()> {
    fetch_at_depth(repo, url, refspecs, Depth::AsIs, net, stop)
}

/// [`fetch_until`] bringing `depth` of history (SPEC §14): `AtRemote(n)` writes or moves
/// the clone's shallow boundary (`.git/shallow`, as `git fetch --depth n` does),
/// `Unshallow` removes it. Refspecs whose source is a full object id ask for that commit by
/// id; when every source is one, the ref listing (protocol v2) is asked to list nothing.
/// A connection the server drops at once (a full accept queue under a herd of devices) is
/// tried again a few times after a random wait (`retry`); `stop` ends the waits.
pub fn fetch_at_depth(
    repo: &gix::Repository,
    url: &Url,
    refspecs: &[&str],
    depth: Depth,
    net: &NetOptions,
    stop: &AtomicBool,
) -> Result<()> {
    let bound = retry::quick_bound(net.timeout, net.transfer_timeout);
    retry::retrying(&format!("fetch {url}"), bound, stop, || {
        fetch_once(repo, url, refspecs, depth, net, stop)
    })
}

/// One connection of [`fetch_at_depth`].
fn fetch_once(
    repo: &gix::Repository,
    url: &Url,
    refspecs: &[&str],
    depth: Depth,
    net: &NetOptions,
    stop: &AtomicBool,
) -> Result<()> {
    let shown = url;
    let ctx = || format!("fetch {shown}");
    if refspecs.is_empty() {
        return Ok(());
    }
    let remote = repo
        .remote_at(url.secret())
        .with_context(ctx)
        .map_err(|e| e.with_kind(Kind::Invalid))?
        .with_refspecs(
            refspecs.iter().map(|s| BStr::new(*s)),
            gix::remote::Direction::Fetch,
        )
        .with_context(|| format!("fetch {shown}: bad refspec in {refspecs:?}"))
        .map_err(|e| e.with_kind(Kind::Invalid))?
        // Only what was asked for: no implicit tag following.
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    let link = transport::open(url, Service::UploadPack, net).map_err(|e| e.context(ctx()))?;
    let (failure, spoken) = (link.failure, link.spoken);
    let mut options = gix::remote::ref_map::Options::default();
    if refspecs.iter().all(|s| code_fetch::is_by_id(s)) {
        let nothing = gix::refspec::parse(
            BStr::new(code_fetch::LIST_NO_REF),
            gix::refspec::parse::Operation::Fetch,
        )
        .with_context(ctx)
        .map_err(|e| e.with_kind(Kind::Invalid))?;
        options.extra_refspecs.push(nothing.to_owned());
    }
    let prepare = remote
        .to_connection_with_transport(link.transport)
        .prepare_fetch(gix::progress::Discard, options)
        .map_err(|e| failure.wrap(e, stop, ctx()))?;
    // The refs are in (held in memory, so bounded); the pack is streamed to disk.
    link.budget.pack_follows();
    // A branch deleted on the remote loses its tracking ref, as with `git fetch --prune`:
    // a stale one would keep a deleted deploy branch "applied" without a word, and make
    // every monitoring push expect a tip the remote no longer has (rejected forever).
    let matched: Vec<usize> = prepare
        .ref_map()
        .mappings
        .iter()
        .filter_map(|m| match m.spec_index {
            gix::remote::fetch::refmap::SpecIndex::ExplicitInRemote(i) => Some(i),
            gix::remote::fetch::refmap::SpecIndex::Implicit(_) => None,
        })
        .collect();
    for (i, spec) in refspecs.iter().enumerate() {
        if !matched.contains(&i) {
            prune_tracking_ref(repo, spec).with_context(ctx)?;
        }
    }
    // gix refuses to fetch when none of the refspecs matched a remote ref; for us that is
    // simply "nothing there yet".
    if prepare.ref_map().mappings.is_empty() {
        return Ok(());
    }
    // A depth-limited fetch always negotiates, so the server packs (an empty pack, but a
    // `pack-objects` per device and pass) even when every tip is here already: then ask
    // for the refs alone, as an unlimited fetch would.
    let depth = match depth {
        Depth::AtRemote(_)
            if prepare
                .ref_map()
                .mappings
                .iter()
                .all(|m| m.remote.as_id().is_some_and(|id| repo.has_object(id))) =>
        {
            Depth::AsIs
        }
        d => d,
    };
    // Every tracking ref already at its remote tip: nothing to download or move. (gix would
    // still commit an empty ref transaction, and resolving its committer reads the local
    // zone through jiff's walk of /usr/share/zoneinfo: ~3.4 M instructions per pass.)
    let tips = prepare.ref_map().mappings.iter().map(|m| {
        let here = m.local.as_ref().and_then(|name| {
            let r = repo.try_find_reference(BStr::new(name)).ok()??;
            r.target().try_id().map(ToOwned::to_owned)
        });
        (m.remote.as_id().map(ToOwned::to_owned), here)
    });
    if up_to_date(depth, tips) {
        return Ok(());
    }
    prepare
        .with_reflog_message(gix::remote::fetch::RefLogMessage::Prefixed {
            action: "fetch".into(),
        })
        .with_shallow(shallow(depth))
        .receive(gix::progress::Discard, stop)
        .map_err(|e| refused_want(failure.wrap(e, stop, ctx()), spoken.get()))?;
    Ok(())
}

/// A want the server refused (`not our ref`) is `Rejected` from a protocol v0/v1 server: it
/// serves only advertised tips unless configured otherwise. Protocol v2 serves any commit
/// it holds, so there the wanted commit does not exist on the server: `Invalid`.
fn refused_want(err: Error, spoken: Option<Protocol>) -> Error {
    if !code_fetch::is_refused_want(&err.to_string()) {
        return err;
    }
    match spoken {
        Some(Protocol::V2) => err.with_kind(Kind::Invalid),
        _ => err.with_kind(Kind::Rejected),
    }
}

/// A fetch has nothing to do: no depth change asked for, and every (remote tip, local ref)
/// pair names the same object.
fn up_to_date(
    depth: Depth,
    mut tips: impl Iterator<Item = (Option<gix::ObjectId>, Option<gix::ObjectId>)>,
) -> bool {
    depth == Depth::AsIs && tips.all(|(remote, here)| remote.is_some() && remote == here)
}

/// gix's words for a [`Depth`].
fn shallow(depth: Depth) -> gix::remote::fetch::Shallow {
    use gix::remote::fetch::Shallow;
    match depth {
        Depth::AsIs => Shallow::NoChange,
        Depth::AtRemote(n) => {
            std::num::NonZeroU32::new(n).map_or(Shallow::NoChange, Shallow::DepthAtRemote)
        }
        Depth::Unshallow => Shallow::undo(),
    }
}

/// Delete the destination of a one-branch refspec (`+refs/heads/x:refs/remotes/origin/x`)
/// whose source the remote no longer has. Globs and anything outside `refs/remotes/` are
/// never touched.
fn prune_tracking_ref(repo: &gix::Repository, refspec: &str) -> Result<()> {
    let Some((_, dst)) = refspec.trim_start_matches('+').split_once(':') else {
        return Ok(());
    };
    if !dst.starts_with("refs/remotes/") || dst.contains('*') {
        return Ok(());
    }
    let ctx = || format!("{}: delete {dst} (gone from the remote)", repo_dir(repo));
    if let Some(reference) = repo.try_find_reference(dst).with_context(ctx)? {
        log::info!("{}: {dst} is gone from the remote", repo_dir(repo));
        reference.delete().with_context(ctx)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::repo::test_support::*;
    use crate::git::repo::{find_ref, open_or_init};
    use std::path::Path;
    use std::time::Duration;

    #[test]
    fn fetch_file_remote_and_missing_refspec_is_not_an_error() {
        let tmp = TempDir::new("fetch");
        let remote = make_remote(tmp.path());
        git(
            &remote.work,
            &["tag", "-a", "v1", "-m", "release 1", &remote.c1.to_string()],
        );
        git(&remote.work, &["push", "-q", "origin", "v1"]);
        let dir = tmp.path().join("clone");
        let repo = open_or_init(&dir, &remote.url()).unwrap();
        fetch(
            &repo,
            &remote.url(),
            &[
                MAIN,
                "+refs/heads/main-monitoring:refs/remotes/origin/main-monitoring",
            ],
            &net(),
        )
        .unwrap();
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/main").unwrap(),
            Some(remote.c2)
        );
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/main-monitoring").unwrap(),
            None
        );
        // Tags only when asked for.
        assert_eq!(find_ref(&repo, "refs/tags/v1").unwrap(), None);
        // Only a missing refspec: still fine, nothing changes.
        fetch(
            &repo,
            &remote.url(),
            &["+refs/heads/nope:refs/remotes/origin/nope"],
            &net(),
        )
        .unwrap();
        assert_eq!(find_ref(&repo, "refs/remotes/origin/nope").unwrap(), None);
        fetch(&repo, &remote.url(), &["+refs/tags/*:refs/tags/*"], &net()).unwrap();
        assert_eq!(find_ref(&repo, "refs/tags/v1").unwrap(), Some(remote.c1));
        // A new commit arrives on the next fetch.
        let c3 = remote.push_commit("e.txt", "e\n", "third");
        fetch(&repo, &remote.url(), &[MAIN], &net()).unwrap();
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/main").unwrap(),
            Some(c3)
        );
        git(&dir, &["fsck", "--full"]);
        assert_eq!(
            git(&dir, &["rev-parse", "refs/remotes/origin/main"]),
            c3.to_string()
        );
        assert!(lock_files(&dir).is_empty());
    }

    #[test]
    fn a_fetch_is_up_to_date_when_every_tip_is_here_and_no_depth_is_asked() {
        let a = gix::ObjectId::from_hex(b"1111111111111111111111111111111111111111").unwrap();
        let b = gix::ObjectId::from_hex(b"2222222222222222222222222222222222222222").unwrap();
        let up = |depth, tips: Vec<(Option<gix::ObjectId>, Option<gix::ObjectId>)>| {
            up_to_date(depth, tips.into_iter())
        };
        assert!(up(
            Depth::AsIs,
            vec![(Some(a), Some(a)), (Some(b), Some(b))]
        ));
        assert!(!up(
            Depth::AsIs,
            vec![(Some(a), Some(a)), (Some(b), Some(a))]
        ));
        assert!(!up(Depth::AsIs, vec![(Some(a), None)]), "no local ref yet");
        assert!(
            !up(Depth::AsIs, vec![(None, None)]),
            "a symbolic or unborn remote ref"
        );
        assert!(!up(Depth::Unshallow, vec![(Some(a), Some(a))]));
        assert!(!up(Depth::AtRemote(1), vec![(Some(a), Some(a))]));
    }

    #[test]
    fn fetch_prunes_the_tracking_ref_of_a_deleted_branch() {
        let tmp = TempDir::new("prune");
        let remote = make_remote(tmp.path());
        git(&remote.work, &["push", "-q", "origin", "main:other"]);
        let dir = tmp.path().join("clone");
        let repo = open_or_init(&dir, &remote.url()).unwrap();
        let other = "+refs/heads/other:refs/remotes/origin/other";
        fetch(&repo, &remote.url(), &[MAIN, other], &net()).unwrap();
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/other").unwrap(),
            Some(remote.c2)
        );
        git(&remote.bare, &["branch", "-D", "other"]);
        fetch(&repo, &remote.url(), &[MAIN, other], &net()).unwrap();
        assert_eq!(find_ref(&repo, "refs/remotes/origin/other").unwrap(), None);
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/main").unwrap(),
            Some(remote.c2)
        );
        // Also when nothing at all matches any more; objects stay (only the ref goes).
        git(&remote.bare, &["update-ref", "-d", "refs/heads/main"]);
        fetch(&repo, &remote.url(), &[MAIN], &net()).unwrap();
        assert_eq!(find_ref(&repo, "refs/remotes/origin/main").unwrap(), None);
        assert!(repo.find_object(remote.c2).is_ok());
        // Never outside refs/remotes/.
        git(
            &dir,
            &["update-ref", "refs/heads/keep", &remote.c1.to_string()],
        );
        fetch(
            &repo,
            &remote.url(),
            &["+refs/heads/keep:refs/heads/keep"],
            &net(),
        )
        .unwrap();
        assert_eq!(find_ref(&repo, "refs/heads/keep").unwrap(), Some(remote.c1));
    }

    #[test]
    fn fetch_from_empty_remote_is_not_an_error() {
        let tmp = TempDir::new("empty-remote");
        let bare = tmp.path().join("empty.git");
        git(
            tmp.path(),
            &["init", "-q", "--bare", bare.to_str().unwrap()],
        );
        let url = Url::new(format!("file://{}", bare.display()));
        let repo = open_or_init(&tmp.path().join("clone"), &url).unwrap();
        fetch(&repo, &url, &[MAIN], &net()).unwrap();
        assert_eq!(find_ref(&repo, "refs/remotes/origin/main").unwrap(), None);
    }

    #[test]
    fn fetch_unreachable_remote_is_an_error_naming_url() {
        let tmp = TempDir::new("unreachable");
        let url = Url::new(format!("file://{}/missing.git", tmp.path().display()));
        let repo = open_or_init(&tmp.path().join("clone"), &url).unwrap();
        let err = fetch(&repo, &url, &[MAIN], &net()).unwrap_err();
        // The helper died before speaking: the link failed, as far as we can tell.
        assert_eq!(err.kind(), Kind::Network);
        let err = err.to_string();
        assert!(err.contains("missing.git"), "{err}");
    }

    #[test]
    fn a_set_stop_flag_gives_up_the_fetch_as_interrupted() {
        let tmp = TempDir::new("stopped");
        let remote = make_remote(tmp.path());
        let repo = open_or_init(&tmp.path().join("clone"), &remote.url()).unwrap();
        let stop = AtomicBool::new(true);
        let err = fetch_until(&repo, &remote.url(), &[MAIN], &net(), &stop).unwrap_err();
        assert_eq!(err.kind(), Kind::Interrupted);
        assert_eq!(find_ref(&repo, "refs/remotes/origin/main").unwrap(), None);
        // Nothing is lost: the next fetch gets it all.
        fetch(&repo, &remote.url(), &[MAIN], &net()).unwrap();
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/main").unwrap(),
            Some(remote.c2)
        );
    }

    #[test]
    fn clone_made_by_git_cli_opens_and_fetches() {
        let tmp = TempDir::new("cliclone");
        let remote = make_remote(tmp.path());
        let dir = tmp.path().join("cli");
        git(
            tmp.path(),
            &["clone", "-q", remote.url().secret(), dir.to_str().unwrap()],
        );
        let repo = open_or_init(&dir, &Url::new(format!("{}/", remote.url().secret()))).unwrap();
        let c3 = remote.push_commit("x.txt", "x\n", "third");
        fetch(&repo, &remote.url(), &[MAIN], &net()).unwrap();
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/main").unwrap(),
            Some(c3)
        );
        // Still a normal clone for the git CLI.
        git(&dir, &["fsck", "--full"]);
        git(&dir, &["fetch", "-q", "origin"]);
        assert_eq!(git(&dir, &["rev-parse", "origin/main"]), c3.to_string());
        assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    }

    /// A `git daemon` on 127.0.0.1, killed on drop.
    struct Daemon(std::process::Child);

    impl Drop for Daemon {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn fetch_over_git_daemon() {
        let tmp = TempDir::new("daemon");
        let remote = make_remote(tmp.path());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The dashed program itself: `git daemon` runs it as a child, and killing `git` on
        // drop would leave the daemon running.
        let exec_path = git(tmp.path(), &["--exec-path"]);
        let child = std::process::Command::new(Path::new(exec_path.trim()).join("git-daemon"))
            .current_dir(tmp.path())
            .args([
                "--export-all",
                &format!("--base-path={}", tmp.path().display()),
                &format!("--port={port}"),
                "--listen=127.0.0.1",
                "--reuseaddr",
                tmp.path().to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let _daemon = Daemon(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "git daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let url = Url::new(format!("git://127.0.0.1:{port}/remote.git"));
        let dir = tmp.path().join("clone");
        let repo = open_or_init(&dir, &url).unwrap();
        fetch(
            &repo,
            &url,
            &[
                MAIN,
                "+refs/heads/main-monitoring:refs/remotes/origin/main-monitoring",
            ],
            &net(),
        )
        .unwrap();
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/main").unwrap(),
            Some(remote.c2)
        );
        let c3 = remote.push_commit("y.txt", "y\n", "third");
        fetch(&repo, &url, &[MAIN], &net()).unwrap();
        assert_eq!(
            find_ref(&repo, "refs/remotes/origin/main").unwrap(),
            Some(c3)
        );
        git(&dir, &["fsck", "--full"]);
    }
}
