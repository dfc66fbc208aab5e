//! `git log -1 --pretty=format:'%h - %s (%an, %ad)'` for the feedback file (SPEC §6).

use gix::bstr::{BStr, ByteSlice};
use gix::ObjectId;

use crate::error::{Context, Result};
use crate::git::repo::repo_dir;

/// `git log -1 --pretty=format:'%h - %s (%an, %ad)' <id>`, with the quotes: the short id as
/// git abbreviates it (at least 7 hex digits), the subject, the author's name and the author
/// date in git's default format in the author's own offset.
pub fn describe(repo: &gix::Repository, id: ObjectId) -> Result<String> {
    let ctx = || format!("{}: describe {id}", repo_dir(repo));
    let commit = repo.find_commit(id).with_context(ctx)?;
    let short = commit
        .id()
        .shorten()
        .map(|p| p.to_string())
        .unwrap_or_else(|_| id.to_hex_with_len(7).to_string());
    let decoded = commit.decode().with_context(ctx)?;
    line(&short, &decoded).with_context(ctx)
}

/// The [`describe`] line of `commit`, whose id abbreviates to `short`.
fn line(short: &str, commit: &gix::objs::CommitRef<'_>) -> Result<String> {
    Ok(format!("'{short}{}", tail(commit)?))
}

/// The [`describe`] line after the short id: ` - subject (author, date)'`.
pub(super) fn tail(commit: &gix::objs::CommitRef<'_>) -> Result<String> {
    let subject = git_subject(commit.message);
    let author = commit.author().context("author")?.trim();
    let time = author.time().context("author date")?;
    let date = time
        .format(gix::date::time::format::DEFAULT)
        .context("author date")?;
    Ok(format!(
        " - {subject} ({}, {date})'",
        author.name.to_str_lossy()
    ))
}

/// git's `%s`: skip leading blank lines, then the lines up to the next blank line, each
/// without trailing whitespace, joined by one space. Leading spaces stay (gix's `summary()`
/// trims them, git does not).
fn git_subject(message: &BStr) -> String {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let trim_end =
        |line: &'_ [u8]| -> usize { line.iter().rposition(|b| !is_space(b)).map_or(0, |i| i + 1) };
    let lines = message
        .split(|b| *b == b'\n')
        .map(|line| &line[..trim_end(line)])
        .skip_while(|line| line.is_empty())
        .take_while(|line| !line.is_empty());
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(line);
    }
    String::from_utf8_lossy(&out).into_owned()
}
