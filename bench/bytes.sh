#!/usr/bin/env bash
# Bytes on a thin link (SPEC §14): one deploy repo with 50 apps whose code repos carry a
# history. Every code repo is served by a local `git daemon` behind a byte-counting proxy
# (python3); the deploy repo goes over file://, so the proxy counts only code-repo traffic.
# Measures, in one run and on the same wire, what the agent downloads and what git itself
# does for the same commits:
#   first sync   agent --once on an empty device   vs  git fetch --depth 1 <url> <id> per app
#                                                       (and git clone, the whole history)
#   one-commit move (every app's pin moves one commit on, one new blob each)
#                agent --once                      vs  git fetch --depth 1 <url> <new id>
#                                                       in git's own depth-1 repos
#   unchanged pass                                      (the code servers must see nothing)
# Prints figures; installs nothing.
#
#   bench/bytes.sh   # env: KEEP=1 keeps the temp dir, APPS=N (50), COMMITS=N (20) commits
#                    #      per code repo, BLOB=bytes (32768) of new random data per commit,
#                    #      STABLE=bytes (65536) of random data committed once (vendor/),
#                    #      BIN=path measures that binary instead of building one
set -eu

cd "$(dirname "$0")/.."
APPS=${APPS:-50}
COMMITS=${COMMITS:-20}
BLOB=${BLOB:-32768}
STABLE=${STABLE:-65536}

missing=""
command -v git >/dev/null 2>&1 || missing="$missing git"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
if [ -n "$missing" ]; then
    echo "bench: missing tools; install with: sudo apt-get install$missing" >&2
    exit 2
fi

if [ -n "${BIN:-}" ]; then
    bin=$(realpath "$BIN")
else
    echo "== cargo build --release"
    cargo build --release --quiet
    bin="${CARGO_TARGET_DIR:-$PWD/target}/release/gitops-agent"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gitops-agent-bytes.XXXXXX")
daemon_pid=""
proxy_pid=""
cleanup() {
    [ -n "$proxy_pid" ] && kill -TERM "$proxy_pid" 2>/dev/null || true
    [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "bench: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export HOME="$tmp/user-home"
mkdir -p "$HOME"
unset XDG_CONFIG_HOME GIT_DIR GIT_WORK_TREE GIT_SSH_COMMAND 2>/dev/null || true
export GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
g() { git -c init.defaultBranch=main -c advice.detachedHead=false "$@"; }

repos="$tmp/repos"
mkdir -p "$repos/code"
infra=edge-bench
apps=$(for i in $(seq -w 1 "$APPS"); do [ "$APPS" -ge 10 ] || i="0$i"; echo "app$i"; done)

# ---------------------------------------------------------------- code repos with history
echo "== creating $APPS code repos: $STABLE random bytes once, then $COMMITS commits of $BLOB new random bytes each"
declare -A tip
for app in $apps; do
    w="$tmp/work/$app"
    g init -q "$w"
    mkdir -p "$w/src" "$w/assets"
    printf '#!/bin/sh\necho "%s running"\n' "$app" > "$w/run.sh"
    printf 'print("hello from %s")\n' "$app" > "$w/src/main.py"
    mkdir -p "$w/vendor"
    head -c "$STABLE" /dev/urandom > "$w/vendor/lib.bin"
    for n in $(seq 1 "$COMMITS"); do
        head -c "$BLOB" /dev/urandom > "$w/assets/data.bin"
        echo "$n" > "$w/VERSION"
        g -C "$w" add -A
        g -C "$w" commit -qm "$app v$n"
    done
    g clone -q --bare "$w" "$repos/code/$app"
    tip[$app]=$(g -C "$w" rev-parse HEAD)
done

# ---------------------------------------------------------------- git daemon + proxy
gitd="$(git --exec-path)/git-daemon"
port=""
for try in 1 2 3 4 5 6 7 8 9 10; do
    p=$(( 20000 + (RANDOM * 7 + try * 13) % 40000 ))
    "$gitd" --export-all --base-path="$repos" --listen=127.0.0.1 --port="$p" --reuseaddr \
        "$repos" 2>"$tmp/git-daemon.log" &
    daemon_pid=$!
    sleep 0.3
    if kill -0 "$daemon_pid" 2>/dev/null &&
        g ls-remote "git://127.0.0.1:$p/code/app01" >/dev/null 2>&1; then
        port=$p
        break
    fi
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=""
done
[ -n "$port" ] || { echo "bench: could not start git daemon on a free port" >&2; exit 1; }

# The proxy adds every downstream byte to a counter; `count` reads it once every
# connection has closed.
cat > "$tmp/proxy.py" <<'PY'
import socket, sys, threading, time
upstream, counter = int(sys.argv[1]), sys.argv[2]
lock, state = threading.Lock(), {"down": 0, "open": 0}
def save():
    with open(counter + ".tmp", "w") as f:
        f.write("%d %d\n" % (state["down"], state["open"]))
    import os; os.replace(counter + ".tmp", counter)
def pipe(src, dst, count):
    try:
        while True:
            b = src.recv(65536)
            if not b: break
            dst.sendall(b)
            if count:
                with lock: state["down"] += len(b)
    except OSError: pass
    try: dst.shutdown(socket.SHUT_WR)
    except OSError: pass
    with lock:
        state["open"] -= 1; save()
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(64)
print(srv.getsockname()[1], flush=True)
with lock: save()
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", upstream))
    with lock: state["open"] += 2; save()
    threading.Thread(target=pipe, args=(c, u, False), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c, True), daemon=True).start()
PY
counter="$tmp/proxy.count"
python3 "$tmp/proxy.py" "$port" "$counter" > "$tmp/proxy.port" &
proxy_pid=$!
for _ in $(seq 1 50); do [ -s "$tmp/proxy.port" ] && break; sleep 0.1; done
pport=$(cat "$tmp/proxy.port")
url="git://127.0.0.1:$pport/code"
echo "== git daemon on 127.0.0.1:$port, byte-counting proxy on 127.0.0.1:$pport"

# count: downstream bytes so far (after every proxied connection has closed).
count() {
    local down open
    for _ in $(seq 1 100); do
        read -r down open < "$counter"
        [ "$open" = 0 ] && break
        sleep 0.05
    done
    echo "$down"
}
kb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1024 }'; }

# ---------------------------------------------------------------- deploy repo (file://)
w="$tmp/device"
mkdir -p "$w"
g init -q --bare "$repos/deploy.git"
g clone -q "$repos/deploy.git" "$w/deploy-work" 2>/dev/null
write_meta() {
    mkdir -p "$w/deploy-work/$infra"
    : > "$w/deploy-work/$infra/infra_meta.toml"
    for app in $apps; do
        cat >> "$w/deploy-work/$infra/infra_meta.toml" <<TOML
[$app]
code_url = "$url/$app"
code_commit_hash = "${tip[$app]}"
code_local_path = "$w/srv/$app"

TOML
    done
    g -C "$w/deploy-work" add -A
    g -C "$w/deploy-work" commit -qm "$1"
    g -C "$w/deploy-work" push -q origin HEAD:main
}
write_meta "pin $APPS apps"
{
    echo "infra_name = \"$infra\""
    echo "[applications]"
    for app in $apps; do echo "$app = \"file://$repos/deploy.git@main\""; done
} > "$w/config.toml"
export GITOPS_AGENT_HOME="$w/home"
agent() { "$bin" --config "$w/config.toml" --once 2>>"$w/agent.log" || { tail -20 "$w/agent.log" >&2; exit 1; }; }

declare -A B
# ---------------------------------------------------------------- first sync
echo "== first sync: agent"
c0=$(count); agent; c1=$(count); B[first.agent]=$((c1 - c0))
echo "== first sync: git fetch --depth 1, per app"
c0=$(count)
for app in $apps; do
    g init -q "$tmp/git/$app"
    g -C "$tmp/git/$app" fetch -q --depth 1 "$url/$app" "${tip[$app]}"
done
c1=$(count); B[first.git]=$((c1 - c0))
echo "== first sync: git clone (whole history), per app"
c0=$(count)
for app in $apps; do g clone -q --bare "$url/$app" "$tmp/full/$app"; done
c1=$(count); B[first.full]=$((c1 - c0))

# ---------------------------------------------------------------- one-commit move
echo "== one-commit move: a new commit per app"
for app in $apps; do
    cw="$tmp/work/$app"
    head -c "$BLOB" /dev/urandom > "$cw/assets/data.bin"
    echo moved > "$cw/VERSION"
    g -C "$cw" commit -qam "$app moved"
    g -C "$cw" push -q "$repos/code/$app" HEAD:main
    tip[$app]=$(g -C "$cw" rev-parse HEAD)
done
write_meta "move $APPS apps one commit on"
c0=$(count); agent; c1=$(count); B[move.agent]=$((c1 - c0))
c0=$(count)
for app in $apps; do g -C "$tmp/git/$app" fetch -q --depth 1 "$url/$app" "${tip[$app]}"; done
c1=$(count); B[move.git]=$((c1 - c0))

echo "== unchanged pass"
c0=$(count); agent; c1=$(count); B[unchanged.agent]=$((c1 - c0))
for app in $apps; do
    [ "$(g -C "$w/srv/$app" rev-parse HEAD)" = "${tip[$app]}" ] ||
        { echo "bench: $app is not at its pin" >&2; exit 1; }
done

# ---------------------------------------------------------------- report
echo
echo "gitops-agent bytes on the wire: $APPS code repos, each $STABLE stable bytes + $COMMITS commits x $BLOB new random bytes, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "binary: $bin; git $(git --version | cut -d' ' -f3); downstream bytes through the proxy, all $APPS apps together"
echo
printf '%-40s %14s %10s\n' "" "bytes" "KiB"
row() { printf '%-40s %14s %10s\n' "$1" "$2" "$(kb "$2")"; }
row "first sync: agent" "${B[first.agent]}"
row "first sync: git fetch --depth 1" "${B[first.git]}"
row "first sync: git clone (whole history)" "${B[first.full]}"
row "one-commit move: agent" "${B[move.agent]}"
row "one-commit move: git fetch --depth 1" "${B[move.git]}"
row "unchanged pass: agent" "${B[unchanged.agent]}"
echo
bound=$(awk -v g="${B[first.git]}" -v n="$APPS" 'BEGIN { printf "%d", 1.5 * g + n * 65536 }')
verdict() { if [ "$1" = 1 ]; then echo "met"; else echo "NOT MET"; fi; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? 1 : 0 }'; }
echo "target: first sync <= 1.5 x git fetch --depth 1 + 64 KiB per app: ${B[first.agent]} <= $bound -> $(verdict "$(le "${B[first.agent]}" "$bound")")"
bound=$(awk -v g="${B[move.git]}" -v n="$APPS" 'BEGIN { printf "%d", 1.5 * g + n * 65536 }')
echo "target: one-commit move <= 1.5 x git's + 64 KiB per app: ${B[move.agent]} <= $bound -> $(verdict "$(le "${B[move.agent]}" "$bound")")"
echo "target: unchanged pass sends nothing to a code server: ${B[unchanged.agent]} -> $(verdict "$(le "${B[unchanged.agent]}" 0)")"
