#!/usr/bin/env bash
# Check that each given ELF file is a fully static, stripped executable:
#   no PT_INTERP (no dynamic loader), no PT_DYNAMIC segment and no dynamic section (no
#   shared libraries; this also rejects static-pie, which carries a .dynamic for its
#   self-relocation: we ship plain static executables), no .symtab, no .debug_* sections.
# Optionally `FILE=MACHINE` checks the ELF machine too (readelf's "Machine:" text,
# e.g. "AArch64", "ARM", "X86-64"). Prints one line per file; exits 1 on any failure.
#
# usage: cross/check_static.sh FILE[=MACHINE]...
set -euo pipefail

command -v readelf >/dev/null || { echo "check_static: readelf not found (apt-get install binutils)" >&2; exit 2; }
[ $# -gt 0 ] || { echo "usage: $0 FILE[=MACHINE]..." >&2; exit 2; }

failed=0
for arg in "$@"; do
    f=${arg%%=*}
    want_machine=
    [ "$arg" != "$f" ] && want_machine=${arg#*=}
    problems=()
    if [ ! -f "$f" ]; then
        echo "FAIL $f: no such file"
        failed=1
        continue
    fi
    if ! header=$(readelf -hW "$f" 2>&1); then
        echo "FAIL $f: not an ELF file: $header"
        failed=1
        continue
    fi
    machine=$(sed -n 's/^ *Machine: *//p' <<<"$header")
    type=$(sed -n 's/^ *Type: *//p' <<<"$header")
    phdrs=$(readelf -lW "$f" 2>&1)
    sections=$(readelf -SW "$f" 2>&1)
    dynamic=$(readelf -dW "$f" 2>&1)

    grep -q '^ *INTERP ' <<<"$phdrs" && problems+=("has PT_INTERP ($(grep -o 'interpreter: [^]]*' <<<"$phdrs" || true))")
    grep -q '^ *DYNAMIC ' <<<"$phdrs" && problems+=("has a PT_DYNAMIC segment")
    grep -q 'There is no dynamic section' <<<"$dynamic" || problems+=("has a dynamic section: $(grep -m3 NEEDED <<<"$dynamic" | tr -s ' ' | tr '\n' ';')")
    grep -q ' \.symtab ' <<<"$sections" && problems+=("not stripped (.symtab present)")
    grep -q ' \.debug_' <<<"$sections" && problems+=("has debug sections")
    case $type in EXEC*|DYN*) ;; *) problems+=("ELF type is '$type', not an executable") ;; esac
    if [ -n "$want_machine" ] && ! grep -qi -- "$want_machine" <<<"$machine"; then
        problems+=("machine is '$machine', expected '$want_machine'")
    fi

    size=$(stat -c %s "$f")
    if [ ${#problems[@]} -eq 0 ]; then
        printf 'OK   %s: %s, %s, static (no PT_INTERP, no dynamic section), stripped, %s bytes\n' \
            "$f" "$machine" "${type%% *}" "$size"
    else
        failed=1
        for p in "${problems[@]}"; do
            printf 'FAIL %s: %s\n' "$f" "$p"
        done
    fi
done
if [ "$failed" != 0 ]; then
    echo "check_static: FAILED: at least one binary is not a fully static, stripped executable" >&2
    exit 1
fi
