#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# validate == apply: every policy of the malformed corpus
# (tests/policy/malformed), of the data-plane corpus (tests/policy/dataplane)
# and each example set gets the same verdict from `sluicectl validate`
# (offline) and from `sluicectl apply` to a running sluiced, and a refusal
# names the same FILE:LINE (with the same code when the front-end refused).
# A refused apply changes nothing: the generation stays.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
dl_start || { echo "Bail out! sluiced did not start"; exit 1; }
ROOT=$SL_ROOT

# where F is refused: every "F:LINE:COL: error[CODE]" (sorted: the two
# print errors at one place in either order), or the data plane's "F:LINE"
place() {	# place TEXT
	local e
	e=$(grep -oE "[^ ]+\.ya?ml:[0-9]+:[0-9]+: error\[[A-Z0-9]+\]" <<<"$1" | sort -u | tr '\n' ' ')
	[ -n "$e" ] && { echo "$e"; return; }
	grep -oE "refused by the data plane: [^ ]+\.ya?ml:[0-9]+:" <<<"$1" | head -1
}

n=0 bad=0
check_one() {	# check_one LABEL FILE...
	local label=$1; shift
	local args=() f vout aout vrc arc vp ap gen0 gen1
	for f in "$@"; do args+=(-f "$f"); done
	# the daemon here runs without the helper (dl_start): judge as it does
	vout=$("$CTL" validate --no-http-helper "${args[@]}" 2>&1 >/dev/null); vrc=$?
	gen0=$(dl_gen)
	aout=$(ctl apply "${args[@]}" 2>&1); arc=$?
	gen1=$(dl_gen)
	n=$((n + 1))
	if [ "$vrc" -eq 0 ] && [ "$arc" -eq 0 ]; then
		return 0
	fi
	vp=$(place "$vout"); ap=$(place "$aout")
	if [ "$vrc" -ne 0 ] && [ "$arc" -ne 0 ] && [ -n "$vp" ] && [ "$vp" = "$ap" ] &&
		[ "$gen0" = "$gen1" ]; then
		return 0
	fi
	bad=$((bad + 1))
	sl_fail "$label: validate exit $vrc at '${vp:-?}', apply exit $arc at '${ap:-?}' (generation $gen0 -> $gen1)"
	sed 's/^/#   validate: /' <<<"$vout" | head -3
	sed 's/^/#   apply: /' <<<"$aout" | head -3
}

# a policy live first, so every refusal has something to leave alone
dl_policy "$SL_TMP/s1.yaml" 80 20
ctl apply -q -f "$SL_TMP/s1.yaml" || { echo "Bail out! first apply"; exit 1; }

cd "$ROOT" || exit 1
for f in tests/policy/malformed/*.yaml tests/policy/dataplane/*.yaml; do
	check_one "$f" "$f"
done
sl_check "malformed and data-plane corpora: validate and apply agree on all $n ($bad disagree)" \
	[ "$bad" -eq 0 -a "$n" -gt 80 ]

m=$n
check_one "policies/examples (all)" policies/examples/
for d in policies/examples/*/; do
	check_one "$d" "$d"
done
sl_check "example sets: validate and apply agree ($((n - m)) sets)" [ "$bad" -eq 0 ]

# the data-plane refusals (validate once missed some), at their line
for p in tests/policy/dataplane/*.yaml; do
	read -r _ _ verdict line < <(head -n 1 "$p")
	[ "$verdict" = refused ] || continue
	f=$(basename "$p" .yaml)
	out=$("$CTL" validate -f "$p" 2>&1)
	sl_check "validate refuses $f at its line $line, as apply does" \
		grep -qE "(^|: )$p:$line(:[0-9]+)?: " <<<"$out"
done
sl_done
