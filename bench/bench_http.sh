#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HTTP benchmark: sluice-http vs HAProxy vs direct, one worker thread each,
# wrk keep-alive, 1 KB responses from the same C backend (build/http-backend)
# and the same route set: 3 header rules (exact header, User-Agent regex,
# cookie regex) + a 90/10 weighted default route. Proxies are pinned to CPU
# 1, wrk and the backends to CPU 0, so both proxies get the same core.
# Runs are interleaved (direct, haproxy, sluice) RUNS times; medians printed
# with ratios. Everything on 127.0.0.1.
# Knobs: RUNS (default 3), DURATION seconds (5), CONNS (50).
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

taskset -c 0 "$B/http-backend" $IP $P_V1 v1 1024 >/dev/null & PIDS+=($!)
taskset -c 0 "$B/http-backend" $IP $P_V2 v2 1024 >/dev/null & PIDS+=($!)

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
    maxconn 20000
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

taskset -c 1 "$B/sluice-http" --policy "$T/policy.yaml" --no-mesh --gateway-addr $IP --workers 1 \
	>"$T/hx.log" 2>&1 & HX=$!; PIDS+=($HX)
taskset -c 1 haproxy -f "$T/haproxy.cfg" -db >"$T/ha.log" 2>&1 & HA=$!; PIDS+=($HA)
for p in $P_V1 $P_V2 $P_HX $P_HA; do wait_port $p || { echo "bench_http: port $p not up"; cat "$T"/*.log; exit 1; }; done
sleep 0.5
rss_idle=$(ps -o rss= -p $HX | tr -d ' ')
ha_rss_idle=$(ps -o rss= -p $HA | tr -d ' ')

# wrk_run PORT -> "rps p50_us p99_us errors"
wrk_run() {
	local out
	out=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H "User-Agent: bench/1.0" \
		"http://$IP:$1/" 2>&1)
	echo "$out" >>"$T/wrk.txt"
	echo "$out" | awk '
		function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000;
			if (v ~ /s$/) return v * 1000000; return v }
		/^Requests\/sec/ { rps = $2 }
		$1 == "50%" { p50 = us($2) }
		$1 == "99%" { p99 = us($2) }
		/Non-2xx/ { err += $NF }
		/Socket errors/ { err += 1 }
		END { printf "%d %d %d %d\n", rps, p50, p99, err }'
}
for i in $(seq 1 "$RUNS"); do
	for t in direct:$P_V1 haproxy:$P_HA sluice-http:$P_HX; do
		echo "${t%%:*} $(wrk_run "${t##*:}")" >>"$T/runs"
	done
done
rss_load=$(ps -o rss= -p $HX | tr -d ' ')
med() {	# med NAME FIELD(2..5)
	awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$T/runs" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
printf '\n%-12s %10s %10s %10s %8s\n' target rps p50_us p99_us errors
for t in direct haproxy sluice-http; do
	printf '%-12s %10s %10s %10s %8s\n' "$t" "$(med $t 2)" "$(med $t 3)" "$(med $t 4)" "$(med $t 5)"
done
awk -v hr="$(med sluice-http 2)" -v ar="$(med haproxy 2)" -v h50="$(med sluice-http 3)" \
	-v h99="$(med sluice-http 4)" -v a99="$(med haproxy 4)" -v d50="$(med direct 3)" \
	-v d99="$(med direct 4)" -v rss="$rss_idle" -v rssl="$rss_load" -v harss="$ha_rss_idle" 'BEGIN {
	printf "\nsluice-http / haproxy rps: %.2fx (target >= 1.2x)\n", hr / ar
	printf "sluice-http p99 %d us vs haproxy p99 %d us (target <=)\n", h99, a99
	printf "added latency over direct: p50 +%d us, p99 +%d us\n", h50 - d50, h99 - d99
	printf "sluice-http RSS idle %d KB (target <= 8192), after load %d KB; haproxy idle %d KB\n", rss, rssl, harss
}'
echo "(medians of $RUNS interleaved runs of ${DURATION}s, wrk -t1 -c$CONNS, 1 KB responses, proxies pinned to CPU 1)"
