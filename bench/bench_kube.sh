#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Kubernetes source at scale, against the API-server simulator
# (tests/e2e/kube_apiserver_sim.py) in a node namespace: for N services
# (each a Service, an EndpointSlice with 2 endpoints and 2 Pods; N from
# BENCH_KUBE_N, default "1000 10000"):
#   first sync   sluiced start -> the whole cluster applied (LIST + apply)
#   1 change     one EndpointSlice changed in the simulator -> the new
#                generation live (watch event, debounce, apply), median of
#                BENCH_RUNS (default 5)
#   relist       a compaction (410) then one change -> live
#   RSS          sluiced's VmRSS after the changes
# and, beside it, `sluicectl validate` of the same objects as files (the
# full recompile every apply does today: apply is not incremental yet).
# Results also in build/bench/kube.md.
#
# Traffic safety: the daemon_lib.sh topology (a node namespace; the
# simulator listens on its 127.0.0.1; hooks on a test cgroup made here).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/e2e/lib.sh"
. "$ROOT/tests/e2e/daemon_lib.sh"
RUNS=${BENCH_RUNS:-5}
SIZES=${BENCH_KUBE_N:-"1000 10000"}
OUT=$SL_BUILD/bench/kube.md
mkdir -p "$SL_BUILD/bench"

dl_setup
dl_kube_sim

gen() {	# gen N FIRST: JSON list of N services' objects
	python3 - "$1" "$2" <<'PY'
import json, sys
n, first = int(sys.argv[1]), int(sys.argv[2])
out = []
for i in range(first, first + n):
    ns, name = "bench", "svc%d" % i
    a, b = "10.%d.%d.1" % (100 + i // 256, i % 256), "10.%d.%d.2" % (100 + i // 256, i % 256)
    out.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                "spec": {"clusterIP": "10.96.%d.%d" % (i // 250, i % 250 + 1),
                         "clusterIPs": ["10.96.%d.%d" % (i // 250, i % 250 + 1)],
                         "selector": {"app": name},
                         "ports": [{"name": "tcp", "port": 7000, "targetPort": 9000}]}})
    out.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": name + "-x", "namespace": ns,
                             "labels": {"kubernetes.io/service-name": name}},
                "addressType": "IPv4", "ports": [{"name": "tcp", "port": 9000}],
                "endpoints": [{"addresses": [a], "conditions": {"ready": True}},
                              {"addresses": [b], "conditions": {"ready": True}}]})
    for v, ip in (("v1", a), ("v2", b)):
        out.append({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "%s-%s" % (name, v), "namespace": ns,
                                 "labels": {"app": name, "version": v}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                    "status": {"phase": "Running", "podIP": ip}})
print(json.dumps(out))
PY
}
# the first service's slice with its second endpoint ready or not (files
# made once: the timed part is the POST and what follows)
for r in 0 1; do
	python3 -c '
import json, sys
print(json.dumps([{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
  "metadata": {"name": "svc0-x", "namespace": "bench", "labels": {"kubernetes.io/service-name": "svc0"}},
  "addressType": "IPv4", "ports": [{"name": "tcp", "port": 9000}],
  "endpoints": [{"addresses": ["10.100.0.1"], "conditions": {"ready": True}},
                {"addresses": ["10.100.0.2"], "conditions": {"ready": sys.argv[1] == "1"}}]}]))' "$r" \
		>"$SL_TMP/change-$r.json"
done
change() { ctlsim put <"$SL_TMP/change-$1.json" >/dev/null; }
gen_of() { ctl status -o json 2>/dev/null | jq -r '.generation // 0'; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
# wait_gen G: until the generation exceeds G (bounded: 120 s)
wait_gen() { local i; for ((i = 0; i < 12000; i++)); do [ "$(gen_of)" -gt "$1" ] && return 0; sleep 0.01; done; return 1; }

declare -A FIRST ONE RELIST RSS VAL
have=0
started=0
for n in $SIZES; do
	gen $((n - have)) "$have" | ctlsim put >/dev/null
	have=$n
	if [ "$started" = 1 ]; then
		kill "$DL_PID"; wait "$DL_PID" 2>/dev/null
	fi
	t0=$(date +%s%N)
	dl_start --kubernetes --kubeconfig "$KUBECONFIG_SIM" || { echo "bench_kube: sluiced did not start" >&2; exit 1; }
	started=1
	full() { [ "$(ctl status -o json | jq -r .services)" -ge "$n" ]; }
	for ((i = 0; i < 2400; i++)); do full && break; sleep 0.05; done
	FIRST[$n]=$(ms_since "$t0")
	times=()
	for r in $(seq 1 "$RUNS"); do
		g=$(gen_of)
		t0=$(date +%s%N)
		change $((r % 2))
		wait_gen "$g" && times+=("$(ms_since "$t0")")
	done
	ONE[$n]=$(echo "${times[*]}" | sl_median)
	g=$(gen_of)
	ctlsim compact </dev/null >/dev/null
	t0=$(date +%s%N)
	change 1
	wait_gen "$g"
	RELIST[$n]=$(ms_since "$t0")
	RSS[$n]=$(awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$DL_PID/status")
	# the same objects as files: what one full compile costs offline
	mkdir -p "$SL_TMP/files-$n"
	gen "$n" 0 >"$SL_TMP/files-$n/all.json"
	t0=$(date +%s%N)
	"$CTL" validate -q -f "$SL_TMP/files-$n/all.json" >/dev/null 2>&1
	VAL[$n]=$(ms_since "$t0")
	cp "$DL_LOG" "$SL_BUILD/bench/kube-sluiced-$n.log"
	echo "   $n services done" >&2
done

{
	echo "### Kubernetes source ($(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r))"
	echo
	echo "Against the API-server simulator; each service a Service, an EndpointSlice of 2 and"
	echo "2 Pods. Apply is not incremental yet: every change recompiles the whole state."
	echo
	echo "| services | first sync ms | 1 endpoint change ms (median of $RUNS) | relist after 410 ms | sluiced RSS MB | validate of the same as a file ms |"
	echo "|---:|---:|---:|---:|---:|---:|"
	for n in $SIZES; do
		printf '| %s | %s | %s | %s | %s | %s |\n' "$n" "${FIRST[$n]}" "${ONE[$n]}" \
			"${RELIST[$n]}" "${RSS[$n]}" "${VAL[$n]}"
	done
} | tee "$OUT"
