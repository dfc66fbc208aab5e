//! Shared support for integration tests: scratch directories, the `git` CLI with a clean
//! environment (used to build fixtures and to check results independently of gix), bare
//! repositories, and a `git daemon` on 127.0.0.1 for git:// remotes.
//!
//! Everything lives under cargo's `CARGO_TARGET_TMPDIR`, never in the user's home, and
//! nothing listens on anything but 127.0.0.1.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Identity used for fixture commits (git refuses to commit without one).
pub const TEST_NAME: &str = "Test User";
pub const TEST_EMAIL: &str = "test@example.invalid";

/// A fresh, unique directory, removed (recursively) when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Create `<target tmp>/<prefix>-<pid>-<counter>-<nanos>`.
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "{prefix}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        // Canonical, so file:// urls and git's own path output compare equal.
        let path = path.canonicalize().expect("canonicalize temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// An empty HOME shared by all git invocations of this test process, so the user's
/// ~/.gitconfig never leaks into tests.
fn clean_home() -> &'static Path {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("clean-home");
        std::fs::create_dir_all(&path).expect("create clean home");
        path
    })
}

/// A `git` command with a clean environment: no `GIT_*` from the caller, an empty HOME, no
/// system config, a fixed identity and `main` as the initial branch.
pub fn git_command(dir: &Path) -> Command {
    let mut cmd = clean_env(Command::new("git"));
    cmd.current_dir(dir);
    cmd
}

/// Apply the clean git environment of `git_command` to any command.
fn clean_env(mut cmd: Command) -> Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(&key);
        }
    }
    let home = clean_home();
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", TEST_NAME)
        .env("GIT_AUTHOR_EMAIL", TEST_EMAIL)
        .env("GIT_COMMITTER_NAME", TEST_NAME)
        .env("GIT_COMMITTER_EMAIL", TEST_EMAIL)
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "init.defaultBranch")
        .env("GIT_CONFIG_VALUE_0", "main");
    cmd
}

/// `<git --exec-path>/git-daemon`.
fn daemon_program() -> PathBuf {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM
        .get_or_init(|| PathBuf::from(git(Path::new("."), &["--exec-path"])).join("git-daemon"))
        .clone()
}

/// Run git in `dir` and return its output, without judging the exit status.
pub fn try_git(dir: &Path, args: &[&str]) -> Output {
    git_command(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn git {args:?}: {e}"))
}

/// Run git in `dir`; panic with its stderr on failure; return trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = try_git(dir, args);
    if !out.status.success() {
        panic!(
            "git {args:?} in {} failed ({}):\n{}{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `git init --bare <path>`; returns `path`.
pub fn bare_repo(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path).expect("create bare repo dir");
    git(path, &["init", "--quiet", "--bare"]);
    path.to_path_buf()
}

/// `git init <path>` (with a worktree, branch `main`); returns `path`.
pub fn work_repo(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path).expect("create repo dir");
    git(path, &["init", "--quiet"]);
    path.to_path_buf()
}

/// Write `content` to `file` in the worktree `repo`, commit everything; returns the commit id.
pub fn commit_file(repo: &Path, file: &str, content: &str, message: &str) -> String {
    let target = repo.join(file);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).expect("create parent dir");
    }
    std::fs::write(&target, content).expect("write file");
    git(repo, &["add", "--all"]);
    git(repo, &["commit", "--quiet", "-m", message]);
    git(repo, &["rev-parse", "HEAD"])
}

/// `rev-parse` of `rev` in the bare repository `git_dir`, `None` if it does not resolve.
pub fn rev_parse(git_dir: &Path, rev: &str) -> Option<String> {
    let out = try_git(git_dir, &["rev-parse", "--verify", "--quiet", rev]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `git fsck --full --strict` must pass on `git_dir`.
pub fn fsck(git_dir: &Path) {
    git(git_dir, &["fsck", "--full", "--strict", "--no-progress"]);
}

/// `file://` url of a local path.
pub fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A `git daemon` serving every repository under `base` (push enabled) on a free
/// 127.0.0.1 port; killed when dropped. It also dies with the thread that started it
/// (PR_SET_PDEATHSIG), so keep it in the test that uses it, not in a shared static.
pub struct GitDaemon {
    child: Child,
    port: u16,
    /// Holds `daemon.log` (the daemon's and its children's stderr), for diagnosing failures.
    log_dir: TempDir,
}

impl GitDaemon {
    pub fn start(base: &Path) -> GitDaemon {
        // A port taken between probing and binding makes the daemon exit: try a few.
        let log_dir = TempDir::new("git-daemon-log");
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            // A file, not a pipe: nobody drains a pipe, and a full or closed one would
            // block or kill receive-pack when a hook writes to stderr.
            let log = std::fs::File::create(log_dir.join("daemon.log")).expect("create daemon log");
            // The dashed program itself, not `git daemon`: git runs it as a child, and
            // killing git on drop would leave the daemon running.
            let mut command = clean_env(Command::new(daemon_program()));
            command
                .current_dir(base)
                .args([
                    "--export-all",
                    "--enable=receive-pack",
                    "--reuseaddr",
                    "--informative-errors",
                    // Logs "Ready to rumble" once listening: readiness without a probe
                    // connection (which the daemon would log as a client hanging up).
                    "--verbose",
                    "--listen=127.0.0.1",
                ])
                .arg(format!("--port={port}"))
                .arg(format!("--base-path={}", base.display()))
                .arg(base)
                // What the daemon's children run (`pack-objects`, ...), kept apart from the
                // log: `trace()`.
                .env("GIT_TRACE", log_dir.join("trace.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            // If the test process dies without running Drop (killed, timed out), the
            // kernel kills the daemon too instead of leaving it listening forever.
            // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
            unsafe {
                command.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let mut child = command.spawn().expect("spawn git daemon");
            match wait_until_ready(&mut child, &log_dir.join("daemon.log")) {
                Ok(()) => {
                    return GitDaemon {
                        child,
                        port,
                        log_dir,
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log =
                        std::fs::read_to_string(log_dir.join("daemon.log")).unwrap_or_default();
                    last_error = format!("{e}: {log}");
                }
            }
        }
        panic!("git daemon did not start: {last_error}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the daemon and the programs it ran wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_dir.join("daemon.log")).unwrap_or_default()
    }

    /// git's trace (`GIT_TRACE`) of the daemon and the programs it ran, so far.
    pub fn trace(&self) -> String {
        std::fs::read_to_string(self.log_dir.join("trace.log")).unwrap_or_default()
    }

    /// `git://127.0.0.1:<port>/<name>` for a repository `<base>/<name>`.
    pub fn url(&self, name: &str) -> String {
        format!(
            "git://127.0.0.1:{}/{}",
            self.port,
            name.trim_start_matches('/')
        )
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

fn wait_until_ready(child: &mut Child, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}"));
        }
        if std::fs::read_to_string(log).is_ok_and(|text| text.contains("Ready to rumble")) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("not ready after 10s".to_string())
}

/// Number of loose objects in `git_dir` (`git count-objects`): small pushes are unpacked
/// into loose objects by receive-pack, so this shows how many objects a push delivered.
pub fn loose_object_count(git_dir: &Path) -> usize {
    let out = git(git_dir, &["count-objects", "-v"]);
    out.lines()
        .find_map(|l| l.strip_prefix("count: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected count-objects output: {out}"))
}
pub mod agent;
pub mod safe;
pub mod scenario;

/// `len` bytes of noise (xorshift): content git cannot compress, for slow transfers.
pub fn noise(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for b in bytes.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    bytes
}

/// A PATH whose `git` (used only by the agent's file:// transport) serves `upload-pack`
/// through a throttle of about 160 KB/s: a thin link. Everything else runs the real git.
pub fn throttled_git_on_path(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let real_git = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .expect("find git")
            .stdout,
    )
    .expect("git path");
    let bin = dir.join("throttled-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let wrapper = bin.join("git");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$1\" = upload-pack ]; then\n  {git} \"$@\" | python3 -c '\nimport sys, time\nwhile True:\n    b = sys.stdin.buffer.read1(16384)\n    if not b: break\n    sys.stdout.buffer.write(b); sys.stdout.buffer.flush(); time.sleep(0.1)\n'\nelse\n  exec {git} \"$@\"\nfi\n",
            git = real_git.trim()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

/// Objects of each type in the packs of `bare` that are not in `before`, by `git verify-pack`.
pub fn new_pack_objects(bare: &Path, before: &[String]) -> (Vec<String>, [usize; 3]) {
    let packs: Vec<String> = std::fs::read_dir(bare.join("objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".idx") && !before.contains(p))
        .collect();
    let mut counts = [0; 3];
    for idx in &packs {
        for line in git(bare, &["verify-pack", "-v", idx]).lines() {
            match line.split_whitespace().nth(1) {
                Some("commit") => counts[0] += 1,
                Some("tree") => counts[1] += 1,
                Some("blob") => counts[2] += 1,
                _ => {}
            }
        }
    }
    (packs, counts)
}

/// The pack indexes of the bare repository `bare`.
pub fn pack_indexes(bare: &Path) -> Vec<String> {
    new_pack_objects(bare, &[]).0
}
