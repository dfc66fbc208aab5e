#!/usr/bin/env bash
# Benchmark: one deploy repo with 50 apps of 20 tracked files. Builds the release binary,
# then for a file:// world and a git:// world (a local `git daemon`) measures the first
# pass, the unchanged pass (median and min of 5; its task-clock by `perf stat` when perf can
# count it), its system calls per tracked file, the processes it spawns, how often it
# contacts the deploy repo, `git status --porcelain` over the same clones, a 1-app unchanged
# pass from exec to exit, and the RSS of the daemon while it sleeps. Prints figures;
# installs nothing.
#
#   bench/run.sh   # env: KEEP=1 keeps the temp dir, APPS=N (50), FILES=N (20), RUNS=N (5),
#                  #      ONE_RUNS=N (51) runs of the 1-app pass and of its anchors,
#                  #      SETTLE=N (3) unchanged passes before the measured ones,
#                  #      BIN=path measures that binary instead of building one,
#                  #      TARGET=x86_64-unknown-linux-musl builds and measures that target
set -eu

cd "$(dirname "$0")/.."
APPS=${APPS:-50}
FILES=${FILES:-20}   # tracked files per code repo (at least 4)
RUNS=${RUNS:-5}
ONE_RUNS=${ONE_RUNS:-51}   # runs of the 1-app pass and of each of its anchors
SETTLE=${SETTLE:-3}   # unchanged passes before the measured ones (the clones' memos settle)
[ "$FILES" -ge 4 ] || { echo "bench: FILES must be at least 4" >&2; exit 2; }

# ---------------------------------------------------------------- prerequisites
missing=""
command -v strace >/dev/null 2>&1 || missing="$missing strace"
[ -x /usr/bin/time ] || missing="$missing time"
command -v git >/dev/null 2>&1 || missing="$missing git"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
if [ -n "$missing" ]; then
    echo "bench: missing tools; install with: sudo apt-get install$missing" >&2
    exit 2
fi
if ! /usr/bin/time -v true 2>&1 | grep -q 'Maximum resident set size'; then
    echo "bench: /usr/bin/time is not GNU time (need -v); install with: sudo apt-get install time" >&2
    exit 2
fi

if [ -n "${BIN:-}" ]; then
    bin=$(realpath "$BIN")   # measure a binary built elsewhere (no build)
elif [ -n "${TARGET:-}" ]; then
    # e.g. TARGET=x86_64-unknown-linux-musl, the static release artifact. ring's C code
    # needs a C compiler for the target; without a musl cross gcc the host cc does.
    cc_var="CC_$(echo "$TARGET" | tr - _)"
    if [ -z "$(printenv "$cc_var" || true)" ] && ! command -v "${TARGET%%-*}-linux-musl-gcc" >/dev/null 2>&1; then
        export "$cc_var=cc"
    fi
    echo "== cargo build --release --target $TARGET"
    cargo build --release --quiet --target "$TARGET"
    bin="${CARGO_TARGET_DIR:-$PWD/target}/$TARGET/release/gitops-agent"
else
    echo "== cargo build --release"
    cargo build --release --quiet
    bin="${CARGO_TARGET_DIR:-$PWD/target}/release/gitops-agent"
fi
bin=$(realpath "$bin")

load0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- temp world
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gitops-agent-bench.XXXXXX")
daemon_pid=""
agent_pid=""
cleanup() {
    [ -n "$agent_pid" ] && kill -KILL "$agent_pid" 2>/dev/null || true
    [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null || true
    [ -n "$daemon_pid" ] && wait "$daemon_pid" 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "bench: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A private HOME: neither the demo repos nor the agent see the user's git config.
export HOME="$tmp/user-home"
mkdir -p "$HOME"
unset XDG_CONFIG_HOME GIT_DIR GIT_WORK_TREE GIT_SSH_COMMAND 2>/dev/null || true
export GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
g() { git -c init.defaultBranch=main -c advice.detachedHead=false "$@"; }

repos="$tmp/repos"   # what the git daemon serves (--base-path)
mkdir -p "$repos/code"
infra=edge-bench

echo "== creating $APPS code repos of $FILES tracked files in $tmp"
declare -A commit
for i in $(seq -w 1 "$APPS"); do
    [ "$APPS" -ge 10 ] || i="0$i"
    app="app$i"
    r="$repos/code/$app"
    g init -q "$r"
    mkdir -p "$r/src" "$r/static"
    printf '#!/bin/sh\necho "%s running"\n' "$app" > "$r/run.sh"
    printf '# %s\n\nA small app for the gitops-agent benchmark.\n' "$app" > "$r/README.md"
    printf 'NAME=%s\nPORT=80%s\n' "$app" "$i" > "$r/src/defaults.conf"
    printf 'print("hello from %s")\n' "$app" > "$r/src/main.py"
    # The rest in two folders: modules under src/, assets under static/.
    for f in $(seq 5 "$FILES"); do
        if [ $((f % 2)) = 1 ]; then
            printf 'VALUE_%s = "%s"\n' "$f" "$app" > "$r/src/mod$f.py"
        else
            printf '%s asset %s\n' "$app" "$f" > "$r/static/asset$f.txt"
        fi
    done
    g -C "$r" add -A
    g -C "$r" commit -qm "$app v1"
    commit[$app]=$(g -C "$r" rev-parse HEAD)
done
apps=$(for i in $(seq -w 1 "$APPS"); do [ "$APPS" -ge 10 ] || i="0$i"; echo "app$i"; done)

# make_world VARIANT URL_PREFIX [APPS]: a bare deploy repo $repos/deploy-VARIANT.git whose
# infra_meta points at the code repos (all, or the list APPS) through URL_PREFIX, plus the
# agent configs.
make_world() {
    local v=$1 prefix=$2 list=${3:-$apps}
    local w="$tmp/$v"
    mkdir -p "$w"
    g init -q --bare "$repos/deploy-$v.git"
    g clone -q "$repos/deploy-$v.git" "$w/deploy-work" 2>/dev/null
    mkdir -p "$w/deploy-work/$infra"
    : > "$w/deploy-work/$infra/infra_meta.toml"
    for app in $list; do
        printf 'APP=%s\nLOG_LEVEL=info\n' "$app" > "$w/deploy-work/$infra/$app.env"
        cat >> "$w/deploy-work/$infra/infra_meta.toml" <<TOML
[$app]
code_url = "$prefix/code/$app"
code_commit_hash = "${commit[$app]}"
code_local_path = "$w/srv/$app"
config_files = [ { src = "$infra/$app.env", dst = "$w/etc/$app/app.env" } ]
post_updation_command = "true"

TOML
    done
    g -C "$w/deploy-work" add -A
    g -C "$w/deploy-work" commit -qm "deploy $APPS apps"
    g -C "$w/deploy-work" push -q origin HEAD:main
    for interval in 300 3600; do
        {
            echo "infra_name = \"$infra\""
            echo "interval = $interval"
            echo "[applications]"
            for app in $list; do echo "$app = \"$prefix/deploy-$v.git@main\""; done
        } > "$w/config-$interval.toml"
    done
}

# ---------------------------------------------------------------- git daemon
gitd="$(git --exec-path)/git-daemon"
port=""
for try in 1 2 3 4 5 6 7 8 9 10; do
    p=$(( 20000 + (RANDOM * 7 + try * 13) % 40000 ))
    "$gitd" --export-all --enable=receive-pack --base-path="$repos" --listen=127.0.0.1 \
        --port="$p" --reuseaddr --verbose "$repos" 2>"$tmp/git-daemon.log" &
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
echo "== git daemon (pid $daemon_pid) on 127.0.0.1:$port"

make_world file "file://$repos"
make_world daemon "git://127.0.0.1:$port"
make_world one "git://127.0.0.1:$port" "$(echo "$apps" | head -1)"

# ---------------------------------------------------------------- measuring helpers
TIMEFORMAT='%3R %3U %3S'
# timed OUTPREFIX CMD...: runs CMD under /usr/bin/time -v (max RSS) and bash's `time`
# (millisecond CPU: GNU time prints 10 ms steps). Leaves "wall_ms user_ms sys_ms rss_kb rc".
timed() {
    local out=$1 rc=0
    shift
    { time /usr/bin/time -v -o "$out.time" "$@" 2>>"$out.log" || rc=$?; } 2>"$out.bash"
    local r u s kb
    read -r r u s < "$out.bash"
    kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out.time")
    # /usr/bin/time's own exit status is the child's; rc came through the `||`.
    awk -v r="$r" -v u="$u" -v s="$s" -v kb="$kb" -v rc="$rc" \
        'BEGIN { printf "%d %d %d %d %d\n", r*1000, u*1000, s*1000, kb, rc }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
minimum() { sort -n | head -1; }
deploy_contacts_daemon() { grep -c "Request .*-pack for '/deploy-daemon.git'" "$tmp/git-daemon.log" || true; }
all_contacts_daemon() { grep -c "Request .*-pack for " "$tmp/git-daemon.log" || true; }
mon_head() { g --git-dir="$repos/deploy-$1.git" rev-parse -q --verify refs/heads/main-monitoring || echo none; }

declare -A R   # results: R[variant.key]
# perf, when it can count this user's task-clock (a container may forbid it): see bench_variant
PERF=0
perf stat -x, -e task-clock true >/dev/null 2>&1 && PERF=1

bench_variant() {
    local v=$1 w="$tmp/$1" cfg="$tmp/$1/config-300.toml"
    export GITOPS_AGENT_HOME="$w/home"
    echo "== [$v] first pass"
    local c0 c1
    c0=$(deploy_contacts_daemon)
    read -r R[$v.first.wall] R[$v.first.user] R[$v.first.sys] R[$v.first.rss] R[$v.first.rc] \
        < <(timed "$w/first" "$bin" --config "$cfg" --once)
    c1=$(deploy_contacts_daemon)
    R[$v.first.contacts_gitd]=$((c1 - c0))
    if [ "${R[$v.first.rc]}" != 0 ]; then
        echo "bench: [$v] first pass exited ${R[$v.first.rc]}; its log:" >&2
        tail -20 "$w/first.log" >&2
        exit 1
    fi
    local head0
    head0=$(mon_head "$v")

    # A clone reaches its steady state a few unchanged passes after a checkout (its index
    # settles, then the look record and the stat-keyed memos are written and trusted once
    # their keys are older than the memo): those passes are timed apart, the measured ones
    # come after them, as on a device between two changes.
    echo "== [$v] settling passes x$SETTLE"
    local settle=""
    for k in $(seq 1 "$SETTLE"); do
        sleep 0.2
        local sw su ss skb src
        read -r sw su ss skb src < <(timed "$w/settle$k" "$bin" --config "$cfg" --once)
        settle="$settle $((su + ss))"
    done
    R[$v.settle_all]=$(echo $settle)

    echo "== [$v] unchanged pass x$RUNS"
    local k walls="" users="" syss="" cpus="" rsss="" rcs="" a0 a1
    c0=$(deploy_contacts_daemon)
    a0=$(all_contacts_daemon)
    for k in $(seq 1 "$RUNS"); do
        local wr ur sr kb rc
        read -r wr ur sr kb rc < <(timed "$w/unchanged$k" "$bin" --config "$cfg" --once)
        walls="$walls $wr"; users="$users $ur"; syss="$syss $sr"
        cpus="$cpus $((ur + sr))"; rsss="$rsss $kb"; rcs="$rcs $rc"
    done
    c1=$(deploy_contacts_daemon)
    a1=$(all_contacts_daemon)
    # The pass's own CPU, to a hundredth of a ms: perf's task-clock counts the agent alone.
    # The user+sys above is bash's `time` around /usr/bin/time: it adds /usr/bin/time's own
    # CPU (about 0.8 ms here) and comes in the kernel's accounting ticks.
    if [ "$PERF" = 1 ]; then
        R[$v.unch.task]=$(perf stat -x, -e task-clock -r "$RUNS" "$bin" --config "$cfg" --once \
            2>&1 >/dev/null | awk -F, '$3 == "task-clock" { printf "%.1f", $1 }')
    fi
    R[$v.unch.contacts_gitd]=$(( (c1 - c0) / RUNS ))
    R[$v.unch.all_gitd]=$(( (a1 - a0) / RUNS ))
    R[$v.unch.wall]=$(printf '%s\n' $walls | median)
    R[$v.unch.user]=$(printf '%s\n' $users | median)
    R[$v.unch.sys]=$(printf '%s\n' $syss | median)
    R[$v.unch.cpu]=$(printf '%s\n' $cpus | median)
    R[$v.unch.cpu_min]=$(printf '%s\n' $cpus | minimum)
    R[$v.unch.cpu_all]=$(echo $cpus)
    R[$v.unch.rss]=$(printf '%s\n' $rsss | median)
    R[$v.unch.rc]=$(echo $rcs)
    if [ "$(mon_head "$v")" != "$head0" ]; then
        R[$v.unch.rc]="${R[$v.unch.rc]} (monitoring branch moved!)"
    fi

    echo "== [$v] unchanged pass under strace"
    local st="$w/unchanged.strace"
    "$bin" --version >/dev/null
    strace -f -qq -s 4096 -e trace=execve -e status=successful -o "$st" \
        "$bin" --config "$cfg" --once 2>"$w/strace-pass.log" || true
    # The first successful execve is the agent's own; the rest are children it spawned.
    R[$v.unch.children]=$(( $(grep -c 'execve(' "$st") - 1 ))
    R[$v.unch.children_what]=$(grep 'execve(' "$st" | tail -n +2 |
        sed -n 's/.*execve("\([^"]*\)".*/\1/p' | xargs -r -n1 basename | sort | uniq -c |
        awk '{ printf "%s%s x%s", sep, $2, $1; sep=", " }')
    R[$v.unch.contacts_file]=$(grep 'execve(' "$st" | tail -n +2 |
        grep -c "deploy-$v.git" || true)

    echo "== [$v] unchanged pass: system calls (strace -c)"
    # The agent's own calls (-f also counts threads; the file:// world's git children are
    # counted too, so its figure is not the agent's alone).
    local sc="$w/unchanged.syscalls"
    strace -f -qq -c -o "$sc" "$bin" --config "$cfg" --once 2>/dev/null || true
    R[$v.sys.total]=$(awk '$NF == "total" { print $4 }' "$sc")
    # (musl's open(2) is `open`, glibc's `openat`)
    R[$v.sys.openat]=$(awk '$NF == "openat" || $NF == "open" { n += $4 } END { print n + 0 }' "$sc")
    R[$v.sys.stat]=$(awk '$NF ~ /^(statx|newfstatat|lstat|stat|fstat)$/ { n += $4 } END { print n + 0 }' "$sc")
    local tracked=$((APPS * FILES))
    R[$v.sys.per_file]=$(awk -v t="${R[$v.sys.total]}" -v n="$tracked" 'BEGIN { printf "%.2f", t / n }')
    R[$v.sys.stat_per_file]=$(awk -v t="${R[$v.sys.stat]}" -v n="$tracked" 'BEGIN { printf "%.2f", t / n }')
    R[$v.sys.openat_per_app]=$(awk -v t="${R[$v.sys.openat]}" -v n="$APPS" 'BEGIN { printf "%.1f", t / n }')

    echo "== [$v] git status --porcelain over the same $APPS clones x$RUNS"
    # The practical anchor: what git itself pays to tell whether these worktrees changed.
    local gcpus="" gwalls="" gr gu gs d
    for k in $(seq 1 "$RUNS"); do
        { time for d in "$w"/srv/*/; do git -C "$d" status --porcelain >/dev/null; done; } 2>"$w/gitstatus.bash"
        read -r gr gu gs < "$w/gitstatus.bash"
        gcpus="$gcpus $(awk -v u="$gu" -v s="$gs" 'BEGIN { printf "%d", (u + s) * 1000 }')"
        gwalls="$gwalls $(awk -v r="$gr" 'BEGIN { printf "%d", r * 1000 }')"
    done
    R[$v.gitstatus.cpu]=$(printf '%s\n' $gcpus | median)
    R[$v.gitstatus.cpu_min]=$(printf '%s\n' $gcpus | minimum)
    R[$v.gitstatus.wall]=$(printf '%s\n' $gwalls | median)

    for mode in warm cold; do
        echo "== [$v] daemon, $mode first pass (interval = 3600)"
        if [ $mode = cold ]; then rm -rf "$w/home" "$w/srv" "$w/etc"; fi
        local log="$w/daemon-$mode.log"
        : > "$log"
        "$bin" --config "$w/config-3600.toml" 2>"$log" &
        agent_pid=$!
        local t=0
        until grep -q 'pass done' "$log"; do
            t=$((t + 1))
            if [ $t -gt 600 ] || ! kill -0 "$agent_pid" 2>/dev/null; then
                echo "bench: [$v] daemon did not finish its first pass; its log:" >&2
                tail -20 "$log" >&2
                exit 1
            fi
            sleep 0.1
        done
        sleep 2
        R[$v.$mode.vmrss]=$(awk '/^VmRSS:/ { print $2 }' "/proc/$agent_pid/status")
        R[$v.$mode.vmhwm]=$(awk '/^VmHWM:/ { print $2 }' "/proc/$agent_pid/status")
        R[$v.$mode.threads]=$(awk '/^Threads:/ { print $2 }' "/proc/$agent_pid/status")
        R[$v.$mode.anon]=$(awk '/^RssAnon:/ { print $2 }' "/proc/$agent_pid/status")
        R[$v.$mode.file]=$(awk '/^RssFile:/ { print $2 }' "/proc/$agent_pid/status")
        R[$v.$mode.pss]=$(awk '/^Pss:/ { print $2 }' "/proc/$agent_pid/smaps_rollup" 2>/dev/null || echo 0)
        local t0 rc=0
        t0=$(date +%s%N)
        kill -TERM "$agent_pid"
        # Wait at most 10 s for it to become a zombie; past that it is killed.
        local n=0
        # (bash may reap it as soon as it exits, so a missing /proc entry means gone too)
        while [ -e "/proc/$agent_pid" ] &&
            [ "$(awk '{ print $3 }' "/proc/$agent_pid/stat" 2>/dev/null)" != Z ] && [ $n -lt 200 ]; do
            sleep 0.05
            n=$((n + 1))
        done
        R[$v.$mode.stop_ms]=$(( ($(date +%s%N) - t0) / 1000000 ))
        [ $n -lt 200 ] || kill -KILL "$agent_pid" 2>/dev/null || true
        wait "$agent_pid" || rc=$?
        agent_pid=""
        R[$v.$mode.stop_rc]=$rc
    done
}

# bench_one: a deploy repo with a single app over git://, first pass then ONE_RUNS unchanged
# passes; the wall time from exec to exit of the unchanged ones (what a timer-driven
# `--once` costs per run), including its git:// round trip to the local daemon. In the same
# loop, one after the other, measured alike: the binary doing nothing (--version) and one
# bare git:// contact with no client work (connect, the daemon starting `git upload-pack`,
# v2 capabilities, one ls-refs; the pass makes one: a listing of its deploy branch and its
# -monitoring branch). Their sum is this machine's floor for the pass. Each process is
# started by posix_spawn and timed to its reaping: bash's `time` counts in whole ms and
# includes bash forking itself, too coarse for a 5 ms pass.
bench_one() {
    local w="$tmp/one" cfg="$tmp/one/config-300.toml"
    export GITOPS_AGENT_HOME="$w/home"
    echo "== [one] first pass (1 app)"
    local r u s kb rc k
    read -r r u s kb rc < <(timed "$w/first" "$bin" --config "$cfg" --once)
    [ "$rc" = 0 ] || { echo "bench: [one] first pass exited $rc" >&2; tail -20 "$w/first.log" >&2; exit 1; }
    # Past the second the checkout wrote in, so the clone's index is not racy.
    sleep 1.1
    for k in $(seq 1 "$SETTLE"); do "$bin" --config "$cfg" --once 2>/dev/null; sleep 0.2; done
    echo "== [one] unchanged pass, --version and a bare contact, x$ONE_RUNS each, in turn"
    python3 - "$ONE_RUNS" "$port" deploy-one.git "$w" "$bin" "$cfg" <<'PY'
import os, socket, sys, time
n, port, repo, w, binary, cfg = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
out = os.open("/dev/null", os.O_WRONLY)
log = os.open(w + "/unchanged.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
def spawn(argv, err):
    """wall ms from posix_spawn to reaped, user+sys ms (wait4's rusage), exit code"""
    t = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, err, 2)])
    _, status, ru = os.wait4(pid, 0)
    wall = (time.perf_counter() - t) * 1000
    return wall, (ru.ru_utime + ru.ru_stime) * 1000, os.waitstatus_to_exitcode(status)
def pkt(s):
    b = s.encode()
    return b"%04x" % (len(b) + 4) + b
def until_flush(sock):
    buf = b""
    while not buf.endswith(b"0000"):
        got = sock.recv(65536)
        if not got:
            raise SystemExit("bench: the daemon closed the connection")
        buf += got
def contact():
    t = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(pkt("git-upload-pack /%s\0host=127.0.0.1\0\0version=2\0" % repo))
    until_flush(s)
    s.sendall(pkt("command=ls-refs\n") + pkt("object-format=sha1\n") + b"0001"
              + pkt("ref-prefix refs/heads/main\n") + b"0000")
    until_flush(s)
    s.close()
    return (time.perf_counter() - t) * 1000
with open(w + "/unchanged.times", "w") as p, open(w + "/version.times", "w") as v, \
        open(w + "/contact.times", "w") as c:
    # (a pause before each: the daemon's processes of the contact before have exited)
    for _ in range(n):
        time.sleep(0.03)
        p.write("%.2f %.2f %d\n" % spawn([binary, "--config", cfg, "--once"], log))
        time.sleep(0.03)
        v.write("%.2f %.2f %d\n" % spawn([binary, "--version"], out))
        time.sleep(0.03)
        c.write("%.2f\n" % contact())
PY
    R[one.wall]=$(cut -d' ' -f1 "$w/unchanged.times" | median)
    R[one.wall_min]=$(cut -d' ' -f1 "$w/unchanged.times" | minimum)
    R[one.cpu]=$(cut -d' ' -f2 "$w/unchanged.times" | median)
    R[one.rc]=$(cut -d' ' -f3 "$w/unchanged.times" | sort -u | tr '\n' ' ')
    R[one.exec]=$(cut -d' ' -f1 "$w/version.times" | median)
    R[one.contact]=$(median <"$w/contact.times")
    R[one.contact_min]=$(minimum <"$w/contact.times")
    R[one.floor]=$(awk -v a="${R[one.exec]}" -v b="${R[one.contact]}" 'BEGIN { printf "%.2f", a + b }')
}

bench_variant file
bench_variant daemon
bench_one

# ---------------------------------------------------------------- report
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
echo "gitops-agent benchmark: 1 deploy repo, $APPS apps, $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "binary: $bin ($(du -k "$bin" | cut -f1) KB; $(file -b "$bin" 2>/dev/null | grep -o 'static-pie linked\|statically linked\|dynamically linked' || echo '?'))"
echo "load average before the run: $load0"
echo "times in ms (bash \`time\`, includes child processes); RSS = /usr/bin/time -v max RSS"
echo "unchanged pass = median of $RUNS runs (each column separately); $APPS apps x $FILES tracked files"
echo
printf '%-34s %14s %14s\n' "" "file://" "git:// (daemon)"
row() { printf '%-34s %14s %14s\n' "$1" "$2" "$3"; }
for p in first unch; do
    [ $p = first ] && name="first pass" || name="unchanged pass"
    row "$name: wall ms" "${R[file.$p.wall]}" "${R[daemon.$p.wall]}"
    row "$name: user ms" "${R[file.$p.user]}" "${R[daemon.$p.user]}"
    row "$name: sys ms" "${R[file.$p.sys]}" "${R[daemon.$p.sys]}"
    if [ $p = unch ]; then
        row "$name: user+sys ms" "${R[file.unch.cpu]}" "${R[daemon.unch.cpu]}"
    else
        row "$name: user+sys ms" "$((R[file.first.user] + R[file.first.sys]))" \
            "$((R[daemon.first.user] + R[daemon.first.sys]))"
    fi
    row "$name: peak RSS MB" "$(mb "${R[file.$p.rss]}")" "$(mb "${R[daemon.$p.rss]}")"
done
row "unchanged pass: user+sys ms, min" "${R[file.unch.cpu_min]}" "${R[daemon.unch.cpu_min]}"
row "unchanged pass: task-clock ms" "${R[file.unch.task]:-n/a}" "${R[daemon.unch.task]:-n/a}"
row "unchanged: system calls" "${R[file.sys.total]}" "${R[daemon.sys.total]}"
row "unchanged: syscalls per tracked file" "${R[file.sys.per_file]}" "${R[daemon.sys.per_file]}"
row "unchanged: stat calls per tracked file" "${R[file.sys.stat_per_file]}" "${R[daemon.sys.stat_per_file]}"
row "unchanged: open(at) per app" "${R[file.sys.openat_per_app]}" "${R[daemon.sys.openat_per_app]}"
row "git status --porcelain x$APPS: CPU ms" "${R[file.gitstatus.cpu]}" "${R[daemon.gitstatus.cpu]}"
row "git status --porcelain x$APPS: min" "${R[file.gitstatus.cpu_min]}" "${R[daemon.gitstatus.cpu_min]}"
row "git status --porcelain x$APPS: wall" "${R[file.gitstatus.wall]}" "${R[daemon.gitstatus.wall]}"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
row "unchanged pass / git status (CPU)" "$(ratio "${R[file.unch.cpu]}" "${R[file.gitstatus.cpu]}")" \
    "$(ratio "${R[daemon.unch.cpu]}" "${R[daemon.gitstatus.cpu]}")"
row "unchanged: child processes" "${R[file.unch.children]}" "${R[daemon.unch.children]}"
row "unchanged: deploy-repo contacts" "${R[file.unch.contacts_file]}" "${R[daemon.unch.contacts_gitd]}"
row "unchanged: contacts, all repos" "${R[file.unch.children]}" "${R[daemon.unch.all_gitd]}"
row "first pass: deploy-repo contacts" "-" "${R[daemon.first.contacts_gitd]}"
for mode in warm cold; do
    row "daemon ($mode): sleeping VmRSS MB" "$(mb "${R[file.$mode.vmrss]}")" "$(mb "${R[daemon.$mode.vmrss]}")"
    row "daemon ($mode):   of which anon MB" "$(mb "${R[file.$mode.anon]}")" "$(mb "${R[daemon.$mode.anon]}")"
    row "daemon ($mode):   of which file MB" "$(mb "${R[file.$mode.file]}")" "$(mb "${R[daemon.$mode.file]}")"
    row "daemon ($mode): Pss MB" "$(mb "${R[file.$mode.pss]}")" "$(mb "${R[daemon.$mode.pss]}")"
    row "daemon ($mode): VmHWM MB" "$(mb "${R[file.$mode.vmhwm]}")" "$(mb "${R[daemon.$mode.vmhwm]}")"
    row "daemon ($mode): threads" "${R[file.$mode.threads]}" "${R[daemon.$mode.threads]}"
    row "daemon ($mode): SIGTERM->exit ms" "${R[file.$mode.stop_ms]}" "${R[daemon.$mode.stop_ms]}"
    row "daemon ($mode): exit code" "${R[file.$mode.stop_rc]}" "${R[daemon.$mode.stop_rc]}"
done
echo
echo "settling passes' CPU ms (before the measured ones): file:// ${R[file.settle_all]};  git:// ${R[daemon.settle_all]}"
echo "unchanged-pass CPU ms of each run:  file:// ${R[file.unch.cpu_all]};  git:// ${R[daemon.unch.cpu_all]}"
echo "1-app unchanged pass (git://), wall ms from exec to exit (posix_spawn to reaped, $ONE_RUNS runs): median ${R[one.wall]}, min ${R[one.wall_min]}; user+sys median ${R[one.cpu]} ms; exit codes ${R[one.rc]}"
echo "   anchor: the same binary doing nothing (--version), measured alike, median ms: ${R[one.exec]}"
echo "   anchor: one git:// contact to the same daemon, no client work (connect, upload-pack start, ls-refs), median ms: ${R[one.contact]} (min ${R[one.contact_min]}); the pass makes 1"
echo "   floor (--version + one contact): ${R[one.floor]} ms; the pass above it: $(awk -v a="${R[one.wall]}" -v b="${R[one.floor]}" 'BEGIN { printf "%.2f", a - b }') ms"
echo "unchanged-pass exit codes:          file:// ${R[file.unch.rc]};  git:// ${R[daemon.unch.rc]}"
echo "children of the unchanged pass:     file:// ${R[file.unch.children_what]:-none};  git:// ${R[daemon.unch.children_what]:-none}"
echo "daemon warm = state from the passes above (its first pass is an unchanged one);"
echo "daemon cold = state, code folders and config files removed first (its first pass clones all)."
echo

# ---------------------------------------------------------------- targets
verdict() { if [ "$1" = 1 ]; then echo "met"; else echo "NOT MET"; fi; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? 1 : 0 }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b) ? a : b }'; }
# CPU: 15 ms for the glibc build, 20 ms for the static musl artifact (its allocator and
# libc are slower); the median is judged, the min is shown beside it.
case "$(file -b "$bin" 2>/dev/null)" in
    *static*) cpu_max=20 ;;
    *) cpu_max=15 ;;
esac
cpu=${R[daemon.unch.cpu]}
if [ -n "${R[daemon.unch.task]:-}" ]; then
    # perf's task-clock when there is perf: the agent's CPU alone (see bench_variant)
    echo "target: unchanged pass <= $cpu_max ms CPU (git://): ${R[daemon.unch.task]} ms task-clock (perf stat, mean of $RUNS; user+sys by time, which adds /usr/bin/time's own: ${cpu} ms, min ${R[daemon.unch.cpu_min]}) -> $(verdict "$(le "${R[daemon.unch.task]}" "$cpu_max")")"
else
    echo "target: unchanged pass <= $cpu_max ms CPU (git://): ${cpu} ms (min ${R[daemon.unch.cpu_min]}) -> $(verdict "$(le "$cpu" "$cpu_max")")"
fi
echo "        (file://, incl. its git upload-pack children: ${R[file.unch.cpu]} ms)"
per_file=${R[daemon.sys.per_file]}
echo "target: <= 3 system calls per tracked file (git://): $per_file -> $(verdict "$(le "$per_file" 3)")"
echo "target: 1-app unchanged pass <= 5 ms wall, exec to exit: ${R[one.wall]} ms (min ${R[one.wall_min]}; this machine's floor ${R[one.floor]}) -> $(verdict "$(le "${R[one.wall]}" 5)")"
echo "target: unchanged pass spawns no process of its own (git://): ${R[daemon.unch.children]} -> $(verdict "$(le "${R[daemon.unch.children]}" 0)")"
echo "        (file://: ${R[file.unch.children]} children, all git upload-pack expected)"
contacts=$(max "${R[daemon.unch.contacts_gitd]}" "${R[file.unch.contacts_file]}")
echo "target: deploy repo contacted <= 2 times per unchanged pass: $contacts -> $(verdict "$(le "$contacts" 2)")"
rss=$(max "$(max "${R[file.first.rss]}" "${R[daemon.first.rss]}")" "$(max "${R[file.unch.rss]}" "${R[daemon.unch.rss]}")")
echo "target: peak RSS <= 30 MB (worst pass): $(mb "$rss") MB -> $(verdict "$(le "$rss" 30720)")"
slp=$(max "$(max "${R[file.warm.vmrss]}" "${R[daemon.warm.vmrss]}")" "$(max "${R[file.cold.vmrss]}" "${R[daemon.cold.vmrss]}")")
echo "target: sleeping daemon <= 8 MB RSS (worst case): $(mb "$slp") MB -> $(verdict "$(le "$slp" 8192)")"
ok=1
for v in file daemon; do for mode in warm cold; do
    [ "${R[$v.$mode.stop_rc]}" = 0 ] && [ "${R[$v.$mode.stop_ms]}" -le 10000 ] || ok=0
done; done
echo "target: daemon exits 0 within 10 s of SIGTERM: $(verdict $ok)"
