#!/usr/bin/env bash
# lpmon gate against a real Prometheus (Debian's) that scrapes a real lpmon-exporter, both on
# loopback ports of their own: each verdict and its exit code (0 pass, 1 fail, 2 inconclusive,
# 3 error, 6 invalid input). On a host without livepatch the exporter serves
# lpmon_livepatch_supported 0 and no lpmon_patch_* series; the gates below rely on that.
# usage: gate_prometheus.sh LPMON LPMON_EXPORTER [PROMETHEUS]
set -uo pipefail
lpmon=$1 exporter=$2 prometheus=${3:-prometheus}
work=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1  # loopback never goes through a proxy
passed=0 failed=0

die() {
  echo "FAIL: $*"
  for log in "$work"/*.log; do
    [ -f "$log" ] && { echo "--- $log"; tail -n 20 "$log"; }
  done
  exit 1
}

# http_get PORT PATH: an HTTP GET on loopback with bash's /dev/tcp (curl is not a dependency).
http_get() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
    timeout 5 cat <&3
  ) 2>/dev/null
}

# free_port: a loopback port where a connection is refused. Another process may take it before
# we bind it; the server then exits and the wait below says so.
free_port() {
  local port _
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

command -v "$prometheus" >/dev/null || die "no $prometheus (Debian package prometheus)"
exporter_port=$(free_port) || die "no free loopback port"
exporter_args=(--web.listen-address "127.0.0.1:$exporter_port")
# The exporter traces transitions with BPF when it can; this test needs sysfs only.
"$exporter" --help 2>&1 | grep -q -- --no-bpf && exporter_args+=(--no-bpf)
"$exporter" "${exporter_args[@]}" >"$work/exporter.log" 2>&1 &
pids+=($!)

prometheus_port=$(free_port) || die "no free loopback port"
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: lpmon
    static_configs:
      - targets: ['127.0.0.1:$exporter_port']
YAML
"$prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prometheus_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
pids+=($!)
prometheus_url="http://127.0.0.1:$prometheus_port"
instance="127.0.0.1:$exporter_port"

# Until Prometheus has scraped the exporter and answers for its series: at most 60 s.
deadline=$((SECONDS + 60))
until http_get "$prometheus_port" /api/v1/targets | grep -q '"health":"up"' &&
  http_get "$prometheus_port" '/api/v1/query?query=lpmon_livepatch_supported' | grep -q '"value"'; do
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "a server exited before the target was up"
  done
  [ $SECONDS -lt $deadline ] || die "the exporter's target was not up within 60 s"
  sleep 0.5
done
echo "prometheus $prometheus_url scrapes lpmon-exporter at $instance"

# expect NAME CODE GATE-YAML [ARGS...]: lpmon gate exits CODE on the gate (with the instance
# arg and this Prometheus unless ARGS say otherwise); prints its output either way.
expect() {
  local name=$1 code=$2 yaml=$3 out rc
  shift 3
  printf '%s' "$yaml" >"$work/$name.yaml"
  out=$(timeout 60 "$lpmon" gate "$work/$name.yaml" --arg "instance=$instance" \
    --prometheus "$prometheus_url" "$@" 2>&1)
  rc=$?
  if [ "$rc" -eq "$code" ]; then
    echo "ok: $name: exit $rc"
    passed=$((passed + 1))
  else
    echo "FAIL: $name: exit $rc, expected $code"
    failed=$((failed + 1))
  fi
  printf '%s\n' "$out" | sed 's/^/    /'
  last_output=$out
}

check() {
  local name=$1
  shift
  if "$@"; then
    echo "ok: $name"
    passed=$((passed + 1))
  else
    echo "FAIL: $name"
    failed=$((failed + 1))
  fi
}

header='args:
  - name: instance
checks:
'
expect pass 0 "$header"'  - name: livepatch-unsupported
    query: lpmon_livepatch_supported{instance="{{args.instance}}"}
    successCondition: result[0] == 0
    interval: 1s
    count: 2
  - name: exporter-up
    query: up{job="lpmon", instance="{{args.instance}}"}
    successCondition: len(result) == 1 && all(result, {# == 1})
  - name: build-info-scalar
    query: scalar(lpmon_exporter_build_info{instance="{{args.instance}}"})
    successCondition: result == 1
  - name: supported-over-time-matrix
    query: lpmon_livepatch_supported{instance="{{args.instance}}"}[1m]
    successCondition: len(result) >= 1 && all(result, {# == 0})
'
pass_yaml="$work/pass.yaml"

expect fail 1 "$header"'  - name: livepatch-supported
    query: lpmon_livepatch_supported{instance="{{args.instance}}"}
    successCondition: result[0] == 1
'

expect inconclusive 2 "$header"'  - name: neither
    query: lpmon_livepatch_supported{instance="{{args.instance}}"}
    successCondition: result[0] == 1
    failureCondition: result[0] > 1
'

# No patch on this host: no lpmon_patch_enabled series at all. all() holds over nothing, yet
# an empty result is never a success.
expect empty 2 "$header"'  - name: patch-enabled-everywhere
    query: lpmon_patch_enabled{instance="{{args.instance}}"}
    successCondition: all(result, {# == 1})
'
check "empty result is not a pass" [ "$(printf '%s' "$last_output" | grep -c 'empty result')" -ge 1 ]

# Prometheus answers "status":"error" (bad_data): an Error once errors exceed the limit.
expect bad-promql 3 "$header"'  - name: broken
    query: sum(lpmon_livepatch_supported
    consecutiveErrorLimit: 0
'
check "bad PromQL is reported as Prometheus said it" \
  grep -q 'bad_data' <<<"$last_output"

closed_port=$(free_port) || die "no free loopback port"
out=$(timeout 60 "$lpmon" gate "$pass_yaml" --arg "instance=$instance" \
  --prometheus "http://127.0.0.1:$closed_port" 2>&1 >/dev/null)
rc=$?
check "unreachable Prometheus: exit 3 (got $rc)" [ "$rc" -eq 3 ]
check "unreachable Prometheus: one line on stderr: $out" \
  [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 -a -n "$(grep 'cannot reach Prometheus at' <<<"$out")" ]

json=$(timeout 60 "$lpmon" gate "$pass_yaml" --arg "instance=$instance" \
  --prometheus "$prometheus_url" --json 2>/dev/null)
check "--json report: verdict and every measurement" \
  grep -q '"verdict": "Successful"' <<<"$json"
# 4 checks and their 5 measurements (2 + 1 + 1 + 1), each with its phase.
check "--json report: 9 phases" [ "$(grep -c '"phase": "Successful"' <<<"$json")" -eq 9 ]

expect dry-run 0 "$(cat "$pass_yaml")" --dry-run
expect invalid 6 "$header"'  - name: c
    query: up
    interval: 30
    count: 2
'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
