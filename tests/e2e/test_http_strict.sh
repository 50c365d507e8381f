#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sluice-http strictness: request smuggling shapes are refused with 400 and
# the connection closed (nothing reaches the backend), 414/431 limits, the
# slow-head time-out (slowloris), the stalled-body idle time-out, the
# connection limit; it survives all.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_common.sh"
sl_require_root
hx_require

P="$SL_TMP/policy.yaml"
cat >"$P" <<'YAML'
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: svc, namespace: t}
spec:
  hosts: [svc.t.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: @IP@, ports: {http: 9401}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: svc, namespace: t}
spec:
  hosts: [svc]
  http: [{route: [{destination: {host: svc}}]}]
YAML
hx_subst "$P"
hx_backend v1 9401
hx_proxy "$P" 15001 --header-timeout-ms 1000 --idle-timeout-ms 2000 --max-conns 40

raw() {	# raw NAME EXPECTED BYTES(printf format)
	local name=$1 want=$2 hex got
	hex=$(printf "$3" | od -An -v -tx1 | tr -d ' \n')
	got=$(python3 "$HX_PY/http_raw.py" send "$HX_IP" 15001 "$hex")
	if [ "$got" = "$want" ]; then sl_ok "$name -> $want"; else sl_fail "$name -> $want (got: $got)"; fi
}

raw "valid keep-alive pair (control)" "200 200" \
	'GET /a HTTP/1.1\r\nHost: svc\r\n\r\nGET /b HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n'
raw "CL + TE (CL.TE smuggling)" "400" \
	'POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: svc\r\n\r\n'
raw "TE + CL (TE.CL order)" "400" \
	'POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n'
raw "duplicate Content-Length" "400" \
	'POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc'
raw "bad chunk size" "400" \
	'POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'
raw "chunk size overflow" "400" \
	'POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n'
raw "obs-fold header continuation" "400" \
	'GET / HTTP/1.1\r\nHost: svc\r\nX-Folded: a\r\n b\r\n\r\n'
raw "whitespace before colon" "400" \
	'GET / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding : chunked\r\n\r\n'
raw "Transfer-Encoding other than chunked" "400" \
	'POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: gzip\r\n\r\n'
raw "invalid Content-Length" "400" \
	'POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 1x\r\n\r\n'
# After chunk data only CRLF may follow: a lenient parser that takes any 2
# bytes there would forward "XY32" as the next chunk size, and a backend
# reading to the next LF would find the hidden GET /smuggled.
raw "chunk data not followed by CRLF (smuggling)" "400" \
	'POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nAXY32\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: svc\r\n\r\n\r\n0\r\n\r\n'
raw "tab in the URI" "400" 'GET /a\tb HTTP/1.1\r\nHost: svc\r\n\r\n'
raw "'#' in the URI" "400" 'GET /a#frag HTTP/1.1\r\nHost: svc\r\n\r\n'
raw "trailer name with a space" "400" \
	'POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\nBad Name: x\r\n\r\n'
raw "chunk size ffffffffffffffff" "400" \
	'POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nA\r\n0\r\n\r\n'
raw "empty Transfer-Encoding value" "400" \
	'POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: \r\nContent-Length: 1\r\n\r\nA'
raw "two Host headers" "400" 'GET / HTTP/1.1\r\nHost: svc\r\nHost: other\r\n\r\n'
raw "HTTP/1.1 without Host" "400" 'GET / HTTP/1.1\r\nX-A: 1\r\n\r\n'
raw "HTTP/1.0 without Host is not malformed: routed, no vhost matches" "503" 'GET / HTTP/1.0\r\n\r\n'
raw "absolute-form URI: its authority wins over Host (RFC 9112 3.2.2)" "200" \
	'GET http://svc/abs HTTP/1.1\r\nHost: nowhere.example\r\nConnection: close\r\n\r\n'
hexb=$(printf 'GET /hop HTTP/1.1\r\nHost: svc\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\nX-Keep: yes\r\n\r\n' | od -An -v -tx1 | tr -d ' \n')
ans=$(python3 "$HX_PY/http_raw.py" dump "$HX_IP" 15001 "$hexb" | tr -d '\r')
sl_check "a header named in Connection is hop-by-hop: not forwarded (X-Keep is)" \
	bash -c "grep -qi '^x-echo-x-keep: yes' <<<'$ans' && ! grep -qi '^x-echo-x-hop' <<<'$ans'"
raw "bare LF line endings" "400" \
	'GET / HTTP/1.1\nHost: svc\n\n'
raw "binary garbage" "400" '\x00\x01\x02\x03\r\n\r\n'
long=$(head -c 5000 /dev/zero | tr '\0' a)
raw "URI longer than 4096 bytes" "414" "GET /$long HTTP/1.1\r\nHost: svc\r\n\r\n"
big=$(head -c 17000 /dev/zero | tr '\0' b)
raw "header block larger than 16 KB" "431" "GET / HTTP/1.1\r\nHost: svc\r\nX-Big: $big\r\n\r\n"
many=$(for i in $(seq 1 120); do printf 'X-H%d: v\\r\\n' "$i"; done)
raw "more than 96 header lines" "431" "GET / HTTP/1.1\r\nHost: svc\r\n$many\r\n"

# what reached the backend: the backend logs every request it parsed
sl_check "the backend logs what reaches it (the control pair)" \
	grep -q "^req GET /b" "$SL_TMP/be_v1.log"
sl_check "no smuggled request reached the backend (/admin, /smuggled, GPOST)" \
	bash -c "! grep -Eq 'admin|smuggled|GPOST' '$SL_TMP/be_v1.log'"
sl_check "the absolute-form request reached it with its own path" \
	grep -q "^req GET /abs" "$SL_TMP/be_v1.log"

r=$(python3 "$HX_PY/http_raw.py" slow "$HX_IP" 15001 5)
case $r in
closed\ 408\ *) ms=${r##* }; if [ "$ms" -lt 3000 ]; then sl_ok "slow head (slowloris): 408 and closed after ${ms} ms (limit 1000)"; else sl_fail "slow head closed late: $r"; fi ;;
*) sl_fail "slow head (slowloris): 408 and closed (got: $r)" ;;
esac

r=$(python3 "$HX_PY/http_raw.py" slowbody "$HX_IP" 15001 8)
case $r in
closed\ *) ms=${r##* }; if [ "$ms" -ge 1900 ] && [ "$ms" -lt 5000 ]; then sl_ok "stalled request body: closed after ${ms} ms (idle limit 2000)"; else sl_fail "stalled body closed at $ms ms"; fi ;;
*) sl_fail "stalled request body closed by the idle time-out (got: $r)" ;;
esac

n=$(python3 "$HX_PY/http_raw.py" conns "$HX_IP" 15001 50)
sl_check "connection limit 40: 10 of 50 idle connections closed at once (got $n)" test "$n" = 10

# idle lock-out: 40 silent sockets (the whole --max-conns) must not hold
# the slots for the 2 s idle time-out; the header time-out (1 s) runs
# from accept. Then a real client is served.
r=$(python3 "$HX_PY/http_raw.py" silent "$HX_IP" 15001 40 1.6)
sl_check "40 silent connections closed by the header time-out, a new client served (got: $r)" \
	test "$r" = "40 200"
m=$(hx_metrics_dump)
ht=$(sed -n 's/^sluice_http_connections_rejected_total{reason="header-timeout"} //p' <<<"$m")
mc=$(sed -n 's/^sluice_http_connections_rejected_total{reason="max-conns"} //p' <<<"$m")
sl_check "rejected connections counted: header-timeout ${ht:-?} >= 40, max-conns ${mc:-?} >= 10" \
	[ "${ht:-0}" -ge 40 -a "${mc:-0}" -ge 10 ]

j=$(hx_get --port 15001 --host svc -n 20)
hx_expect "still serving after all of the above" "$j" "j['status'] == {'200': 20}"
sl_check "sluice-http still running" kill -0 "$HX_PID"
sl_done
