#!/usr/bin/env bash
# Benchmark: one deploy repo with 50 apps. Builds the release binary, then for a file://
# world and a git:// world (a local `git daemon`) measures the first pass, the unchanged
# pass (median of 5), the processes the unchanged pass spawns, how often it contacts the
# deploy repo, and the RSS of the daemon while it sleeps. Prints figures; installs nothing.
#
#   bench/run.sh   # env: KEEP=1 keeps the temp dir, APPS=N (50), RUNS=N (5),
#                  #      BIN=path measures that binary instead of building one,
#                  #      TARGET=x86_64-unknown-linux-musl builds and measures that target
set -eu

cd "$(dirname "$0")/.."
APPS=${APPS:-50}
RUNS=${RUNS:-5}

# ---------------------------------------------------------------- prerequisites
missing=""
command -v strace >/dev/null 2>&1 || missing="$missing strace"
[ -x /usr/bin/time ] || missing="$missing time"
command -v git >/dev/null 2>&1 || missing="$missing git"
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
    bin="$PWD/target/$TARGET/release/gitops-agent"
else
    echo "== cargo build --release"
    cargo build --release --quiet
    bin="$PWD/target/release/gitops-agent"
fi

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

echo "== creating $APPS code repos in $tmp"
declare -A commit
for i in $(seq -w 1 "$APPS"); do
    [ "$APPS" -ge 10 ] || i="0$i"
    app="app$i"
    r="$repos/code/$app"
    g init -q "$r"
    mkdir -p "$r/src"
    printf '#!/bin/sh\necho "%s running"\n' "$app" > "$r/run.sh"
    printf '# %s\n\nA small app for the gitops-agent benchmark.\n' "$app" > "$r/README.md"
    printf 'NAME=%s\nPORT=80%s\n' "$app" "$i" > "$r/src/defaults.conf"
    printf 'print("hello from %s")\n' "$app" > "$r/src/main.py"
    g -C "$r" add -A
    g -C "$r" commit -qm "$app v1"
    commit[$app]=$(g -C "$r" rev-parse HEAD)
done
apps=$(for i in $(seq -w 1 "$APPS"); do [ "$APPS" -ge 10 ] || i="0$i"; echo "app$i"; done)

# make_world VARIANT URL_PREFIX: a bare deploy repo $repos/deploy-VARIANT.git whose
# infra_meta points at the code repos through URL_PREFIX, plus the agent configs.
make_world() {
    local v=$1 prefix=$2
    local w="$tmp/$v"
    mkdir -p "$w"
    g init -q --bare "$repos/deploy-$v.git"
    g clone -q "$repos/deploy-$v.git" "$w/deploy-work" 2>/dev/null
    mkdir -p "$w/deploy-work/$infra"
    : > "$w/deploy-work/$infra/infra_meta.toml"
    for app in $apps; do
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
            for app in $apps; do echo "$app = \"$prefix/deploy-$v.git@main\""; done
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
deploy_contacts_daemon() { grep -c "Request .*-pack for '/deploy-daemon.git'" "$tmp/git-daemon.log" || true; }
all_contacts_daemon() { grep -c "Request .*-pack for " "$tmp/git-daemon.log" || true; }
mon_head() { g --git-dir="$repos/deploy-$1.git" rev-parse -q --verify refs/heads/main-monitoring || echo none; }

declare -A R   # results: R[variant.key]

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
    R[$v.unch.contacts_gitd]=$(( (c1 - c0) / RUNS ))
    R[$v.unch.all_gitd]=$(( (a1 - a0) / RUNS ))
    R[$v.unch.wall]=$(printf '%s\n' $walls | median)
    R[$v.unch.user]=$(printf '%s\n' $users | median)
    R[$v.unch.sys]=$(printf '%s\n' $syss | median)
    R[$v.unch.cpu]=$(printf '%s\n' $cpus | median)
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

bench_variant file
bench_variant daemon

# ---------------------------------------------------------------- report
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
echo "gitops-agent benchmark: 1 deploy repo, $APPS apps, $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "binary: $bin ($(du -k "$bin" | cut -f1) KB; $(file -b "$bin" 2>/dev/null | grep -o 'static-pie linked\|statically linked\|dynamically linked' || echo '?'))"
echo "load average before the run: $load0"
echo "times in ms (bash \`time\`, includes child processes); RSS = /usr/bin/time -v max RSS"
echo "unchanged pass = median of $RUNS runs (each column separately)"
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
echo "unchanged-pass CPU ms of each run:  file:// ${R[file.unch.cpu_all]};  git:// ${R[daemon.unch.cpu_all]}"
echo "unchanged-pass exit codes:          file:// ${R[file.unch.rc]};  git:// ${R[daemon.unch.rc]}"
echo "children of the unchanged pass:     file:// ${R[file.unch.children_what]:-none};  git:// ${R[daemon.unch.children_what]:-none}"
echo "daemon warm = state from the passes above (its first pass is an unchanged one);"
echo "daemon cold = state, code folders and config files removed first (its first pass clones all)."
echo

# ---------------------------------------------------------------- targets
verdict() { if [ "$1" = 1 ]; then echo "met"; else echo "NOT MET"; fi; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? 1 : 0 }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b) ? a : b }'; }
cpu=${R[daemon.unch.cpu]}
echo "target: unchanged pass <= 50 ms CPU (git://): ${cpu} ms -> $(verdict "$(le "$cpu" 50)")"
echo "        (file://, incl. its git upload-pack children: ${R[file.unch.cpu]} ms -> $(verdict "$(le "${R[file.unch.cpu]}" 50)"))"
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
