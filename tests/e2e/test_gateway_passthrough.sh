#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Gateway TLS passthrough in sluice-http (issue 15, item 2), standalone, on a
# private loopback IP: a Gateway server {protocol: TLS, tls.mode: PASSTHROUGH}
# and a VirtualService with tls routes by sniHosts, as a user writes them.
# Two TLS backends, each with its own certificate (made here; the proxy is
# given none and no key): a.example and b.example reach their backend (the
# client verifies the backend's certificate, and the backend saw the SNI);
# split.example, weighted 80/20, splits within a wide band over 200
# connections; a client without SNI and names no route covers are closed and
# counted; a backend that never answers is given up at connectTimeout; a ClientHello followed by 100 KB and a half-close arrives byte for
# byte and the answer comes back (half-close passed on), also with the hello
# in four TCP segments; half a hello is cut at the time-out; garbage is refused;
# the byte and connection counters add up; a policy whose sniHosts are not
# within its hosts is refused with file:line:col by `sluicectl validate` and
# by a reload, which changes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_common.sh"
sl_require_root
hx_require
command -v openssl >/dev/null || { echo "Bail out! openssl needed"; exit 1; }
CTL="$SL_BUILD/sluicectl"
PEER="$SL_ROOT/tests/e2e/tls_peer.py"

# ---- a test CA and one certificate per backend ------------------------------
C="$SL_TMP/certs"
mkdir -p "$C"
sl_mkca "$C" ca &&
	sl_mkcert "$C" ca a a.example DNS:a.example DNS:split.example &&
	sl_mkcert "$C" ca b b.example DNS:b.example DNS:split.example ||
	{ echo "Bail out! openssl could not make the test certificates"; exit 1; }

# tls_backend NAME PORT
tls_backend() {
	sl_bg "be_$1" python3 "$PEER" server --addr "$HX_IP" --port "$2" --name "$1" \
		--cert "$C/$1.crt" --key "$C/$1.key" >/dev/null
	sl_wait_for 10 hx_port_open "$HX_IP" "$2" || { echo "Bail out! backend $1 did not start"; exit 1; }
}
tls_backend a 9201
tls_backend b 9202
sl_bg be_raw python3 "$PEER" raw-server --addr "$HX_IP" --port 9203 >/dev/null
sl_wait_for 10 hx_port_open "$HX_IP" 9203 || { echo "Bail out! raw backend did not start"; exit 1; }
# a backend that never answers a SYN: a listener with backlog 0 whose accept
# queue two connections of its own fill (the kernel drops further SYNs)
sl_bg be_mute python3 -c 'import socket,sys,time
l=socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], 9204)); l.listen(0)
k=[socket.socket() for _ in range(2)]
for c in k: c.setblocking(False); c.connect_ex((sys.argv[1], 9204))
time.sleep(3600)' "$HX_IP" >/dev/null

P="$SL_TMP/policy.yaml"
cat >"$P" <<YAML
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: edge}
spec:
  hosts: [web.edge.svc.cluster.local]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints:
  - {address: $HX_IP, ports: {tls: 9201}, labels: {version: a}}
  - {address: $HX_IP, ports: {tls: 9202}, labels: {version: b}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: raw, namespace: edge}
spec:
  hosts: [raw.edge.svc.cluster.local]
  ports: [{number: 9203, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: $HX_IP}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: mute, namespace: edge}
spec:
  hosts: [mute.edge.svc.cluster.local]
  ports: [{number: 9204, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: $HX_IP}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mute, namespace: edge}
spec:
  host: mute.edge.svc.cluster.local
  trafficPolicy: {connectionPool: {tcp: {connectTimeout: 100ms}}}
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
metadata: {name: edge-gw, namespace: edge}
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
  gateways: [edge-gw]
  tls:
  - match: [{port: 443, sniHosts: [a.example]}]
    route: [{destination: {host: web.edge.svc.cluster.local, subset: a}}]
  - match: [{sniHosts: [b.example]}]
    route: [{destination: {host: web.edge.svc.cluster.local, subset: b}}]
  - match: [{sniHosts: [split.example]}]
    route:
    - {destination: {host: web.edge.svc.cluster.local, subset: a}, weight: 80}
    - {destination: {host: web.edge.svc.cluster.local, subset: b}, weight: 20}
  - match: [{sniHosts: [raw.example]}]
    route: [{destination: {host: raw.edge.svc.cluster.local, port: {number: 9203}}}]
  - match: [{sniHosts: [mute.example]}]
    route: [{destination: {host: mute.edge.svc.cluster.local, port: {number: 9204}}}]
YAML

out=$("$CTL" validate -f "$P" 2>&1)
sl_check "the policy validates ($out)" grep -q '^valid: ' <<<"$out"
sl_check "the proxy is given no certificate and no key" \
	bash -c "! grep -Eq 'serverCertificate|privateKey|credentialName' '$P'"
hx_proxy "$P" 443 --tls-handshake-timeout-ms 1500

# tclient SNI N: N TLS connections through the proxy, verified against the CA
tclient() { python3 "$PEER" client --addr "$HX_IP" --port 443 --sni "$1" --ca "$C/ca.crt" --n "$2"; }

# ---- SNI routes, TLS end to end with the backends' certificates ------------
j=$(tclient a.example 5)
hx_expect "SNI a.example reaches backend a, whose certificate verifies ($j)" "$j" \
	'j["names"] == {"a": 5} and j["errors"] == 0 and j["sni"] == ["a.example"]'
j=$(tclient b.example 5)
hx_expect "SNI b.example reaches backend b, which saw the name ($j)" "$j" \
	'j["names"] == {"b": 5} and j["errors"] == 0 and j["sni"] == ["b.example"]'

# ---- weights 80/20 over 200 connections ---------------------------------------
# a share of 80% over 200 draws: mean 160, sd 5.7; [130, 190] is over 5 sd
# either way (a false failure about once in 10^7 runs)
j=$(tclient split.example 200)
sl_log "split.example over 200 connections: $j"
hx_expect "split.example splits 80/20 (a within [130, 190] of 200, no errors)" "$j" \
	'j["errors"] == 0 and sum(j["names"].values()) == 200 and 130 <= j["names"].get("a", 0) <= 190'
SPLIT_A=$(hx_jq "$j" 'j["names"].get("a", 0)')
SPLIT_B=$(hx_jq "$j" 'j["names"].get("b", 0)')

# ---- no SNI, no route: closed and counted ----------------------------------
j=$(tclient - 3)
hx_expect "a client sending no SNI is closed ($j)" "$j" 'j["errors"] == 3 and not j["names"]'
j=$(tclient nowhere.example 2)
hx_expect "a name the server admits but no tls route covers is closed ($j)" "$j" \
	'j["errors"] == 2 and not j["names"]'
j=$(tclient c.other 2)
hx_expect "a name outside the server's hosts is closed ($j)" "$j" 'j["errors"] == 2 and not j["names"]'
printf 'GET / HTTP/1.1\r\nHost: a.example\r\n\r\n' >"$SL_TMP/http.req"
out=$(timeout 5 python3 -c 'import socket,sys
s=socket.create_connection((sys.argv[1],443),timeout=4); s.sendall(open(sys.argv[2],"rb").read())
print(len(s.recv(100)))' "$HX_IP" "$SL_TMP/http.req" 2>&1)
sl_check "plain HTTP on the passthrough port is closed without an answer ($out)" [ "$out" = 0 ]

# ---- half-close and byte exactness --------------------------------------------
out=$(python3 "$PEER" raw-client --addr "$HX_IP" --port 443 --sni raw.example)
sl_log "raw: $out"
got=${out%%|*}; sent=${out##*|}
sl_check "a ClientHello and 100 KB after it arrive byte for byte, and the answer after the client's half-close comes back" \
	[ -n "$sent" ] && [ "$(echo $got)" = "$(echo $sent)" ]

out=$(python3 "$PEER" raw-client --addr "$HX_IP" --port 443 --sni raw.example --pieces 4)
got=${out%%|*}; sent=${out##*|}
sl_check "a ClientHello sent in 4 TCP segments 100 ms apart is routed and relayed whole" \
	[ -n "$sent" ] && [ "$(echo $got)" = "$(echo $sent)" ]
out=$(python3 "$PEER" raw-client --addr "$HX_IP" --port 443 --sni raw.example --stop-after 60)
sl_check "half a ClientHello is closed after --tls-handshake-timeout-ms (1.5 s), nothing sent back ($out)" \
	python3 -c 'import sys; n, t = sys.argv[1].split(); sys.exit(not (n == "0" and 1.3 <= float(t) <= 4))' "$out"

# connectTimeout 100ms to a backend that never answers: the connection is
# closed at that time-out (while the worker has no HTTP connection and sleeps
# long between events), not a second later
out=$(timeout 10 python3 -c 'import socket,ssl,sys,time
s=socket.create_connection((sys.argv[1], 443), timeout=8)
c=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); c.check_hostname=False; c.verify_mode=ssl.CERT_NONE
t=time.monotonic()
try:
  c.wrap_socket(s, server_hostname="mute.example"); r="handshake"
except (OSError, ssl.SSLError):
  r="closed"
print(r, round(time.monotonic() - t, 3))' "$HX_IP" 2>&1)
sl_check "connectTimeout 100ms to a backend that never answers closes the client within 0.6 s ($out)" \
	python3 -c 'import sys; r, t = sys.argv[1].split(); sys.exit(not (r == "closed" and float(t) < 0.6))' "$out"

# ---- counters -----------------------------------------------------------------
m=$(hx_metrics_dump)
mget() { awk -v k="$1" 'index($0, k) == 1 { s += $NF } END { print s + 0 }' <<<"$m"; }
oa=$(mget 'sluice_http_passthrough_connections_opened_total{gateway="edge/edge-gw",sni_host="split.example",destination_service="web.edge.svc.cluster.local",destination_version="a"}')
ob=$(mget 'sluice_http_passthrough_connections_opened_total{gateway="edge/edge-gw",sni_host="split.example",destination_service="web.edge.svc.cluster.local",destination_version="b"}')
sl_check "opened connections by route and destination match what the client saw (a $oa/$SPLIT_A, b $ob/$SPLIT_B)" \
	[ "$oa" = "$SPLIT_A" ] && [ "$ob" = "$SPLIT_B" ]
sl_wait_for 5 bash -c "[ \$(python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); d=b\"\"
while True:
  b=s.recv(65536)
  if not b: break
  d+=b
print(sum(int(l.split()[-1]) for l in d.decode().splitlines() if l.startswith(\"sluice_http_passthrough_connections_closed_total{\")))' '$HX_METRICS') -ge 212 ]"
m=$(hx_metrics_dump)
opened=$(mget sluice_http_passthrough_connections_opened_total{)
closed=$(mget sluice_http_passthrough_connections_closed_total{)
# 5 + 5 + 200 relayed TLS connections and the two raw ones
sl_check "every relayed connection is counted opened and closed (212: $opened, $closed)" \
	[ "$opened" = 212 ] && [ "$closed" = 212 ]
rx=$(mget 'sluice_http_passthrough_received_bytes_total{gateway="edge/edge-gw",sni_host="raw.example"')
sl_check "received bytes count the client's bytes, ClientHello included ($rx >= 100000)" [ "$rx" -ge 100000 ]
tx=$(mget sluice_http_passthrough_sent_bytes_total{)
sl_check "sent bytes count the backends' bytes ($tx > 0)" [ "$tx" -gt 0 ]
sl_check "no-SNI closes are counted (3)" grep -q '^sluice_http_passthrough_rejected_total{reason="no-sni"} 3$' <<<"$m"
sl_check "unmatched names are counted as no-route (4)" grep -q '^sluice_http_passthrough_rejected_total{reason="no-route"} 4$' <<<"$m"
sl_check "bytes that are no ClientHello are counted (1)" \
	grep -q '^sluice_http_passthrough_rejected_total{reason="bad-client-hello"} 1$' <<<"$m"
sl_check "the hello time-out is counted (1)" \
	grep -q '^sluice_http_passthrough_rejected_total{reason="client-hello-timeout"} 1$' <<<"$m"
sl_check "the upstream connect time-out is counted (1)" \
	grep -q '^sluice_http_passthrough_rejected_total{reason="upstream-connect-failure"} 1$' <<<"$m"

# ---- sluicectl diff names a changed tls route ----------------------------------
sed 's/weight: 80}/weight: 50}/; s/weight: 20}/weight: 50}/' "$P" >"$SL_TMP/w50.yaml"
out=$("$CTL" diff -f "$SL_TMP/w50.yaml" --against "$P" 2>&1)
sl_check "diff shows the changed tls route and its weights" \
	bash -c 'grep -q "~ tls\[2\]" <<<"$1" && grep -q "spec.tls\[2\].route\[0\].weight: 80 -> 50" <<<"$1"' _ "$out"

# ---- a bad policy is refused with file:line:col and changes nothing ------------
B="$SL_TMP/bad.yaml"
sed 's/sniHosts: \[b.example\]/sniHosts: [b.example, b.other]/' "$P" >"$B"
out=$("$CTL" validate -f "$B" 2>&1); rc=$?
sl_log "$out"
line=$(grep -n 'b.other' "$B" | cut -d: -f1)
sl_check "sniHosts outside the VirtualService hosts: validate exits 1 ($rc)" [ "$rc" -eq 1 ]
sl_check "... naming $B:$line:col and the field" \
	grep -Eq "^$B:$line:[0-9]+: error\[SL0210\]: sniHosts\[1\] \"b.other\" is not within" <<<"$out"
cp "$B" "$P"
kill -HUP "$HX_PID"
sl_wait_for 5 grep -q "reload refused" "$SL_TMP/proxy.log"
sl_check "a reload with it is refused, the file named" grep -q "$P:$line:.*b.other" "$SL_TMP/proxy.log"
j=$(tclient b.example 3)
hx_expect "... and b.example is still routed as before ($j)" "$j" 'j["names"] == {"b": 3} and j["errors"] == 0'
kill -0 "$HX_PID" 2>/dev/null
sl_check "sluice-http is still running" [ $? -eq 0 ]
sl_done
