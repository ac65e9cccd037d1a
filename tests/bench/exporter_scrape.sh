#!/usr/bin/env bash
# Scrape cost of lpmon-exporter with 1 and with 20 patches of 10 functions (fake sysfs
# trees), under 2 concurrent scrapers (an HA Prometheus pair) from wrk on loopback, beside node_exporter's default
# scrape measured the same way in the same run. Prints a Markdown table; asserts nothing
# about time. usage: exporter_scrape.sh LPMON_EXPORTER [SECONDS-PER-RUN]
set -euo pipefail
exporter=$1 seconds=${2:-10}
work=$(mktemp -d)
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "exporter_scrape: wrk is missing (package wrk)"; exit 1; }
# The comparison is the point of this benchmark: without node_exporter it fails, not shrinks.
node_exporter=$(command -v prometheus-node-exporter) ||
  { echo "exporter_scrape: prometheus-node-exporter is missing (package prometheus-node-exporter: scripts/setup.sh)"; exit 1; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# fake_tree DIR PATCHES: the 6.1 sysfs layout with PATCHES patches of 10 functions each,
# built by lpmon build (a version and a CVE each).
fake_tree() {
  local dir=$1 n=$2 p f
  mkdir -p "$dir/sys/kernel/livepatch" "$dir/proc/sys/kernel"
  echo 6.1.0-56-amd64 >"$dir/proc/sys/kernel/osrelease"
  echo 45056 >"$dir/proc/sys/kernel/tainted"
  for p in $(seq "$n"); do
    local patch="$dir/sys/kernel/livepatch/bench_patch_$p"
    mkdir -p "$patch/vmlinux" "$patch/lpmon_target"
    echo 1 >"$patch/enabled"
    echo 0 >"$patch/transition"
    echo 1 >"$patch/vmlinux/patched"
    echo 1 >"$patch/lpmon_target/patched"
    # The patch's module, as the kernel shows it once loaded: lpmon-exporter reads a live
    # patch's structure once.
    mkdir -p "$dir/sys/module/bench_patch_$p/parameters"
    echo live >"$dir/sys/module/bench_patch_$p/initstate"
    echo 1 >"$dir/sys/module/bench_patch_$p/version"
    echo "CVE-2099-$p" >"$dir/sys/module/bench_patch_$p/parameters/cves"
    for f in $(seq 10); do
      mkdir -p "$patch/$([ "$f" -le 5 ] && echo vmlinux || echo lpmon_target)/function_$f,1"
    done
  done
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# measure NAME URL PID: one table row.
measure() {
  local name=$1 url=$2 pid=$3 size out p50 p99 rps t0 t1 idle_pct
  for _ in $(seq 50); do curl -sf "$url" -o /dev/null && break; sleep 0.1; done
  size=$(curl -sf "$url" | wc -c)
  out=$(wrk -t1 -c2 -d"${seconds}s" --latency "$url")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  # Idle: no scrape for a while; CPU time used per wall second, in % of one core.
  t0=$(cpu_ticks "$pid")
  sleep "$seconds"
  t1=$(cpu_ticks "$pid")
  idle_pct=$(awk -v d=$((t1 - t0)) -v s="$seconds" -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "%.3f", 100 * d / hz / s}')
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$size" "$p50" "$p99" "$rps" \
    "$(($(rss_kib "$pid") / 1024)) MiB" "$idle_pct %"
}

echo "| target | scrape bytes | p50 latency | p99 latency | scrapes/s (2 concurrent) | RSS | idle CPU |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for n in 1 20; do
  fake_tree "$work/tree$n" "$n"
  port=$(free_port)
  "$exporter" --no-bpf --log.level=warn --web.listen-address "127.0.0.1:$port" \
    --sysfs-root "$work/tree$n/sys" --procfs-root "$work/tree$n/proc" &
  pids+=($!)
  measure "lpmon-exporter, $n patch(es) x 10 functions" "http://127.0.0.1:$port/metrics" "${pids[-1]}"
done
port=$(free_port)
"$node_exporter" --web.listen-address="127.0.0.1:$port" 2>"$work/node_exporter.log" &
pids+=($!)
measure "node_exporter (default collectors)" "http://127.0.0.1:$port/metrics" "${pids[-1]}"
