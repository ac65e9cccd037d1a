#!/usr/bin/env bash
# Boots the test kernel under QEMU (TCG) with the base initramfs plus one scenario,
# streams the scenario's output, and turns the guest's verdict into an exit code:
# 0 pass, 1 fail (or no verdict: the guest died or timed out), 77 skip.
# qemu is always killed when the timeout runs out.
set -euo pipefail

usage() {
  cat <<'EOF2'
usage: run-guest.sh --kernel VMLINUZ --initramfs BASE.cpio --scenario SCRIPT --out DIR
                    [--timeout SECONDS] [--smp N] [--memory SIZE] [--name NAME]
                    [--forward HOST-PORT:GUEST-PORT]... [--file SRC:GUEST-PATH]...
                    [--accel tcg|kvm] [--quiet] [--kernel-problems fail|report]
                    [--append KERNEL-ARGS]
                    [-- EXTRA-QEMU-ARGS...]

  --forward  user-mode networking with a forward from 127.0.0.1:HOST-PORT on the host
             to GUEST-PORT in the guest (10.0.2.15); without it the guest has no network
  --file     put SRC into the guest at GUEST-PATH (relative to /), e.g. certificates
  --append   more kernel command line (e.g. lpmon.disable=1)
  --accel    tcg (default: /dev/kvm cannot run a guest on lpmon's CI hosts) or kvm
  --kernel-problems  fail (default): an Oops, BUG, WARNING, call trace or unexpected taint
             in the guest's kernel log fails the scenario (scan-kernel-log.sh); report: the
             caller judges the kernel log itself (lpmon verify)
EOF2
}

kernel= initramfs= scenario= out= timeout_s=120 smp=2 memory=1G name= quiet=0 accel=tcg
kernel_problems=fail append=
extra=() forwards=() files=()
while [ $# -gt 0 ]; do
  case "$1" in
  --kernel) kernel=$2; shift 2 ;;
  --initramfs) initramfs=$2; shift 2 ;;
  --scenario) scenario=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  --timeout) timeout_s=$2; shift 2 ;;
  --smp) smp=$2; shift 2 ;;
  --memory) memory=$2; shift 2 ;;
  --name) name=$2; shift 2 ;;
  --quiet) quiet=1; shift ;;
  --accel) accel=$2; shift 2 ;;
  --kernel-problems) kernel_problems=$2; shift 2 ;;
  --forward) forwards+=("$2"); shift 2 ;;
  --file) files+=("$2"); shift 2 ;;
  --append) append=$2; shift 2 ;;
  --) shift; extra=("$@"); break ;;
  -h | --help) usage; exit 0 ;;
  *) echo "run-guest: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
for f in kernel initramfs scenario out; do
  [ -n "${!f}" ] || { usage >&2; exit 2; }
done
for f in "$kernel" "$initramfs" "$scenario"; do
  [ -f "$f" ] || { echo "run-guest: $f is missing (run scripts/setup.sh and build first)" >&2; exit 1; }
done
command -v qemu-system-x86_64 >/dev/null ||
  { echo "run-guest: qemu-system-x86_64 not found (package qemu-system-x86)" >&2; exit 1; }
[ -n "$name" ] || name=$(basename "$scenario" .sh)

rm -rf "$out"
mkdir -p "$out/stage"
cp "$scenario" "$out/stage/scenario.sh"
for spec in "${files[@]}"; do
  src=${spec%%:*} dest=${spec#*:}
  [ -f "$src" ] || { echo "run-guest: --file $src: no such file" >&2; exit 1; }
  mkdir -p "$out/stage/$(dirname "$dest")"
  cp "$src" "$out/stage/$dest"
done
(cd "$out/stage" && find . -mindepth 1 | cpio -o -H newc --quiet -R 0:0) >"$out/scenario.cpio"
cat "$initramfs" "$out/scenario.cpio" >"$out/initramfs.cpio"
rm -rf "$out/stage" "$out/scenario.cpio"
: >"$out/result.log"

net=(-nic none)
if [ ${#forwards[@]} -gt 0 ]; then
  # Loopback only: nothing outside this machine can reach the guest.
  nic=user,model=e1000
  for f in "${forwards[@]}"; do nic+=",hostfwd=tcp:127.0.0.1:${f%%:*}-:${f#*:}"; done
  net=(-nic "$nic")
fi

case $kernel_problems in fail | report) ;; *)
  echo "run-guest: --kernel-problems $kernel_problems: expected fail or report" >&2; exit 2 ;;
esac
case $accel in
tcg) accel_args=(-accel tcg) ;;
kvm) accel_args=(-accel kvm -cpu host) ;;
*) echo "run-guest: --accel $accel: expected tcg or kvm" >&2; exit 2 ;;
esac

# no_timer_check: on a loaded host a TCG guest's timer can tick too slowly for the boot-time
# IO-APIC timer check, which 6.12 answers with a panic; the check is for broken hardware.
cmdline="console=ttyS0 quiet loglevel=5 panic=-1 no_timer_check${append:+ $append}"
start=$(date +%s.%N)
timeout --kill-after=5 "$timeout_s" qemu-system-x86_64 \
  "${accel_args[@]}" -m "$memory" -smp "$smp" -display none -monitor none -no-reboot "${net[@]}" \
  -kernel "$kernel" -initrd "$out/initramfs.cpio" \
  -append "$cmdline" \
  -serial "file:$out/console.log" -serial "file:$out/result.log" -serial "file:$out/artifacts.b64" \
  -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
  "${extra[@]}" </dev/null &
qemu_pid=$!
tail_pid=
if [ "$quiet" -eq 0 ]; then
  tail -n +1 -F --pid="$qemu_pid" "$out/result.log" 2>/dev/null | tr -d '\r' &
  tail_pid=$!
fi
set +e
wait "$qemu_pid"
qemu_rc=$?
set -e
[ -n "$tail_pid" ] && wait "$tail_pid" 2>/dev/null || true
elapsed=$(echo "$(date +%s.%N) $start" | awk '{printf "%.1f", $1 - $2}')
rm -f "$out/initramfs.cpio"

if [ -s "$out/artifacts.b64" ]; then
  mkdir -p "$out/artifacts"
  tr -d '\r' <"$out/artifacts.b64" | base64 -d 2>/dev/null | tar xf - -C "$out/artifacts" 2>/dev/null ||
    echo "run-guest: the guest's artifacts are incomplete" >&2
fi

# The guest's serial console (ttyS0: kernel messages at warning level and above, even when
# the guest died) and its dmesg (once the scenario is over): any Oops, BUG, WARNING, call
# trace or unexpected taint fails the scenario, whatever the scenario itself concluded.
kernel_ok=1
if [ "$kernel_problems" = fail ] && ! "$(dirname "$0")/scan-kernel-log.sh" "$out/console.log" "$out/artifacts/dmesg.txt" >"$out/kernel-problems.txt"; then
  kernel_ok=0
  echo "run-guest: the guest kernel reported a problem (see $out/kernel-problems.txt):" >&2
  cat "$out/kernel-problems.txt" >&2
fi

case $qemu_rc in
1) verdict=PASS rc=0 ;;
5) verdict=SKIP rc=77 ;;
3) verdict=FAIL rc=1 ;;
124 | 137) verdict="FAIL (timed out after ${timeout_s} s, qemu killed)" rc=1 ;;
*) verdict="FAIL (guest ended without a verdict, qemu exit $qemu_rc)" rc=1 ;;
esac
if [ "$kernel_ok" -eq 0 ]; then
  verdict="FAIL (the kernel reported a problem; the scenario said: $verdict)" rc=1
fi
echo "vm scenario $name: $verdict in $elapsed s (logs: $out)"
if [ "$rc" -eq 1 ] && [ "$quiet" -eq 1 ]; then
  tr -d '\r' <"$out/result.log" >&2
fi
exit "$rc"
