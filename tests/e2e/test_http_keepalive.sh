#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# connectionPool.tcp.tcpKeepalive on a service routed through sluice-http:
# the helper's pooled upstream connection carries the keepalive timer, as
# the kernel sets it on L4-steered sockets (tests/e2e/test_l4_pool.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_common.sh"
sl_require_root
hx_require

P="$SL_TMP/policy.yaml"
cat >"$P" <<'YAML'
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: kv, namespace: t}
spec:
  hosts: [kv.t.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: @IP@, ports: {http: 9451}}]
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: kv, namespace: t}
spec:
  host: kv
  trafficPolicy: {connectionPool: {tcp: {tcpKeepalive: {time: 600s, interval: 30s, probes: 4}}}}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: kv, namespace: t}
spec:
  hosts: [kv]
  http: [{route: [{destination: {host: kv}}]}]
YAML
hx_subst "$P"
hx_backend v1 9451
hx_proxy "$P" 15001
j=$(hx_get --port 15001 --host kv -n 3)
hx_expect "requests through the helper" "$j" "j['status'] == {'200': 3}"
ka=$(ss -tnoH state established dst "$HX_IP" dport = 9451 | grep -c "timer:(keepalive,9m\|timer:(keepalive,10min")
sl_log "$(ss -tnoH state established dst "$HX_IP" dport = 9451 | head -2)"
sl_check "the pooled upstream connection has the 600 s keepalive timer ($ka)" [ "$ka" -ge 1 ]
sl_done
