//! `update_windows` (SPEC §12): when changes may start. Pure: parsing and "is this local
//! minute inside a window?".
//!
//! Syntax: `DAYS HH:MM-HH:MM`, DAYS one day (`Mon`), a range (`Mon-Fri`, `Fri-Mon` wraps) or a
//! comma list of either (`Sat,Sun`, `Mon-Wed,Fri`). The end is inclusive to the minute; an end
//! before the start runs into the next day (`Fri 22:00-02:00` covers Saturday 00:00-02:00).

use std::fmt;

/// Days of the week, Monday = 0 (as ISO 8601 and `chrono` count).
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const EXAMPLE: &str = "\"Mon-Fri 02:00-04:00\"";

/// One window: the days it starts on and its minutes of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Bit `d` set: the window starts on day `d` (Mon = 0).
    days: u8,
    start: u16,
    end: u16,
}

/// A local time as the window check needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMinute {
    /// Mon = 0 .. Sun = 6.
    pub weekday: u8,
    /// Minutes since local midnight, 0..1440.
    pub minute: u16,
}

/// Why a window text is not usable; `Display` names the problem and shows an example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowError(String);

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; write it like {EXAMPLE}", self.0)
    }
}

impl Window {
    /// Parse one window text.
    pub fn parse(text: &str) -> Result<Window, WindowError> {
        let shown = crate::text::clip(text.trim());
        let bad = |what: &str| WindowError(format!("\"{shown}\": {what}"));
        let mut parts = text.split_whitespace();
        let (Some(days), Some(times), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected DAYS and HH:MM-HH:MM separated by a space"));
        };
        let days = parse_days(days).ok_or_else(|| {
            bad("unknown days (use Mon Tue Wed Thu Fri Sat Sun, a range Mon-Fri or a list Sat,Sun)")
        })?;
        let (start, end) = times
            .split_once('-')
            .ok_or_else(|| bad("expected a time range HH:MM-HH:MM"))?;
        let start = parse_time(start).ok_or_else(|| bad("bad start time (HH:MM, 00:00-23:59)"))?;
        let end = parse_time(end).ok_or_else(|| bad("bad end time (HH:MM, 00:00-23:59)"))?;
        Ok(Window { days, start, end })
    }

    /// Whether `now` is inside this window (end inclusive to the minute).
    pub fn contains(&self, now: LocalMinute) -> bool {
        let starts_on = |d: u8| self.days & (1 << d) != 0;
        if self.start <= self.end {
            starts_on(now.weekday) && (self.start..=self.end).contains(&now.minute)
        } else {
            // Runs past midnight: the evening part on a start day, the morning part on the
            // day after one.
            let yesterday = (now.weekday + 6) % 7;
            (starts_on(now.weekday) && now.minute >= self.start)
                || (starts_on(yesterday) && now.minute <= self.end)
        }
    }
}

impl fmt::Display for Window {
    /// The window as it could be written (`Mon-Fri 02:00-04:00`), for reports.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let mut d = 0;
        while d < 7 {
            if self.days & (1 << d) == 0 {
                d += 1;
                continue;
            }
            let start = d;
            while d + 1 < 7 && self.days & (1 << (d + 1)) != 0 {
                d += 1;
            }
            parts.push(match d - start {
                0 => DAYS[start].to_string(),
                1 => format!("{},{}", DAYS[start], DAYS[d]),
                _ => format!("{}-{}", DAYS[start], DAYS[d]),
            });
            d += 1;
        }
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{} {}-{}", parts.join(","), hm(self.start), hm(self.end))
    }
}

/// Parse every window of a list (the `update_windows` key). Empty list = no restriction.
pub fn parse_all(texts: &[String]) -> Result<Vec<Window>, WindowError> {
    texts.iter().map(|t| Window::parse(t)).collect()
}

/// The windows that apply to an app: its own list when it has one (even an empty one, which
/// lifts the device default), else the device default of the agent config.
pub fn effective<'a>(app: Option<&'a [Window]>, device: &'a [Window]) -> &'a [Window] {
    app.unwrap_or(device)
}

/// Whether changes may start at `now`: no windows means always.
pub fn open_at(windows: &[Window], now: LocalMinute) -> bool {
    windows.is_empty() || windows.iter().any(|w| w.contains(now))
}

fn day(name: &str) -> Option<u8> {
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(name))
        .map(|i| i as u8)
}

fn parse_days(text: &str) -> Option<u8> {
    let mut mask = 0u8;
    for item in text.split(',') {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut d = a;
                loop {
                    mask |= 1 << d;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => mask |= 1 << day(item)?,
        }
    }
    Some(mask)
}

fn parse_time(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(weekday: u8, hh: u16, mm: u16) -> LocalMinute {
        LocalMinute {
            weekday,
            minute: hh * 60 + mm,
        }
    }

    #[test]
    fn weekday_range_contains_its_days_and_minutes() {
        let w = Window::parse("Mon-Fri 02:00-04:00").unwrap();
        assert!(w.contains(at(0, 2, 0)));
        assert!(w.contains(at(4, 3, 59)));
        assert!(!w.contains(at(5, 3, 0)), "Saturday is outside");
        assert!(!w.contains(at(0, 1, 59)));
    }

    #[test]
    fn end_is_inclusive_to_the_minute() {
        let w = Window::parse("Mon 02:00-04:00").unwrap();
        assert!(w.contains(at(0, 4, 0)));
        assert!(!w.contains(at(0, 4, 1)));
    }

    #[test]
    fn comma_list_of_days() {
        let w = Window::parse("Sat,Sun 00:00-23:59").unwrap();
        assert!(w.contains(at(5, 0, 0)) && w.contains(at(6, 23, 59)));
        assert!(!w.contains(at(0, 12, 0)));
    }

    #[test]
    fn end_before_start_runs_into_the_next_day() {
        let w = Window::parse("Fri 22:00-02:00").unwrap();
        assert!(w.contains(at(4, 23, 0)));
        assert!(
            w.contains(at(5, 1, 30)),
            "Saturday morning belongs to Friday's window"
        );
        assert!(!w.contains(at(5, 23, 0)), "Saturday evening does not");
        assert!(!w.contains(at(4, 1, 0)), "Friday morning does not");
    }

    #[test]
    fn sunday_window_past_midnight_reaches_monday() {
        let w = Window::parse("Sun 23:00-01:00").unwrap();
        assert!(w.contains(at(0, 0, 30)));
    }

    #[test]
    fn wrapping_day_range() {
        let w = Window::parse("Fri-Mon 10:00-11:00").unwrap();
        for d in [4, 5, 6, 0] {
            assert!(w.contains(at(d, 10, 30)), "day {d}");
        }
        assert!(!w.contains(at(1, 10, 30)));
    }

    #[test]
    fn no_windows_means_always_open() {
        assert!(open_at(&[], at(2, 12, 0)));
        let ws = parse_all(&["Mon 01:00-02:00".into(), "Wed 12:00-12:00".into()]).unwrap();
        assert!(open_at(&ws, at(2, 12, 0)));
        assert!(!open_at(&ws, at(2, 12, 1)));
    }

    #[test]
    fn bad_input_names_the_problem_and_shows_an_example() {
        for bad in [
            "",
            "Mon",
            "Mon 2:00-04:00",
            "Mon 02:00",
            "Mon 24:00-01:00",
            "Mon 02:60-03:00",
            "Mo-Fr 02:00-04:00",
            "Mon 02:00-04:00 extra",
            "Mon,,Tue 02:00-04:00",
        ] {
            let e = Window::parse(bad).unwrap_err().to_string();
            assert!(e.contains("Mon-Fri 02:00-04:00"), "{bad}: {e}");
        }
    }

    #[test]
    fn an_apps_list_replaces_the_device_default() {
        let device = parse_all(&["Sat 00:00-23:59".into()]).unwrap();
        let app = parse_all(&["Mon 00:00-23:59".into()]).unwrap();
        assert_eq!(effective(Some(&app), &device), &app[..]);
        assert_eq!(effective(None, &device), &device[..]);
        assert!(
            effective(Some(&[]), &device).is_empty(),
            "an empty list lifts the default"
        );
    }

    #[test]
    fn windows_show_as_written() {
        for text in [
            "Mon-Fri 02:00-04:00",
            "Sat,Sun 00:00-23:59",
            "Wed 22:00-02:00",
        ] {
            assert_eq!(Window::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            Window::parse("Fri-Mon 10:00-11:00").unwrap().to_string(),
            "Mon,Fri-Sun 10:00-11:00"
        );
    }

    #[test]
    fn day_names_ignore_case() {
        assert!(Window::parse("mon-FRI 02:00-04:00").is_ok());
    }
}
