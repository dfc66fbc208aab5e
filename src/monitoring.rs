//! Publishing a group's feedback (SPEC §6): read the previous `<infra_name>.toml` from the
//! `<branch>-monitoring` branch, build the new one (`report`), and when it says something new
//! commit it as a full snapshot, trim old history (`trim`) and push.

use std::sync::atomic::AtomicBool;

use crate::config::{AgentConfig, Group};
use crate::error::{Context, Result};
use crate::git::commit::{self, Sig};
use crate::git::push::{self, RefUpdate};
use crate::git::worktree::{self, HeadTarget};
use crate::git::{repo, NetOptions};
use crate::health::Health;
use crate::layout::Layout;
use crate::report::{self, AppReport};
use crate::{clock, health, trim, url};

/// What publishing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Nothing but `last-updated` would change: no commit, no push.
    Unchanged,
    /// A status commit was pushed; `trimmed` when history was rewritten (force-push).
    Pushed { trimmed: bool },
}

/// Publish the reports of `group`. Returns the health of every app in the file too.
/// The fetch and the push give up when `stop` is set (SIGTERM reaches the network).
pub fn publish(
    cfg: &AgentConfig,
    layout: &Layout,
    group: &Group,
    reports: &[AppReport],
    force_report: bool,
    stop: &AtomicBool,
) -> Result<(Published, Vec<(String, Health)>)> {
    let net: NetOptions = cfg.net_options();
    let dir = layout.monitoring_clone(&group.url, &group.branch);
    let branch = format!("{}-monitoring", group.branch);
    let tracking = format!("refs/remotes/origin/{branch}");
    let file = format!("{}.toml", cfg.infra_name);
    let shown = url::redact(&group.url);

    let mon = repo::open_or_init(&dir, &group.url)?;
    repo::fetch_until(
        &mon,
        &group.url,
        &[&format!("+refs/heads/{branch}:{tracking}")],
        &net,
        stop,
    )
    .with_context(|| format!("monitoring branch {branch}"))?;
    let remote_head = repo::find_ref(&mon, &tracking)?;
    let previous = match remote_head {
        Some(head) => commit::read_blob_at(&mon, head, &file)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
        None => None,
    };
    let now = clock::now();
    let feedback = report::build(previous.as_deref(), reports, &clock::stamp(now));
    let unchanged = previous
        .as_deref()
        .is_some_and(|p| report::same_content(p, &feedback.text));
    if unchanged && !force_report {
        // A run killed between its push and the local checkout left the clone behind the
        // branch (maybe with the index already moved): show the branch head again.
        if let (Some(head), Some(text)) = (remote_head, previous.as_deref()) {
            if worktree::head_commit(&mon) != Some(head) {
                show_on_disk(&mon, &dir, &file, text, head, &branch);
            }
        }
        return Ok((Published::Unchanged, feedback.apps));
    }

    let tree = commit::tree_with_file(&mon, remote_head, &file, feedback.text.as_bytes())?;
    let sig = Sig {
        name: cfg.infra_name.clone(),
        email: format!("gitops-agent@{}", cfg.infra_name),
        time: now,
    };
    let message = health::commit_message(&feedback.apps);
    let parents: Vec<gix::ObjectId> = remote_head.into_iter().collect();
    let status_commit = commit::write_commit(&mon, tree, &parents, &message, &sig, &sig)?;
    let (new_head, trimmed) = trim_history(&mon, status_commit, cfg.retention_days, &sig)?;

    push::push_until(
        &mon,
        &group.url,
        &net,
        &RefUpdate {
            name: format!("refs/heads/{branch}"),
            expected_old: remote_head,
            new: new_head,
            force: trimmed,
        },
        stop,
    )?;
    commit::set_ref(&mon, &tracking, new_head, "gitops-agent: pushed status")?;
    show_on_disk(&mon, &dir, &file, &feedback.text, new_head, &branch);
    log::info!(
        "pushed {message} to {branch} of {shown}{}",
        if trimmed { " (history trimmed)" } else { "" }
    );
    Ok((Published::Pushed { trimmed }, feedback.apps))
}

/// Show the branch head in the monitoring clone, as the Python agent's clone did: our file
/// (`text`, its content at `head`) replaced atomically so a local reader never sees half of
/// it, the other devices' files by checkout. Only a convenience: failures are logged.
fn show_on_disk(
    mon: &gix::Repository,
    dir: &std::path::Path,
    file: &str,
    text: &str,
    head: gix::ObjectId,
    branch: &str,
) {
    let shown = crate::files::atomic_write(&dir.join(file), text.as_bytes()).and_then(|()| {
        // Only our own files reach the disk: other devices write to this branch (SPEC §10).
        crate::git::sparse::checkout_only(
            mon,
            head,
            HeadTarget::Branch(branch.to_string()),
            &[file, "README.md"],
            &[file],
        )
    });
    if let Err(e) = shown {
        log::warn!("{}: {e}", dir.display());
    }
}

/// Squash commits older than the retention into one parentless commit and replay the newer
/// ones on it, unchanged. Returns the new head and whether history was rewritten.
fn trim_history(
    mon: &gix::Repository,
    head: gix::ObjectId,
    retention_days: u64,
    now: &Sig,
) -> Result<(gix::ObjectId, bool)> {
    let chain = commit::first_parent_chain(mon, head)?;
    let times: Vec<i64> = chain.iter().map(|c| c.committer.time.seconds).collect();
    let cutoff = trim::cutoff(now.time.seconds, retention_days);
    let Some(b) = trim::boundary(&times, cutoff) else {
        return Ok((head, false));
    };
    let cutoff_date = clock::date(gix::date::Time::new(cutoff, now.time.offset));
    let message = format!("📉 History trimmed: commits before {cutoff_date} squashed");
    let mut tip = commit::write_commit(mon, chain[b].tree, &[], &message, now, now)?;
    for c in &chain[b + 1..] {
        tip = commit::write_commit(mon, c.tree, &[tip], &c.message, &c.author, &c.committer)?;
    }
    log::info!(
        "trimming monitoring history: {} commits before {cutoff_date} squashed",
        b + 1
    );
    Ok((tip, true))
}
