#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sluice-http's listeners under sluiced (issue 10): Gateway HTTP servers
# bind the address given with --http-gateway-addr, not every address; the
# mesh listener serves only connections the connect hook sent there (a
# local user outside the steered cgroup dialling it gets nothing, counted);
# a listener that cannot bind shows in status (exit 1) and /readyz (503).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup_helper
ip -n "$NS" addr add 127.0.0.2/32 dev lo 2>/dev/null
dl_web_backends "$NS" || { echo "Bail out! web backends"; exit 1; }

gw() {	# gw PORT: a Gateway HTTP server on PORT for host web.example, to web v1
	cat <<YAML
---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  servers: [{port: {number: $1, name: http, protocol: HTTP}, hosts: [web.example]}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: web-edge, namespace: shop}
spec:
  hosts: [web.example]
  gateways: [edge]
  http: [{route: [{destination: {host: web.shop.svc.cluster.local, subset: v1, port: {number: 8080}}}]}]
YAML
}
{ dl_web; gw 8091; } >"$SL_TMP/p1.yaml"

sl_bg sluiced nsenter --net="/run/netns/$NS" "$SLUICED" --policy-dir "$DL_POL" \
	--cgroup "$CG" --bpffs "$SL_BPFFS" --socket "$SL_SOCK" --state-dir "$DL_STATE" \
	--metrics 127.0.0.1:9466 --http-gateway-addr 127.0.0.2 >/dev/null
sl_defer "'$CTL' --socket '$SL_SOCK' reset"
sl_wait_for 10 ctl status || { echo "Bail out! sluiced did not start"; exit 1; }
sl_check "the policy with a mesh route and a Gateway HTTP server applies" \
	ctl apply -q -f "$SL_TMP/p1.yaml"
sl_wait_for 10 sl_in_ns "$NS" sh -c "ss -Hltn | grep -q ':8091 '"
sl_check "the Gateway server binds 127.0.0.2:8091 (--http-gateway-addr), not 0.0.0.0" \
	bash -c "nsenter --net=/run/netns/$NS ss -Hltn | grep -q ' 127.0.0.2:8091 ' &&
		! nsenter --net=/run/netns/$NS ss -Hltn | grep -q ' 0.0.0.0:8091 '"
sl_check "the Gateway server routes (web v1)" \
	bash -c "[ \"\$(nsenter --net=/run/netns/$NS curl -s -m 5 -H 'Host: web.example' http://127.0.0.2:8091/)\" = 'web v1' ]"

# the steered path works; dialling the mesh listener directly does not
out=$(sl_in_cgroup_ns "$CG" "$NS" curl -s -m 5 -H 'x-canary: yes' http://198.18.0.20:8080/)
sl_check "a steered client (in the cgroup, to the VIP) is served ($out)" [ "$out" = "web v2" ]
out=$(sl_in_ns "$NS" curl -s -m 5 -H 'Host: web' -w ' %{http_code}' http://127.0.0.1:15001/ 2>&1)
sl_check "a local user outside the cgroup dialling the mesh listener gets no answer (got '$out')" \
	[ "$out" = " 000" ]
m=$(sl_in_ns "$NS" curl -s -m 5 http://127.0.0.1:9466/metrics)
sl_check "... counted as rejected: not-steered" \
	grep -Eq '^sluice_http_connections_rejected_total\{reason="not-steered"\} [1-9]' <<<"$m"
ctl status >/dev/null
sl_check "status: live (exit 0)" [ $? -eq 0 ]

# a Gateway port someone else holds: the bind fails, status and readiness say so
sl_bg holder nsenter --net="/run/netns/$NS" python3 -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.2", 8092)); s.listen(1); time.sleep(600)' >/dev/null
sl_wait_for 5 sl_in_ns "$NS" sh -c "ss -Hltn | grep -q '127.0.0.2:8092 '"
{ dl_web; gw 8092; } >"$SL_TMP/p2.yaml"
ctl apply -q -f "$SL_TMP/p2.yaml"
sl_wait_for 10 bash -c "! '$CTL' --socket '$SL_SOCK' status >/dev/null"
ctl status >/dev/null
sl_check "a Gateway port that cannot be bound: status exits 1" [ $? -eq 1 ]
why=$(ctl status -o json | jq -r .live_why)
sl_check "... and says which listener and why ($why)" \
	bash -c "[[ '$why' == *'cannot listen on 127.0.0.2:8092: Address already in use'* ]]"
sl_check "/readyz answers 503 with it" \
	bash -c "[ \"\$(nsenter --net=/run/netns/$NS curl -s -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:9466/readyz)\" = 503 ]"
sl_done
