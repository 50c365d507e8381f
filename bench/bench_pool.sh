#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# connectionPool.tcp in the kernel (docs/dataplane.md, "connectionPool.tcp"):
#  1. precision of maxConnections: 50 connectors released at once against a
#     limit of 20, each holding its connection; how many got through, per
#     round (the check and the count are two steps, so racing CPUs can pass
#     together);
#  2. cost: connect4 and sockops ns per run (bpf_stats) with the subset's
#     connectionPool on and off, the two policies applied in turn.
# Medians of BENCH_RUNS rounds (default 5) of BENCH_SECS (default 2).
# Results also in build/bench/pool.md.
#
# Traffic safety: the tools/node.sh topology (a node namespace, backends on
# its lo, hooks on a test cgroup made here).
. "$(dirname "$0")/lib.sh"
LIMIT=20
CONNECTORS=50
bench_node pool

policy() {	# policy on|off FILE: S1 all to v1 (one subset: one pool), with or without it
	dl_s1 100 0 >"$2"
	[ "$1" = on ] || return 0
	sed -i "s/^  host: tcp-echo$/  host: tcp-echo\n  trafficPolicy: {connectionPool: {tcp: {maxConnections: $LIMIT, connectTimeout: 1s, tcpKeepalive: {time: 600s}}}}/" "$2"
}
policy on "$SL_TMP/on.yaml"
policy off "$SL_TMP/off.yaml"
grep -q maxConnections "$SL_TMP/on.yaml" || { echo "bench_pool: policy edit failed" >&2; exit 1; }

cat >"$SL_TMP/burst.py" <<'EOF'
import socket, sys, threading, time
vip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
go = threading.Barrier(n)
ok = []
def one():
    go.wait()
    try:
        s = socket.create_connection((vip, port), timeout=5)
        ok.append(s)
    except OSError:
        pass
ts = [threading.Thread(target=one) for _ in range(n)]
for t in ts: t.start()
for t in ts: t.join()
print(len(ok))
time.sleep(0.3)
for s in ok: s.close()
EOF

ctl apply -q -f "$SL_TMP/on.yaml" || exit 1
THROUGH=()
for r in $(seq 1 $((RUNS * 2))); do
	THROUGH+=("$(sl_in_cgroup_ns "$CG" "$NS" python3 "$SL_TMP/burst.py" 198.18.0.10 9000 "$CONNECTORS")")
	sleep 0.5	# the closes reach sockops
done

declare -A NS_C NS_O
for r in $(seq 1 "$RUNS"); do
	for state in off on; do
		ctl apply -q -f "$SL_TMP/$state.yaml" || exit 1
		sl_bpf_ns sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client "$VIP" -d "$SECS" --linger0 >/dev/null
		NS_C[$state]+="$SL_NS_C4 "
		NS_O[$state]+="$SL_NS_OPS "
	done
	echo "   run $r/$RUNS done" >&2
done

{
	echo "### connectionPool.tcp ($(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r))"
	echo
	echo "maxConnections $LIMIT, $CONNECTORS connectors released at once (threads behind a barrier),"
	echo "each holding its connection: connections that got through, per round."
	echo
	echo "| rounds | through (limit $LIMIT): median | max | min | all |"
	echo "|---:|---:|---:|---:|---|"
	printf '| %s | %s | %s | %s | %s |\n' "${#THROUGH[@]}" "$(echo "${THROUGH[*]}" | sl_median)" \
		"$(printf '%s\n' "${THROUGH[@]}" | sort -g | tail -1)" \
		"$(printf '%s\n' "${THROUGH[@]}" | sort -g | head -1)" "${THROUGH[*]}"
	echo
	echo "ns per run (bpf_stats), 1 service, ${SECS}s runs of sequential connections, median of $RUNS:"
	echo
	echo "| connectionPool | connect4 ns/run | sockops ns/run | runs (connect4) |"
	echo "|---|---:|---:|---|"
	for s in off on; do
		printf '| %s | %s | %s | %s |\n' "$s" "$(echo "${NS_C[$s]}" | sl_median)" \
			"$(echo "${NS_O[$s]}" | sl_median)" "${NS_C[$s]}"
	done
} | tee "$OUT"
