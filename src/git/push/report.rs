//! The answer to a push: `report-status` (possibly inside side-band channel 1) and what
//! the server said on the other channels, turned into an outcome with its kind.

use std::io::Read;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use gix::protocol::transport::client::blocking_io::ExtendedBufRead;
use gix::protocol::transport::Protocol;

use crate::bail;
use crate::error::{Context, Kind, Result};
use crate::git::transport::Failure;

const HUNG_UP: &str = "read push report (the remote hung up; it may have refused the pack)";

/// Read `report-status` lines; also returns what the server said on the side band,
/// formatted as an error suffix (empty if nothing). A failed read gets its kind from the
/// transport's `failure` slot (see `transport::link`); a garbled report is `Invalid`.
pub fn read_report<'a>(
    reader: &mut Box<dyn ExtendedBufRead<'a> + Unpin + 'a>,
    sideband: bool,
    failure: &Failure,
    stop: &AtomicBool,
) -> (Result<Vec<String>>, String) {
    // The reader stopped at the flush ending the ref advertisement; go past it.
    reader.reset(Protocol::V1);
    if !sideband {
        let mut lines = Vec::new();
        while let Some(line) = reader.readline() {
            match line
                .map_err(|e| failure.wrap(e, stop, HUNG_UP))
                .and_then(|l| {
                    l.context("decode push report")
                        .map_err(|e| e.with_kind(Kind::Invalid))
                }) {
                Ok(line) => {
                    if let Some(data) = line.as_slice() {
                        lines.push(String::from_utf8_lossy(data).trim_end().to_string());
                    }
                }
                Err(e) => return (Err(e), String::new()),
            }
        }
        return (Ok(lines), String::new());
    }
    // Channel 2/3 (hook output, errors) is collected; channel 1 carries the report as
    // pkt-lines inside the side-band pkt-lines, up to the outer flush.
    let messages = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = Arc::clone(&messages);
    reader.set_progress_handler(Some(Box::new(move |_is_error: bool, text: &[u8]| {
        if let Ok(mut buf) = sink.lock() {
            buf.extend_from_slice(text);
            if !text.ends_with(b"\n") {
                buf.push(b'\n');
            }
        }
        std::ops::ControlFlow::Continue(())
    })));
    let mut band1 = Vec::new();
    let read = reader.read_to_end(&mut band1);
    reader.set_progress_handler(None);
    let remote_said = take_messages(&messages);
    // A server that stops reading mid-pack and exits resets a TCP connection, which can
    // destroy its last words (git's own client shows the same); say what that likely means.
    let report = read
        .map_err(|e| failure.wrap(e, stop, HUNG_UP))
        .and_then(|_| parse_pkt_lines(&band1).context("decode push report"));
    (report, remote_said)
}

/// Split side-band channel 1 data into its pkt-lines (the report is pkt-lines inside pkt-lines).
pub fn parse_pkt_lines(mut data: &[u8]) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    while data.len() >= 4 {
        let len = std::str::from_utf8(&data[..4])
            .ok()
            .and_then(|hex| usize::from_str_radix(hex, 16).ok());
        let Some(len) = len else {
            bail!(Kind::Invalid, "bad pkt-line length in push report");
        };
        if len == 0 {
            // A flush ends the report.
            break;
        }
        if len < 4 || len > data.len() {
            bail!(Kind::Invalid, "truncated pkt-line in push report");
        }
        lines.push(
            String::from_utf8_lossy(&data[4..len])
                .trim_end()
                .to_string(),
        );
        data = &data[len..];
    }
    Ok(lines)
}

/// Interpret `report-status`: `unpack ok|<reason>`, then `ok <ref>` or `ng <ref> <reason>`.
pub fn check_report(lines: &[String], name: &str) -> Result<()> {
    let mut lines = lines.iter();
    match lines.next().map(String::as_str) {
        Some("unpack ok") => {}
        Some(other) => {
            let reason = other.strip_prefix("unpack ").unwrap_or(other);
            bail!(
                Kind::Rejected,
                "the remote failed to unpack the pack: {}",
                crate::text::clip(reason)
            );
        }
        None => bail!(
            Kind::Network,
            "the remote sent no report (connection closed?)"
        ),
    }
    for line in lines {
        if let Some(rest) = line.strip_prefix("ok ") {
            if rest == name {
                return Ok(());
            }
        } else if let Some(rest) = line.strip_prefix("ng ") {
            let (ref_name, reason) = rest.split_once(' ').unwrap_or((rest, "no reason given"));
            if ref_name == name {
                // The server's words for a lost compare-and-swap (another pusher won).
                let moved = [
                    "cannot lock ref",
                    "fetch first",
                    "non-fast-forward",
                    "stale info",
                ]
                .iter()
                .any(|m| reason.contains(m));
                let kind = if moved {
                    Kind::RefMoved
                } else {
                    Kind::Rejected
                };
                bail!(
                    kind,
                    "rejected by the remote: {}",
                    crate::text::clip(reason)
                );
            }
        }
    }
    bail!(
        Kind::Invalid,
        "the remote's report does not mention the ref"
    )
}

/// The kind of a refusal once the server's side-band messages are read too: git words a lost
/// compare-and-swap found at the ref update itself as the bare report "failed to update ref",
/// with the reason ("cannot lock ref '<ref>': is at <id> but expected <id>") only on the side
/// band. That is a lost race (`RefMoved`), told without fetching to see whether the branch
/// moved. Any other refusal stays as it was, a stale lock file on the server included
/// ("cannot lock ref '<ref>': Unable to create '….lock': File exists"): the branch did not
/// move, so it is not worth a whole budget of retries.
pub fn with_messages(kind: Kind, remote_said: &str) -> Kind {
    let lost = remote_said.contains("cannot lock ref")
        && (remote_said.contains("but expected")
            || remote_said.contains("reference already exists"));
    if kind == Kind::Rejected && lost {
        Kind::RefMoved
    } else {
        kind
    }
}

/// Messages the server sent on the side band, formatted as an error suffix.
pub fn take_messages(messages: &Mutex<Vec<u8>>) -> String {
    let text = messages
        .lock()
        .map(|buf| String::from_utf8_lossy(&buf).trim().to_string())
        .unwrap_or_default();
    if text.is_empty() {
        String::new()
    } else {
        format!(" (remote: {})", text.lines().collect::<Vec<_>>().join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_parsing() {
        let ok = vec!["unpack ok".to_string(), "ok refs/heads/x".to_string()];
        assert!(check_report(&ok, "refs/heads/x").is_ok());
        let ng = vec![
            "unpack ok".to_string(),
            "ng refs/heads/x pre-receive hook declined".to_string(),
        ];
        let e = check_report(&ng, "refs/heads/x").unwrap_err();
        assert!(e.message().contains("pre-receive hook declined"), "{e}");
        let unpack = vec!["unpack index-pack abnormal exit".to_string()];
        let e = check_report(&unpack, "refs/heads/x").unwrap_err();
        assert!(e.message().contains("index-pack abnormal exit"), "{e}");
        assert!(check_report(&[], "refs/heads/x").is_err());
    }

    #[test]
    fn report_kinds() {
        let kind = |lines: &[&str]| {
            let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            check_report(&lines, "refs/heads/x").unwrap_err().kind()
        };
        assert_eq!(
            kind(&["unpack ok", "ng refs/heads/x pre-receive hook declined"]),
            Kind::Rejected
        );
        assert_eq!(
            kind(&[
                "unpack ok",
                "ng refs/heads/x cannot lock ref 'refs/heads/x'"
            ]),
            Kind::RefMoved
        );
        assert_eq!(kind(&["unpack index-pack abnormal exit"]), Kind::Rejected);
        assert_eq!(kind(&[]), Kind::Network);
        assert_eq!(kind(&["unpack ok", "ok refs/heads/other"]), Kind::Invalid);
    }

    #[test]
    fn a_lock_failure_on_the_side_band_is_a_lost_race() {
        let said = " (remote: error: cannot lock ref 'refs/heads/x': is at 9c0c but expected 88de)";
        assert_eq!(with_messages(Kind::Rejected, said), Kind::RefMoved);
        assert_eq!(
            with_messages(Kind::Rejected, " (remote: pre-receive hook declined)"),
            Kind::Rejected
        );
        assert_eq!(with_messages(Kind::Rejected, ""), Kind::Rejected);
        // (another device created the branch first)
        let created = " (remote: error: cannot lock ref 'refs/heads/x': reference already exists)";
        assert_eq!(with_messages(Kind::Rejected, created), Kind::RefMoved);
        // a stale lock file: the branch did not move
        let stale = " (remote: error: cannot lock ref 'refs/heads/x': Unable to create '/srv/x.git/refs/heads/x.lock': File exists.)";
        assert_eq!(with_messages(Kind::Rejected, stale), Kind::Rejected);
        // (only a refusal is read again: a dropped connection stays one)
        assert_eq!(with_messages(Kind::Network, said), Kind::Network);
    }

    #[test]
    fn nested_pkt_lines() {
        let data = b"000eunpack ok\n0014ok refs/heads/x\n0000";
        assert_eq!(
            parse_pkt_lines(data).unwrap(),
            vec!["unpack ok".to_string(), "ok refs/heads/x".to_string()]
        );
        let err = parse_pkt_lines(b"00ffshort").unwrap_err();
        assert_eq!(err.kind(), Kind::Invalid);
        assert_eq!(
            parse_pkt_lines(b"zzzzjunk").unwrap_err().kind(),
            Kind::Invalid
        );
    }
}
