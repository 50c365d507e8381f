#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Kubernetes source at scale, against the API-server simulator
# (tools/kube_apiserver_sim.py) in a node namespace. For N services
# (BENCH_KUBE_N, default "1000 10000"), each a Service, an EndpointSlice of
# 5 endpoints and their 5 Pods (v1 x3, v2 x2; 50,000 Pods at 10,000), one
# in ten with a DestinationRule (v1, v2) and a 90/10 VirtualService:
#   first sync   sluiced start -> the whole cluster applied (LIST + apply)
#   1 change     one endpoint's readiness flipped in the simulator -> the
#                data plane rewritten: from the simulator's change (its
#                wall clock) to sluiced's apply log line (written after the
#                maps), median and p99 of BENCH_KUBE_CHANGES (default 101:
#                with 41 the p99 was the one slowest change),
#                each on another service
#   rolling      a rolling update of one service: 5 pods replaced one by one
#                (new pod, slice with both ready, old terminating, old gone,
#                old pod deleted): median per step, and the whole update
#                as this driver runs it (each step waits for the last)
#   relist       a compaction (410), then one change -> applied
#   RSS          sluiced's VmRSS at the end, in MiB; in brackets its peak
#                (VmHWM: the first sync's whole apply)
#   full         the same state compiled whole: the first sync's apply (the
#                log's figure) and `sluicectl validate` of it as files
# Results also in build/bench/kube.md.
#
# Traffic safety: the tools/node.sh topology (a node namespace; the
# simulator listens on its 127.0.0.1; hooks on a test cgroup made here).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tools/sandbox.sh"
. "$ROOT/tools/node.sh"
CHANGES=${BENCH_KUBE_CHANGES:-101}
SIZES=${BENCH_KUBE_N:-"1000 10000"}
OUT=$SL_BUILD/bench/kube.md
mkdir -p "$SL_BUILD/bench"

dl_setup
dl_kube_sim

# objects.py all N FIRST: N services' objects from index FIRST (the
# simulator's JSON: a list of objects); objects.py list N FIRST: the same
# as a kind: List; objects.py steps: the change files
cat >"$SL_TMP/objects.py" <<'PY'
import json, sys

def ip(i, k, new=False):
    return "10.%d.%d.%d" % (100 + i // 256, i % 256, (100 if new else 0) + k + 1)

def pod(i, k, new=False):
    v = "v1" if k < 3 else "v2"
    name = "svc%d-%s-%d%s" % (i, v, k, "n" if new else "")
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "bench", "uid": "uid-%d-%d%s" % (i, k, "n" if new else ""),
                         "labels": {"app": "svc%d" % i, "version": v}},
            "spec": {"nodeName": "node-b", "containers": [{"name": "c", "image": "x"}]},
            "status": {"phase": "Running", "podIP": ip(i, k, new)}}

def ep(i, k, new=False, ready=True, term=False):
    p = pod(i, k, new)
    return {"addresses": [p["status"]["podIP"]],
            "conditions": {"ready": ready, "serving": ready, "terminating": term},
            "targetRef": {"kind": "Pod", "name": p["metadata"]["name"], "namespace": "bench"}}

def slice_(i, eps):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "svc%d-x" % i, "namespace": "bench",
                         "labels": {"kubernetes.io/service-name": "svc%d" % i}},
            "addressType": "IPv4", "ports": [{"name": "tcp", "port": 9000}], "endpoints": eps}

def service(i):
    out = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc%d" % i, "namespace": "bench"},
            "spec": {"clusterIP": "10.96.%d.%d" % (i // 250, i % 250 + 1),
                     "clusterIPs": ["10.96.%d.%d" % (i // 250, i % 250 + 1)],
                     "selector": {"app": "svc%d" % i},
                     "ports": [{"name": "tcp", "port": 7000, "targetPort": 9000}]}},
           slice_(i, [ep(i, k) for k in range(5)])]
    out += [pod(i, k) for k in range(5)]
    if i % 10 == 0:
        h = "svc%d" % i
        out.append({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                    "metadata": {"name": h, "namespace": "bench"},
                    "spec": {"host": h, "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                                    {"name": "v2", "labels": {"version": "v2"}}]}})
        out.append({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                    "metadata": {"name": h, "namespace": "bench"},
                    "spec": {"hosts": [h], "tcp": [{"route": [
                        {"destination": {"host": h, "subset": "v1"}, "weight": 90},
                        {"destination": {"host": h, "subset": "v2"}, "weight": 10}]}]}})
    return out

mode, a = sys.argv[1], sys.argv[2:]
if mode == "all":
    n, first = int(a[0]), int(a[1])
    print(json.dumps([o for i in range(first, first + n) for o in service(i)]))
elif mode == "list":
    # the same as one kind: List (what `kubectl get -o json` prints): a
    # bare JSON array is no policy document
    n, first = int(a[0]), int(a[1])
    print(json.dumps({"apiVersion": "v1", "kind": "List",
                      "items": [o for i in range(first, first + n) for o in service(i)]}))
else:
    # steps N CHANGES DIR: every change file the timed part posts, made
    # before it: flip-R-{0,1}.json (service R*7919 % N, its last endpoint
    # not ready / ready again) and roll-K-STEP.json (service N-1's pod K:
    # the new pod, the slice with both, old terminating, old gone, the old
    # pod deleted)
    n, changes, d = int(a[0]), int(a[1]), a[2]
    def put(name, objs):
        with open("%s/%s.json" % (d, name), "w") as f:
            json.dump(objs, f)
    for r in range(changes):
        i = (r * 7919) % n
        put("flip-%d-0" % r, [slice_(i, [ep(i, k) for k in range(4)] + [ep(i, 4, ready=False)])])
        put("flip-%d-1" % r, [slice_(i, [ep(i, k) for k in range(5)])])
    # the last service of this size: one no earlier size rolled (the
    # simulator keeps its objects from size to size) and without a
    # VirtualService (N-1 is not a multiple of ten for N = 1000, 10000)
    s = n - 1
    for k in range(5):
        done = [ep(s, j, new=True) for j in range(k)]
        rest = [ep(s, j) for j in range(k + 1, 5)]
        put("roll-%d-pod" % k, [pod(s, k, True)])
        put("roll-%d-new" % k, [slice_(s, done + [ep(s, k), ep(s, k, new=True)] + rest)])
        put("roll-%d-term" % k, [slice_(s, done + [ep(s, k, ready=False, term=True),
                                                   ep(s, k, new=True)] + rest)])
        put("roll-%d-gone" % k, [slice_(s, done + [ep(s, k, new=True)] + rest)])
        put("roll-%d-del" % k, [pod(s, k)])
PY
obj() { python3 "$SL_TMP/objects.py" "$@"; }
# applies: the apply lines in sluiced's log so far. Read from the log, not
# `sluicectl status`: a status request every 5 ms would load the daemon the
# change times measure (it walks the pins), as nothing does in production.
applies() { awk '/ apply generation / && !/done in/ { n++ } END { print n + 0 }' "$DL_LOG"; }
# wait_applies A: until more than A applies landed (bounded: 120 s)
wait_applies() { local i; for ((i = 0; i < 24000; i++)); do [ "$(applies)" -gt "$1" ] && return 0; sleep 0.005; done; return 1; }
# post FILE [delete]: the change; prints the simulator's change time (s)
post() { ctlsim "${2:-put}" <"$1" | awk '{ print $3 }'; }
# lag T: ms from wall time T (s) to the newest apply line of the log
lag() {
	local l
	l=$(grep " apply generation " "$DL_LOG" | grep -v "done in" | tail -1)
	awk -v a="$1" -v b="$(date -d "${l:0:23}Z" +%s.%N)" 'BEGIN { d = (b - a) * 1000; print (d < 0 ? 0 : int(d + 0.5)) }'
}
# timed FILE [delete]: post, wait for the apply, print the lag
timed() { local a t; a=$(applies); t=$(post "$@"); wait_applies "$a" && lag "$t"; }
pct() {	# pct P: the P-th percentile of the numbers on stdin
	sort -g | awk -v p="$1" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print v[i] }'
}

declare -A FIRST FULLMS ONE_MED ONE_P99 ROLL_MED ROLL_ALL RELIST RSS VAL INCR MODES
have=0
started=0
for n in $SIZES; do
	obj all $((n - have)) "$have" >"$SL_TMP/add.json"
	ctlsim put <"$SL_TMP/add.json" >/dev/null
	have=$n
	if [ "$started" = 1 ]; then
		kill "$DL_PID"
		wait "$DL_PID" 2>/dev/null
	fi
	t0=$(date +%s%N)
	# a DaemonSet's sluiced knows its node (NODE_NAME): node-a, where none
	# of these Pods runs, as on a node of a cluster this size
	dl_start --kubernetes --kubeconfig "$KUBECONFIG_SIM" --node-name node-a || { echo "bench_kube: sluiced did not start" >&2; exit 1; }
	started=1
	full() { [ "$(ctl status -o json | jq -r .services)" -ge "$n" ]; }
	for ((i = 0; i < 4800; i++)); do full && break; sleep 0.025; done
	FIRST[$n]=$((($(date +%s%N) - t0) / 1000000))
	FULLMS[$n]=$(grep " apply generation .*(source kubernetes)" "$DL_LOG" | tail -1 | sed -n 's/.* \([0-9.]*\) ms (validate.*/\1/p')
	sleep 1
	obj steps "$n" "$CHANGES" "$SL_TMP"
	# one endpoint at a time, each on another service
	lags=()
	for ((r = 0; r < CHANGES; r++)); do
		lags+=("$(timed "$SL_TMP/flip-$r-0.json")")
		timed "$SL_TMP/flip-$r-1.json" >/dev/null
	done
	ONE_MED[$n]=$(printf '%s\n' "${lags[@]}" | sl_median)
	ONE_P99[$n]=$(printf '%s\n' "${lags[@]}" | pct 99)
	# a rolling update of one service (svc N-1: no VirtualService, 3 v1 + 2 v2)
	steps=()
	t0=$(date +%s%N)
	for k in 0 1 2 3 4; do
		for st in pod new term gone; do
			steps+=("$(timed "$SL_TMP/roll-$k-$st.json")")
		done
		steps+=("$(timed "$SL_TMP/roll-$k-del.json" delete)")
	done
	ROLL_ALL[$n]=$((($(date +%s%N) - t0) / 1000000))
	ROLL_MED[$n]=$(printf '%s\n' "${steps[@]}" | sl_median)
	# a compaction, then one change: relist and apply
	ctlsim compact </dev/null >/dev/null
	RELIST[$n]=$(timed "$SL_TMP/flip-0-0.json")
	RSS[$n]=$(awk '/VmRSS/ { r = int($2 / 1024) } /VmHWM/ { h = int($2 / 1024) } END { print r " (" h ")" }' "/proc/$DL_PID/status")
	INCR[$n]=$(ctl status -o json | tee "$SL_BUILD/bench/kube-status-$n.json" | jq -r .incremental_applies)
	MODES[$n]="$(grep -c 'incremental, source kubernetes' "$DL_LOG") incremental, $(grep -c '(source kubernetes)' "$DL_LOG") whole"
	# the same objects as files: what one full compile costs offline
	mkdir -p "$SL_TMP/files-$n"
	obj list "$n" 0 >"$SL_TMP/files-$n/all.json"
	t0=$(date +%s%N)
	if "$CTL" validate -q -f "$SL_TMP/files-$n/all.json" >/dev/null 2>&1; then
		VAL[$n]=$((($(date +%s%N) - t0) / 1000000))
	else
		VAL[$n]="refused"
	fi
	cp "$DL_LOG" "$SL_BUILD/bench/kube-sluiced-$n.log"
	echo "   $n services done (${MODES[$n]})" >&2
done

{
	echo "### Kubernetes source ($(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r))"
	echo
	echo "Against the API-server simulator; each service a Service, an EndpointSlice of 5 and its 5"
	echo "Pods, one in ten with a DestinationRule and a 90/10 VirtualService. Change times run from"
	echo "the simulator's change to sluiced's apply log line (after the maps are written)."
	echo
	echo "| services (pods) | first sync ms | whole apply ms | 1 change ms median / p99 ($CHANGES) | rolling update: step median ms / whole ms | relist after 410 ms | RSS MiB (peak) | validate as files ms | applies |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for n in $SIZES; do
		printf '| %s (%s) | %s | %s | %s / %s | %s / %s | %s | %s | %s | %s |\n' "$n" $((n * 5)) \
			"${FIRST[$n]}" "${FULLMS[$n]}" "${ONE_MED[$n]}" "${ONE_P99[$n]}" "${ROLL_MED[$n]}" \
			"${ROLL_ALL[$n]}" "${RELIST[$n]}" "${RSS[$n]}" "${VAL[$n]}" "${MODES[$n]}"
	done
} | tee "$OUT"
