#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sluiced + sluicectl end to end: S1 through `sluicectl apply` (80/20 over
# 10,000 connections, 0/100 and 100/0 exact), the views (get/status/stats,
# metrics), an invalid apply refused while the previous policy keeps
# steering, the policy directory taking over on change, delete -f, and the
# exit code for an unreachable daemon.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
MPORT=9464
dl_start --metrics 127.0.0.1:$MPORT || { echo "Bail out! sluiced did not start"; cat "$DL_LOG"; exit 1; }

# --- S1 80/20 via apply ---
dl_policy "$SL_TMP/s1.yaml" 80 20
out=$(ctl apply -f "$SL_TMP/s1.yaml")
rc=$?
sl_check "apply S1 exits 0" [ "$rc" -eq 0 ]
sl_check "apply prints what changed" grep -q "+ VirtualService weather/tcp-echo" <<<"$out"
gen1=$(dl_gen)
sl_check "generation after the first apply is set ($gen1)" [ "${gen1:-0}" -ge 1 ]
sl_check "state file records source=apply" grep -q "^# sluice-state: source=apply gen=$gen1" "$DL_STATE/snapshot.yaml"
sl_check "snapshot names its source file" grep -q "^# source: $SL_TMP/s1.yaml" "$DL_STATE/snapshot.yaml"

line=$(dl_load 10000)
ok=$(dl_field "$line" ok); fail=$(dl_field "$line" fail)
one=$(dl_field "$line" one); two=$(dl_field "$line" two)
sl_log "80/20: $line"
sl_check "80/20: 10,000 connections, 0 failed" [ "$ok" -eq 10000 -a "$fail" -eq 0 ]
# v2 share within 1.5 points of 20%, and chi-square (1 dof) below 10.83 (p = 0.001).
sl_check "80/20: v2 share $two/10000 within 20% +- 1.5" \
	awk -v t="$two" 'BEGIN { s = t / 100.0; exit !(s >= 18.5 && s <= 21.5) }'
sl_check "80/20: chi-square passes" \
	awk -v o1="$one" -v o2="$two" 'BEGIN { e1 = 8000; e2 = 2000;
		c = (o1 - e1)^2 / e1 + (o2 - e2)^2 / e2; print "# chi2 = " c; exit !(c < 10.83) }'

# --- views ---
sl_check "get services shows the VIP" bash -c "'$CTL' --socket '$SL_SOCK' get services | grep -q '198.18.0.10'"
sl_check "get routes -o json is JSON with the 80/20 split" \
	bash -c "'$CTL' --socket '$SL_SOCK' get routes -o json | jq -e '.[0].destinations | length == 2' >/dev/null"
sl_check "get endpoints -o yaml lists both endpoints" \
	bash -c "[ \$('$CTL' --socket '$SL_SOCK' get endpoints -o yaml | grep -c 'address: 10.1.0.') -eq 2 ]"
sl_check "get workloads answers (none)" bash -c "'$CTL' --socket '$SL_SOCK' get workloads | grep -q none"
sl_check "status -o json: every hook attached" \
	bash -c "'$CTL' --socket '$SL_SOCK' status -o json | jq -e '([.hooks[] | select(.attached | not)] | length) == 0 and (.hooks | length) > 0' >/dev/null"
stats=$(ctl stats -o json)
sl_check "stats -o json: v1 backend opened >= 7000" \
	jq -e '[.[] | select(.level == "subset" and .subset == "v1")][0].opened >= 7000' <<<"$stats" >/dev/null
metrics=$(sl_in_ns "$NS" python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$MPORT/metrics', timeout=5).read().decode())")
# connbench sends "hello\n" (6 bytes) and gets "one hello\n" (10): Istio's
# received bytes are the request's, sent bytes the response's
rx() { awk -v m="$1" '$0 ~ "^"m"\\{reporter=\"source\"" && /destination_version="v1"/ { print $2 }' <<<"$metrics"; }
req=$(rx istio_tcp_received_bytes_total); resp=$(rx istio_tcp_sent_bytes_total)
sl_check "metrics: received bytes are the requests (6 per connection), sent bytes the responses (10): ${req:-?} vs ${resp:-?}" \
	awk -v q="${req:-0}" -v p="${resp:-0}" 'BEGIN { exit !(q > 0 && q * 10 == p * 6) }'
sl_check "metrics: istio_tcp_connections_opened_total for v2" \
	bash -c "grep '^istio_tcp_connections_opened_total{reporter=\"source\",' | grep 'destination_service=\"tcp-echo.weather.svc.cluster.local\"' | grep -q 'destination_version=\"v2\"'" <<<"$metrics"
sl_check "metrics: sluice_generation" grep -q "^sluice_generation $gen1" <<<"$metrics"

top=$(ctl top --count 2 </dev/null)
sl_check "top --count 2: two refreshing rate views" [ "$(grep -c '^sluicectl top' <<<"$top")" -eq 2 -a "$(grep -c '^tcp-echo.weather.svc.cluster.local ' <<<"$top")" -eq 2 ]

# --- the control socket serves root only ---
sl_check "control socket is mode 0600" [ "$(stat -c %a "$SL_SOCK")" = 600 ]
chmod 0711 "$SL_TMP"
chmod 0666 "$SL_SOCK"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" --socket "$SL_SOCK" status 2>&1)
rc=$?
chmod 0600 "$SL_SOCK"
chmod 0700 "$SL_TMP"
sl_check "non-root peer refused by SO_PEERCRED: exit 4, permission denied (not 2, usage)" [ "$rc" -eq 4 ]
sl_log "non-root: $out"
sl_check "refusal says root only" grep -q "serves root only" <<<"$out"
# a peer the socket's own mode keeps out: permission denied too, not "unreachable"
chmod 0711 "$SL_TMP"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" --socket "$SL_SOCK" status 2>&1)
rc=$?
chmod 0700 "$SL_TMP"
sl_check "socket mode 0600 keeps a non-root user out: exit 4 (not 3, unreachable)" [ "$rc" -eq 4 ]
sl_log "non-root, mode 0600: $out"
# state files are private, also in a state dir that existed with another mode
sl_check "snapshot.yaml is 0600" [ "$(stat -c %a "$DL_STATE/snapshot.yaml")" = 600 ]
sl_check "the state dir is 0700" [ "$(stat -c %a "$DL_STATE")" = 700 ]

# --- 0/100 and 100/0 exact ---
dl_policy "$SL_TMP/s1.yaml" 0 100
ctl apply -f "$SL_TMP/s1.yaml" >/dev/null
line=$(dl_load 1000)
sl_check "0/100: all 1000 connections reach v2" [ "$(dl_field "$line" two)" -eq 1000 ]
dl_policy "$SL_TMP/s1.yaml" 100 0
ctl apply -f "$SL_TMP/s1.yaml" >/dev/null
line=$(dl_load 1000)
sl_check "100/0: all 1000 connections reach v1" [ "$(dl_field "$line" one)" -eq 1000 ]

# --- identical apply is a no-op ---
g=$(dl_gen)
out=$(ctl apply -f "$SL_TMP/s1.yaml")
sl_check "identical apply: reported unchanged" grep -q unchanged <<<"$out"
sl_check "identical apply: same generation" [ "$(dl_gen)" = "$g" ]

# --- invalid apply refused; the previous policy keeps steering ---
dl_s1 50 50 | sed 's/subset: v2}/subset: v3}/' >"$SL_TMP/bad.yaml"
err=$(ctl apply -f "$SL_TMP/bad.yaml" 2>&1 >/dev/null)
rc=$?
sl_check "invalid apply exits 1" [ "$rc" -eq 1 ]
sl_log "refusal: $(head -1 <<<"$err")"
sl_check "refusal names file:line:col and the code" \
	grep -qE "^$SL_TMP/bad.yaml:[0-9]+:[0-9]+: error\[SL[0-9]+\]" <<<"$err"
sl_check "generation unchanged after the refusal" [ "$(dl_gen)" = "$g" ]
line=$(dl_load 1000)
sl_check "previous policy (100/0) still steers after the refusal" [ "$(dl_field "$line" one)" -eq 1000 ]

# --- sources own their objects: the same object from the policy directory
# and from apply is refused naming both; once the applied copy is deleted
# the directory's load is retried and its version steers ---
dl_policy "$DL_POL/.s1.tmp" 0 100
mv "$DL_POL/.s1.tmp" "$DL_POL/s1.yaml"
sl_check "the same objects from the policy directory and apply: refused" \
	sl_wait_for 10 grep -q "apply refused (source policy-dir" "$DL_LOG"
sl_log "$(grep -m1 'error\[SL0010\]' "$DL_LOG")"
sl_check "the refusal names both files and both sources" \
	grep -qE "s1.yaml:[0-9]+:[0-9]+: error\[SL0010\]: duplicate .*\(first at .*s1.yaml:[0-9]+:[0-9]+ \[(apply|policy-dir)\]\)" "$DL_LOG"
line=$(dl_load 1000)
sl_check "the applied policy (100/0) keeps steering" [ "$(dl_field "$line" one)" -eq 1000 ]
out=$(ctl get objects -o json)
sl_check "get objects: each object with its source and file" \
	jq -e 'length == 3 and all(.[]; .source == "apply" and (.file | test("s1.yaml:[0-9]+$")))' >/dev/null <<<"$out"
ctl delete -f "$SL_TMP/s1.yaml" >/dev/null
t0=$(date +%s%N)
if sl_wait_for 10 bash -c "grep -q 'from: policy-dir' '$DL_STATE/snapshot.yaml'"; then
	sl_log "policy-dir load retried and live after $((($(date +%s%N) - t0) / 1000000)) ms"
	sl_ok "policy-dir change is picked up"
else
	sl_fail "policy-dir change is picked up"
fi
line=$(dl_load 1000)
sl_check "policy-dir policy (0/100) steers" [ "$(dl_field "$line" two)" -eq 1000 ]
# A bad file in the directory is refused; the previous policy stays.
r0=$(grep -c "apply refused (source policy-dir" "$DL_LOG")
cp "$SL_TMP/bad.yaml" "$DL_POL/zz-bad.yaml"
sl_wait_for 10 bash -c "[ \$(grep -c 'apply refused (source policy-dir' '$DL_LOG') -gt $r0 ]"
sl_check "bad policy-dir file refused with diagnostics in the log" \
	grep -q "zz-bad.yaml:[0-9]*:[0-9]*: error" "$DL_LOG"
n0=$(grep -c "policy-dir: change in" "$DL_LOG")
rm -f "$DL_POL/zz-bad.yaml"
# Let the reload of that removal happen before the next step (the directory
# would otherwise take over again after the delete below).
sl_wait_for 10 bash -c "[ \$(grep -c 'policy-dir: change in' '$DL_LOG') -gt $n0 ]"
line=$(dl_load 1000)
sl_check "policy-dir policy still steers after the bad file" [ "$(dl_field "$line" two)" -eq 1000 ]
# Subdirectories are part of the policy dir (as for validate -f DIR) and
# are watched: move the file into one, then edit it there.
g=$(dl_gen)
mkdir "$DL_POL/team-a"
dl_policy "$DL_POL/team-a/.s1.tmp" 100 0
mv "$DL_POL/team-a/.s1.tmp" "$DL_POL/team-a/s1.yaml"
rm -f "$DL_POL/s1.yaml"
sl_check "policy in a subdirectory is loaded" \
	sl_wait_for 10 bash -c "grep -q 'source: .*team-a/s1.yaml' '$DL_STATE/snapshot.yaml'"
line=$(dl_load 1000)
sl_check "subdirectory policy (100/0) steers" [ "$(dl_field "$line" one)" -eq 1000 ]
g=$(dl_gen)
dl_policy "$DL_POL/team-a/.s1.tmp" 0 100
mv "$DL_POL/team-a/.s1.tmp" "$DL_POL/team-a/s1.yaml"
sl_check "an edit inside the subdirectory is picked up" \
	sl_wait_for 10 bash -c "[ \$('$CTL' --socket '$SL_SOCK' status -o json | jq -r .generation) -gt $g ]"
line=$(dl_load 1000)
sl_check "edited subdirectory policy (0/100) steers" [ "$(dl_field "$line" two)" -eq 1000 ]

# --- delete -f removes objects from the desired state ---
dl_s1 0 100 vs >"$SL_TMP/vs.yaml"
out=$(ctl delete -f "$SL_TMP/vs.yaml")
sl_check "delete -f removes the VirtualService" grep -q -- "- VirtualService weather/tcp-echo" <<<"$out"
sl_check "get routes is empty after delete" bash -c "'$CTL' --socket '$SL_SOCK' get routes | grep -q none"
ctl delete -f "$SL_TMP/vs.yaml" >/dev/null 2>&1
sl_check "deleting it again is refused (exit 1)" [ $? -eq 1 ]

# --- SIGHUP with an empty policy directory leaves applied objects alone
# (and the directory's own: an emptied source is refused, as an empty apply) ---
dl_extra_se >"$SL_TMP/extra.yaml"
ctl apply -q -f "$SL_TMP/extra.yaml"
rm -rf "$DL_POL"/*
n0=$(grep -c "policy-dir: change in" "$DL_LOG")
sl_wait_for 10 bash -c "[ \$(grep -c 'policy-dir: change in' '$DL_LOG') -gt $n0 ]"
kill -HUP "$DL_PID"
sl_wait_for 10 grep -q "SIGHUP: reloading" "$DL_LOG"
sleep 0.5
out=$(ctl get objects -o json)
sl_log "after SIGHUP with an empty policy dir: $(jq -c '[.[] | "\(.source) \(.kind) \(.name)"]' <<<"$out")"
sl_check "SIGHUP with an empty policy directory: the applied ServiceEntry stays" \
	jq -e 'any(.[]; .name == "extra" and .source == "apply")' >/dev/null <<<"$out"
sl_check "and the directory's objects stay too (an emptied source is refused, logged)" \
	sh -c "jq -e 'any(.[]; .source == \"policy-dir\")' >/dev/null <<'E'
$out
E
grep -q 'apply refused (source policy-dir): an empty set would remove all' '$DL_LOG'"

# --- http routes need sluice-http: refused by a daemon without it ---
dl_web >"$SL_TMP/web.yaml"
g=$(dl_gen)
err=$(ctl apply -f "$SL_TMP/web.yaml" 2>&1 >/dev/null)
sl_check "--no-http-helper: a policy with http routes is refused (exit 1)" [ $? -eq 1 ]
sl_log "$(head -1 <<<"$err")"
sl_check "--no-http-helper: the refusal names the helper" grep -q "sluice-http" <<<"$err"
sl_check "--no-http-helper: generation unchanged" [ "$(dl_gen)" = "$g" ]

# --- unreachable daemon ---
"$CTL" --socket "$SL_TMP/nobody.sock" status >/dev/null 2>&1
sl_check "unreachable daemon: exit 3" [ $? -eq 3 ]

sl_done
