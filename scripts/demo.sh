#!/usr/bin/env bash
# lpmon's main job against the bundled test kernel: set up, build, start a Prometheus on the
# host, boot Debian's 6.1 kernel under QEMU with lpmon-exporter in it, apply the sample patch
# set (release 1, then release 2 replacing it), show what lpmon sees, revert, and print what
# Prometheus recorded.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake --preset default >/dev/null
cmake --build --preset default
echo
# The first test kernel (6.1); each kernel line has its own initramfs, named by its line.
line=$(basename "$(readlink -f build/test-kernel/current)" | grep -oE '^[0-9]+[.][0-9]+')
exec tests/vm/prometheus/demo.sh --name demo --kernel build/test-kernel/current/vmlinuz \
  --initramfs "build/vm/kernel-$line/initramfs.cpio" --scenario tests/vm/scenarios/demo.sh \
  --out build/vm/demo --timeout 240
