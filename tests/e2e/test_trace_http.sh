#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `sluicectl trace` shows sluice-http's decisions beside the connect hook's:
# for each request the route, why it matched (the header of a header route,
# the default route), the subset, endpoint and status; the connection itself
# shows as handed to the helper. With nobody tracing, sluice-http writes no
# record.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup_helper
dl_web_backends "$NS" || { echo "Bail out! web backends did not start"; exit 1; }
DL_HELPER=1 dl_start || { echo "Bail out! sluiced did not start"; exit 1; }
CGREL=${CG#"$(sl_cgroup2_root)/"}
{
	dl_web | sed 's/^  - match: \[{headers: {x-canary: {exact: "yes"}}}\]/  - name: canary\n    match: [{headers: {x-canary: {exact: "yes"}}}]/'
	cat <<EOF
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: frontend, namespace: shop, annotations: {sluice.io/cgroup: $CGREL}}
spec: {address: 10.1.0.99, labels: {app: frontend}}
EOF
} >"$SL_TMP/web.yaml"
out=$(ctl apply -f "$SL_TMP/web.yaml" 2>&1) || { echo "Bail out! apply: $out"; exit 1; }
helper_running() { ctl status -o json | jq -e '.helper == "running"' >/dev/null; }
sl_wait_for 10 helper_running || { echo "Bail out! sluice-http did not start"; exit 1; }
get() { sl_in_cgroup_ns "$CG" "$NS" curl -s -m 3 "$@" http://198.18.0.20:8080/shop/item; }
sl_wait_for 10 get -o /dev/null -f || { echo "Bail out! web not reachable"; exit 1; }
sleep 3.5	# any trace lease of an earlier reader has run out

# nobody tracing: no HTTP record is written
w0=$(bpftool -j map dump pinned "$SL_BPFFS/sluice_trace_cfg" | jq '.[0].formatted.value.written')
get >/dev/null
w1=$(bpftool -j map dump pinned "$SL_BPFFS/sluice_trace_cfg" | jq '.[0].formatted.value.written')
sl_check "with nobody tracing no record is written ($w0 -> $w1)" [ "$w0" = "$w1" ]

# 2 canary + 2 plain requests: 4 connect records (to the helper) + 4 HTTP ones
timeout 20 "$CTL" --socket "$SL_SOCK" trace --service web --count 8 -o json >"$SL_TMP/t.json" 2>"$SL_TMP/t.err" &
tp=$!
sl_defer "kill $tp"
sl_wait_for 5 grep -q tracing "$SL_TMP/t.err"
sleep 0.3
for h in yes yes no no; do get -H "x-canary: $h" >/dev/null; done
wait "$tp"
sl_log "$(grep -m1 '"layer":"http"' "$SL_TMP/t.json")"
jqs() { jq -se "$@" "$SL_TMP/t.json" >/dev/null; }
sl_check "8 records: 4 connections handed to sluice-http, 4 requests" \
	jqs '(map(select(.layer == "http")) | length) == 4 and (map(select(.layer == "connect" and .verdict == "helper" and .why == "http-routes")) | length) == 4'
sl_check "header route: route #0 \"canary\", why http-match on headers x-canary, subset v2, 10.1.0.2:8080, 200" \
	jqs '[.[] | select(.layer == "http" and .subset == "v2")] | length == 2 and all(.route == 0 and .route_name == "canary" and .why == "http-match" and .match == ["headers"] and .matched == "x-canary" and .backend == "10.1.0.2:8080" and .status == 200 and .verdict == "steer")'
sl_check "everyone else: route #1, the default route, subset v1" \
	jqs '[.[] | select(.layer == "http" and .subset == "v1")] | length == 2 and all(.route == 1 and .why == "http-default-route" and .backend == "10.1.0.1:8080")'
sl_check "requests name the client workload, method and path" \
	jqs '[.[] | select(.layer == "http")] | all(.workload == "shop/frontend" and .method == "GET" and .path == "/shop/item" and .service == "web.shop.svc.cluster.local")'

# the text form
timeout 20 "$CTL" --socket "$SL_SOCK" trace --service web --count 2 >"$SL_TMP/t.txt" 2>/dev/null &
tp2=$!
sl_defer "kill $tp2"
sleep 0.5
get -H "x-canary: yes" >/dev/null
wait "$tp2"
sl_log "$(tr '\n' '|' <"$SL_TMP/t.txt")"
sl_check "text: the request line names route, subset, endpoint, status and why" \
	grep -q 'http shop/frontend -> web.shop.svc.cluster.local GET /shop/item: steer route #0 "canary" subset v2 -> 10.1.0.2:8080 200 \[http-match: headers x-canary\]' "$SL_TMP/t.txt"
sl_done
