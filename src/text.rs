//! What of a value may be shown: every value echoed in a log line, an error or the feedback
//! file is cut to `MAX_SHOWN` characters (SPEC §10), so a 10 MB infra_meta value or a
//! server's endless line never floods a journal or the monitoring branch.

use std::borrow::Cow;

/// Characters of a value shown at most (`…` is added after a cut).
pub const MAX_SHOWN: usize = 200;

/// `s` cut to `MAX_SHOWN` characters, with `…` when something was cut.
pub fn clip(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(MAX_SHOWN) {
        None => Cow::Borrowed(s),
        Some((end, _)) => Cow::Owned(format!("{}…", &s[..end])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_shown_whole() {
        assert_eq!(clip("abc"), "abc");
        let exact = "x".repeat(MAX_SHOWN);
        assert_eq!(clip(&exact), exact.as_str());
    }

    #[test]
    fn long_values_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_SHOWN + 5);
        let cut = clip(&long);
        assert_eq!(cut.chars().count(), MAX_SHOWN + 1);
        assert!(cut.ends_with('…'));
    }
}
