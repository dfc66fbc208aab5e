//! SPEC §10, the network, built as the attacker would: a socket logger on 127.0.0.1 records
//! what the agent sends to a code repo host that is not a deploy repo host, and over plain
//! http; a git:// server trickles; systemd's watchdog socket listens during a long fetch.

mod common;
mod support_http;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::scenario::Scenario;
use support_http::{make_tls, start, Options};

const USER: &str = "alice";
const TOKEN: &str = "tok-S3CRET-4711";

/// A server on 127.0.0.1 that records every request head it gets (behind TLS when
/// `tls` is given) and answers 404.
fn logger(tls: Option<Arc<rustls::ServerConfig>>) -> (u16, Arc<Mutex<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(String::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let log = log.clone();
            let tls = tls.clone();
            std::thread::spawn(move || {
                conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                    .unwrap();
                match tls {
                    Some(cfg) => {
                        let Ok(server) = rustls::ServerConnection::new(cfg) else {
                            return;
                        };
                        record(rustls::StreamOwned::new(server, conn), &log);
                    }
                    None => record(conn, &log),
                }
            });
        }
    });
    (port, seen)
}

fn record<S: Read + Write>(stream: S, log: &Mutex<String>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        log.lock().unwrap().push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let stream = reader.get_mut();
    let _ = stream
        .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.flush();
}

/// The deploy repo over https with the token in `https_password_file`; app `web`'s code on
/// another host name (`localhost`, a TLS logger), app `plain`'s on the deploy host over
/// plain http (a logger), app `mine`'s over plain http with its own userinfo.
#[test]
fn password_file_goes_only_to_deploy_hosts_over_https_and_userinfo_only_to_its_host() {
    let mut s = Scenario::new();
    let (ca, tls) = make_tls(s.path());
    let server = start(Options {
        root: s.path().join("served"),
        credentials: Some((USER.into(), TOKEN.into())),
        tls: Some(tls.clone()),
    });
    let (tls_port, over_tls) = logger(Some(tls));
    let (plain_port, over_plain) = logger(None);
    let token_file = s.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    s.deploy_url = format!("https://{USER}@127.0.0.1:{}/deploy.git", server.port);
    let section = |app: &str, url: String| {
        format!(
            "[{app}]\ncode_url = \"{url}\"\ncode_commit_hash = \"main\"\ncode_local_path = \"{}\"\n",
            s.srv(app).display()
        )
    };
    s.infra_meta(&[
        section("web", format!("https://localhost:{tls_port}/web.git")),
        section("plain", format!("http://127.0.0.1:{plain_port}/plain.git")),
        section(
            "mine",
            format!("http://bob:UIPASS@localhost:{plain_port}/mine.git"),
        ),
    ]);
    let base = format!(
        "https_password_file = \"{}\"\nhttps_ca_file = \"{}\"\n",
        token_file.display(),
        ca.display()
    );
    s.config_extra = base.clone();
    s.agent_config(&["web", "plain", "mine"]);
    let run = s.once();
    run.expect_code(1);
    // the deploy host got the token (so the file was there to leak)
    let deploy_requests = server.requests();
    assert!(
        !deploy_requests.is_empty() && deploy_requests.iter().all(|r| r.contains("auth=ok")),
        "{deploy_requests:?}"
    );
    let tls_seen = over_tls.lock().unwrap().clone();
    assert!(tls_seen.contains("GET /web.git/info/refs"), "{tls_seen}");
    assert!(
        !tls_seen.to_ascii_lowercase().contains("authorization"),
        "token sent to a host that is not a deploy repo's:\n{tls_seen}"
    );
    let plain_seen = over_plain.lock().unwrap().clone();
    let plain_requests: Vec<&str> = plain_seen
        .split("\r\n\r\n")
        .filter(|r| r.contains("/plain.git"))
        .collect();
    assert!(!plain_requests.is_empty(), "{plain_seen}");
    for r in plain_requests {
        assert!(
            !r.to_ascii_lowercase().contains("authorization"),
            "password file sent over plain http:\n{r}"
        );
    }
    // userinfo in a url is that url's own business, with a warning over plain http
    let basic_bob = "Basic Ym9iOlVJUEFTUw=="; // bob:UIPASS
    assert!(plain_seen.contains(basic_bob), "{plain_seen}");
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("WARN") && l.contains("without TLS")),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(TOKEN) && !run.stderr.contains("UIPASS"));

    // named in https_credential_hosts: now localhost gets it (the logger can see it)
    s.config_extra = format!("{base}https_credential_hosts = [\"localhost\"]\n");
    s.agent_config(&["web", "plain", "mine"]);
    s.once().expect_code(1);
    let tls_seen = over_tls.lock().unwrap().clone();
    assert!(
        tls_seen.contains("authorization: Basic") || tls_seen.contains("Authorization: Basic"),
        "{tls_seen}"
    );
}
