//! The drift decision (SPEC §5): given the facts observed of an app (`reconcile::observe`),
//! does it need an update, and why; and after an apply, what to remember of it. Every rule
//! lives here, pure; observing and applying are done by `reconcile`.

use std::path::PathBuf;

use gix::ObjectId;

use crate::health::{self, Health};
use crate::report::AppReport;
use crate::state::Record;

/// What was seen of one app before touching it: facts only, no judgement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The code folder exists.
    pub folder_exists: bool,
    /// HEAD of the code clone; `None` when the folder is not a clone of the app's repo (the
    /// origin guard) or HEAD is unborn.
    pub head: Option<ObjectId>,
    /// `code_commit_hash` resolved in the local clone; `None` when it is not there.
    pub desired: Option<ObjectId>,
    /// Tracked files that differ from HEAD (modified or deleted), as absolute paths. Read only
    /// when HEAD is the desired commit (else the app is updated anyway); `None` when not read
    /// or unreadable.
    pub changed_tracked: Option<Vec<PathBuf>>,
    /// Each config file entry whose `dst` was compared with its `src`.
    pub config_files: Vec<ConfigSeen>,
    /// What the agent remembers of the last apply; `None` when there is no record.
    pub applied: Option<Record>,
}

/// One config file entry as seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSeen {
    pub dst: PathBuf,
    pub state: ConfigState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigState {
    /// `src` does not exist in the deploy repo (the entry is skipped).
    SrcMissing,
    /// `dst` holds exactly `src`'s bytes.
    Same,
    /// `dst` is missing or holds other bytes.
    Differs,
}

/// Why an app needs an update; shown in logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    MissingFolder,
    HeadNotDesired,
    Drift,
    ConfigFileDiffers(PathBuf),
    SectionChanged,
    LastApplyFailed,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::MissingFolder => f.write_str("code folder missing"),
            Reason::HeadNotDesired => f.write_str("HEAD is not the desired commit"),
            Reason::Drift => f.write_str("tracked files modified or deleted"),
            Reason::ConfigFileDiffers(dst) => write!(f, "config file {} differs", dst.display()),
            Reason::SectionChanged => {
                f.write_str("infra_meta section changed since the last apply")
            }
            Reason::LastApplyFailed => f.write_str("the last apply failed"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do.
    InSync,
    /// In sync, but there is no record of an apply (first run, or migrated from the Python
    /// agent): record the current section as applied, run nothing.
    Adopt,
    Update(Vec<Reason>),
}

/// Decide for one app whose current section is `section`.
pub fn decide(obs: &Observed, section: &str) -> Decision {
    let mut reasons = Vec::new();
    if !obs.folder_exists {
        reasons.push(Reason::MissingFolder);
    } else if !at_desired_commit(obs.head, obs.desired) {
        reasons.push(Reason::HeadNotDesired);
    } else if drifted(obs) {
        reasons.push(Reason::Drift);
    }
    reasons.extend(
        obs.config_files
            .iter()
            .filter(|cf| cf.state == ConfigState::Differs)
            .map(|cf| Reason::ConfigFileDiffers(cf.dst.clone())),
    );
    match &obs.applied {
        Some(Record::Failed) => reasons.push(Reason::LastApplyFailed),
        Some(Record::Applied(applied)) if applied != section => {
            reasons.push(Reason::SectionChanged)
        }
        None if reasons.is_empty() => return Decision::Adopt,
        _ => {}
    }
    if reasons.is_empty() {
        Decision::InSync
    } else {
        Decision::Update(reasons)
    }
}

/// What may hold back an app that needs an update (SPEC §12), as observed. `Default`: nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holds {
    /// The current section (with its `src` bytes) is the one a health check refused.
    pub quarantined: bool,
    /// `paused = true` in the section.
    pub paused_by_key: bool,
    /// `gitops-agent pause` on this device.
    pub paused_locally: bool,
    /// The `update_lock` file exists.
    pub lock_present: bool,
    /// Now is outside every `update_windows` window.
    pub window_closed: bool,
}

/// Whether a decision may be carried out now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Go,
    /// The refused section: not tried again; the app keeps its rolled-back status.
    Quarantined,
    /// Observed, never changed; by whom (`paused-by`).
    Paused(&'static str),
    /// The update waits; the key that holds it (`deferred-by`).
    Deferred(&'static str),
}

pub const PAUSED_BY_KEY: &str = "paused = true in infra_meta";
pub const PAUSED_LOCALLY: &str = "gitops-agent pause";

/// The gate rule, first match wins: a refused section is never retried; a paused app is never
/// changed (not even adopted); an update waits for its lock and its window.
pub fn gate(decision: &Decision, h: &Holds) -> Gate {
    let update = matches!(decision, Decision::Update(_));
    if update && h.quarantined {
        Gate::Quarantined
    } else if h.paused_locally {
        Gate::Paused(PAUSED_LOCALLY)
    } else if h.paused_by_key {
        Gate::Paused(PAUSED_BY_KEY)
    } else if update && h.lock_present {
        Gate::Deferred("update_lock")
    } else if update && h.window_closed {
        Gate::Deferred("update_windows")
    } else {
        Gate::Go
    }
}

/// HEAD is the desired commit, and that commit is known locally. Only then do tracked
/// changes matter (observing reads them only then: the status walk is the costly part).
pub fn at_desired_commit(head: Option<ObjectId>, desired: Option<ObjectId>) -> bool {
    desired.is_some() && head == desired
}

/// Tracked files differ from HEAD, not counting a tracked file that a config file entry
/// deliberately overwrites with the deploy repo's content (the overlay rule: else every pass
/// would "correct" it back and forth). Changes that could not be read count as drift.
fn drifted(obs: &Observed) -> bool {
    let Some(changed) = &obs.changed_tracked else {
        return true;
    };
    changed.iter().any(|path| {
        !obs.config_files
            .iter()
            .any(|cf| cf.state == ConfigState::Same && cf.dst == *path)
    })
}

/// What to remember after an apply that produced `outcome` for `section`: the section when
/// the outcome is healthy (the same rule as the feedback file's status), else a failure, so
/// the next pass tries again instead of adopting a half-done apply.
pub fn record_after_apply(outcome: &AppReport, section: &str) -> Record {
    match health::of_report(outcome) {
        Health::Healthy => Record::Applied(section.to_string()),
        _ => Record::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Commands, Updation};

    fn oid(byte: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[byte; 20])
    }

    /// An app that needs nothing: at the desired commit, clean, config in place, recorded.
    fn synced() -> Observed {
        Observed {
            folder_exists: true,
            head: Some(oid(1)),
            desired: Some(oid(1)),
            changed_tracked: Some(vec![]),
            config_files: vec![ConfigSeen {
                dst: "/srv/web/.env".into(),
                state: ConfigState::Same,
            }],
            applied: Some(Record::Applied("s".into())),
        }
    }

    fn update(reasons: Vec<Reason>) -> Decision {
        Decision::Update(reasons)
    }

    #[test]
    fn in_sync_needs_nothing() {
        assert_eq!(decide(&synced(), "s"), Decision::InSync);
    }

    #[test]
    fn missing_folder_needs_update() {
        let obs = Observed {
            folder_exists: false,
            head: None,
            desired: None,
            changed_tracked: None,
            ..synced()
        };
        assert_eq!(decide(&obs, "s"), update(vec![Reason::MissingFolder]));
    }

    #[test]
    fn missing_folder_hides_head_and_drift() {
        let obs = Observed {
            folder_exists: false,
            head: Some(oid(2)),
            changed_tracked: Some(vec!["/srv/web/a".into()]),
            ..synced()
        };
        assert_eq!(decide(&obs, "s"), update(vec![Reason::MissingFolder]));
    }

    #[test]
    fn head_not_desired_needs_update() {
        let obs = Observed {
            head: Some(oid(2)),
            ..synced()
        };
        assert_eq!(decide(&obs, "s"), update(vec![Reason::HeadNotDesired]));
    }

    #[test]
    fn desired_commit_not_local_needs_update() {
        let obs = Observed {
            desired: None,
            ..synced()
        };
        assert_eq!(decide(&obs, "s"), update(vec![Reason::HeadNotDesired]));
    }

    #[test]
    fn folder_that_is_not_a_clone_needs_update() {
        // No HEAD and nothing resolved: "equal" Nones must not look in sync.
        let obs = Observed {
            head: None,
            desired: None,
            changed_tracked: None,
            ..synced()
        };
        assert_eq!(decide(&obs, "s"), update(vec![Reason::HeadNotDesired]));
    }

    #[test]
    fn changed_tracked_file_is_drift() {
        let obs = Observed {
            changed_tracked: Some(vec!["/srv/web/app.py".into()]),
            ..synced()
        };
        assert_eq!(decide(&obs, "s"), update(vec![Reason::Drift]));
    }

    #[test]
    fn unreadable_tracked_changes_count_as_drift() {
        let obs = Observed {
            changed_tracked: None,
            ..synced()
        };
        assert_eq!(decide(&obs, "s"), update(vec![Reason::Drift]));
    }

    #[test]
    fn drift_is_not_looked_at_when_head_is_not_desired() {
        let obs = Observed {
            head: Some(oid(2)),
            changed_tracked: None,
            ..synced()
        };
        assert_eq!(decide(&obs, "s"), update(vec![Reason::HeadNotDesired]));
    }

    #[test]
    fn config_dst_overlaying_tracked_file_is_not_drift() {
        let obs = Observed {
            changed_tracked: Some(vec!["/srv/web/.env".into()]),
            ..synced()
        };
        assert_eq!(decide(&obs, "s"), Decision::InSync);
    }

    #[test]
    fn overlay_excuses_only_its_own_file() {
        let obs = Observed {
            changed_tracked: Some(vec!["/srv/web/.env".into(), "/srv/web/app.py".into()]),
            ..synced()
        };
        assert_eq!(decide(&obs, "s"), update(vec![Reason::Drift]));
    }

    #[test]
    fn overlaying_config_dst_that_differs_from_src_is_drift() {
        let obs = Observed {
            changed_tracked: Some(vec!["/srv/web/.env".into()]),
            config_files: vec![ConfigSeen {
                dst: "/srv/web/.env".into(),
                state: ConfigState::Differs,
            }],
            ..synced()
        };
        assert_eq!(
            decide(&obs, "s"),
            update(vec![
                Reason::Drift,
                Reason::ConfigFileDiffers("/srv/web/.env".into())
            ])
        );
    }

    #[test]
    fn overlaying_config_entry_with_missing_src_is_drift() {
        let obs = Observed {
            changed_tracked: Some(vec!["/srv/web/.env".into()]),
            config_files: vec![ConfigSeen {
                dst: "/srv/web/.env".into(),
                state: ConfigState::SrcMissing,
            }],
            ..synced()
        };
        assert_eq!(decide(&obs, "s"), update(vec![Reason::Drift]));
    }

    #[test]
    fn config_dst_differing_from_src_needs_update() {
        let obs = Observed {
            config_files: vec![
                ConfigSeen {
                    dst: "/etc/a".into(),
                    state: ConfigState::Same,
                },
                ConfigSeen {
                    dst: "/etc/b".into(),
                    state: ConfigState::Differs,
                },
            ],
            ..synced()
        };
        assert_eq!(
            decide(&obs, "s"),
            update(vec![Reason::ConfigFileDiffers("/etc/b".into())])
        );
    }

    #[test]
    fn missing_config_src_is_skipped_not_an_update() {
        let obs = Observed {
            config_files: vec![ConfigSeen {
                dst: "/etc/a".into(),
                state: ConfigState::SrcMissing,
            }],
            ..synced()
        };
        assert_eq!(decide(&obs, "s"), Decision::InSync);
    }

    #[test]
    fn section_changed_since_applied_needs_update() {
        assert_eq!(
            decide(&synced(), "changed"),
            update(vec![Reason::SectionChanged])
        );
    }

    #[test]
    fn failed_apply_is_retried() {
        let obs = Observed {
            applied: Some(Record::Failed),
            ..synced()
        };
        assert_eq!(decide(&obs, "s"), update(vec![Reason::LastApplyFailed]));
    }

    #[test]
    fn no_record_and_in_sync_adopts() {
        let obs = Observed {
            applied: None,
            ..synced()
        };
        assert_eq!(decide(&obs, "s"), Decision::Adopt);
    }

    #[test]
    fn no_record_and_out_of_sync_updates_instead_of_adopting() {
        let obs = Observed {
            applied: None,
            head: Some(oid(2)),
            ..synced()
        };
        assert_eq!(decide(&obs, "s"), update(vec![Reason::HeadNotDesired]));
    }

    #[test]
    fn every_reason_is_listed() {
        let obs = Observed {
            changed_tracked: Some(vec!["/srv/web/app.py".into()]),
            config_files: vec![ConfigSeen {
                dst: "/etc/a".into(),
                state: ConfigState::Differs,
            }],
            ..synced()
        };
        assert_eq!(
            decide(&obs, "other"),
            update(vec![
                Reason::Drift,
                Reason::ConfigFileDiffers("/etc/a".into()),
                Reason::SectionChanged
            ])
        );
    }

    fn needs_update() -> Decision {
        update(vec![Reason::HeadNotDesired])
    }

    #[test]
    fn nothing_held_goes() {
        assert_eq!(gate(&needs_update(), &Holds::default()), Gate::Go);
    }

    #[test]
    fn refused_section_is_not_tried_again() {
        let h = Holds {
            quarantined: true,
            paused_locally: true,
            lock_present: true,
            ..Holds::default()
        };
        assert_eq!(gate(&needs_update(), &h), Gate::Quarantined);
    }

    #[test]
    fn quarantine_holds_only_an_update() {
        let h = Holds {
            quarantined: true,
            ..Holds::default()
        };
        assert_eq!(gate(&Decision::InSync, &h), Gate::Go);
    }

    #[test]
    fn paused_app_is_never_changed_not_even_adopted() {
        let local = Holds {
            paused_locally: true,
            paused_by_key: true,
            ..Holds::default()
        };
        for d in [needs_update(), Decision::Adopt, Decision::InSync] {
            assert_eq!(gate(&d, &local), Gate::Paused(PAUSED_LOCALLY));
        }
        let key = Holds {
            paused_by_key: true,
            lock_present: true,
            ..Holds::default()
        };
        assert_eq!(gate(&needs_update(), &key), Gate::Paused(PAUSED_BY_KEY));
    }

    #[test]
    fn update_waits_for_its_lock_then_its_window() {
        let both = Holds {
            lock_present: true,
            window_closed: true,
            ..Holds::default()
        };
        assert_eq!(gate(&needs_update(), &both), Gate::Deferred("update_lock"));
        let window = Holds {
            window_closed: true,
            ..Holds::default()
        };
        assert_eq!(
            gate(&needs_update(), &window),
            Gate::Deferred("update_windows")
        );
    }

    #[test]
    fn lock_and_window_do_not_hold_an_app_in_sync() {
        let both = Holds {
            lock_present: true,
            window_closed: true,
            ..Holds::default()
        };
        assert_eq!(gate(&Decision::InSync, &both), Gate::Go);
        assert_eq!(gate(&Decision::Adopt, &both), Gate::Go);
    }

    fn outcome(app_ok: bool, config_ok: bool, codes: Vec<(&'static str, i32)>) -> AppReport {
        let side = |ok| Updation {
            ok,
            git_status: String::new(),
            latest_commit: "NA".into(),
        };
        AppReport {
            name: "web".into(),
            config: side(config_ok),
            app: side(app_ok),
            commands: Commands::Ran {
                codes,
                logs: String::new(),
            },
            safety: Default::default(),
        }
    }

    #[test]
    fn healthy_apply_records_its_section() {
        let ok = outcome(true, true, vec![("pre", 0), ("post", 0)]);
        assert_eq!(record_after_apply(&ok, "s"), Record::Applied("s".into()));
        let no_hooks = outcome(true, true, vec![]);
        assert_eq!(
            record_after_apply(&no_hooks, "s"),
            Record::Applied("s".into())
        );
    }

    #[test]
    fn apply_with_a_failed_command_is_recorded_failed() {
        let post_failed = outcome(true, true, vec![("pre", 0), ("post", 1)]);
        assert_eq!(record_after_apply(&post_failed, "s"), Record::Failed);
        let pre_killed = outcome(true, true, vec![("pre", -9)]);
        assert_eq!(record_after_apply(&pre_killed, "s"), Record::Failed);
    }

    #[test]
    fn apply_with_a_failed_code_or_config_update_is_recorded_failed() {
        assert_eq!(
            record_after_apply(&outcome(false, true, vec![]), "s"),
            Record::Failed
        );
        assert_eq!(
            record_after_apply(&outcome(true, false, vec![]), "s"),
            Record::Failed
        );
    }
}
