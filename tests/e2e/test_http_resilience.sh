#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sluice-http resilience with real backends on a private loopback IP: fault
# delay, retries (recover from a backend failing once; none by default; POST
# not retried unless retryOn has non-idempotent), timeout -> 504,
# perTryTimeout, connectionPool overflow -> 503 x-sluice-overflow, outlier
# ejection, 502 on connect failure, 503 no-healthy-upstream.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_common.sh"
sl_require_root
hx_require

P="$SL_TMP/policy.yaml"
[ -n "${HX_KEEP:-}" ] && P=$HX_KEEP
svc() {	# svc NAME "ENDPOINT-PORTS" [DR trafficPolicy yaml] [novs]
	local eps="" p
	for p in $2; do eps="$eps  - {address: @IP@, ports: {http: $p}, labels: {version: v1}}
"; done
	cat <<YAML
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: $1, namespace: t}
spec:
  hosts: [$1.t.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
$eps---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: $1, namespace: t}
spec:
  host: $1
  ${3:-}
  subsets: [{name: v1, labels: {version: v1}}]
YAML
	[ -n "${4:-}" ] && return
	cat <<YAML
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: $1, namespace: t}
spec:
  hosts: [$1]
  http:
  - route: [{destination: {host: $1, subset: v1}}]
YAML
}
{
	svc svc 9301 "" novs
	cat <<'YAML'
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: svc, namespace: t}
spec:
  hosts: [svc]
  http:
  - match: [{uri: {prefix: /delay}}]
    fault: {delay: {percentage: {value: 100}, fixedDelay: 400ms}}
    route: [{destination: {host: svc, subset: v1}}]
  - match: [{uri: {prefix: /retrypost}}]
    retries: {attempts: 2, retryOn: "5xx,non-idempotent"}
    route: [{destination: {host: svc, subset: v1}}]
  - match: [{uri: {prefix: /retry}}]
    retries: {attempts: 2, retryOn: 5xx}
    route: [{destination: {host: svc, subset: v1}}]
  - match: [{uri: {prefix: /timeout}}]
    timeout: 500ms
    route: [{destination: {host: svc, subset: v1}}]
  - match: [{uri: {prefix: /pertry}}]
    retries: {attempts: 2, perTryTimeout: 300ms, retryOn: 5xx}
    route: [{destination: {host: svc, subset: v1}}]
  - route: [{destination: {host: svc, subset: v1}}]
YAML
	svc pool 9301 "trafficPolicy: {connectionPool: {http: {http2MaxRequests: 1}}}"
	svc outlier "9301 9399" "trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}, outlierDetection: {consecutiveGatewayErrors: 1, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50}}"
	svc dead 9398
	svc deadout 9397 "trafficPolicy: {outlierDetection: {consecutiveGatewayErrors: 1, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100}}"
} >"$P"
hx_subst "$P"

hx_backend v1 9301
hx_proxy "$P" 15001

t0=$(date +%s%N)
j=$(hx_get --port 15001 --host svc --path /delay -n 3)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
hx_expect "fault delay 400ms x3: all 200 after >= 1200 ms (took ${ms} ms)" "$j" \
	"j['status'] == {'200': 3} and $ms >= 1200"

hits() { curl -s "http://$HX_IP:9301/_hits?id=$1" | cut -d" " -f1; }

j=$(hx_get --port 15001 --host svc --path /retry -H "x-fail-once: r1-$SL_ID")
hx_expect "retry (5xx, attempts 2) recovers from a backend failing once" "$j" "j['status'] == {'200': 1}"
sl_check "... the backend saw 2 tries" test "$(hits r1-$SL_ID)" = 2

j=$(hx_get --port 15001 --host svc -H "x-fail-once: r2-$SL_ID")
hx_expect "no retries unless configured: 503 passed through" "$j" "j['status'] == {'503': 1}"
sl_check "... the backend saw 1 try" test "$(hits r2-$SL_ID)" = 1

j=$(hx_get --port 15001 --host svc --path /retry --method POST --data x -H "x-fail-once: r3-$SL_ID")
hx_expect "POST not retried by default (retryOn 5xx): 503" "$j" "j['status'] == {'503': 1}"
sl_check "... the backend saw 1 POST" test "$(hits r3-$SL_ID)" = 1

j=$(hx_get --port 15001 --host svc --path /retrypost --method POST --data x -H "x-fail-once: r4-$SL_ID")
hx_expect "POST retried when retryOn has non-idempotent" "$j" "j['status'] == {'200': 1}"
sl_check "... the backend saw 2 POSTs" test "$(hits r4-$SL_ID)" = 2

t0=$(date +%s%N)
h=$(curl -s -o /dev/null -D - -H "Host: svc" -H "x-delay-ms: 3000" "http://$HX_IP:15001/timeout")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if echo "$h" | grep -q "^HTTP/1.1 504" && [ $ms -ge 450 ] && [ $ms -lt 2500 ]; then
	sl_ok "timeout 500ms -> 504 (after $ms ms)"
else
	sl_fail "timeout 500ms -> 504 (after $ms ms)"; sl_log "$h"
fi
j=$(hx_get --port 15001 --host svc --path /timeout -H "x-delay-ms: 100")
hx_expect "timeout 500ms, backend 100ms -> 200" "$j" "j['status'] == {'200': 1}"

t0=$(date +%s%N)
j=$(hx_get --port 15001 --host svc --path /pertry -H "x-delay-ms: 1000")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
hx_expect "perTryTimeout 300ms x 3 tries -> 504 after ~900 ms (took $ms ms)" "$j" \
	"j['status'] == {'504': 1} and 850 <= $ms < 2500"

# connectionPool: one request in flight at a time; a second one overflows
curl -s -o "$SL_TMP/slow.out" -H "Host: pool" -H "x-delay-ms: 1500" "http://$HX_IP:15001/" &
slow=$!
sl_defer "kill $slow 2>/dev/null"
inflight() { [ "$(curl -s "http://$HX_IP:9301/_inflight")" -ge 1 ]; }
sl_wait_for 10 inflight || sl_log "slow request not seen in flight"
h=$(curl -s -o /dev/null -D - -H "Host: pool" "http://$HX_IP:15001/")
wait $slow
if echo "$h" | grep -q "^HTTP/1.1 503" && echo "$h" | grep -qi "^x-sluice-overflow: 1" &&
   grep -q "^v1 GET" "$SL_TMP/slow.out"; then
	sl_ok "connectionPool http2MaxRequests 1: 2nd concurrent request -> 503 x-sluice-overflow: 1"
else
	sl_fail "connectionPool http2MaxRequests 1: 2nd concurrent request -> 503 x-sluice-overflow: 1"; sl_log "$h"
fi
j=$(hx_get --port 15001 --host pool -n 5)
hx_expect "connectionPool: sequential requests pass" "$j" "j['status'] == {'200': 5}"

# outlier: one of two endpoints refuses connections; after its first
# gateway error it is ejected and everything goes to the live one
j=$(hx_get --port 15001 --host outlier -n 100)
hx_expect "outlierDetection ejects the dead endpoint after 1 error (<= 1 failure in 100)" "$j" \
	"j['status'].get('200', 0) >= 99"
j=$(hx_get --port 15001 --host dead -n 2)
hx_expect "connect failure -> 502" "$j" "j['status'] == {'502': 2}"
h=$(curl -s -o /dev/null -D - -H "Host: deadout" "http://$HX_IP:15001/")
h=$(curl -s -o /dev/null -D - -H "Host: deadout" "http://$HX_IP:15001/")
if echo "$h" | grep -q "^HTTP/1.1 503" && echo "$h" | grep -qi "^x-sluice-reason: no-healthy-upstream"; then
	sl_ok "all endpoints ejected -> 503 x-sluice-reason: no-healthy-upstream"
else
	sl_fail "all endpoints ejected -> 503 x-sluice-reason: no-healthy-upstream"; sl_log "$h"
fi
sl_check "sluice-http still running" kill -0 "$HX_PID"
sl_done
