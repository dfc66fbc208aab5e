#!/usr/bin/env bash
# Fleet benchmark (SPEC §9): N simulated devices (own GITOPS_AGENT_HOME and infra_name each)
# on one deploy repo served by one `git daemon` on 127.0.0.1, all started with `--once` in the
# same second, with `--splay 0` and with `--splay S`. Prints, per case: seconds until every
# report landed, exit codes, push attempts per device (mean, max), and whether every device's
# file on the branch names the commit of that round. Installs nothing; temp dir only.
#
#   bench/fleet.sh   # env: DEVICES="50 200", SPLAYS="0 30", SERVER=socket|daemon (below),
#                    #      BIN=path (else cargo build --release), KEEP=1 keeps the temp dir,
#                    #      TMPDIR (default /dev/shm, see below), DELAY_MS=N (a relay
#                    #      holding every chunk N ms each way between devices and server)
set -eu

cd "$(dirname "$0")/.."
DEVICES=${DEVICES:-"50 200"}
SPLAYS=${SPLAYS:-"0 30"}

command -v git >/dev/null 2>&1 || { echo "bench: git is missing" >&2; exit 2; }
if [ "${BYTES:-1}" = 1 ] && ! command -v strace >/dev/null 2>&1; then
    echo "bench: strace is missing (BYTES=1 counts bytes on the wire with it): sudo apt-get install strace" >&2
    exit 2
fi
if [ -n "${BIN:-}" ]; then
    bin=$(realpath "$BIN")
else
    echo "== cargo build --release"
    cargo build --release --quiet
    bin="${CARGO_TARGET_DIR:-$PWD/target}/release/gitops-agent"
fi

# Where the simulated fleet lives (env TMPDIR): a tmpfs, /dev/shm, unless TMPDIR is set.
# 200 devices on one disk is no fleet: each real device writes to its own. On a root ext4
# without a journal (this CI machine's), the kernel passes over every inode freed in the last
# 5 to 300 s whenever it allocates one (perf: recently_deleted and find_get_block_common,
# called from the agents' file creations, 10 % of all the machine's CPU during a herd), so a
# run is slowed by whatever the previous one deleted (one binary, back-to-back runs: 56, 73,
# 108 s). TMPDIR=/tmp measures on disk all the same.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    TMPDIR=/dev/shm
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gitops-agent-fleet.XXXXXX")
echo "== the fleet lives in $tmp ($(stat -f -c %T "$tmp"))"
daemon_pid=""
cleanup() {
    [ -n "${relay_pid:-}" ] && kill -TERM "$relay_pid" 2>/dev/null || true
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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
}
port=$(free_port)
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
wait_for_port "$port"
url="git://127.0.0.1:$port"
relay_pid=""
# DELAY_MS=N: the devices reach the server through a relay on loopback that holds every chunk
# N ms in each direction (a link with a round trip of 2N ms; this kernel has no netem).
if [ "${DELAY_MS:-0}" -gt 0 ]; then
    rport=$(free_port)
    python3 - "$rport" "$port" "$DELAY_MS" <<'PY' 2>"$tmp/relay.log" &
import asyncio, sys
listen, target, delay = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) / 1000
async def pump(reader, writer):
    loop, queue = asyncio.get_running_loop(), asyncio.Queue()
    async def late():
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(0, due - loop.time()))
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.close()
    sender = asyncio.create_task(late())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, data))
    except ConnectionError:
        pass
    queue.put_nowait((loop.time() + delay, b""))
    await sender
async def serve(r, w):
    try:
        tr, tw = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        w.close()
        return
    await asyncio.gather(pump(r, tw), pump(tr, w), return_exceptions=True)
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", listen, backlog=4096)
    await server.serve_forever()
asyncio.run(main())
PY
    relay_pid=$!
    wait_for_port "$rport"
    url="git://127.0.0.1:$rport"
    echo "== devices reach the server through a relay adding $DELAY_MS ms each way"
fi

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
    # The whole machine's CPU while the case runs (agents and server alike; /proc/stat
    # counts in USER_HZ ticks): a herd is bound by the processes each contact starts.
    read -r _ u0 n0 s0 i0 w0 q0 sq0 st0 _ < /proc/stat
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
    read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ < /proc/stat
    hz=$(getconf CLK_TCK)
    cpu_user=$(( (u1 - u0) + (n1 - n0) )) cpu_sys=$(( (s1 - s0) + (q1 - q0) + (sq1 - sq0) ))
    cpu_all=$(( cpu_user + cpu_sys + (i1 - i0) + (w1 - w0) + (st1 - st0) ))
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
    printf '   CPU of the whole machine meanwhile: %.1f s user, %.1f s system, %.1f s stolen by the host, %d %% busy (%d cores)\n' \
        "$(echo "$cpu_user / $hz" | bc -l)" "$(echo "$cpu_sys / $hz" | bc -l)" "$(echo "($st1 - $st0) / $hz" | bc -l)" \
        "$(( cpu_all > 0 ? 100 * (cpu_user + cpu_sys) / cpu_all : 0 ))" "$(nproc)"
  done
done
echo "load average before/after: $(cut -d' ' -f1-3 /proc/loadavg)"

# Bytes on the wire (BYTES=1, the default), on the branch of the last case above:
#   steady: device 1 is brought up to date, 10 other devices publish (--force-report), then
#     device 1 runs a pass; what its monitoring fetch received, against the size of what
#     changed (the 10 files and README.md, raw and as a pack);
#   joining: a branch holding 30 days of a 200-device fleet's history (one report per device
#     a day, each commit with a README.md, made with git fast-import; once with the record of
#     the oldest commit after the root on every commit, as this version writes them, once
#     without, as the Python agent and earlier versions do) is joined by a device
#     with an empty home; what its monitoring clone received, against the head tree with its
#     blobs as a pack. "Received" = bytes read from the monitoring connections (wire_run).
packs_in() { find "$1" -path '*-monitoring/.git/objects/pack/*.pack' -newer "$2" -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
# Bytes the device read from its git:// sockets in one pass, counted under strace: what
# crossed the wire (capabilities, ref listing, negotiation and the pack as sent). The stored
# pack is no measure of that: a thin pack (objects sent as deltas against what the device
# already has) is completed with its bases when it is written. Prints "monitoring deploy":
# a connection is the monitoring branch's when what the device wrote on it names
# `main-monitoring` and not `refs/heads/main` (its fetches and its push); the deploy side is
# the pass's listing of both branches and the deploy fetch; code fetches are in neither.
wire_run() {
    local dir=$1 st="$1/wire.strace"
    shift
    # One file per thread (-ff): a call another thread interrupts is never split across two
    # lines ("<unfinished ...>" / "resumed").
    rm -f "$st".*
    GITOPS_AGENT_HOME="$dir/home" strace -f -ff -qq -y -s 4096 -e trace=read,recvfrom,write,sendto -o "$st" \
        "$bin" --once --config "$dir/config.toml" "$@" >/dev/null 2>>"$dir/bytes.log" || true
    cat "$st".* | awk '
         /socket:\[/ { match($0, /socket:\[[0-9]+\]/); sock = substr($0, RSTART, RLENGTH) }
         /^(write|sendto)\(/ && /socket:\[/ {
             if (index($0, "main-monitoring")) mon[sock] = 1
             if (index($0, "refs/heads/main\\n")) dep[sock] = 1 }
         /^(read|recvfrom)\(/ && /socket:\[/ { v = $NF; if (v ~ /^[0-9]+$/) got[sock] += v }
         END { for (k in got) { if (mon[k] && !dep[k]) m += got[k]; else if (dep[k]) d += got[k] }
               print m + 0, d + 0 }'
}
if [ "${BYTES:-1}" = 1 ]; then
    d1="$case_dir/dev/dev-$(seq -w 1 "$n" | head -1)"
    run1() { GITOPS_AGENT_HOME="$1/home" "$bin" --once --config "$1/config.toml" "${@:2}" >/dev/null 2>>"$1/bytes.log" || true; }
    run1 "$d1"
    before=$(git --git-dir="$repos/$name.git" rev-parse main-monitoring)
    for i in $(seq -w 1 "$n" | sed -n 2,11p); do run1 "$case_dir/dev/dev-$i" --force-report; done
    after=$(git --git-dir="$repos/$name.git" rev-parse main-monitoring)
    touch "$tmp/marker"; sleep 1
    read -r got deploy_got < <(wire_run "$d1")
    stored=$(packs_in "$d1/home" "$tmp/marker")
    changed=$(git --git-dir="$repos/$name.git" diff-tree -r "$before" "$after" | awk '{print $4}')
    raw=$(for b in $changed; do git --git-dir="$repos/$name.git" cat-file -s "$b"; done | awk '{s += $1} END {print s}')
    packed=$(echo "$changed" | git --git-dir="$repos/$name.git" pack-objects --stdout -q | wc -c)
    printf '== bytes, steady pass where 10 others changed (%d devices on the branch): monitoring fetch received %d on the wire (stored as %d: the thin pack completed with its bases; the deploy fetch: %d more); changed: %d files, %d bytes raw, %d as a pack; commits in between: %d\n' \
        "$n" "$got" "$stored" "$deploy_got" "$(echo "$changed" | wc -l)" "$raw" "$packed" \
        "$(git --git-dir="$repos/$name.git" rev-list --count "$before..$after")"

    # 30 days of a 200-device fleet, one report per device a day: in join.git as this version
    # writes it (each status commit records the oldest commit after the root, the trailer
    # Oldest-After-Root: the root and the first commit after it their own time, the others a
    # copy), in join-plain.git without records (the Python agent, earlier versions).
    template=$(git --git-dir="$repos/$name.git" show "main-monitoring:$(basename "$d1").toml")
    readme=$(git --git-dir="$repos/$name.git" show main-monitoring:README.md)
    fleet_history() {
        TEMPLATE="$template" README="$readme" RECORDS="$1" START="$2" python3 - <<'PY'
import os
devices, days = 200, 30
tpl, readme = os.environ["TEMPLATE"], os.environ["README"]
records, start = os.environ["RECORDS"] == "1", int(os.environ["START"])
out = []
n = devices * days
times = [start + k * (days * 86400 - 7200) // n for k in range(n)]
import time
for k, t in enumerate(times):
    dev = "dev-%03d" % (k % devices + 1)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
    body = "\n".join(
        'last-updated = "%s"' % stamp if l.startswith("last-updated") else l
        for l in tpl.splitlines()) + "\n"
    page = readme.replace("Written by", "Written at %s by" % stamp) + "\n"
    msg = "status %s\n" % dev
    if records:
        msg += "\nOldest-After-Root: %d\n" % times[min(k, 1)]
    parts = ["commit refs/heads/main-monitoring",
             "committer %s <a@b> %d +0000" % (dev, t),
             "data %d" % len(msg.encode()), msg]
    for name, data in (("%s.toml" % dev, body), ("README.md", page)):
        b = data.encode()
        parts += ["M 100644 inline %s" % name, "data %d" % len(b)]
        out.append("\n".join(parts) + "\n")
        out.append(data)
        parts = []
    out.append("\n")
import sys
sys.stdout.write("".join(out))
PY
    }
    start=$(( $(date +%s) - 30 * 86400 + 3600 ))
    for kind in records plain; do
        if [ "$kind" = records ]; then join="$repos/join.git"; else join="$repos/join-plain.git"; fi
        g init -q --bare "$join"
        git --git-dir="$repos/$name.git" push -q "$join" main
        fleet_history "$([ "$kind" = records ] && echo 1 || echo 0)" "$start" | git --git-dir="$join" fast-import --quiet
        joiner="$tmp/joiner-$kind"
        mkdir -p "$joiner"
        sed "s#/$name.git@#/$(basename "$join")@#" "$d1/config.toml" >"$joiner/config.toml"
        head=$(git --git-dir="$join" rev-parse main-monitoring)
        touch "$tmp/marker"; sleep 1
        read -r got _ < <(wire_run "$joiner")
        tree=$({ echo "$head"; git --git-dir="$join" rev-parse "$head^{tree}"; git --git-dir="$join" ls-tree "$head" | awk '{print $3}'; } \
            | git --git-dir="$join" pack-objects --stdout -q | wc -c)
        whole=$(git --git-dir="$join" count-objects -vH | awk '/size-pack/ {print $2 $3}')
        shallow=$(test -s "$(find "$joiner/home" -maxdepth 4 -path '*-monitoring/.git/shallow' | head -1)" && echo shallow || echo whole)
        printf '== bytes, joining a branch with 30 days of 200 devices, %s (%d commits, %s packed on the server): received %d on the wire (%s clone); head commit + tree + blobs as a pack: %d (%.1fx)\n' \
            "$([ "$kind" = records ] && echo "each commit with its record" || echo "no records (fallback)")" \
            "$(git --git-dir="$join" rev-list --count main-monitoring)" "$whole" "$got" "$shallow" "$tree" "$(echo "$got / $tree" | bc -l)"
    done
fi
