# SPDX-License-Identifier: Apache-2.0
# Topology for the XDP end-to-end tests and bench/bench_xdp.sh (sourced
# after tools/sandbox.sh):
#
#   client (eth0 10.10.0.2/16) --- (c0 10.10.0.1/16) node (b1 10.11.1.1/24) --- v1 (eth0 10.11.1.2)
#                                                         (b2 10.11.2.1/24) --- v2 (eth0 10.11.2.2)
#
# Forwarding is on in the node namespace only. The client has a route to
# the VIP range 198.18.0.0/24 through the node and nothing else; backends
# route the client range back through the node. Checksum offload is off on
# the client and backend ends (tx: XDP sees complete checksums as from a
# NIC; rx: the backends and the client verify every checksum we rewrote).
# Everything lives in namespaces named with $SL_ID, removed at exit.

XDP_VIP=198.18.0.10
XDP_PORT=9000
XDP_TOOL=${XDP_TOOL:-$SL_BUILD/tools/xdp_tool}
XDP_HELPER="python3 $SL_ROOT/tools/xdp_helper.py"

# xdp_topo: creates $NS_CLIENT $NS_NODE $NS_V1 $NS_V2 and the veths.
xdp_topo() {
	# Not in $(...): sl_netns registers its cleanup in this shell.
	sl_netns client >/dev/null && sl_netns node >/dev/null &&
	sl_netns v1 >/dev/null && sl_netns v2 >/dev/null || return 1
	NS_CLIENT="sl${SL_ID}-client" NS_NODE="sl${SL_ID}-node"
	NS_V1="sl${SL_ID}-v1" NS_V2="sl${SL_ID}-v2"
	ip -n "$NS_NODE" link add c0 type veth peer name eth0 netns "$NS_CLIENT" &&
	ip -n "$NS_NODE" link add b1 type veth peer name eth0 netns "$NS_V1" &&
	ip -n "$NS_NODE" link add b2 type veth peer name eth0 netns "$NS_V2" || return 1
	ip -n "$NS_CLIENT" addr add 10.10.0.2/16 dev eth0
	ip -n "$NS_NODE" addr add 10.10.0.1/16 dev c0
	ip -n "$NS_NODE" addr add 10.11.1.1/24 dev b1
	ip -n "$NS_NODE" addr add 10.11.2.1/24 dev b2
	ip -n "$NS_V1" addr add 10.11.1.2/24 dev eth0
	ip -n "$NS_V2" addr add 10.11.2.2/24 dev eth0
	local ns
	for ns in "$NS_CLIENT" "$NS_V1" "$NS_V2"; do
		ip -n "$ns" link set eth0 up || return 1
	done
	# XDP_TOPO_TUNED=1 (bench/bench_xdp.sh only): the shape a NIC gives,
	# complete checksums (tx offload off) and veth peers that take XDP
	# frames (GRO on turns on their NAPI). The tests leave the veths as the
	# kernel makes them, as pod veths are.
	if [ "${XDP_TOPO_TUNED:-0}" = 1 ]; then
		for ns in "$NS_CLIENT" "$NS_V1" "$NS_V2"; do
			sl_in_ns "$ns" ethtool -K eth0 tx off rx off >/dev/null 2>&1 || return 1
		done
		for ns in "$NS_V1" "$NS_V2"; do
			sl_in_ns "$ns" ethtool -K eth0 gro on >/dev/null 2>&1 || return 1
		done
	fi
	ip -n "$NS_NODE" link set c0 up && ip -n "$NS_NODE" link set b1 up &&
	ip -n "$NS_NODE" link set b2 up || return 1
	ip -n "$NS_CLIENT" route add 198.18.0.0/24 via 10.10.0.1 || return 1
	ip -n "$NS_V1" route add 10.10.0.0/16 via 10.11.1.1 || return 1
	ip -n "$NS_V2" route add 10.10.0.0/16 via 10.11.2.1 || return 1
	sl_in_ns "$NS_NODE" sysctl -qw net.ipv4.ip_forward=1 || return 1
}

# xdp_attach [MODE]: load + attach Sluice's XDP/TC on the node's c0 with a
# private pin root; sets XDP_MODE (empty on failure). Unpinned (detached)
# at exit. Not in $(...): the cleanup is registered in this shell.
xdp_attach() {
	sl_ensure_bpffs
	sl_defer "$XDP_TOOL reset '$SL_BPFFS'"
	XDP_MODE=$(sl_in_ns "$NS_NODE" "$XDP_TOOL" attach "$SL_BPFFS" c0 "$@" | awk '{ print $2 }')
}

# xdp_server NS PREFIX: the echo backend on port 9000 of NS; waits until up.
xdp_server() {
	local ns=$1 prefix=$2
	# nsenter execs python: the PID sl_bg records is the server's own.
	sl_bg "srv_${ns}" nsenter --net="/run/netns/$ns" $XDP_HELPER serve "$prefix" "$XDP_PORT" \
		>/dev/null
	sl_wait_for 10 sl_in_ns "$ns" bash -c "echo > /dev/tcp/127.0.0.1/$XDP_PORT"
}

# xdp_s1 W1 W2 [6]: the tcp-echo service (S1) of this topology as policy
# YAML for sluiced: the VIP (XDP_VIP6 with 6) at XDP_PORT over v1 and v2,
# one tcp route W1/W2. Plain sh too (a client-side script may source it
# through `declare -f`).
xdp_s1() {
	local name=tcp-echo vip=$XDP_VIP a1=10.11.1.2 a2=10.11.2.2
	if [ "${3:-}" = 6 ]; then
		name=tcp-echo6 vip=$XDP_VIP6 a1=fd00:5c:11:1::2 a2=fd00:5c:11:2::2
	fi
	cat <<EOF
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: $name, namespace: weather}
spec:
  hosts: [$name.weather.svc.cluster.local]
  addresses: ["$vip"]
  ports: [{number: $XDP_PORT, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints:
  - {address: "$a1", ports: {tcp: $XDP_PORT}, labels: {app: $name, version: v1}}
  - {address: "$a2", ports: {tcp: $XDP_PORT}, labels: {app: $name, version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: $name, namespace: weather}
spec:
  host: $name
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: $name, namespace: weather}
spec:
  hosts: [$name]
  tcp:
  - match: [{port: $XDP_PORT}]
    route:
    - {destination: {host: $name, port: {number: $XDP_PORT}, subset: v1}, weight: $1}
    - {destination: {host: $name, port: {number: $XDP_PORT}, subset: v2}, weight: $2}
EOF
}

# xdp_sluiced XDP_SPEC: sluiced in the node namespace with --xdp XDP_SPEC,
# its policy dir $POL (made here, with its state dir), socket hooks on the
# test cgroup $CG; reset and unpinned at exit. Returns once it has applied
# a generation; 1 when it did not (its log's tail as TAP comments).
xdp_sluiced() {
	mkdir -p "$POL" "$SL_TMP/state"
	sl_defer "rm -rf '$SL_BPFFS'"
	sl_bg sluiced nsenter --net="/run/netns/$NS_NODE" "$SLUICED" --policy-dir "$POL" \
		--cgroup "$CG" --bpffs "$SL_BPFFS" --socket "$SL_SOCK" --state-dir "$SL_TMP/state" \
		--no-http-helper --xdp "$1" >/dev/null
	sl_defer "'$CTL' --socket '$SL_SOCK' reset"
	if ! sl_wait_for 15 sh -c "[ \"\$('$CTL' --socket '$SL_SOCK' status -o json | jq -r .generation)\" -ge 1 ]"; then
		sed 's/^/# /' "$SL_TMP/sluiced.log" | tail -20
		return 1
	fi
}

# xdp_counter INDEX: a global counter's value (0 when absent).
xdp_counter() {
	"$XDP_TOOL" counters "$SL_BPFFS" | awk -v i="$1" '$1 == i { v = $2 } END { print v + 0 }'
}

# IPv6 on the same topology (documentation/ULA range fd00:5c::/48 only):
#   client fd00:5c:10::2/64 -- c0 fd00:5c:10::1/64  node  b1 fd00:5c:11:1::1/64 -- v1 fd00:5c:11:1::2
#                                                         b2 fd00:5c:11:2::1/64 -- v2 fd00:5c:11:2::2
# The client routes the VIP range fd00:5c::/64 through the node, the
# backends route the client's /64 back; IPv6 forwarding is on in the node
# namespace only. Addresses are added without DAD; the link-local ones are
# waited for (neighbour discovery may use them).
XDP_VIP6=fd00:5c::10

# xdp_topo6: xdp_topo, then the IPv6 addresses and routes above.
xdp_topo6() {
	xdp_topo || return 1
	ip -n "$NS_CLIENT" -6 addr add fd00:5c:10::2/64 dev eth0 nodad &&
	ip -n "$NS_NODE" -6 addr add fd00:5c:10::1/64 dev c0 nodad &&
	ip -n "$NS_NODE" -6 addr add fd00:5c:11:1::1/64 dev b1 nodad &&
	ip -n "$NS_NODE" -6 addr add fd00:5c:11:2::1/64 dev b2 nodad &&
	ip -n "$NS_V1" -6 addr add fd00:5c:11:1::2/64 dev eth0 nodad &&
	ip -n "$NS_V2" -6 addr add fd00:5c:11:2::2/64 dev eth0 nodad || return 1
	ip -n "$NS_CLIENT" -6 route add fd00:5c::/64 via fd00:5c:10::1 || return 1
	ip -n "$NS_V1" -6 route add fd00:5c:10::/64 via fd00:5c:11:1::1 || return 1
	ip -n "$NS_V2" -6 route add fd00:5c:10::/64 via fd00:5c:11:2::1 || return 1
	sl_in_ns "$NS_NODE" sysctl -qw net.ipv6.conf.all.forwarding=1 || return 1
	local ns
	for ns in "$NS_CLIENT" "$NS_NODE" "$NS_V1" "$NS_V2"; do
		sl_wait_for 10 sh -c "! ip -n '$ns' -6 addr show | grep -q tentative" || return 1
	done
}
