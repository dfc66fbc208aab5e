//! Publishing a group's feedback (SPEC §6, §9): read the previous `<infra_name>.toml` from the
//! `<branch>-monitoring` branch, build the new one (`report`), and when it says something new
//! (or a heartbeat is due) commit it with the fleet dashboard `README.md` (`dashboard`) as a
//! full snapshot, trim old history (`trim`) and push. How much of the branch's history is
//! fetched, the record of the oldest commit after the root every status commit carries, and
//! the trim's rewrite are in `history`. A push that loses the race with another
//! device is tried again in the same pass on the new head (`jitter` decides when and until
//! when); only this device's file and the README are ever written.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind;
use gix::ObjectId;

use crate::code_fetch::Depth;
use crate::config::{AgentConfig, Group};
use crate::dashboard::{self, Content, DeviceFile};
use crate::error::{Context, Error, Kind, Result};
use crate::git::commit::{self, Sig};
use crate::git::push::{self, RefUpdate};
use crate::git::repo::repo_dir;
use crate::git::worktree::{self, HeadTarget};
use crate::git::{repo, retry, NetOptions};
use crate::health::Health;
use crate::jitter::{self, Failure, Next};
use crate::layout::Layout;
use crate::report::{self, memo, AppReport};
use crate::url::Url;
use crate::{bail, clock, health, trim};

mod history;

use history::{chain_times, fetch_head, write_oldest};

/// What publishing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Nothing but `last-updated` would change: no commit, no push.
    Unchanged,
    /// A status commit was pushed; `trimmed` when history was rewritten (force-push).
    Pushed { trimmed: bool },
}

/// The monitoring branch of one group as this device sees it.
struct Branch<'a> {
    mon: gix::Repository,
    dir: std::path::PathBuf,
    url: &'a Url,
    /// `main-monitoring`.
    name: String,
    /// `refs/remotes/origin/main-monitoring`.
    tracking: String,
    /// This device's file, `<infra_name>.toml`.
    file: String,
    net: NetOptions,
    /// SIGTERM: the fetch and the push give up at once.
    stop: &'a AtomicBool,
}

/// The monitoring branch fetched ahead: on its own thread while the group's apps are
/// reconciled, when the pass's listing shows that branch moved and the deploy branch did not
/// (issue 7: its fetch and the reconcile overlap; a moved deploy branch means an update and
/// a push, whose fetch right before it would make one ahead a wasted contact). A head known this early (fetched ahead, or found here by the
/// listing) serves the "unchanged, nothing to push" verdict (only this device writes its
/// file); a push is built on a head fetched again right before it: in a fleet the branch
/// moves several times a second, and a push on a head even a few hundred ms old loses the
/// race and waits (measured with 200 devices at `--splay 30`: 2.8 push attempts per device
/// on heads up to 1 s old, against 1.7 with a fetch right before the push).
pub struct Ahead {
    /// `history::fetch`'s answer, or why it failed (then publishing fails with it: the same
    /// failure a fetch at publish time would have had, met earlier).
    fetched: Result<(Option<ObjectId>, bool)>,
}

/// What a pass learnt of the monitoring branch before publishing.
pub enum Early<'a> {
    /// Fetched on its own thread during the reconcile.
    Ahead(Ahead),
    /// The pass's listing of the branch (its head may be here: then nothing is fetched).
    Listed(&'a repo::Tips),
    /// Nothing: `publish` fetches.
    Nothing,
}

/// Fetch `group`'s monitoring branch for this pass ahead of `publish`; `None` when the clone
/// cannot be opened (then `publish` opens it and says why). Gives up when `stop` is set.
pub fn fetch_ahead(
    cfg: &AgentConfig,
    layout: &Layout,
    group: &Group,
    stop: &AtomicBool,
) -> Option<Ahead> {
    let b = branch(cfg, layout, group, stop).ok()?;
    let fetched = history::fetch(&b, cfg.retention_days, false);
    Some(Ahead { fetched })
}

/// The monitoring clone of `group`, opened (made on the first pass).
fn branch<'a>(
    cfg: &AgentConfig,
    layout: &Layout,
    group: &'a Group,
    stop: &'a AtomicBool,
) -> Result<Branch<'a>> {
    let dir = layout.monitoring_clone(&group.url, &group.branch);
    let name = format!("{}-monitoring", group.branch);
    Ok(Branch {
        mon: repo::open_or_init(&dir, &group.url)?,
        dir,
        url: &group.url,
        tracking: format!("refs/remotes/origin/{name}"),
        name,
        file: format!("{}.toml", cfg.infra_name),
        net: cfg.net_options(),
        stop,
    })
}

/// Publish the reports of `group`. Returns the health of every app in the file too.
/// The fetch and the push give up when `stop` is set (SIGTERM reaches the network).
/// A lost push race is retried (fetch, rebuild on the new head, push) until it lands or the
/// time budget (120 s, or `interval` if smaller) is spent; `stop` ends the retries at once.
/// `early`: the branch as this pass found it before (`Early`), its first fetch.
pub fn publish(
    cfg: &AgentConfig,
    layout: &Layout,
    group: &Group,
    reports: &[AppReport],
    force_report: bool,
    stop: &AtomicBool,
    early: Early<'_>,
) -> Result<(Published, Vec<(String, Health)>)> {
    // (gix's `Repository` stays on its thread: a clone fetched ahead is opened again here)
    let b = branch(cfg, layout, group, stop)?;
    let mut early = match early {
        Early::Ahead(ahead) => Some(ahead.fetched),
        // Here as listed: nothing to fetch. Else the loop's first fetch is a fresh one.
        Early::Listed(tips)
            if tips.make_fetch_needless(&b.mon, &b.refspec(), Depth::AtRemote(1)) =>
        {
            Some(history::fetch(&b, cfg.retention_days, true))
        }
        Early::Listed(_) | Early::Nothing => None,
    };
    let shown = &group.url;
    let budget = jitter::budget(cfg.interval);
    let started = Instant::now();
    let quick = retry::quick_bound(b.net.timeout, b.net.transfer_timeout);
    let mut rng = jitter::Rng::seeded();
    let (mut attempts, mut refusals, mut drops) = (0u32, 0u32, 0u32);
    // A push is due when the head seen early said so (`Ok(None)` below).
    let mut due = false;
    loop {
        if stop.load(Ordering::SeqCst) {
            bail!(
                Kind::Interrupted,
                "{} of {shown}: stopped before the report was published",
                b.name
            );
        }
        let stopped = |e: Error| {
            if e.kind() == Kind::Interrupted {
                Error::new(
                    Kind::Interrupted,
                    format!(
                        "{} of {shown}: stopped before the report was published",
                        b.name
                    ),
                )
            } else {
                e
            }
        };
        // A head known early is good for "unchanged"; a push is built on a fresh one.
        let (fetched, fresh, session) = match early.take() {
            Some(fetched) => (fetched, false, None),
            None => {
                // Sure to push: a retry, a push found due, a branch this device never saw.
                let push = attempts > 0 || due || !b.seen_before();
                let (fetched, session) = fetch_for_push(&b, cfg.retention_days, push);
                (fetched, true, session)
            }
        };
        let (head, whole) = fetched.map_err(stopped)?;
        let t0 = Instant::now();
        let seen = Seen { head, whole, fresh };
        let tried = attempt(&b, cfg, group, reports, force_report, seen, session);
        let err = match tried.map_err(stopped) {
            Ok(None) => {
                due = true;
                continue;
            }
            Ok(Some(done)) => {
                attempts += 1;
                if attempts > 1 {
                    log::info!(
                        "{} of {shown}: published at attempt {attempts}, {:.1} s after the first",
                        b.name,
                        started.elapsed().as_secs_f64()
                    );
                }
                return Ok(done);
            }
            Err(e) => {
                attempts += 1;
                e
            }
        };
        let elapsed = started.elapsed();
        let random = rng.next_u64();
        let (next, what) = match err.kind() {
            // A busy server dropped the push's connection (SPEC §9: a herd of devices).
            kind if retry::is_drop(kind, t0.elapsed(), quick) => {
                drops += 1;
                let next = retry::after_drop(drops, elapsed, budget, random);
                (next, "connection dropped, trying again")
            }
            kind => {
                let failure = match kind {
                    Kind::RefMoved => Failure::Lost,
                    // A server words a race it saw itself as a refusal ("failed to update
                    // ref", "cannot lock ref" only on the side band); whether the branch
                    // moved tells.
                    Kind::Rejected if matches!(fetch_head(&b, whole), Ok(now) if now != head) => {
                        Failure::Lost
                    }
                    Kind::Rejected => {
                        refusals += 1;
                        Failure::Refused
                    }
                    _ => return Err(err),
                };
                drops = 0;
                let next =
                    jitter::after_failure(failure, attempts, refusals, elapsed, budget, random);
                (next, "trying again")
            }
        };
        match next {
            Next::Retry(wait) => {
                log::info!(
                    "{} of {shown}: {err}; {what} in {} ms",
                    b.name,
                    wait.as_millis()
                );
                retry::sleep_unless_stopped(wait, stop).map_err(|e| {
                    e.context(format!("{} of {shown}: status push not retried", b.name))
                })?;
            }
            Next::GiveUp => {
                return Err(err.context(format!(
                    "gave up after {attempts} attempts in {:.0} s",
                    elapsed.as_secs_f64()
                )))
            }
        }
    }
}

impl Branch<'_> {
    /// What a fetch of the branch asks for.
    fn refspec(&self) -> String {
        format!("+refs/heads/{}:{}", self.name, self.tracking)
    }

    /// This clone fetched the branch before (a device's first pass has not).
    fn seen_before(&self) -> bool {
        matches!(repo::find_ref(&self.mon, &self.tracking), Ok(Some(_)))
    }
}

/// A receive-pack session opened while the head is fetched (`push::Session`, issue 8), or
/// why it could not be.
type Opened = Option<Result<push::Session>>;

/// Fetch the branch for an attempt (`history::fetch`); with `push`, open the push's session
/// on another thread meanwhile: the server's receive-pack then starts during the fetch, not
/// between the head this device builds on and its update, where another device's push makes
/// it lose the race.
fn fetch_for_push(
    b: &Branch<'_>,
    retention_days: u64,
    push: bool,
) -> (Result<(Option<ObjectId>, bool)>, Opened) {
    if !push {
        return (history::fetch(b, retention_days, false), None);
    }
    let (url, net, stop) = (b.url, &b.net, b.stop);
    std::thread::scope(|scope| {
        let opening = std::thread::Builder::new()
            .name("push-session".into())
            .spawn_scoped(scope, || push::Session::open(url, net, stop, true));
        let fetched = history::fetch(b, retention_days, false);
        let opened = opening.ok().and_then(|h| h.join().ok());
        (fetched, opened)
    })
}

/// What publishing did, and the health of every app in the file.
type Done = (Published, Vec<(String, Health)>);

/// The branch as one attempt sees it.
struct Seen {
    /// Its head on the remote (`None`: not created yet).
    head: Option<ObjectId>,
    /// The whole history is here (not only the head).
    whole: bool,
    /// Fetched by this attempt (not ahead, during the reconcile).
    fresh: bool,
}

/// One try: build this device's file and the README on the head, commit, trim, push.
/// `Ok(None)`: a push is due but the head was fetched ahead; fetch again, then try.
fn attempt(
    b: &Branch<'_>,
    cfg: &AgentConfig,
    group: &Group,
    reports: &[AppReport],
    force_report: bool,
    seen: Seen,
    session: Opened,
) -> Result<Option<Done>> {
    let Seen { head, whole, fresh } = seen;
    let previous = match head {
        Some(head) => commit::read_blob_at(&b.mon, head, &b.file)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
        None => None,
    };
    let now = clock::now();
    let stamp = clock::stamp(now);
    let heartbeat = previous
        .as_deref()
        .is_some_and(|p| report::heartbeat_due(p, &stamp, cfg.heartbeat_hours));
    let memo_key = previous.as_deref().map(|p| memo::key(p, reports));
    let remembered = match &memo_key {
        Some(k) if !force_report && !heartbeat => memo::read(&b.dir, k),
        _ => None,
    };
    let (unchanged, feedback) = match remembered {
        // The same previous file and reports as a pass that found it unchanged: so is this
        // one, and the return below is taken (the text is never needed).
        Some(apps) => (
            true,
            report::Feedback {
                text: String::new(),
                apps,
            },
        ),
        None => {
            let feedback = report::build(previous.as_deref(), reports, &stamp);
            let unchanged = previous
                .as_deref()
                .is_some_and(|p| report::same_content(p, &feedback.text));
            if let (true, Some(k)) = (unchanged, &memo_key) {
                memo::write(&b.dir, k, &feedback.apps);
            }
            (unchanged, feedback)
        }
    };
    if unchanged && !force_report && !heartbeat {
        if let (true, Some(head)) = (whole, head) {
            // Seen whole: remember when a trim can next be due (none is made without a push).
            let times = chain_times(&b.mon, head)?;
            if trim::plan(&times, now.seconds, cfg.retention_days).is_none() {
                write_oldest(&b.dir, times.get(1).copied().unwrap_or(now.seconds));
            }
        }
        // A run killed between its push and the local checkout left the clone behind the
        // branch (maybe with the index already moved): show the branch head again.
        if let (Some(head), Some(text)) = (head, previous.as_deref()) {
            if worktree::head_commit(&b.mon) != Some(head) {
                show_on_disk(b, text, head);
            }
        }
        if let Some(Ok(opened)) = session {
            opened.close();
        }
        return Ok(Some((Published::Unchanged, feedback.apps)));
    }
    if !fresh {
        return Ok(None);
    }
    if unchanged && heartbeat && !force_report {
        log::info!(
            "heartbeat: the report on {} is {} h old or more; refreshing it",
            b.name,
            cfg.heartbeat_hours
        );
    }

    let devices = device_files(&b.mon, head, &b.file, &feedback.text)?;
    let readme = dashboard::render(
        &group.branch,
        &devices,
        &stamp,
        cfg.heartbeat_hours,
        &cfg.infra_name,
    );
    let tree = commit::tree_with_files(
        &b.mon,
        head,
        &[
            (&b.file, feedback.text.as_bytes()),
            (dashboard::README, readme.as_bytes()),
        ],
    )?;
    let sig = Sig {
        name: cfg.infra_name.clone(),
        email: format!("gitops-agent@{}", cfg.infra_name),
        time: now,
    };
    let message = health::commit_message(&feedback.apps);
    // The subject as SPEC §6 words it, then the record that lets a joining device judge a
    // trim from the head alone (`trim::record`).
    let record = history::record_for(&b.mon, head, whole, now.seconds)?;
    let full = trim::record::message(&message, record);
    let parents: Vec<ObjectId> = head.into_iter().collect();
    let status = commit::write_commit(&b.mon, tree, &parents, &full, &sig, &sig)?;
    let planned = if whole {
        history::trim_history(&b.mon, status, cfg.retention_days, &sig, &message)?
    } else {
        None
    };
    let (new_head, trimmed) = push_status(b, head, status, planned, session)?;
    if whole {
        // When a trim can next be due: the oldest commit after the root as pushed; after a
        // refused trim (protected branch), a retention from now, not at every pass.
        let oldest = match planned {
            Some(_) if !trimmed => Some(now.seconds),
            _ => chain_times(&b.mon, new_head)?.get(1).copied(),
        };
        write_oldest(&b.dir, oldest.unwrap_or(now.seconds));
    }

    commit::set_ref(&b.mon, &b.tracking, new_head, "gitops-agent: pushed status")?;
    show_on_disk(b, &feedback.text, new_head);
    log::info!(
        "pushed {message} to {} of {}{}",
        b.name,
        b.url,
        if trimmed { " (history trimmed)" } else { "" }
    );
    Ok(Some((Published::Pushed { trimmed }, feedback.apps)))
}

/// Push the status: the trimmed history (forced, still a compare-and-swap on `head`) when
/// there is one. A server that refuses forced updates (protected branch,
/// `receive.denyNonFastForwards`) gets the untrimmed fast-forward instead, so publishing
/// never stops because of it. Returns the pushed head and whether it was the trimmed one.
fn push_status(
    b: &Branch<'_>,
    head: Option<ObjectId>,
    status: ObjectId,
    trimmed: Option<ObjectId>,
    mut session: Opened,
) -> Result<(ObjectId, bool)> {
    // The session opened ahead serves the first push; a second one connects again.
    let mut send = |new: ObjectId, force: bool| {
        let update = RefUpdate {
            name: format!("refs/heads/{}", b.name),
            expected_old: head,
            new,
            force,
        };
        match session.take() {
            Some(Ok(opened)) => opened.send(&b.mon, &update, b.stop),
            Some(Err(e)) => Err(e.context(format!("push {} to {}", update.name, b.url))),
            None => push::push_until(&b.mon, b.url, &b.net, &update, b.stop),
        }
    };
    let Some(trimmed) = trimmed else {
        return send(status, false).map(|()| (status, false));
    };
    match send(trimmed, true) {
        Ok(()) => Ok((trimmed, true)),
        // If the branch moved instead, the fast-forward fails too (a lost race, retried).
        Err(e) if matches!(e.kind(), Kind::Rejected | Kind::RefMoved) => {
            send(status, false)?;
            log::warn!(
                "{}: the server refused the forced update that trims its history ({e}); \
                 pushed the status as a fast-forward instead, history not trimmed. Allow \
                 this device to force-push {} (branch protection, receive.denyNonFastForwards) \
                 to keep the branch within monitoring_history_retention_days",
                b.name,
                b.name
            );
            Ok((status, false))
        }
        Err(e) => Err(e),
    }
}

/// The device files of the branch at `head` for the dashboard, with this device's file as it
/// is about to be written. Another device's file that cannot be read as a report (a symlink,
/// a folder, too big, not UTF-8, a missing object) becomes an unreadable row, never an error.
fn device_files(
    mon: &gix::Repository,
    head: Option<ObjectId>,
    own: &str,
    own_text: &str,
) -> Result<Vec<DeviceFile>> {
    let mut files = vec![DeviceFile {
        name: own.to_string(),
        content: Content::Text(own_text.to_string()),
    }];
    let Some(head) = head else { return Ok(files) };
    let ctx = || format!("{}: list the device files at {head}", repo_dir(mon));
    let tree = mon
        .find_commit(head)
        .with_context(ctx)?
        .tree()
        .with_context(ctx)?;
    let entries: Vec<(String, EntryKind, ObjectId)> = tree
        .decode()
        .with_context(ctx)?
        .entries
        .iter()
        .map(|e| {
            let name = e.filename.to_str_lossy().into_owned();
            (name, e.mode.kind(), e.oid.to_owned())
        })
        .collect();
    for (name, kind, oid) in entries {
        if !dashboard::is_device_file(&name) || name == own {
            continue;
        }
        let content = match kind {
            EntryKind::Blob | EntryKind::BlobExecutable => read_capped(mon, oid),
            EntryKind::Link => Content::Unreadable("a symlink".into()),
            EntryKind::Tree => Content::Unreadable("a folder".into()),
            EntryKind::Commit => Content::Unreadable("a submodule".into()),
        };
        files.push(DeviceFile { name, content });
    }
    Ok(files)
}

/// A blob's text, unless it is over `dashboard::MAX_FILE_BYTES` (judged from its header,
/// before anything is loaded) or not UTF-8.
fn read_capped(mon: &gix::Repository, oid: ObjectId) -> Content {
    match mon.find_header(oid) {
        Ok(h) if h.size() > dashboard::MAX_FILE_BYTES => {
            return Content::Unreadable(format!("{} bytes, over 1 MiB", h.size()))
        }
        Ok(_) => {}
        Err(e) => return Content::Unreadable(format!("cannot be read ({e})")),
    }
    match mon.find_blob(oid) {
        Ok(blob) => match String::from_utf8(blob.detach().data) {
            Ok(text) => Content::Text(text),
            Err(_) => Content::Unreadable("not UTF-8".into()),
        },
        Err(e) => Content::Unreadable(format!("cannot be read ({e})")),
    }
}

/// Show the branch head in the monitoring clone, as the Python agent's clone did: our file
/// (`text`, its content at `head`) replaced atomically so a local reader never sees half of
/// it, the rest by checkout. Only a convenience: failures are logged.
fn show_on_disk(b: &Branch<'_>, text: &str, head: ObjectId) {
    let shown = crate::files::atomic_write(&b.dir.join(&b.file), text.as_bytes()).and_then(|()| {
        // Only our own files reach the disk: other devices write to this branch (SPEC §10).
        crate::git::sparse::checkout_only(
            &b.mon,
            head,
            HeadTarget::Branch(b.name.clone()),
            &[b.file.as_str(), "README.md"],
            &[b.file.as_str()],
        )
    });
    if let Err(e) = shown {
        log::warn!("{}: {e}", b.dir.display());
    }
}
