#!/usr/bin/env bash
# lpmon's main job against the bundled test kernel: set up, build, boot Debian's 6.1
# kernel under QEMU, apply the sample livepatch, show what lpmon reports, revert it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake --preset default >/dev/null
cmake --build --preset default
echo
echo "== booting the test kernel under QEMU (software emulation, ~10 s)"
exec tests/vm/run-guest.sh --name demo --kernel build/test-kernel/current/vmlinuz \
  --initramfs build/vm/initramfs.cpio --scenario tests/vm/scenarios/demo.sh \
  --out build/vm/demo --timeout 180
