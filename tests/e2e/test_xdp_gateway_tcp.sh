#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A Gateway TCP server end to end: `bind: <VIP>` + an 80/20 tcp
# VirtualService bound to the gateway, as YAML in sluiced's policy dir.
# sluiced runs in the node namespace with `--xdp c0` (native XDP on the
# node's client-facing veth) and its connect hooks on a test cgroup:
#  - the off-node client connects to VIP:port through the node: XDP splits
#    80/20, no connection fails, and every TCP packet the client receives
#    comes from VIP:port (reverse NAT; counted by iptables in the client ns);
#  - a local client in sluiced's test cgroup in the node namespace (which
#    has no route to the VIP) is steered by the connect hook, 80/20; the
#    same client outside the cgroup cannot connect at all;
#  - a weight change (0/100) moves new connections on both paths.
. "$(dirname "$0")/lib.sh"
. "$SL_ROOT/tools/xdp_topo.sh"
sl_require_root
sl_ensure_bpffs

sl_need_built "$SLUICED" "$CTL" "$CONNBENCH"
command -v iptables >/dev/null || { echo "Bail out! iptables is not installed"; exit 1; }
POL=$SL_TMP/policies
mkdir -p "$POL" "$SL_TMP/state"

policy() {	# policy W1 W2: the service has no address; only the gateway VIP
	cat <<EOF2
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: tcp-echo, namespace: edge}
spec:
  hosts: [tcp-echo.edge.svc.cluster.local]
  ports: [{number: $XDP_PORT, name: tcp, protocol: TCP}]
  resolution: STATIC
  location: MESH_INTERNAL
  endpoints:
  - {address: 10.11.1.2, labels: {app: tcp-echo, version: v1}}
  - {address: 10.11.2.2, labels: {app: tcp-echo, version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: tcp-echo, namespace: edge}
spec:
  host: tcp-echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: edge-gateway, namespace: edge}
spec:
  servers:
  - port: {number: $XDP_PORT, name: tcp-echo, protocol: TCP}
    bind: $XDP_VIP
    hosts: ['*']
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: tcp-echo-from-edge, namespace: edge}
spec:
  hosts: ['*']
  gateways: [edge/edge-gateway]
  tcp:
  - match: [{port: $XDP_PORT}]
    route:
    - {destination: {host: tcp-echo, subset: v1}, weight: $1}
    - {destination: {host: tcp-echo, subset: v2}, weight: $2}
EOF2
}

# pkts RULE_NUMBER: packets counted by the client's INPUT rule
pkts() {
	sl_in_ns "$NS_CLIENT" iptables -w -nvx -L INPUT --line-numbers |
		awk -v n="$1" '$1 == n { print $2 }'
}

xdp_topo || { sl_fail "xdp topology"; sl_done; }
sl_mkcgroup hooks >/dev/null || { sl_fail "test cgroup"; sl_done; }
CG="$(sl_cgroup2_root)/sluice-test-$SL_ID/hooks"
sl_bg b1 nsenter --net="/run/netns/$NS_V1" "$CONNBENCH" serve "0.0.0.0:$XDP_PORT" one >/dev/null
sl_bg b2 nsenter --net="/run/netns/$NS_V2" "$CONNBENCH" serve "0.0.0.0:$XDP_PORT" two >/dev/null
sl_wait_for 10 sl_in_ns "$NS_V1" bash -c "echo > /dev/tcp/127.0.0.1/$XDP_PORT" &&
sl_wait_for 10 sl_in_ns "$NS_V2" bash -c "echo > /dev/tcp/127.0.0.1/$XDP_PORT" ||
	{ sl_fail "backends up"; sl_done; }
policy 80 20 >"$POL/edge.yaml"
"$CTL" validate -q -f "$POL/edge.yaml" >/dev/null 2>"$SL_TMP/validate.err"
rc=$?
sl_check "the gateway policy validates without warnings (exit $rc)" \
	[ "$rc" -eq 0 -a ! -s "$SL_TMP/validate.err" ]

# counters on the client's input: (1) from VIP:port, (2) any other TCP
sl_in_ns "$NS_CLIENT" iptables -w -A INPUT -p tcp -s "$XDP_VIP" --sport "$XDP_PORT" &&
sl_in_ns "$NS_CLIENT" iptables -w -A INPUT -p tcp ! -s "$XDP_VIP" ||
	{ sl_fail "iptables counters in the client namespace"; sl_done; }

xdp_sluiced c0:mode=native || { sl_fail "sluiced --xdp c0 starts and applies the gateway policy"; sl_done; }
gw=$(ctl get services -o json | jq -c --arg v "$XDP_VIP" '[.[] | select(.host | startswith("gateway ")) | select(.vips == [$v])]')
sl_log "get services, gateway rows: $gw"
gw_ok=$(jq -r --argjson p "$XDP_PORT" 'length == 1 and .[0].ports == [{"number": $p, "name": .[0].ports[0].name, "protocol": "TCP"}] and (.[0].virtualservice | length > 0)' <<<"$gw")
sl_check "sluicectl get services lists the gateway VIP with its VirtualService" [ "$gw_ok" = true ]
mode=$(sed -n 's/.*xdp: c0 attached in \([a-z-]*\) mode.*/\1/p' "$SL_TMP/sluiced.log" | head -1)
sl_check "sluiced attached XDP on c0 in native mode as asked (${mode:-?})" [ "$mode" = native ]

# off-node: the client namespace, through the node's XDP
N=3000
out=$(sl_in_ns "$NS_CLIENT" timeout 120 "$CONNBENCH" client "$XDP_VIP:$XDP_PORT" -n "$N")
sl_log "off-node: $out"
one=$(dl_field "$out" one); two=$(dl_field "$out" two); ok=$(dl_field "$out" ok)
sl_check "off-node: $N connections to the gateway VIP, 0 failed (ok=${ok:-0})" \
	[ "${ok:-0}" -eq "$N" -a "$(dl_field "$out" fail)" = 0 ]
# 20% of 3000 = 600; sd ~22: 500..700 is more than 4.5 sd
sl_check "off-node: 80/20 by the gateway's VirtualService (v2 ${two:-0} of $N, 500..700)" \
	[ "${two:-0}" -ge 500 -a "${two:-0}" -le 700 -a "$((${one:-0} + ${two:-0}))" -eq "$N" ]
from_vip=$(pkts 1); other=$(pkts 2)
sl_log "client input: ${from_vip:-?} TCP packets from $XDP_VIP:$XDP_PORT, ${other:-?} from elsewhere"
# at least SYN-ACK and the reply per connection
sl_check "off-node: every reply comes from the VIP (${from_vip:-0} from VIP:port, ${other:-?} other)" \
	[ "${from_vip:-0}" -ge $((2 * N)) -a "${other:-1}" -eq 0 ]
newflows=$(ctl status -o json | jq -r '.counters.xdp_new_flow')
sl_check "off-node: XDP made the flows (xdp_new_flow=${newflows:-0} >= $N)" [ "${newflows:-0}" -ge "$N" ]
# native XDP on a veth at kernel defaults: the backends' veths are no
# redirect targets (sluice_xdp_tx), so every DNATed packet went to the stack
cnt() { ctl status -o json | jq -r --arg c "$1" '.counters[$c]'; }
sl_check "off-node: nothing redirected into a veth (xdp_redirect=$(cnt xdp_redirect)), the stack forwarded (xdp_to_stack=$(cnt xdp_to_stack))" \
	[ "$(cnt xdp_redirect)" = 0 -a "${N}" -le "$(cnt xdp_to_stack)" ]

# local: a client in sluiced's test cgroup in the node namespace, where the
# VIP has no route: only the connect hook can make these connections work
L=2000
out=$(sl_in_cgroup_ns "$CG" "$NS_NODE" timeout 120 "$CONNBENCH" client "$XDP_VIP:$XDP_PORT" -n "$L")
sl_log "local: $out"
two=$(dl_field "$out" two); ok=$(dl_field "$out" ok)
sl_check "local: $L connections steered by the connect hook, 0 failed (ok=${ok:-0})" \
	[ "${ok:-0}" -eq "$L" -a "$(dl_field "$out" fail)" = 0 ]
# 20% of 2000 = 400; sd ~18: 320..480
sl_check "local: 80/20 (v2 ${two:-0} of $L, 320..480)" [ "${two:-0}" -ge 320 -a "${two:-0}" -le 480 ]
out=$(sl_in_ns "$NS_NODE" timeout 60 "$CONNBENCH" client "$XDP_VIP:$XDP_PORT" -n 5 2>&1)
sl_check "control: the same client outside the test cgroup reaches nothing (ok=$(dl_field "$out" ok))" \
	[ "$(dl_field "$out" ok)" = 0 ]

# the generation flip covers the gateway entries on both paths
gen0=$(ctl status -o json | jq -r .generation)
policy 0 100 >"$POL/edge.yaml.tmp" && mv "$POL/edge.yaml.tmp" "$POL/edge.yaml"
sl_wait_for 10 sh -c "[ \"\$('$CTL' --socket '$SL_SOCK' status -o json | jq -r .generation)\" != '$gen0' ]"
out=$(sl_in_ns "$NS_CLIENT" timeout 120 "$CONNBENCH" client "$XDP_VIP:$XDP_PORT" -n 300)
sl_check "after 0/100: 300 of 300 new off-node connections to v2 ($(dl_field "$out" two))" \
	[ "$(dl_field "$out" two)" = 300 ]
out=$(sl_in_cgroup_ns "$CG" "$NS_NODE" timeout 120 "$CONNBENCH" client "$XDP_VIP:$XDP_PORT" -n 300)
sl_check "after 0/100: 300 of 300 new local connections to v2 ($(dl_field "$out" two))" \
	[ "$(dl_field "$out" two)" = 300 ]
sl_done
