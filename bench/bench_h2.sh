#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HTTP/2 from clients: sluice-http vs HAProxy, one worker thread each, the
# same route (a header rule and a 90/10 default) to the same C backends
# (build/http-backend, 1 KB answers, HTTP/1.1 upstream for both), h2load
# (nghttp2-client) as the client. Two loads:
#   h2c   HTTP/2 prior knowledge on a plain port
#   h2    HTTP/2 by ALPN over TLS 1.2 (ECDHE-ECDSA-AES128-GCM-SHA256, the
#         same ECDSA P-256 certificate, made here with openssl)
# CONNS connections x STREAMS concurrent streams each, DURATION seconds.
# Per run: rps, p99 (from h2load's per-request log), failed requests, and
# the proxy's own CPU per request (/proc utime+stime over the run). RUNS
# rounds, the two proxies' order alternating; medians and the median of the
# per-round sluice/haproxy ratios. Everything on 127.0.0.1.
# Knobs: RUNS (default 5), DURATION seconds (5), CONNS_H2 (10), STREAMS (10).
cd "$(dirname "$0")/.."
. bench/http_lib.sh
CONNS=${CONNS_H2:-10}
STREAMS=${STREAMS:-10}
P_V1=18951 P_V2=18952 P_HX=18953 P_HA=18954 P_HXS=18955 P_HAS=18956
hb_init bench-h2 h2load haproxy openssl

hb_cert || { echo "bench_h2: openssl req failed"; exit 1; }

hb_backends

{ hb_service_yaml; cat <<YAML; hb_tls_yaml; echo ---; hb_split_yaml; } >"$T/policy.yaml"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: bench}
spec:
  servers:
  - port: {number: $P_HX, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: $P_HXS, name: https, protocol: HTTPS}
    hosts: ["*"]
YAML
hb_haproxy_split "$IP:$P_HA proto h2" \
	"$IP:$P_HAS ssl crt $T/haproxy.pem alpn h2,http/1.1 ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.2 ciphers $CIPHER" \
	>"$T/haproxy.cfg"

"$B/sluice-http" --policy "$T/policy.yaml" --no-mesh --gateway-addr $IP --workers 1 \
	>"$T/hx.log" 2>&1 & HX=$!; PIDS+=($HX)
haproxy -f "$T/haproxy.cfg" -db >"$T/ha.log" 2>&1 & HA=$!; PIDS+=($HA)
for p in $P_V1 $P_V2 $P_HX $P_HA $P_HXS $P_HAS; do
	wait_port $p || { echo "bench_h2: port $p not up"; cat "$T"/*.log; exit 1; }
done
sleep 0.3

# h2_run URL PID -> "rps p99_us failed proxy_us/req"
h2_run() {
	local url=$1 pid=$2 out c0 c1
	rm -f "$T/lat.log"
	c0=$(cpu_ticks "$pid")
	out=$(h2load -c"$CONNS" -m"$STREAMS" -D"$DURATION" --ciphers=$CIPHER \
		--log-file="$T/lat.log" "$url" 2>&1)
	c1=$(cpu_ticks "$pid")
	echo "$out" >>"$T/h2load.txt"
	p99=$(awk '{ print $3 }' "$T/lat.log" | sort -n | awk '{ a[NR] = $1 } END { print a[int(NR * 0.99)] + 0 }')
	echo "$out" | awk -v cpu=$((c1 - c0)) -v tck="$TCK" -v p99="$p99" '
		/^finished in/ { rps = $4 }
		/^requests:/ { n = $8; failed = $10 + $12 }
		END { printf "%d %d %d %.2f\n", rps, p99, failed, n ? cpu * 1000000 / tck / n : 0 }'
}
for i in $(seq 1 "$RUNS"); do
	order="haproxy:$P_HA:$P_HAS:$HA sluice-http:$P_HX:$P_HXS:$HX"
	[ $((i % 2)) = 0 ] && order="sluice-http:$P_HX:$P_HXS:$HX haproxy:$P_HA:$P_HAS:$HA"
	for t in $order; do
		IFS=: read -r name port sport pid <<<"$t"
		echo "h2c $name $i $(h2_run "http://$IP:$port/" "$pid")" >>"$T/runs"
		echo "h2 $name $i $(h2_run "https://$IP:$sport/" "$pid")" >>"$T/runs"
	done
done
echo "bench_h2: $CONNS connections x $STREAMS streams, $RUNS runs x ${DURATION}s, medians"
hb_report failed h2c h2
