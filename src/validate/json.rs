//! The `--json` output of `validate`, written by hand (no JSON crate in the binary): a
//! string escaped as RFC 8259 asks, and the array of findings.

use super::Finding;

/// `s` as a JSON string literal, quotes included: `"`, `\` and control characters escaped
/// (U+2028/U+2029 too, for readers that embed it in JavaScript).
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
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `[{"file":…,"line":…,"app":…,"key":…,"message":…,"warning":…}, …]`, one object a line.
pub fn render(findings: &[Finding]) -> String {
    let objects: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{{\"file\":{},\"line\":{},\"app\":{},\"key\":{},\"message\":{},\"warning\":{}}}",
                string(&f.file),
                f.line,
                string(&f.app),
                string(&f.key),
                string(&f.message),
                f.warning
            )
        })
        .collect();
    if objects.is_empty() {
        return "[]".into();
    }
    format!("[\n{}\n]", objects.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_backslashes_and_controls_are_escaped() {
        assert_eq!(
            string("a\"b\\c\nd\u{1}\u{2028}é"),
            "\"a\\\"b\\\\c\\nd\\u0001\\u2028é\""
        );
    }

    #[test]
    fn findings_are_one_object_a_line() {
        let f = Finding {
            file: "edge/infra_meta.toml".into(),
            line: 3,
            app: "web".into(),
            key: "code_url".into(),
            message: "missing".into(),
            warning: false,
        };
        assert_eq!(render(&[]), "[]");
        assert_eq!(
            render(&[f]),
            "[\n{\"file\":\"edge/infra_meta.toml\",\"line\":3,\"app\":\"web\",\"key\":\"code_url\",\"message\":\"missing\",\"warning\":false}\n]"
        );
    }
}
