#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What Sidecar egress scopes and TCP fault injection cost the connect hook:
# connect4 ns per run (bpf_stats) for one steered service, the policies
# applied in turn in one run, from a client cgroup that is a workload:
#   base      S1, no WorkloadEntry (the client is not looked up)
#   workload  + a WorkloadEntry for the client's cgroup (looked up for the
#             Istio metrics' source labels)
#   scoped    + a Sidecar in its namespace that sees the service (the scope
#             bit test on top of the same lookup)
#   fault     base + sluice.io/tcp-fault-abort "0.0001%" (the route's fault
#             lookup and draw on every connect; almost never fires)
# Medians of BENCH_RUNS rounds (default 5) of BENCH_SECS (default 2).
# Results also in build/bench/scope.md.
#
# Traffic safety: the tools/node.sh topology (a node namespace, backends on
# its lo, hooks on a test cgroup made here).
. "$(dirname "$0")/lib.sh"
STATES="base workload scoped fault"
bench_node scope
mkdir -p "$CG/wl"
sl_defer "sl_kill_cgroup '$CG/wl'; rmdir '$CG/wl'"

we() {
	cat <<EOF
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata:
  name: client
  namespace: weather
  annotations: {sluice.io/cgroup: sluice-test-$SL_ID/client/wl}
spec: {address: 10.2.0.1, labels: {app: client}}
EOF
}
sidecar() {
	cat <<'EOF'
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: weather}
spec:
  egress: [{hosts: ["./*"]}]
EOF
}
dl_s1 50 50 >"$SL_TMP/base.yaml"
{ dl_s1 50 50; we; } >"$SL_TMP/workload.yaml"
{ dl_s1 50 50; we; sidecar; } >"$SL_TMP/scoped.yaml"
dl_s1 50 50 | awk '
	/^kind: VirtualService/ { vs = 1 }
	vs && /^metadata:/ { print "metadata:\n  name: tcp-echo\n  namespace: weather\n  annotations: {sluice.io/tcp-fault-abort: \"0.0001%\"}"; next }
	{ print }' >"$SL_TMP/fault.yaml"
for s in $STATES; do
	"$CTL" validate -q -f "$SL_TMP/$s.yaml" || { echo "bench_scope: $s.yaml invalid" >&2; exit 1; }
done

declare -A NS_C FAILS
for r in $(seq 1 "$RUNS"); do
	for s in $STATES; do
		ctl apply -q -f "$SL_TMP/$s.yaml" || exit 1
		sl_bpf_ns sl_in_cgroup_ns "$CG/wl" "$NS" "$CONNBENCH" client "$VIP" -d "$SECS" \
			--linger0 >"$SL_TMP/run.out"
		line=$(cat "$SL_TMP/run.out")
		NS_C[$s]+="$SL_NS_C4 "
		FAILS[$s]+="$(dl_field "$line" fail) "
	done
	echo "   run $r/$RUNS done" >&2
done

{
	echo "### Egress scopes and TCP fault: connect4 cost ($(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r))"
	echo
	echo "ns per run (bpf_stats), 1 service, ${SECS}s runs of sequential connections from a"
	echo "workload's cgroup, median of $RUNS; ratio to base:"
	echo
	echo "| policy | connect4 ns/run | vs base | failed connects per run | runs |"
	echo "|---|---:|---:|---|---|"
	b=$(echo "${NS_C[base]}" | sl_median)
	for s in $STATES; do
		m=$(echo "${NS_C[$s]}" | sl_median)
		printf '| %s | %s | %s | %s | %s |\n' "$s" "$m" \
			"$(awk -v m="$m" -v b="$b" 'BEGIN { printf "%.2fx", (b > 0) ? m / b : 0 }')" \
			"${FAILS[$s]}" "${NS_C[$s]}"
	done
} | tee "$OUT"
