//! SSH signatures of commits (`gpg.format=ssh`): the `-----BEGIN SSH SIGNATURE-----` armor
//! around an SSHSIG blob (OpenSSH PROTOCOL.sshsig), namespace `git`, made over the commit
//! without its `gpgsig` header. Decoding and the signature math are `ssh-key`'s; this module
//! bounds the input, picks the allowed-signers line and says what was found.

use ssh_key::{HashAlg, PublicKey, SshSig};

use super::allowed_signers::Signer;
use super::{Outcome, MAX_SIGNATURE};

pub const ARMOR_BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";

/// The namespace git signs commits in (`ssh-keygen -Y sign -n git`).
pub const NAMESPACE: &str = "git";

/// Decode an armored SSHSIG. Never panics; refuses oversized input before decoding.
pub fn parse(armored: &str) -> Result<SshSig, String> {
    if armored.len() > MAX_SIGNATURE {
        return Err(format!("SSH signature over {MAX_SIGNATURE} bytes"));
    }
    // git stores the armor with a final newline; the PEM decoder wants the bare block.
    SshSig::from_pem(armored.trim()).map_err(|e| format!("unreadable SSH signature ({e})"))
}

/// Verify `armored` over `payload` against the allowed signers. `signed_at`: the commit's
/// committer time (valid-after/valid-before are judged at it, as git does, and an expired
/// key is also refused `now`).
pub fn verify(
    armored: &str,
    payload: &[u8],
    signers: &[Signer],
    signed_at: Option<i64>,
    now: i64,
) -> Outcome {
    let sig = match parse(armored) {
        Ok(s) => s,
        Err(detail) => return Outcome::BadSignature { detail },
    };
    let fingerprint = sig.public_key().fingerprint(HashAlg::Sha256).to_string();
    let mut lines = signers
        .iter()
        .filter(|s| s.key.key_data() == sig.public_key())
        .peekable();
    if lines.peek().is_none() {
        return Outcome::UnknownKey {
            fingerprint,
            detail: None,
        };
    }
    let mut refusal = None;
    let mut allowed = None;
    for line in lines {
        match line.refusal(signed_at, now) {
            None => {
                allowed = Some(line);
                break;
            }
            Some(why) => refusal = refusal.or(Some(why)),
        }
    }
    if allowed.is_none() {
        return Outcome::UnknownKey {
            fingerprint,
            detail: refusal,
        };
    }
    if sig.namespace() != NAMESPACE {
        return Outcome::BadSignature {
            detail: format!(
                "signed for namespace \"{}\", not \"{NAMESPACE}\"",
                crate::text::clip(sig.namespace())
            ),
        };
    }
    let key = PublicKey::from(sig.public_key().clone());
    match key.verify(NAMESPACE, payload, &sig) {
        Ok(()) => Outcome::Verified { fingerprint },
        Err(e) => Outcome::BadSignature {
            detail: format!("does not match the commit ({e})"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_bad_signature_not_a_panic() {
        for text in [
            "",
            ARMOR_BEGIN,
            "-----BEGIN SSH SIGNATURE-----\n!!!\n-----END SSH SIGNATURE-----\n",
            "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n",
        ] {
            assert!(matches!(
                verify(text, b"x", &[], None, 0),
                Outcome::BadSignature { .. }
            ));
        }
    }

    #[test]
    fn oversized_armor_is_refused_before_decoding() {
        let big = format!("{ARMOR_BEGIN}\n{}", "A".repeat(MAX_SIGNATURE));
        assert!(parse(&big).unwrap_err().contains("over"));
    }
}
