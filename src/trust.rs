//! Whether a deploy tip may be used (SPEC §11): pure decisions over what the shell found —
//! the verification outcome, the last applied tip and an "is it an ancestor?" answer.
//! `verify::gate` gathers those facts and acts on the verdict.

use std::fmt;

use gix::ObjectId;

use crate::verify::Outcome;

/// Hex digits of a commit in messages (the spec asks for at least 7).
pub const SHOWN_HEX: usize = 12;

/// What the shell knows about a new tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// `allowed_signers` or `trusted_pgp_keys` is set.
    pub verifying: bool,
    pub tip: ObjectId,
    /// The last verified tip on record (read only when verifying).
    pub recorded: Option<ObjectId>,
    /// The deploy clone's HEAD.
    pub head: Option<ObjectId>,
    /// Whether `last()` is an ancestor of `tip` (asked only when both exist and differ).
    pub descends: Option<bool>,
    /// The signature check of `tip` (asked only when verifying and `tip` is new).
    pub outcome: Option<Outcome>,
}

/// Why a tip is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Signature(Outcome),
    Rewind { old: ObjectId, new: ObjectId },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Signature(o) => o.fmt(f),
            Reason::Rewind { old, new } => {
                write!(f, "rewind from {} to {}", short(old), short(new))
            }
        }
    }
}

/// The decision on a tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing new: the tip is the last applied one.
    Unchanged,
    /// Use it; `record`: remember it as the last verified tip.
    Accept {
        record: bool,
    },
    /// Use it, but say so (a rewind without verification).
    AcceptWithWarning(String),
    Refuse(Reason),
}

impl Facts {
    /// The last applied tip: the record, else (no record, or not verifying) the clone's HEAD.
    pub fn last(&self) -> Option<ObjectId> {
        if self.verifying {
            self.recorded.or(self.head)
        } else {
            self.head
        }
    }
}

/// `tip` is already settled: with verification on, it is the verified tip on record (a HEAD
/// never verified, e.g. when verification was just turned on, is not); without, it is HEAD.
/// Only an unsettled tip costs a signature check and an ancestry walk.
pub fn is_settled(
    verifying: bool,
    tip: ObjectId,
    recorded: Option<ObjectId>,
    head: Option<ObjectId>,
) -> bool {
    if verifying {
        recorded == Some(tip)
    } else {
        head == Some(tip)
    }
}

/// The rules, in order:
/// 1. a settled tip is `Unchanged`;
/// 2. with verification on, only a `Verified` signature passes (else its reason), also for
///    the commit the clone already sits on when there is no record of verifying it;
/// 3. with verification on, a tip that does not descend from the last one is a rewind;
/// 4. without verification, a rewind is followed with a warning naming both commits;
/// 5. anything else is accepted (and recorded when verifying).
pub fn judge(f: &Facts) -> Verdict {
    if is_settled(f.verifying, f.tip, f.recorded, f.head) {
        return Verdict::Unchanged;
    }
    if f.verifying {
        match &f.outcome {
            Some(Outcome::Verified { .. }) => {}
            Some(other) => return Verdict::Refuse(Reason::Signature(other.clone())),
            None => {
                return Verdict::Refuse(Reason::Signature(Outcome::BadSignature {
                    detail: "not checked".into(),
                }))
            }
        }
    }
    let rewind = match (f.last(), f.descends) {
        (Some(old), Some(false) | None) if old != f.tip => Some(old),
        _ => None,
    };
    match (rewind, f.verifying) {
        (Some(old), true) => Verdict::Refuse(Reason::Rewind { old, new: f.tip }),
        (Some(old), false) => Verdict::AcceptWithWarning(format!(
            "deploy branch moved backwards or was rewritten: rewind from {} to {} (followed: signature verification is off)",
            short(&old),
            short(&f.tip)
        )),
        (None, verifying) => Verdict::Accept { record: verifying },
    }
}

/// The first `SHOWN_HEX` hex digits of `id`.
pub fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(SHOWN_HEX).to_string()
}

/// With verification on, `code_commit_hash` must be a full 40-hex commit id: a tag or a
/// prefix can move or collide, and the signature covers only what it names.
pub fn check_pin(code_commit_hash: &str) -> Result<(), String> {
    if code_commit_hash.len() == 40 && code_commit_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(());
    }
    Err(format!(
        "code_commit_hash \"{}\" must be a full 40-hex commit id when signatures are verified (allowed_signers / trusted_pgp_keys): a tag or a prefix can move or collide; write `git rev-parse <commit>`'s output",
        crate::text::clip(code_commit_hash)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[n; 20])
    }

    fn verified() -> Option<Outcome> {
        Some(Outcome::Verified {
            fingerprint: "SHA256:x".into(),
        })
    }

    fn facts(verifying: bool) -> Facts {
        Facts {
            verifying,
            tip: id(2),
            recorded: verifying.then(|| id(1)),
            head: Some(id(1)),
            descends: Some(true),
            outcome: verified(),
        }
    }

    #[test]
    fn rule1_the_recorded_tip_is_unchanged() {
        let f = Facts {
            recorded: Some(id(2)),
            outcome: None,
            ..facts(true)
        };
        assert_eq!(judge(&f), Verdict::Unchanged);
        let f = Facts {
            head: Some(id(2)),
            outcome: None,
            ..facts(false)
        };
        assert_eq!(judge(&f), Verdict::Unchanged);
    }

    #[test]
    fn rule2_a_head_never_verified_is_verified_now() {
        // verification just turned on: the clone sits on an unsigned tip, no record yet
        let f = Facts {
            recorded: None,
            head: Some(id(2)),
            descends: None,
            outcome: Some(Outcome::Unsigned),
            ..facts(true)
        };
        assert_eq!(
            judge(&f),
            Verdict::Refuse(Reason::Signature(Outcome::Unsigned))
        );
        let f = Facts {
            outcome: verified(),
            ..f
        };
        assert_eq!(judge(&f), Verdict::Accept { record: true });
    }

    #[test]
    fn rule3_with_no_record_the_head_is_the_last_tip() {
        let f = Facts {
            recorded: None,
            head: Some(id(1)),
            descends: Some(false),
            ..facts(true)
        };
        assert!(matches!(judge(&f), Verdict::Refuse(Reason::Rewind { .. })));
    }

    #[test]
    fn rule2_verifying_refuses_what_is_not_verified() {
        for o in [
            Outcome::Unsigned,
            Outcome::UnknownKey {
                fingerprint: "SHA256:k".into(),
                detail: None,
            },
            Outcome::BadSignature { detail: "x".into() },
        ] {
            let f = Facts {
                outcome: Some(o.clone()),
                ..facts(true)
            };
            assert_eq!(judge(&f), Verdict::Refuse(Reason::Signature(o)));
        }
        let f = Facts {
            outcome: None,
            ..facts(true)
        };
        assert!(matches!(judge(&f), Verdict::Refuse(_)));
    }

    #[test]
    fn rule3_verifying_refuses_a_rewind_even_when_signed() {
        let f = Facts {
            descends: Some(false),
            ..facts(true)
        };
        let v = judge(&f);
        assert_eq!(
            v,
            Verdict::Refuse(Reason::Rewind {
                old: id(1),
                new: id(2)
            })
        );
        if let Verdict::Refuse(r) = v {
            assert_eq!(
                r.to_string(),
                format!("rewind from {} to {}", "01".repeat(6), "02".repeat(6))
            );
        }
    }

    #[test]
    fn rule4_without_verification_a_rewind_is_followed_with_a_warning() {
        let f = Facts {
            descends: Some(false),
            outcome: None,
            ..facts(false)
        };
        match judge(&f) {
            Verdict::AcceptWithWarning(w) => {
                assert!(
                    w.contains(&"01".repeat(6)) && w.contains(&"02".repeat(6)),
                    "{w}"
                )
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn rule5_a_verified_descendant_is_accepted_and_recorded() {
        assert_eq!(judge(&facts(true)), Verdict::Accept { record: true });
        let f = Facts {
            outcome: None,
            ..facts(false)
        };
        assert_eq!(judge(&f), Verdict::Accept { record: false });
    }

    #[test]
    fn rule5_with_no_last_tip_the_first_verified_tip_is_accepted() {
        let f = Facts {
            recorded: None,
            head: None,
            descends: None,
            ..facts(true)
        };
        assert_eq!(judge(&f), Verdict::Accept { record: true });
    }

    #[test]
    fn an_unsigned_rewind_names_the_signature_first() {
        let f = Facts {
            descends: Some(false),
            outcome: Some(Outcome::Unsigned),
            ..facts(true)
        };
        assert_eq!(
            judge(&f),
            Verdict::Refuse(Reason::Signature(Outcome::Unsigned))
        );
    }

    #[test]
    fn pins_must_be_full_hex_ids() {
        assert!(check_pin(&"a".repeat(40)).is_ok());
        assert!(check_pin(&"A0".repeat(20)).is_ok());
        for bad in ["4f1c2e9", "v1.0", "", &"g".repeat(40), &"a".repeat(41)] {
            let e = check_pin(bad).unwrap_err();
            assert!(e.contains("code_commit_hash"), "{e}");
        }
    }
}
