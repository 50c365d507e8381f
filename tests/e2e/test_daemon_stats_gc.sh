#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Per-backend stats of removed backends are aged out, so sluice_stats does
# not fill up over many applies — but never while a connection to the
# backend is still open, and never the stats of live backends.
#   1. S1 at 0/100: connections reach v2 (10.1.0.2); one is held open.
#   2. Apply S1 with subset v2 removed (v1 only): v2's entry stays while the
#      held connection lives (active 1), over several ageing passes.
#   3. The held connection ends: v2's entry goes within a few passes,
#      v1's entry stays, status counts stats_aged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
dl_start --stats-gc-interval 1 || { echo "Bail out! sluiced did not start"; exit 1; }

# backend_rows ADDR: stats rows (level backend) of that backend, as JSON
backend_rows() {
	ctl stats -o json | jq -c --arg b "$1:9000" '[.[] | select(.level == "backend" and .backend == $b)]'
}
has_backend() { [ "$(backend_rows "$1" | jq length)" -gt 0 ]; }
no_backend() { [ "$(backend_rows "$1" | jq length)" -eq 0 ]; }

dl_policy "$SL_TMP/s1.yaml" 0 100
ctl apply -f "$SL_TMP/s1.yaml" >/dev/null || { echo "Bail out! apply failed"; exit 1; }
line=$(dl_load 50)
sl_check "0/100: 50 connections to v2" [ "$(dl_field "$line" two)" = 50 ]
dl_load_bg "$SL_TMP/hold.out" -n 1 --hold 8000
sl_wait_for 5 bash -c "'$CTL' --socket '$SL_SOCK' stats -o json | jq -e '[.[] | select(.level == \"backend\" and .backend == \"10.1.0.2:9000\" and .active == 1)] | length == 1' >/dev/null"
sl_check "v2 has one active connection (the held one)" [ $? -eq 0 ]

# v2 removed: the DestinationRule keeps v1 only and the route goes to v1
dl_s1 100 0 | sed -e '/- {name: v2, labels: {version: v2}}/d' \
	-e '/subset: v2}, weight: 0/d' >"$SL_TMP/v1only.yaml"
ctl apply -f "$SL_TMP/v1only.yaml" >/dev/null
sl_check "apply without subset v2" [ $? -eq 0 ]
line=$(dl_load 50)
sl_check "after the apply: 50 connections to v1" [ "$(dl_field "$line" one)" = 50 ]
sleep 3.5	# three ageing passes (1 s apart) while the held connection lives
sl_check "v2's stats stay while its connection is open" has_backend 10.1.0.2
sl_check "the held connection still talks to v2" kill -0 "$DL_LOAD_PID"

wait "$DL_LOAD_PID"
sl_log "held: $(cat "$SL_TMP/hold.out")"
sl_check "the held connection ended cleanly on v2" grep -q 'changes=0 word=two' "$SL_TMP/hold.out"
sl_wait_for 10 no_backend 10.1.0.2
sl_check "v2's stats aged out after its last connection closed" [ $? -eq 0 ]
sl_check "v1's stats stay (live backend)" has_backend 10.1.0.1
aged=$(ctl status -o json | jq -r .stats_aged)
sl_check "status counts the aged entries (stats_aged=$aged)" [ "$aged" -ge 1 ]
sl_check "the daemon logged the ageing" sl_wait_for 5 grep -q 'stats: aged out' "$DL_LOG"

sl_done
