//! OpenSSH allowed-signers files (ssh-keygen(1) "ALLOWED SIGNERS", git's
//! `gpg.ssh.allowedSignersFile`): one `principals [options] keytype base64 [comment]` per
//! line. Options honoured: `namespaces="…"`, `valid-after="…"`, `valid-before="…"`;
//! `cert-authority` is refused (certificates are not verified here). Pure: text in.

use ssh_key::{Algorithm, EcdsaCurve, HashAlg, PublicKey};

use crate::error::{Error, Kind, Result};
use crate::text::clip;

/// One usable line of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Signer {
    /// 1-based line number in the file (for messages).
    pub line: usize,
    pub principals: String,
    pub key: PublicKey,
    /// `SHA256:<base64>` as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// `namespaces=` pattern list; `None`: every namespace.
    pub namespaces: Option<String>,
    /// Seconds since the epoch (`valid-after=`, `valid-before=`).
    pub valid_after: Option<i64>,
    pub valid_before: Option<i64>,
}

impl Signer {
    /// Why this line does not allow a `git` signature made at `signed_at` (the commit's
    /// committer time, as git passes it to ssh-keygen) and checked `now`; `None`: it does.
    /// An expired key (valid-before passed by now) is refused even for a back-dated commit.
    pub fn refusal(&self, signed_at: Option<i64>, now: i64) -> Option<String> {
        let line = self.line;
        if let Some(ns) = &self.namespaces {
            if !pattern_list_matches(ns, "git") {
                return Some(format!(
                    "allowed_signers line {line}: namespaces=\"{}\" does not include git",
                    clip(ns)
                ));
            }
        }
        if let Some(after) = self.valid_after {
            if signed_at.is_none_or(|t| t < after) {
                return Some(format!(
                    "allowed_signers line {line}: commit dated before valid-after"
                ));
            }
        }
        if let Some(before) = self.valid_before {
            if signed_at.is_none_or(|t| t > before) || now > before {
                return Some(format!(
                    "allowed_signers line {line}: valid-before has passed"
                ));
            }
        }
        None
    }
}

/// Parse an allowed-signers file. `file` names it in errors; `utc_offset` (seconds east of
/// UTC) reads timestamps without a `Z` as local time, as ssh-keygen does. Every error is
/// `Kind::Config` and names the file and the line.
pub fn parse(file: &str, text: &str, utc_offset: i32) -> Result<Vec<Signer>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let signer = parse_line(line, i + 1, utc_offset).map_err(|why| {
            Error::new(
                Kind::Config,
                format!(
                    "{file}: (key `allowed_signers`) line {}: {why}; a line reads `dev@example.com ssh-ed25519 AAAA…` (see ssh-keygen(1), ALLOWED SIGNERS)",
                    i + 1
                ),
            )
        })?;
        out.push(signer);
    }
    if out.is_empty() {
        return Err(Error::new(
            Kind::Config,
            format!("{file}: (key `allowed_signers`) lists no key; add `dev@example.com ssh-ed25519 AAAA…`"),
        ));
    }
    Ok(out)
}

fn parse_line(line: &str, n: usize, utc_offset: i32) -> std::result::Result<Signer, String> {
    let (principals, rest) = token(line)?;
    let rest = rest.trim_start();
    if rest.is_empty() {
        return Err("no key after the principals".into());
    }
    // Options come before the key when the next word is not a key type.
    let (options, key_text) = if is_key_type(rest.split_whitespace().next().unwrap_or("")) {
        ("", rest)
    } else {
        let (opts, after) = token(rest)?;
        (opts, after.trim_start())
    };
    let mut signer_opts = (None, None, None);
    for opt in split_unquoted(options, ',') {
        let (name, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(unquote(v)?)),
            None => (opt, None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("cert-authority", _) => {
                return Err("cert-authority lines are not supported (certificates are not verified); list the signing keys themselves".into())
            }
            ("namespaces", Some(v)) => signer_opts.0 = Some(v),
            ("valid-after", Some(v)) => signer_opts.1 = Some(timestamp(&v, utc_offset)?),
            ("valid-before", Some(v)) => signer_opts.2 = Some(timestamp(&v, utc_offset)?),
            _ => {
                return Err(format!(
                    "unsupported option `{}` (known: namespaces, valid-after, valid-before)",
                    clip(opt)
                ))
            }
        }
    }
    if key_text.is_empty() {
        return Err("no key after the options".into());
    }
    let key = PublicKey::from_openssh(key_text)
        .map_err(|e| format!("cannot read the public key ({e})"))?;
    check_algorithm(&key.algorithm())?;
    Ok(Signer {
        line: n,
        principals: principals.to_string(),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        key,
        namespaces: signer_opts.0,
        valid_after: signer_opts.1,
        valid_before: signer_opts.2,
    })
}

fn is_key_type(word: &str) -> bool {
    word.starts_with("ssh-")
        || word.starts_with("ecdsa-sha2-")
        || word.starts_with("sk-ssh-")
        || word.starts_with("sk-ecdsa-")
        || word.starts_with("rsa-sha2-")
}

/// The key types the spec lists (p521, dsa and certificates are refused by name).
fn check_algorithm(alg: &Algorithm) -> std::result::Result<(), String> {
    match alg {
        Algorithm::Ed25519
        | Algorithm::SkEd25519
        | Algorithm::SkEcdsaSha2NistP256
        | Algorithm::Rsa { .. }
        | Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256 | EcdsaCurve::NistP384,
        } => Ok(()),
        other => Err(format!(
            "key type {} is not supported (use ssh-ed25519, ecdsa-sha2-nistp256/384, rsa or sk-ssh-ed25519)",
            other.as_str()
        )),
    }
}

/// The first whitespace-delimited word (quotes group spaces), and what follows.
fn token(s: &str) -> std::result::Result<(&str, &str), String> {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return Ok((strip_quotes(&s[..i]), &s[i..])),
            _ => {}
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    Ok((strip_quotes(s), ""))
}

fn strip_quotes(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(s)
}

fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut start) = (false, 0);
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    if start < s.len() {
        parts.push(&s[start..]);
    }
    parts
}

fn unquote(v: &str) -> std::result::Result<String, String> {
    match v.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) if !inner.contains('"') => Ok(inner.to_string()),
        _ => Err(format!("option value {} must be in double quotes", clip(v))),
    }
}

/// `YYYYMMDD[HHMM[SS]][Z]` → seconds since the epoch (local time unless `Z`).
fn timestamp(v: &str, utc_offset: i32) -> std::result::Result<i64, String> {
    let bad = || format!("timestamp \"{}\" is not YYYYMMDD[HHMM[SS]][Z]", clip(v));
    let (digits, utc) = match v.strip_suffix(['Z', 'z']) {
        Some(d) => (d, true),
        None => (v, false),
    };
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let num =
        |r: std::ops::Range<usize>| digits.get(r).map_or(0, |s| s.parse::<i64>().unwrap_or(0));
    let (y, mo, d) = (num(0..4), num(4..6), num(6..8));
    let (h, mi, s) = (num(8..10), num(10..12), num(12..14));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    Ok(if utc {
        secs
    } else {
        secs - i64::from(utc_offset)
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// ssh's pattern-list (ssh_config(5) PATTERNS): comma-separated `*`/`?` globs, `!` negates;
/// a negated match refuses at once, else any positive match accepts.
pub fn pattern_list_matches(list: &str, value: &str) -> bool {
    let mut matched = false;
    for pat in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match pat.strip_prefix('!') {
            Some(neg) if glob(neg.as_bytes(), value.as_bytes()) => return false,
            Some(_) => {}
            None => matched |= glob(pat.as_bytes(), value.as_bytes()),
        }
    }
    matched
}

fn glob(p: &[u8], v: &[u8]) -> bool {
    match (p.first(), v.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], v) || (!v.is_empty() && glob(p, &v[1..])),
        (Some(b'?'), Some(_)) => glob(&p[1..], &v[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &v[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOxLzq0WUzTbDampfu9o8/NMe+U4VSC/f4HdzLNmjuig";

    fn p(text: &str) -> Result<Vec<Signer>> {
        parse("/etc/gitops-agent/allowed_signers", text, 0)
    }

    #[test]
    fn a_plain_line_gives_principals_key_and_fingerprint() {
        let s = p(&format!("# comment\n\ndev@example.com {ED} laptop\n")).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].principals, "dev@example.com");
        assert_eq!(s[0].line, 3);
        assert!(s[0].fingerprint.starts_with("SHA256:"));
        assert!(!s[0].fingerprint.ends_with('='));
        assert_eq!(s[0].refusal(Some(0), 0), None);
    }

    #[test]
    fn options_are_read() {
        let s = p(&format!(
            "a@x,b@x namespaces=\"git,file\",valid-after=\"20240101\",valid-before=\"20300101Z\" {ED}"
        ))
        .unwrap();
        assert_eq!(s[0].principals, "a@x,b@x");
        assert_eq!(s[0].namespaces.as_deref(), Some("git,file"));
        assert_eq!(s[0].valid_after, Some(1_704_067_200));
        assert_eq!(s[0].valid_before, Some(1_893_456_000));
    }

    #[test]
    fn quoted_principals_may_hold_spaces() {
        let s = p(&format!("\"dev one@x\" {ED}")).unwrap();
        assert_eq!(s[0].principals, "dev one@x");
    }

    #[test]
    fn namespaces_without_git_refuse() {
        let s = p(&format!("a@x namespaces=\"file\" {ED}")).unwrap();
        assert!(s[0].refusal(Some(0), 0).unwrap().contains("namespaces"));
        let s = p(&format!("a@x namespaces=\"*,!git\" {ED}")).unwrap();
        assert!(s[0].refusal(Some(0), 0).is_some());
        let s = p(&format!("a@x namespaces=\"g*\" {ED}")).unwrap();
        assert!(s[0].refusal(Some(0), 0).is_none());
    }

    #[test]
    fn valid_after_is_judged_at_the_commit_time() {
        let s = p(&format!("a@x valid-after=\"20240101Z\" {ED}")).unwrap();
        assert!(s[0].refusal(Some(1_704_067_199), 2_000_000_000).is_some());
        assert!(s[0].refusal(Some(1_704_067_200), 2_000_000_000).is_none());
        assert!(s[0].refusal(None, 2_000_000_000).is_some());
    }

    #[test]
    fn valid_before_is_judged_at_the_commit_time_and_now() {
        let s = p(&format!("a@x valid-before=\"20240101Z\" {ED}")).unwrap();
        assert!(s[0].refusal(Some(1_704_067_200), 1_704_067_200).is_none());
        assert!(s[0].refusal(Some(1_704_067_201), 1_704_067_200).is_some());
        // a back-dated commit signed after the key expired
        assert!(s[0].refusal(Some(1_600_000_000), 1_704_067_201).is_some());
    }

    #[test]
    fn local_timestamps_use_the_offset() {
        let s = parse("f", &format!("a@x valid-after=\"202401010100\" {ED}"), 3600).unwrap();
        assert_eq!(s[0].valid_after, Some(1_704_067_200));
    }

    #[test]
    fn cert_authority_is_refused_clearly() {
        let e = p(&format!("*@x cert-authority {ED}")).unwrap_err();
        assert_eq!(e.kind(), Kind::Config);
        let e = e.to_string();
        assert!(
            e.contains("allowed_signers: (key `allowed_signers`) line 1"),
            "{e}"
        );
        assert!(e.contains("cert-authority"), "{e}");
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        for text in [
            "a@x".to_string(),
            format!("a@x valid-after=\"2024\" {ED}"),
            format!("a@x valid-after=20240101 {ED}"),
            format!("a@x bogus {ED}"),
            "a@x ssh-ed25519 !!!notbase64".to_string(),
            "a@x ssh-dss AAAAB3NzaC1kc3MAAACBAP".to_string(),
            "\"a@x ssh-ed25519 AAAA".to_string(),
            String::new(),
        ] {
            let e = p(&text).unwrap_err();
            assert_eq!(e.kind(), Kind::Config, "{text}");
            assert!(
                e.to_string()
                    .starts_with("/etc/gitops-agent/allowed_signers: (key `allowed_signers`)"),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn long_values_are_not_echoed_whole() {
        let e = p(&format!("a@x valid-after=\"{}\" {ED}", "9".repeat(5000)))
            .unwrap_err()
            .to_string();
        assert!(e.len() < 1000, "{}", e.len());
    }

    #[test]
    fn pattern_lists_as_ssh() {
        assert!(pattern_list_matches("git", "git"));
        assert!(pattern_list_matches("file,git", "git"));
        assert!(pattern_list_matches("g?t", "git"));
        assert!(!pattern_list_matches("file", "git"));
        assert!(!pattern_list_matches("*,!git", "git"));
        assert!(!pattern_list_matches("", "git"));
    }
}
