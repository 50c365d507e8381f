#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# North-south S1 through XDP: client -veth- node (XDP + TC) -veth- v1/v2.
# 80/20 over 10,000 connections within 1.5 points; replies come from the
# VIP (the client only ever talks to the VIP: a reply from a backend address
# would be reset by the client's stack); an established connection keeps its
# backend across a weight change while new connections follow the new
# weights. Checksums are verified by the receivers (offload off).
. "$(dirname "$0")/lib.sh"
. "$SL_ROOT/tools/xdp_topo.sh"
sl_require_root

if ! xdp_topo; then
	sl_fail "xdp topology"
	sl_done
fi
xdp_attach; MODE=$XDP_MODE
if [ -z "$MODE" ]; then
	sl_fail "xdp attach on node c0"
	sl_done
fi
sl_ok "xdp attached on the node's c0 in $MODE mode, tc egress reverse NAT"
xdp_server "$NS_V1" one && xdp_server "$NS_V2" two || sl_fail "backends up"

"$XDP_TOOL" split "$SL_BPFFS" 1 "$XDP_VIP:$XDP_PORT" random \
	"80@10.11.1.2:$XDP_PORT" "20@10.11.2.2:$XDP_PORT" || sl_fail "policy generation 1 (80/20)"

# The weight change run by the client while it holds one connection:
# move every new connection to the version the held one is NOT on.
cat >"$SL_TMP/change.sh" <<EOS
#!/bin/sh
if [ "\$1" = one ]; then w1=0; w2=100; else w1=100; w2=0; fi
exec "$XDP_TOOL" split "$SL_BPFFS" 2 "$XDP_VIP:$XDP_PORT" random \
	"\$w1@10.11.1.2:$XDP_PORT" "\$w2@10.11.2.2:$XDP_PORT"
EOS
chmod +x "$SL_TMP/change.sh"

N=10000
sl_in_ns "$NS_CLIENT" $XDP_HELPER split "$XDP_VIP" "$XDP_PORT" "$N" "$SL_TMP/change.sh" \
	>"$SL_TMP/split.out" 2>"$SL_TMP/split.err"
rc=$?
sed 's/^/# /' "$SL_TMP/split.out"
[ $rc -eq 0 ] || { sl_log "client: $(tail -3 "$SL_TMP/split.err")"; }
get() { awk -F= -v k="$1" '$1 == k { print $2 }' "$SL_TMP/split.out"; }
one=$(get count_one); two=$(get count_two); fails=$(get fails)
one=${one:-0}; two=${two:-0}; fails=${fails:-$N}
sl_check "10000 connections through the VIP, none failed" \
	[ "$fails" -eq 0 -a $((one + two)) -eq "$N" ]
# 20% +- 1.5 points of 10,000: 1850..2150 (about 4 sigma)
sl_check "80/20 split within 1.5 points (v2 $two of $N)" [ "$two" -ge 1850 -a "$two" -le 2150 ]
sl_check "replies come from the VIP (getpeername on every connection)" \
	[ "$(get peers_are_vip)" = 1 ]
held=$(get held); after=$(get held_after)
sl_check "established connection keeps its backend across the weight change ($held -> $after)" \
	[ -n "$held" -a "$held" = "$after" ]
other=two; [ "$held" = two ] && other=one
sl_check "new connections follow the new weights (200 of 200 to $other)" \
	[ "$(get "after_$other")" = 200 ]
revnat=$(xdp_counter 14)
newflow=$(xdp_counter 8)
sl_log "counters: xdp_new_flow=$newflow tc_revnat=$revnat redirect=$(xdp_counter 15) to_stack=$(xdp_counter 16) conn/s=$(get conn_per_s)"
sl_check "new flows counted by XDP (>= $N)" [ "$newflow" -ge "$N" ]
sl_done
