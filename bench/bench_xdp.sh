#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# North-south benchmark (issue 5), Sluice's XDP/TC next to its peers:
#  1. ns per packet by BPF_PROG_TEST_RUN: Sluice's established path (next
#     hop cached) and new flows (200k distinct SYNs, each a conntrack miss)
#     vs a parse-only XDP program (bench/xdp_baseline.bpf.c), test_run's own
#     overhead taken off (see below); the same two for IPv6 (sluice_xdp6);
#  2. packets/s received by the backends in the client -> node -> v1/v2
#     veth topology (tools/xdp_topo.sh): the client's generator is an
#     XDP program run by BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES
#     (xdp_gen in bench/xdp_baseline.bpf.c, XDP_TX of 64-byte frames out of
#     the client's veth), the backends count and drop at XDP. Two loads:
#     established (XDP_BENCH_FLOWS=4096 open flows, ACK+data) and new flows
#     (a SYN from a new address:port every frame). Sluice XDP (80/20) vs
#     iptables DNAT with `-m statistic` (80/20) in the node namespace;
#  3. connections/s client -> VIP (connbench, 2 threads, RST close) for both.
# Medians of BENCH_RUNS (default 3) runs; ratios printed. Short by default
# (BENCH_SECONDS=4 per measurement); all traffic stays in the namespaces.
# XDP_BENCH_PARTS=testrun or =veth runs one part only (default both).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build
RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECONDS:-4}
FLOWS=${XDP_BENCH_FLOWS:-4096}

kv() { awk -F= -v k="$1" '$1 == k { print $2 }'; }

if [ "${1:-}" = --one ]; then
	# One variant in its own topology; prints key=value lines.
	variant=$2
	. "$ROOT/tools/sandbox.sh"
	. "$ROOT/tools/xdp_topo.sh"
	# the NIC-like shape (complete checksums, backend veths taking XDP
	# frames) for the XDP fast path; the tests run on kernel defaults
	XDP_TOPO_TUNED=1 xdp_topo || exit 1
	# Offloads stay as xdp_topo sets them (checksums complete, as from a
	# NIC) for both variants; no segmentation offload either.
	for ns in "$NS_CLIENT" "$NS_V1" "$NS_V2"; do
		sl_in_ns "$ns" ethtool -K eth0 gso off >/dev/null 2>&1
	done
	if [ "$variant" = floor ]; then
		# The generator and one veth hop alone: c0 drops at XDP.
		sl_in_ns "$NS_NODE" "$XDP_TOOL" attach-obj "$B/bench/xdp_baseline.o" xdp_drop_tcp c0 ||
			exit 1
		mac() { ip -n "$1" link show "$2" | awk '/link\/ether/ { print $2 }'; }
		for kind in est new; do
			p0=$(sl_in_ns "$NS_NODE" cat /proc/net/dev | awk -F'[: ]+' '$2 == "c0" { print $4 }')
			out=$(sl_in_ns "$NS_CLIENT" "$XDP_TOOL" gen "$B/bench/xdp_baseline.o" eth0 \
				"$(mac "$NS_CLIENT" eth0)" "$(mac "$NS_NODE" c0)" 10.10.0.2 \
				"$XDP_VIP:$XDP_PORT" "$FLOWS" "$SECS" "$kind") || exit 1
			sleep 0.2
			p1=$(sl_in_ns "$NS_NODE" cat /proc/net/dev | awk -F'[: ]+' '$2 == "c0" { print $4 }')
			echo "# gen $kind:" $out
			echo "pps_$kind=$(awk -v a="$p0" -v b="$p1" -v s="$(echo "$out" | kv secs)" \
				'BEGIN { printf "%.0f", (b - a) / s }')"
		done
		exit 0
	elif [ "$variant" = sluice ]; then
		# native XDP on c0, redirecting into b1/b2: vouched for, as
		# XDP_TOPO_TUNED made them take XDP frames
		xdp_attach ${XDP_BENCH_MODE:-native} redirect-to=c0+b1+b2 \
			${XDP_BENCH_CT_SIZE:+ct-size=$XDP_BENCH_CT_SIZE}
		[ -n "$XDP_MODE" ] || exit 1
		echo "mode=$XDP_MODE"
		"$XDP_TOOL" split "$SL_BPFFS" 1 "$XDP_VIP:$XDP_PORT" random \
			"80@10.11.1.2:$XDP_PORT" "20@10.11.2.2:$XDP_PORT" || exit 1
	else
		ipt() { sl_in_ns "$NS_NODE" iptables -t nat -A PREROUTING -d "$XDP_VIP" -p tcp \
			--dport "$XDP_PORT" "$@"; }
		ipt -m statistic --mode random --probability 0.2 -j DNAT \
			--to-destination "10.11.2.2:$XDP_PORT" || exit 1
		ipt -j DNAT --to-destination "10.11.1.2:$XDP_PORT" || exit 1
		echo "mode=iptables"
	fi
	# connections/s
	sl_bg cb1 nsenter --net="/run/netns/$NS_V1" "$B/connbench" serve "0.0.0.0:$XDP_PORT" one >/dev/null
	sl_bg cb2 nsenter --net="/run/netns/$NS_V2" "$B/connbench" serve "0.0.0.0:$XDP_PORT" two >/dev/null
	sl_wait_for 10 sl_in_ns "$NS_V1" bash -c "echo > /dev/tcp/127.0.0.1/$XDP_PORT"
	sl_wait_for 10 sl_in_ns "$NS_V2" bash -c "echo > /dev/tcp/127.0.0.1/$XDP_PORT"
	out=$(sl_in_ns "$NS_CLIENT" "$B/connbench" client "$XDP_VIP:$XDP_PORT" -d "$SECS" -c 2 --linger0)
	echo "# connbench: $out"
	echo "cps=$(echo "$out" | tr ' ' '\n' | awk -F= '$1 == "rate" || $1 == "conn_per_s" || $1 == "cps" { print $2; exit }')"
	kill "$SL_PID_cb1" "$SL_PID_cb2" 2>/dev/null
	# packets/s: the backends drop TCP at XDP (their rx counters are what
	# arrived); the client's generator is xdp_gen by BPF_PROG_TEST_RUN live
	# frames (XDP_TX out of the client's eth0 into the node's c0).
	for ns in "$NS_V1" "$NS_V2"; do
		sl_in_ns "$ns" "$XDP_TOOL" attach-obj "$B/bench/xdp_baseline.o" xdp_drop_tcp eth0 || exit 1
	done
	# A veth takes XDP frames only when its peer runs NAPI: Sluice's XDP on
	# c0 does that, GRO does it for the iptables path (the frames all carry
	# one sequence number, so GRO never merges two of them).
	[ "$variant" = sluice ] || sl_in_ns "$NS_NODE" ethtool -K c0 gro on >/dev/null
	mac() { ip -n "$1" link show "$2" | awk '/link\/ether/ { print $2 }'; }
	cmac=$(mac "$NS_CLIENT" eth0)
	nmac=$(mac "$NS_NODE" c0)
	gen() { sl_in_ns "$NS_CLIENT" "$XDP_TOOL" gen "$B/bench/xdp_baseline.o" eth0 "$cmac" "$nmac" \
		10.10.0.2 "$XDP_VIP:$XDP_PORT" "$@"; }
	# packets that reached the backends (/proc/net/dev follows the netns)
	rxp() { for ns in "$NS_V1" "$NS_V2"; do sl_in_ns "$ns" cat /proc/net/dev; done |
		awk -F'[: ]+' '$2 == "eth0" { s += $4 } END { print s + 0 }'; }
	# Warm-up, which also opens the FLOWS flows (Sluice makes conntrack on a
	# SYN only: one SYN each first; netfilter picks up mid-stream flows, and
	# would mark an ACK after a lone SYN invalid, so no SYN for it); the
	# stack resolves the backends' neighbours on the first packets.
	warm=est; [ "$variant" = sluice ] && warm=synest
	gen "$FLOWS" 0.3 "$warm" >/dev/null || exit 1
	for kind in est new; do
		p0=$(rxp)
		out=$(gen "$FLOWS" "$SECS" "$kind") || exit 1
		sleep 0.2	# frames still queued at the node/backends land
		p1=$(rxp)
		echo "# gen $kind:" $out
		echo "sent_$kind=$(echo "$out" | kv sent_pps)"
		echo "pps_$kind=$(awk -v a="$p0" -v b="$p1" -v s="$(echo "$out" | kv secs)" \
			'BEGIN { printf "%.0f", (b - a) / s }')"
	done
	exit 0
fi

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else print v[int((NR + 1) / 2)] }'; }

make -s -C "$ROOT" build/tools/xdp_tool build/bench/xdp_baseline.o build/connbench >/dev/null || exit 1

PARTS=${XDP_BENCH_PARTS:-testrun,veth}
if [[ ,$PARTS, == *,testrun,* ]]; then
echo "## XDP ns/packet (BPF_PROG_TEST_RUN, medians of $RUNS runs)"
: >"$B/bench/xdp_testrun.txt"
for ((r = 0; r < RUNS; r++)); do "$B/tools/xdp_tool" testrun "$B/bench/xdp_baseline.o" >>"$B/bench/xdp_testrun.txt" || exit 1; done
base=$(kv baseline_ns <"$B/bench/xdp_testrun.txt" | median)
est=$(kv established_ns <"$B/bench/xdp_testrun.txt" | median)
base250=$(kv baseline_repeat250_ns <"$B/bench/xdp_testrun.txt" | median)
newf=$(kv new_flow_ns <"$B/bench/xdp_testrun.txt" | median)
base1=$(kv baseline_repeat1_ns <"$B/bench/xdp_testrun.txt" | median)
# New flows run at repeat=1 (a fresh SYN each, see xdp_tool.c): the test_run
# overhead they share with the parse-only program at repeat=1 (base1 -
# base) is taken off.
newn=$(awk -v a="$newf" -v b1="$base1" -v b="$base" 'BEGIN { printf "%.1f", a - b1 + b }')
printf '%-44s %10s %10s %8s\n' "path" "sluice ns" "parse ns" "ratio"
printf '%-44s %10s %10s %8s\n' "established, next hop cached (XDP_REDIRECT)" "$est" "$base250" "$(awk -v a="$est" -v b="$base250" 'BEGIN { printf "%.1fx", a / b }')"
hit=$(kv lru_hit_repeat250_ns <"$B/bench/xdp_testrun.txt" | median)
printf '%-44s %10s %10s %8s\n' "floor: parse + LRU lookup (hit), same ACK" "$hit" "$base250" "$(awk -v a="$hit" -v b="$base250" 'BEGIN { printf "%.1fx", a / b }')"
printf '%-44s %10s %10s %8s\n' "new flow, SYN (200k distinct)" "$newn" "$base" "$(awk -v a="$newn" -v b="$base" 'BEGIN { printf "%.1fx", a / b }')"
# The floors of any LRU conntrack on the same new-flow packets (own maps of
# sluice_ct4's size, same repeat=1 overhead taken off).
for f in lru_lookup_miss lru_insert1 lru_insert2; do
	v=$(kv "${f}_ns" <"$B/bench/xdp_testrun.txt" | median)
	v=$(awk -v a="$v" -v b1="$base1" -v b="$base" 'BEGIN { printf "%.1f", a - b1 + b }')
	case $f in
	lru_lookup_miss) label="floor: parse + LRU lookup (miss), same SYNs" ;;
	lru_insert1) label="floor: parse + LRU lookup + 1 insert" ;;
	lru_insert2) label="floor: parse + LRU lookup + 2 inserts" ;;
	esac
	printf '%-44s %10s %10s %8s\n' "$label" "$v" "$base" "$(awk -v a="$v" -v b="$base" 'BEGIN { printf "%.1fx", a / b }')"
done
tcr=$(kv tc_revnat_ns <"$B/bench/xdp_testrun.txt" | median)
printf '%-44s %10s %10s %8s\n' "reply, TC reverse NAT (skb, repeat=250)" "$tcr" "-" "-"
# IPv6 (sluice_xdp6 behind the tail call, sluice_ct6 with two entries per flow)
e6=$(kv established6_ns <"$B/bench/xdp_testrun.txt" | median)
printf '%-44s %10s %10s %8s\n' "IPv6 established, next hop cached" "$e6" "$base250" "$(awk -v a="$e6" -v b="$base250" 'BEGIN { printf "%.1fx", a / b }')"
n6=$(kv new_flow6_ns <"$B/bench/xdp_testrun.txt" | median)
n6=$(awk -v a="$n6" -v b1="$base1" -v b="$base" 'BEGIN { printf "%.1f", a - b1 + b }')
printf '%-44s %10s %10s %8s\n' "IPv6 new flow, SYN (50k distinct)" "$n6" "$base" "$(awk -v a="$n6" -v b="$base" 'BEGIN { printf "%.1fx", a / b }')"
echo "# established: calls of repeat=250, parse-only the same way (at repeat=1e6: $base ns);"
echo "# new flow and floors: raw repeat=1 means less the parse-only's repeat=1 overhead ($base1 - $base)"

fi
[[ ,$PARTS, == *,veth,* ]] || exit 0
echo
echo "## veth topology: Sluice XDP vs iptables DNAT statistic (medians of $RUNS runs, ${SECS}s each)"
for v in sluice iptables floor; do : >"$B/bench/xdp_$v.txt"; done
for ((r = 0; r < RUNS; r++)); do
	for v in sluice iptables floor; do
		"$0" --one "$v" >>"$B/bench/xdp_$v.txt" 2>&1 || echo "# run $r $v failed"
	done
done
mode=$(kv mode <"$B/bench/xdp_sluice.txt" | head -1)
pr() { printf '%-40s %10s %10s %8s %12s\n' "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
pr "metric" "sluice" "iptables" "ratio" "gen+1 hop"
for kind in est new; do
	sp=$(kv "pps_$kind" <"$B/bench/xdp_sluice.txt" | median)
	ip=$(kv "pps_$kind" <"$B/bench/xdp_iptables.txt" | median)
	fp=$(kv "pps_$kind" <"$B/bench/xdp_floor.txt" | median)
	label="packets/s, established (XDP $mode)"
	[ "$kind" = new ] && label="packets/s, new flows (SYN each)"
	pr "$label" "$sp" "$ip" "$(ratio "$sp" "$ip")" "$fp"
done
sc=$(kv cps <"$B/bench/xdp_sluice.txt" | median); ic=$(kv cps <"$B/bench/xdp_iptables.txt" | median)
pr "connections/s client -> VIP" "$sc" "$ic" "$(ratio "$sc" "$ic")" "-"
echo "# gen+1 hop: the generator and the client->node veth alone (c0 drops at XDP):"
echo "# the ceiling of this one-CPU pipeline. Raw runs: build/bench/xdp_{sluice,iptables,floor}.txt"
