#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# consistentHash at L4 through XDP (Maglev, hash of the client address):
# 5,000 client addresses connect to the VIP with 10 endpoints; one client
# address always lands on the same endpoint; the endpoints share the load;
# after one of the 10 is removed, at most 12% of the client addresses move
# (Maglev's ~1/N: the removed endpoint's 10% plus a little).
. "$(dirname "$0")/lib.sh"
. "$SL_ROOT/tools/xdp_topo.sh"
sl_require_root

N=5000
if ! xdp_topo; then
	sl_fail "xdp topology"
	sl_done
fi
# Client addresses 10.20.x.y on the client's lo, routed through the node
# (one neighbour entry at the node, whatever N is).
{
	for ((i = 0; i < N; i++)); do
		echo "addr add 10.20.$((i / 250)).$((i % 250 + 1))/32 dev lo"
	done
} | ip -n "$NS_CLIENT" -batch - || sl_fail "client addresses"
ip -n "$NS_NODE" route add 10.20.0.0/16 via 10.10.0.2
ip -n "$NS_V1" route add 10.20.0.0/16 via 10.11.1.1
BACKENDS=()
for i in $(seq 10 19); do
	ip -n "$NS_V1" addr add "10.11.1.$i/24" dev eth0
	BACKENDS+=("10.11.1.$i:$XDP_PORT")
done
xdp_attach; MODE=$XDP_MODE
[ -n "$MODE" ] || { sl_fail "xdp attach"; sl_done; }
sl_ok "xdp attached on the node's c0 in $MODE mode"
xdp_server "$NS_V1" @addr || sl_fail "backend up"

join() { local IFS=+; echo "$*"; }
ALL=$(join "${BACKENDS[@]}")
NINE=$(join "${BACKENDS[@]:0:3}" "${BACKENDS[@]:4}")	# 10.11.1.13 removed

"$XDP_TOOL" split "$SL_BPFFS" 1 "$XDP_VIP:$XDP_PORT" maglev "1@$ALL" || sl_fail "maglev gen 1"
sl_in_ns "$NS_CLIENT" $XDP_HELPER sources "$XDP_VIP" "$XDP_PORT" 10.20 "$N" >"$SL_TMP/a.txt"
sl_in_ns "$NS_CLIENT" $XDP_HELPER sources "$XDP_VIP" "$XDP_PORT" 10.20 500 >"$SL_TMP/a2.txt"
"$XDP_TOOL" split "$SL_BPFFS" 2 "$XDP_VIP:$XDP_PORT" maglev "1@$NINE" || sl_fail "maglev gen 2"
sl_in_ns "$NS_CLIENT" $XDP_HELPER sources "$XDP_VIP" "$XDP_PORT" 10.20 "$N" >"$SL_TMP/b.txt"

fails=$(cat "$SL_TMP/a.txt" "$SL_TMP/a2.txt" "$SL_TMP/b.txt" | grep -c FAIL)
sl_check "$((2 * N + 500)) connections from $N client addresses, none failed" [ "$fails" -eq 0 ]
same=$(awk 'NR == FNR { a[$1] = $2; next } a[$1] == $2' "$SL_TMP/a.txt" "$SL_TMP/a2.txt" | wc -l)
sl_check "one client address, one endpoint (500 of 500 repeated)" [ "$same" -eq 500 ]
minmax=$(awk '{ c[$2]++ } END { min = 1e9; max = 0; for (b in c) { if (c[b] < min) min = c[b]; if (c[b] > max) max = c[b] }; print min, max, length(c) }' "$SL_TMP/a.txt")
sl_log "per-endpoint count min max endpoints: $minmax"
read -r min max nb <<<"$minmax"
# 500 expected each; 350..650 is more than 6 sigma of binomial noise
sl_check "10 endpoints share the load (each 350..650 of $N)" \
	[ "$nb" -eq 10 -a "$min" -ge 350 -a "$max" -le 650 ]
moved=$(awk 'NR == FNR { a[$1] = $2; next } a[$1] != $2' "$SL_TMP/a.txt" "$SL_TMP/b.txt" | wc -l)
onrem=$(awk '$2 == "10.11.1.13"' "$SL_TMP/a.txt" | wc -l)
gone=$(awk '$2 == "10.11.1.13"' "$SL_TMP/b.txt" | wc -l)
sl_log "moved $moved of $N ($onrem were on the removed endpoint)"
sl_check "removed endpoint gets no new connection" [ "$gone" -eq 0 ]
sl_check "removing 1 of 10 endpoints moves at most 12% of clients ($moved of $N)" \
	[ "$moved" -le $((N * 12 / 100)) -a "$moved" -ge "$onrem" ]
sl_done
