#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `kill -9 sluiced` under a bounded connection load: steering continues with
# 0 failed connections; a restarted daemon re-adopts the pinned data plane
# and the applied state with the same generation (no new apply, no gap) and
# then applies normally.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
dl_start || { echo "Bail out! sluiced did not start"; exit 1; }
dl_policy "$SL_TMP/s1.yaml" 80 20
ctl apply -f "$SL_TMP/s1.yaml" >/dev/null
gen=$(dl_gen)
sl_check "applied generation $gen" [ "${gen:-0}" -ge 1 ]

# A bounded load (6 s at <= 1500 conn/s) spanning the crash and the restart.
dl_load_bg "$SL_TMP/load.out" -d 6 -c 2 --rate 1500
load=$DL_LOAD_PID
sl_wait_for 10 bash -c "[ \$('$CTL' --socket '$SL_SOCK' stats -o json | jq '[.[] | select(.level == \"service\")][0].opened // 0') -ge 500 ]"
kill -9 "$DL_PID"
sl_check "sluiced killed with SIGKILL" sl_wait_for 5 bash -c "! kill -0 $DL_PID 2>/dev/null"

# With no daemon at all, connections are still steered by the pinned programs.
line=$(dl_load 2000)
sl_log "daemon down: $line"
sl_check "daemon down: 2000 connections, 0 failed" [ "$(dl_field "$line" fail)" -eq 0 -a "$(dl_field "$line" ok)" -eq 2000 ]
sl_check "daemon down: still split between v1 and v2" [ "$(dl_field "$line" one)" -gt 1300 -a "$(dl_field "$line" two)" -gt 200 ]

dl_start || { sl_fail "sluiced restarts"; sl_done; }
sl_ok "sluiced restarts"
sl_check "restart re-adopts the same generation ($gen)" [ "$(dl_gen)" = "$gen" ]
sl_check "restart logs the re-adoption" grep -q "re-adopted generation $gen" "$DL_LOG"
sl_check "restart keeps source=apply" bash -c "'$CTL' --socket '$SL_SOCK' status -o json | jq -e '.source == \"apply\"' >/dev/null"

wait "$load"
line=$(cat "$SL_TMP/load.out")
sl_log "load across kill -9 and restart: $line"
sl_check "load across kill -9 and restart: 0 failed" [ "$(dl_field "$line" fail)" -eq 0 ]
sl_check "load across kill -9 and restart: connections made" [ "$(dl_field "$line" ok)" -ge 1000 ]

dl_policy "$SL_TMP/s1.yaml" 0 100
ctl apply -f "$SL_TMP/s1.yaml" >/dev/null
sl_check "apply after restart: generation $((gen + 1))" [ "$(dl_gen)" = "$((gen + 1))" ]
line=$(dl_load 1000)
sl_check "apply after restart steers (0/100)" [ "$(dl_field "$line" two)" -eq 1000 ]

# SIGTERM: the daemon exits, the data plane stays.
kill -TERM "$DL_PID"
sl_check "SIGTERM ends sluiced" sl_wait_for 5 bash -c "! kill -0 $DL_PID 2>/dev/null"
line=$(dl_load 500)
sl_check "after SIGTERM the pinned data plane still steers" [ "$(dl_field "$line" two)" -eq 500 ]
dl_start >/dev/null || sl_fail "sluiced restarts after SIGTERM"

sl_done
