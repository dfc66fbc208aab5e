//! Local time as the feedback file and trim messages show it.

use gix::date::time::CustomFormat;
use gix::date::Time;

const STAMP: CustomFormat = CustomFormat::new("%Y-%m-%d %H:%M:%S");
const DATE: CustomFormat = CustomFormat::new("%Y-%m-%d");

/// Now, in the local time zone when it can be read (else UTC).
///
/// The offset comes from the C library (`TZ`, else `/etc/localtime`: one `stat`, and a read
/// when it changed), not from gix's `now_local_or_utc`: jiff, behind it, reads the whole
/// `/usr/share/zoneinfo` tree to name the zone (about 110 system calls), the biggest cost
/// left in an unchanged pass. Both give the same offset (`local_offset_is_jiffs`).
pub fn now() -> Time {
    let seconds = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    Time::new(seconds, local_offset(seconds).unwrap_or(0))
}

extern "C" {
    /// POSIX `tzset` (in glibc and musl; the `libc` crate does not declare it).
    fn tzset();
}

/// The local zone's offset from UTC at `seconds`, in seconds east; `None` when the C
/// library cannot say.
fn local_offset(seconds: i64) -> Option<i32> {
    // (`time_t` by inference: musl's libc marks the alias deprecated; it is 32 bits on
    // some targets, so the conversion is not useless everywhere)
    #[allow(clippy::useless_conversion)]
    let t = seconds.try_into().ok()?;
    // SAFETY: an all-zero `tm` is a valid value (integers and a null zone name pointer).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: tzset re-reads TZ and /etc/localtime when they changed (glibc's localtime_r
    // alone reads them only once per process; a daemon must see a new zone, as jiff does).
    // localtime_r writes only into `tm`; both are thread-safe.
    let out = unsafe {
        tzset();
        libc::localtime_r(&t, &mut tm)
    };
    if out.is_null() {
        return None;
    }
    i32::try_from(tm.tm_gmtoff).ok()
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
    fn local_offset_is_jiffs() {
        // The offset gix (jiff) would give for now, whatever zone this machine is in.
        let jiff = Time::now_local_or_utc();
        let ours = now();
        assert!(
            (ours.seconds - jiff.seconds).abs() <= 2,
            "{ours:?} {jiff:?}"
        );
        assert_eq!(ours.offset, jiff.offset);
        assert_eq!(local_offset(jiff.seconds), Some(jiff.offset));
    }

    #[test]
    fn formats_in_own_offset() {
        let t = Time::new(1_795_000_000, 3600); // 2026-11-18 11:06:40 UTC
        assert_eq!(stamp(t), "2026-11-18 12:06:40");
        assert_eq!(date(t), "2026-11-18");
    }
}
