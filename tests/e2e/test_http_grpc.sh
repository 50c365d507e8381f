#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# gRPC through sluice-http (issue 15, items 3 and 4), standalone on a private
# loopback IP: a GRPC service port whose two versions are gRPC-shaped HTTP/2
# backends (tests/e2e/grpc_backend.py, cleartext HTTP/2 only, as gRPC servers
# are); calls made over h2c to a Gateway server by tests/e2e/h2_client.py.
# Routes match on the method's path (/package.Service/Method) and on
# metadata headers; the upstream leg is HTTP/2 (the backend says so); the
# response's trailers (grpc-status, grpc-message) reach the client; the
# status is in istio_requests_total's grpc_response_status; retryOn
# unavailable retries a trailers-only UNAVAILABLE; fault.abort.grpcStatus
# answers trailers-only; an HTTP/1.1
# client of the same service is carried to the HTTP/2 backend too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_common.sh"
sl_require_root
hx_require
H2PY=python3
$H2PY -c 'import h2' 2>/dev/null || H2PY=/usr/bin/python3
$H2PY -c 'import h2' 2>/dev/null || { echo "Bail out! no python3 h2 module (make deps)"; exit 1; }

for v in v1:9201 v2:9202; do
	sl_bg "be_${v%%:*}" $H2PY "$HX_PY/grpc_backend.py" --addr "$HX_IP" --port "${v##*:}" --name "${v%%:*}" >/dev/null
	sl_wait_for 10 hx_port_open "$HX_IP" "${v##*:}" || { echo "Bail out! grpc backend ${v%%:*} did not start"; exit 1; }
done

P="$SL_TMP/policy.yaml"
{ hx_versions_yaml greeter 50051 GRPC 9201 9202; cat <<YAML; } >"$P"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [greeter.example]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter, namespace: shop}
spec:
  hosts: [greeter.example]
  gateways: [edge]
  http:
  - match: [{uri: {prefix: /shop.Greeter/SayHelloBeta}}]
    route: [{destination: {host: greeter.shop.svc.cluster.local, subset: v2}}]
  - match: [{headers: {x-user: {exact: canary}}}]
    route: [{destination: {host: greeter.shop.svc.cluster.local, subset: v2}}]
  - match: [{uri: {prefix: /shop.Greeter/Flaky}}]
    retries: {attempts: 2, retryOn: unavailable}
    route: [{destination: {host: greeter.shop.svc.cluster.local, subset: v1}}]
  - match: [{uri: {prefix: /shop.Greeter/Down}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: greeter.shop.svc.cluster.local, subset: v1}}]
  - route: [{destination: {host: greeter.shop.svc.cluster.local, subset: v1}}]
YAML
hx_proxy "$P" 80

call() { timeout 15 $H2PY "$HX_PY/h2_client.py" grpc "$HX_IP" 80 greeter.example "$@"; }

j=$(call /shop.Greeter/SayHello)
hx_expect "a unary call is routed by its default route to v1, over HTTP/2 upstream" "$j" \
	"j['message'] == 'v1 POST /shop.Greeter/SayHello 10 h2'"
hx_expect "... its content-type comes back" "$j" "j['headers'].get('content-type') == 'application/grpc'"
hx_expect "... and its trailers: grpc-status 0, grpc-message" "$j" \
	"j['trailers'] == {'grpc-status': '0', 'grpc-message': 'from v1'}"
j=$(call /shop.Greeter/SayHelloBeta)
hx_expect "a route by method (/package.Service/Method prefix) -> v2" "$j" \
	"j['message'] == 'v2 POST /shop.Greeter/SayHelloBeta 10 h2'"
j=$(call /shop.Greeter/SayHello x-user=canary x-echo-trace=abc)
hx_expect "a route by metadata (x-user: canary) -> v2, metadata carried both ways" "$j" \
	"j['message'].startswith('v2 ') and j['headers'].get('x-echo-trace') == 'abc'"
j=$(call /shop.Greeter/SayHello x-grpc-status=14)
hx_expect "a non-OK status in the trailers reaches the client (grpc-status 14)" "$j" \
	"j['trailers'].get('grpc-status') == '14' and j['headers'].get(':status') == '200'"
j=$(call /shop.Greeter/Flaky x-fail-once=f1)
hx_expect "retryOn unavailable: a trailers-only UNAVAILABLE is retried, the second try answers" "$j" \
	"j['message'] == 'v1 POST /shop.Greeter/Flaky 10 h2' and j['trailers'].get('grpc-status') == '0'"
sl_check "... the backend saw the call twice" [ "$(grep -c 'req POST /shop.Greeter/Flaky$' "$SL_TMP/be_v1.log")" = 2 ]
j=$(call /shop.Greeter/SayHello x-fail-once=f2)
hx_expect "without retryOn, the trailers-only UNAVAILABLE reaches the client as one HEADERS frame" "$j" \
	"j['headers'].get('grpc-status') == '14' and j['message'] == '' and j['trailers'] == {} and j['reset'] is None"
j=$(call /shop.Greeter/Down)
hx_expect "fault.abort.grpcStatus UNAVAILABLE: a trailers-only answer, HTTP 200, grpc-status 14" "$j" \
	"j['headers'].get(':status') == '200' and j['headers'].get('grpc-status') == '14' and j['headers'].get('x-sluice-fault') == 'abort' and j['message'] == ''"
sl_check "... and no call reached a backend" bash -c "! grep -q Down '$SL_TMP/be_v1.log' '$SL_TMP/be_v2.log'"
out=$(curl -s -m 5 --resolve "greeter.example:80:$HX_IP" -d abc http://greeter.example/shop.Greeter/Plain | tr -d '\0' | tr -c '[:print:]' ' ')
sl_check "an HTTP/1.1 client of the GRPC port reaches the HTTP/2 backend ($out)" \
	grep -q 'v1 POST /shop.Greeter/Plain 3 h2' <<<"$out"
head -c 5000000 /dev/zero | tr '\0' a >"$SL_TMP/big"
out=$(curl -s -m 30 --http2-prior-knowledge --resolve "greeter.example:80:$HX_IP" -H 'x-slow-ack: 1' \
	-T - http://greeter.example/shop.Greeter/Upload <"$SL_TMP/big" | tr -d '\0' | tr -c '[:print:]' ' ')
sl_check "a 5 MB upload without content-length reaches an HTTP/2 backend that gives the window back slowly ($out)" \
	grep -q 'v1 PUT /shop.Greeter/Upload 5000000 h2' <<<"$out"
for i in $(seq 1 20); do call /shop.Greeter/SayHello >/dev/null; done
sl_check "20 more calls answered by v1" [ "$(grep -c 'req POST /shop.Greeter/SayHello$' "$SL_TMP/be_v1.log")" -ge 23 ]
n=$(grep -c '^conn$' "$SL_TMP/be_v1.log")
sl_check "... over pooled HTTP/2 connections kept across the backend's PINGs ($n connections for 28 calls)" \
	[ "$n" -le 7 ]
m=$(hx_metrics_dump)
n=$(grep -E '^istio_requests_total\{reporter="destination".*destination_version="v1".*request_protocol="grpc".*grpc_response_status="0"' <<<"$m" | awk '{ s += $2 } END { print s + 0 }')
sl_check "istio_requests_total counts the calls with request_protocol grpc, grpc_response_status 0 ($n)" [ "$n" -ge 21 ]
n=$(grep -cE '^istio_requests_total\{.*grpc_response_status="14"' <<<"$m")
sl_check "... and the UNAVAILABLE ones with grpc_response_status 14 ($n series)" [ "$n" -ge 1 ]
n=$(grep -E '^istio_requests_total\{reporter="destination".*response_flags="FI",grpc_response_status="14"' <<<"$m" | awk '{ s += $2 } END { print s + 0 }')
sl_check "the injected abort is counted with response_flags FI ($n)" [ "$n" -ge 1 ]
sl_done
