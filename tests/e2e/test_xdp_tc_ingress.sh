#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The TC ingress fallback (for interfaces where XDP cannot attach), forced
# with mode tc on the node's c0: no XDP program on c0, a TCX ingress link
# doing the same DNAT by skb helpers, the stack forwarding. S1's 80/20 over
# 2,000 off-node connections (all must complete: the replies come back from
# the VIP through the TC egress reverse NAT), counters moved as for XDP,
# and a later attach in native mode swaps the fallback for XDP (auto keeps
# TC on a veth), still forwarding through the stack: c0 and the backend
# veths are not redirect targets.
. "$(dirname "$0")/lib.sh"
. "$SL_ROOT/tools/xdp_topo.sh"
sl_require_root
[ -x "$CONNBENCH" ] || { echo "Bail out! $CONNBENCH is not built (make)"; exit 1; }

xdp_topo || { sl_fail "xdp topology"; sl_done; }
xdp_attach tc
sl_check "attach in mode tc reports tc-ingress (got '${XDP_MODE:-}')" [ "$XDP_MODE" = tc-ingress ]
sl_check "no XDP program on c0, a TCX ingress link pinned" \
	sh -c "! ip -n '$NS_NODE' link show c0 | grep -q xdp && [ -e '$SL_BPFFS/links/tcx-ingress-c0' ]"

sl_bg b1 nsenter --net="/run/netns/$NS_V1" "$CONNBENCH" serve "0.0.0.0:$XDP_PORT" one >/dev/null
sl_bg b2 nsenter --net="/run/netns/$NS_V2" "$CONNBENCH" serve "0.0.0.0:$XDP_PORT" two >/dev/null
sl_wait_for 10 sl_in_ns "$NS_V1" bash -c "echo > /dev/tcp/127.0.0.1/$XDP_PORT"
sl_wait_for 10 sl_in_ns "$NS_V2" bash -c "echo > /dev/tcp/127.0.0.1/$XDP_PORT"
"$XDP_TOOL" split "$SL_BPFFS" 1 "$XDP_VIP:$XDP_PORT" random \
	"80@10.11.1.2:$XDP_PORT" "20@10.11.2.2:$XDP_PORT" || sl_fail "policy generation 1 (80/20)"

N=2000
out=$(sl_in_ns "$NS_CLIENT" "$CONNBENCH" client "$XDP_VIP:$XDP_PORT" -n "$N")
sl_log "$out"
ok=$(dl_field "$out" ok); two=$(dl_field "$out" two); two=${two:-0}
sl_check "$N connections to the VIP through the TC ingress DNAT, all ok" [ "${ok:-0}" -eq "$N" ]
# 20% of 2000 = 400, sd 18: 300..500 is more than 5 sigma
sl_check "80/20 split (v2 $two of $N, 300..500)" [ "$two" -ge 300 -a "$two" -le 500 ]
newf=$(xdp_counter 8); revnat=$(xdp_counter 14)
sl_log "counters: xdp_new_flow=$newf tc_revnat=$revnat to_stack=$(xdp_counter 16)"
sl_check "new flows counted ($newf >= $N), replies reverse-NATed ($revnat >= $N)" \
	[ "$newf" -ge "$N" -a "$revnat" -ge "$N" ]

mode=$(sl_in_ns "$NS_NODE" "$XDP_TOOL" attach "$SL_BPFFS" c0 | awk '{ print $2 }')
sl_check "re-attach in auto mode on a veth: TC ingress again ($mode)" [ "$mode" = tc-ingress ]
# native mode on the same pin root: XDP attaches and the fallback link goes
mode=$(sl_in_ns "$NS_NODE" "$XDP_TOOL" attach "$SL_BPFFS" c0 native | awk '{ print $2 }')
sl_check "re-attach in native mode: XDP ($mode), TC ingress link removed" \
	sh -c "ip -n '$NS_NODE' link show c0 | grep -q xdp && [ ! -e '$SL_BPFFS/links/tcx-ingress-c0' ]"
stack0=$(xdp_counter 16); redir0=$(xdp_counter 15)
out=$(sl_in_ns "$NS_CLIENT" "$CONNBENCH" client "$XDP_VIP:$XDP_PORT" -n 200)
sl_check "200 connections after the swap, all ok" [ "$(dl_field "$out" ok)" = 200 ]
sl_check "native XDP on default veths: nothing redirected into a veth, all via the stack (counted)" \
	[ "$(xdp_counter 15)" = "$redir0" -a "$(xdp_counter 16)" -gt "$stack0" ]
sl_done
