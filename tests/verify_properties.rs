//! Property tests for the signature parsers (SPEC §11): whatever a deploy repo puts in a
//! `gpgsig` header — malformed armor, truncated SSHSIG or OpenPGP packets, huge inputs —
//! the verifier never panics and never says `Verified` for anything but the real thing.
//! The fixtures were made with `ssh-keygen -Y sign -n git` and `gpg --detach-sign` over
//! `PAYLOAD`.

use gitops_agent::verify::{
    allowed_signers, pgp, split_commit, sshsig, verify_commit, Outcome, TrustedKeys,
};
use proptest::prelude::*;

const PAYLOAD: &[u8] = b"tree x\n\nmsg\n";

const SSH_KEY: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOEDYsE5Lnlp+fweQQE/a+rkxo/D45gX5Du+gv4ivsQK6PAtlvvA8DUEKG7FO5+dDemwwiGo44wOA6Mfi7Cg1zc= fx";

const SSH_SIG: &str = "-----BEGIN SSH SIGNATURE-----
U1NIU0lHAAAAAQAAAGgAAAATZWNkc2Etc2hhMi1uaXN0cDI1NgAAAAhuaXN0cDI1NgAAAE
EE4QNiwTkueWn5/B5BAT9r6uTGj8PjmBfkO76C/iK+xAro8C2W+8DwNQQobsU7n50N6bDC
IajjjA4Dox+LsKDXNwAAAANnaXQAAAAAAAAABnNoYTUxMgAAAGUAAAATZWNkc2Etc2hhMi
1uaXN0cDI1NgAAAEoAAAAhANWhQ7YjOs4bEAdE6vN9vU5BV+PZVoBXRY0Cl2a5jualAAAA
IQDGhitKnEd+AwaA9+5vj6+rzCjHotoXQ7+SheDm89WINQ==
-----END SSH SIGNATURE-----\n";

const PGP_KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----

mQENBGsNGDABCADkFmScjKtv3v3BwGPD34XImXtssmcK5uHvQ8z7nam91lCXkZvd
yYjWMK9kC9E0aJamYOE0KxgqjH9Vjg7p+ZCt3RAseoNX8jtefeOKJB/19Cj7EA2K
e2RoPbeHQpmBYBSYH3yqAp9yV35BewZUnPZIY/ESEXdGlOVuSRvnSvEMlR1GXgTQ
t/Hhz0mYs8n2xL0I7P3MLN6GkoPLF8wcXUrakdSM4Hqimh0uuqfdtH9NlRtfaMqO
ukWbqLbydfipxRgjhzX4WztJKKiQcAMNf1Vq/yx7IrnmByT2v39l3RuNzLmKzyOv
DIOtUHJZudGeMeCeIl74A9E5DAZul7s5f1ptABEBAAG0CUZ4IDxmeEB4PokBTgQT
AQoAOBYhBDzRFdZzSKELZfgPJ4fugRNJ4rJ0BQJrDRgwAhsDBQsJCAcCBhUKCQgL
AgQWAgMBAh4BAheAAAoJEIfugRNJ4rJ0CEMH/Ra/mHiGAqglTazPpyQ71pmOwz/p
meFY7Kp0OPpZhuMg087iwcwnd0H+owvC4N05QX+8reFBRQKzXdLgY/eD0sT/gDDn
lAW9C46vSdPGIDT00H2yXkVlUPRLMSYPQA4zd7eH6B9Ri5MOPM8O0a06n82Yzmff
yRuLoNCE6T0iOQn3EEkjL00Hcf0PJgQwAER9g6EqOYIJZFLRRZ1k/DRFMxs3k8Hc
4RxbpSu3Zm+8SDgHN3Q8mQBqX6J0FDF43q8cEeiOSxqwLSBUIhtTiEmOGrKHFwUO
300hUi43vkc8TPZRtJzZQAaht5H+IJJ7esqswqmAnHFlCurxxaPjHodxgD4=
=Psoe
-----END PGP PUBLIC KEY BLOCK-----\n";

const PGP_SIG: &str = "-----BEGIN PGP SIGNATURE-----

iQE5BAABCgAjFiEEPNEV1nNIoQtl+A8nh+6BE0nisnQFAmsNGDAFHGZ4QHgACgkQ
h+6BE0nisnQD4wgAzHCp1CUs19bSqGN6faFVIjzj72dF7a8wx4eIhIC2Y611ruOI
8SARd/r19QCbsHe8ZPWn4Nr4bei3CGW2lHEYg6jPGLD80gdWZTBKb7iUI0kfXDLd
S3iJgjAZC8MwX/f4fRDaQPY2o6oR0s0t+9lEk/1sTX4JXmiBQp4V1LVYzh6HOQaR
pFzNeSFtYLFab1DPu+Wi3LwNsPGJbzwQyE+RNDnzL2JK1cCSW123hP5g2pVluxYS
mkeydTM6xNdvJR90rp4YVmFJMgU9ID3tWAcG6j8fSriCrdxarZafncMeL7MbGtKh
QCQxUUYv+BBPuSAK+ipNcCOsUK+OkX6yVJ3gdg==
=TbqZ
-----END PGP SIGNATURE-----\n";

fn keys() -> TrustedKeys {
    TrustedKeys {
        ssh: allowed_signers::parse("signers", &format!("fx@x {SSH_KEY}\n"), 0).unwrap(),
        pgp: pgp::parse_keyring(PGP_KEY).unwrap(),
    }
}

/// A commit object carrying `sig` as its gpgsig header, signing `PAYLOAD`.
fn commit_with(sig: &str) -> Vec<u8> {
    let mut raw = b"tree x\ngpgsig ".to_vec();
    let mut lines = sig.lines();
    raw.extend_from_slice(lines.next().unwrap_or("").as_bytes());
    raw.push(b'\n');
    for l in lines {
        raw.push(b' ');
        raw.extend_from_slice(l.as_bytes());
        raw.push(b'\n');
    }
    raw.extend_from_slice(b"\nmsg\n");
    raw
}

fn verified(o: &Outcome) -> bool {
    matches!(o, Outcome::Verified { .. })
}

fn is_bad(o: &Outcome) -> bool {
    matches!(o, Outcome::BadSignature { .. })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 500,
        ..ProptestConfig::default()
    }
}

#[test]
fn the_fixtures_verify_so_the_properties_mean_something() {
    let k = keys();
    assert!(matches!(
        sshsig::verify(SSH_SIG, PAYLOAD, &k.ssh, Some(0), 0),
        Outcome::Verified { .. }
    ));
    assert!(matches!(
        pgp::verify(PGP_SIG, PAYLOAD, &k.pgp, 0),
        Outcome::Verified { .. }
    ));
    for sig in [SSH_SIG, PGP_SIG] {
        assert!(matches!(
            verify_commit(&commit_with(sig), &k, 0),
            Outcome::Verified { .. }
        ));
    }
}

/// Base64-ish text with armor pieces over-represented.
fn armor_noise() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just(sshsig::ARMOR_BEGIN.to_string()),
            Just(pgp::SIGNATURE_BEGIN.to_string()),
            Just("-----END SSH SIGNATURE-----".to_string()),
            Just("-----END PGP SIGNATURE-----".to_string()),
            Just("\n".to_string()),
            Just("=".to_string()),
            Just("U1NIU0lH".to_string()),
            Just("iQE5BAAB".to_string()),
            "[A-Za-z0-9+/=:\n ]{0,40}",
        ],
        0..30,
    )
    .prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn malformed_armor_never_panics_nor_verifies(text in armor_noise()) {
        let k = keys();
        prop_assert!(!verified(&sshsig::verify(&text, PAYLOAD, &k.ssh, Some(0), 0)));
        prop_assert!(!verified(&pgp::verify(&text, PAYLOAD, &k.pgp, 0)));
        let _ = pgp::parse_keyring(&text);
        prop_assert!(!verified(&verify_commit(&commit_with(&text), &k, 0)));
    }

    #[test]
    fn truncated_signature_blobs_never_verify(cut in 0usize..400, which in 0usize..2) {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let (sig, begin, end) = match which {
            0 => (SSH_SIG, "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"),
            _ => (PGP_SIG, "-----BEGIN PGP SIGNATURE-----", "-----END PGP SIGNATURE-----"),
        };
        let body: String = sig.lines().filter(|l| !l.starts_with("-----") && !l.starts_with('=') && !l.is_empty()).collect();
        let blob = b64.decode(body).unwrap();
        let cut = cut.min(blob.len().saturating_sub(1));
        let text = format!("{begin}\n\n{}\n{end}\n", b64.encode(&blob[..cut]));
        let k = keys();
        prop_assert!(!verified(&verify_commit(&commit_with(&text), &k, 0)));
    }

    #[test]
    fn a_flipped_payload_byte_never_verifies(at in 0usize..PAYLOAD.len(), bit in 0u8..8, which in 0usize..2) {
        let mut payload = PAYLOAD.to_vec();
        payload[at] ^= 1 << bit;
        let k = keys();
        let outcome = match which {
            0 => sshsig::verify(SSH_SIG, &payload, &k.ssh, Some(0), 0),
            _ => pgp::verify(PGP_SIG, &payload, &k.pgp, 0),
        };
        prop_assert!(is_bad(&outcome), "{:?}", outcome);
    }

    #[test]
    fn split_commit_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(c) = split_commit(&raw) {
            prop_assert!(c.payload.len() <= raw.len());
        }
        let _ = verify_commit(&raw, &keys(), 0);
    }

    #[test]
    fn allowed_signers_lines_never_panic(line in "[a-z@\",=* !-]{0,30}( ?(ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/=]{0,60})?") {
        let _ = allowed_signers::parse("f", &line, 0);
    }
}

#[test]
fn huge_inputs_are_refused_quickly() {
    let started = std::time::Instant::now();
    let k = keys();
    for begin in [sshsig::ARMOR_BEGIN, pgp::SIGNATURE_BEGIN] {
        let huge = format!("{begin}\n{}\n", "QUFB".repeat(4 << 20));
        assert!(matches!(
            sshsig::verify(&huge, PAYLOAD, &k.ssh, None, 0),
            Outcome::BadSignature { .. }
        ));
        assert!(matches!(
            pgp::verify(&huge, PAYLOAD, &k.pgp, 0),
            Outcome::BadSignature { .. }
        ));
        assert!(matches!(
            verify_commit(&commit_with(&huge), &k, 0),
            Outcome::BadSignature { .. }
        ));
    }
    // a huge keyring block and a huge commit message: parsed or refused, never a panic
    let _ = pgp::parse_keyring(&format!(
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n{}\n-----END PGP PUBLIC KEY BLOCK-----\n",
        "mQENBGsN".repeat(1 << 19)
    ));
    let mut raw = commit_with(SSH_SIG);
    raw.extend(std::iter::repeat_n(b'x', 32 << 20));
    assert!(!matches!(
        verify_commit(&raw, &k, 0),
        Outcome::Verified { .. }
    ));
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
}
