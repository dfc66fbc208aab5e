//! The little JSON the agent writes (`status --json`, events, `validate --json`), by hand:
//! strings escaped per RFC 8259, numbers, `null`. A JSON crate (serde_json) would add a
//! dependency for a few flat objects.

/// `s` as a JSON string literal: `"` and `\` escaped, every control character (U+0000 to
/// U+001F, and DEL) as `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX`; U+2028/U+2029 as `\u`
/// escapes too, so the output is also safe to paste into JavaScript or a terminal.
/// Everything else as is (UTF-8).
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string, or `null`.
pub fn opt_string(s: Option<&str>) -> String {
    s.map_or_else(|| "null".to_string(), string)
}

/// A whole number, or `null`.
pub fn opt_int(n: Option<i64>) -> String {
    n.map_or_else(|| "null".to_string(), |n| n.to_string())
}

/// A finite number with millisecond precision (NaN and infinities, which JSON cannot say,
/// become 0).
pub fn seconds(x: f64) -> String {
    let x = if x.is_finite() { x } else { 0.0 };
    format!("{x:.3}")
}

/// `{"k": v, ...}` from already-encoded values.
pub fn object(fields: &[(&str, String)]) -> String {
    let inner: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {v}", string(k)))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// `[v, ...]` from already-encoded values.
pub fn array(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(string(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(string("a\nb\rc\td"), r#""a\nb\rc\td""#);
        assert_eq!(string("\u{0}\u{1f}\u{8}\u{c}"), r#""\u0000\u001f\b\f""#);
    }

    #[test]
    fn line_separators_are_escaped_for_javascript() {
        assert_eq!(string("\u{2028}\u{2029}"), r#""\u2028\u2029""#);
    }

    #[test]
    fn other_text_passes_as_utf8() {
        assert_eq!(string("✅ healthy / é"), "\"✅ healthy / é\"");
        assert_eq!(string("\u{7f}"), r#""\u007f""#);
        assert_eq!(string("\u{1b}[0m"), r#""\u001b[0m""#);
    }

    #[test]
    fn null_for_absent_values() {
        assert_eq!(opt_string(None), "null");
        assert_eq!(opt_int(None), "null");
        assert_eq!(opt_int(Some(-3)), "-3");
        assert_eq!(opt_string(Some("x")), "\"x\"");
    }

    #[test]
    fn numbers_are_always_valid_json() {
        assert_eq!(seconds(1.23456), "1.235");
        assert_eq!(seconds(f64::NAN), "0.000");
        assert_eq!(seconds(f64::INFINITY), "0.000");
    }

    #[test]
    fn objects_and_arrays() {
        assert_eq!(
            object(&[("a", "1".into()), ("b\"", array(&["null".into()]))]),
            r#"{"a": 1, "b\"": [null]}"#
        );
        assert_eq!(array(&[]), "[]");
    }
}
