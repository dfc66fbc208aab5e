//! Delivering the outbox after a pass: each waiting event, oldest first, to every configured
//! sink it has not reached yet — `on_event_command` (`sh -c`, the JSON on stdin,
//! `GITOPS_EVENT` set, the hook environment, its own process group) and `webhook_url` (a
//! POST through the same proxy, CA and timeout rules as git over https, with
//! `Authorization: Bearer` from `webhook_token_file`). The whole phase ends within
//! `network_timeout`, and at once on SIGTERM: a dead receiver never holds a pass. A sink that
//! fails is not asked again this pass (its events stay in order for the next one).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::outbox::{self, Entry};
use crate::config::events::{read_token, Notify};
use crate::config::AgentConfig;
use crate::error::{Error, Kind, Result};
use crate::git::http::Client;
use crate::hook_env::{hook_env, HookContext};
use crate::procgroup::Group;
use crate::url::Url;

/// Labels of the sinks, as recorded per event.
const COMMAND: &str = "command";
const WEBHOOK: &str = "webhook";
/// After SIGTERM (or the deadline) a command gets this long before SIGKILL.
const GRACE: Duration = Duration::from_secs(1);
/// How often a waiting request looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// Deliver what the outbox holds under `dir`, within `cfg.network_timeout` in all.
pub fn run(cfg: &AgentConfig, dir: &Path, stop: &AtomicBool) {
    let pending = outbox::pending(dir);
    if pending.is_empty() {
        return;
    }
    let deadline = Instant::now() + cfg.network_timeout;
    let sinks = sinks(&cfg.notify);
    // The webhook's client and token, made once per phase; the token file is read here, at
    // use, so a rotated token is picked up without a restart.
    let mut webhook = None;
    let mut down: Vec<&str> = Vec::new();
    let mut delivered = 0;
    for mut entry in pending {
        for sink in &sinks {
            if entry.delivered.contains(*sink) || down.contains(sink) {
                continue;
            }
            if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
                log::warn!(
                    "events: {} wait in the outbox for the next pass ({})",
                    waiting(dir),
                    if stop.load(Ordering::SeqCst) {
                        "stopping"
                    } else {
                        "network_timeout reached"
                    }
                );
                return;
            }
            let result = match *sink {
                COMMAND => run_command(cfg, &entry, deadline, stop),
                _ => post(cfg, &mut webhook, &entry, deadline, stop),
            };
            match result {
                Ok(()) => {
                    let rest = sinks
                        .iter()
                        .filter(|s| *s != sink && !entry.delivered.contains(**s))
                        .count();
                    let recorded = if rest == 0 {
                        outbox::remove(&entry)
                    } else {
                        outbox::mark_delivered(&mut entry, sink)
                    };
                    if let Err(e) = recorded {
                        log::error!("events: {e}");
                    }
                    delivered += 1;
                }
                Err(e) => {
                    log::warn!(
                        "events: {} {} not delivered to the {sink}, kept in the outbox: {e}",
                        entry.event,
                        entry.name
                    );
                    down.push(sink);
                }
            }
        }
    }
    let left = crate::state::names_in(dir).len();
    if delivered > 0 || left > 0 {
        log::info!("events: {delivered} deliveries made; {left} events wait in the outbox");
    }
}

/// The configured sinks, command first.
fn sinks(n: &Notify) -> Vec<&'static str> {
    let mut v = Vec::new();
    if n.on_event_command.is_some() {
        v.push(COMMAND);
    }
    if n.webhook_url.is_some() {
        v.push(WEBHOOK);
    }
    v
}

fn waiting(dir: &Path) -> String {
    match crate::state::names_in(dir).len() {
        1 => "1 event".into(),
        n => format!("{n} events"),
    }
}

/// `on_event_command` for one event: exit 0 within the phase's time is a delivery.
fn run_command(
    cfg: &AgentConfig,
    entry: &Entry,
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<()> {
    let Some(command) = &cfg.notify.on_event_command else {
        return Ok(());
    };
    let field = |k: &str| field(&entry.json, k).unwrap_or_default();
    let ctx = HookContext {
        infra: cfg.infra_name.clone(),
        app: field("app"),
        commit: field("commit"),
        previous_commit: None,
        reason: entry.event.clone(),
    };
    let mut env = hook_env(std::env::vars_os(), &ctx);
    env.push(("GITOPS_EVENT".into(), entry.event.clone().into()));
    // Its output goes to the agent's stderr (the journal), like a hook's.
    let stderr = || -> Stdio {
        use std::os::fd::AsFd;
        std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map_or(Stdio::null(), Stdio::from)
    };
    let mut group = Group::spawn(
        Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir("/")
            .env_clear()
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(stderr())
            .stderr(stderr()),
    )
    .map_err(|e| Error::msg(format!("on_event_command: cannot start `sh -c`: {e}")))?;
    if let Some(mut stdin) = group.child().stdin.take() {
        // One small JSON line fits the pipe; a command that does not read it still runs.
        let _ = stdin.write_all(format!("{}\n", entry.json).as_bytes());
    }
    let ending = group.wait(
        deadline,
        Some(stop),
        GRACE,
        &mut crate::sdnotify::watchdog_tick,
    );
    let status = group.finish();
    match ending {
        crate::procgroup::Ending::Exited => {}
        crate::procgroup::Ending::TimedOut => crate::bail!(
            Kind::Network,
            "on_event_command killed: the delivery phase is bounded by network_timeout = {} s",
            cfg.network_timeout.as_secs()
        ),
        crate::procgroup::Ending::Stopped => {
            crate::bail!(Kind::Interrupted, "on_event_command stopped: shutting down")
        }
    }
    match status.and_then(|s| s.code()) {
        Some(0) => Ok(()),
        Some(code) => Err(Error::msg(format!("on_event_command exited {code}"))),
        None => Err(Error::msg("on_event_command ended by a signal")),
    }
}

/// The webhook's client and the header value, made at the first POST of a phase.
struct Webhook {
    url: Url,
    client: Client,
    bearer: Option<String>,
}

fn webhook(cfg: &AgentConfig) -> Result<Webhook> {
    let url = Url::new(cfg.notify.webhook_url.clone().unwrap_or_default());
    let shown = &url;
    let parsed = gix::url::parse(gix::bstr::BStr::new(url.secret().as_bytes())).map_err(|_| {
        Error::new(
            Kind::Config,
            format!("webhook_url {shown}: not an http(s) url"),
        )
    })?;
    let client = Client::new(
        parsed.scheme.as_str(),
        parsed.host().unwrap_or_default(),
        shown,
        cfg.network_timeout,
        cfg.https_ca_file.as_deref(),
        |name| std::env::var(name).ok(),
    )?;
    let bearer = match &cfg.notify.webhook_token_file {
        Some(file) => Some(format!("Bearer {}", read_token(file)?)),
        None => None,
    };
    Ok(Webhook {
        url,
        client,
        bearer,
    })
}

/// POST one event; a 2xx answer is a delivery. The request runs on its own thread so a
/// SIGTERM never waits for it (a request cut short is sent again next pass).
fn post(
    cfg: &AgentConfig,
    slot: &mut Option<Webhook>,
    entry: &Entry,
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<()> {
    if slot.is_none() {
        *slot = Some(webhook(cfg)?);
    }
    let Some(hook) = slot.as_ref() else {
        return Ok(());
    };
    let shown = &hook.url;
    let left = deadline.saturating_duration_since(Instant::now());
    let mut req = hook
        .client
        .request("POST", hook.url.secret())
        .timeout(left)
        .set("Content-Type", "application/json")
        .set("X-Gitops-Event", &entry.event);
    if let Some(bearer) = &hook.bearer {
        req = req.set("Authorization", bearer);
    }
    let body = entry.json.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(req.send_string(&body).map(|r| r.status()));
    });
    let answer = loop {
        match rx.recv_timeout(POLL) {
            Ok(answer) => break answer,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if stop.load(Ordering::SeqCst) {
                    crate::bail!(Kind::Interrupted, "POST {shown}: stopped: shutting down");
                }
                // ureq's own deadline ends it; this is the backstop.
                if Instant::now() >= deadline + Duration::from_secs(1) {
                    crate::bail!(
                        Kind::Network,
                        "POST {shown}: no answer within network_timeout = {} s",
                        cfg.network_timeout.as_secs()
                    );
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                crate::bail!(
                    Kind::Network,
                    "POST {shown}: the request ended without an answer"
                )
            }
        }
    };
    match answer {
        Ok(code) if (200..300).contains(&code) => Ok(()),
        Ok(code) => Err(Error::new(
            Kind::Rejected,
            format!("POST {shown}: answered HTTP {code} (redirects are not followed: point webhook_url at the final address)"),
        )),
        Err(ureq::Error::Status(code, _)) => Err(Error::new(
            if code >= 500 { Kind::Network } else { Kind::Rejected },
            format!(
                "POST {shown}: answered HTTP {code}{}",
                if code == 401 || code == 403 {
                    " (check webhook_token_file)"
                } else {
                    ""
                }
            ),
        )),
        Err(ureq::Error::Transport(_)) if Instant::now() >= deadline => Err(Error::new(
            Kind::Network,
            format!(
                "POST {shown}: no complete answer within network_timeout = {} s (it bounds the delivery of all events of a pass)",
                cfg.network_timeout.as_secs()
            ),
        )),
        Err(ureq::Error::Transport(t)) => Err(Error::new(
            Kind::Network,
            format!(
                "POST {shown}: {}{}",
                t.kind(),
                t.message()
                    .map(|m| format!(": {}", crate::text::clip(m)))
                    .unwrap_or_default(),
            ),
        )),
    }
}

/// The string value of `"key":"…"` in an event's JSON (as written by `json::object`).
fn field(json: &str, key: &str) -> Option<String> {
    let start = json.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let mut out = String::new();
    let mut chars = json[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::json;

    #[test]
    fn fields_are_read_back_from_the_json() {
        let j = json::object(&[
            ("event", Some("app_failed")),
            ("app", Some("we\"b\n\u{1}")),
            ("commit", None),
        ]);
        assert_eq!(field(&j, "app").as_deref(), Some("we\"b\n\u{1}"));
        assert_eq!(field(&j, "event").as_deref(), Some("app_failed"));
        assert_eq!(field(&j, "commit"), None);
    }

    #[test]
    fn command_sink_comes_first() {
        let n = Notify {
            on_event_command: Some("x".into()),
            webhook_url: Some("https://h/x".into()),
            webhook_token_file: None,
        };
        assert_eq!(sinks(&n), [COMMAND, WEBHOOK]);
        assert!(sinks(&Notify::default()).is_empty());
    }
}
