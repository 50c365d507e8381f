#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HTTP/2 from clients to sluice-http (issue 15, item 3), standalone on a
# private loopback IP: h2c prior knowledge on a plain Gateway server and h2
# by ALPN on an HTTPS one; per stream, exactly as for HTTP/1.1: header
# route, weights (80/20 over one connection's streams), retries, a route
# time-out, an abort fault, header operations, request bodies with and
# without content-length, large and chunked responses under flow control,
# HEAD; streams counted in the metrics and logged as HTTP/2; concurrent
# streams by h2load; a rapid-reset flood is cut with GOAWAY and does not
# grow the proxy's memory; idle connections (PINGs or not) and header blocks
# that never end are closed by the time-outs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_common.sh"
sl_require_root
hx_require
command -v curl >/dev/null && command -v openssl >/dev/null && command -v nghttp >/dev/null &&
	command -v h2load >/dev/null || { echo "Bail out! curl, openssl and nghttp2-client needed"; exit 1; }
# python3-h2 is Debian's: the first python3 on PATH may be another one
H2PY=python3
$H2PY -c 'import h2' 2>/dev/null || H2PY=/usr/bin/python3
$H2PY -c 'import h2' 2>/dev/null || { echo "Bail out! no python3 h2 module (make deps)"; exit 1; }

C="$SL_TMP/certs"
mkdir -p "$C"
sl_mkca "$C" ca && sl_mkcert "$C" ca myapp myapp.com DNS:myapp.com ||
	{ echo "Bail out! openssl could not make the test certificates"; exit 1; }

hx_backend v1 9101
hx_backend v2 9102

P="$SL_TMP/policy.yaml"
{ hx_versions_yaml myapp 80 HTTP 9101 9102; cat <<YAML; } >"$P"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [myapp.com]
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [myapp.com]
    tls: {mode: SIMPLE, serverCertificate: $C/myapp.crt, privateKey: $C/myapp.key}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: myapp, namespace: shop}
spec:
  hosts: [myapp.com]
  gateways: [edge]
  http:
  - match: [{headers: {x-canary: {exact: "yes"}}}]
    headers:
      request: {set: {x-via: sluice}}
      response: {add: {x-route: canary}}
    route: [{destination: {host: myapp.shop.svc.cluster.local, subset: v2}}]
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: myapp.shop.svc.cluster.local, subset: v1}}]
  - match: [{uri: {prefix: /late}}]
    fault: {delay: {fixedDelay: 0.4s, percentage: {value: 100}}}
    route: [{destination: {host: myapp.shop.svc.cluster.local, subset: v2}}]
  - match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, redirectCode: 302}
  - match: [{uri: {prefix: /slow}}]
    timeout: 0.3s
    route: [{destination: {host: myapp.shop.svc.cluster.local, subset: v1}}]
  - match: [{uri: {prefix: /retry}}]
    retries: {attempts: 2, retryOn: 5xx}
    route: [{destination: {host: myapp.shop.svc.cluster.local, subset: v1}}]
  - route:
    - {destination: {host: myapp.shop.svc.cluster.local, subset: v1}, weight: 80}
    - {destination: {host: myapp.shop.svc.cluster.local, subset: v2}, weight: 20}
YAML

hx_proxy "$P" 80 --access-log "$SL_TMP/access.log" --idle-timeout-ms 2000 --header-timeout-ms 1500
sl_wait_for 10 hx_port_open "$HX_IP" 443

# h2c NAME... : curl with HTTP/2 prior knowledge to myapp.com on port 80
h2c() { curl -s -m 10 --http2-prior-knowledge --resolve "myapp.com:80:$HX_IP" "$@"; }
h2s() { curl -s -m 10 --http2 --resolve "myapp.com:443:$HX_IP" --cacert "$C/ca.crt" "$@"; }

# ---- h2c prior knowledge ----------------------------------------------------
out=$(h2c -o /dev/null -w '%{http_version} %{http_code}' http://myapp.com/)
sl_check "h2c prior knowledge is spoken: HTTP/2 200 ($out)" [ "$out" = "2 200" ]
out=$(h2c -H 'x-canary: yes' -D "$SL_TMP/h1" http://myapp.com/a?b=c)
sl_check "h2c header route: x-canary: yes -> v2, query kept ($out)" [ "$out" = "v2 GET /a?b=c 0" ]
sl_check "... the route's request header reached the backend" grep -qi '^x-echo-x-via: sluice' "$SL_TMP/h1"
sl_check "... and its response header the client" grep -qi '^x-route: canary' "$SL_TMP/h1"
sl_check "... as an HTTP/2 response (no connection-specific header)" \
	bash -c "grep -qi '^HTTP/2 200' '$SL_TMP/h1' && ! grep -qi '^connection:' '$SL_TMP/h1'"
out=$(h2c -o /dev/null -w '%{http_code}' http://myapp.com/abort)
sl_check "h2c abort fault per stream: 418 ($out)" [ "$out" = 418 ]
out=$(h2c -w ' %{time_total}' http://myapp.com/late)
sl_check "h2c delay fault 0.4s per stream, then routed ($out)" \
	awk -v o="$out" 'BEGIN { split(o, f, " "); exit !(f[1] == "v2" && f[5] >= 0.4) }'
out=$(h2c -o /dev/null -w '%{http_code} %{redirect_url}' http://myapp.com/old/x)
sl_check "h2c redirect per stream: 302 to http://myapp.com/new ($out)" [ "$out" = "302 http://myapp.com/new" ]
out=$(h2c -o /dev/null -w '%{http_code}' -H 'x-delay-ms: 1500' http://myapp.com/slow)
sl_check "h2c route timeout 0.3s per stream: 504 ($out)" [ "$out" = 504 ]
out=$(h2c -H 'x-fail-once: r1' http://myapp.com/retry)
sl_check "h2c retry on 5xx: the second try answers ($out)" [ "$out" = "v1 GET /retry 0" ]
head -c 300000 /dev/zero | tr '\0' a >"$SL_TMP/big"
out=$(h2c -H 'x-canary: yes' --data-binary "@$SL_TMP/big" http://myapp.com/post)
sl_check "h2c request body with content-length, 300 KB ($out)" [ "$out" = "v2 POST /post 300000" ]
out=$(h2c -H 'x-canary: yes' -T - http://myapp.com/up <"$SL_TMP/big")
sl_check "h2c request body without content-length, 300 KB, goes up chunked ($out)" [ "$out" = "v2 PUT /up 300000" ]
out=$(h2c -H 'x-canary: yes' -H 'x-pad: 2000000' http://myapp.com/dl | wc -c)
sl_check "a 2 MB response crosses the stream's flow control whole ($out)" [ "$out" = 2000013 ]
out=$(h2c -H 'x-canary: yes' -H 'x-pad: 100000' -H 'x-chunked: 1' http://myapp.com/ch | wc -c)
sl_check "a chunked upstream response arrives as DATA, whole ($out)" [ "$out" = 100013 ]
out=$(h2c -I -H 'x-canary: yes' -o /dev/null -w '%{http_code}' http://myapp.com/head)
sl_check "HEAD over h2c ($out)" [ "$out" = 200 ]
big=$(head -c 17000 /dev/zero | tr '\0' b)
out=$(h2c -o /dev/null -w '%{http_code}' -H "x-big: $big" http://myapp.com/)
sl_check "a header list over 16 KB is refused: 431 ($out)" [ "$out" = 431 ]

# ---- weights per stream, many streams on one connection ----------------------
# nghttp (nghttp2-client) opens every stream on one connection, up to the
# 100 the proxy allows at once
urls=()
for i in $(seq 1 200); do urls+=("http://$HX_IP:80/w$i"); done
timeout 30 nghttp -H ':authority: myapp.com' "${urls[@]}" >"$SL_TMP/w.out" 2>"$SL_TMP/w.err"
v1=$(grep -c '^v1 GET /w' "$SL_TMP/w.out"); v2=$(grep -c '^v2 GET /w' "$SL_TMP/w.out")
sl_check "200 streams on one connection all answered ($((v1 + v2)))" [ $((v1 + v2)) -eq 200 ]
sl_check "weights 80/20 hold per stream: v1 $v1, v2 $v2 (expected 160/40)" \
	[ "$v1" -ge 130 -a "$v1" -le 190 ]

# ---- concurrency, counters, log ------------------------------------------------
out=$(h2load -n 2000 -c 4 -m 20 -H ':authority: myapp.com' "http://$HX_IP:80/load" 2>&1 |
	grep -E '^requests:|^status codes:' | tr -s ' ' | tr '\n' ' ')
sl_check "h2load, 4 connections x 20 streams: 2000 requests, all 2xx ($out)" \
	grep -q 'requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed.*status codes: 2000 2xx' <<<"$out"
m=$(hx_metrics_dump)
n=$(awk '$1 == "sluice_http_h2_streams_total" { print $2 }' <<<"$m")
sl_check "streams are counted: sluice_http_h2_streams_total >= 2200 ($n)" [ "${n:-0}" -ge 2200 ]
n=$(awk '$1 == "sluice_http_h2_connections_total" { print $2 }' <<<"$m")
sl_check "HTTP/2 connections are counted ($n)" [ "${n:-0}" -ge 15 ]
n=$(grep -E '^istio_requests_total\{.*destination_version="v2".*response_code="200"' <<<"$m" | awk '{ s += $2 } END { print s + 0 }')
sl_check "streams are requests in istio_requests_total (v2 200: $n)" [ "$n" -ge 40 ]
sl_check "the access log shows HTTP/2 requests" grep -q '"GET /a?b=c HTTP/2"' "$SL_TMP/access.log"

# ---- rapid reset, idle connections --------------------------------------------
rss() { awk '/VmRSS/ { print $2 }' "/proc/$HX_PID/status"; }
rss0=$(rss)
for i in 1 2 3 4 5; do
	out=$(timeout 30 $H2PY "$HX_PY/h2_client.py" flood "$HX_IP" 80 myapp.com 5000)
done
rss1=$(rss)
sl_check "a rapid-reset flood (HEADERS + RST_STREAM x 5000) is cut with a GOAWAY ($out)" \
	grep -Eq 'goaway=[A-Z_]+ closed=1' <<<"$out"
sl_check "... after a few hundred streams, not 5000 ($out)" \
	[ "$(sed 's/sent=\([0-9]*\).*/\1/' <<<"$out")" -lt 2000 ]
sl_check "five floods grow the proxy's RSS by under 8 MB (${rss0} kB -> ${rss1} kB)" \
	[ $((rss1 - rss0)) -lt 8192 ]
m=$(hx_metrics_dump)
n=$(grep -E '^sluice_http_h2_goaway_sent_total\{error="(INTERNAL_ERROR|ENHANCE_YOUR_CALM)"\}' <<<"$m" | awk '{ s += $2 } END { print s + 0 }')
sl_check "... counted in sluice_http_h2_goaway_sent_total ($n)" [ "$n" -ge 5 ]
n=$(awk '$1 == "sluice_http_h2_streams_reset_total" { print $2 }' <<<"$m")
sl_check "... and the reset streams in sluice_http_h2_streams_reset_total ($n)" [ "${n:-0}" -ge 200 ]
out=$(h2c http://myapp.com/after)
sl_check "the proxy serves after the floods ($out)" grep -q '^v[12] GET /after 0$' <<<"$out"
out=$(timeout 10 $H2PY "$HX_PY/h2_client.py" idle "$HX_IP" 80 6)
sl_check "an HTTP/2 connection without streams is closed after --idle-timeout-ms 2000 ($out)" \
	grep -Eq '^closed after (1\.9|2\.|3\.)' <<<"$out"
out=$(timeout 10 $H2PY "$HX_PY/h2_client.py" idle "$HX_IP" 80 6 ping)
sl_check "... PINGs do not keep it open ($out)" grep -Eq '^closed after (1\.9|2\.|3\.)' <<<"$out"
out=$(timeout 10 $H2PY "$HX_PY/h2_client.py" idle "$HX_IP" 80 6 partial)
sl_check "a header block that never ends is cut after --header-timeout-ms 1500 ($out)" \
	grep -Eq '^closed after (1\.[4-9]|2\.)' <<<"$out"

# ---- h2 by ALPN over TLS ------------------------------------------------------
out=$(h2s -o /dev/null -w '%{http_version} %{http_code}' https://myapp.com/)
sl_check "HTTPS: ALPN picks h2 ($out)" [ "$out" = "2 200" ]
out=$(h2s -H 'x-canary: yes' https://myapp.com/t)
sl_check "h2 over TLS: header route ($out)" [ "$out" = "v2 GET /t 0" ]
out=$(h2s --http1.1 -o /dev/null -w '%{http_version}' https://myapp.com/)
sl_check "a client offering only http/1.1 still gets it ($out)" [ "$out" = "1.1" ]

sl_done
