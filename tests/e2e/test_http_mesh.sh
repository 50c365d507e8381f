#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The mesh path end to end: sluiced attaches the connect hook to a test
# cgroup and supervises sluice-http; clients in that cgroup (and in child
# cgroups tied to WorkloadEntries) connect to service VIPs, the hook sends
# them to the helper and records the VIP and workload in sluice_origdst,
# and sluice-http routes by that VIP's VirtualService:
#   S4 complete: cookie user=tester -> frontend v2; a client in frontend-v2's
#      cgroup -> forecast v2 (sourceLabels), in frontend-v1's -> v1
#   S5 in the mesh: x-istio-cohort: internal -> catalog v2, else v1
#   gRPC in the mesh: calls to a GRPC port's VIP (h2c, as gRPC clients
#      speak) routed by method to v2 over HTTP/2 upstream, the rest to v1;
#      an HTTP/2 (h2c) client of an HTTP service routed per request
# plus: the Host header does not matter on this path (the VIP does), and a
# client in another network namespace (a pod) reaches the helper through
# sluiced --http-listen on a node address (no forwarding: a direct veth).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup_helper
H2PY=python3
$H2PY -c 'import h2' 2>/dev/null || H2PY=/usr/bin/python3
$H2PY -c 'import h2' 2>/dev/null || { echo "Bail out! no python3 h2 module (make deps)"; exit 1; }

# backends: frontend .11/.12, forecast .21/.22, catalog .31/.32 (port 8080)
for b in "fv1 11" "fv2 12" "v1 21" "v2 22" "cv1 31" "cv2 32"; do
	set -- $b
	ip -n "$NS" addr add "10.1.0.$2/32" dev lo
	sl_bg "be_$1" nsenter --net="/run/netns/$NS" python3 "$SL_ROOT/tests/e2e/http_backend.py" \
		--addr "10.1.0.$2" --port 8080 --name "$1" >/dev/null
done
up() { sl_in_ns "$NS" curl -s -o /dev/null -f "http://10.1.0.$1:8080/"; }
for a in 11 12 21 22 31 32; do
	sl_wait_for 10 up $a || { echo "Bail out! backend 10.1.0.$a did not start"; exit 1; }
done
# gRPC-shaped backends (HTTP/2 only): greeter .41/.42 port 50051
for b in "gv1 41" "gv2 42"; do
	set -- $b
	ip -n "$NS" addr add "10.1.0.$2/32" dev lo
	sl_bg "be_$1" nsenter --net="/run/netns/$NS" $H2PY "$SL_ROOT/tests/e2e/grpc_backend.py" \
		--addr "10.1.0.$2" --port 50051 --name "$1" >/dev/null
done
gup() { sl_in_ns "$NS" bash -c "exec 3<>/dev/tcp/10.1.0.$1/50051" 2>/dev/null; }
for a in 41 42; do
	sl_wait_for 10 gup $a || { echo "Bail out! grpc backend 10.1.0.$a did not start"; exit 1; }
done

# workload cgroups below the hooked cgroup (programs are inherited)
ROOT=$(sl_cgroup2_root)
for v in v1 v2; do
	mkdir "$CG/fe-$v"
	sl_defer "sl_kill_cgroup '$CG/fe-$v'; rmdir '$CG/fe-$v'"
done
REL=${CG#"$ROOT"/}

svc() {	# svc NAME VIP A1 A2
	cat <<YAML
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: $1, namespace: weather}
spec:
  hosts: [$1.weather.svc.cluster.local]
  addresses: [$2]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 10.1.0.$3, ports: {http: 8080}, labels: {version: v1}}
  - {address: 10.1.0.$4, ports: {http: 8080}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: $1, namespace: weather}
spec:
  host: $1
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
YAML
}
{
	svc frontend 198.18.0.21 11 12
	svc forecast 198.18.0.20 21 22
	svc catalog 198.18.0.22 31 32
	cat <<YAML
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: greeter, namespace: weather}
spec:
  hosts: [greeter.weather.svc.cluster.local]
  addresses: [198.18.0.23]
  ports: [{number: 50051, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints:
  - {address: 10.1.0.41, labels: {version: v1}}
  - {address: 10.1.0.42, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: greeter, namespace: weather}
spec:
  host: greeter
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: greeter, namespace: weather}
spec:
  hosts: [greeter]
  http:
  - match: [{uri: {prefix: /shop.Greeter/SayHelloBeta}}]
    route: [{destination: {host: greeter, subset: v2}}]
  - route: [{destination: {host: greeter, subset: v1}}]
YAML
	cat <<YAML
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: frontend, namespace: weather}
spec:
  hosts: [frontend]
  http:
  - match: [{headers: {cookie: {regex: "^(.*?;)?(user=tester)(;.*)?\$"}}}]
    route: [{destination: {host: frontend, subset: v2}}]
  - route: [{destination: {host: frontend, subset: v1}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: forecast, namespace: weather}
spec:
  hosts: [forecast]
  http:
  - match: [{sourceLabels: {version: v2}}]
    route: [{destination: {host: forecast, subset: v2}}]
  - route: [{destination: {host: forecast, subset: v1}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: catalog, namespace: weather}
spec:
  hosts: [catalog]
  gateways: [mesh]
  http:
  - match: [{headers: {x-istio-cohort: {exact: internal}}}]
    route: [{destination: {host: catalog, subset: v2}}]
  - route: [{destination: {host: catalog, subset: v1}}]
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata:
  name: frontend-v1
  namespace: weather
  annotations: {sluice.io/cgroup: $REL/fe-v1}
spec: {address: 10.1.0.11, labels: {app: frontend, version: v1}}
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata:
  name: frontend-v2
  namespace: weather
  annotations: {sluice.io/cgroup: $REL/fe-v2}
spec: {address: 10.1.0.12, labels: {app: frontend, version: v2}}
YAML
} >"$DL_POL/mesh.yaml"

# "pod" namespace -veth- node namespace; the helper listens on the node end.
sl_netns pod >/dev/null || exit 1
POD="sl${SL_ID}-pod"
ip link add "slm${SL_ID}n" type veth peer name "slm${SL_ID}p"
ip link set "slm${SL_ID}n" netns "$NS"
ip link set "slm${SL_ID}p" netns "$POD"
ip -n "$NS" addr add 10.200.0.1/24 dev "slm${SL_ID}n"
ip -n "$POD" addr add 10.200.0.2/24 dev "slm${SL_ID}p"
ip -n "$NS" link set "slm${SL_ID}n" up
ip -n "$POD" link set "slm${SL_ID}p" up

sl_bg sluicedm nsenter --net="/run/netns/$NS" "$SLUICED" --policy-dir "$DL_POL" \
	--cgroup "$CG" --bpffs "$SL_BPFFS" --socket "$SL_SOCK" --state-dir "$DL_STATE" \
	--http-listen 10.200.0.1:15001 >/dev/null
sl_wait_for 10 ctl status || { echo "Bail out! sluiced did not start"; cat "$SL_TMP/sluicedm.log"; exit 1; }
sl_defer "'$CTL' --socket '$SL_SOCK' reset"
helper_running() { ctl status -o json | jq -e '.helper == "running"' >/dev/null; }
sl_check "sluiced started sluice-http for the HTTP routes" sl_wait_for 15 helper_running

# get CGROUP VIP [curl args]: one new connection from CGROUP (in namespace
# $GET_NS, default the node's); prints x-backend
get() {
	local cg=$1 vip=$2; shift 2
	sl_in_cgroup_ns "$cg" "${GET_NS:-$NS}" curl -s -m 5 -o /dev/null -D - "$@" "http://$vip/" |
		tr -d '\r' | sed -n 's/^x-backend: //ip'
}
ready() { [ -n "$(get "$CG" 198.18.0.20)" ]; }
sl_wait_for 15 ready || sl_log "mesh path not answering yet: $(tail -5 "$SL_TMP/sluicedm.log")"

# many CGROUP VIP WANT N [curl args]: N connections all answered by WANT
many() {
	local cg=$1 vip=$2 want=$3 n=$4 i got bad=0; shift 4
	for ((i = 0; i < n; i++)); do
		got=$(get "$cg" "$vip" "$@")
		[ "$got" = "$want" ] || { bad=$((bad + 1)); sl_log "got '$got', want '$want'"; }
	done
	[ $bad -eq 0 ]
}
sl_check "S4 cookie user=tester -> frontend v2 (20 connections)" \
	many "$CG" 198.18.0.21 fv2 20 -H "Cookie: user=tester"
sl_check "S4 no cookie -> frontend v1 (20 connections)" many "$CG" 198.18.0.21 fv1 20
sl_check "S4 client in frontend-v2's cgroup -> forecast v2 (20)" many "$CG/fe-v2" 198.18.0.20 v2 20
sl_check "S4 client in frontend-v1's cgroup -> forecast v1 (20)" many "$CG/fe-v1" 198.18.0.20 v1 20
sl_check "S4 client of no workload -> forecast v1 (20)" many "$CG" 198.18.0.20 v1 20
sl_check "S5 mesh: x-istio-cohort: internal -> catalog v2 (20)" \
	many "$CG" 198.18.0.22 cv2 20 -H "x-istio-cohort: internal"
sl_check "S5 mesh: no header -> catalog v1 (20)" many "$CG" 198.18.0.22 cv1 20
sl_check "mesh routing follows the VIP, not the Host header" \
	many "$CG" 198.18.0.22 cv1 5 -H "Host: forecast"
# grpc CGROUP PATH: one call to the greeter VIP from CGROUP; prints the message
grpc() {
	sl_in_cgroup_ns "$1" "$NS" timeout 10 $H2PY "$SL_ROOT/tests/e2e/h2_client.py" grpc \
		198.18.0.23 50051 greeter "$2" | jq -r '.message + " " + (.trailers["grpc-status"] // "none")'
}
out=$(grpc "$CG" /shop.Greeter/SayHelloBeta)
sl_check "gRPC in the mesh: the new method -> greeter v2 over HTTP/2, grpc-status 0 ($out)" \
	[ "$out" = "gv2 POST /shop.Greeter/SayHelloBeta 10 h2 0" ]
out=$(grpc "$CG" /shop.Greeter/SayHello)
sl_check "gRPC in the mesh: other methods -> greeter v1 ($out)" [ "$out" = "gv1 POST /shop.Greeter/SayHello 10 h2 0" ]
out=$(sl_in_cgroup_ns "$CG" "$NS" curl -s -m 5 --http2-prior-knowledge -o /dev/null \
	-w '%{http_version}' -D - -H "x-istio-cohort: internal" http://198.18.0.22/ | tr -d '\r' |
	sed -n 's/^x-backend: //p' | tr '\n' ' ')
sl_check "an h2c client of an HTTP service in the mesh is routed per request (S5 -> cv2) ($out)" \
	[ "$out" = "cv2 " ]
GET_NS=$POD
sl_check "pod netns: S4 client in frontend-v2's cgroup -> forecast v2 (10)" \
	many "$CG/fe-v2" 198.18.0.20 v2 10
sl_check "pod netns: S5 x-istio-cohort: internal -> catalog v2 (10)" \
	many "$CG" 198.18.0.22 cv2 10 -H "x-istio-cohort: internal"
sl_check "pod netns: no header -> catalog v1 (10)" many "$CG" 198.18.0.22 cv1 10
GET_NS=
sl_done
