//! Where in an `infra_meta.toml` text a problem sits: the line of the offending key, else
//! of the section header, else 1. A small scanner over the text (the `toml` crate's tables
//! keep no positions): section headers, `key =` lines, inline tables of an array
//! (`config_files[1].dst`) and `[[app.config_files]]` tables. Never panics; lines from 1.

/// The 1-based line of `key` (`code_url`, `config_files[1].dst`, or empty for the section
/// itself) of section `app` in `text`.
pub fn line_of(text: &str, app: &str, key: &str) -> usize {
    let lines = logical_lines(text);
    let header = lines
        .iter()
        .find(|l| header_name(l.text).is_some_and(|(name, _)| name == app))
        .or_else(|| {
            // Only `[app.sub]` headers (the section made of sub-tables).
            lines
                .iter()
                .find(|l| header_name(l.text).is_some_and(|(name, _)| first_part(&name) == app))
        });
    let top_level_key = || {
        lines
            .iter()
            .take_while(|l| header_name(l.text).is_none())
            .find(|l| key_name(l.text).as_deref() == Some(app))
            .map(|l| l.number)
    };
    let Some(header) = header else {
        return top_level_key().unwrap_or(1);
    };
    if key.is_empty() {
        return header.number;
    }
    let (base, index, field) = split_key(key);
    let body: Vec<&Line> = lines
        .iter()
        .skip_while(|l| l.number <= header.number)
        .take_while(|l| header_name(l.text).is_none())
        .collect();
    if let Some(line) = body
        .iter()
        .find(|l| key_name(l.text).as_deref() == Some(base))
    {
        return match index {
            Some(i) => array_item_line(text, line.offset, i, field).unwrap_or(line.number),
            None => line.number,
        };
    }
    // `[[app.config_files]]`: the i-th such header, then the field in its body.
    let wanted = format!("{app}.{base}");
    let tables: Vec<&Line> = lines
        .iter()
        .filter(|l| header_name(l.text).is_some_and(|(n, many)| many && n == wanted))
        .collect();
    if let Some(t) = tables.get(index.unwrap_or(0)) {
        let field_line = field.and_then(|f| {
            lines
                .iter()
                .skip_while(|l| l.number <= t.number)
                .take_while(|l| header_name(l.text).is_none())
                .find(|l| key_name(l.text).as_deref() == Some(f))
        });
        return field_line.map_or(t.number, |l| l.number);
    }
    header.number
}

struct Line<'a> {
    number: usize,
    /// Byte offset of the line's start in the text.
    offset: usize,
    text: &'a str,
}

/// The lines that are not inside a multi-line string (`"""` / `'''`).
fn logical_lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut offset = 0;
    let mut open: Option<&str> = None;
    for (i, raw) in text.split('\n').enumerate() {
        if open.is_none() {
            out.push(Line {
                number: i + 1,
                offset,
                text: raw,
            });
        }
        for delim in ["\"\"\"", "'''"] {
            if open.is_none_or(|d| d == delim) && raw.matches(delim).count() % 2 == 1 {
                open = if open.is_some() { None } else { Some(delim) };
            }
        }
        offset += raw.len() + 1;
    }
    out
}

/// `[name]` → (name, false); `[[name]]` → (name, true); quotes around parts removed.
fn header_name(line: &str) -> Option<(String, bool)> {
    let t = line.trim_start();
    let many = t.starts_with("[[");
    let inner = t.strip_prefix(if many { "[[" } else { "[" })?;
    let end = inner.find(if many { "]]" } else { "]" })?;
    let name = inner.get(..end)?;
    let parts: Vec<String> = name.split('.').map(|p| unquote(p.trim())).collect();
    Some((parts.join("."), many))
}

fn first_part(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// The key of a `key = value` line (quotes removed), if the line is one.
fn key_name(line: &str) -> Option<String> {
    let t = line.trim_start();
    if t.starts_with('[') || t.starts_with('#') {
        return None;
    }
    let eq = t.find('=')?;
    let k = t.get(..eq)?.trim();
    (!k.is_empty()).then(|| unquote(k))
}

fn unquote(s: &str) -> String {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    s.to_string()
}

/// `config_files[1].dst` → ("config_files", Some(1), Some("dst")).
fn split_key(key: &str) -> (&str, Option<usize>, Option<&str>) {
    let Some(open) = key.find('[') else {
        return (key, None, None);
    };
    let base = key.get(..open).unwrap_or(key);
    let rest = key.get(open + 1..).unwrap_or("");
    let Some(close) = rest.find(']') else {
        return (base, None, None);
    };
    let index = rest.get(..close).and_then(|n| n.parse().ok());
    let field = rest.get(close + 1..).and_then(|f| f.strip_prefix('.'));
    (base, index, field)
}

/// In the array value that starts after the `=` of the line at `from`: the line of `field`
/// in its `index`-th inline table (or the line where that item starts).
fn array_item_line(text: &str, from: usize, index: usize, field: Option<&str>) -> Option<usize> {
    let rest = text.get(from..)?;
    let start = rest.find('=')? + 1;
    let mut line =
        text.get(..from)?.matches('\n').count() + 1 + rest.get(..start)?.matches('\n').count();
    let (mut depth, mut item, mut item_line) = (0usize, None::<usize>, None);
    let mut token = String::new();
    let mut chars = rest.get(start..)?.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            '#' => {
                // A comment runs to the end of its line.
                while chars.next_if(|&n| n != '\n').is_some() {}
            }
            '"' | '\'' => {
                while let Some(n) = chars.next() {
                    if n == '\n' {
                        line += 1;
                    } else if n == '\\' && c == '"' {
                        chars.next();
                    } else if n == c {
                        break;
                    }
                }
            }
            '[' | '{' => {
                depth += 1;
                if depth == 2 {
                    let n = item.map_or(0, |i| i + 1);
                    item = Some(n);
                    if n == index {
                        item_line = Some(line);
                        if field.is_none() {
                            return item_line;
                        }
                    }
                }
            }
            ']' | '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            '=' if depth == 2 && item == Some(index) && Some(token.as_str()) == field => {
                return Some(line);
            }
            _ => {}
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            token.push(c);
        } else if !c.is_whitespace() {
            token.clear();
        }
    }
    item_line
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# deploy\nallow_empty = true\n\n[web]\ncode_url = \"u\"\ndesc = \"\"\"\n[db]\ncode_url = 1\n\"\"\"\nconfig_files = [\n  { src = \"a\", dst = \"/a\" },  # one\n  { dst = \"/b\",\n    src = \"b\" },\n]\n\n[ \"db\" ]\ncode_url = 2\n[[db.config_files]]\nsrc = \"x\"\n[[db.config_files]]\n\ndst = \"y\"\n";

    #[test]
    fn a_key_is_found_on_its_line_in_its_section() {
        assert_eq!(line_of(TEXT, "web", "code_url"), 5);
        assert_eq!(line_of(TEXT, "db", "code_url"), 17);
    }

    #[test]
    fn the_section_itself_is_its_header() {
        assert_eq!(line_of(TEXT, "web", ""), 4);
        assert_eq!(line_of(TEXT, "db", ""), 16);
    }

    #[test]
    fn a_missing_key_is_the_header() {
        assert_eq!(line_of(TEXT, "web", "code_local_path"), 4);
    }

    #[test]
    fn headers_inside_multiline_strings_are_text() {
        assert_ne!(line_of(TEXT, "db", ""), 7);
    }

    #[test]
    fn inline_table_fields_are_found_by_index() {
        assert_eq!(line_of(TEXT, "web", "config_files[0].src"), 11);
        assert_eq!(line_of(TEXT, "web", "config_files[1].dst"), 12);
        assert_eq!(line_of(TEXT, "web", "config_files[1].src"), 13);
        assert_eq!(line_of(TEXT, "web", "config_files[1]"), 12);
        assert_eq!(line_of(TEXT, "web", "config_files[1].mode"), 12);
        assert_eq!(line_of(TEXT, "web", "config_files[7].src"), 10);
    }

    #[test]
    fn arrays_of_tables_are_found_by_index() {
        assert_eq!(line_of(TEXT, "db", "config_files[0].src"), 19);
        assert_eq!(line_of(TEXT, "db", "config_files[1].dst"), 22);
        assert_eq!(line_of(TEXT, "db", "config_files[1].src"), 20);
    }

    #[test]
    fn a_top_level_value_is_its_own_line() {
        assert_eq!(line_of(TEXT, "allow_empty", ""), 2);
        assert_eq!(line_of(TEXT, "nowhere", "x"), 1);
    }
}
