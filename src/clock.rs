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

/// `t`'s weekday and minute of the day in its own offset, for `update_windows`.
pub fn local_minute(t: Time) -> crate::windows::LocalMinute {
    let local = t.seconds + i64::from(t.offset);
    let day = local.div_euclid(86_400);
    crate::windows::LocalMinute {
        // 1970-01-01 was a Thursday (Mon = 0).
        weekday: (day + 3).rem_euclid(7) as u8,
        minute: (local.rem_euclid(86_400) / 60) as u16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_minute_uses_the_offset() {
        // 2026-11-18 11:06:40 UTC is a Wednesday; at +01:00 it is 12:06.
        let m = local_minute(Time::new(1_795_000_000, 3600));
        assert_eq!((m.weekday, m.minute), (2, 12 * 60 + 6));
        // -02:00 on 1970-01-01 00:30 UTC is Wednesday 22:30.
        let m = local_minute(Time::new(1800, -7200));
        assert_eq!((m.weekday, m.minute), (2, 22 * 60 + 30));
    }

    #[test]
    fn formats_in_own_offset() {
        let t = Time::new(1_795_000_000, 3600); // 2026-11-18 11:06:40 UTC
        assert_eq!(stamp(t), "2026-11-18 12:06:40");
        assert_eq!(date(t), "2026-11-18");
    }
}
