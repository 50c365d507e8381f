#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Gateway TLS passthrough under sluiced (issue 15, item 2): a policy whose
# only L7 need is a PASSTHROUGH Gateway server makes sluiced start
# sluice-http, which relays TLS by SNI on --http-gateway-addr to two TLS
# backends in the test's network namespace; `sluicectl get routes` lists the
# tls routes with their SNI names and weights; sluiced's /metrics carries
# the passthrough counters and Istio's istio_tcp_* series of the relayed
# connections, `sluicectl stats` the relayed connections and bytes; a policy
# without the server stops the helper.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
command -v openssl >/dev/null || { echo "Bail out! openssl needed"; exit 1; }
PEER="$SL_ROOT/tests/e2e/tls_peer.py"
dl_setup_helper
GW=10.1.0.9
ip -n "$NS" addr add "$GW/32" dev lo

C="$SL_TMP/certs"
mkdir -p "$C"
sl_mkca "$C" ca && sl_mkcert "$C" ca a a.example DNS:a.example &&
	sl_mkcert "$C" ca b b.example DNS:b.example ||
	{ echo "Bail out! openssl could not make the test certificates"; exit 1; }
i=1
for n in a b; do
	sl_bg "tls_$n" nsenter --net="/run/netns/$NS" python3 "$PEER" server --addr "10.1.0.$i" \
		--port 9443 --name "$n" --cert "$C/$n.crt" --key "$C/$n.key" >/dev/null
	i=$((i + 1))
done
sl_wait_for 10 sl_in_ns "$NS" bash -c 'exec 3<>/dev/tcp/10.1.0.1/9443 && exec 4<>/dev/tcp/10.1.0.2/9443' ||
	{ echo "Bail out! TLS backends did not start"; exit 1; }

DL_HELPER=1 dl_start --http-gateway-addr "$GW" --metrics 127.0.0.1:9464 ||
	{ echo "Bail out! sluiced did not start"; exit 1; }

P="$SL_TMP/pt.yaml"
cat >"$P" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: edge}
spec:
  hosts: [web.edge.svc.cluster.local]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints:
  - {address: 10.1.0.1, ports: {tls: 9443}, labels: {version: a}}
  - {address: 10.1.0.2, ports: {tls: 9443}, labels: {version: b}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: edge}
spec:
  host: web.edge.svc.cluster.local
  subsets: [{name: a, labels: {version: a}}, {name: b, labels: {version: b}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: edge}
spec:
  servers:
  - port: {number: 443, name: tls, protocol: TLS}
    hosts: ["*.example"]
    tls: {mode: PASSTHROUGH}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: by-sni, namespace: edge}
spec:
  hosts: ["*.example"]
  gateways: [gw]
  tls:
  - match: [{sniHosts: [a.example]}]
    route: [{destination: {host: web.edge.svc.cluster.local, subset: a}}]
  - match: [{sniHosts: [b.example]}]
    route:
    - {destination: {host: web.edge.svc.cluster.local, subset: b}, weight: 3}
YAML
ctl apply -f "$P" >/dev/null
helper_running() { ctl status -o json | jq -e '.helper == "running"' >/dev/null; }
sl_check "sluiced starts sluice-http for a passthrough-only policy" sl_wait_for 10 helper_running
sl_wait_for 10 sl_in_ns "$NS" bash -c "exec 3<>/dev/tcp/$GW/443"
jqe() { jq -e "$1" >/dev/null; }
tclient() { sl_in_ns "$NS" python3 "$PEER" client --addr "$GW" --port 443 --sni "$1" --ca "$C/ca.crt" --n "$2"; }
j=$(tclient a.example 4)
sl_check "a.example reaches backend a through the helper ($j)" \
	jqe '.names == {"a": 4} and .errors == 0 and .sni == ["a.example"]' <<<"$j"
j=$(tclient b.example 4)
sl_check "b.example reaches backend b ($j)" jqe '.names == {"b": 4} and .errors == 0' <<<"$j"

out=$(ctl get routes)
sl_log "$out"
sl_check "get routes lists the tls routes with their SNI names" \
	bash -c 'grep -q "tls" <<<"$1" && grep -q "sni=a.example" <<<"$1" && grep -q "sni=b.example" <<<"$1"' _ "$out"
j=$(ctl get routes -o json)
sl_check "get routes -o json: the tls route's match and destination" \
	jqe '[.[] | select(.kind == "tls" and .index == 1)][0] | (.match[0] == {"field": "sni", "match": "exact", "value": "b.example"}) and .destinations[0].subset == "b" and .destinations[0].weight == 100' <<<"$j"
m=$(sl_in_ns "$NS" curl -s -m 5 http://127.0.0.1:9464/metrics)
sl_check "sluiced's /metrics carries the passthrough counters" grep -q \
	'^sluice_http_passthrough_connections_opened_total{gateway="edge/gw",sni_host="a.example",destination_service="web.edge.svc.cluster.local",destination_version="a"} 4$' <<<"$m"
# the relayed connections are in Istio's TCP families too, labelled as the
# kernel's: the route's service and subset, an unknown (north-south) source
# istio_tcp FAMILY: the value of subset a's reporter="source" series
istio_tcp() {
	grep "^istio_tcp_$1{reporter=\"source\"," <<<"$m" |
		grep 'source_workload="unknown"' | grep 'destination_service="web.edge.svc.cluster.local"' |
		grep 'destination_version="a"' | grep 'request_protocol="tcp"' | awk '{ print $NF }'
}
v=$(istio_tcp connections_opened_total)
[ "$v" = 4 ] || sl_log "$(grep '^istio_tcp_connections_opened_total' <<<"$m")"
sl_check "istio_tcp_connections_opened_total counts the 4 relayed connections to subset a ($v)" \
	test "$v" = 4
# closed (and their last bytes flushed) once the relay saw both ends go
closed4() {
	m=$(sl_in_ns "$NS" curl -s -m 5 http://127.0.0.1:9464/metrics)
	[ "$(istio_tcp connections_closed_total)" = 4 ]
}
sl_check "istio_tcp_connections_closed_total counts them closed" sl_wait_for 5 closed4
v=$(istio_tcp received_bytes_total)
[ "${v:-0}" -gt 0 ] 2>/dev/null || sl_log "$(grep '^istio_tcp_received_bytes_total' <<<"$m")"
sl_check "istio_tcp_received_bytes_total counts the client's bytes to subset a ($v)" \
	test "${v:-0}" -gt 0
ptrx=$(grep '^sluice_http_passthrough_received_bytes_total{gateway="edge/gw",sni_host="a.example",' <<<"$m" |
	awk '{ print $NF }')
sl_check "received bytes are client to backend, as the relay counts them ($v = $ptrx)" \
	test "${v:-none}" = "$ptrx"
v=$(istio_tcp sent_bytes_total)
sl_check "istio_tcp_sent_bytes_total counts the backend's bytes ($v)" test "${v:-0}" -gt 0
sl_check "the destination reporter's series too" grep -q \
	'^istio_tcp_connections_opened_total{reporter="destination",.*destination_version="a".* 4$' <<<"$m"
statsa() { ctl stats -o json | jq -e '[.[] | select(.level == "subset" and .service == "web.edge.svc.cluster.local" and .subset == "a")][0] | .opened == 4 and .closed == 4 and .active == 0 and .bytes_sent > 0 and .bytes_received > 0' >/dev/null; }
sl_check "sluicectl stats counts the relayed connections and bytes of subset a" sl_wait_for 5 statsa

# the same services without the passthrough server: no helper needed
sed '/^kind: Gateway/,$d' "$P" | sed '$d' >"$SL_TMP/nogw.yaml"
ctl apply -f "$SL_TMP/nogw.yaml" >/dev/null
helper_gone() { ctl status -o json | jq -e '.helper != "running"' >/dev/null; }
sl_check "without the passthrough server the helper is stopped" sl_wait_for 10 helper_gone
sl_done
