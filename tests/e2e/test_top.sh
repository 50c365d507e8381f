#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `sluicectl top` shows live rates, not totals: under a steady load at
# 80/20 the connection rate moves with the load and the observed split is
# near the weights; piped, the output is plain lines; in a terminal (tmux)
# the screen is redrawn in place and 'q' quits.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
dl_start || { echo "Bail out! sluiced did not start"; exit 1; }
dl_policy "$SL_TMP/s1.yaml" 80 20
out=$(ctl apply -q -f "$SL_TMP/s1.yaml") || { echo "Bail out! apply"; exit 1; }
sl_check "apply -q prints nothing on success" [ -z "$out" ]

# Some history first, so totals and rates differ.
dl_load 2000 >/dev/null
# A steady bounded load: 400 conn/s for 8 s.
dl_load_bg "$SL_TMP/load.out" -d 8 -c 1 --rate 400

ctl top --count 3 </dev/null >"$SL_TMP/top.txt" 2>&1
sl_log "$(sed -n '1,6p' "$SL_TMP/top.txt" | tr '\n' '|')"
svc_rates=$(awk '$1 == "tcp-echo.weather.svc.cluster.local" { print $2 }' "$SL_TMP/top.txt")
sl_check "piped: 3 updates, one service line each" [ "$(echo "$svc_rates" | grep -c .)" -eq 3 ]
sl_check "piped: the service's conn/s is the load's rate (300..500), not the 2000+ total" \
	bash -c "echo '$svc_rates' | awk '\$1 < 300 || \$1 > 500 { bad = 1 } END { exit bad }'"
v1=$(awk '$1 == "v1" { print $(NF - 1) }' "$SL_TMP/top.txt" | tail -1 | tr -d '%')
sl_check "piped: observed split of v1 near 80% ($v1)" \
	awk -v v="${v1:-0}" 'BEGIN { exit !(v >= 65 && v <= 95) }'
sl_check "piped: plain lines, no escape codes" bash -c "! grep -q $'\033' '$SL_TMP/top.txt'"

# In a terminal: a private tmux server, killed at exit.
TM="tmux -L sluice-test-$SL_ID"
sl_defer "$TM kill-server"
$TM new-session -d -x 160 -y 40 "'$CTL' --socket '$SL_SOCK' top; sleep 30"
sleep 2.5
$TM capture-pane -p >"$SL_TMP/pane1.txt"
sleep 1.2
$TM capture-pane -p >"$SL_TMP/pane2.txt"
sl_check "tty: the screen shows the service and a split bar" \
	grep -Eq "^  v1 .*%[ ]+#+" "$SL_TMP/pane1.txt"
sl_check "tty: redrawn in place (one header on the screen)" \
	[ "$(grep -c "sluicectl top" "$SL_TMP/pane2.txt")" -eq 1 ]
t1=$(head -1 "$SL_TMP/pane1.txt" | awk '{ print $4 }')
t2=$(head -1 "$SL_TMP/pane2.txt" | awk '{ print $4 }')
sl_check "tty: the screen moves ($t1 -> $t2)" [ -n "$t1" -a "$t1" != "$t2" ]
pane=$($TM display-message -p '#{pane_pid}')
sl_check "tty: top is running before q" bash -c "pgrep -P $pane -x sluicectl >/dev/null"
$TM send-keys q
sleep 1.5
# the pane's shell runs top, then execs the sleep
sl_check "tty: q quits (the pane runs the sleep after it)" \
	bash -c "! pgrep -P $pane -x sluicectl >/dev/null && [ \"\$(ps -o comm= -p $pane)\" = sleep ]"

wait "$DL_LOAD_PID"
sl_done
