//! Lower-case hex text of bytes, and back: digests in file and folder names, and the file
//! copies of a code clone's look memo (`git/worktree/look_memo.rs`), which every unchanged
//! pass decodes (about 3 KB per clone: a table lookup per digit, not a `format!` or a
//! `from_str_radix` per byte).

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `bytes` as lower-case hex, two digits per byte.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The bytes `s` spells in hex (either case); `None` for an odd length or any other
/// character (no sign, no space, no `0x`).
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 2);
    for pair in s.chunks_exact(2) {
        out.push((digit(pair[0])? << 4) | digit(pair[1])?);
    }
    Some(out)
}

fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_two_lower_case_digits_each() {
        assert_eq!(encode(&[0x00, 0x0f, 0xa0, 0xff, 0x12]), "000fa0ff12");
        assert_eq!(encode(&[]), "");
    }

    #[test]
    fn hex_of_either_case_decodes_and_anything_else_does_not() {
        assert_eq!(
            decode("000fA0Ff12"),
            Some(vec![0x00, 0x0f, 0xa0, 0xff, 0x12])
        );
        assert_eq!(decode(""), Some(vec![]));
        for bad in ["0", "abc", "0g", "+f", "-1", " 1", "0x", "é0"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    /// Every byte value round-trips, and every string of two characters decodes exactly
    /// when both are hex digits (what `u8::from_str_radix` accepts, less its sign).
    #[test]
    fn every_byte_round_trips_and_every_two_characters_are_judged_alike() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)), Some(all));
        for a in 0u8..128 {
            for b in 0u8..128 {
                let s = format!("{}{}", char::from(a), char::from(b));
                let want = (a.is_ascii_hexdigit() && b.is_ascii_hexdigit())
                    .then(|| u8::from_str_radix(&s, 16).ok())
                    .flatten()
                    .map(|v| vec![v]);
                assert_eq!(decode(&s), want, "{s:?}");
            }
        }
    }
}
