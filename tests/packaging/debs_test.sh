#!/usr/bin/env bash
# The Debian packages built from this build tree (by packaging.build): their control data
# and contents, lintian, Depends that name the package of every library the binaries load
# and that apt can resolve, then an install into an empty root with dpkg (maintainer scripts
# run with DPKG_ROOT, as for a chroot being built), the installed binaries and units run and
# checked there, and a purge that leaves nothing behind.
# usage: debs_test.sh BUILD_DIR DEBS_DIR
set -uo pipefail
build=$1
debs=$2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/lib/checks.sh
. "$(dirname "$0")/../lib/checks.sh"
# has LIST LINE WHAT: the file LIST has the line LINE
has() {
  if grep -qxF -- "$2" "$1"; then ok "$3"; else bad "$3: '$2' is missing"; fi
}
timed() { # timed NAME CMD...: runs CMD, records its seconds in $work/times
  local name=$1 start rc
  shift
  start=$(date +%s.%N)
  "$@"
  rc=$?
  echo "$name=$(echo "$(date +%s.%N) - $start" | bc)" >>"$work/times"
  return $rc
}

version=$("$build/cli/lpmon" --version | sed -n 's/^lpmon //p')
arch=$(dpkg --print-architecture)
lpmon_deb="$debs/lpmon_${version}-1_${arch}.deb"
exporter_deb="$debs/lpmon-exporter_${version}-1_${arch}.deb"
expect_eq "$(cd "$debs" && ls -- *.deb | sort | paste -sd ' ')" \
  "$(printf '%s\n' "$(basename "$lpmon_deb")" "$(basename "$exporter_deb")" | sort | paste -sd ' ')" \
  "exactly the two packages are built"
[ -f "$lpmon_deb" ] && [ -f "$exporter_deb" ] || exit 1

# --- control data and contents
field() { dpkg-deb --field "$1" "$2"; }
# contents DEB: its files and links (no directories), as absolute paths
contents() { dpkg-deb --contents "$1" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\./|/|' | sort; }
contents "$lpmon_deb" >"$work/lpmon.files"
contents "$exporter_deb" >"$work/exporter.files"
for deb in "$lpmon_deb" "$exporter_deb"; do
  name=$(basename "$deb" | cut -d_ -f1)
  expect_eq "$(field "$deb" Package)/$(field "$deb" Version)/$(field "$deb" Architecture)" \
    "$name/$version-1/$arch" "$name: package, version, architecture"
  if [ -n "$(field "$deb" Description)" ]; then ok "$name: has a description"; else bad "$name: no description"; fi
done
has "$work/lpmon.files" /usr/bin/lpmon "lpmon holds /usr/bin/lpmon"
has "$work/lpmon.files" /usr/share/man/man1/lpmon.1.gz "lpmon holds lpmon(1)"
has "$work/lpmon.files" /usr/share/lpmon/run-guest.sh "lpmon holds lpmon verify's guest harness"
# A page per subcommand that `lpmon --help` lists.
subcommands=$("$build/cli/lpmon" --help | sed -n '/^Subcommands:/,/^$/s/^  \([a-z][a-z0-9-]*\)  .*/\1/p')
[ -n "$subcommands" ] || bad "no subcommands in lpmon --help"
for sub in $subcommands; do
  has "$work/lpmon.files" "/usr/share/man/man1/lpmon-$sub.1.gz" "lpmon holds lpmon-$sub(1)"
done
has "$work/exporter.files" /usr/bin/lpmon-exporter "lpmon-exporter holds /usr/bin/lpmon-exporter"
has "$work/exporter.files" /usr/lib/lpmon/libssl.so "lpmon-exporter holds its TLS shims"
has "$work/exporter.files" /usr/share/man/man1/lpmon-exporter.1.gz "lpmon-exporter holds lpmon-exporter(1)"
has "$work/exporter.files" /etc/default/lpmon-exporter "lpmon-exporter holds /etc/default/lpmon-exporter"
dpkg-deb --ctrl-tarfile "$exporter_deb" | tar -xO ./conffiles >"$work/conffiles" 2>/dev/null
has "$work/conffiles" /etc/default/lpmon-exporter "/etc/default/lpmon-exporter is a conffile"
# Every unit of deploy/systemd: the exporter's in lpmon-exporter, the others in lpmon.
for unit in "$repo"/deploy/systemd/*.service; do
  name=$(basename "$unit")
  case $name in lpmon-exporter*) list=exporter ;; *) list=lpmon ;; esac
  if grep -qE "^(/usr)?/lib/systemd/system/$name\$" "$work/$list.files"; then
    ok "$name is in the $list package"
  else
    bad "$name is not in the $list package"
  fi
done
shared=$(comm -12 "$work/lpmon.files" "$work/exporter.files")
expect_eq "$shared" "" "no file is in both packages"
expect_eq "$(cat "$work"/*.files | grep -c '^/usr/local' || true)" 0 "nothing under /usr/local"

# --- Depends: every library a binary loads comes from this package or a package it names
for deb in "$lpmon_deb" "$exporter_deb"; do
  name=$(basename "$deb" | cut -d_ -f1)
  dir="$work/x-$name"
  dpkg-deb -x "$deb" "$dir"
  depends=$(field "$deb" Depends | tr ',' '\n' | sed 's/^ *//; s/[ :(].*//' | sort -u)
  while read -r elf; do
    for lib in $(readelf -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [ -e "$dir/usr/lib/lpmon/$lib" ] && continue # shipped in the package
      path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}')
      owner=$(dpkg -S "$(realpath "$path")" 2>/dev/null | head -n 1 | cut -d: -f1)
      [ -n "$owner" ] || owner=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1)
      if [ -n "$owner" ] && grep -qxF "$owner" <<<"$depends"; then
        ok "$name: $(basename "$elf") loads $lib, from $owner, a dependency"
      else
        bad "$name: $(basename "$elf") loads $lib (package '${owner:-?}'), not in Depends: $(paste -sd ' ' <<<"$depends")"
      fi
    done
  done < <(find "$dir" -type f -exec sh -c 'head -c 4 "$1" | grep -q ELF' _ {} \; -print)
done
if timed apt-simulate apt-get install --simulate --no-install-recommends "$lpmon_deb" "$exporter_deb" >"$work/apt.log" 2>&1; then
  ok "apt resolves both packages' Depends (apt-get install --simulate)"
else
  bad "apt-get install --simulate: $(tail -n 5 "$work/apt.log")"
fi

# --- lintian
if command -v lintian >/dev/null; then
  if timed lintian lintian --fail-on error,warning --suppress-tags-from-file "$here/lintian-suppressions" \
    "$lpmon_deb" "$exporter_deb" >"$work/lintian.log" 2>&1; then
    ok "lintian finds no error or warning"
  else
    bad "lintian: $(cat "$work/lintian.log")"
  fi
else
  bad "lintian not found (run scripts/setup.sh)"
fi

# --- install into an empty root
root="$work/root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
: >"$root/var/lib/dpkg/status"
# The root has no libraries or shell: depends are checked above, scripts run with DPKG_ROOT.
rdpkg() { dpkg --root="$root" --force-script-chrootless --force-depends --log=/dev/null "$@"; }
if timed install rdpkg -i "$lpmon_deb" "$exporter_deb" >"$work/dpkg.log" 2>&1; then
  ok "dpkg installs both packages"
else
  bad "dpkg -i: $(tail -n 10 "$work/dpkg.log")"
fi
expect_eq "$(dpkg-query --root="$root" -W -f='${Package}=${Status} ' lpmon lpmon-exporter)" \
  "lpmon=install ok installed lpmon-exporter=install ok installed " "both are installed"
out=$("$root/usr/bin/lpmon" --version 2>&1)
expect_eq "$out" "lpmon $version" "the installed lpmon --version"
if "$root/usr/bin/lpmon" --help >"$work/help" 2>&1 && grep -q '^Subcommands:' "$work/help"; then
  ok "the installed lpmon --help"
else
  bad "the installed lpmon --help: $(head -n 5 "$work/help")"
fi
expect_eq "$("$root/usr/bin/lpmon-exporter" --version 2>&1)" "lpmon-exporter $version" "the installed lpmon-exporter --version"
if "$root/usr/bin/lpmon-exporter" --help >"$work/help" 2>&1 && grep -q -- '--web.listen-address' "$work/help"; then
  ok "the installed lpmon-exporter --help"
else
  bad "the installed lpmon-exporter --help: $(head -n 5 "$work/help")"
fi
# The exporter loads its TLS shims from the installed tree (RUNPATH $ORIGIN/../lib/lpmon).
expect_eq "$(realpath "$(ldd "$root/usr/bin/lpmon-exporter" | awk '$1 == "libssl.so" {print $3}')")" \
  "$(realpath "$root/usr/lib/lpmon/libssl.so")" "the installed exporter loads the installed libssl.so shim"

# Units: ExecStart names an installed binary; enabled (deb-systemd-helper) for their target.
units=$(cd "$root" && ls {lib,usr/lib}/systemd/system/*.service 2>/dev/null)
for unit in $units; do
  name=$(basename "$unit")
  exec=$(sed -n 's/^ExecStart=[-@!+]*\([^ ]*\).*/\1/p' "$root/$unit" | head -n 1)
  if [ -n "$exec" ] && [ -x "$root$exec" ]; then ok "$name: ExecStart $exec is installed"; else bad "$name: ExecStart '$exec' is not installed"; fi
  for target in $(sed -n 's/^WantedBy=//p' "$root/$unit"); do
    link="$root/etc/systemd/system/$target.wants/$name"
    if [ -L "$link" ]; then ok "$name is enabled for $target"; else bad "$name is not enabled ($link missing)"; fi
  done
done
if command -v systemd-analyze >/dev/null; then
  # In a copy of the root with this machine's units added (the targets ours pull in), so that
  # ExecStart's binary is looked up in the root. Any complaint fails, also an unknown key.
  vroot="$work/verify-root"
  cp -a "$root" "$vroot"
  mkdir -p "$vroot/usr/lib/systemd/system"
  cp -an /usr/lib/systemd/system/. "$vroot/usr/lib/systemd/system/"
  mapfile -t unit_paths < <(for u in $units; do echo "/$u"; done)
  if timed verify systemd-analyze verify --root="$vroot" "${unit_paths[@]}" >"$work/verify.log" 2>&1 &&
    [ ! -s "$work/verify.log" ]; then
    ok "systemd-analyze verify of the installed units"
  else
    bad "systemd-analyze verify: $(cat "$work/verify.log")"
  fi
  rm -rf "$vroot"
else
  bad "systemd-analyze not found (package systemd; run scripts/setup.sh)"
fi

# Reinstalling (an upgrade's path in the scripts) keeps what the admin changed.
echo 'LPMON_EXPORTER_ARGS="--web.listen-address=127.0.0.1:19812"' >"$root/etc/default/lpmon-exporter"
if rdpkg --force-confold -i "$exporter_deb" >"$work/dpkg.log" 2>&1; then ok "dpkg reinstalls lpmon-exporter"; else bad "dpkg reinstall: $(tail -n 5 "$work/dpkg.log")"; fi
expect_eq "$(cat "$root/etc/default/lpmon-exporter")" 'LPMON_EXPORTER_ARGS="--web.listen-address=127.0.0.1:19812"' \
  "a reinstall keeps the admin's /etc/default/lpmon-exporter"

# Purge leaves no file, conffile or enablement link behind.
if rdpkg --purge lpmon-exporter lpmon >"$work/dpkg.log" 2>&1; then ok "dpkg purges both"; else bad "dpkg --purge: $(tail -n 5 "$work/dpkg.log")"; fi
left=$(cd "$root" && find . \( -type f -o -type l \) ! -path './var/lib/dpkg/*' | sort | paste -sd ' ')
expect_eq "$left" "" "nothing is left after purge"

echo "times (s): $(paste -sd ' ' "$work/times")"
echo "packaging: $([ "$failed" -eq 0 ] && echo passed || echo FAILED)"
exit "$failed"
