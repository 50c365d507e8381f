#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Applies under load: 100 applies (weights cycling through 80/20, 20/80,
# 0/100, 100/0, 50/50) during a bounded connection load, 0 failed
# connections and one generation per apply; a weight change is live for the
# very first new connection after `apply` returns (the time is printed as a
# `#` line, not asserted); an open connection keeps its backend across a
# weight change.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
dl_start || { echo "Bail out! sluiced did not start"; exit 1; }
weights=("80 20" "20 80" "0 100" "100 0" "50 50")
for i in "${!weights[@]}"; do
	# shellcheck disable=SC2086
	dl_policy "$SL_TMP/w$i.yaml" ${weights[$i]}
done
ctl apply -f "$SL_TMP/w0.yaml" >/dev/null
g0=$(dl_gen)

dl_load_bg "$SL_TMP/load.out" -d 30 -c 2 --rate 1000
load=$DL_LOAD_PID
bad=0
t0=$(date +%s%N)
for i in $(seq 1 100); do
	ctl apply -f "$SL_TMP/w$((i % 5)).yaml" >/dev/null 2>"$SL_TMP/apply.err" || bad=$((bad + 1))
done
t1=$(date +%s%N)
kill -TERM "$load" 2>/dev/null	# the load ends early and prints its summary
wait "$load"
line=$(cat "$SL_TMP/load.out")
sl_log "100 applies in $(((t1 - t0) / 1000000)) ms (sluicectl round trips included)"
sl_log "load during the applies: $line"
sl_check "100 applies all accepted" [ "$bad" -eq 0 ]
sl_check "one generation per apply ($g0 -> $((g0 + 100)))" [ "$(dl_gen)" = "$((g0 + 100))" ]
sl_check "load during 100 applies: 0 failed connections" [ "$(dl_field "$line" fail)" -eq 0 ]
sl_check "load during 100 applies: connections made" [ "$(dl_field "$line" ok)" -ge 100 ]
sl_check "load during 100 applies: both versions served" [ "$(dl_field "$line" one)" -gt 0 -a "$(dl_field "$line" two)" -gt 0 ]

# Weight change latency: from 100/0, apply 0/100 and connect at once; the
# first connection after apply returns must already reach v2 (and back).
all_first=1
lat=()
for r in 1 2 3 4 5; do
	ctl apply -f "$SL_TMP/w3.yaml" >/dev/null	# 100/0
	out=$(sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client "$VIP" --until two \
		--after "'$CTL' --socket '$SL_SOCK' apply -f '$SL_TMP/w2.yaml' >/dev/null")
	tries=$(dl_field "$out" tries)
	lat+=("$(dl_field "$out" until_us)")
	[ "$tries" = 1 ] || all_first=0
done
sl_log "weight change live for new connections, us after apply returned: ${lat[*]} (target <= 10000)"
sl_check "weight change: the first new connection after apply reaches the new version (5 of 5)" [ "$all_first" = 1 ]

# An open connection keeps talking to its backend across a weight change.
ctl apply -f "$SL_TMP/w3.yaml" >/dev/null	# 100/0
sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client "$VIP" --hold 1500 >"$SL_TMP/hold.out" 2>&1 &
hold=$!
sl_defer "kill $hold"
sl_wait_for 5 grep -q "hold connected" "$SL_TMP/hold.out"
ctl apply -f "$SL_TMP/w2.yaml" >/dev/null	# 0/100
line=$(dl_load 200)
sl_check "after the change new connections reach v2" [ "$(dl_field "$line" two)" -eq 200 ]
wait "$hold"
hl=$(tail -1 "$SL_TMP/hold.out")
sl_log "held connection: $hl"
sl_check "the open connection stayed on v1 with no change" grep -q "changes=0 word=one" <<<"$hl"

sl_done
