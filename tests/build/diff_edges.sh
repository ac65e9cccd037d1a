#!/usr/bin/env bash
# lpmon build --diff on the edge cases of issue 15, against Debian's 6.1.190-1 source of
# 6.1.0-54-amd64 (tests/build/diffs/, prepared once in lpmon's cache): each build report
# names exactly the functions the diff changes, and the module refers to the kernel's own
# state where it must.
#   static-local   do_sys_settimeofday64() (static local `firsttime`) changes: the module
#                  reaches the kernel's firsttime through a klp relocation, no copy of it
#   new-helper     a new static helper: a new function in the module, the caller changed
#   warn-shift     pde_free() gains two lines, moving the WARN()s of later functions of
#                  fs/proc/generic.c: only pde_free and the two callers it is inlined into
#                  are patched
#   header-inline  a static inline of include/linux/time_namespace.h changes: the function
#                  it was inlined into (show_stat of fs/proc/stat.c) is patched
# usage: diff_edges.sh LPMON
set -uo pipefail
lpmon=$1
diffs=$(cd "$(dirname "$0")/diffs" && pwd)
release=6.1.0-54-amd64
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

# expect NAME OBJECTS-PYTHON-LITERAL: the report's (source, object, changed, new) per object.
expect() {
  local name=$1 objects=$2
  if ! "$lpmon" build --diff "$diffs/$name.patch" --kernel "$release" --name "edge_${name//-/_}" \
    --output "$work/$name" --json >"$work/$name.json" 2>"$work/$name.err"; then
    echo "FAIL: $name: build failed: $(tail -n 5 "$work/$name.err")"
    failed=$((failed + 1))
    return 1
  fi
  if python3 - "$work/$name.json" "$objects" <<'PY'; then
import ast, json, sys
r = json.load(open(sys.argv[1]))
d = r["diffs"][0]
got = [(o["source"], o["object"], o["changed_functions"], o["new_functions"]) for o in d["objects"]]
want = ast.literal_eval(sys.argv[2])
assert got == want, f"objects {got}, expected {want}"
print("  functions:", r["functions"])
for n in d["notes"]:
    print("  note:", n)
PY
    echo "ok: $name"
    passed=$((passed + 1))
  else
    echo "FAIL: $name: report $(cat "$work/$name.json")"
    failed=$((failed + 1))
    return 1
  fi
}

# ko_symbols NAME: the module's symbol table (name, type, section index).
ko_symbols() { readelf -sW "$work/$1/edge_${1//-/_}.ko" | awk 'NR > 3 {print $NF, $4, $7}'; }

if expect static-local "[('kernel/time/time.c', 'vmlinux', ['do_sys_settimeofday64'], [])]"; then
  syms=$(ko_symbols static-local)
  if printf '%s\n' "$syms" | grep -q '^\.klp\.sym\.vmlinux\.firsttime\.[0-9]*,[0-9]* ' &&
    ! printf '%s\n' "$syms" | grep -E '^firsttime(\.[0-9]+)? OBJECT [0-9]+$'; then
    echo "ok: static-local: firsttime is the kernel's (klp relocation), not a copy"
    passed=$((passed + 1))
  else
    echo "FAIL: static-local: symbols of the module: $(printf '%s\n' "$syms" | grep -i firsttime)"
    failed=$((failed + 1))
  fi
fi
if expect new-helper "[('kernel/time/time.c', 'vmlinux', ['do_sys_settimeofday64'], ['tz_out_of_range'])]"; then
  if ko_symbols new-helper | grep -Eq '^tz_out_of_range FUNC [0-9]+$'; then
    echo "ok: new-helper: tz_out_of_range is defined in the module"
    passed=$((passed + 1))
  else
    echo "FAIL: new-helper: tz_out_of_range not defined in the module"
    failed=$((failed + 1))
  fi
fi
# The shift is real: WARN()s follow pde_free in the release's fs/proc/generic.c.
src=${XDG_CACHE_HOME:-$HOME/.cache}/lpmon/src/$release/linux/fs/proc/generic.c
warns=$(awk '/^void pde_free\(/ {seen = 1} seen && /WARN/ {n++} END {print n + 0}' "$src" 2>/dev/null)
echo "warn-shift: $warns WARN lines after pde_free move by two lines"
# pde_free is inlined into proc_register and pde_put (the shipped binary: they free
# directly and never call it), so they change too; no other function of the file does.
if expect warn-shift "[('fs/proc/generic.c', 'vmlinux', ['pde_free', 'proc_register', 'pde_put'], [])]"; then
  dbg=${XDG_CACHE_HOME:-$HOME/.cache}/lpmon/src/$release/vmlinux-dbg
  inlined=0
  for f in proc_register pde_put; do
    code=$(objdump -d --no-show-raw-insn --disassemble=$f "$dbg")
    if printf '%s\n' "$code" | grep -q "<$f>:" && ! printf '%s\n' "$code" | grep -q '<pde_free>'; then
      inlined=$((inlined + 1))
    fi
  done
  if [ $inlined -eq 2 ]; then
    echo "ok: warn-shift: proc_register and pde_put inlined pde_free in $release's vmlinux"
    passed=$((passed + 1))
  else
    echo "FAIL: warn-shift: proc_register or pde_put calls pde_free in $release: not inlined"
    failed=$((failed + 1))
  fi
fi
if expect header-inline "[('fs/proc/stat.c', 'vmlinux', ['show_stat'], [])]"; then
  if grep -q 'include/linux/time_namespace.h: changed inline timens_sub_boottime; used in fs/proc/stat.c' \
    "$work/header-inline.json"; then
    echo "ok: header-inline: the report names the header, its inline and the file it is used in"
    passed=$((passed + 1))
  else
    echo "FAIL: header-inline: no note naming the header and its users"
    failed=$((failed + 1))
  fi
fi

echo "diff edge cases: $passed passed, $failed failed"
[ $failed -eq 0 ]
