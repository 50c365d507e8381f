#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The malformed-policy corpus: every tests/policy/malformed/*.yaml starts
# with "# expect: CODE LINE:COL"; `sluicectl validate -f FILE` must exit 1
# and print "FILE:LINE:COL: error[CODE]" on stderr. TAP on stdout.
set -uo pipefail
cd "$(dirname "$0")/../.."
CTL=${SLUICECTL:-build/sluicectl}
if [ ! -x "$CTL" ]; then echo "Bail out! $CTL not built"; exit 1; fi
files=(tests/policy/malformed/*.yaml)
echo "1..${#files[@]}"
fail=0
for f in "${files[@]}"; do
	read -r _ _ code pos < <(head -n 1 "$f")
	if [ -z "${code:-}" ] || [ -z "${pos:-}" ]; then
		echo "not ok - $f (no '# expect: CODE LINE:COL' header)"; fail=1; continue
	fi
	err=$("$CTL" validate -f "$f" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -eq 1 ] && grep -qF "$f:$pos: error[$code]" <<<"$err"; then
		echo "ok - $f"
	else
		echo "not ok - $f (exit $rc, want 1 and $f:$pos: error[$code])"
		sed 's/^/# /' <<<"$err"
		fail=1
	fi
done
exit $fail
