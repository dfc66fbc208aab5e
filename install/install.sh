#!/bin/sh
# Install (or remove) gitops-agent on a systemd device, offline, from a local binary.
#
#   install.sh [--prefix DIR] [--no-restart] PATH_TO_BINARY
#   install.sh [--prefix DIR] --uninstall [--purge]
#
# Installs, under DIR (default /):
#   usr/local/bin/gitops-agent                 the binary (0755, replaced atomically)
#   etc/gitops-agent/config.toml               from config.toml beside this script, only if absent (0600)
#   etc/systemd/system/gitops-agent.service    the unit (0644), enabled
#   opt/gitops-agent/                          the state root (0700 when created)
#
# Idempotent: a file whose content and mode are already right is not touched (same
# bytes, same mtime), so a second run changes nothing. Temporary files are made only in
# the destination's own folder (so the final rename is atomic) and never outside DIR.
#
# Enabling: with DIR=/ and systemd running, `systemctl enable` (plus daemon-reload and,
# when the binary or unit changed and the service runs, a restart; --no-restart skips
# it). Otherwise (a --prefix image root, a chroot, a container without systemd) the
# multi-user.target.wants symlink is made by hand, as `systemctl enable` would.
#
# --uninstall removes the binary, the unit and its enablement (stopping the service
# first when systemd runs); config and state stay unless --purge is given too.

set -eu

NAME=gitops-agent
ME=install.sh

say() { printf '%s: %s\n' "$ME" "$*"; }
die() { printf '%s: error: %s\n' "$ME" "$*" >&2; exit 1; }

usage() {
    cat <<EOF
usage: $ME [--prefix DIR] [--no-restart] PATH_TO_BINARY
       $ME [--prefix DIR] --uninstall [--purge]

Installs $NAME from a local binary (no download):
  DIR/usr/local/bin/$NAME, DIR/etc/$NAME/config.toml (only if absent),
  DIR/etc/systemd/system/$NAME.service (enabled), DIR/opt/$NAME/.
DIR defaults to /. A second run changes nothing.

  --prefix DIR   install under DIR (an image root or a test folder; DIR must exist)
  --uninstall    remove the binary and the unit (and disable it); keep config and state
  --purge        with --uninstall: also remove DIR/etc/$NAME and DIR/opt/$NAME
  --no-restart   do not restart a running service after an upgrade
  -h, --help     this text
EOF
}

prefix=/
uninstall=0
purge=0
restart=1
binary=

while [ $# -gt 0 ]; do
    case $1 in
        --prefix)
            [ $# -ge 2 ] || die "--prefix needs a folder"
            prefix=$2
            shift 2
            ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --uninstall) uninstall=1; shift ;;
        --purge) purge=1; shift ;;
        --no-restart) restart=0; shift ;;
        -h | --help) usage; exit 0 ;;
        --) shift; break ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *)
            [ -z "$binary" ] || die "more than one binary given: $binary, $1"
            binary=$1
            shift
            ;;
    esac
done
if [ $# -gt 0 ]; then
    if [ -n "$binary" ] || [ $# -gt 1 ]; then
        die "unexpected arguments: $*"
    fi
    binary=$1
fi

if [ "$purge" = 1 ] && [ "$uninstall" = 0 ]; then
    die "--purge only goes with --uninstall"
fi
if [ "$uninstall" = 0 ] && [ -z "$binary" ]; then
    usage >&2
    die "no binary given (the path of the $NAME binary to install)"
fi

# The prefix as an absolute path without a trailing slash; "" means the real root.
[ -d "$prefix" ] || die "--prefix $prefix: not a folder (create it first)"
root=$(cd "$prefix" && pwd -P) || die "--prefix $prefix: cannot enter it"
[ "$root" = / ] && root=

# Talk to systemd only for the real root, when it runs (the sd_booted() test).
use_systemctl=0
if [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    use_systemctl=1
fi

if [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
    die "installing to / needs root (run with sudo, or use --prefix DIR)"
fi

here=$(cd "$(dirname "$0")" && pwd -P)
unit_src=$here/$NAME.service
config_src=$here/config.toml

bin_dst=$root/usr/local/bin/$NAME
etc_dir=$root/etc/$NAME
config_dst=$etc_dir/config.toml
unit_dir=$root/etc/systemd/system
unit_dst=$unit_dir/$NAME.service
wants_dir=$unit_dir/multi-user.target.wants
wants_link=$wants_dir/$NAME.service
# What `systemctl enable` points the wants symlink at (a path inside the target system).
wants_target=/etc/systemd/system/$NAME.service
state_dir=$root/opt/$NAME

# Removed on any exit: a half-written temporary file never stays behind.
tmp=
cleanup() { if [ -n "$tmp" ]; then rm -f "$tmp"; fi; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# mkdir_mode DIR MODE: create DIR (and parents) if missing; MODE applies to DIR only,
# and only when it is created here (an existing folder keeps its owner's choice).
mkdir_mode() {
    if [ ! -d "$1" ]; then
        mkdir -p "$1"
        chmod "$2" "$1"
        say "created $1/"
    fi
}

# has_mode PATH MODE: true when PATH's permission bits are exactly MODE (octal).
has_mode() {
    [ -n "$(find "$1" -prune -perm "$2" 2>/dev/null)" ]
}

# put_file SRC DST MODE: make DST a copy of SRC with MODE, atomically (copy to a
# temporary file in DST's folder, then rename over DST). Leaves DST untouched when it
# already has the same bytes and mode. Sets `changed` to 1 when it wrote DST.
changed=0
put_file() {
    changed=0
    if [ -f "$2" ] && cmp -s "$1" "$2"; then
        if has_mode "$2" "$3"; then
            say "unchanged $2"
            return 0
        fi
        chmod "$3" "$2"
        say "fixed mode $3 of $2"
        return 0
    fi
    tmp=$(dirname "$2")/.$(basename "$2").tmp.$$
    rm -f "$tmp"
    cp "$1" "$tmp"
    chmod "$3" "$tmp"
    mv -f "$tmp" "$2"
    tmp=
    changed=1
    say "installed $2 (mode $3)"
}

# enable_by_hand: what `systemctl enable` does for WantedBy=multi-user.target.
enable_by_hand() {
    if [ -L "$wants_link" ] && [ "$(readlink "$wants_link")" = "$wants_target" ]; then
        say "unchanged $wants_link (enabled)"
        return 0
    fi
    mkdir_mode "$wants_dir" 0755
    rm -f "$wants_link"
    ln -s "$wants_target" "$wants_link"
    say "enabled: $wants_link -> $wants_target"
}

do_install() {
    [ -f "$binary" ] || die "binary $binary: no such file"
    [ -r "$binary" ] || die "binary $binary: not readable"
    [ -f "$unit_src" ] || die "unit $unit_src: missing (keep install.sh beside $NAME.service)"
    [ -f "$config_src" ] || die "config template $config_src: missing (keep install.sh beside config.toml)"
    if [ -z "$root" ]; then
        say "installing $binary to /"
    else
        say "installing $binary under prefix $root"
    fi

    mkdir_mode "$root/usr/local/bin" 0755
    put_file "$binary" "$bin_dst" 0755
    bin_changed=$changed

    # The config may name secrets (tokens in urls, key paths): root-only.
    mkdir_mode "$etc_dir" 0755
    if [ -e "$config_dst" ]; then
        say "kept existing $config_dst"
    else
        put_file "$config_src" "$config_dst" 0600
        say "edit $config_dst (infra_name, [applications]) before starting $NAME"
    fi

    # Clones may hold remote urls with credentials: root-only when created here.
    mkdir_mode "$state_dir" 0700

    mkdir_mode "$unit_dir" 0755
    put_file "$unit_src" "$unit_dst" 0644
    unit_changed=$changed

    if [ "$use_systemctl" = 1 ]; then
        if [ "$unit_changed" = 1 ]; then
            systemctl daemon-reload
            say "systemctl daemon-reload"
        fi
        if systemctl is-enabled --quiet "$NAME.service" 2>/dev/null; then
            say "unchanged: $NAME.service already enabled"
        else
            systemctl enable "$NAME.service"
            say "enabled $NAME.service (starts at boot)"
        fi
        if systemctl is-active --quiet "$NAME.service"; then
            if [ "$bin_changed" = 1 ] || [ "$unit_changed" = 1 ]; then
                if [ "$restart" = 1 ]; then
                    systemctl restart "$NAME.service"
                    say "restarted $NAME.service to run the new version"
                else
                    say "not restarted (--no-restart): run 'systemctl restart $NAME' to run the new version"
                fi
            fi
        else
            say "not started: run 'systemctl start $NAME' once $config_dst is ready"
        fi
    else
        if [ -z "$root" ]; then
            say "systemd is not running here: enabling by hand (no daemon-reload, no start)"
        else
            say "prefix install: enabling by hand (systemctl not used)"
        fi
        enable_by_hand
    fi
    say "done"
}

remove() {
    if [ -e "$1" ] || [ -L "$1" ]; then
        rm -f "$1"
        say "removed $1"
    else
        say "already absent: $1"
    fi
}

do_uninstall() {
    if [ -z "$root" ]; then
        say "uninstalling from /"
    else
        say "uninstalling from prefix $root"
    fi
    if [ "$use_systemctl" = 1 ] && [ -e "$unit_dst" ]; then
        # Stop first: the agent ends its hooks itself on SIGTERM (KillMode=mixed).
        systemctl disable --now "$NAME.service" || say "warning: systemctl disable --now $NAME failed; going on"
        say "stopped and disabled $NAME.service"
    fi
    remove "$wants_link"
    remove "$unit_dst"
    remove "$bin_dst"
    if [ "$use_systemctl" = 1 ]; then
        systemctl daemon-reload
        say "systemctl daemon-reload"
    fi
    if [ "$purge" = 1 ]; then
        for d in "$etc_dir" "$state_dir"; do
            if [ -e "$d" ]; then
                rm -rf "$d"
                say "purged $d"
            else
                say "already absent: $d"
            fi
        done
    else
        say "kept $etc_dir and $state_dir (add --purge to remove them)"
    fi
    say "done"
}

if [ "$uninstall" = 1 ]; then
    [ -z "$binary" ] || die "--uninstall takes no binary (got $binary)"
    do_uninstall
else
    do_install
fi
