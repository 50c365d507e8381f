#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# TCP fault injection at connect(): a VirtualService annotated
# sluice.io/tcp-fault-abort: "30%" with sluice.io/tcp-fault-errno refuses
# about 30% of its new connections with that errno, counted (tcp_fault) and
# traced (tcp-fault); 0% and 100% are exact; a delay is refused at apply
# and changes nothing; removing the annotations ends the fault.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
dl_start || { echo "Bail out! sluiced did not start"; cat "$DL_LOG"; exit 1; }

# policy SHARE [ERRNO [EXTRA-ANNOTATION]]: S1 50/50 with the fault
policy() {
	dl_s1 50 50 | awk -v share="$1" -v err="${2:-}" -v extra="${3:-}" '
		/^kind: VirtualService/ { vs = 1 }
		vs && /^metadata:/ {
			print "metadata:"
			print "  name: tcp-echo"
			print "  namespace: weather"
			print "  annotations:"
			if (share != "") print "    sluice.io/tcp-fault-abort: \"" share "\""
			if (err != "") print "    sluice.io/tcp-fault-errno: " err
			if (extra != "") print "    " extra
			next
		}
		{ print }' >"$SL_TMP/fault.yaml"
}
counter() { ctl status -o json | jq -r ".counters.$1"; }
N=1000

policy 30% ECONNRESET
sl_check "30% ECONNRESET validates" "$CTL" validate -q -f "$SL_TMP/fault.yaml"
sl_check "and applies" ctl apply -q -f "$SL_TMP/fault.yaml"
c0=$(counter tcp_fault)
out=$(dl_load "$N" 2>&1)
line=$(grep '^conns=' <<<"$out")
sl_log "30%: $line; $(grep 'first error' <<<"$out")"
fail=$(dl_field "$line" fail) ok=$(dl_field "$line" ok)
c1=$(counter tcp_fault)
# binomial(1000, 0.3): sd 14.5; 240..360 is more than 4 sd either side
sl_check "about 30% of $N connections refused (240..360): $fail" \
	[ "${fail:-0}" -ge 240 ] && [ "${fail:-0}" -le 360 ] && [ "$((ok + fail))" -eq "$N" ]
sl_check "the client saw ECONNRESET" grep -q "first error: connect: Connection reset by peer" <<<"$out"
sl_check "tcp_fault counted each refusal ($((c1 - c0)) = $fail)" [ $((c1 - c0)) -eq "${fail:-x}" ]

dl_trace_run 20 "$SL_TMP/trace.json" dl_load 60
sl_check "trace: refusals say tcp-fault with errno ECONNRESET" \
	jq -se 'map(select(.why == "tcp-fault")) | length > 0 and all(.verdict == "refuse" and .errno == 104)' \
	"$SL_TMP/trace.json" >/dev/null

policy 100%
ctl apply -q -f "$SL_TMP/fault.yaml"
line=$(dl_load 200 2>&1)
sl_log "100% (ECONNREFUSED by default): $line"
sl_check "100%: every connection refused, with ECONNREFUSED" \
	sh -c "grep -q '^conns=200 ok=0 fail=200' <<'E'
$line
E
grep -q 'Connection refused' <<'E'
$line
E"

gen=$(dl_gen)
policy 30% ECONNRESET "sluice.io/tcp-fault-delay: 2s"
sl_check "a delay is refused by apply (exit 1)" sh -c "! '$CTL' --socket '$SL_SOCK' apply -q -f '$SL_TMP/fault.yaml' 2>'$SL_TMP/delay.err'"
sl_log "$(head -1 "$SL_TMP/delay.err")"
sl_check "the error names the file, line and annotation" \
	grep -q "fault.yaml:[0-9]*:[0-9]*: error\[SL0007\]: sluice.io/tcp-fault-delay is not supported" "$SL_TMP/delay.err"
sl_check "and nothing changed (generation $gen, still 100%)" \
	sh -c "[ \"\$('$CTL' --socket '$SL_SOCK' status -o json | jq -r .generation)\" = '$gen' ]"
line=$(dl_load 50 2>&1 | grep '^conns=')
sl_check "still refusing after the refused apply" [ "$(dl_field "$line" fail)" = 50 ]

policy 0%
ctl apply -q -f "$SL_TMP/fault.yaml"
line=$(dl_load 300 | grep '^conns=')
sl_log "0%: $line"
sl_check "0%: no connection refused" [ "$(dl_field "$line" fail)" = 0 ] && [ "$(dl_field "$line" ok)" = 300 ]
dl_policy "$SL_TMP/plain.yaml" 50 50
ctl apply -q -f "$SL_TMP/plain.yaml"
line=$(dl_load 300 | grep '^conns=')
sl_check "without the annotations: no connection refused" [ "$(dl_field "$line" fail)" = 0 ]
sl_done
