#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What the decision trace (sluicectl trace, bpf/lib/trace.h) costs the
# connect hook: connect4's ns per run from bpf_stats, one service (S1
# tcp-echo 50/50), the client in Sluice's cgroup, in three states taken in
# turn round by round:
#   off        nobody tracing (the switch's deadline is 0)
#   on-idle    the switch on with nobody reading: the ring buffer fills and
#              every record is dropped (the worst case of a reader that hangs)
#   on-reader  sluicectl trace reading everything to /dev/null
# Medians of BENCH_RUNS rounds (default 5) of BENCH_SECS seconds (default 2).
# Results also in build/bench/trace.md.
#
# Traffic safety: the tools/node.sh topology (a node namespace, backends on
# its lo, hooks on a test cgroup made here).
. "$(dirname "$0")/lib.sh"
bench_node trace
dl_policy "$SL_TMP/s1.yaml" 50 50
ctl apply -q -f "$SL_TMP/s1.yaml" || exit 1


# set_switch UNTIL_HEX: sluice_trace_cfg = {until_ns, sample 1, no rate limit}
set_switch() {
	local until=$1 v=""
	v+="$until 01 00 00 00 00 00 00 00"	# until_ns (little endian), sample, max_per_sec 0
	v+=" $(printf '00 %.0s' $(seq 1 32))"	# win_start_ns .. dropped
	bpftool map update pinned "$SL_BPFFS/sluice_trace_cfg" key hex 00 00 00 00 value hex $v
}

declare -A NS_RUN
one_run() {	# one_run STATE
	local state=$1 b a tp=
	case $state in
	off) set_switch "00 00 00 00 00 00 00 00" ;;
	on-idle) set_switch "ff ff ff ff ff ff ff 7f" ;;
	on-reader)
		"$CTL" --socket "$SL_SOCK" trace >/dev/null 2>&1 &
		tp=$!
		sl_wait_for 5 bash -c "[ \"\$(bpftool -j map dump pinned '$SL_BPFFS/sluice_trace_cfg' |
			jq '.[0].formatted.value.until_ns')\" != 0 ]" ;;
	esac
	sysctl -qw kernel.bpf_stats_enabled=1
	b=$(sl_prog_stats sluice_connect4)
	sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client "$VIP" -d "$SECS" --linger0 >/dev/null
	a=$(sl_prog_stats sluice_connect4)
	sysctl -qw kernel.bpf_stats_enabled=0
	[ -n "$tp" ] && { kill -INT "$tp"; wait "$tp"; }
	NS_RUN[$state]+="$(awk -v b="$b" -v a="$a" 'BEGIN { split(b, x, " "); split(a, y, " ");
		printf "%.1f", (y[1] - x[1]) / (y[2] - x[2]) }') "
}


for r in $(seq 1 "$RUNS"); do
	for s in off on-idle on-reader; do one_run "$s"; done
	echo "   run $r/$RUNS done" >&2
done
set_switch "00 00 00 00 00 00 00 00"

{
	echo "### Decision trace cost ($(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r))"
	echo
	echo "connect4 ns per run (bpf_stats), 1 service, ${SECS}s runs, median of $RUNS, states interleaved."
	echo
	echo "| trace | connect4 ns/run | ÷ off | runs |"
	echo "|---|---:|---:|---|"
	off=$(echo "${NS_RUN[off]}" | sl_median)
	for s in off on-idle on-reader; do
		m=$(echo "${NS_RUN[$s]}" | sl_median)
		printf '| %s | %s | %s | %s |\n' "$s" "$m" \
			"$(awk -v a="$m" -v b="$off" 'BEGIN { printf (b > 0 ? "%.2fx" : "-"), a / b }')" \
			"${NS_RUN[$s]}"
	done
} | tee "$OUT"
