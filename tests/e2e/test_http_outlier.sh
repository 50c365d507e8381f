#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# outlierDetection on an HTTP service without a VirtualService, the field
# guide's DestinationRule as written ({consecutive5xxErrors: 7, interval:
# 5m, baseEjectionTime: 15m}): the connect hook sends the service to
# sluice-http (where 5xx responses are seen) by Istio's default route, the
# endpoint that answers 503 is ejected after exactly 7 of them, every later
# request reaches the healthy one, and the ejection shows in the log and in
# /metrics. Without the outlierDetection the service stays at L4.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup_helper
for b in "good 41 200" "bad 42 503"; do
	set -- $b
	ip -n "$NS" addr add "10.1.0.$2/32" dev lo
	sl_bg "be_$1" nsenter --net="/run/netns/$NS" python3 "$SL_ROOT/tests/e2e/http_backend.py" \
		--addr "10.1.0.$2" --port 8080 --name "$1" --status "$3" >/dev/null
	sl_wait_for 10 sl_in_ns "$NS" curl -s -o /dev/null "http://10.1.0.$2:8080/" ||
		{ echo "Bail out! backend $1 did not start"; exit 1; }
done
DL_HELPER=1 dl_start --metrics 127.0.0.1:9465 || { echo "Bail out! sluiced did not start"; exit 1; }

policy() {	# policy [DR trafficPolicy]
	cat <<YAML
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.shop.svc.cluster.local]
  addresses: [198.18.0.40]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.1.0.41}, {address: 10.1.0.42}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: shop}
spec:
  host: api.shop.svc.cluster.local
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
$1
YAML
}
policy "    outlierDetection: {consecutive5xxErrors: 7, interval: 5m, baseEjectionTime: 15m}" \
	>"$SL_TMP/od.yaml"
sl_check "the DestinationRule as written (no VirtualService) validates" \
	"$CTL" validate -q -f "$SL_TMP/od.yaml"
sl_check "and applies" ctl apply -q -f "$SL_TMP/od.yaml"
helper_running() { ctl status -o json | jq -e '.helper == "running"' >/dev/null; }
sl_check "sluiced runs sluice-http for it" sl_wait_for 15 helper_running

# codes N: N requests on one keep-alive connection from the client cgroup;
# prints each status and x-backend
codes() {
	local urls=() i
	for ((i = 0; i < $1; i++)); do urls+=(-o /dev/null "http://198.18.0.40:8080/r$i"); done
	sl_in_cgroup_ns "$CG" "$NS" curl -s -m 10 -w '%{http_code} %header{x-backend}\n' "${urls[@]}"
}
ready() { codes 1 | grep -q '^[25]0[03] '; }
sl_wait_for 15 ready || sl_log "not answering yet: $(tail -3 "$DL_LOG")"
codes 40 >"$SL_TMP/codes"
n503=$(grep -c '^503 bad' "$SL_TMP/codes")
sl_log "40 requests: $(sort "$SL_TMP/codes" | uniq -c | tr '\n' ';')"
sl_check "the 503 endpoint answered exactly 7 requests, then was ejected ($n503)" [ "$n503" -eq 7 ]
sl_check "every request after the ejection reached the healthy endpoint" \
	sh -c "tail -20 '$SL_TMP/codes' | grep -vc '^200 good' | grep -qx 0"
sl_check "the ejection is logged, naming endpoint and service" \
	grep -q "outlierDetection: ejected endpoint 10.1.0.42 of api.shop.svc.cluster.local for 900 s (7 consecutive 5xx" "$DL_LOG"
sl_in_ns "$NS" curl -s -m 5 http://127.0.0.1:9465/metrics >"$SL_TMP/metrics.txt"
sl_check "/metrics: sluice_http_outlier_ejected 1 for the endpoint" \
	grep -q '^sluice_http_outlier_ejected{destination_service="api.shop.svc.cluster.local",endpoint="10.1.0.42"} 1$' "$SL_TMP/metrics.txt"
sl_check "/metrics: sluice_http_outlier_ejections_total 1" \
	grep -q '^sluice_http_outlier_ejections_total{destination_service="api.shop.svc.cluster.local",endpoint="10.1.0.42"} 1$' "$SL_TMP/metrics.txt"

# Without outlierDetection the service is steered at L4 (no helper hop):
# both endpoints answer, 503s included.
policy "" >"$SL_TMP/plain.yaml"
sl_check "without outlierDetection: applies" ctl apply -q -f "$SL_TMP/plain.yaml"
dl_trace_run 1 "$SL_TMP/trace.json" codes 1
sl_check "without outlierDetection: steered at L4 (trace: steer)" \
	jq -e 'select(.verdict == "steer")' "$SL_TMP/trace.json" >/dev/null
sl_done
