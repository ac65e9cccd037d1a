#!/usr/bin/env bash
# Fails (exit 1) when a guest's kernel log shows that the kernel went wrong: a panic, an Oops,
# a BUG, a WARNING, a lockup or RCU stall, a sanitizer report, any call trace, or a taint
# other than those lpmon's own modules set on purpose. Prints what it found.
# usage: scan-kernel-log.sh LOG...   (the serial console, the guest's dmesg; missing files are
#                                     skipped: a guest that died early has no dmesg)
# The taint is the value init logs as "lpmon-init: tainted=N" when the scenario is over.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: scan-kernel-log.sh LOG..." >&2; exit 2; }

# What the kernel prints when something went wrong (the lines a kernel developer greps for).
bad='Kernel panic|Oops|BUG:|kernel BUG at|WARNING:|Call Trace:|general protection fault|'
bad+='soft lockup|hard LOCKUP|rcu_sched self-detected stall|rcu: INFO:|blocked for more than|'
bad+='UBSAN:|KASAN:|KFENCE:|list_add corruption|list_del corruption|refcount_t:'
# Taint flags lpmon's tests set knowingly: O (out-of-tree module, bit 12), E (unsigned module,
# bit 13), K (livepatch, bit 15). Any other bit (W after a warning, D after an Oops, ...) fails.
allowed_taint=$(((1 << 12) | (1 << 13) | (1 << 15)))
flags=PFSRMBUDAWCIOELKXT

found=0
for log in "$@"; do
  [ -f "$log" ] || continue
  if tr -d '\r' <"$log" | grep -aE -- "$bad" >/dev/null; then
    echo "kernel log $log: the kernel reported a problem:"
    # Each report with the lines after it (the trace), at most 60 lines.
    tr -d '\r' <"$log" | grep -aE -A12 -- "$bad" | head -n 60
    found=1
  fi
  taint=$(tr -d '\r' <"$log" | sed -n 's/.*lpmon-init: tainted=\([0-9][0-9]*\).*/\1/p' | tail -n 1)
  if [ -n "$taint" ] && [ $((taint & ~allowed_taint)) -ne 0 ]; then
    letters=
    for bit in $(seq 0 17); do
      [ $((taint & (1 << bit))) -ne 0 ] && letters+=${flags:$bit:1}
    done
    echo "kernel log $log: the kernel is tainted $taint ($letters): only O, E and K are expected"
    found=1
  fi
done
exit "$found"
