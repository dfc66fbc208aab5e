#!/usr/bin/env bash
# Build fully static, stripped, size-optimised release binaries of gitops-agent:
#   cross/out/<target>/gitops-agent  for x86_64-unknown-linux-musl,
#   aarch64-unknown-linux-musl and armv7-unknown-linux-musleabihf.
# Installs what it needs when missing (idempotent; see cross/README.md), checks each
# output with cross/check_static.sh and prints its size. Fails if one is over the size
# limit (MAX_BYTES, default 8 MiB).
#
# usage: cross/build.sh [TARGET...]        (default: all three)
# env:   CROSS_TOOLS      where the zig/cargo-zigbuild venv lives
#                         (default ~/.cache/gitops-agent-cross)
#        ZIGLANG_VERSION, CARGO_ZIGBUILD_VERSION   pinned PyPI versions
#        MAX_BYTES        size limit per binary (default 8388608)
#        CROSS_NO_INSTALL=1   never install anything; fail if something is missing
#        CROSS_CLEAN=1        remove each target's build tree once its binary is copied out
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/cross/out

ALL_TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)
# Targets whose std rustup ships; the others are built with -Zbuild-std (see README).
RUSTUP_TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
ZIGLANG_VERSION=${ZIGLANG_VERSION:-0.17.1}
CARGO_ZIGBUILD_VERSION=${CARGO_ZIGBUILD_VERSION:-0.24.1}
CROSS_TOOLS=${CROSS_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-agent-cross}
MAX_BYTES=${MAX_BYTES:-8388608}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'cross/build.sh: error: %s\n' "$*" >&2; exit 1; }

machine_of() {
    case $1 in
        x86_64-*) echo X86-64 ;;
        aarch64-*) echo AArch64 ;;
        armv7-*) echo ARM ;;
        *) die "unknown target $1" ;;
    esac
}

may_install() {
    [ "${CROSS_NO_INSTALL:-0}" != 1 ] || die "$1 is missing and CROSS_NO_INSTALL=1"
}

# apt_ensure CMD PACKAGE: install a Debian package when CMD is missing.
apt_ensure() {
    command -v "$1" >/dev/null 2>&1 && return 0
    may_install "$1"
    log "installing Debian package $2 (for $1)"
    apt_pkg_install "$2"
}

apt_pkg_install() {
    command -v apt-get >/dev/null || die "no apt-get: install Debian package $1 by hand"
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    if [ -z "${_apt_updated:-}" ]; then
        $sudo apt-get update -qq
        _apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$1" >/dev/null
}

ensure_rust() {
    command -v rustup >/dev/null || die "rustup not found (install Rust with rustup first)"
    local installed want missing=()
    installed=$(rustup target list --installed)
    for want in "${RUSTUP_TARGETS[@]}"; do
        grep -qx "$want" <<<"$installed" || missing+=("$want")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        may_install "rust std for ${missing[*]}"
        log "rustup target add ${missing[*]}"
        rustup target add "${missing[@]}"
    fi
    if ! rustup component list --installed | grep -q '^rust-src'; then
        may_install rust-src
        log "rustup component add rust-src (for -Zbuild-std on armv7)"
        rustup component add rust-src
    fi
}

# zig (from the ziglang wheel) and cargo-zigbuild (from its wheel: a prebuilt binary,
# no compile) in a private venv: works on Debian's externally-managed python too.
ensure_zig() {
    local venv=$CROSS_TOOLS/venv
    if [ ! -x "$venv/bin/python3" ]; then
        may_install "python venv $venv"
        command -v python3 >/dev/null || apt_ensure python3 python3
        log "creating venv $venv"
        mkdir -p "$CROSS_TOOLS"
        if ! python3 -m venv "$venv" 2>/dev/null; then
            rm -rf "$venv"
            # Debian splits venv (and ensurepip) out of python3.
            local pyver
            pyver=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
            apt_pkg_install "python$pyver-venv"
            python3 -m venv "$venv"
        fi
    fi
    export PATH="$venv/bin:$PATH"
    local have_zig have_czb
    have_zig=$("$venv/bin/python3" -m ziglang version 2>/dev/null || true)
    have_czb=$("$venv/bin/cargo-zigbuild" --version 2>/dev/null || true)
    if [ "$have_zig" != "$ZIGLANG_VERSION" ] || [ "$have_czb" != "cargo-zigbuild $CARGO_ZIGBUILD_VERSION" ]; then
        may_install "ziglang $ZIGLANG_VERSION / cargo-zigbuild $CARGO_ZIGBUILD_VERSION"
        log "pip install ziglang==$ZIGLANG_VERSION cargo-zigbuild==$CARGO_ZIGBUILD_VERSION into $venv"
        "$venv/bin/python3" -m pip install -q --disable-pip-version-check \
            "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
    fi
    log "zig $("$venv/bin/python3" -m ziglang version), $("$venv/bin/cargo-zigbuild" --version)"
}

build_one() {
    local target=$1 std_args=() envs=()
    case " ${RUSTUP_TARGETS[*]} " in
        *" $target "*) ;;
        *)
            # No prebuilt std from rustup for this target here: build core/std from
            # rust-src. -Zbuild-std is unstable; RUSTC_BOOTSTRAP=1 unlocks it on stable.
            std_args=("-Zbuild-std=std,panic_abort")
            envs=(RUSTC_BOOTSTRAP=1)
            ;;
    esac
    log "building $target ${std_args[*]}"
    local t0=$SECONDS
    env "${envs[@]}" cargo zigbuild --release --locked --target "$target" "${std_args[@]}"
    local dst=$OUT/$target/gitops-agent
    mkdir -p "$OUT/$target"
    cp "${CARGO_TARGET_DIR:-target}/$target/release/gitops-agent" "$dst.tmp"
    mv -f "$dst.tmp" "$dst"
    log "$target built in $((SECONDS - t0)) s"
    # Only the copy in cross/out is used after this; CI frees the ~0.4 GB build tree.
    if [ "${CROSS_CLEAN:-0}" = 1 ]; then
        rm -rf "${CARGO_TARGET_DIR:-target}/$target"
    fi
}

main() {
    local targets=("$@")
    [ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")
    for t in "${targets[@]}"; do machine_of "$t" >/dev/null; done

    apt_ensure readelf binutils
    apt_ensure cc gcc   # host build scripts (proc macros, build.rs) link with the host cc
    ensure_rust
    ensure_zig

    local t0=$SECONDS
    for t in "${targets[@]}"; do
        build_one "$t"
    done

    log "static check"
    local checks=()
    for t in "${targets[@]}"; do
        checks+=("$OUT/$t/gitops-agent=$(machine_of "$t")")
    done
    "$ROOT/cross/check_static.sh" "${checks[@]}"

    log "sizes (limit $MAX_BYTES bytes)"
    local too_big=0 size
    for t in "${targets[@]}"; do
        size=$(stat -c %s "$OUT/$t/gitops-agent")
        printf '%-34s %10d bytes  %6.2f MiB\n' "$t" "$size" "$(awk -v s="$size" 'BEGIN { print s / 1048576 }')"
        if [ "$size" -gt "$MAX_BYTES" ]; then
            echo "FAIL $t: $size bytes is over the limit of $MAX_BYTES" >&2
            too_big=1
        fi
    done
    [ "$too_big" = 0 ] || die "binary over the size limit"
    log "all done in $((SECONDS - t0)) s: ${targets[*]}"
}

main "$@"
