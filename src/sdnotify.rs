//! systemd's notify protocol, spoken directly (no libsystemd): READY=1, STATUS=, WATCHDOG=1.
//! Does nothing when `NOTIFY_SOCKET` is unset (cron, `--once`, a shell).

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Send `state` (e.g. `"READY=1"`) to the service manager, if there is one.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|addr| sock.send_to_addr(state.as_bytes(), &addr))
    } else {
        sock.send_to(state.as_bytes(), &path)
    };
    if let Err(e) = sent {
        log::debug!("sd_notify {state}: {e}");
    }
}

/// Half the watchdog period systemd asked for (`WATCHDOG_USEC`), if any.
pub fn watchdog_period() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// WATCHDOG=1 from inside a long pass (between apps, while a hook runs): at most every few
/// seconds, but at least every `WATCHDOG_USEC`/2 when systemd asked for less (a hook may
/// legitimately run for `command_timeout`, longer than `WatchdogSec`). Transfers are fed
/// by their own thread (`git::transport::budget`).
pub fn watchdog_tick() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_MS: AtomicU64 = AtomicU64::new(0);
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let every = tick_interval(watchdog_period());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let last = LAST_MS.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= every.as_millis() as u64 {
        LAST_MS.store(now, Ordering::Relaxed);
        notify("WATCHDOG=1");
    }
}

/// How often `watchdog_tick` may ping: every 5 s, or every half watchdog period if shorter.
fn tick_interval(period: Option<Duration>) -> Duration {
    let most = Duration::from_secs(5);
    period.map_or(most, |p| p.min(most))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_follow_a_short_watchdog_period() {
        assert_eq!(tick_interval(None), Duration::from_secs(5));
        assert_eq!(
            tick_interval(Some(Duration::from_millis(500))),
            Duration::from_millis(500)
        );
        assert_eq!(
            tick_interval(Some(Duration::from_secs(60))),
            Duration::from_secs(5)
        );
    }
}
