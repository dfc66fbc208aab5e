//! The `--json` output of `validate`: the array of findings (strings escaped by `crate::json`).

use crate::json::string;

use super::Finding;

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
