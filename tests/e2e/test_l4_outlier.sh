#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# outlierDetection at L4 (S8): one subset of two backends; the second starts
# refusing (its server is killed: connects get RST). After 3 failed connects
# it is ejected: every later connection goes to the first with no failures,
# the ejection shows in stats, trace, the log and /metrics; once
# baseEjectionTime has passed and it answers again, it takes connections
# again (logged as admitted again).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
dl_start --metrics 127.0.0.1:9466 || { echo "Bail out! sluiced did not start"; exit 1; }

cat >"$SL_TMP/od.yaml" <<'EOF'
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: kv, namespace: cache}
spec:
  hosts: [kv.cache.svc.cluster.local]
  addresses: [198.18.0.40]
  ports: [{number: 9000, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints:
  - {address: 10.1.0.1, labels: {version: v1}}
  - {address: 10.1.0.2, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: kv, namespace: cache}
spec:
  host: kv
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 3s,
                       maxEjectionPercent: 50}
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: kv, namespace: cache}
spec:
  hosts: [kv]
  tcp: [{route: [{destination: {host: kv, subset: v1}}]}]
EOF
sl_check "outlierDetection on a TCP service validates" "$CTL" validate -q -f "$SL_TMP/od.yaml"
sl_check "and applies" ctl apply -q -f "$SL_TMP/od.yaml"

kv() { sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client 198.18.0.40:9000 "$@"; }
line=$(kv -n 200)
sl_log "both up: $line"
sl_check "both up: 200 connections over both backends, 0 failed" \
	[ "$(dl_field "$line" fail)" = 0 -a "$(dl_field "$line" one)" -gt 50 -a "$(dl_field "$line" two)" -gt 50 ]

sl_kill_tree "$SL_PID_b2"
sl_wait_for 5 bash -c "! nsenter --net=/run/netns/$NS $CONNBENCH client 10.1.0.2:9000 -n 1"
line=$(kv -n 20)
sl_log "backend two refusing: $line"
sl_check "the refusing backend costs exactly its 3 failed connects before it is ejected" \
	[ "$(dl_field "$line" fail)" = 3 ]
line=$(kv -n 500)
sl_log "after the ejection: $line"
sl_check "after the ejection: 500 connections, 0 failed, all to backend one" \
	[ "$(dl_field "$line" fail)" = 0 -a "$(dl_field "$line" one)" = 500 ]
ej=$(ctl stats -o json | jq '.[] | select(.level == "subset" and .service == "kv.cache.svc.cluster.local") | .ejections')
sl_check "the ejection shows in stats (ejections=${ej:-none})" [ "${ej:-0}" = 1 ]
logged() { grep -q "outlierDetection: ejected 10.1.0.2:9000 of kv.cache.svc.cluster.local subset v1 at L4 for [1-3] s (failed connects; ejected 1 time)" "$DL_LOG"; }
sl_check "the ejection is logged, naming backend, service and subset" sl_wait_for 3 logged
sl_in_ns "$NS" curl -s -m 5 http://127.0.0.1:9466/metrics >"$SL_TMP/metrics.txt"
sl_check "/metrics: sluice_outlier_ejected 1 for the backend" \
	grep -q '^sluice_outlier_ejected{destination_service="kv.cache.svc.cluster.local",destination_subset="v1",endpoint="10.1.0.2:9000"} 1$' "$SL_TMP/metrics.txt"
sl_check "/metrics: sluice_outlier_ejections_total 1 for the subset" \
	grep -q '^sluice_outlier_ejections_total{destination_service="kv.cache.svc.cluster.local",destination_subset="v1"} 1$' "$SL_TMP/metrics.txt"

timeout 10 "$CTL" --socket "$SL_SOCK" trace -o json --service kv --count 6 >"$SL_TMP/t.json" 2>/dev/null &
tp=$!
sl_defer "kill $tp"
sleep 0.5
kv -n 10 >/dev/null
wait "$tp"
sl_log "trace: $(jq -c '[.why, .backend]' "$SL_TMP/t.json" | tr '\n' ' ')"
sl_check "trace: every connection to backend one, [ejected] where the draw hit the other" \
	jq -se 'length == 6 and any(.[]; .why == "ejected") and all(.[]; .backend == "10.1.0.1:9000")' "$SL_TMP/t.json" >/dev/null

# Back: the server answers again; after baseEjectionTime (3 s) it is admitted.
sl_bg b2again nsenter --net="/run/netns/$NS" "$CONNBENCH" serve 10.1.0.2:9000 two >/dev/null
sl_wait_for 5 nsenter --net="/run/netns/$NS" "$CONNBENCH" client 10.1.0.2:9000 -n 1
back() { local l; l=$(kv -n 20); [ "$(dl_field "$l" two)" -gt 0 ] && [ "$(dl_field "$l" fail)" = 0 ]; }
sl_check "after baseEjectionTime the backend takes connections again, 0 failed" sl_wait_for 10 back
line=$(kv -n 200)
sl_check "and the split is even again (two: $(dl_field "$line" two) of 200)" \
	[ "$(dl_field "$line" two)" -gt 50 -a "$(dl_field "$line" fail)" = 0 ]
readmitted() { grep -q "outlierDetection: 10.1.0.2:9000 of kv.cache.svc.cluster.local subset v1 admitted again (L4)" "$DL_LOG"; }
sl_check "the re-admission is logged" sl_wait_for 3 readmitted

sl_done
