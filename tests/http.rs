//! smart-HTTP through our ureq client against real `git http-backend` servers on 127.0.0.1
//! (see support_http): fetch (protocol v2 and v1) with credentials from the url or a password
//! file, a receive-pack handshake and a ref-only push, auth and 404 errors, https with a
//! private CA, and no secret in any error or log line. Needs `git` and the `openssl` CLI.

mod support_http;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use gitops_agent::error::Kind;
use gitops_agent::git::transport::{self, BoxedTransport};
use gitops_agent::git::{http, NetOptions};
use gix::protocol::transport::client::blocking_io::Transport as _;
use gix::protocol::transport::client::{MessageKind, WriteMode};
use gix::protocol::transport::{Protocol, Service};
use support_http::{chain, git, make_repo, make_tls, start, Options, Server, TempDir};

const USER: &str = "alice";
const TOKEN: &str = "tok-S3CRET-4711";

fn serve(root: &Path, tls: Option<std::sync::Arc<rustls::ServerConfig>>) -> Server {
    start(Options {
        root: root.to_path_buf(),
        credentials: Some((USER.into(), TOKEN.into())),
        tls,
    })
}

fn parse(url: &str) -> gix::url::Url {
    gix::url::parse(gix::bstr::BStr::new(url)).expect("url")
}

/// Fetch `refs/heads/*` from `url` into a new repo at `dir` over `transport`, the way the
/// agent will (gix::init + remote_at + to_connection_with_transport). No credential helper
/// is configured on purpose: the transport must never need one.
fn fetch_with(transport: BoxedTransport, url: &str, dir: &Path) -> Result<(), String> {
    let mut repo = gix::init(dir).map_err(|e| chain(&e))?;
    repo.committer_or_set_generic_fallback()
        .map_err(|e| chain(&e))?;
    let remote = repo
        .remote_at(http::without_userinfo(&parse(url)))
        .map_err(|e| chain(&e))?
        .with_refspecs(
            ["+refs/heads/*:refs/remotes/origin/*"],
            gix::remote::Direction::Fetch,
        )
        .map_err(|e| chain(&e))?;
    remote
        .to_connection_with_transport(transport)
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| chain(&e))?
        .receive(gix::progress::Discard, &AtomicBool::new(false))
        .map_err(|e| chain(&e))?;
    Ok(())
}

fn fetch(url: &str, net: &NetOptions, dir: &Path) -> Result<(), String> {
    let transport =
        transport::connect(&url.into(), Service::UploadPack, net).map_err(|e| e.to_string())?;
    fetch_with(transport, url, dir)
}

/// The same fetch through the agent's own entry point (`git::repo`), for the error's kind.
fn agent_fetch_kind(url: &str, net: &NetOptions, dir: &Path) -> Kind {
    let repo = gitops_agent::git::repo::open_or_init(dir, &url.into()).expect("init");
    gitops_agent::git::repo::fetch(
        &repo,
        &url.into(),
        &["+refs/heads/*:refs/remotes/origin/*"],
        net,
    )
    .expect_err("fetch must fail")
    .kind()
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains(TOKEN), "secret leaked: {text}");
    assert!(
        !text.contains("dG9rLVMzQ1JFVC00NzEx"),
        "base64 secret leaked: {text}"
    ); // b64(TOKEN)
}

#[test]
fn fetch_v2_with_token_in_url() {
    support_http::captured_logs();
    let tmp = TempDir::new("v2");
    let head = make_repo(&tmp.0);
    let server = serve(&tmp.0, None);
    let url = format!("http://{USER}:{TOKEN}@127.0.0.1:{}/repo.git", server.port);
    let dest = tmp.0.join("dest");
    fetch(&url, &NetOptions::default(), &dest).unwrap();
    assert_eq!(git(&dest, &["rev-parse", "refs/remotes/origin/main"]), head);
    git(&dest, &["fsck", "--full"]);
    let requests = server.requests();
    assert!(
        requests.iter().all(|r| r.contains("auth=ok")),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("POST /repo.git/git-upload-pack") && r.contains("version=2")),
        "v2 expected: {requests:?}"
    );
    // gix saw a url without userinfo, so nothing it stores or prints can hold the token.
    let config = std::fs::read_to_string(dest.join(".git/config")).unwrap();
    assert_no_secret(&config);
}

#[test]
fn fetch_v1_with_password_file() {
    support_http::captured_logs();
    let tmp = TempDir::new("v1");
    let head = make_repo(&tmp.0);
    // The password file goes only over https, to the hosts it is meant for (SPEC §10).
    let (ca, tls) = make_tls(&tmp.0);
    let server = serve(&tmp.0, Some(tls));
    let pw = tmp.0.join("token");
    std::fs::write(&pw, format!("{TOKEN}\n")).unwrap();
    let net = NetOptions {
        https_password_file: Some(pw),
        credential_hosts: vec!["127.0.0.1".into()],
        https_ca_file: Some(ca),
        ..Default::default()
    };
    // The user comes from the url, the token from the file.
    let url = format!("https://{USER}@127.0.0.1:{}/repo.git", server.port);
    let transport = http::connect(&parse(&url), Protocol::V1, &net).unwrap();
    let dest = tmp.0.join("dest");
    fetch_with(transport, &url, &dest).unwrap();
    assert_eq!(git(&dest, &["rev-parse", "refs/remotes/origin/main"]), head);
    let requests = server.requests();
    assert!(
        requests.iter().all(|r| r.contains("auth=ok")),
        "{requests:?}"
    );
    assert!(
        requests.iter().all(|r| !r.contains("version=2")),
        "v1 expected: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("POST /repo.git/git-upload-pack")),
        "{requests:?}"
    );
}

#[test]
fn password_file_with_default_user() {
    support_http::captured_logs();
    let tmp = TempDir::new("defuser");
    let head = make_repo(&tmp.0);
    let (ca, tls) = make_tls(&tmp.0);
    let server = start(Options {
        root: tmp.0.clone(),
        credentials: Some((http::DEFAULT_USER.into(), TOKEN.into())),
        tls: Some(tls),
    });
    let pw = tmp.0.join("token");
    std::fs::write(&pw, TOKEN).unwrap();
    let net = NetOptions {
        https_password_file: Some(pw),
        credential_hosts: vec!["127.0.0.1".into()],
        https_ca_file: Some(ca),
        ..Default::default()
    };
    let url = format!("https://127.0.0.1:{}/repo.git", server.port);
    let dest = tmp.0.join("dest");
    fetch(&url, &net, &dest).unwrap();
    assert_eq!(git(&dest, &["rev-parse", "refs/remotes/origin/main"]), head);
}

/// A receive-pack handshake sees the refs, and a ref-only push (empty pack) goes through
/// the POST path: the protocol steps of GIX-NOTES "Push", minimal.
#[test]
fn receive_pack_handshake_and_ref_only_push() {
    support_http::captured_logs();
    let tmp = TempDir::new("push");
    let head = make_repo(&tmp.0);
    let server = serve(&tmp.0, None);
    let url = format!("http://{USER}:{TOKEN}@127.0.0.1:{}/repo.git", server.port);
    let mut transport = transport::connect(
        &url.as_str().into(),
        Service::ReceivePack,
        &NetOptions::default(),
    )
    .unwrap();
    let outcome = gix::protocol::handshake(
        &mut transport,
        Service::ReceivePack,
        |_| Ok(None),
        Vec::new(),
        &mut gix::progress::Discard,
    )
    .map_err(|e| chain(&e))
    .unwrap();
    let refs = outcome.refs.expect("v1 advertises refs");
    let main = refs
        .iter()
        .find_map(|r| match r {
            gix::protocol::handshake::Ref::Direct {
                full_ref_name,
                object,
            } if full_ref_name == "refs/heads/main" => Some(object.to_string()),
            _ => None,
        })
        .expect("refs/heads/main advertised");
    assert_eq!(main, head);

    // Create refs/heads/copy at the same commit: no objects to send, an empty pack.
    let (mut writer, mut reader) = transport
        .request(WriteMode::Binary, MessageKind::Flush, false)
        .unwrap()
        .into_parts();
    let zero = "0".repeat(40);
    // `into_parts` gives the raw body writer: pkt-lines by hand, then flush-pkt.
    let command = format!("{zero} {head} refs/heads/copy\0report-status\n");
    writer
        .write_all(format!("{:04x}{command}", command.len() + 4).as_bytes())
        .unwrap();
    writer.write_all(b"0000").unwrap();
    let mut pack = b"PACK\0\0\0\x02\0\0\0\0".to_vec();
    pack.extend_from_slice(&hex("029d08823bd8a8eab510ad6ac75c823cfd3ed31e")); // sha1 of the 12 bytes
    writer.write_all(&pack).unwrap();
    drop(writer);
    reader.reset(Protocol::V1);
    let mut lines = Vec::new();
    while let Some(line) = reader.readline() {
        let line = line.unwrap().unwrap();
        if let Some(text) = line.as_bstr() {
            lines.push(text.to_string().trim_end().to_string());
        }
    }
    assert_eq!(lines, ["unpack ok", "ok refs/heads/copy"], "report-status");
    assert_eq!(
        git(&tmp.0.join("repo.git"), &["rev-parse", "refs/heads/copy"]),
        head
    );
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn wrong_token_is_a_clear_error_without_the_secret() {
    support_http::captured_logs();
    let tmp = TempDir::new("badauth");
    make_repo(&tmp.0);
    let server = serve(&tmp.0, None);
    let url = format!(
        "http://{USER}:{TOKEN}-wrong@127.0.0.1:{}/repo.git",
        server.port
    );
    let err = fetch(&url, &NetOptions::default(), &tmp.0.join("dest")).unwrap_err();
    assert!(err.contains("authentication failed"), "{err}");
    assert!(
        err.contains(&format!("http://127.0.0.1:{}/repo.git", server.port)),
        "{err}"
    );
    assert_no_secret(&err);
    // No credential helper was consulted and nothing was retried: one GET, rejected.
    assert_eq!(server.requests().len(), 1, "{:?}", server.requests());

    let url_wrong = format!(
        "http://{USER}:{TOKEN}-wrong@127.0.0.1:{}/repo.git",
        server.port
    );
    let net = NetOptions::default();
    assert_eq!(
        agent_fetch_kind(&url_wrong, &net, &tmp.0.join("kind")),
        Kind::Rejected
    );

    let url = format!("http://127.0.0.1:{}/repo.git", server.port);
    let err = fetch(&url, &NetOptions::default(), &tmp.0.join("dest2")).unwrap_err();
    assert!(err.contains("authentication required"), "{err}");
    assert_eq!(
        agent_fetch_kind(&url, &net, &tmp.0.join("kind2")),
        Kind::Rejected
    );
}

#[test]
fn missing_repo_is_a_clear_404() {
    support_http::captured_logs();
    let tmp = TempDir::new("404");
    make_repo(&tmp.0);
    let server = serve(&tmp.0, None);
    let url = format!("http://{USER}:{TOKEN}@127.0.0.1:{}/nope.git", server.port);
    let err = fetch(&url, &NetOptions::default(), &tmp.0.join("dest")).unwrap_err();
    assert!(err.contains("repository not found"), "{err}");
    assert!(
        err.contains(&format!("http://127.0.0.1:{}/nope.git", server.port)),
        "{err}"
    );
    assert_no_secret(&err);
    let kind = agent_fetch_kind(&url, &NetOptions::default(), &tmp.0.join("kind"));
    assert_eq!(kind, Kind::Rejected);
}

#[test]
fn refused_connection_names_the_url() {
    support_http::captured_logs();
    let tmp = TempDir::new("refused");
    // A port that was just free: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://{USER}:{TOKEN}@127.0.0.1:{port}/repo.git");
    let err = fetch(&url, &NetOptions::default(), &tmp.0.join("dest")).unwrap_err();
    assert!(
        err.contains(&format!("http://127.0.0.1:{port}/repo.git")),
        "{err}"
    );
    assert!(
        err.to_lowercase().contains("refused") || err.contains("onnect"),
        "{err}"
    );
    assert_no_secret(&err);
    let kind = agent_fetch_kind(&url, &NetOptions::default(), &tmp.0.join("kind"));
    assert_eq!(kind, Kind::Network);
}

#[test]
fn https_with_private_ca() {
    support_http::captured_logs();
    let tmp = TempDir::new("tls");
    let head = make_repo(&tmp.0);
    let (ca, tls) = make_tls(&tmp.0);
    let server = serve(&tmp.0, Some(tls));
    let url = format!("https://{USER}:{TOKEN}@127.0.0.1:{}/repo.git", server.port);

    // Without the CA: a certificate error that says what to do.
    let err = fetch(&url, &NetOptions::default(), &tmp.0.join("dest-noca")).unwrap_err();
    assert!(err.contains("certificate"), "{err}");
    assert!(err.contains("https_ca_file"), "{err}");
    assert!(
        err.contains(&format!("https://127.0.0.1:{}/repo.git", server.port)),
        "{err}"
    );
    assert_no_secret(&err);
    let kind = agent_fetch_kind(&url, &NetOptions::default(), &tmp.0.join("kind-noca"));
    assert_eq!(kind, Kind::Network, "a TLS failure is the link's");

    // With it: fetch works (roots = bundled + system + this file).
    let net = NetOptions {
        https_ca_file: Some(ca),
        ..Default::default()
    };
    let dest = tmp.0.join("dest");
    fetch(&url, &net, &dest).unwrap();
    assert_eq!(git(&dest, &["rev-parse", "refs/remotes/origin/main"]), head);

    // A CA file that is not PEM is a config error naming the file.
    let bad = tmp.0.join("bad.pem");
    std::fs::write(&bad, "not a certificate\n").unwrap();
    let net = NetOptions {
        https_ca_file: Some(bad),
        ..Default::default()
    };
    let err = fetch(&url, &net, &tmp.0.join("dest-bad")).unwrap_err();
    assert!(
        err.contains("https_ca_file") && err.contains("bad.pem"),
        "{err}"
    );
    assert_no_secret(&err);
    assert_eq!(
        agent_fetch_kind(&url, &net, &tmp.0.join("kind-bad")),
        Kind::Config
    );
}

#[test]
fn read_timeout_bounds_a_silent_server() {
    support_http::captured_logs();
    let tmp = TempDir::new("silent");
    // Accepts and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    let net = NetOptions {
        timeout: std::time::Duration::from_secs(1),
        ..Default::default()
    };
    let url = format!("http://{USER}:{TOKEN}@127.0.0.1:{port}/repo.git");
    let started = std::time::Instant::now();
    let err = fetch(&url, &net, &tmp.0.join("dest")).unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(err.contains("network_timeout"), "{err}");
    assert_no_secret(&err);
    assert_eq!(
        agent_fetch_kind(&url, &net, &tmp.0.join("kind")),
        Kind::Network
    );
}

/// Runs last-ish in its own right: whatever the other tests logged so far, and its own
/// successful and failing runs, hold no secret (raw or base64).
#[test]
fn no_secret_in_logs() {
    let logs = support_http::captured_logs();
    let tmp = TempDir::new("logs");
    make_repo(&tmp.0);
    let server = serve(&tmp.0, None);
    let good = format!("http://{USER}:{TOKEN}@127.0.0.1:{}/repo.git", server.port);
    fetch(&good, &NetOptions::default(), &tmp.0.join("a")).unwrap();
    let bad = format!("http://{USER}:{TOKEN}x@127.0.0.1:{}/repo.git", server.port);
    let err = fetch(&bad, &NetOptions::default(), &tmp.0.join("b")).unwrap_err();
    assert_no_secret(&err);
    let logs = logs.lock().unwrap();
    assert!(
        logs.iter().any(|l| l.contains("http: GET")),
        "logger captured nothing: {logs:?}"
    );
    for line in logs.iter() {
        assert_no_secret(line);
    }
}

/// https goes through HTTPS_PROXY with CONNECT (proxy credentials from the proxy url), http
/// through http_proxy in absolute form, and NO_PROXY bypasses it. The environment is given
/// through `connect_with_env`, as the process environment is shared by parallel tests.
#[test]
fn proxy_from_environment() {
    support_http::captured_logs();
    let tmp = TempDir::new("proxy");
    let head = make_repo(&tmp.0);
    let (ca, tls) = make_tls(&tmp.0);
    let https_server = serve(&tmp.0, Some(tls));
    let http_server = serve(&tmp.0, None);
    let proxy_secret = "pr0xy-pw";
    let proxy = support_http::start_proxy(Some(format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("puser:{proxy_secret}")
        )
    )));
    let proxy_url = format!("http://puser:{proxy_secret}@127.0.0.1:{}", proxy.port);
    let env = |vars: Vec<(&'static str, String)>| {
        move |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        }
    };
    let net = NetOptions {
        https_ca_file: Some(ca),
        ..Default::default()
    };

    let url = format!(
        "https://{USER}:{TOKEN}@127.0.0.1:{}/repo.git",
        https_server.port
    );
    let transport = http::connect_with_env(
        &parse(&url),
        Protocol::V2,
        &net,
        env(vec![("HTTPS_PROXY", proxy_url.clone())]),
    )
    .unwrap();
    let dest = tmp.0.join("via-connect");
    fetch_with(transport, &url, &dest).unwrap();
    assert_eq!(git(&dest, &["rev-parse", "refs/remotes/origin/main"]), head);
    let seen = proxy.requests();
    assert!(
        seen.iter().any(
            |r| r.starts_with(&format!("CONNECT 127.0.0.1:{}", https_server.port))
                && r.ends_with("proxy-auth=true")
        ),
        "{seen:?}"
    );

    let url = format!(
        "http://{USER}:{TOKEN}@127.0.0.1:{}/repo.git",
        http_server.port
    );
    let transport = http::connect_with_env(
        &parse(&url),
        Protocol::V2,
        &net,
        env(vec![("http_proxy", proxy_url.clone())]),
    )
    .unwrap();
    let dest = tmp.0.join("via-absolute");
    fetch_with(transport, &url, &dest).unwrap();
    assert_eq!(git(&dest, &["rev-parse", "refs/remotes/origin/main"]), head);
    let seen = proxy.requests();
    assert!(
        seen.iter().any(|r| r.starts_with(&format!(
            "GET http://127.0.0.1:{}/repo.git/info/refs",
            http_server.port
        ))),
        "{seen:?}"
    );

    let before = proxy.requests().len();
    let transport = http::connect_with_env(
        &parse(&url),
        Protocol::V2,
        &net,
        env(vec![
            ("http_proxy", proxy_url.clone()),
            ("NO_PROXY", "localhost,127.0.0.1".into()),
        ]),
    )
    .unwrap();
    fetch_with(transport, &url, &tmp.0.join("bypass")).unwrap();
    assert_eq!(
        proxy.requests().len(),
        before,
        "NO_PROXY must bypass the proxy"
    );

    // A proxy that rejects us: the error names the url, and neither secret.
    let bad_proxy = format!("http://puser:wrong@127.0.0.1:{}", proxy.port);
    let url = format!(
        "https://{USER}:{TOKEN}@127.0.0.1:{}/repo.git",
        https_server.port
    );
    let transport = http::connect_with_env(
        &parse(&url),
        Protocol::V2,
        &net,
        env(vec![("HTTPS_PROXY", bad_proxy)]),
    )
    .unwrap();
    let err = fetch_with(transport, &url, &tmp.0.join("bad-proxy")).unwrap_err();
    assert!(
        err.contains(&format!("https://127.0.0.1:{}/repo.git", https_server.port)),
        "{err}"
    );
    assert!(
        !err.contains("wrong") && !err.contains(proxy_secret),
        "{err}"
    );
    assert_no_secret(&err);
    for line in support_http::captured_logs().lock().unwrap().iter() {
        assert!(
            !line.contains(proxy_secret) && !line.contains(":wrong@"),
            "proxy secret logged: {line}"
        );
    }
}

/// Redirects are not followed (a redirected POST would become a GET, and credentials could
/// follow to another host): the error names the target, without its userinfo.
#[test]
fn redirect_is_reported_not_followed() {
    support_http::captured_logs();
    let tmp = TempDir::new("redirect");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 302 Found\r\nLocation: http://u:leak@elsewhere.example/repo.git/info/refs\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let url = format!("http://{USER}:{TOKEN}@127.0.0.1:{port}/repo.git");
    let err = fetch(&url, &NetOptions::default(), &tmp.0.join("dest")).unwrap_err();
    assert!(
        err.contains("redirects") && err.contains("elsewhere.example"),
        "{err}"
    );
    assert!(!err.contains("leak"), "{err}");
    assert_no_secret(&err);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let kind = agent_fetch_kind(&url, &NetOptions::default(), &tmp.0.join("kind"));
    assert_eq!(kind, Kind::Rejected);
}
