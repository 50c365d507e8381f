#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What the Istio metrics' source workload and live byte report cost:
#   1. connect4 and sockops ns per run (bpf_stats), one service (S1 tcp-echo
#      50/50), with no client workload in the policy (no cgroup lookup) and
#      with the client's cgroup declared as a WorkloadEntry (every steered
#      connect resolves the workload for sluice_traffic), in turn round by
#      round;
#   2. a /metrics scrape (which first runs the byte reporter bpf/iter.bpf.c
#      over the node's TCP sockets) with no connection open and with
#      BENCH_HELD (default 1000) steered connections open.
# Medians of BENCH_RUNS rounds (default 5) of BENCH_SECS seconds (default 2).
# Results also in build/bench/metrics.md.
#
# Traffic safety: the tools/node.sh topology (a node namespace, backends on
# its lo, hooks on a test cgroup made here).
. "$(dirname "$0")/lib.sh"
HELD=${BENCH_HELD:-1000}
bench_node metrics --metrics 127.0.0.1:9464
dl_policy "$SL_TMP/plain.yaml" 50 50
{
	cat "$SL_TMP/plain.yaml"
	cat <<EOF
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: frontend, namespace: shop, annotations: {sluice.io/cgroup: ${CG#"$(sl_cgroup2_root)/"}}}
spec: {address: 10.1.0.99, labels: {app: frontend, version: v1}}
EOF
} >"$SL_TMP/workload.yaml"

declare -A C4 OPS SCRAPE
one_run() {	# one_run STATE (plain | workload)
	ctl apply -q -f "$SL_TMP/$1.yaml" || exit 1
	sl_bpf_ns sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client "$VIP" -d "$SECS" --linger0 >/dev/null
	C4[$1]+="$SL_NS_C4 "
	OPS[$1]+="$SL_NS_OPS "
}

scrape_ms() {	# one /metrics scrape, ms
	sl_in_ns "$NS" curl -s -o /dev/null -w '%{time_total}' http://127.0.0.1:9464/metrics |
		awk '{ printf "%.2f", $1 * 1000 }'
}


for r in $(seq 1 "$RUNS"); do
	for s in plain workload; do one_run "$s"; done
	echo "   run $r/$RUNS done" >&2
done

# scrapes: idle, then with HELD connections open (held by one python process)
for r in $(seq 1 "$RUNS"); do SCRAPE[idle]+="$(scrape_ms) "; done
mkfifo "$SL_TMP/hold"
sh -c 'echo $$ > "$1/cgroup.procs" && exec nsenter --net="/run/netns/$0" python3 -c "
import socket, sys
host, port = sys.argv[1].split(\":\")
conns = [socket.create_connection((host, int(port)), timeout=5) for _ in range(int(sys.argv[2]))]
for c in conns:
    c.sendall(b\"hello\n\")
for c in conns:
    c.recv(100)
open(sys.argv[3] + \".up\", \"w\").close()
open(sys.argv[3]).read()
" "$2" "$3" "$4"' "$NS" "$CG" "$VIP" "$HELD" "$SL_TMP/hold" >"$SL_TMP/hold.log" 2>&1 &
hold_pid=$!
sl_defer "kill $hold_pid"
sl_wait_for 30 test -f "$SL_TMP/hold.up" || { echo "bench_metrics: held connections: $(cat "$SL_TMP/hold.log")" >&2; exit 1; }
for r in $(seq 1 "$RUNS"); do SCRAPE[held]+="$(scrape_ms) "; done
echo done >"$SL_TMP/hold"
wait "$hold_pid"

{
	echo "### Istio metrics cost ($(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r))"
	echo
	echo "ns per program run (bpf_stats), 1 service, ${SECS}s runs, median of $RUNS, states interleaved."
	echo "plain: no client workload in the policy; workload: the client's cgroup is a WorkloadEntry,"
	echo "so every steered connect() resolves it for the source_workload label (sluice_traffic)."
	echo
	echo "| client | connect4 ns/run | sockops ns/run | connect4 runs |"
	echo "|---|---:|---:|---|"
	for s in plain workload; do
		printf '| %s | %s | %s | %s |\n' "$s" "$(echo "${C4[$s]}" | sl_median)" \
			"$(echo "${OPS[$s]}" | sl_median)" "${C4[$s]}"
	done
	echo
	echo "A /metrics scrape (the byte report over the node's TCP sockets, then the exposition),"
	echo "median of $RUNS:"
	echo
	echo "| open steered connections | scrape ms | runs |"
	echo "|---:|---:|---|"
	printf '| 0 | %s | %s |\n' "$(echo "${SCRAPE[idle]}" | sl_median)" "${SCRAPE[idle]}"
	printf '| %s | %s | %s |\n' "$HELD" "$(echo "${SCRAPE[held]}" | sl_median)" "${SCRAPE[held]}"
} | tee "$OUT"
