#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# North-south through the daemon: sluiced runs in the node namespace with
# `--xdp c0`; the S1 policy (YAML in its policy dir) is compiled by the same
# sl_dp_apply that feeds the connect hook, and the XDP program splits the
# off-node client's connections by those tables. A policy change (0/100)
# moves new connections; `sluicectl reset` removes the XDP/TC links.
. "$(dirname "$0")/lib.sh"
. "$SL_ROOT/tools/xdp_topo.sh"
sl_require_root
sl_ensure_bpffs

sl_need_built "$SLUICED" "$CTL" "$CONNBENCH"
POL=$SL_TMP/policies
mkdir -p "$POL"

xdp_topo || { sl_fail "xdp topology"; sl_done; }
sl_mkcgroup hooks >/dev/null || { sl_fail "test cgroup"; sl_done; }
CG="$(sl_cgroup2_root)/sluice-test-$SL_ID/hooks"
sl_bg b1 nsenter --net="/run/netns/$NS_V1" "$CONNBENCH" serve "0.0.0.0:$XDP_PORT" one >/dev/null
sl_bg b2 nsenter --net="/run/netns/$NS_V2" "$CONNBENCH" serve "0.0.0.0:$XDP_PORT" two >/dev/null
xdp_s1 80 20 >"$POL/s1.yaml"

xdp_sluiced c0:ct-size=65536 || { sl_fail "sluiced --xdp c0 starts"; sl_done; }
mode=$(sed -n 's/.*xdp: c0 attached in \([a-z-]*\) mode.*/\1/p' "$SL_TMP/sluiced.log" | head -1)
# c0 is a veth at kernel defaults: auto mode takes TC ingress there
sl_check "auto mode on a veth: TC ingress and TC egress on c0 (${mode:-?} mode)" \
	[ "$mode" = tc-ingress ]
sl_check "the log says why (veth)" grep -q "xdp: c0 attached in tc-ingress mode.*veth: TC ingress" "$SL_TMP/sluiced.log"
tcx_on_c0() {	# the pinned TCX ingress link runs sluice_tc_ingress
	local prog
	prog=$(bpftool -j link show pinned "$SL_BPFFS/links/tcx-ingress-c0" 2>/dev/null | jq -r .prog_id)
	[ -n "$prog" ] && bpftool -j prog show id "$prog" | jq -e '.name == "sluice_tc_ingress"' >/dev/null
}
sl_check "Sluice's TC ingress program attached on c0 (its pinned TCX link)" tcx_on_c0

N=4000
out=$(sl_in_ns "$NS_CLIENT" "$CONNBENCH" client "$XDP_VIP:$XDP_PORT" -n "$N")
sl_log "$out"
one=$(dl_field "$out" one); two=$(dl_field "$out" two); ok=$(dl_field "$out" ok)
one=${one:-0}; two=${two:-0}
sl_check "$N off-node connections through the daemon's tables, all ok" [ "${ok:-0}" -eq "$N" ]
# 20% of 4000 = 800 +- 2.5 points (100): about 4 sigma
sl_check "80/20 from the YAML policy (v2 $two of $N, 700..900)" [ "$two" -ge 700 -a "$two" -le 900 ]

# sluicectl trace shows north-south decisions too: client, VIP, subset,
# backend (no cgroup: the client is off the node)
timeout 20 "$CTL" --socket "$SL_SOCK" trace --count 5 -o json >"$SL_TMP/trace.json" 2>"$SL_TMP/trace.err" &
tp=$!
sl_defer "kill $tp"
sl_wait_for 5 grep -q tracing "$SL_TMP/trace.err"
sleep 0.3
sl_in_ns "$NS_CLIENT" "$CONNBENCH" client "$XDP_VIP:$XDP_PORT" -n 5 >/dev/null
wait "$tp"
sl_log "$(head -1 "$SL_TMP/trace.json")"
sl_check "trace: 5 xdp records, each naming the off-node client, the VIP, a subset and its backend" \
	jq -se --arg vip "$XDP_VIP:$XDP_PORT" 'length == 5 and all(.layer == "xdp" and .verdict == "steer" and
		.destination == $vip and (.client | startswith("10.10.0.2:")) and
		((.subset == "v1" and (.backend | startswith("10.11.1.2:"))) or (.subset == "v2" and (.backend | startswith("10.11.2.2:")))))' \
	"$SL_TMP/trace.json"

# sluicectl status: the interface, its attach mode, conntrack use against
# the ct-size given, and every counter by name (none left as counter_N)
ctl status -o json >"$SL_TMP/status.json"
sl_check "status: xdp c0 in ${mode:-?} mode with tc egress attached, packets to the stack (veth)" \
	jq -e --arg m "${mode:-?}" '.xdp_status[] | select(.interface == "c0") |
		.mode == $m and .tc_egress and (.redirect | not) and (.why | test("veth"))' "$SL_TMP/status.json"
ct_used=$(jq -r 'select(.xdp_conntrack.capacity == 65536) | .xdp_conntrack.used' "$SL_TMP/status.json")
sl_check "status: conntrack ${ct_used:-?} of 65536 entries (ct-size option)" \
	[ "${ct_used:-0}" -gt 0 -a "${ct_used:-0}" -le 65536 ]
newflows=$(jq -r '.counters.xdp_new_flow' "$SL_TMP/status.json")
sl_check "status: every counter named, xdp_new_flow=${newflows:-?} >= $N" \
	sh -c "! jq -r '.counters | keys[]' '$SL_TMP/status.json' | grep -q '^counter_' && [ '${newflows:-0}' -ge $N ]"

gen0=$(ctl status -o json | jq -r .generation)
xdp_s1 0 100 >"$POL/s1.yaml.tmp" && mv "$POL/s1.yaml.tmp" "$POL/s1.yaml"
sl_wait_for 10 sh -c "[ \"\$('$CTL' --socket '$SL_SOCK' status -o json | jq -r .generation)\" != '$gen0' ]"
out=$(sl_in_ns "$NS_CLIENT" "$CONNBENCH" client "$XDP_VIP:$XDP_PORT" -n 500)
sl_check "after the policy change 0/100: 500 of 500 new connections to v2" \
	[ "$(dl_field "$out" two)" = 500 ]

links=$(for l in tcx-ingress-c0 tcx-egress-c0; do
	bpftool -j link show pinned "$SL_BPFFS/links/$l" 2>/dev/null | jq -r .id; done)
ctl reset >/dev/null 2>&1
sl_check "sluicectl reset detaches XDP/TC from c0" \
	sh -c "! ip -n '$NS_NODE' link show c0 | grep -q xdp"
gone() { local id; for id in $links; do bpftool link show id "$id" >/dev/null 2>&1 && return 1; done; return 0; }
sl_check "after reset the TCX links of c0 are gone ($(echo $links))" \
	bash -c "[ -n '$links' ] && [ ! -e '$SL_BPFFS/links/tcx-ingress-c0' ]" && sl_check "... and detached in the kernel" gone

# the next apply brings north-south back, not only the socket hooks
ctl apply -f "$POL/s1.yaml" >/dev/null
sl_check "apply after reset re-attaches north-south on c0" tcx_on_c0
out=$(sl_in_ns "$NS_CLIENT" timeout 60 "$CONNBENCH" client "$XDP_VIP:$XDP_PORT" -n 500)
sl_check "after reset + apply: 500 of 500 off-node connections to v2 (0/100)" \
	[ "$(dl_field "$out" two)" = 500 ]
sl_check "status shows xdp c0 again" \
	sh -c "'$CTL' --socket '$SL_SOCK' status -o json | jq -e '[.xdp_status[].interface] | index(\"c0\")' >/dev/null"
sl_done
