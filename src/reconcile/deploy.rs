//! A group's deploy clone: fetch `<branch>`, put the worktree at its tip, read
//! `<infra_name>/infra_meta.toml`, and say how that went (the config side of every app's
//! report). A failed fetch falls back on the last fetched config.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::code_fetch::Depth;

use crate::config::{AgentConfig, Group};
use crate::error::{Context, Error, Result};
use crate::git::worktree::{self, HeadTarget};
use crate::git::{repo, NetOptions};
use crate::infra_meta;
use crate::layout::Layout;
use crate::report::Updation;
use crate::url::Url;
use crate::verify::gate::Gate;

/// The parsed `infra_meta.toml` and its path for messages, or why there is none.
pub(super) type Meta = Result<(String, toml::Table)>;

/// How the deploy branch is fetched: the bounds, the stop flag, and the pass's listing of
/// the group's branches (`repo::SharedTips`, awaited only once the clone is open; `None`:
/// no listing, always fetch).
pub(super) struct Fetch<'a> {
    pub net: &'a NetOptions,
    pub stop: &'a AtomicBool,
    pub listed: Option<&'a repo::SharedTips<'a>>,
}

/// Sync the deploy clone at `dir` for `group` and read its infra_meta file. The fetch is not
/// made when the pass's listing shows the tip is here; a failed listing is its failure.
pub(super) fn sync(
    cfg: &AgentConfig,
    layout: &Layout,
    group: &Group,
    dir: &Path,
    fetch: Fetch<'_>,
) -> (Updation, Meta) {
    let shown = &group.url;
    let gate = Gate::new(cfg, layout, group);
    match sync_clone(dir, &group.url, &group.branch, fetch, &gate) {
        Ok((deploy, fetch_err, clean)) => {
            // A clone just seen clean is not walked a second time.
            let status = match clean {
                true => worktree::status_summary_given(&deploy, 0),
                false => worktree::status_summary(&deploy),
            };
            let mut side = Updation {
                ok: fetch_err.is_none(),
                git_status: status.unwrap_or_else(|e| e.to_string()),
                latest_commit: worktree::head_commit(&deploy)
                    .and_then(|h| worktree::describe(&deploy, h).ok())
                    .unwrap_or_else(|| "NA".into()),
            };
            if let Some(e) = fetch_err {
                log::error!(
                    "{shown}@{}: {e}; using the last fetched config",
                    group.branch
                );
                side.git_status = format!("{e}\n(last fetched state)\n{}", side.git_status);
            }
            (side, read_meta(cfg, dir))
        }
        Err(e) => {
            log::error!("{shown}@{}: {e}", group.branch);
            let side = Updation {
                ok: false,
                git_status: e.to_string(),
                latest_commit: "NA".into(),
            };
            (side, Err(e))
        }
    }
}

fn read_meta(cfg: &AgentConfig, dir: &Path) -> Meta {
    let file = dir.join(&cfg.infra_name).join("infra_meta.toml");
    std::fs::read(&file)
        .map_err(|e| {
            Error::msg(format!(
                "{}: cannot read ({e}); the deploy repo needs <infra_name>/infra_meta.toml for infra `{}`",
                file.display(),
                cfg.infra_name
            ))
        })
        .and_then(|bytes| infra_meta::parse_file(&file.display().to_string(), &bytes))
        .map(|doc| (file.display().to_string(), doc))
}

/// Open (or create) the deploy clone, fetch its branch and put the worktree at the tip.
/// A fetch failure is returned beside the repo: the last fetched config still applies. The
/// flag says the worktree was seen at the tip with no tracked change (nothing checked out).
fn sync_clone(
    dir: &Path,
    repo_url: &Url,
    branch: &str,
    fetch: Fetch<'_>,
    gate: &Gate,
) -> Result<(gix::Repository, Option<Error>, bool)> {
    let deploy = repo::open_or_init(dir, repo_url)?;
    let tracking = format!("refs/remotes/origin/{branch}");
    let refspec = format!("+refs/heads/{branch}:{tracking}");
    // Looked at before the listing is awaited, while it is on its way: an unchanged pass
    // finds the worktree clean at the tip it already had. (Wasted only when the tip moved.)
    let before = fetch
        .listed
        .and_then(|_| repo::find_ref(&deploy, &tracking).ok().flatten())
        .map(|tip| (tip, clean_at(&deploy, tip)));
    let fetched = match fetch.listed.map(repo::SharedTips::get) {
        Some(Err(e)) => Err(e.clone()),
        Some(Ok(tips)) if tips.make_fetch_needless(&deploy, &refspec, Depth::AsIs) => Ok(()),
        _ => repo::fetch_until(&deploy, repo_url, &[&refspec], fetch.net, fetch.stop),
    };
    let tip = repo::find_ref(&deploy, &tracking)?;
    let fetch_err = match (fetched, tip) {
        (Err(e), _) => Some(e),
        (Ok(()), None) => Some(Error::msg(format!(
            "branch `{branch}` not found on {}; push it, or fix the branch after `@` in [applications]",
            repo_url
        ))),
        (Ok(()), Some(_)) => None,
    };
    match (tip, fetch_err) {
        (Some(tip), fetch_err) => {
            // Nothing of an unverified tip is used: the clone stays where it is (SPEC §11).
            gate.admit(&deploy, tip)?;
            let clean = match before {
                Some((seen, clean)) if seen == tip => clean?,
                _ => clean_at(&deploy, tip)?,
            };
            if !clean {
                worktree::checkout(&deploy, tip, HeadTarget::Branch(branch.to_string()))
                    .with_context(|| format!("check out {branch} in {}", dir.display()))?;
            }
            Ok((deploy, fetch_err, clean))
        }
        // Nothing was ever fetched: there is no config to fall back on.
        (None, Some(e)) if worktree::head_commit(&deploy).is_none() => Err(e),
        (None, fetch_err) => Ok((deploy, fetch_err, false)),
    }
}

/// Whether the deploy worktree is at `tip` with no tracked change (the status walk only when
/// HEAD is already there).
fn clean_at(deploy: &gix::Repository, tip: gix::ObjectId) -> Result<bool> {
    Ok(worktree::head_commit(deploy) == Some(tip) && !worktree::has_tracked_changes(deploy)?)
}
