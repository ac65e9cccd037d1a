#!/usr/bin/env bash
# The name check fails when a board or a rule names a metric the exporter does not produce:
# one misspelt name in a copy of the host board, then in a copy of the rules.
# usage: check_catches_wrong_names.sh PYTHON CHECK_DASHBOARDS.PY CHECK_ARGS...
# (CHECK_ARGS without --dashboard; the real rules files are among them)
set -euo pipefail
python=$1 check=$2
shift 2
dash=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0

# expect_caught WHAT WRONG_NAME ARGS...
expect_caught() {
  local what=$1 wrong=$2 output
  shift 2
  if output=$("$python" "$check" "$@" 2>&1); then
    echo "FAIL: $what: the check passed"
    failed=1
  elif grep -q "$wrong is neither produced" <<<"$output"; then
    echo "ok: $what: $(grep "$wrong" <<<"$output" | head -1)"
  else
    echo "FAIL: $what: the check failed without naming $wrong:"
    echo "$output"
    failed=1
  fi
}

"$python" "$check" "$@" --dashboard "$dash/lpmon-host.json" >/dev/null ||
  { echo "FAIL: the check fails on the real files already"; exit 1; }

sed 's/lpmon_transition_blocked_tasks{/lpmon_transition_blocked_task{/' "$dash/lpmon-host.json" \
  >"$work/lpmon-host.json"
expect_caught "a board" lpmon_transition_blocked_task "$@" --dashboard "$work/lpmon-host.json"

# The same arguments with the rules file swapped for a broken copy.
sed 's/lpmon_patch_in_transition)/lpmon_patch_in_transitions)/' "$dash/rules/lpmon.rules.yml" \
  >"$work/lpmon.rules.yml"
args=()
for arg in "$@"; do
  [ "$arg" = "$dash/rules/lpmon.rules.yml" ] && arg=$work/lpmon.rules.yml
  args+=("$arg")
done
expect_caught "a rule" lpmon_patch_in_transitions "${args[@]}" --dashboard "$dash/lpmon-host.json"
exit "$failed"
