//! The canonical text of an app section (`AppSpec::section`): exactly what
//! `toml::to_string` makes of the table, since that text is what the agent's records hold
//! and compare ("the section changed since the last apply"). `toml::to_string` builds a
//! whole `toml_edit` document per section (about 63,000 instructions for a usual one, 3.2 M
//! of an unchanged 50-app pass); the common shape (bare keys; plain strings, integers and
//! booleans; one `config_files`-like array of such tables) is written here directly, and
//! anything else still goes through `toml::to_string`. The test below holds the two equal.

use std::fmt::Write;

use toml::{Table, Value};

/// `toml::to_string(table)`, quicker for the common shape.
pub fn canonical(table: &Table) -> String {
    quick(table).unwrap_or_else(|| toml::to_string(table).unwrap_or_default())
}

/// The text for the common shape; `None` for anything else.
fn quick(table: &Table) -> Option<String> {
    let mut out = String::with_capacity(512);
    let mut array: Option<(&str, &Vec<Value>)> = None;
    for (key, value) in table {
        if !bare(key) {
            return None;
        }
        match value {
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_table) => {
                if array.replace((key, items)).is_some() {
                    return None;
                }
            }
            v => scalar_line(&mut out, key, v)?,
        }
    }
    if let Some((key, items)) = array {
        for item in items {
            // (each header after a blank line, except at the top of the text)
            if !out.is_empty() {
                out.push('\n');
            }
            let _ = writeln!(out, "[[{key}]]");
            for (k, v) in item.as_table()? {
                if !bare(k) {
                    return None;
                }
                scalar_line(&mut out, k, v)?;
            }
        }
    }
    Some(out)
}

/// `key = value\n` for a plain string, an integer or a boolean; `None` for anything else.
fn scalar_line(out: &mut String, key: &str, v: &Value) -> Option<()> {
    out.push_str(key);
    match v {
        Value::String(s) if plain(s) => {
            out.push_str(" = \"");
            out.push_str(s);
            out.push_str("\"\n");
        }
        Value::Integer(n) => writeln!(out, " = {n}").ok()?,
        Value::Boolean(b) => out.push_str(if *b { " = true\n" } else { " = false\n" }),
        _ => return None,
    }
    Some(())
}

/// A key TOML writes without quotes.
fn bare(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A string TOML writes as `"..."` with nothing escaped: no `"`, `\` or control character.
fn plain(s: &str) -> bool {
    !s.bytes()
        .any(|b| b == b'"' || b == b'\\' || b <= 0x1f || b == 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(text: &str) -> bool {
        let table: Table = text.parse().unwrap();
        let fast = quick(&table);
        if let Some(fast) = &fast {
            assert_eq!(fast, &toml::to_string(&table).unwrap(), "for:\n{text}");
        }
        assert_eq!(canonical(&table), toml::to_string(&table).unwrap());
        fast.is_some()
    }

    #[test]
    fn the_canonical_text_is_what_toml_writes() {
        // The common shapes take the quick way...
        for text in [
            "code_url = \"https://h/o/r.git\"\ncode_commit_hash = \"4f1c2e9\"\ncode_local_path = \"/srv/a\"\npost_updation_command = \"systemctl restart a\"\nconfig_files = [ { src = \"e/a.env\", dst = \"/etc/a/a.env\" } ]\n",
            "b = 1\na = \"x\"\nz = true\nconfig_files = [ { src = \"s\", dst = \"/d\", mode = \"0600\" }, { dst = \"/e\", src = \"t\" } ]\nhealth_timeout = -5\npaused = false\n",
            "config_files = [ { src = \"s\", dst = \"/d\" } ]\n",
            "only = \"one\"\n",
            "",
            "unicode = \"café ✅ 'single' quotes\"\nweird-key_1 = \"\"\n",
        ] {
            assert!(same(text), "not the quick way:\n{text}");
        }
        // ...anything else is written by toml itself.
        for text in [
            "a = \"with \\\"quotes\\\"\"\n",
            "a = \"back\\\\slash\"\n",
            "a = \"new\\nline\"\n",
            "a = \"tab\\there\"\n",
            "\"quoted key\" = \"x\"\n",
            "update_windows = [\"Mon-Fri 02:00-04:00\"]\n",
            "f = 1.5\n",
            "config_files = []\n",
            "config_files = [ { src = \"s\", dst = \"/d\" }, \"x\" ]\n",
            "[nested]\na = 1\n",
            "a = [ { x = 1 } ]\nb = [ { y = 2 } ]\n",
            "config_files = [ { src = \"s\", dst = [1] } ]\n",
            "config_files = [ { \"odd key\" = \"s\" } ]\n",
            "when = 1979-05-27T07:32:00Z\n",
        ] {
            assert!(!same(text), "took the quick way:\n{text}");
        }
    }

    fn value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            // mostly plain (the quick way), sometimes what needs quoting or escapes
            4 => "[a-zé✅ /:._'-]{0,12}".prop_map(Value::String),
            1 => "[a-z\"\\'\t\n\u{7f}\u{1}]{0,4}".prop_map(Value::String),
            1 => any::<i64>().prop_map(Value::Integer),
            1 => any::<bool>().prop_map(Value::Boolean),
        ]
    }

    fn table() -> impl proptest::strategy::Strategy<Value = Table> {
        use proptest::strategy::Strategy;
        let key = proptest::prop_oneof![9 => "[a-z_-]{1,8}", 1 => "[a-z \"]{0,4}"];
        proptest::collection::btree_map(key, value(), 0..5).prop_map(|m| m.into_iter().collect())
    }

    proptest::proptest! {
        #[test]
        fn generated_sections_have_the_text_toml_writes(
            mut t in table(),
            files in proptest::collection::vec(table(), 0..3),
            key in "(config_files|[a-z]{1,5})",
        ) {
            if !files.is_empty() {
                t.insert(key, Value::Array(files.into_iter().map(Value::Table).collect()));
            }
            proptest::prop_assert_eq!(canonical(&t), toml::to_string(&t).unwrap());
        }
    }
}
