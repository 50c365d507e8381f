# SPDX-License-Identifier: Apache-2.0
# The start shared by the sluice-http benchmarks (bench_http.sh,
# bench_https.sh), sourced from the repository root: the knobs' defaults,
# a temporary directory and the processes started, both removed at exit,
# the two C backends (v1, v2) with their ServiceEntry and DestinationRule,
# CPU time of processes, and the medians and paired ratios of the runs.
set -uo pipefail
B=${B:-build}
RUNS=${RUNS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
IP=127.0.0.1
PIDS=()

# hb_init NAME TOOL...: T (a temporary directory), sluice-http and the
# backend built, the tools checked; everything started is killed at exit.
hb_init() {
	local name=$1 c
	shift
	T=$(mktemp -d "/tmp/sluice-$name.XXXXXX")
	trap hb_cleanup EXIT
	trap 'exit 130' INT TERM
	make -s build/sluice-http build/http-backend >/dev/null || { echo "$name: build failed"; exit 1; }
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "$name: $c not installed (make deps)"; exit 1; }
	done
}
hb_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.1
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
port_open() { (exec 3<>"/dev/tcp/$IP/$1") 2>/dev/null; }
wait_port() { local i; for i in $(seq 1 100); do port_open "$1" && return 0; sleep 0.05; done; return 1; }

# hb_backends: the 1 KB backends v1 on P_V1 and v2 on P_V2 (BE1, BE2).
hb_backends() {
	"$B/http-backend" $IP "$P_V1" v1 1024 >/dev/null & BE1=$!; PIDS+=($BE1)
	"$B/http-backend" $IP "$P_V2" v2 1024 >/dev/null & BE2=$!; PIDS+=($BE2)
}

# hb_service_yaml: the ServiceEntry "bench" of the two backends and its
# DestinationRule (subsets v1, v2), ending with a document separator.
hb_service_yaml() {
	cat <<YAML
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: bench, namespace: bench}
spec:
  hosts: [bench.bench.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: $IP, ports: {http: $P_V1}, labels: {version: v1}}
  - {address: $IP, ports: {http: $P_V2}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: bench, namespace: bench}
spec:
  host: bench
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
YAML
}

# cpu_ticks PID...: utime+stime of processes (all threads), clock ticks
cpu_ticks() { local p t=0; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo $t; }
TCK=$(getconf CLK_TCK)

# med KEY NAME FIELD: the median of FIELD over the runs ($T/runs lines
# "KEY NAME ROUND values...") of target NAME under KEY (a mode or a load).
med() {
	awk -v m="$1" -v n="$2" -v f="$3" '$1 == m && $2 == n { print $f }' "$T/runs" | sort -g |
		awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
# ratios KEY FIELD: sluice-http / haproxy per round -> "median min max"
# (each round's two runs are minutes apart at most: the paired ratio is
# less exposed to load that drifts over the whole benchmark)
ratios() {
	awk -v m="$1" -v f="$2" '$1 == m && $2 == "sluice-http" { s[$3] = $f }
		$1 == m && $2 == "haproxy" { h[$3] = $f }
		END { for (i in s) if (h[i] > 0) print s[i] / h[i] }' "$T/runs" | sort -g |
		awk '{ a[NR] = $1 } END { printf "%.2f %.2f %.2f", a[int((NR + 1) / 2)], a[1], a[NR] }'
}
