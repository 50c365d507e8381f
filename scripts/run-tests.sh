#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run Sluice's test suites and print "N passed, N failed" as the last line.
# Every test program speaks TAP on stdout ("ok ..." / "not ok ..."); cmocka is
# switched to TAP with CMOCKA_MESSAGE_OUTPUT. A program that exits non-zero
# without reporting a failure counts as one failure of its own.
# Usage: scripts/run-tests.sh [unit|bpf|policy|e2e]...   (default: all)
#
# Fresh-node mode (the default as root): the suites run in a private mount
# namespace where nothing is mounted at /sys/fs/bpf, as on a freshly booted
# host, so a product or test that relies on an earlier mount fails here on
# every machine, whatever the host has mounted. The host's mounts are not
# touched. SLUICE_TEST_HOST_MOUNTS=1 runs on the host's mounts as they are.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ] && [ -z "${SLUICE_FRESH_NODE:-}" ] && [ -z "${SLUICE_TEST_HOST_MOUNTS:-}" ]; then
  exec env SLUICE_FRESH_NODE=1 unshare --mount --propagation private -- "$0" "$@"
fi
if [ -n "${SLUICE_FRESH_NODE:-}" ]; then
  while mountpoint -q /sys/fs/bpf; do
    umount -l /sys/fs/bpf || { echo "fresh-node mode: cannot unmount /sys/fs/bpf" >&2; exit 1; }
  done
  echo "# fresh-node mode: private mount namespace, no bpffs at /sys/fs/bpf"
fi
B=${B:-build}
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(unit policy bpf e2e)
export CMOCKA_MESSAGE_OUTPUT=TAP
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
pass=0 fail=0
log=$(mktemp -d /tmp/sluice-tests.XXXXXX)
trap 'rm -rf "$log"' EXIT

run_one() {   # run_one NAME CMD...
  local name=$1; shift
  local out="$log/$(echo "$name" | tr '/ ' '__').out"
  echo "== $name"
  local t0=$SECONDS
  "$@" >"$out" 2>&1
  local rc=$?
  local p f
  p=$(grep -cE '^ok( |$)' "$out")
  f=$(grep -cE '^not ok( |$)' "$out")
  grep -E '^(not ok|ok|#|Bail out)' "$out" | sed 's/^/   /'
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    echo "   not ok - $name exited with status $rc"
  fi
  if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
    echo "   --- output of $name (last 40 lines) ---"
    tail -n 40 "$out" | sed 's/^/   | /'
  fi
  echo "   ($p passed, $f failed, $((SECONDS - t0))s)"
  pass=$((pass + p)); fail=$((fail + f))
}

for s in "${suites[@]}"; do
  case $s in
  unit)
    for t in "$B"/tests/unit/test_*; do [ -x "$t" ] && run_one "unit/${t##*/}" "$t"; done ;;
  bpf)
    for t in "$B"/tests/bpf/test_*; do [ -x "$t" ] && run_one "bpf/${t##*/}" "$t"; done ;;
  policy)
    for t in tests/policy/*.sh; do [ -x "$t" ] && run_one "policy/${t##*/}" "$t"; done ;;
  e2e)
    for t in tests/e2e/test_*.sh; do [ -x "$t" ] && run_one "e2e/${t##*/}" "$t"; done ;;
  *) echo "unknown suite $s" >&2; exit 2 ;;
  esac
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
