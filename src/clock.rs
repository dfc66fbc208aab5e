//! Local time as the feedback file and trim messages show it.

use gix::date::time::CustomFormat;
use gix::date::Time;

const STAMP: CustomFormat = CustomFormat::new("%Y-%m-%d %H:%M:%S");
const DATE: CustomFormat = CustomFormat::new("%Y-%m-%d");

/// Now, in the local time zone when it can be read (else UTC).
pub fn now() -> Time {
    Time::now_local_or_utc()
}

/// `YYYY-MM-DD HH:MM:SS` in `t`'s own offset.
pub fn stamp(t: Time) -> String {
    t.format_or_unix(STAMP)
}

/// `YYYY-MM-DD` in `t`'s own offset.
pub fn date(t: Time) -> String {
    t.format_or_unix(DATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_own_offset() {
        let t = Time::new(1_795_000_000, 3600); // 2026-11-18 11:06:40 UTC
        assert_eq!(stamp(t), "2026-11-18 12:06:40");
        assert_eq!(date(t), "2026-11-18");
    }
}
