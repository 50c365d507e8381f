#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HTTPS termination benchmark: sluice-http vs HAProxy, one worker thread
# each, the same certificate (ECDSA P-256, made here with openssl), the same
# protocol and cipher (TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256: sluice-http's
# Gateway tls.cipherSuites and min/maxProtocolVersion, HAProxy's bind
# ciphers/ssl-min-ver/ssl-max-ver), the same route (a header rule and a
# 90/10 default) to the same C backends (build/http-backend, 1 KB answers).
# Two loads, wrk against https://:
#   keepalive   CONNS connections kept open (the TLS cost is the records)
#   handshake   "Connection: close": a new TCP connection and a full TLS
#               handshake per request (wrk does not resume sessions)
# Per run: rps, p99, and the proxy's own CPU per request (/proc utime+stime
# over the run). RUNS rounds, the two proxies' order alternating; medians
# and the median of the per-round sluice/haproxy ratios printed. Everything
# on 127.0.0.1, free placement (the scheduler places everything).
# Knobs: RUNS (default 5), DURATION seconds (5), CONNS (50), HS_CONNS (20).
cd "$(dirname "$0")/.."
. bench/http_lib.sh
HS_CONNS=${HS_CONNS:-20}
P_V1=18931 P_V2=18932 P_HX=18943 P_HA=18944
hb_init bench-https wrk haproxy openssl

hb_cert || { echo "bench_https: openssl req failed"; exit 1; }

hb_backends

{ hb_service_yaml; cat <<YAML; hb_tls_yaml; echo ---; hb_split_yaml; } >"$T/policy.yaml"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: bench}
spec:
  servers:
  - port: {number: $P_HX, name: https, protocol: HTTPS}
    hosts: ["*"]
YAML
hb_haproxy_split "$IP:$P_HA ssl crt $T/haproxy.pem alpn http/1.1 ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.2 ciphers $CIPHER" \
	>"$T/haproxy.cfg"

"$B/sluice-http" --policy "$T/policy.yaml" --no-mesh --gateway-addr $IP --workers 1 \
	>"$T/hx.log" 2>&1 & HX=$!; PIDS+=($HX)
haproxy -f "$T/haproxy.cfg" -db >"$T/ha.log" 2>&1 & HA=$!; PIDS+=($HA)
for p in $P_V1 $P_V2 $P_HX $P_HA; do wait_port $p || { echo "bench_https: port $p not up"; cat "$T"/*.log; exit 1; }; done
sleep 0.3
# the same protocol, cipher and certificate on both
for p in $P_HX $P_HA; do
	s=$(echo | openssl s_client -connect $IP:$p -servername bench.example 2>/dev/null)
	grep -q "Cipher is $CIPHER" <<<"$s" && grep -q "Protocol *: TLSv1.2" <<<"$s" ||
		{ echo "bench_https: port $p did not negotiate TLSv1.2 $CIPHER"; exit 1; }
done

# wrk_run PORT PID CONNS [HEADER...] -> "rps p99_us errors proxy_us/req"
wrk_run() {
	local port=$1 pid=$2 conns=$3 out c0 c1
	shift 3
	c0=$(cpu_ticks "$pid")
	out=$(wrk -t1 -c"$conns" -d"${DURATION}s" --latency "$@" "https://$IP:$port/" 2>&1)
	c1=$(cpu_ticks "$pid")
	echo "$out" >>"$T/wrk.txt"
	echo "$out" | awk -v cpu=$((c1 - c0)) -v tck="$TCK" '
		function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000;
			if (v ~ /s$/) return v * 1000000; return v }
		/^Requests\/sec/ { rps = $2 }
		/requests in/ { n = $1 }
		$1 == "99%" { p99 = us($2) }
		/Non-2xx/ { err += $NF }
		/Socket errors/ { err += 1 }
		END { printf "%d %d %d %.2f\n", rps, p99, err, n ? cpu * 1000000 / tck / n : 0 }'
}
for i in $(seq 1 "$RUNS"); do
	order="haproxy:$P_HA:$HA sluice-http:$P_HX:$HX"
	[ $((i % 2)) = 0 ] && order="sluice-http:$P_HX:$HX haproxy:$P_HA:$HA"
	for t in $order; do
		IFS=: read -r name port pid <<<"$t"
		echo "keepalive $name $i $(wrk_run "$port" "$pid" "$CONNS")" >>"$T/runs"
		echo "handshake $name $i $(wrk_run "$port" "$pid" "$HS_CONNS" -H 'Connection: close')" >>"$T/runs"
	done
done
echo "bench_https: TLS 1.2 $CIPHER, ECDSA P-256, $RUNS runs x ${DURATION}s, medians"
hb_report errors keepalive handshake
