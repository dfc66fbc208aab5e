//! Signed deploy commits (SPEC §11), verified in-process: no `git`, `gpg` or `ssh-keygen` on
//! the device. This module owns the split of a raw commit object into the signed payload and
//! its `gpgsig` signature, the trusted keys read from the agent config, and the verification
//! outcome as data. The formats live beside it: `allowed_signers` (OpenSSH), `sshsig`
//! (`-----BEGIN SSH SIGNATURE-----`) and `pgp` (OpenPGP keys and signatures); `gate` is the
//! shell that applies it to a deploy clone, `store` remembers the last verified tip.

pub mod allowed_signers;
pub(crate) mod gate;
pub mod pgp;
pub mod sshsig;
pub(crate) mod store;

use std::fmt;
use std::path::Path;

use crate::error::{Error, Kind, Result};

/// A signature larger than this is not a signature (an RSA-16384 OpenPGP one is ~3 KiB).
pub const MAX_SIGNATURE: usize = 64 * 1024;

/// The keys a deploy commit may be signed with (agent config `allowed_signers` and
/// `trusted_pgp_keys`). Empty lists are allowed: every signature is then `UnknownKey`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrustedKeys {
    pub ssh: Vec<allowed_signers::Signer>,
    pub pgp: Vec<pgp::PublicKey>,
}

impl TrustedKeys {
    /// Read the files named in the agent config. Every failure is `Kind::Config` (exit 2)
    /// and names the file and the config key.
    pub fn load(allowed_signers: Option<&Path>, trusted_pgp_keys: Option<&Path>) -> Result<Self> {
        let mut keys = TrustedKeys::default();
        if let Some(path) = allowed_signers {
            let text = read_text(path, "allowed_signers")?;
            let offset = gix::date::Time::now_local_or_utc().offset;
            keys.ssh = allowed_signers::parse(&path.display().to_string(), &text, offset)?;
        }
        if let Some(path) = trusted_pgp_keys {
            let text = read_text(path, "trusted_pgp_keys")?;
            keys.pgp = pgp::parse_keyring(&text).map_err(|why| {
                Error::new(
                    Kind::Config,
                    format!(
                        "{}: (key `trusted_pgp_keys`) {why}; export the keys with `gpg --armor --export KEYID`",
                        path.display()
                    ),
                )
            })?;
            if keys.pgp.is_empty() {
                return Err(Error::new(
                    Kind::Config,
                    format!(
                        "{}: (key `trusted_pgp_keys`) holds no OpenPGP public key; export one with `gpg --armor --export KEYID`",
                        path.display()
                    ),
                ));
            }
        }
        Ok(keys)
    }
}

/// Key files are small; a bigger one is a mistake (a wrong path), not a keyring.
const MAX_KEY_FILE: u64 = 4 * 1024 * 1024;

fn read_text(path: &Path, key: &str) -> Result<String> {
    let shown = path.display();
    let fail = |why: String| Error::new(Kind::Config, format!("{shown}: (key `{key}`) {why}"));
    let meta = std::fs::metadata(path).map_err(|e| {
        fail(format!(
            "cannot read ({e}); create it or fix `{key}` in the agent config"
        ))
    })?;
    if !meta.is_file() {
        return Err(fail("is not a regular file".into()));
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(fail(format!(
            "is {} bytes; a key file is at most {MAX_KEY_FILE}",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read ({e})")))?;
    String::from_utf8(bytes).map_err(|e| {
        fail(format!(
            "not valid UTF-8 (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// A commit object cut into what was signed and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCommit {
    /// The object without its `gpgsig` header: the bytes the signer signed.
    pub payload: Vec<u8>,
    /// The `gpgsig` value, continuation lines joined (each line ends with `\n`).
    pub signature: Option<String>,
    /// Committer time (seconds since the epoch), when the header is readable.
    pub committer_time: Option<i64>,
}

/// Split a raw commit object (without the `commit <len>\0` prefix) as git does for
/// `verify-commit`: the `gpgsig` header and its continuation lines (` `-prefixed) are taken
/// out, everything else (other headers, `gpgsig-sha256`, the message) is the payload. Only
/// the header block counts: a `gpgsig` line in the message is message.
pub fn split_commit(raw: &[u8]) -> std::result::Result<SignedCommit, String> {
    let mut payload = Vec::with_capacity(raw.len());
    let mut signature: Option<String> = None;
    let mut in_sig = false;
    let mut committer_time = None;
    let mut rest = raw;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        if line == b"\n" {
            // End of the headers: the message is payload, whatever it holds.
            payload.extend_from_slice(rest);
            break;
        }
        if in_sig && line.first() == Some(&b' ') {
            push_sig_line(&mut signature, &line[1..])?;
        } else if let Some(value) = line.strip_prefix(b"gpgsig ") {
            if signature.is_some() {
                return Err("two gpgsig headers".into());
            }
            signature = Some(String::new());
            push_sig_line(&mut signature, value)?;
            in_sig = true;
        } else {
            in_sig = false;
            if let Some(c) = line.strip_prefix(b"committer ") {
                committer_time = committer_time_of(c);
            }
            payload.extend_from_slice(line);
        }
        rest = tail;
    }
    Ok(SignedCommit {
        payload,
        signature,
        committer_time,
    })
}

fn push_sig_line(sig: &mut Option<String>, line: &[u8]) -> std::result::Result<(), String> {
    let s = sig.get_or_insert_with(String::new);
    if s.len() + line.len() > MAX_SIGNATURE {
        return Err(format!("signature over {MAX_SIGNATURE} bytes"));
    }
    s.push_str(std::str::from_utf8(line).map_err(|_| "signature is not text".to_string())?);
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(())
}

/// `Name <email> 1700000000 +0100` → 1700000000.
fn committer_time_of(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?;
    let after = &text[text.rfind('>')? + 1..];
    after.split_whitespace().next()?.parse().ok()
}

/// What verifying a commit found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A listed key signed it; `fingerprint` as `ssh-keygen -l` (ssh) or 40 hex (OpenPGP).
    Verified { fingerprint: String },
    /// No `gpgsig` header.
    Unsigned,
    /// Signed, but by no listed key (or by a listed key not valid for `git` at that time).
    UnknownKey {
        fingerprint: String,
        detail: Option<String>,
    },
    /// The signature does not match the commit, or cannot be read.
    BadSignature { detail: String },
}

impl fmt::Display for Outcome {
    /// The reason as the feedback shows it: `unsigned`, `unknown key <fpr>`, `bad signature`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Verified { fingerprint } => write!(f, "signed by {fingerprint}"),
            Outcome::Unsigned => f.write_str("unsigned"),
            Outcome::UnknownKey {
                fingerprint,
                detail: None,
            } => write!(f, "unknown key {fingerprint}"),
            Outcome::UnknownKey {
                fingerprint,
                detail: Some(d),
            } => write!(f, "unknown key {fingerprint} ({})", crate::text::clip(d)),
            Outcome::BadSignature { detail } => {
                write!(f, "bad signature ({})", crate::text::clip(detail))
            }
        }
    }
}

/// Verify a raw commit object against `keys`. `now`: seconds since the epoch.
pub fn verify_commit(raw: &[u8], keys: &TrustedKeys, now: i64) -> Outcome {
    let commit = match split_commit(raw) {
        Ok(c) => c,
        Err(detail) => return Outcome::BadSignature { detail },
    };
    let Some(sig) = commit.signature.as_deref() else {
        return Outcome::Unsigned;
    };
    let armor = sig.trim_start();
    if armor.starts_with(sshsig::ARMOR_BEGIN) {
        sshsig::verify(
            armor,
            &commit.payload,
            &keys.ssh,
            commit.committer_time,
            now,
        )
    } else if armor.starts_with(pgp::SIGNATURE_BEGIN) {
        pgp::verify(armor, &commit.payload, &keys.pgp, now)
    } else {
        Outcome::BadSignature {
            detail: "not an OpenPGP or SSH signature (x509 signatures are not supported)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &[u8] = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
author A <a@x> 1700000000 +0000\n\
committer C <c@x> 1700000100 +0100\n\
gpgsig -----BEGIN SSH SIGNATURE-----\n \
U1NIU0lH\n \
-----END SSH SIGNATURE-----\n\
\n\
msg\ngpgsig not a header\n";

    #[test]
    fn split_takes_out_the_gpgsig_header_and_its_continuation_lines() {
        let c = split_commit(SIGNED).unwrap();
        assert_eq!(
            c.payload,
            b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
author A <a@x> 1700000000 +0000\n\
committer C <c@x> 1700000100 +0100\n\
\n\
msg\ngpgsig not a header\n"
        );
        assert_eq!(
            c.signature.as_deref(),
            Some("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n")
        );
        assert_eq!(c.committer_time, Some(1_700_000_100));
    }

    #[test]
    fn split_of_an_unsigned_commit_is_the_commit() {
        let raw = b"tree t\ncommitter C <c@x> 5 +0000\n\nm\n";
        let c = split_commit(raw).unwrap();
        assert_eq!(c.payload, raw);
        assert_eq!(c.signature, None);
        assert_eq!(
            verify_commit(raw, &TrustedKeys::default(), 0),
            Outcome::Unsigned
        );
    }

    #[test]
    fn split_keeps_other_signature_headers_in_the_payload() {
        let raw = b"tree t\ngpgsig-sha256 x\n y\ncommitter C <c@x> 5 +0000\n\nm\n";
        let c = split_commit(raw).unwrap();
        assert_eq!(c.payload, raw);
    }

    #[test]
    fn two_gpgsig_headers_are_refused() {
        let raw = b"tree t\ngpgsig a\ngpgsig b\n\nm\n";
        assert!(split_commit(raw).is_err());
        assert!(matches!(
            verify_commit(raw, &TrustedKeys::default(), 0),
            Outcome::BadSignature { .. }
        ));
    }

    #[test]
    fn a_huge_signature_is_refused_not_held() {
        let mut raw = b"tree t\ngpgsig x\n".to_vec();
        for _ in 0..10_000 {
            raw.extend_from_slice(
                b" AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
            );
        }
        raw.extend_from_slice(b"\nm\n");
        assert!(split_commit(&raw).unwrap_err().contains("over"));
    }

    #[test]
    fn an_unknown_signature_format_is_a_bad_signature() {
        let raw = b"tree t\ngpgsig -----BEGIN SIGNED MESSAGE-----\n x\n\nm\n";
        assert!(matches!(
            verify_commit(raw, &TrustedKeys::default(), 0),
            Outcome::BadSignature { .. }
        ));
    }

    #[test]
    fn reasons_read_as_the_spec_names_them() {
        assert_eq!(Outcome::Unsigned.to_string(), "unsigned");
        assert_eq!(
            Outcome::UnknownKey {
                fingerprint: "SHA256:abc".into(),
                detail: None
            }
            .to_string(),
            "unknown key SHA256:abc"
        );
        assert!(Outcome::BadSignature { detail: "x".into() }
            .to_string()
            .starts_with("bad signature"));
    }
}
