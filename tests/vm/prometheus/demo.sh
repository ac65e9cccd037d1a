#!/usr/bin/env bash
# The README's main job: the host's Prometheus scrapes lpmon-exporter in the 6.1 guest
# (TLS, basic auth) while the guest applies the sample patch set and reverts it; then what
# Prometheus recorded is printed, and in a terminal Prometheus stays up to be looked at.
# usage: demo.sh RUN_GUEST_ARGS... (everything run-guest.sh needs but --forward/--file)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
host_driver_start

exporter_port=$(free_port)
prom_port=9090
python3 -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$prom_port" \
  2>/dev/null || prom_port=$(free_port)
make_exporter_tls
start_prometheus "$prom_port" "$exporter_port"
echo "== Prometheus: http://127.0.0.1:$prom_port (scraping the guest's exporter every second)"
echo "== booting Debian's 6.1 kernel under QEMU (software emulation)"

# shellcheck disable=SC2046 # word splitting of the file arguments is wanted
"$here/../run-guest.sh" "$@" --forward "$exporter_port:9812" $(guest_files_args)

echo
echo "== what Prometheus recorded (PromQL at http://127.0.0.1:$prom_port)"
for query in \
  'max_over_time(lpmon_transitions_total[10m])' \
  'max_over_time(lpmon_transition_duration_seconds_sum[10m]) / max_over_time(lpmon_transition_duration_seconds_count[10m])' \
  'max_over_time(lpmon_patch_enabled[10m])' \
  'max_over_time(lpmon_kernel_tainted[10m]) == 1'; do
  echo "$query"
  table "$query"
done
transitions=$(value 'sum(max_over_time(lpmon_transitions_total[10m]))')
[ -n "$transitions" ] && [ "${transitions%.*}" -ge 4 ] ||
  { echo "demo: Prometheus saw ${transitions:-no} transitions, expected 4"; exit 1; }
reversed=$(value 'sum(max_over_time(lpmon_transitions_total{result="reversed"}[10m]))')
[ "${reversed%.*}" = 1 ] ||
  { echo "demo: Prometheus saw ${reversed:-no} reversed transitions, expected the rollback's 1"; exit 1; }

if [ -t 0 ]; then
  echo
  read -r -p "== Prometheus stays up at http://127.0.0.1:$prom_port; press Enter to stop it. "
fi
