//! OpenPGP as `git verify-commit` uses it (RFC 4880 / RFC 9580), reduced to what a deploy
//! gate needs: armored public keys (v4 primary keys and subkeys; RSA, EdDSA-legacy Ed25519,
//! Ed25519) and detached v4 binary signatures over a commit payload, hashed with SHA-2.
//! Every key and subkey in the trusted file is trusted as it is: the operator chose the file,
//! so self-signatures, expiry and revocation in it are not evaluated (remove a key to
//! distrust it). Fingerprint = 40 hex digits of the signing (sub)key, as gpg prints them.
//! The math is `rsa`'s and `ed25519-dalek`'s; the packet parsing is bounded and never panics.

use rsa::pkcs1v15::Pkcs1v15Sign;
use rsa::{BigUint, RsaPublicKey};
use sha2::Digest;

use super::{Outcome, MAX_SIGNATURE};

pub const SIGNATURE_BEGIN: &str = "-----BEGIN PGP SIGNATURE-----";
const KEY_BLOCK: &str = "PGP PUBLIC KEY BLOCK";
/// 1.3.6.1.4.1.11591.15.1, the curve of EdDSA-legacy (algorithm 22) Ed25519 keys.
const ED25519_OID: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01];

/// A trusted public (sub)key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub fingerprint: [u8; 20],
    pub material: Material,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Material {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ed25519([u8; 32]),
    /// A key of another algorithm (ElGamal, ECDH, DSA, ECDSA …): known, never verifies.
    Other(u8),
}

impl PublicKey {
    pub fn fingerprint_hex(&self) -> String {
        hex_upper(&self.fingerprint)
    }
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// Every v4 primary key and subkey of every `PUBLIC KEY BLOCK` in `text`.
pub fn parse_keyring(text: &str) -> Result<Vec<PublicKey>, String> {
    let mut keys = Vec::new();
    let mut blocks = 0;
    let mut rest = text;
    while let Some((data, after)) = next_armor(rest, KEY_BLOCK)? {
        blocks += 1;
        for p in packets(&data)? {
            if p.tag == 6 || p.tag == 14 {
                if let Some(k) = parse_key(p.body)? {
                    keys.push(k);
                }
            }
        }
        rest = after;
    }
    if blocks == 0 {
        return Err(
            "no `-----BEGIN PGP PUBLIC KEY BLOCK-----` found (binary keyrings are not read)".into(),
        );
    }
    Ok(keys)
}

/// The base64 body of the next `-----BEGIN <label>-----` block, decoded, and the text after.
fn next_armor<'a>(text: &'a str, label: &str) -> Result<Option<(Vec<u8>, &'a str)>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let Some(start) = text.find(&begin) else {
        return Ok(None);
    };
    let body = &text[start + begin.len()..];
    let stop = body
        .find(&end)
        .ok_or_else(|| format!("`{begin}` without `{end}`"))?;
    let mut b64 = String::new();
    for line in body[..stop].lines().map(str::trim) {
        // Armor headers (`Comment: …`) hold a colon, base64 never does; `=XXXX` is the
        // optional CRC24, which RFC 9580 says not to insist on.
        if line.is_empty() || line.contains(':') || (line.starts_with('=') && line.len() == 5) {
            continue;
        }
        b64.push_str(line);
    }
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| format!("armor is not valid base64 ({e})"))?;
    Ok(Some((data, &body[stop + end.len()..])))
}

struct Packet<'a> {
    tag: u8,
    body: &'a [u8],
}

/// Split a packet stream (old and new header formats; no partial or indeterminate lengths,
/// which keys and signatures never use).
fn packets(mut data: &[u8]) -> Result<Vec<Packet<'_>>, String> {
    let mut out = Vec::new();
    let short = || "truncated packet".to_string();
    while let Some((&first, rest)) = data.split_first() {
        if first & 0x80 == 0 {
            return Err("not an OpenPGP packet".into());
        }
        let (tag, len, rest) = if first & 0x40 != 0 {
            let tag = first & 0x3f;
            let (&o1, rest) = rest.split_first().ok_or_else(short)?;
            match o1 {
                0..=191 => (tag, usize::from(o1), rest),
                192..=223 => {
                    let (&o2, rest) = rest.split_first().ok_or_else(short)?;
                    (
                        tag,
                        ((usize::from(o1) - 192) << 8) + usize::from(o2) + 192,
                        rest,
                    )
                }
                255 => {
                    let (n, rest) = take(rest, 4).ok_or_else(short)?;
                    (tag, be(n), rest)
                }
                _ => return Err("partial body lengths are not used by keys or signatures".into()),
            }
        } else {
            let tag = (first >> 2) & 0x0f;
            let width = match first & 3 {
                0 => 1,
                1 => 2,
                2 => 4,
                _ => return Err("indeterminate packet length".into()),
            };
            let (n, rest) = take(rest, width).ok_or_else(short)?;
            (tag, be(n), rest)
        };
        let (body, rest) = take(rest, len).ok_or_else(short)?;
        out.push(Packet { tag, body });
        data = rest;
    }
    Ok(out)
}

fn take(data: &[u8], n: usize) -> Option<(&[u8], &[u8])> {
    (data.len() >= n).then(|| data.split_at(n))
}

fn be(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
}

/// An MPI: bit count, then the big-endian bytes.
fn mpi(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (n, rest) = take(data, 2)?;
    take(rest, be(n).div_ceil(8))
}

/// A v4 public (sub)key packet body; other versions are skipped (`None`).
fn parse_key(body: &[u8]) -> Result<Option<PublicKey>, String> {
    if body.first() != Some(&4) || body.len() > 0xFFFF {
        return Ok(None);
    }
    let bad = |what: &str| format!("malformed public key ({what})");
    let algo = *body.get(5).ok_or_else(|| bad("too short"))?;
    let fields = &body[6..];
    let material = match algo {
        1 | 3 => {
            let (n, rest) = mpi(fields).ok_or_else(|| bad("RSA n"))?;
            let (e, _) = mpi(rest).ok_or_else(|| bad("RSA e"))?;
            Material::Rsa {
                n: n.to_vec(),
                e: e.to_vec(),
            }
        }
        22 => {
            let (&oid_len, rest) = fields.split_first().ok_or_else(|| bad("curve"))?;
            let (oid, rest) = take(rest, usize::from(oid_len)).ok_or_else(|| bad("curve"))?;
            let (point, _) = mpi(rest).ok_or_else(|| bad("EdDSA point"))?;
            match (oid == ED25519_OID, point) {
                (true, [0x40, key @ ..]) if key.len() == 32 => {
                    Material::Ed25519(key.try_into().map_err(|_| bad("EdDSA point"))?)
                }
                _ => Material::Other(algo),
            }
        }
        27 => {
            let key = fields.get(..32).ok_or_else(|| bad("Ed25519 key"))?;
            Material::Ed25519(key.try_into().map_err(|_| bad("Ed25519 key"))?)
        }
        other => Material::Other(other),
    };
    let mut h = gix::hash::hasher(gix::hash::Kind::Sha1);
    h.update(&[0x99]);
    h.update(&(body.len() as u16).to_be_bytes());
    h.update(body);
    let id = h
        .try_finalize()
        .map_err(|_| bad("SHA-1 collision attack detected"))?;
    let fingerprint = id.as_bytes().try_into().map_err(|_| bad("fingerprint"))?;
    Ok(Some(PublicKey {
        fingerprint,
        material,
    }))
}

/// A v4 signature packet, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub sig_type: u8,
    pub pk_algo: u8,
    pub hash_algo: u8,
    /// Version through the hashed subpackets: what the hash covers after the payload.
    pub hashed: Vec<u8>,
    pub left16: [u8; 2],
    pub issuer_fpr: Option<[u8; 20]>,
    pub issuer_id: Option<[u8; 8]>,
    pub created: Option<u32>,
    /// Seconds after `created` (0 or absent: never).
    pub expires_after: Option<u32>,
    /// The signature MPIs (RSA: s; EdDSA: r, s) or raw Ed25519 bytes.
    pub values: Vec<Vec<u8>>,
}

/// Decode an armored detached signature (exactly one signature packet).
pub fn parse_signature(armored: &str) -> Result<Signature, String> {
    if armored.len() > MAX_SIGNATURE {
        return Err(format!("OpenPGP signature over {MAX_SIGNATURE} bytes"));
    }
    let (data, _) =
        next_armor(armored, "PGP SIGNATURE")?.ok_or("no `-----BEGIN PGP SIGNATURE-----`")?;
    let pk = packets(&data)?;
    match pk.as_slice() {
        [p] if p.tag == 2 => read_signature(p.body),
        _ => Err("expected exactly one signature packet".into()),
    }
}

fn read_signature(body: &[u8]) -> Result<Signature, String> {
    let bad = |what: &str| format!("malformed signature ({what})");
    match body.first() {
        Some(4) => {}
        Some(v) => return Err(format!("signature version {v} is not supported (only v4)")),
        None => return Err(bad("empty")),
    }
    let (head, rest) = take(body, 6).ok_or_else(|| bad("too short"))?;
    let hashed_len = be(&head[4..6]);
    let (hashed_sub, rest) = take(rest, hashed_len).ok_or_else(|| bad("hashed area"))?;
    let (ulen, rest) = take(rest, 2).ok_or_else(|| bad("unhashed area"))?;
    let (unhashed_sub, rest) = take(rest, be(ulen)).ok_or_else(|| bad("unhashed area"))?;
    let (left16, mut rest) = take(rest, 2).ok_or_else(|| bad("hash prefix"))?;
    let mut sig = Signature {
        sig_type: head[1],
        pk_algo: head[2],
        hash_algo: head[3],
        hashed: body[..6 + hashed_len].to_vec(),
        left16: [left16[0], left16[1]],
        issuer_fpr: None,
        issuer_id: None,
        created: None,
        expires_after: None,
        values: Vec::new(),
    };
    subpackets(hashed_sub, true, &mut sig)?;
    subpackets(unhashed_sub, false, &mut sig)?;
    match sig.pk_algo {
        1 | 3 => {
            let (s, _) = mpi(rest).ok_or_else(|| bad("RSA value"))?;
            sig.values.push(s.to_vec());
        }
        22 => {
            for _ in 0..2 {
                let (v, r) = mpi(rest).ok_or_else(|| bad("EdDSA value"))?;
                sig.values.push(v.to_vec());
                rest = r;
            }
        }
        27 => sig
            .values
            .push(rest.get(..64).ok_or_else(|| bad("Ed25519 value"))?.to_vec()),
        _ => {}
    }
    Ok(sig)
}

/// Read the subpackets the gate needs. In the hashed area an unknown critical one makes the
/// signature unusable (RFC 4880 5.2.3.1); the unhashed area only supplies issuer hints.
fn subpackets(mut area: &[u8], hashed: bool, sig: &mut Signature) -> Result<(), String> {
    let bad = || "malformed signature subpacket".to_string();
    while let Some((&o1, rest)) = area.split_first() {
        let (len, rest) = match o1 {
            0..=191 => (usize::from(o1), rest),
            192..=254 => {
                let (&o2, rest) = rest.split_first().ok_or_else(bad)?;
                (((usize::from(o1) - 192) << 8) + usize::from(o2) + 192, rest)
            }
            255 => {
                let (n, rest) = take(rest, 4).ok_or_else(bad)?;
                (be(n), rest)
            }
        };
        let (sp, rest) = take(rest, len).ok_or_else(bad)?;
        let (&kind, data) = sp.split_first().ok_or_else(bad)?;
        let (critical, kind) = (kind & 0x80 != 0, kind & 0x7f);
        match (kind, data.len()) {
            (2, 4) if hashed => sig.created = Some(be(data) as u32),
            (3, 4) if hashed => sig.expires_after = Some(be(data) as u32),
            (16, 8) => {
                sig.issuer_id = sig.issuer_id.or(data.try_into().ok());
            }
            (33, 21) if data[0] == 4 => {
                sig.issuer_fpr = sig.issuer_fpr.or(data[1..].try_into().ok());
            }
            _ if critical && hashed => {
                return Err(format!("critical subpacket {kind} is not understood"))
            }
            _ => {}
        }
        area = rest;
    }
    Ok(())
}

/// Verify an armored detached signature over `payload` against `keys` at `now`.
pub fn verify(armored: &str, payload: &[u8], keys: &[PublicKey], now: i64) -> Outcome {
    let sig = match parse_signature(armored) {
        Ok(s) => s,
        Err(detail) => return Outcome::BadSignature { detail },
    };
    let shown = match (sig.issuer_fpr, sig.issuer_id) {
        (Some(f), _) => hex_upper(&f),
        (None, Some(id)) => hex_upper(&id),
        (None, None) => {
            return Outcome::BadSignature {
                detail: "the signature names no issuer key".into(),
            }
        }
    };
    let key = keys.iter().find(|k| match (sig.issuer_fpr, sig.issuer_id) {
        (Some(f), _) => k.fingerprint == f,
        (None, Some(id)) => k.fingerprint[12..] == id,
        (None, None) => false,
    });
    let Some(key) = key else {
        return Outcome::UnknownKey {
            fingerprint: shown,
            detail: None,
        };
    };
    let bad = |detail: String| Outcome::BadSignature { detail };
    if sig.sig_type != 0x00 {
        return bad(format!(
            "signature type {:#04x} is not a binary document signature",
            sig.sig_type
        ));
    }
    if let (Some(created), Some(after)) = (sig.created, sig.expires_after) {
        if after != 0 && i64::from(created) + i64::from(after) <= now {
            return bad("the signature has expired".into());
        }
    }
    let digest = match digest(sig.hash_algo, payload, &sig.hashed) {
        Some(d) => d,
        None => {
            return bad(format!(
                "hash algorithm {} is not accepted (SHA-224/256/384/512 are)",
                sig.hash_algo
            ))
        }
    };
    if digest[..2] != sig.left16 {
        return bad("does not match the commit".into());
    }
    let checked = match (&key.material, sig.pk_algo) {
        (Material::Rsa { n, e }, 1 | 3) => verify_rsa(n, e, sig.hash_algo, &digest, &sig.values),
        (Material::Ed25519(k), 22 | 27) => verify_ed25519(k, &digest, &sig.values),
        _ => Err(format!(
            "key algorithm does not verify signature algorithm {}",
            sig.pk_algo
        )),
    };
    match checked {
        Ok(()) => Outcome::Verified {
            fingerprint: key.fingerprint_hex(),
        },
        Err(detail) => bad(detail),
    }
}

/// hash(payload ‖ hashed part ‖ 0x04 0xFF ‖ len32(hashed part)), as RFC 4880 5.2.4.
fn digest(algo: u8, payload: &[u8], hashed: &[u8]) -> Option<Vec<u8>> {
    fn run<D: Digest>(payload: &[u8], hashed: &[u8]) -> Vec<u8> {
        let mut h = D::new();
        h.update(payload);
        h.update(hashed);
        h.update([0x04, 0xFF]);
        h.update((hashed.len() as u32).to_be_bytes());
        h.finalize().to_vec()
    }
    Some(match algo {
        8 => run::<sha2::Sha256>(payload, hashed),
        9 => run::<sha2::Sha384>(payload, hashed),
        10 => run::<sha2::Sha512>(payload, hashed),
        11 => run::<sha2::Sha224>(payload, hashed),
        _ => return None,
    })
}

/// RSA keys under this many bits are refused (gpg's own floor for new keys is 2048).
const MIN_RSA_BITS: usize = 2048;

fn verify_rsa(
    n: &[u8],
    e: &[u8],
    hash: u8,
    digest: &[u8],
    values: &[Vec<u8>],
) -> Result<(), String> {
    let n = BigUint::from_bytes_be(n);
    if n.bits() < MIN_RSA_BITS {
        return Err(format!("RSA key of {} bits is too small", n.bits()));
    }
    let key = RsaPublicKey::new_with_max_size(n, BigUint::from_bytes_be(e), 16384)
        .map_err(|e| format!("unusable RSA key ({e})"))?;
    let k = key.n().bits().div_ceil(8);
    let s = values.first().ok_or("no RSA value")?;
    if s.len() > k {
        return Err("RSA value longer than the key".into());
    }
    // MPIs drop leading zeros; PKCS#1 wants the value as long as the modulus.
    let mut padded = vec![0u8; k - s.len()];
    padded.extend_from_slice(s);
    let scheme = match hash {
        8 => Pkcs1v15Sign::new::<sha2::Sha256>(),
        9 => Pkcs1v15Sign::new::<sha2::Sha384>(),
        10 => Pkcs1v15Sign::new::<sha2::Sha512>(),
        _ => Pkcs1v15Sign::new::<sha2::Sha224>(),
    };
    use rsa::traits::PublicKeyParts;
    key.verify(scheme, digest, &padded)
        .map_err(|_| "does not match the commit".to_string())
}

fn verify_ed25519(key: &[u8; 32], digest: &[u8], values: &[Vec<u8>]) -> Result<(), String> {
    let mut raw = [0u8; 64];
    match values {
        [r, s] if r.len() <= 32 && s.len() <= 32 => {
            raw[32 - r.len()..32].copy_from_slice(r);
            raw[64 - s.len()..].copy_from_slice(s);
        }
        [rs] if rs.len() == 64 => raw.copy_from_slice(rs),
        _ => return Err("malformed EdDSA value".into()),
    }
    let vk = ed25519_dalek::VerifyingKey::from_bytes(key)
        .map_err(|_| "unusable Ed25519 key".to_string())?;
    vk.verify_strict(digest, &ed25519_dalek::Signature::from_bytes(&raw))
        .map_err(|_| "does not match the commit".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_and_old_packet_headers() {
        let p = packets(&[0xC2, 2, 9, 9, 0x88, 1, 7]).unwrap();
        assert_eq!((p[0].tag, p[0].body), (2, &[9u8, 9][..]));
        assert_eq!((p[1].tag, p[1].body), (2, &[7u8][..]));
        let long = [&[0xC2u8, 0xC0, 0x00][..], &[1u8; 192]].concat();
        assert_eq!(packets(&long).unwrap()[0].body.len(), 192);
    }

    #[test]
    fn truncated_and_foreign_packets_are_errors() {
        for data in [
            &[0xC2u8, 5, 1][..],
            &[0x02],
            &[0xC2, 0xE0],
            &[0x8B],
            &[0xC2, 0xFF, 0, 0],
        ] {
            assert!(packets(data).is_err(), "{data:?}");
        }
    }

    #[test]
    fn unknown_critical_hashed_subpacket_is_refused() {
        let mut sig = read_signature(&[4, 0, 99, 8, 0, 0, 0, 0, 0, 0]).unwrap();
        assert!(subpackets(&[2, 0x80 | 40, 1], true, &mut sig).is_err());
        assert!(subpackets(&[2, 0x80 | 40, 1], false, &mut sig).is_ok());
        assert!(subpackets(&[2, 40, 1], true, &mut sig).is_ok());
    }

    #[test]
    fn issuer_subpackets_are_read() {
        let mut sig = read_signature(&[4, 0, 99, 8, 0, 0, 0, 0, 0, 0]).unwrap();
        let mut area = vec![22, 33, 4];
        area.extend([0xAB; 20]);
        area.extend([9, 16, 1, 2, 3, 4, 5, 6, 7, 8]);
        subpackets(&area, true, &mut sig).unwrap();
        assert_eq!(sig.issuer_fpr, Some([0xAB; 20]));
        assert_eq!(sig.issuer_id, Some([1, 2, 3, 4, 5, 6, 7, 8]));
    }

    #[test]
    fn an_unknown_issuer_is_named() {
        let mut body = vec![4, 0, 22, 8, 0, 23, 22, 33, 4];
        body.extend([0xAB; 20]);
        body.extend([0, 0, 1, 2, 0, 8, 1, 0, 8, 1]);
        let armored = armor(
            "PGP SIGNATURE",
            &[&[0xC2, body.len() as u8][..], &body].concat(),
        );
        assert_eq!(
            verify(&armored, b"x", &[], 0),
            Outcome::UnknownKey {
                fingerprint: "AB".repeat(20),
                detail: None
            }
        );
    }

    fn armor(label: &str, data: &[u8]) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(data);
        format!("-----BEGIN {label}-----\n\n{b64}\n=AAAA\n-----END {label}-----\n")
    }

    #[test]
    fn keyring_without_a_block_is_an_error() {
        assert!(parse_keyring("hello").is_err());
        assert!(parse_keyring("-----BEGIN PGP PUBLIC KEY BLOCK-----\nAAAA").is_err());
        assert_eq!(parse_keyring(&armor(KEY_BLOCK, &[])).unwrap(), vec![]);
    }

    #[test]
    fn v4_key_fingerprint_is_sha1_of_the_framed_body() {
        let mut body = vec![4, 0, 0, 0, 0, 27];
        body.extend([7u8; 32]);
        let k = parse_key(&body).unwrap().unwrap();
        let mut h = gix::hash::hasher(gix::hash::Kind::Sha1);
        h.update(&[0x99, 0, body.len() as u8]);
        h.update(&body);
        assert_eq!(&k.fingerprint[..], h.try_finalize().unwrap().as_bytes());
        assert_eq!(k.material, Material::Ed25519([7; 32]));
        assert_eq!(k.fingerprint_hex().len(), 40);
    }

    #[test]
    fn garbage_signatures_are_bad_not_panics() {
        for text in [
            "",
            SIGNATURE_BEGIN,
            "-----BEGIN PGP SIGNATURE-----\n\n!!\n-----END PGP SIGNATURE-----",
            &armor("PGP SIGNATURE", &[0xC2, 3, 5, 0, 0]),
            &armor("PGP SIGNATURE", &[0xC2, 3, 4, 0, 1]),
        ] {
            assert!(matches!(
                verify(text, b"x", &[], 0),
                Outcome::BadSignature { .. }
            ));
        }
    }
}
