#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HTTP benchmark: sluice-http vs HAProxy vs direct, one worker thread each,
# wrk keep-alive, 1 KB responses from the same C backend (build/http-backend)
# and the same route set: 3 header rules (exact header, User-Agent regex,
# cookie regex) + a 90/10 weighted default route. Two placements (MODES):
# "free" lets the scheduler place everything; "pinned" puts both proxies on
# CPU 1, wrk and the backends on CPU 0.
# Runs are interleaved (direct, haproxy, sluice) RUNS times; medians printed
# with ratios. Everything on 127.0.0.1.
# Besides wrk's rps and latency, the proxy's own CPU time per request is
# measured (/proc utime+stime over the run): on 2 cores the client and the
# backends share CPU 0, so rps alone may measure CPU 0, not the proxy.
# Knobs: RUNS (default 3), DURATION seconds (5), CONNS (50), BENCH_KEEP=FILE
# keeps the raw runs.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
IP=127.0.0.1
P_V1=18901 P_V2=18902 P_HX=18910 P_HA=18920
T=$(mktemp -d /tmp/sluice-bench-http.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.1
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

make -s build/sluice-http build/http-backend >/dev/null || { echo "bench_http: build failed"; exit 1; }
for c in wrk haproxy; do
	command -v $c >/dev/null || { echo "bench_http: $c not installed (make deps)"; exit 1; }
done
port_open() { (exec 3<>"/dev/tcp/$IP/$1") 2>/dev/null; }
wait_port() { local i; for i in $(seq 1 100); do port_open "$1" && return 0; sleep 0.05; done; return 1; }

"$B/http-backend" $IP $P_V1 v1 1024 >/dev/null & BE1=$!; PIDS+=($BE1)
"$B/http-backend" $IP $P_V2 v2 1024 >/dev/null & BE2=$!; PIDS+=($BE2)

cat >"$T/policy.yaml" <<YAML
apiVersion: networking.istio.io/v1beta1
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
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: bench, namespace: bench}
spec:
  host: bench
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw, namespace: bench}
spec:
  servers: [{port: {number: $P_HX, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: bench, namespace: bench}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{headers: {x-cohort: {exact: internal}}}]
    route: [{destination: {host: bench, subset: v2}}]
  - match: [{headers: {user-agent: {regex: ".*Chrome.*"}}}]
    route: [{destination: {host: bench, subset: v2}}]
  - match: [{headers: {cookie: {regex: "^(.*?;)?(user=tester)(;.*)?\$"}}}]
    route: [{destination: {host: bench, subset: v2}}]
  - route:
    - {destination: {host: bench, subset: v1}, weight: 90}
    - {destination: {host: bench, subset: v2}, weight: 10}
YAML

cat >"$T/haproxy.cfg" <<CFG
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option http-keep-alive
    http-reuse always
frontend fe
    bind $IP:$P_HA
    acl cohort req.hdr(x-cohort) -m str internal
    acl chrome req.hdr(user-agent) -m reg ^.*Chrome.*\$
    acl tester req.hdr(cookie) -m reg ^(.*?;)?(user=tester)(;.*)?\$
    use_backend v2 if cohort || chrome || tester
    default_backend split
backend v2
    server v2 $IP:$P_V2
backend split
    balance random
    server v1 $IP:$P_V1 weight 90
    server v2 $IP:$P_V2 weight 10
CFG

"$B/sluice-http" --policy "$T/policy.yaml" --no-mesh --gateway-addr $IP --workers 1 \
	>"$T/hx.log" 2>&1 & HX=$!; PIDS+=($HX)
haproxy -f "$T/haproxy.cfg" -db >"$T/ha.log" 2>&1 & HA=$!; PIDS+=($HA)
for p in $P_V1 $P_V2 $P_HX $P_HA; do wait_port $p || { echo "bench_http: port $p not up"; cat "$T"/*.log; exit 1; }; done
sleep 0.5
rss_idle=$(ps -o rss= -p $HX | tr -d ' ')
ha_rss_idle=$(ps -o rss= -p $HA | tr -d ' ')

# cpu_ticks PID: utime+stime of a process (all threads), clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
# wrk_run PORT PID -> "rps p50_us p99_us errors cpu_us_per_request" (PID 0: none)
wrk_run() {
	local out c0=0 c1=0
	[ "$2" != 0 ] && c0=$(cpu_ticks "$2")
	out=$($WRK_PIN wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H "User-Agent: bench/1.0" \
		"http://$IP:$1/" 2>&1)
	[ "$2" != 0 ] && c1=$(cpu_ticks "$2")
	echo "$out" >>"$T/wrk.txt"
	echo "$out" | awk -v cpu=$((c1 - c0)) -v tck="$TCK" '
		function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000;
			if (v ~ /s$/) return v * 1000000; return v }
		/^Requests\/sec/ { rps = $2 }
		/requests in/ { n = $1 }
		$1 == "50%" { p50 = us($2) }
		$1 == "99%" { p99 = us($2) }
		/Non-2xx/ { err += $NF }
		/Socket errors/ { err += 1 }
		END { printf "%d %d %d %d %.2f\n", rps, p50, p99, err, n ? cpu * 1000000 / tck / n : 0 }'
}
# pin MODE: "free" = the scheduler places everything (as on a node);
# "pinned" = proxies on CPU 1, wrk and backends on CPU 0.
pin() {
	local all=0,1 px=0,1
	WRK_PIN=""
	if [ "$1" = pinned ]; then all=0; px=1; WRK_PIN="taskset -c 0"; fi
	taskset -a -pc "$all" $BE1 >/dev/null; taskset -a -pc "$all" $BE2 >/dev/null
	taskset -a -pc "$px" $HX >/dev/null; taskset -a -pc "$px" $HA >/dev/null
}
for mode in ${MODES:-free pinned}; do
	pin "$mode"
	for i in $(seq 1 "$RUNS"); do
		for t in direct:$P_V1:0 haproxy:$P_HA:$HA sluice-http:$P_HX:$HX; do
			IFS=: read -r name port pid <<<"$t"
			echo "$mode $name $(wrk_run "$port" "$pid")" >>"$T/runs"
		done
	done
done
rss_load=$(ps -o rss= -p $HX | tr -d ' ')
med() {	# med MODE NAME FIELD(3..7)
	awk -v m="$1" -v n="$2" -v f="$3" '$1 == m && $2 == n { print $f }' "$T/runs" | sort -n |
		awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
for mode in ${MODES:-free pinned}; do
	printf '\n[%s] %-12s %10s %10s %10s %8s %16s\n' "$mode" target rps p50_us p99_us errors proxy_cpu_us/req
	for t in direct haproxy sluice-http; do
		printf '[%s] %-12s %10s %10s %10s %8s %16s\n' "$mode" "$t" "$(med $mode $t 3)" \
			"$(med $mode $t 4)" "$(med $mode $t 5)" "$(med $mode $t 6)" "$(med $mode $t 7)"
	done
	awk -v m="$mode" -v hr="$(med $mode sluice-http 3)" -v ar="$(med $mode haproxy 3)" \
		-v h50="$(med $mode sluice-http 4)" -v h99="$(med $mode sluice-http 5)" \
		-v a99="$(med $mode haproxy 5)" -v d50="$(med $mode direct 4)" -v d99="$(med $mode direct 5)" \
		-v hc="$(med $mode sluice-http 7)" -v ac="$(med $mode haproxy 7)" 'BEGIN {
		printf "[%s] sluice-http / haproxy rps: %.2fx (target >= 1.2x); CPU per request haproxy / sluice-http: %.2fx\n", m, hr / ar, ac / hc
		printf "[%s] p99 sluice-http %d us vs haproxy %d us (target <=); added over direct: p50 +%d us, p99 +%d us\n", m, h99, a99, h50 - d50, h99 - d99
	}'
done
echo
echo "sluice-http RSS idle $rss_idle KB (target <= 8192), after load $rss_load KB; haproxy idle $ha_rss_idle KB"
[ -n "${BENCH_KEEP:-}" ] && cp "$T/runs" "$BENCH_KEEP"
echo "(medians of $RUNS interleaved runs of ${DURATION}s per mode, wrk -t1 -c$CONNS, 1 KB responses, one worker thread each)"
