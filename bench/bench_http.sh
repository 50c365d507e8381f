#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HTTP benchmark: sluice-http vs HAProxy vs direct, one worker thread each,
# wrk keep-alive, 1 KB responses from the same C backend (build/http-backend)
# and the same route set: 3 header rules (exact header, User-Agent regex,
# cookie regex) + a 90/10 weighted default route. Two placements (MODES):
# "free" lets the scheduler place everything; "pinned" puts both proxies on
# CPU 1, wrk and the backends on CPU 0.
# Runs are interleaved, RUNS rounds of (direct, haproxy, sluice) with the two
# proxies' order alternating; medians printed with ratios, and the median and
# range of the per-round sluice/haproxy ratios. Everything on 127.0.0.1.
# Besides wrk's rps and latency, the proxy's own CPU time per request is
# measured (/proc utime+stime over the run): on 2 cores the client and the
# backends share CPU 0, so rps alone may measure CPU 0, not the proxy.
# The client side's CPU per request (wrk + both backends) is printed too: in
# the pinned placement it bounds the rate on CPU 0 whatever the proxy does.
# A fourth target, "sluice+alog", is the same sluice-http with its access
# log on (--access-log to a file in the bench's temporary directory): the
# log's CPU per request is its proxy CPU minus sluice-http's, same rounds.
# Knobs: RUNS (default 5), DURATION seconds (5), CONNS (50), BENCH_KEEP=FILE
# keeps the raw runs.
cd "$(dirname "$0")/.."
. bench/http_lib.sh
P_V1=18901 P_V2=18902 P_HX=18910 P_HA=18920 P_HL=18911
hb_init bench-http wrk haproxy /usr/bin/time
hb_backends

{ hb_service_yaml; cat <<YAML; } >"$T/policy.yaml"
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
sed "s/number: $P_HX,/number: $P_HL,/" "$T/policy.yaml" >"$T/policy-alog.yaml"
"$B/sluice-http" --policy "$T/policy-alog.yaml" --no-mesh --gateway-addr $IP --workers 1 \
	--access-log "$T/access.log" >"$T/hxl.log" 2>&1 & HL=$!; PIDS+=($HL)
haproxy -f "$T/haproxy.cfg" -db >"$T/ha.log" 2>&1 & HA=$!; PIDS+=($HA)
for p in $P_V1 $P_V2 $P_HX $P_HA $P_HL; do wait_port $p || { echo "bench_http: port $p not up"; cat "$T"/*.log; exit 1; }; done
sleep 0.5
rss_idle=$(ps -o rss= -p $HX | tr -d ' ')
ha_rss_idle=$(ps -o rss= -p $HA | tr -d ' ')

# wrk_run PORT PID -> "rps p50_us p99_us errors proxy_us/req client_us/req"
# (PID 0: no proxy). client_us/req is wrk's and the backends' CPU per
# request: the side that shares CPU 0 in the pinned placement.
wrk_run() {
	local out c0=0 c1=0 b0 b1
	[ "$2" != 0 ] && c0=$(cpu_ticks "$2")
	b0=$(cpu_ticks $BE1 $BE2)
	out=$(/usr/bin/time -f "WRKCPU %U %S" $WRK_PIN wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
		-H "User-Agent: bench/1.0" "http://$IP:$1/" 2>&1)
	b1=$(cpu_ticks $BE1 $BE2)
	[ "$2" != 0 ] && c1=$(cpu_ticks "$2")
	echo "$out" >>"$T/wrk.txt"
	echo "$out" | awk -v cpu=$((c1 - c0)) -v be=$((b1 - b0)) -v tck="$TCK" '
		function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000;
			if (v ~ /s$/) return v * 1000000; return v }
		/^Requests\/sec/ { rps = $2 }
		/requests in/ { n = $1 }
		$1 == "50%" { p50 = us($2) }
		$1 == "99%" { p99 = us($2) }
		/Non-2xx/ { err += $NF }
		/Socket errors/ { err += 1 }
		$1 == "WRKCPU" { wrk = ($2 + $3) * 1000000 }
		END { printf "%d %d %d %d %.2f %.2f\n", rps, p50, p99, err, n ? cpu * 1000000 / tck / n : 0,
			n ? (wrk + be * 1000000 / tck) / n : 0 }'
}
# pin MODE: "free" = the scheduler places everything (as on a node);
# "pinned" = proxies on CPU 1, wrk and backends on CPU 0.
pin() {
	local all=0,1 px=0,1
	WRK_PIN=""
	if [ "$1" = pinned ]; then all=0; px=1; WRK_PIN="taskset -c 0"; fi
	taskset -a -pc "$all" $BE1 >/dev/null; taskset -a -pc "$all" $BE2 >/dev/null
	taskset -a -pc "$px" $HX >/dev/null; taskset -a -pc "$px" $HA >/dev/null
	taskset -a -pc "$px" $HL >/dev/null
}
# Rounds alternate which proxy goes first (direct, haproxy, sluice, then
# direct, sluice, haproxy), so neither always runs right after the other.
for mode in ${MODES:-free pinned}; do
	pin "$mode"
	for i in $(seq 1 "$RUNS"); do
		order="direct:$P_V1:0 haproxy:$P_HA:$HA sluice-http:$P_HX:$HX sluice+alog:$P_HL:$HL"
		[ $((i % 2)) = 0 ] && order="direct:$P_V1:0 sluice+alog:$P_HL:$HL sluice-http:$P_HX:$HX haproxy:$P_HA:$HA"
		for t in $order; do
			IFS=: read -r name port pid <<<"$t"
			echo "$mode $name $i $(wrk_run "$port" "$pid")" >>"$T/runs"
		done
	done
done
rss_load=$(ps -o rss= -p $HX | tr -d ' ')
for mode in ${MODES:-free pinned}; do
	printf '\n[%s] %-12s %10s %10s %10s %8s %16s %17s\n' "$mode" target rps p50_us p99_us errors \
		proxy_cpu_us/req client_cpu_us/req
	for t in direct haproxy sluice-http sluice+alog; do
		printf '[%s] %-12s %10s %10s %10s %8s %16s %17s\n' "$mode" "$t" "$(med $mode $t 4)" \
			"$(med $mode $t 5)" "$(med $mode $t 6)" "$(med $mode $t 7)" "$(med $mode $t 8)" \
			"$(med $mode $t 9)"
	done
	read -r pr_med pr_min pr_max <<<"$(ratios $mode 4)"
	p99_le=$(awk -v m="$mode" '$1 == m && $2 == "sluice-http" { s[$3] = $6 }
		$1 == m && $2 == "haproxy" { h[$3] = $6 }
		END { for (i in s) { n++; if (s[i] <= h[i]) k++ } printf "%d of %d", k, n }' "$T/runs")
	awk -v m="$mode" -v hr="$(med $mode sluice-http 4)" -v ar="$(med $mode haproxy 4)" \
		-v h50="$(med $mode sluice-http 5)" -v h99="$(med $mode sluice-http 6)" \
		-v a99="$(med $mode haproxy 6)" -v d50="$(med $mode direct 5)" -v d99="$(med $mode direct 6)" \
		-v hc="$(med $mode sluice-http 8)" -v ac="$(med $mode haproxy 8)" \
		-v hcl="$(med $mode sluice-http 9)" -v pm="$pr_med" -v pl="$pr_min" -v ph="$pr_max" \
		-v le="$p99_le" 'BEGIN {
		printf "[%s] sluice-http / haproxy rps: %.2fx (target >= 1.2x); per-round ratios: median %.2fx, range %.2f-%.2f\n", m, hr / ar, pm, pl, ph
		printf "[%s] CPU per request haproxy / sluice-http: %.2fx; client side (wrk + backends) %.2f us/req = at most %d rps on one CPU\n", m, ac / hc, hcl, (hcl > 0 ? 1000000 / hcl : 0)
		printf "[%s] p99 sluice-http %d us vs haproxy %d us (target <=; <= in %s rounds); added over direct: p50 +%d us, p99 +%d us\n", m, h99, a99, le, h50 - d50, h99 - d99
	}'
	awk -v m="$mode" -v hc="$(med $mode sluice-http 8)" -v lc="$(med $mode sluice+alog 8)" \
		-v lines="$(wc -l <"$T/access.log")" 'BEGIN {
		printf "[%s] access log: sluice-http CPU %.2f us/req off, %.2f us/req on (+%.2f us, %.2fx); %d lines written\n", m, hc, lc, lc - hc, (hc > 0 ? lc / hc : 0), lines
	}'
done
echo
echo "sluice-http RSS idle $rss_idle KB (target <= 8192), after load $rss_load KB; haproxy idle $ha_rss_idle KB"
[ -n "${BENCH_KEEP:-}" ] && cp "$T/runs" "$BENCH_KEEP"
echo "(medians of $RUNS interleaved runs of ${DURATION}s per mode, wrk -t1 -c$CONNS, 1 KB responses, one worker thread each)"
