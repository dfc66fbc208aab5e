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

/// WATCHDOG=1 from inside a long pass (between apps, while a hook runs), at most every few
/// seconds: a hook may legitimately run for `command_timeout`, longer than `WatchdogSec`.
pub fn watchdog_tick() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= 5 {
        LAST.store(now, Ordering::Relaxed);
        notify("WATCHDOG=1");
    }
}
