#!/usr/bin/env bash
# lpmon build refuses bad input at build time, with one clear line and exit 6 (invalid
# input), and writes nothing: never a module that loads and misbehaves.
# usage: build_errors.sh LPMON KDIR VMLINUX TARGET_KO FIXES_DIR TARGET_INCLUDE
set -uo pipefail
lpmon=$1 kdir=$2 vmlinux=$3 target_ko=$4 fixes=$5 target_include=$6
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

# expect_refusal NAME MESSAGE-REGEX ARGS...: lpmon build ARGS exits 6 and says MESSAGE.
expect_refusal() {
  local name=$1 pattern=$2 out rc
  shift 2
  out=$("$lpmon" build --output "$work/out-$name" "$@" 2>&1)
  rc=$?
  if [ $rc -eq 6 ] && printf '%s\n' "$out" | grep -qE -- "$pattern" && [ ! -e "$work/out-$name" ]; then
    echo "ok: $name: $out"
    passed=$((passed + 1))
  else
    echo "FAIL: $name: exit $rc, output: $out (expected exit 6, /$pattern/, no output dir)"
    failed=$((failed + 1))
  fi
}

common=(--kdir "$kdir" --kernel-btf "$vmlinux" --object-btf "lpmon_target=$target_ko"
  --include "$target_include")

expect_refusal unknown-cve "cannot exclude CVE-2099-9999: no fix in release 2 addresses it" \
  --fixes "$fixes" --name t --version 2 --exclude-cve CVE-2099-9999 "${common[@]}"

only_one="$work/only-one"
mkdir -p "$only_one" && cp -r "$fixes/target-check-len" "$only_one/"
expect_refusal nothing-left "nothing left to build: excluding CVE-2099-0001 leaves no fix" \
  --fixes "$only_one" --name t --exclude-cve CVE-2099-0001 "${common[@]}"

missing="$work/missing-function"
mkdir -p "$missing/no-such-function"
cp "$fixes/cmdline-redact/fix.c" "$missing/no-such-function/fix.c"
sed 's/name: cmdline_proc_show/name: lpmon_no_such_function/' \
  "$fixes/cmdline-redact/fix.yaml" >"$missing/no-such-function/fix.yaml"
expect_refusal missing-function "function lpmon_no_such_function does not exist in vmlinux" \
  --fixes "$missing" --name t "${common[@]}"

module_missing="$work/module-function"
mkdir -p "$module_missing/no-such-target-function"
cp "$fixes/target-check-len/fix.c" "$module_missing/no-such-target-function/fix.c"
sed 's/name: lpmon_target_check_len/name: lpmon_target_no_such/' \
  "$fixes/target-check-len/fix.yaml" >"$module_missing/no-such-target-function/fix.yaml"
expect_refusal missing-module-function "function lpmon_target_no_such does not exist in lpmon_target" \
  --fixes "$module_missing" --name t "${common[@]}"

expect_refusal no-module-btf "cannot check the functions of object 'lpmon_target': pass --object-btf" \
  --fixes "$fixes" --name t --kdir "$kdir" --kernel-btf "$vmlinux" --include "$target_include"

# Headers of one kernel, BTF of another: a fake vmlinux whose banner names another release.
other="$work/other-vmlinux"
cp "$vmlinux" "$other"
printf 'Linux version 6.1.0-99-amd64 (fake) #1\0' | dd of="$other" bs=1 seek=0 conv=notrunc status=none
expect_refusal headers-mismatch "headers in .* are for kernel .* but .* is kernel 6.1.0-99-amd64" \
  --fixes "$fixes" --name t --kdir "$kdir" --kernel-btf "$other"

unknown_key="$work/unknown-key"
mkdir -p "$unknown_key/bad"
cp "$fixes/cmdline-redact/fix.c" "$unknown_key/bad/"
{ cat "$fixes/cmdline-redact/fix.yaml"; echo "sinse: 2"; } >"$unknown_key/bad/fix.yaml"
expect_refusal unknown-key "fix.yaml:[0-9]+: unknown key 'sinse'" \
  --fixes "$unknown_key" --name t "${common[@]}"

bad_cve="$work/bad-cve"
mkdir -p "$bad_cve/bad"
cp "$fixes/cmdline-redact/fix.c" "$bad_cve/bad/"
sed 's/CVE-2099-1001/CVE-99-1/' "$fixes/cmdline-redact/fix.yaml" >"$bad_cve/bad/fix.yaml"
expect_refusal bad-cve-id "'CVE-99-1' is not a CVE id" --fixes "$bad_cve" --name t "${common[@]}"

expect_refusal bad-name "--name 'Bad-Name'" --fixes "$fixes" --name Bad-Name "${common[@]}"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
