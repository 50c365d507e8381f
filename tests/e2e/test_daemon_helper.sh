#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sluiced supervising sluice-http: started when the policy gains an HTTP
# route (header route works through it), restarted after it is killed,
# adopted (not duplicated) by a restarted daemon, its metrics appended to
# sluiced's, stopped when the policy has no HTTP route left, and gone after
# reset. A Gateway whose TLS files do not load is refused at apply.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

if [ ! -x "$SL_BUILD/sluice-http" ]; then
	sl_skip "sluice-http is not built"
	exit 0
fi
dl_setup
sl_defer "[ -f '$DL_STATE/http.pid' ] && kill \$(cat '$DL_STATE/http.pid')"
dl_web_backends "$NS" || { echo "Bail out! web backends did not start"; exit 1; }
# dl_start passes --no-http-helper; start this daemon by hand with the helper.
start() {
	local var="SL_PID_sluicedh$1"
	sl_bg "sluicedh$1" nsenter --net="/run/netns/$NS" "$SLUICED" --policy-dir "$DL_POL" \
		--cgroup "$CG" --bpffs "$SL_BPFFS" --socket "$SL_SOCK" --state-dir "$DL_STATE" \
		--metrics 127.0.0.1:9464 >/dev/null
	DL_PID=${!var}
	DL_LOG=$SL_TMP/sluicedh$1.log
	sl_wait_for 10 ctl status
}
start 0 || { echo "Bail out! sluiced did not start"; exit 1; }
sl_defer "'$CTL' --socket '$SL_SOCK' reset"

get() { sl_in_cgroup_ns "$CG" "$NS" curl -s -m 3 "$@" http://198.18.0.20:8080/; }
helper_pid() { ctl status -o json | jq -r .helper_pid; }
helper_running() { ctl status -o json | jq -e '.helper == "running"' >/dev/null; }

dl_web >"$SL_TMP/web.yaml"
ctl apply -f "$SL_TMP/web.yaml" >/dev/null
sl_check "helper started for the HTTP route" sl_wait_for 10 helper_running
pid1=$(helper_pid)
sl_check "helper pid recorded in the state dir" [ "$(cat "$DL_STATE/http.pid" 2>/dev/null)" = "$pid1" ]
sl_wait_for 10 get -o /dev/null -f
r=$(get -H "x-canary: yes")
sl_log "x-canary: yes -> $r"
sl_check "header route via the helper: x-canary: yes -> v2" [ "$r" = "web v2" ]
sl_check "header route via the helper: no header -> v1" [ "$(get)" = "web v1" ]

metrics=$(sl_in_ns "$NS" python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9464/metrics', timeout=5).read().decode())")
sl_check "sluiced metrics include the helper's istio_requests_total" grep -q '^istio_requests_total' <<<"$metrics"

kill -9 "$pid1"
sl_check "killed helper is restarted with a new pid" \
	sl_wait_for 15 bash -c "p=\$('$CTL' --socket '$SL_SOCK' status -o json | jq -r .helper_pid); [ \"\$p\" != 0 ] && [ \"\$p\" != '$pid1' ]"
sl_wait_for 10 get -o /dev/null -f
sl_check "after the restart the route works again" [ "$(get)" = "web v1" ]
pid2=$(helper_pid)

kill -9 "$DL_PID"
sl_wait_for 5 bash -c "! kill -0 $DL_PID 2>/dev/null"
sl_check "helper outlives a killed daemon" kill -0 "$pid2"
start 1 || sl_fail "daemon restarts"
sl_check "restarted daemon adopts the running helper" [ "$(helper_pid)" = "$pid2" ]
sl_check "restart log names the adoption" grep -q "adopted running sluice-http pid $pid2" "$DL_LOG"

# An HTTPS Gateway server whose certificate file is missing: refused at
# apply with the file and the position named, nothing changes (neither the
# data plane nor the helper takes it).
gen0=$(ctl status -o json | jq -r .generation)
{ cat "$SL_TMP/web.yaml"; printf -- '---\n%s\n' "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [web.example]
    tls: {mode: SIMPLE, serverCertificate: $SL_TMP/missing.crt, privateKey: $SL_TMP/missing.key}"; } \
	>"$SL_TMP/web-tls.yaml"
out=$(ctl apply -f "$SL_TMP/web-tls.yaml" 2>&1)
sl_check "apply of a Gateway whose serverCertificate is missing is refused, file:line and file named ($out)" \
	grep -Eq "web-tls.yaml:[0-9]+:[0-9]+: error\[SL0210\].*serverCertificate $SL_TMP/missing.crt does not load" <<<"$out"
sl_check "... the generation stays ($gen0)" [ "$(ctl status -o json | jq -r .generation)" = "$gen0" ]
sl_check "... and the helper was not restarted" [ "$(helper_pid)" = "$pid2" ]

dl_s1 80 20 >"$SL_TMP/tcp.yaml"
ctl apply -f "$SL_TMP/tcp.yaml" >/dev/null
sl_check "policy without HTTP routes stops the helper" sl_wait_for 5 bash -c "! kill -0 $pid2 2>/dev/null"
sl_check "status: helper idle" bash -c "'$CTL' --socket '$SL_SOCK' status -o json | jq -e '.helper == \"idle\"' >/dev/null"

ctl apply -f "$SL_TMP/web.yaml" >/dev/null
sl_wait_for 10 helper_running
pid3=$(helper_pid)
ctl reset >/dev/null
sl_check "reset stops the helper" sl_wait_for 5 bash -c "! kill -0 $pid3 2>/dev/null"
kill "$DL_PID"
sl_wait_for 5 bash -c "! kill -0 $DL_PID 2>/dev/null"

# A helper that cannot start: restarted with backoff, then every 1 s; its
# http routes are not silently served at L4 (the data plane refuses to
# compile them without the helper), and the TCP services keep working.
mkdir -p "$SL_TMP/bin"
cp "$SLUICED" "$SL_TMP/bin/sluiced"
printf '#!/bin/sh\necho "broken helper" >&2\nexit 1\n' >"$SL_TMP/bin/sluice-http"
chmod +x "$SL_TMP/bin/sluice-http"
SLUICED=$SL_TMP/bin/sluiced
start 2 || sl_fail "daemon with a broken helper starts"
{ cat "$SL_TMP/web.yaml"; echo "---"; dl_s1 80 20; } >"$SL_TMP/both.yaml"
ctl apply -f "$SL_TMP/both.yaml" >/dev/null
sl_check "broken helper: 5 short runs logged, retrying" sl_wait_for 30 grep -q "keeps failing (5 short runs)" "$DL_LOG"
sl_check "broken helper: status says it is failing" \
	bash -c "'$CTL' --socket '$SL_SOCK' status -o json | jq -e '.helper_note | test(\"failing\")' >/dev/null"
restarts() { "$CTL" --socket "$SL_SOCK" status -o json | jq -r .helper_restarts; }
r0=$(restarts); sleep 4; r1=$(restarts)
sl_check "broken helper: the restart delay stays near 1 s in a crash loop ($r0 -> $r1 restarts in 4 s)" \
	[ $((r1 - r0)) -ge 3 ]
line=$(dl_load 200)
sl_check "broken helper: TCP services still steered" [ "$(dl_field "$line" ok)" -eq 200 ]
sl_done
