#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What the data plane refuses, refused offline: every
# tests/policy/dataplane/*.yaml starts with "# expect: refused LINE" or
# "# expect: accepted"; `sluicectl validate -f FILE` (no daemon, no root)
# must exit 1 naming FILE:LINE, or exit 0. tests/e2e/test_validate_apply.sh
# checks that apply gives the same verdict at the same place. TAP on stdout.
set -uo pipefail
cd "$(dirname "$0")/../.."
CTL=${SLUICECTL:-build/sluicectl}
if [ ! -x "$CTL" ]; then echo "Bail out! $CTL not built"; exit 1; fi
files=(tests/policy/dataplane/*.yaml)
echo "1..${#files[@]}"
fail=0
for f in "${files[@]}"; do
	read -r _ _ verdict line < <(head -n 1 "$f")
	err=$("$CTL" validate -f "$f" 2>&1 >/dev/null)
	rc=$?
	case $verdict in
	refused) [ "$rc" -eq 1 ] && grep -qE "(^|: )$f:$line(:[0-9]+)?: " <<<"$err" ;;
	accepted) [ "$rc" -eq 0 ] ;;
	*) false ;;
	esac
	if [ $? -eq 0 ]; then
		echo "ok - $f ($verdict${line:+ at line $line})"
	else
		echo "not ok - $f (exit $rc, want $verdict${line:+ at $f:$line})"
		sed 's/^/# /' <<<"$err"
		fail=1
	fi
done
exit $fail
