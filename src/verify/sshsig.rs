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
    verify_in(NAMESPACE, armored, payload, signers, signed_at, now)
}

/// `verify` for another namespace (tests with third-party signature vectors).
fn verify_in(
    namespace: &str,
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
    if sig.namespace() != namespace {
        return Outcome::BadSignature {
            detail: format!(
                "signed for namespace \"{}\", not \"{namespace}\"",
                crate::text::clip(sig.namespace())
            ),
        };
    }
    let key = PublicKey::from(sig.public_key().clone());
    match key.verify(namespace, payload, &sig) {
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

    /// A FIDO security-key signature (sk-ssh-ed25519), from the `ssh-key` crate's test
    /// vectors: namespace "example", message "testing".
    const SK_KEY: &str = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAINSoElFleH+nN83FoLqqepJjN+y7Gs5lrn7qXjBqQZyuAAAABHNzaDo= user@example.com";
    const SK_SIG: &str = "-----BEGIN SSH SIGNATURE-----
U1NIU0lHAAAAAQAAAEoAAAAac2stc3NoLWVkMjU1MTlAb3BlbnNzaC5jb20AAAAg1KgSUW
V4f6c3zcWguqp6kmM37LsazmWufupeMGpBnK4AAAAEc3NoOgAAAAdleGFtcGxlAAAAAAAA
AAZzaGE1MTIAAABnAAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAQC9WcLb5NG
XRdCOHinQIS/MxdnAx7SQMYnyOt5q4+huTWh/Zk/UvWhP+wXl/ikNPlDpgliRq6o3VyKqS
LLo9lQYBAAAACQ==
-----END SSH SIGNATURE-----
";

    #[test]
    fn security_key_signatures_verify_against_their_allowed_signers_line() {
        let signers =
            crate::verify::allowed_signers::parse("f", &format!("user@example.com {SK_KEY}"), 0)
                .unwrap();
        let ok = verify_in("example", SK_SIG, b"testing", &signers, Some(0), 0);
        assert_eq!(
            ok,
            Outcome::Verified {
                fingerprint: signers[0].fingerprint.clone()
            }
        );
        assert!(matches!(
            verify_in("example", SK_SIG, b"testinG", &signers, Some(0), 0),
            Outcome::BadSignature { .. }
        ));
        // git's namespace: a signature made for another namespace never passes
        assert!(matches!(
            verify(SK_SIG, b"testing", &signers, Some(0), 0),
            Outcome::BadSignature { .. }
        ));
        assert!(matches!(
            verify_in("example", SK_SIG, b"testing", &[], Some(0), 0),
            Outcome::UnknownKey { .. }
        ));
    }

    #[test]
    fn a_listed_key_outside_its_namespaces_or_dates_is_an_unknown_key_with_the_reason() {
        for (opts, why) in [
            ("namespaces=\"file\"", "namespaces"),
            ("valid-before=\"19700101Z\"", "valid-before"),
            ("valid-after=\"21000101Z\"", "valid-after"),
        ] {
            let line = format!("user@example.com {opts} {SK_KEY}");
            let signers = crate::verify::allowed_signers::parse("f", &line, 0).unwrap();
            match verify_in("example", SK_SIG, b"testing", &signers, Some(1000), 1000) {
                Outcome::UnknownKey {
                    detail: Some(d), ..
                } => assert!(d.contains(why), "{d}"),
                o => panic!("{opts}: {o:?}"),
            }
        }
    }

    #[test]
    fn oversized_armor_is_refused_before_decoding() {
        let big = format!("{ARMOR_BEGIN}\n{}", "A".repeat(MAX_SIGNATURE));
        assert!(parse(&big).unwrap_err().contains("over"));
    }
}
