#!/usr/bin/env bash
# Fleet benchmark (SPEC §9): N simulated devices (own GITOPS_AGENT_HOME and infra_name each)
# on one deploy repo served by one `git daemon` on 127.0.0.1, all started with `--once` in the
# same second, with `--splay 0` and with `--splay S`. Prints, per case: seconds until every
# report landed, exit codes, push attempts per device (mean, max), and whether every device's
# file on the branch names the commit of that round. Installs nothing; temp dir only.
#
#   bench/fleet.sh   # env: DEVICES="50 200", SPLAYS="0 30", SERVER=socket|daemon (below),
#                    #      BIN=path (else cargo build --release), KEEP=1 keeps the temp dir
set -eu

cd "$(dirname "$0")/.."
DEVICES=${DEVICES:-"50 200"}
SPLAYS=${SPLAYS:-"0 30"}

command -v git >/dev/null 2>&1 || { echo "bench: git is missing" >&2; exit 2; }
if [ -n "${BIN:-}" ]; then
    bin=$(realpath "$BIN")
else
    echo "== cargo build --release"
    cargo build --release --quiet
    bin="${CARGO_TARGET_DIR:-$PWD/target}/release/gitops-agent"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gitops-agent-fleet.XXXXXX")
daemon_pid=""
cleanup() {
    [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null || true
    [ -n "$daemon_pid" ] && wait "$daemon_pid" 2>/dev/null || true
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
mkdir -p "$repos"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# How the server is run (env SERVER):
#   socket (default): as distributions ship git-daemon (git.socket with Accept=yes +
#     git@.service): a listener with the kernel's full accept queue (SOMAXCONN) starting one
#     `git daemon --inetd` per connection (systemd-socket-activate does what systemd does);
#   daemon: one standalone `git daemon --listen`, which listens with a backlog of 5 (hard-coded
#     in git) and drops most of a 200-connection burst; --max-connections=0 lifts its default
#     limit of 32 concurrent connections, as an operator expecting a fleet would.
SERVER=${SERVER:-socket}
if [ "$SERVER" = socket ] && ! command -v systemd-socket-activate >/dev/null 2>&1; then
    echo "bench: systemd-socket-activate is missing; SERVER=daemon" >&2
    SERVER=daemon
fi
if [ "$SERVER" = socket ]; then
    systemd-socket-activate --accept --inetd --listen="127.0.0.1:$port" \
        "$(git --exec-path)/git-daemon" --inetd --export-all --enable=receive-pack \
        --base-path="$repos" "$repos" 2>"$tmp/daemon.log" &
else
    "$(git --exec-path)/git-daemon" --export-all --enable=receive-pack --reuseaddr \
        --max-connections=0 --listen=127.0.0.1 --port="$port" --base-path="$repos" "$repos" \
        2>"$tmp/daemon.log" &
fi
daemon_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
url="git://127.0.0.1:$port"

for n in $DEVICES; do
  for splay in $SPLAYS; do
    case_dir="$tmp/n$n-s$splay"
    mkdir -p "$case_dir"
    name="deploy-n$n-s$splay"
    g init -q --bare "$repos/$name.git"
    g init -q --bare "$repos/code-n$n-s$splay.git"
    g clone -q "$repos/code-n$n-s$splay.git" "$case_dir/code" 2>/dev/null
    echo v1 >"$case_dir/code/app.txt"
    g -C "$case_dir/code" add -A && g -C "$case_dir/code" commit -qm v1
    g -C "$case_dir/code" push -q origin HEAD:main
    commit=$(g -C "$case_dir/code" rev-parse HEAD)
    g clone -q "$repos/$name.git" "$case_dir/deploy" 2>/dev/null
    for i in $(seq -w 1 "$n"); do
        dev="dev-$i"
        mkdir -p "$case_dir/deploy/$dev" "$case_dir/dev/$dev"
        printf '[web]\ncode_url = "%s/code-n%s-s%s.git"\ncode_commit_hash = "%s"\ncode_local_path = "%s"\n' \
            "$url" "$n" "$splay" "$commit" "$case_dir/dev/$dev/srv/web" >"$case_dir/deploy/$dev/infra_meta.toml"
        printf 'infra_name = "%s"\ninterval = 300\n[applications]\nweb = "%s/%s.git@main"\n' \
            "$dev" "$url" "$name" >"$case_dir/dev/$dev/config.toml"
    done
    g -C "$case_dir/deploy" add -A && g -C "$case_dir/deploy" commit -qm "pin $n devices"
    g -C "$case_dir/deploy" push -q origin HEAD:main

    echo "== $n devices, --splay $splay, server $SERVER: starting all at once"
    start=$(date +%s.%N)
    pids=()
    for i in $(seq -w 1 "$n"); do
        d="$case_dir/dev/dev-$i"
        GITOPS_AGENT_HOME="$d/home" "$bin" --once --splay "$splay" --config "$d/config.toml" \
            >/dev/null 2>"$d/agent.log" &
        pids+=($!)
    done
    fails=0
    for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
    end=$(date +%s.%N)
    landed=0
    for i in $(seq -w 1 "$n"); do
        if git --git-dir="$repos/$name.git" show "main-monitoring:dev-$i.toml" 2>/dev/null \
            | grep -q "'${commit:0:7} "; then
            landed=$((landed + 1))
        fi
    done
    # push attempts = 1 + status pushes tried again (lost races and dropped connections);
    # drops = connections the server dropped at once, fetches and pushes (tried again)
    attempts=$(for i in $(seq -w 1 "$n"); do
        echo $(( $(grep -c -- '-monitoring of .*trying again' "$case_dir/dev/dev-$i/agent.log" || true) + 1 ))
    done | awk '{s += $1; if ($1 > m) m = $1} END {printf "mean %.1f, max %d", s / NR, m}')
    drops=$(cat "$case_dir"/dev/*/agent.log | grep -c 'connection dropped' || true)
    gave_up=$(grep -l 'gave up after' "$case_dir"/dev/*/agent.log 2>/dev/null | wc -l)
    merges=$(git --git-dir="$repos/$name.git" rev-list --min-parents=2 main-monitoring | wc -l)
    git --git-dir="$repos/$name.git" fsck --full --no-progress >/dev/null 2>&1 && fsck=clean || fsck=FAILED
    printf '   all landed after %.1f s; reports landed %d/%d; exit!=0: %d; gave up: %d; push attempts per device: %s; dropped connections tried again: %d; merges: %d; fsck %s\n' \
        "$(echo "$end - $start" | bc)" "$landed" "$n" "$fails" "$gave_up" "$attempts" "$drops" "$merges" "$fsck"
  done
done
echo "load average before/after: $(cut -d' ' -f1-3 /proc/loadavg)"
