#!/usr/bin/env bash
# The changed-function list of a real fix against ground truth: the functions whose code
# differs between two releases' shipped binaries. 6.1.0-55 (Debian 6.1.192-1) carries the
# proc_timens_set_offset() fix that 6.1.0-54 (6.1.190-1) lacks; lpmon build --diff of that
# fix for 6.1.0-54 must name exactly the functions of kernel/time/namespace.o whose
# disassembly differs between the two -dbg vmlinux files (addresses normalised, so code
# that only moved does not count). Both releases' sources are prepared in lpmon's cache.
# usage: diff_ground_truth.sh LPMON FIX.patch
set -euo pipefail
lpmon=$1 patch=$2
old=6.1.0-54-amd64 new=6.1.0-55-amd64
here=$(cd "$(dirname "$0")" && pwd)
scripts=$(cd "$here/../../scripts" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$lpmon" build --diff "$patch" --kernel "$old" --name truth --output "$work/out" --json >"$work/build.json"
old_cache=$("$scripts/kernel-source.sh" --release "$old")
new_cache=$("$scripts/kernel-source.sh" --release "$new")

python3 - "$work/build.json" "$old_cache/vmlinux-dbg" "$new_cache/vmlinux-dbg" <<'PY' || fail "ground truth"
import json, re, subprocess, sys

report = json.load(open(sys.argv[1]))
objs = report["diffs"][0]["objects"]
assert [o["source"] for o in objs] == ["kernel/time/namespace.c"], objs
claimed = set(objs[0]["changed_functions"])

def file_functions(vmlinux, source_file, anchor):
    """Every function in the address range of the file that defines `anchor`: the FILE
    block named source_file whose local functions lie nearest to it (globals follow all
    locals in a linked table; a file's code is contiguous in .text)."""
    out = subprocess.run(["readelf", "-sW", vmlinux], capture_output=True, text=True,
                         check=True).stdout
    block, blocks, everything = None, [], {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 8 and f[3] == "FILE":
            block = {"name": f[7], "funcs": []}
            blocks.append(block)
        elif len(f) >= 8 and f[3] == "FUNC" and int(f[2]) > 0:
            a = (int(f[1], 16), int(f[2]))
            everything.setdefault(f[7], a)
            if block is not None and f[4] == "LOCAL":
                block["funcs"].append(a)
    at = everything[anchor][0]
    def distance(b):
        return min(abs(a - at) for a, _ in b["funcs"]) if b["funcs"] else 1 << 64
    mine = min((b for b in blocks if b["name"] == source_file), key=distance)
    assert distance(mine) < 1 << 16, f"no {source_file} near {anchor} in {vmlinux}"
    lo = min([a for a, _ in mine["funcs"]] + [at])
    hi = max([a + s for a, s in mine["funcs"]] + [at + everything[anchor][1]])
    return {n: a for n, a in everything.items() if lo <= a[0] < hi}

def disassembly(vmlinux, funcs):
    lo = min(a for a, _ in funcs.values())
    hi = max(a + s for a, s in funcs.values())
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", f"--start-address={lo}",
                           f"--stop-address={hi}", vmlinux],
                          capture_output=True, text=True, check=True).stdout
    code, current = {}, None
    for line in text.splitlines():
        m = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
        if m:
            current = m.group(1)
            code[current] = []
            continue
        if current is None or not re.match(r"^\s*[0-9a-f]+:\s", line):
            continue
        insn = line.split(":", 1)[1].strip()
        insn = re.sub(r"\b(ffffffff)?[0-9a-f]{8,16} <", "<", insn)   # branch targets
        insn = re.sub(r"#\s*[0-9a-f]+ <", "# <", insn)                 # rip-relative notes
        insn = re.sub(r"0x[0-9a-f]+\(%rip\)", "X(%rip)", insn)
        insn = re.sub(r"\$0xffffffff[0-9a-f]{8}", "$ADDR", insn)
        code[current].append(insn)
    return code

anchor = sorted(claimed)[0]
old_funcs = file_functions(sys.argv[2], "namespace.c", anchor)
new_funcs = file_functions(sys.argv[3], "namespace.c", anchor)
old_code = disassembly(sys.argv[2], old_funcs)
new_code = disassembly(sys.argv[3], new_funcs)
names = sorted(set(old_funcs) | set(new_funcs))
assert all(old_code.get(n) or new_code.get(n) for n in names), "empty disassembly"
differ = {n for n in names if old_code.get(n) != new_code.get(n)}
print(f"{len(names)} functions of kernel/time/namespace.o compared: differ {sorted(differ)}")
print(f"build report: {sorted(claimed)}")
assert len(names) > 5, names
assert differ == claimed, f"binaries differ in {sorted(differ)}, the build names {sorted(claimed)}"
print("ok: the changed-function list is exactly what differs between the two releases")
PY
