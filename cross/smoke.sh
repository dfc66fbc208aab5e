#!/usr/bin/env bash
# Run the cross-built binaries for real: x86_64 natively (on an x86_64 host), aarch64
# and armv7 under qemu-user (Debian's qemu-user-static, installed when missing).
#
# usage: cross/smoke.sh [TARGET...]   (default: every target found in cross/out/)
#        run cross/build.sh first.
# env:   SMOKE_ONCE=1   also run the `--once` pass against a loopback git daemon
#                       (off by default until the agent implements it; see TODO below)
#        CROSS_NO_INSTALL=1  never apt-get install; fail if qemu is missing
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/cross/out
SMOKE_ONCE=${SMOKE_ONCE:-1}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'cross/smoke.sh: error: %s\n' "$*" >&2; exit 1; }

# runner_for TARGET: prints the command prefix that runs TARGET's binaries here
# (empty: natively).
runner_for() {
    local host
    host=$(uname -m)
    case $1 in
        x86_64-*) [ "$host" = x86_64 ] && echo "" || echo qemu-x86_64-static ;;
        aarch64-*) [ "$host" = aarch64 ] && echo "" || echo qemu-aarch64-static ;;
        armv7-*) echo qemu-arm-static ;;
        *) die "no runner known for $1" ;;
    esac
}

ensure_runner() {
    [ -z "$1" ] && return 0
    command -v "$1" >/dev/null 2>&1 && return 0
    [ "${CROSS_NO_INSTALL:-0}" != 1 ] || die "$1 missing and CROSS_NO_INSTALL=1 (apt-get install qemu-user-static)"
    command -v apt-get >/dev/null || die "$1 missing: install qemu-user-static"
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    log "installing qemu-user-static (for $1)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq qemu-user-static >/dev/null
    command -v "$1" >/dev/null || die "$1 still missing after installing qemu-user-static"
}

# run_checked LABEL EXPECTED_RC CMD...: runs CMD, prints its output indented, fails
# when its exit code is not EXPECTED_RC.
run_checked() {
    local label=$1 want=$2 rc=0 out line
    shift 2
    out=$("$@" 2>&1) || rc=$?
    printf '  $ %s  -> exit %d\n' "$label" "$rc"
    if [ -n "$out" ]; then
        while IFS= read -r line; do printf '    | %s\n' "$line"; done <<<"$out"
    fi
    [ "$rc" = "$want" ] || { echo "FAIL: $label exited $rc, expected $want" >&2; return 1; }
}

# smoke_basic BIN RUNNER: the flags that need no config, network or state.
smoke_basic() {
    local bin=$1 runner=$2
    # shellcheck disable=SC2086 # $runner is empty or one word
    run_checked "${runner:+$runner }$bin --version" 0 $runner "$bin" --version || return 1
    # shellcheck disable=SC2086
    run_checked "${runner:+$runner }$bin --help" 0 $runner "$bin" --help || return 1
}

# smoke_once BIN RUNNER: one real `--once` pass over git:// on loopback: a deploy repo
# naming one app whose code repo is served by the same daemon; expects exit 0, the app
# checked out at the wanted commit, its config file copied, its post command run, and a
# status commit on the `main-monitoring` branch. Needs `git` (with git-daemon) on the host.
# Runs in its own subshell, started in the background and waited for, so that `set -e`
# holds inside it (bash ignores it in a function called from `||`) and its EXIT trap
# stops the daemon and removes the fixture however it ends.
smoke_once() {
    (
        set -euo pipefail
        smoke_once_body "$@"
    ) &
    wait $!
}

smoke_once_body() {
    local bin=$1 runner=$2
    command -v git >/dev/null || die "SMOKE_ONCE needs git on the host"
    local w port
    daemon_pid=
    w=$(mktemp -d "${TMPDIR:-/tmp}/gitops-agent-smoke.XXXXXX")
    # Stop the daemon we started (by its pid) and remove the fixture.
    # shellcheck disable=SC2064 # expand $w now
    trap "if [ -n \"\$daemon_pid\" ]; then kill \"\$daemon_pid\" 2>/dev/null || true; wait \"\$daemon_pid\" 2>/dev/null || true; fi; rm -rf '$w'" EXIT

    export GIT_AUTHOR_NAME=smoke GIT_AUTHOR_EMAIL=smoke@localhost \
        GIT_COMMITTER_NAME=smoke GIT_COMMITTER_EMAIL=smoke@localhost
    mkdir -p "$w/srv" "$w/src/code" "$w/src/deploy/smoke" "$w/apps" "$w/home"
    git init -q -b main "$w/src/code"
    echo hello >"$w/src/code/hello.txt"
    git -C "$w/src/code" add -A && git -C "$w/src/code" commit -qm code
    local sha
    sha=$(git -C "$w/src/code" rev-parse HEAD)
    git clone -q --bare "$w/src/code" "$w/srv/code.git"

    # A free loopback port: try a few at random.
    local try
    for try in 1 2 3 4 5 6 7 8; do
        port=$((20000 + RANDOM % 20000))
        # git-daemon itself (not `git daemon`, which would run it as a child): $! is its pid.
        "$(git --exec-path)/git-daemon" --reuseaddr --listen=127.0.0.1 --port="$port" --base-path="$w/srv" \
            --export-all --enable=receive-pack "$w/srv" &
        daemon_pid=$!
        local up=0
        for _ in $(seq 50); do
            if git ls-remote "git://127.0.0.1:$port/code.git" >/dev/null 2>&1; then up=1; break; fi
            kill -0 "$daemon_pid" 2>/dev/null || break
            sleep 0.1
        done
        [ "$up" = 1 ] && break
        kill "$daemon_pid" 2>/dev/null || true
        daemon_pid=
        [ "$try" = 8 ] && die "git daemon did not start on loopback"
    done
    local url=git://127.0.0.1:$port

    echo "APP_ENV=smoke" >"$w/src/deploy/smoke/web.env"
    cat >"$w/src/deploy/smoke/infra_meta.toml" <<TOML
[web]
code_url = "$url/code.git"
code_commit_hash = "$sha"
code_local_path = "$w/apps/web"
config_files = [ { src = "smoke/web.env", dst = "$w/apps/web.env" } ]
post_updation_command = "echo post-ran > '$w/apps/post.txt'"
TOML
    git init -q -b main "$w/src/deploy"
    git -C "$w/src/deploy" add -A && git -C "$w/src/deploy" commit -qm deploy
    git clone -q --bare "$w/src/deploy" "$w/srv/deploy.git"

    cat >"$w/config.toml" <<TOML
infra_name = "smoke"
interval = 300
network_timeout = 20
command_timeout = 60
[applications]
web = "$url/deploy.git@main"
TOML
    # shellcheck disable=SC2086
    run_checked "${runner:+$runner }$bin --once" 0 \
        env GITOPS_AGENT_HOME="$w/home" $runner "$bin" --once --config "$w/config.toml"

    [ "$(git -C "$w/apps/web" rev-parse HEAD)" = "$sha" ] || { echo "FAIL: app not at $sha" >&2; return 1; }
    cmp -s "$w/src/deploy/smoke/web.env" "$w/apps/web.env" || { echo "FAIL: config file not copied" >&2; return 1; }
    [ -f "$w/apps/post.txt" ] || { echo "FAIL: post_updation_command did not run" >&2; return 1; }
    local status
    status=$(git -C "$w/srv/deploy.git" show main-monitoring:smoke.toml) \
        || { echo "FAIL: no smoke.toml on main-monitoring" >&2; return 1; }
    grep -q '✅ healthy' <<<"$status" || { echo "FAIL: status not healthy:" >&2; echo "$status" >&2; return 1; }
    echo "  --once pass OK: app at ${sha:0:7}, config copied, post command ran, status pushed"
}

main() {
    local targets=("$@")
    if [ ${#targets[@]} -eq 0 ]; then
        local d
        for d in "$OUT"/*/; do
            [ -x "$d/gitops-agent" ] && targets+=("$(basename "$d")")
        done
    fi
    [ ${#targets[@]} -gt 0 ] || die "no binaries in $OUT: run cross/build.sh first"

    local t bin runner failed=()
    for t in "${targets[@]}"; do
        bin=$OUT/$t/gitops-agent
        [ -x "$bin" ] || die "$bin missing: run cross/build.sh $t"
        runner=$(runner_for "$t")
        ensure_runner "$runner"
        log "$t (${runner:-native})"
        if ! smoke_basic "$bin" "$runner"; then failed+=("$t"); continue; fi
        if [ "$SMOKE_ONCE" = 1 ]; then
            smoke_once "$bin" "$runner" || failed+=("$t --once")
        fi
    done
    if [ ${#failed[@]} -gt 0 ]; then
        die "smoke FAILED for: ${failed[*]}"
    fi
    log "smoke OK: ${targets[*]}"
}

main "$@"
