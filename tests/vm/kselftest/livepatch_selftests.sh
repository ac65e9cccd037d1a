#!/usr/bin/env bash
# Host driver of vm.livepatch_selftests: puts the kernel's own livepatch selftests and samples
# (built out of tree from Debian's linux-source, see cmake/KernelSelftests.cmake) into the
# guest, with what their scripts need beyond busybox, and boots it through run-guest.sh.
#   /lib/modules/REL/extra/*.ko       the test_klp_* and livepatch-* modules (depmod in the guest)
#   /lpmon/kselftest/livepatch/       the selftest scripts and functions.sh
#   /lpmon/kselftest/guest.sh         the scenarios' shared guest side (tools, running them)
#   /bin/bash                         bash-static (the scripts are bash)
#   /usr/local/bin/                   the host's kmod (modprobe, modinfo, depmod), GNU comm,
#                                     mktemp, diff, stat and procps' sysctl, with their libraries:
#                                     the scripts use options and messages busybox lacks
# Environment: LPMON_KSELFTEST_MODULES (dir of .ko), LPMON_KSELFTEST_SCRIPTS (the selftests'
# dir), LPMON_KERNEL_RELEASE.
# usage: livepatch_selftests.sh RUN_GUEST_ARGS...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

die() {
  echo "livepatch_selftests: $*" >&2
  exit 1
}
modules=${LPMON_KSELFTEST_MODULES:-}
scripts=${LPMON_KSELFTEST_SCRIPTS:-}
release=${LPMON_KERNEL_RELEASE:-}
if [ -z "$modules" ] || [ -z "$scripts" ] || [ -z "$release" ]; then
  die "LPMON_KSELFTEST_MODULES, LPMON_KSELFTEST_SCRIPTS and LPMON_KERNEL_RELEASE must be set (CTest sets them)"
fi
compgen -G "$modules/*.ko" >/dev/null || die "no modules in $modules: build first (target kselftest_livepatch_modules)"
[ -f "$scripts/functions.sh" ] || die "$scripts/functions.sh is missing: run scripts/setup.sh"
[ -x /bin/bash-static ] || die "/bin/bash-static is missing (package bash-static; scripts/setup.sh installs it)"

files=()
add() { files+=(--file "$1:$2"); }
# add_tool NAME: the host's NAME into /usr/local/bin, and the libraries ldd names.
add_tool() {
  local bin lib
  bin=$(command -v "$1") || die "$1 is missing on the host (scripts/setup.sh installs it)"
  bin=$(readlink -f "$bin")
  add "$bin" "usr/local/bin/$1"
  while read -r lib; do
    add "$(readlink -f "$lib")" "${lib#/}"
  done < <(ldd "$bin" | grep -o '/[^ ]*' || true)
}

for ko in "$modules"/*.ko; do add "$ko" "lib/modules/$release/extra/$(basename "$ko")"; done
for f in "$scripts"/*.sh; do add "$f" "lpmon/kselftest/livepatch/$(basename "$f")"; done
add "$here/guest.sh" lpmon/kselftest/guest.sh
add /bin/bash-static bin/bash
for tool in kmod comm mktemp diff stat sysctl; do add_tool "$tool"; done

exec "$here/../run-guest.sh" "$@" "${files[@]}"
