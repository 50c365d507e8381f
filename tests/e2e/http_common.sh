# SPDX-License-Identifier: Apache-2.0
# Helpers for the sluice-http end-to-end tests (sourced after lib.sh).
#
# Everything runs on a loopback address private to this run, 127.<a>.<b>.1
# derived from $SL_ID (127.0.0.0/8 is all on lo), so parallel runs never
# collide and no packet leaves the host. sluice-http runs standalone: its
# --bpffs points at a pin root that does not exist, so mesh requests are
# routed by their Host header.

HX_IP="127.$(( (SL_ID / 250) % 250 + 1 )).$(( SL_ID % 250 + 1 )).1"
HX_HTTP="${HX_HTTP:-$SL_BUILD/sluice-http}"
HX_BACKEND_C="$SL_BUILD/http-backend"
HX_PY="$SL_ROOT/tests/e2e"
HX_METRICS="$SL_TMP/metrics.sock"

hx_require() {
	if [ ! -x "$HX_HTTP" ] || [ ! -x "$HX_BACKEND_C" ]; then
		make -s -C "$SL_ROOT" build/sluice-http build/http-backend >/dev/null 2>&1
	fi
	if [ ! -x "$HX_HTTP" ]; then
		echo "Bail out! build/sluice-http is not built"
		exit 1
	fi
}

hx_port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# hx_backend NAME PORT: the python backend (behaviours by request header).
hx_backend() {
	sl_bg "be_$1" python3 "$HX_PY/http_backend.py" --addr "$HX_IP" --port "$2" --name "$1" >/dev/null
	sl_wait_for 10 hx_port_open "$HX_IP" "$2" || { echo "Bail out! backend $1 did not start"; exit 1; }
}

# hx_backend_c NAME PORT: the fast C backend (1 KB answers).
hx_backend_c() {
	sl_bg "be_$1" "$HX_BACKEND_C" "$HX_IP" "$2" "$1" 64 >/dev/null
	sl_wait_for 10 hx_port_open "$HX_IP" "$2" || { echo "Bail out! backend $1 did not start"; exit 1; }
}

# hx_proxy POLICY WAIT_PORT [ARGS...]: sluice-http on $HX_IP; PID in HX_PID.
hx_proxy() {
	local pol=$1 port=$2; shift 2
	sl_bg proxy ${HX_WRAP:-} "$HX_HTTP" --policy "$pol" --mesh-listen "$HX_IP:15001" \
		--gateway-addr "$HX_IP" --bpffs "$SL_TMP/no-bpffs" \
		--metrics-socket "$HX_METRICS" "$@" >/dev/null
	HX_PID=$SL_PID_proxy
	sl_wait_for 10 hx_port_open "$HX_IP" "$port" || {
		echo "Bail out! sluice-http did not listen on $port"; cat "$SL_TMP/proxy.log"; exit 1; }
}

# hx_get ARGS...: http_client.py against $HX_IP; prints its JSON.
hx_get() { python3 "$HX_PY/http_client.py" --addr "$HX_IP" "$@"; }

# hx_jq JSON EXPR: evaluate a python expression over the JSON as `j`.
hx_jq() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# hx_expect NAME JSON EXPR: ok when the python expression over j is true.
hx_expect() {
	local name=$1 json=$2 expr=$3
	if [ "$(hx_jq "$json" "bool($expr)")" = "True" ]; then
		sl_ok "$name"
	else
		sl_fail "$name"
		sl_log "expected: $expr"
		sl_log "got: $json"
	fi
}

# hx_versions_yaml NAME PORT PROTO V1PORT V2PORT: the ServiceEntry
# NAME.shop.svc.cluster.local (port PORT, protocol PROTO) of two endpoints on
# $HX_IP, labelled version v1 (V1PORT) and v2 (V2PORT), and its
# DestinationRule with subsets v1 and v2; ends with a document separator.
hx_versions_yaml() {
	local pn
	pn=$(tr 'A-Z' 'a-z' <<<"$3")
	cat <<YAML
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: $1, namespace: shop}
spec:
  hosts: [$1.shop.svc.cluster.local]
  ports: [{number: $2, name: $pn, protocol: $3}]
  resolution: STATIC
  endpoints:
  - {address: $HX_IP, ports: {$pn: $4}, labels: {version: v1}}
  - {address: $HX_IP, ports: {$pn: $5}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: $1, namespace: shop}
spec:
  host: $1.shop.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
YAML
}

# hx_subst FILE: substitute @IP@ in a policy template in place.
hx_subst() { sed -i "s/@IP@/$HX_IP/g" "$1"; }

# hx_metrics_dump: sluice-http's exposition from its metrics socket.
hx_metrics_dump() {
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); d=b""
while True:
  b=s.recv(65536)
  if not b: break
  d+=b
print(d.decode())' "$HX_METRICS"
}
