//! Unified diffs of config files for `gitops-agent plan` (SPEC §13): a longest common
//! subsequence over lines (after the common head and tail are set aside), hunks with 3 lines
//! of context, `\ No newline at end of file` as diff(1) writes it. Bounded: binary text or
//! a middle part over `MAX_CELLS` comparisons is summarised in one line instead.

/// Comparisons the LCS table may hold (4 bytes each: 16 MiB at most).
const MAX_CELLS: usize = 4_000_000;
/// Lines of context around each change.
const CONTEXT: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Keep,
    Del,
    Add,
}

/// The unified diff from `old` (`None`: the file does not exist) to `new`, headed
/// `--- old_name` / `+++ new_name`; empty when they are equal.
pub fn unified(old: Option<&[u8]>, new: &[u8], old_name: &str, new_name: &str) -> String {
    if old == Some(new) {
        return String::new();
    }
    let old_bytes = old.unwrap_or_default();
    let (Ok(a), Ok(b)) = (std::str::from_utf8(old_bytes), std::str::from_utf8(new)) else {
        return summary(old, new, "binary");
    };
    if a.contains('\0') || b.contains('\0') {
        return summary(old, new, "binary");
    }
    let a: Vec<&str> = a.split_inclusive('\n').collect();
    let b: Vec<&str> = b.split_inclusive('\n').collect();
    let Some(ops) = script(&a, &b) else {
        return summary(old, new, "too large to compare line by line");
    };
    let old_name = if old.is_some() { old_name } else { "/dev/null" };
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    for hunk in hunks(&ops) {
        out.push_str(&render_hunk(&ops[hunk.0..hunk.1], &a, &b, &ops, hunk.0));
    }
    out
}

fn summary(old: Option<&[u8]>, new: &[u8], what: &str) -> String {
    match old {
        Some(o) => format!("({what}: {} bytes → {} bytes)\n", o.len(), new.len()),
        None => format!("({what}: new file of {} bytes)\n", new.len()),
    }
}

/// The edit script (keep/delete/add per line), `None` when over the bound.
fn script(a: &[&str], b: &[&str]) -> Option<Vec<Op>> {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let (n, m) = (ma.len(), mb.len());
    if (n + 1).saturating_mul(m + 1) > MAX_CELLS {
        return None;
    }
    // lcs[i][j]: LCS length of ma[i..] and mb[j..].
    let w = m + 1;
    let mut lcs = vec![0u32; (n + 1) * w];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i * w + j] = if ma[i] == mb[j] {
                lcs[(i + 1) * w + j + 1] + 1
            } else {
                lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
            };
        }
    }
    let mut ops = vec![Op::Keep; head];
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && ma[i] == mb[j] {
            ops.push(Op::Keep);
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i * w + j + 1] >= lcs[(i + 1) * w + j]) {
            ops.push(Op::Add);
            j += 1;
        } else {
            ops.push(Op::Del);
            i += 1;
        }
    }
    ops.extend(std::iter::repeat_n(Op::Keep, tail));
    Some(reorder(ops))
}

/// Within each run of changes, deletions first.
fn reorder(ops: Vec<Op>) -> Vec<Op> {
    let mut out = Vec::with_capacity(ops.len());
    let mut run: Vec<Op> = Vec::new();
    for op in ops {
        if op == Op::Keep {
            run.sort_by_key(|o| *o == Op::Add);
            out.append(&mut run);
            out.push(op);
        } else {
            run.push(op);
        }
    }
    run.sort_by_key(|o| *o == Op::Add);
    out.append(&mut run);
    out
}

/// The ranges of `ops` shown as hunks: each change with up to `CONTEXT` kept lines around
/// it, hunks closer than twice that merged.
fn hunks(ops: &[Op]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (k, op) in ops.iter().enumerate() {
        if *op == Op::Keep {
            continue;
        }
        let start = k.saturating_sub(CONTEXT);
        let end = (k + 1 + CONTEXT).min(ops.len());
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = end,
            _ => out.push((start, end)),
        }
    }
    out
}

fn render_hunk(part: &[Op], a: &[&str], b: &[&str], all: &[Op], first: usize) -> String {
    // Line numbers where the hunk starts, from the ops before it.
    let before = &all[..first];
    let mut i = before.iter().filter(|o| **o != Op::Add).count();
    let mut j = before.iter().filter(|o| **o != Op::Del).count();
    let old_len = part.iter().filter(|o| **o != Op::Add).count();
    let new_len = part.iter().filter(|o| **o != Op::Del).count();
    let range = |start: usize, len: usize| match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{len}", start + 1),
    };
    let mut out = format!("@@ -{} +{} @@\n", range(i, old_len), range(j, new_len));
    let mut line = |sign: char, text: &str| {
        out.push(sign);
        out.push_str(text);
        if !text.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    };
    for op in part {
        match op {
            Op::Keep => {
                line(' ', a[i]);
                i += 1;
                j += 1;
            }
            Op::Del => {
                line('-', a[i]);
                i += 1;
            }
            Op::Add => {
                line('+', b[j]);
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(old: &str, new: &str) -> String {
        unified(Some(old.as_bytes()), new.as_bytes(), "a", "b")
    }

    #[test]
    fn equal_files_have_no_diff() {
        assert_eq!(d("x\n", "x\n"), "");
    }

    #[test]
    fn a_changed_line_is_a_deletion_then_an_addition_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n";
        assert_eq!(
            d(old, new),
            "--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn distant_changes_are_separate_hunks() {
        let old: String = (1..=20).map(|n| format!("{n}\n")).collect();
        let new: String = (1..=20)
            .map(|n| match n {
                2 => "two\n".to_string(),
                19 => "nineteen\n".to_string(),
                n => format!("{n}\n"),
            })
            .collect();
        let out = d(&old, &new);
        assert_eq!(out.matches("@@ -").count(), 2, "{out}");
        assert!(out.contains("@@ -1,5 +1,5 @@\n 1\n-2\n+two\n"), "{out}");
        assert!(
            out.contains("@@ -16,5 +16,5 @@\n 16\n 17\n 18\n-19\n+nineteen\n 20\n"),
            "{out}"
        );
    }

    #[test]
    fn a_new_file_is_all_additions_from_dev_null() {
        let out = unified(None, b"a\nb\n", "/srv/x", "/srv/x");
        assert_eq!(out, "--- /dev/null\n+++ /srv/x\n@@ -0,0 +1,2 @@\n+a\n+b\n");
    }

    #[test]
    fn a_missing_final_newline_is_marked() {
        assert_eq!(
            d("a\nb", "a\nc\n"),
            "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n"
        );
    }

    #[test]
    fn binary_and_huge_files_are_summarised() {
        assert_eq!(
            unified(Some(b"\0\x01"), b"\0\x02\x03", "a", "b"),
            "(binary: 2 bytes → 3 bytes)\n"
        );
        let big_a: String = (0..3000).map(|n| format!("a{n}\n")).collect();
        let big_b: String = (0..3000).map(|n| format!("b{n}\n")).collect();
        assert!(d(&big_a, &big_b).starts_with("(too large"));
    }

    #[test]
    fn insertions_and_deletions_keep_line_numbers() {
        let out = d("a\nb\nc\n", "a\nx\nb\n");
        assert_eq!(out, "--- a\n+++ b\n@@ -1,3 +1,3 @@\n a\n+x\n b\n-c\n");
    }
}
