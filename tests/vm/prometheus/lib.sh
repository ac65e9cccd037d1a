# Host side of a guest exporter scraped by a real Prometheus: TLS material, basic auth,
# a Prometheus on loopback, and PromQL through its HTTP API. Sourced by the host drivers of
# guest tests (scrape_guest.sh, gate_guest.sh, ...). Needs: python3, openssl, curl,
# prometheus. Sets and uses $work.

# host_driver_start: what every driver begins with: a scratch directory ($work), loopback
# without proxies, and on any exit every process in host_pids stopped (Prometheus is added
# by start_prometheus; add scrapers and guests) and $work removed.
host_pids=()
host_driver_start() {
  work=$(mktemp -d)
  export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
  trap host_driver_cleanup EXIT
}
host_driver_cleanup() {
  set +e # best effort: a helper that already ended must not change the verdict
  local pid
  for pid in "${host_pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${host_pids[@]}"; do wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}

# guest_out_dir RUN_GUEST_ARGS...: the --out directory among them.
guest_out_dir() {
  local prev= arg
  for arg; do
    [ "$prev" = --out ] && { echo "$arg"; return 0; }
    prev=$arg
  done
  echo "no --out among run-guest.sh's arguments" >&2
  return 2
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# make_exporter_tls: a self-signed certificate for the name Prometheus connects to
# (lpmon-guest), a random password and its bcrypt hash in $work/web.yml.
make_exporter_tls() {
  password=lpmon-$RANDOM$RANDOM
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=lpmon-guest \
    -addext subjectAltName=DNS:lpmon-guest -keyout "$work/server.key" -out "$work/server.crt" \
    2>/dev/null
  local hash
  hash=$(python3 -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10)))' "$password" 2>/dev/null)
  printf 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: %s\n' \
    "$hash" >"$work/web.yml"
  printf '%s' "$password" >"$work/password"
}

# guest_files_args: run-guest.sh arguments that put the exporter's web config in the guest.
guest_files_args() {
  echo --file "$work/web.yml:etc/lpmon/web.yml" --file "$work/server.crt:etc/lpmon/server.crt" \
    --file "$work/server.key:etc/lpmon/server.key"
}

# keep_scrape FILE PATTERN...: in the background, scrape the guest's exporter every second
# as Prometheus does (TLS, basic auth, $exporter_port), and keep in FILE the last scrape in
# which every PATTERN (grep) matches a line. Sets scraper_pid, also added to host_pids.
keep_scrape() {
  local keep=$1
  shift
  (
    while :; do
      if curl -sf --cacert "$work/server.crt" -u "prometheus:$password" \
        --resolve "lpmon-guest:$exporter_port:127.0.0.1" "https://lpmon-guest:$exporter_port/metrics" \
        -o "$keep.part"; then
        local pattern matched=1
        for pattern; do grep -q -- "$pattern" "$keep.part" || matched=0; done
        [ "$matched" = 1 ] && mv "$keep.part" "$keep"
      fi
      sleep 1
    done
  ) &
  scraper_pid=$!
  host_pids+=("$scraper_pid")
}

# start_prometheus PROM_PORT EXPORTER_PORT [RULE_FILE...]: scrape https://127.0.0.1:EXPORTER_PORT
# every second, and evaluate RULE_FILEs every second; sets prom_pid and api.
start_prometheus() {
  local prom_port=$1 exporter_port=$2
  shift 2
  cat >"$work/prometheus.yml" <<EOF2
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: [$([ $# -eq 0 ] || printf '"%s",' "$@" | sed 's/,$//')]
scrape_configs:
  - job_name: lpmon
    scheme: https
    tls_config:
      ca_file: $work/server.crt
      server_name: lpmon-guest
    basic_auth:
      username: prometheus
      password_file: $work/password
    static_configs:
      - targets: ["127.0.0.1:$exporter_port"]
EOF2
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
  prom_pid=$!
  host_pids+=("$prom_pid")
  api="http://127.0.0.1:$prom_port/api/v1"
  for _ in $(seq 100); do curl -sf "$api/status/buildinfo" >/dev/null && return 0; sleep 0.1; done
  cat "$work/prometheus.log"
  echo "prometheus did not start" >&2
  return 1
}

# value QUERY [TIME]: the first sample's value of an instant query ("" when empty).
value() {
  curl -sf --get "$api/query" --data-urlencode "query=$1" ${2:+--data-urlencode "time=$2"} |
    python3 -c '
import json, sys
result = json.load(sys.stdin)["data"]["result"]
print(result[0]["value"][1] if result else "")'
}

# table QUERY: every series of an instant query, one "labels value" line each.
table() {
  curl -sf --get "$api/query" --data-urlencode "query=$1" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["data"]["result"]:
    labels = ",".join(f"{k}={v}" for k, v in sorted(r["metric"].items()) if k not in ("job", "instance"))
    print("  {" + labels + "} " + r["value"][1])'
}
