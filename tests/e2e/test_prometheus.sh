#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A real Prometheus (Debian's package) scrapes sluiced, and the queries that
# Kiali's graph, Istio's service dashboard and Flagger's built-in metric
# templates run (their selectors and groupings, as their documentation
# shows them) return the right values for an 80/20 TCP split and an HTTP
# header route from a known client workload. Also: the label set of every
# Istio series against a list kept here, TCP bytes of a connection that
# stays open (counted while it lives, never twice), `promtool check metrics`.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

for b in prometheus promtool; do
	command -v "$b" >/dev/null || { echo "Bail out! $b is not installed (make deps)"; exit 1; }
done
dl_setup_helper
dl_web_backends "$NS" || { echo "Bail out! web backends did not start"; exit 1; }
DL_HELPER=1 dl_start --metrics 127.0.0.1:9464 || { echo "Bail out! sluiced did not start"; exit 1; }

# The client workload "frontend" (shop) is the test cgroup; the backends are
# WorkloadEntries, so destination_workload is known.
CGREL=${CG#"$(sl_cgroup2_root)/"}
cat >"$SL_TMP/pol.yaml" <<EOF
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: frontend, namespace: shop, annotations: {sluice.io/cgroup: $CGREL}}
spec: {address: 10.1.0.99, labels: {app: frontend, version: v1}}
---
EOF
dl_s1 80 20 workloads >>"$SL_TMP/pol.yaml"
{ echo ---; dl_web workloads; } >>"$SL_TMP/pol.yaml"
out=$(ctl apply -f "$SL_TMP/pol.yaml" 2>&1) || { echo "Bail out! apply: $out"; exit 1; }
helper_running() { ctl status -o json | jq -e '.helper == "running"' >/dev/null; }
sl_wait_for 10 helper_running || { echo "Bail out! sluice-http did not start"; exit 1; }
web() { sl_in_cgroup_ns "$CG" "$NS" curl -s -m 3 "$@" http://198.18.0.20:8080/; }
sl_wait_for 10 web -o /dev/null -f || { echo "Bail out! web not reachable through sluice-http"; exit 1; }

# ---- Prometheus in the node namespace, scraping every second ----
cat >"$SL_TMP/prom.yml" <<'EOF'
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: sluice
  static_configs: [{targets: ['127.0.0.1:9464']}]
EOF
sl_bg prometheus nsenter --net="/run/netns/$NS" prometheus --config.file="$SL_TMP/prom.yml" \
	--storage.tsdb.path="$SL_TMP/promdata" --web.listen-address=127.0.0.1:9090 >/dev/null
# promq QUERY: the API's JSON answer
promq() { sl_in_ns "$NS" curl -s -m 5 --data-urlencode "query=$1" http://127.0.0.1:9090/api/v1/query; }
scraped() { promq 'up{job="sluice"} == 1' | jq -e '.data.result | length == 1' >/dev/null; }
sl_wait_for 30 scraped || { echo "Bail out! Prometheus does not scrape sluiced"; cat "$SL_TMP/prometheus.log" | tail -5; exit 1; }

# val JSON: the single result's value (or empty)
val() { jq -r 'if (.data.result | length) == 1 then .data.result[0].value[1] else empty end'; }
# by JSON LABEL: "labelvalue=value" lines, sorted
by() { jq -r --arg l "$2" '.data.result[] | "\(.metric[$l])=\(.value[1])"' <<<"$1" | sort; }
# what the readiness probes above already sent, so that the counts below
# are the load's alone
HTTP_BY_WL='sum(istio_requests_total{reporter="destination",source_workload="frontend",destination_service="web.shop.svc.cluster.local"}) by (destination_workload)'
base=$(by "$(promq "$HTTP_BY_WL")" destination_workload)
base1=$(sed -n 's/^web-v1=//p' <<<"$base"); base2=$(sed -n 's/^web-v2=//p' <<<"$base")

# ---- traffic from frontend, spread over 8 s (rate() and irate() need a
# counter that moves between scrapes): TCP connections at 250/s, 40 + 160
# HTTP requests ----
dl_load_bg "$SL_TMP/tcpload.out" -d 8 -c 1 --rate 250
TCP_LOAD_PID=$DL_LOAD_PID
sl_in_cgroup_ns "$CG" "$NS" python3 -c '
import http.client, time
for i in range(200):
    c = http.client.HTTPConnection("198.18.0.20", 8080, timeout=5)
    c.request("GET", "/", headers={"x-canary": "yes" if i % 5 == 0 else "no"})
    assert c.getresponse().read().startswith(b"web v")
    c.close()
    time.sleep(0.04)
' >"$SL_TMP/httpload.out" 2>&1 &
HTTP_LOAD_PID=$!
sl_defer "kill $HTTP_LOAD_PID"
sleep 5
# sluicectl top during the load: the HTTP service's requests per second and
# its split by requests (its connections all go to sluice-http)
ctl top --count 1 </dev/null >"$SL_TMP/top.txt" 2>&1
sl_log "$(grep -A2 '^web.shop' "$SL_TMP/top.txt" | tr -s ' ' | tr '\n' '|')"
sl_check "top: web's REQ/S > 0 (8 columns after the name)" \
	awk '$1 == "web.shop.svc.cluster.local" { found = 1; if ($7 + 0 <= 0) bad = 1 } END { exit !(found && !bad) }' "$SL_TMP/top.txt"
sl_check "top: web's subsets v1 and v2 split by requests" \
	bash -c "grep -A3 '^web.shop' '$SL_TMP/top.txt' | grep -Eq '^ +v1 .*%'"

# Kiali's graph (versioned-app graph, TCP edges): bytes by the source and
# destination workload/app/version labels, reporter="source", selected by
# the source namespace.
q='sum(rate(istio_tcp_sent_bytes_total{reporter="source",source_workload_namespace="shop"}[1m])) by (source_cluster,source_workload_namespace,source_workload,source_canonical_service,source_canonical_revision,destination_cluster,destination_service_namespace,destination_service,destination_service_name,destination_workload_namespace,destination_workload,destination_canonical_service,destination_canonical_revision)'
r=$(promq "$q")
sl_log "kiali tcp edges: $(by "$r" destination_workload | tr '\n' ' ')"
sl_check "Kiali graph (TCP): two edges frontend -> tcp-echo-v1 / tcp-echo-v2 with bytes/s > 0" \
	bash -c "jq -e '[.data.result[] | select(.metric.source_workload == \"frontend\" and .metric.destination_service_namespace == \"weather\" and (.value[1] | tonumber) > 0) | .metric.destination_workload] | sort == [\"tcp-echo-v1\", \"tcp-echo-v2\"]' <<<'$r' >/dev/null"
# Kiali's graph (HTTP edges): requests by source/destination and response code
q='sum(rate(istio_requests_total{reporter="source",source_workload_namespace="shop"}[1m])) by (source_workload_namespace,source_workload,source_canonical_service,destination_service_namespace,destination_service_name,destination_workload_namespace,destination_workload,destination_canonical_service,destination_canonical_revision,request_protocol,response_code,response_flags)'
r=$(promq "$q")
sl_check "Kiali graph (HTTP): edges frontend -> web-v1 and web-v2, protocol http, code 200" \
	bash -c "jq -e '[.data.result[] | select(.metric.source_workload == \"frontend\" and .metric.request_protocol == \"http\" and .metric.response_code == \"200\" and .metric.response_flags == \"-\") | .metric.destination_workload] | sort == [\"web-v1\", \"web-v2\"]' <<<'$r' >/dev/null"

# Istio's service dashboard ("Incoming Requests By Source And Response
# Code", "Incoming Success Rate"), reporter=~"$qrep" with both reporters
# selectable, filtered on destination_service.
q='round(sum(irate(istio_requests_total{reporter=~"destination",destination_service=~"web.shop.svc.cluster.local"}[1m])) by (source_workload, source_workload_namespace, response_code), 0.001)'
r=$(promq "$q")
sl_check "Istio service dashboard: incoming requests by source: frontend (shop), code 200" \
	bash -c "jq -e '[.data.result[] | select(.metric.source_workload == \"frontend\" and .metric.source_workload_namespace == \"shop\" and .metric.response_code == \"200\" and (.value[1] | tonumber) > 0)] | length == 1' <<<'$r' >/dev/null"
q='sum(irate(istio_requests_total{reporter=~"source|destination",destination_service=~"web.shop.svc.cluster.local",response_code!~"5.*"}[1m])) / sum(irate(istio_requests_total{reporter=~"source|destination",destination_service=~"web.shop.svc.cluster.local"}[1m]))'
sl_check "Istio service dashboard: incoming success rate 1" [ "$(promq "$q" | val)" = 1 ]

# Flagger's built-in templates: request-success-rate and request-duration,
# reporter="destination" on the canary workload.
ns=shop; target=web-v2
q="sum(rate(istio_requests_total{reporter=\"destination\",destination_workload_namespace=\"$ns\",destination_workload=~\"$target\",response_code!~\"5.*\"}[1m])) / sum(rate(istio_requests_total{reporter=\"destination\",destination_workload_namespace=\"$ns\",destination_workload=~\"$target\"}[1m])) * 100"
sl_check "Flagger request-success-rate of web-v2: 100" [ "$(promq "$q" | val)" = 100 ]
q="histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter=\"destination\",destination_workload_namespace=\"$ns\",destination_workload=~\"$target\"}[1m])) by (le))"
d=$(promq "$q" | val)
sl_check "Flagger request-duration of web-v2: a p99 in ms (0 < ${d:-?} < 1000)" \
	awk -v d="${d:-x}" 'BEGIN { exit !(d + 0 > 0 && d + 0 < 1000) }'

# ---- totals, once the load is over and scraped ----
wait "$TCP_LOAD_PID"
wait "$HTTP_LOAD_PID" || sl_fail "HTTP load from frontend: $(tail -3 "$SL_TMP/httpload.out")"
tcpn=$(dl_field "$(cat "$SL_TMP/tcpload.out")" conns)
sl_log "tcp load: $(cat "$SL_TMP/tcpload.out")"
sleep 2.5

# The TCP split as a Kiali edge label shows it: connections by version.
r=$(promq 'sum(istio_tcp_connections_opened_total{reporter="source",source_workload="frontend",destination_service="tcp-echo.weather.svc.cluster.local"}) by (destination_version)')
v1=$(by "$r" destination_version | sed -n 's/^v1=//p'); v2=$(by "$r" destination_version | sed -n 's/^v2=//p')
sl_log "tcp connections by version: v1=$v1 v2=$v2"
sl_check "TCP 80/20: all ${tcpn:-?} connections, split within chi-square (p = 0.001)" \
	awk -v a="${v1:-0}" -v b="${v2:-0}" -v n="${tcpn:-x}" 'BEGIN { e1 = 0.8 * n; e2 = 0.2 * n
		c = (a - e1)^2 / e1 + (b - e2)^2 / e2; exit !(n > 1000 && a + b == n && c < 10.83) }'
r=$(promq 'sum(istio_tcp_connections_closed_total{reporter="destination",destination_workload_namespace="weather"})')
sl_check "TCP: all closed, seen with reporter=destination too" [ "$(val <<<"$r")" = "$tcpn" ]
r=$(promq 'sum(istio_tcp_received_bytes_total{reporter="source",source_workload="frontend"}) / sum(istio_tcp_sent_bytes_total{reporter="source",source_workload="frontend"})')
# connbench sends "hello\n" (6 B) and gets "one hello\n" / "two hello\n" (10 B)
sl_check "TCP bytes: received (requests) / sent (responses) = 6/10 ($(val <<<"$r"))" \
	awk -v r="$(val <<<"$r")" 'BEGIN { exit !(r == 0.6) }'

# the header route: exactly the x-canary requests reached web-v2
r=$(by "$(promq "$HTTP_BY_WL")" destination_workload)
n1=$(( $(sed -n 's/^web-v1=//p' <<<"$r") - ${base1:-0} )); n2=$(( $(sed -n 's/^web-v2=//p' <<<"$r") - ${base2:-0} ))
sl_check "header route: web-v2 got the 40 x-canary requests, web-v1 the other 160 ($n2, $n1)" \
	[ "$n1 $n2" = "160 40" ]
# sizes: the client's request head ("GET / HTTP/1.1", Host, Accept-Encoding,
# x-canary: 70..200 B) and the backend's answer (status line, headers and
# "web v2\n": 60..300 B), on average per request
avg() { promq "sum(${1}_sum{reporter=\"destination\",destination_workload=\"web-v2\"}) / sum(${1}_count{reporter=\"destination\",destination_workload=\"web-v2\"})" | val; }
rq=$(avg istio_request_bytes); rs=$(avg istio_response_bytes)
sl_check "istio_request_bytes of web-v2: the request head (${rq:-?} B)" \
	awk -v v="${rq:-0}" 'BEGIN { exit !(v >= 70 && v <= 200) }'
sl_check "istio_response_bytes of web-v2: head and body (${rs:-?} B)" \
	awk -v v="${rs:-0}" 'BEGIN { exit !(v >= 60 && v <= 300) }'


ok=$(ctl stats -o json | jq '([.[] | select(.service == "web.shop.svc.cluster.local" and .level == "service")][0].requests >= 200) and
	([.[] | select(.service == "web.shop.svc.cluster.local" and .level == "subset" and .subset == "v2")][0].requests >= 40)')
sl_check "stats -o json: web's requests through sluice-http counted (service and subsets)" [ "$ok" = true ]

# ---- the label set, against Istio's standard list ----
expect='connection_security_policy destination_app destination_canonical_revision destination_canonical_service destination_cluster destination_principal destination_service destination_service_name destination_service_namespace destination_version destination_workload destination_workload_namespace reporter request_protocol response_flags source_app source_canonical_revision source_canonical_service source_cluster source_principal source_version source_workload source_workload_namespace'
for m in istio_tcp_connections_opened_total istio_tcp_connections_closed_total \
	istio_tcp_received_bytes_total istio_tcp_sent_bytes_total istio_requests_total \
	istio_request_duration_milliseconds_bucket istio_request_bytes_bucket istio_response_bytes_bucket; do
	want=$expect
	case $m in
	istio_requests_total) want="$expect response_code" ;;
	*_bucket) want="$expect le response_code" ;;
	esac
	want=$(tr ' ' '\n' <<<"$want" | sort | tr '\n' ' ')
	got=$(promq "$m" | jq -r '[.data.result[].metric | del(.__name__, .instance, .job) | keys] | unique | .[] | join(" ")' | sort -u)
	sl_check "$m: the standard label set ($(wc -l <<<"$got") set)" \
		[ "$(tr ' ' '\n' <<<"$got" | sort | tr '\n' ' ')" = "$want" ]
done
r=$(promq 'count(istio_tcp_connections_opened_total)')
sl_check "cardinality bounded: $(val <<<"$r") TCP series for 2000 connections (2 backends x 2 reporters)" \
	[ "$(val <<<"$r")" = 4 ]

# ---- bytes of a connection that stays open ----
metric_sum() {
	sl_in_ns "$NS" curl -s -m 5 http://127.0.0.1:9464/metrics |
		awk -v m="$1" '$0 ~ "^"m"\\{reporter=\"source\",source_workload=\"frontend\"" { s += $NF } END { print s + 0 }'
}
rx0=$(metric_sum istio_tcp_received_bytes_total); tx0=$(metric_sum istio_tcp_sent_bytes_total)
mkfifo "$SL_TMP/hold"
sh -c 'echo $$ > "$1/cgroup.procs" && exec nsenter --net="/run/netns/$0" python3 -c "
import socket, sys
s = socket.create_connection((\"198.18.0.10\", 9000), timeout=5)
for _ in range(10):
    s.sendall(b\"hello\n\")
    got = b\"\"
    while not got.endswith(b\"\n\"):
        got += s.recv(100)
open(sys.argv[1] + \".sent\", \"w\").close()
open(sys.argv[1]).read()
s.close()
" "$2"' "$NS" "$CG" "$SL_TMP/hold" >"$SL_TMP/hold.log" 2>&1 &
HOLD_PID=$!
sl_defer "kill $HOLD_PID"
sl_wait_for 10 test -f "$SL_TMP/hold.sent" || sl_fail "long-lived client: $(cat "$SL_TMP/hold.log")"
rx1=$(metric_sum istio_tcp_received_bytes_total); tx1=$(metric_sum istio_tcp_sent_bytes_total)
sl_check "open connection: its 60 request bytes counted while it lives (+$((rx1 - rx0)))" [ $((rx1 - rx0)) -eq 60 ]
sl_check "open connection: its 100 response bytes counted while it lives (+$((tx1 - tx0)))" [ $((tx1 - tx0)) -eq 100 ]
echo close >"$SL_TMP/hold"
wait "$HOLD_PID"
sleep 0.2
rx2=$(metric_sum istio_tcp_received_bytes_total); tx2=$(metric_sum istio_tcp_sent_bytes_total)
sl_check "closed: nothing counted twice (+$((rx2 - rx0)) / +$((tx2 - tx0)))" \
	[ $((rx2 - rx0)) -eq 60 -a $((tx2 - tx0)) -eq 100 ]

# ---- promtool's lint ----
sl_in_ns "$NS" curl -s -m 5 http://127.0.0.1:9464/metrics >"$SL_TMP/exposition.txt"
lint=$(promtool check metrics <"$SL_TMP/exposition.txt" 2>&1)
# Istio's names are fixed (istio_request_duration_milliseconds is not in
# seconds): that finding is expected, nothing else is.
other=$(grep -v 'istio_request_duration_milliseconds.*use base unit "seconds" instead of "milliseconds"' <<<"$lint" | grep .)
sl_log "promtool: $(grep -c . <<<"$lint") finding(s)"
sl_check "promtool check metrics: only the Istio-mandated milliseconds unit ($other)" [ -z "$other" ]

sl_done
