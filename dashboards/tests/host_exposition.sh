#!/usr/bin/env bash
# A real exposition of lpmon-exporter without BPF, for the dashboards' metric-name check:
# the exporter on each fake sysfs/procfs tree of tests/unit/fixtures (one patched, one in
# transition), one file each: OUT_DIR/host-TREE.txt. BPF-only metrics come from
# guest-metrics.txt. usage: host_exposition.sh LPMON_EXPORTER OUT_DIR
set -euo pipefail
exporter=$1 out_dir=$2
fixtures=$(cd "$(dirname "$0")/../../tests/unit/fixtures" && pwd)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null' EXIT
mkdir -p "$out_dir"
for tree in linux-6.1-patched linux-6.14-transition; do
  out=$out_dir/host-$tree.txt
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$exporter" --no-bpf --web.listen-address "127.0.0.1:$port" --log.level warn \
    --sysfs-root "$fixtures/$tree/sys" --procfs-root "$fixtures/$tree/proc" &
  pid=$!
  for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$port/metrics" -o "$out.tmp" && break
    sleep 0.1
  done
  kill "$pid"
  wait "$pid" || true
  pid=
  grep -q '^lpmon_patch_enabled{' "$out.tmp" || { echo "no lpmon_patch_enabled from $tree" >&2; exit 1; }
  mv "$out.tmp" "$out"
  echo "$out: $(grep -c '^lpmon_' "$out") lpmon samples from the exporter on $tree"
done
