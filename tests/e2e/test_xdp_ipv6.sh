#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# North-south S1 over IPv6 through the daemon: sluiced --xdp c0 in the node
# namespace of the XDP topology with IPv6 addresses (xdp_topo6, fd00:5c::/48
# only). The policy is YAML (a ServiceEntry with an IPv6 VIP and IPv6
# endpoints, 80/20 over v1/v2); an off-node client opens 3000 connections
# to [VIP]:9000: none may fail, 20% +- 3 points go to v2, every reply
# comes from the VIP (getpeername; a reply from a backend address would be
# reset by the client's stack); a connection held across a weight change
# keeps its backend while new ones follow the new weights. Checksums are
# verified by the receivers (offload off on the client and backends).
. "$(dirname "$0")/lib.sh"
. "$SL_ROOT/tools/xdp_topo.sh"
sl_require_root
sl_ensure_bpffs

sl_need_built "$SLUICED" "$CTL" "$XDP_TOOL"
POL=$SL_TMP/policies
mkdir -p "$POL"

xdp_topo6 || { sl_fail "xdp topology with IPv6"; sl_done; }
sl_mkcgroup hooks >/dev/null || { sl_fail "test cgroup"; sl_done; }
CG="$(sl_cgroup2_root)/sluice-test-$SL_ID/hooks"
for v in 1 2; do
	ns=$NS_V1; name=one
	[ $v = 2 ] && ns=$NS_V2 && name=two
	sl_bg "srv$v" nsenter --net="/run/netns/$ns" $XDP_HELPER serve "$name" \
		"$XDP_PORT" :: >/dev/null
	sl_wait_for 10 sl_in_ns "$ns" bash -c "echo > /dev/tcp/::1/$XDP_PORT" ||
		sl_fail "backend v$v listening on [::]:$XDP_PORT"
done
xdp_s1 80 20 6 >"$POL/s1.yaml"

xdp_sluiced c0:ct-size=65536:ct6-size=32768 || { sl_fail "sluiced --xdp c0 starts"; sl_done; }
mode=$(sed -n 's/.*xdp: c0 attached in \([a-z-]*\) mode.*/\1/p' "$SL_TMP/sluiced.log" | head -1)
sl_check "sluiced attached XDP on c0 (${mode:-?} mode) with the IPv6 policy" [ -n "$mode" ]

# The weight change, run by the client while it holds one connection: every
# new connection to the version the held one is NOT on; returns once the
# daemon has applied it (a new generation).
cat >"$SL_TMP/change.sh" <<EOS
#!/bin/sh
gen0=\$("$CTL" --socket "$SL_SOCK" status -o json | jq -r .generation)
if [ "\$1" = one ]; then w1=0; w2=100; else w1=100; w2=0; fi
. "$SL_TMP/s1.sh"
xdp_s1 \$w1 \$w2 6 >"$POL/s1.yaml.tmp" && mv "$POL/s1.yaml.tmp" "$POL/s1.yaml"
i=0
while [ \$i -lt 200 ]; do
	g=\$("$CTL" --socket "$SL_SOCK" status -o json | jq -r .generation)
	[ "\$g" != "\$gen0" ] && exit 0
	sleep 0.05; i=\$((i + 1))
done
exit 1
EOS
{ echo "XDP_VIP=$XDP_VIP XDP_VIP6=$XDP_VIP6 XDP_PORT=$XDP_PORT"; declare -f xdp_s1; } >"$SL_TMP/s1.sh"
chmod +x "$SL_TMP/change.sh"

n0=$(ctl status -o json | jq -r '.counters.xdp_new_flow')
N=3000
sl_in_ns "$NS_CLIENT" $XDP_HELPER split "$XDP_VIP6" "$XDP_PORT" "$N" \
	"$SL_TMP/change.sh" >"$SL_TMP/split.out" 2>"$SL_TMP/split.err"
rc=$?
sed 's/^/# /' "$SL_TMP/split.out"
[ $rc -eq 0 ] || sl_log "client: $(tail -3 "$SL_TMP/split.err")"
get() { awk -F= -v k="$1" '$1 == k { print $2 }' "$SL_TMP/split.out"; }
one=$(get count_one); two=$(get count_two); fails=$(get fails)
one=${one:-0}; two=${two:-0}; fails=${fails:-$N}
sl_check "$N IPv6 connections through the VIP, none failed" \
	[ "$fails" -eq 0 -a $((one + two)) -eq "$N" ]
# 20% of 3000 = 600 +- 3 points (90): about 4.1 sigma
sl_check "80/20 split over IPv6 within 3 points (v2 $two of $N, 510..690)" \
	[ "$two" -ge 510 -a "$two" -le 690 ]
sl_check "replies come from the IPv6 VIP (getpeername on every connection)" \
	[ "$(get peers_are_vip)" = 1 ]
held=$(get held); after=$(get held_after)
sl_check "established IPv6 connection keeps its backend across the weight change ($held -> $after)" \
	[ -n "$held" -a "$held" = "$after" ]
other=two; [ "$held" = two ] && other=one
sl_check "new IPv6 connections follow the new weights (200 of 200 to $other)" \
	[ "$(get "after_$other")" = 200 ]

# The flows were made by XDP (not by the stack: the node has no route to
# the VIP and would answer unreachable), both halves in sluice_ct6.
ctl status -o json >"$SL_TMP/status.json"
cnt() { jq -r --arg c "$1" '.counters[$c]' "$SL_TMP/status.json"; }
n1=$(cnt xdp_new_flow)
sl_log "counters: xdp_new_flow=$n1 tc_revnat=$(cnt tc_revnat) redirect=$(cnt xdp_redirect) to_stack=$(cnt xdp_to_stack) conn/s=$(get conn_per_s)"
sl_check "IPv6 flows made by XDP (xdp_new_flow grew by >= $N)" \
	[ $(( ${n1:-0} - ${n0:-0} )) -ge "$N" ]
ct6=$(bpftool -j map dump pinned "$SL_BPFFS/sluice_ct6" 2>/dev/null | jq "[.[] | select(.formatted.key.dir == 1)] | length")
sl_check "REPLY halves of the IPv6 flows in sluice_ct6 (${ct6:-0} >= $N)" [ "${ct6:-0}" -ge "$N" ]
used6=$(jq -r 'select(.xdp_conntrack6.capacity == 32768) | .xdp_conntrack6.used' "$SL_TMP/status.json")
sl_check "status: IPv6 conntrack ${used6:-?} of 32768 entries (ct6-size option)" \
	[ "${used6:-0}" -ge "$((2 * N))" ]

# The pinned links outlive the daemon; so must the IPv6 path behind the
# tail call (the kernel empties a program array that loses its last user
# reference: sluice_xdp_v6 is pinned for that).
kill "$SL_PID_sluiced"
sl_wait_for 10 sh -c "! kill -0 $SL_PID_sluiced" || sl_fail "sluiced exits on SIGTERM"
out=$(sl_in_ns "$NS_CLIENT" $XDP_HELPER count "$XDP_VIP6" "$XDP_PORT" 200)
sl_check "after sluiced exits, XDP still serves the IPv6 VIP ($out)" [ "$out" = "ok=200 fails=0" ]

"$XDP_TOOL" reset "$SL_BPFFS" >/dev/null 2>&1
sl_check "reset detaches XDP from c0 and unpins sluice_ct6" \
	sh -c "! ip -n '$NS_NODE' link show c0 | grep -q xdp && [ ! -e '$SL_BPFFS/sluice_ct6' ]"
sl_done
