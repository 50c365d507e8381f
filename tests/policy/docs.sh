#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every diagnostic code and every support-table row is documented in
# docs/policy-reference.md with the same severity/status as in the code.
set -uo pipefail
cd "$(dirname "$0")/../.."
doc=docs/policy-reference.md
fail=0
while read -r name code; do
	sev=$(grep -oE "\{ $name, SL_SEV_[A-Z]+" user/lib/policy_codes.c | sed 's/.*SL_SEV_//' | tr A-Z a-z)
	if grep -qE "^\| $code \| $sev \|" "$doc"; then
		echo "ok - $code ($name) documented as $sev"
	else
		echo "not ok - $code ($name) missing or wrong in $doc"; fail=1
	fi
done < <(sed -nE 's/^#define (PL_[A-Z_]+)[[:space:]]+"(SL[0-9]+)".*/\1 \2/p' user/lib/policy_int.h)
n=0 bad=0
while read -r msg field st; do
	case $st in S) want=supported ;; U) want="not supported yet" ;; I) want=ignored ;; esac
	n=$((n + 1))
	grep -qF "| $msg | \`$field\` | $want |" "$doc" || { echo "# undocumented: $msg.$field ($want)"; bad=1; }
done < <(sed -nE 's/^\t\{ "([A-Za-z0-9]+)", "([A-Za-z0-9=_]+)", ([SUI]),.*/\1 \2 \3/p' user/lib/policy_codes.c)
if [ "$bad" -eq 0 ] && [ "$n" -gt 100 ]; then echo "ok - all $n support-table rows documented"
else echo "not ok - support table and $doc disagree ($n rows)"; fail=1; fi
exit $fail
