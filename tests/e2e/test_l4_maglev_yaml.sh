#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# consistentHash from YAML through the daemon on the XDP path: sluiced runs
# in the node namespace with `--xdp c0`; a DestinationRule with
# `consistentHash: {useSourceIp: true}` makes sl_dp_apply build and write the
# Maglev tables of each generation (and drop the old ones after the flip).
# 1,000 client addresses: one address always reaches one endpoint, the 10
# endpoints share the load, and removing one endpoint in the YAML moves about
# 1/10 of the clients (Maglev), not most of them. The old generation's
# tables are gone after the change.
. "$(dirname "$0")/lib.sh"
. "$SL_ROOT/tools/xdp_topo.sh"
sl_require_root
sl_ensure_bpffs

sl_need_built "$SLUICED" "$CTL"
POL=$SL_TMP/policies
mkdir -p "$POL" "$SL_TMP/state"
N=1000
SKIP=13	# the endpoint 10.11.1.$SKIP is removed by the policy change

policy() {	# policy SKIP: 10 endpoints 10.11.1.10..19 minus 10.11.1.SKIP
	local i
	cat <<EOF2
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: sticky, namespace: web}
spec:
  hosts: [sticky.web.svc.cluster.local]
  addresses: [$XDP_VIP]
  ports: [{number: $XDP_PORT, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints:
EOF2
	for i in $(seq 10 19); do
		[ "$i" = "$1" ] && continue
		echo "  - {address: 10.11.1.$i, labels: {app: sticky}}"
	done
	cat <<EOF2
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: sticky, namespace: web}
spec:
  host: sticky
  trafficPolicy:
    loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: sticky, namespace: web}
spec:
  hosts: [sticky]
  tcp:
  - route: [{destination: {host: sticky}}]
EOF2
}

# Maglev entries of generation $1 in the pinned table.
maglev_slots() {
	bpftool map dump pinned "$SL_BPFFS/sluice_maglev" -j 2>/dev/null |
		jq --argjson g "$1" '[.[] | select((.formatted // .).key.gen == $g)] | length'
}

xdp_topo || { sl_fail "xdp topology"; sl_done; }
{
	for ((i = 0; i < N; i++)); do
		echo "addr add 10.20.$((i / 250)).$((i % 250 + 1))/32 dev lo"
	done
} | ip -n "$NS_CLIENT" -batch - || sl_fail "client addresses"
ip -n "$NS_NODE" route add 10.20.0.0/16 via 10.10.0.2
ip -n "$NS_V1" route add 10.20.0.0/16 via 10.11.1.1
for i in $(seq 10 19); do
	ip -n "$NS_V1" addr add "10.11.1.$i/24" dev eth0
done
xdp_server "$NS_V1" @addr || sl_fail "backend up"
sl_mkcgroup hooks >/dev/null || { sl_fail "test cgroup"; sl_done; }
CG="$(sl_cgroup2_root)/sluice-test-$SL_ID/hooks"
policy none >"$POL/sticky.yaml"

xdp_sluiced c0 || { sl_fail "sluiced --xdp c0 starts and applies the policy"; sl_done; }
gen1=$(ctl status -o json | jq -r .generation)
slots=$(maglev_slots "$gen1")
sl_check "apply wrote the Maglev table of generation $gen1 (${slots:-?} of 65537 slots)" \
	[ "${slots:-0}" -eq 65537 ]

sl_in_ns "$NS_CLIENT" $XDP_HELPER sources "$XDP_VIP" "$XDP_PORT" 10.20 "$N" >"$SL_TMP/a.txt"
sl_in_ns "$NS_CLIENT" $XDP_HELPER sources "$XDP_VIP" "$XDP_PORT" 10.20 200 >"$SL_TMP/a2.txt"
same=$(awk 'NR == FNR { a[$1] = $2; next } a[$1] == $2' "$SL_TMP/a.txt" "$SL_TMP/a2.txt" | wc -l)
sl_check "one client address, one endpoint (${same} of 200 repeated)" [ "$same" -eq 200 ]
minmax=$(awk '{ c[$2]++ } END { min = 1e9; max = 0; for (b in c) { if (c[b] < min) min = c[b]; if (c[b] > max) max = c[b] }; print min, max, length(c) }' "$SL_TMP/a.txt")
read -r min max nb <<<"$minmax"
sl_log "per-endpoint count min max endpoints: $minmax"
# 100 expected each; 40..170 is more than 6 sigma of binomial noise
sl_check "10 endpoints share the load (each 40..170 of $N)" \
	[ "${nb:-0}" -eq 10 -a "${min:-0}" -ge 40 -a "${max:-999}" -le 170 ]

policy "$SKIP" >"$POL/sticky.yaml.tmp" && mv "$POL/sticky.yaml.tmp" "$POL/sticky.yaml"
sl_wait_for 10 sh -c "[ \"\$('$CTL' --socket '$SL_SOCK' status -o json | jq -r .generation)\" != '$gen1' ]"
gen2=$(ctl status -o json | jq -r .generation)
sl_in_ns "$NS_CLIENT" $XDP_HELPER sources "$XDP_VIP" "$XDP_PORT" 10.20 "$N" >"$SL_TMP/b.txt"
fails=$(cat "$SL_TMP/a.txt" "$SL_TMP/a2.txt" "$SL_TMP/b.txt" | grep -c FAIL)
sl_check "$((2 * N + 200)) connections, none failed" [ "$fails" -eq 0 ]
moved=$(awk 'NR == FNR { a[$1] = $2; next } a[$1] != $2' "$SL_TMP/a.txt" "$SL_TMP/b.txt" | wc -l)
onrem=$(awk -v r="10.11.1.$SKIP" '$2 == r' "$SL_TMP/a.txt" | wc -l)
gone=$(awk -v r="10.11.1.$SKIP" '$2 == r' "$SL_TMP/b.txt" | wc -l)
sl_log "generation $gen1 -> $gen2: moved $moved of $N ($onrem were on the removed endpoint)"
sl_check "removed endpoint gets no new connection" [ "$gone" -eq 0 ]
# Maglev: the removed endpoint's ~10% plus a few; a modulo hash would move ~90%
sl_check "removing 1 of 10 endpoints in the YAML moves at most 16% of clients ($moved of $N)" \
	[ "$moved" -le $((N * 16 / 100)) -a "$moved" -ge "$onrem" ]
old=$(maglev_slots "$gen1")
new=$(maglev_slots "$gen2")
sl_check "after the flip: old generation's table dropped (${old:-?} left), new one written (${new:-?})" \
	[ "${old:-1}" -eq 0 -a "${new:-0}" -eq 65537 ]
sl_done
