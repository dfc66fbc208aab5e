//! The drift decision (SPEC §5): given what was observed of an app, does it need an update,
//! and why. Pure; the observing is done by `reconcile`.

/// What was seen of one app before touching it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub folder_exists: bool,
    /// HEAD of the code clone equals the desired commit (resolved locally).
    pub at_desired_commit: bool,
    /// Tracked files differ from HEAD (local edits or deletions).
    pub tracked_changes: bool,
    /// Config `dst` files whose content differs from `src` (or are missing).
    pub config_files_differ: Vec<String>,
    /// The section applied by the last successful update; `None` when no record exists.
    pub applied_section: Option<String>,
}

/// Stored as the applied record when an apply failed, so the next pass retries it (an app
/// without any record that looks in sync would otherwise be adopted).
pub const FAILED_APPLY: &str = "# gitops-agent: the last apply failed; it is retried\n";

/// Why an app needs an update; shown in logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    MissingFolder,
    HeadNotDesired,
    Drift,
    ConfigFileDiffers(String),
    SectionChanged,
    LastApplyFailed,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::MissingFolder => f.write_str("code folder missing"),
            Reason::HeadNotDesired => f.write_str("HEAD is not the desired commit"),
            Reason::Drift => f.write_str("tracked files modified or deleted"),
            Reason::ConfigFileDiffers(dst) => write!(f, "config file {dst} differs"),
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
    } else {
        if !obs.at_desired_commit {
            reasons.push(Reason::HeadNotDesired);
        }
        if obs.tracked_changes {
            reasons.push(Reason::Drift);
        }
    }
    reasons.extend(
        obs.config_files_differ
            .iter()
            .cloned()
            .map(Reason::ConfigFileDiffers),
    );
    match &obs.applied_section {
        Some(applied) if applied == FAILED_APPLY => reasons.push(Reason::LastApplyFailed),
        Some(applied) if applied != section => reasons.push(Reason::SectionChanged),
        None if reasons.is_empty() => return Decision::Adopt,
        _ => {}
    }
    if reasons.is_empty() {
        Decision::InSync
    } else {
        Decision::Update(reasons)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synced() -> Observed {
        Observed {
            folder_exists: true,
            at_desired_commit: true,
            tracked_changes: false,
            config_files_differ: vec![],
            applied_section: Some("s".into()),
        }
    }

    #[test]
    fn in_sync_needs_nothing() {
        assert_eq!(decide(&synced(), "s"), Decision::InSync);
    }

    #[test]
    fn each_trigger_alone_updates() {
        let cases: Vec<(Observed, Reason)> = vec![
            (
                Observed {
                    folder_exists: false,
                    ..synced()
                },
                Reason::MissingFolder,
            ),
            (
                Observed {
                    at_desired_commit: false,
                    ..synced()
                },
                Reason::HeadNotDesired,
            ),
            (
                Observed {
                    tracked_changes: true,
                    ..synced()
                },
                Reason::Drift,
            ),
            (
                Observed {
                    config_files_differ: vec!["/e".into()],
                    ..synced()
                },
                Reason::ConfigFileDiffers("/e".into()),
            ),
        ];
        for (obs, reason) in cases {
            assert_eq!(decide(&obs, "s"), Decision::Update(vec![reason]));
        }
        assert_eq!(
            decide(&synced(), "changed"),
            Decision::Update(vec![Reason::SectionChanged])
        );
        let failed = Observed {
            applied_section: Some(FAILED_APPLY.into()),
            ..synced()
        };
        assert_eq!(
            decide(&failed, "s"),
            Decision::Update(vec![Reason::LastApplyFailed])
        );
    }

    #[test]
    fn missing_folder_hides_head_and_drift() {
        let obs = Observed {
            folder_exists: false,
            at_desired_commit: false,
            tracked_changes: true,
            ..synced()
        };
        assert_eq!(
            decide(&obs, "s"),
            Decision::Update(vec![Reason::MissingFolder])
        );
    }

    #[test]
    fn no_record_adopts_only_when_in_sync() {
        assert_eq!(
            decide(
                &Observed {
                    applied_section: None,
                    ..synced()
                },
                "s"
            ),
            Decision::Adopt
        );
        assert_eq!(
            decide(
                &Observed {
                    applied_section: None,
                    tracked_changes: true,
                    ..synced()
                },
                "s"
            ),
            Decision::Update(vec![Reason::Drift])
        );
    }
}
