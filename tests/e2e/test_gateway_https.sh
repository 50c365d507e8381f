#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Gateway HTTPS servers terminated by sluice-http (issue 15), standalone, on
# a private loopback IP: the field guide's HTTPS Gateway as written (port 443,
# tls SIMPLE with serverCertificate/privateKey files) with a header route and
# a default route, checked by curl against a test CA; a certificate replaced
# on disk is served to the next handshake, a broken one keeps the old; SNI
# picks the certificate among two servers of the port (and an unknown name
# fails; a Host outside the SNI's server is 421); a client offering only TLS 1.0 is refused; ALPN picks h2
# when offered (test_gateway_h2.sh speaks it), else http/1.1;
# httpsRedirect on the plain HTTP server answers 301; a handshake that never
# ends is cut by --tls-handshake-timeout-ms; a reload naming a certificate
# that does not load is refused and the running policy kept. Certificates
# are made here with openssl.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_common.sh"
sl_require_root
hx_require
command -v openssl >/dev/null && command -v curl >/dev/null || { echo "Bail out! openssl and curl needed"; exit 1; }

# ---- a test CA and server certificates ----------------------------------
C="$SL_TMP/certs"
mkdir -p "$C"
sl_mkca "$C" ca && sl_mkcert "$C" ca myapp myapp.com DNS:myapp.com &&
	sl_mkcert "$C" ca myapp2 myapp.com DNS:myapp.com &&
	sl_mkcert "$C" ca other other.example DNS:other.example ||
	{ echo "Bail out! openssl could not make the test certificates"; exit 1; }
cp "$C/myapp.crt" "$C/tls.crt"
cp "$C/myapp.key" "$C/tls.key"

hx_backend v1 9101
hx_backend v2 9102

P="$SL_TMP/policy.yaml"
{ hx_versions_yaml myapp 80 HTTP 9101 9102; cat <<YAML; } >"$P"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [myapp.com]
    tls: {mode: SIMPLE, serverCertificate: $C/tls.crt, privateKey: $C/tls.key}
  - port: {number: 443, name: https-other, protocol: HTTPS}
    hosts: [other.example]
    tls: {mode: SIMPLE, serverCertificate: $C/other.crt, privateKey: $C/other.key}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [myapp.com]
    tls: {httpsRedirect: true}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: myapp, namespace: shop}
spec:
  hosts: [myapp.com, other.example]
  gateways: [edge]
  http:
  - match: [{headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: myapp.shop.svc.cluster.local, subset: v2}}]
  - route: [{destination: {host: myapp.shop.svc.cluster.local, subset: v1}}]
YAML

hx_proxy "$P" 443 --tls-handshake-timeout-ms 1500

# cget NAME ARGS...: curl to NAME:443 on the test address, trusting the CA
cget() { local n=$1; shift; curl -s -m 5 --resolve "$n:443:$HX_IP" --cacert "$C/ca.crt" "$@"; }

# ---- the field guide's Gateway, header route and default route -------------
out=$(cget myapp.com https://myapp.com/)
sl_check "HTTPS default route: myapp.com -> v1 ($out)" [ "$out" = "v1 GET / 0" ]
out=$(cget myapp.com -H 'x-canary: yes' https://myapp.com/a?b=c)
sl_check "HTTPS header route: x-canary: yes -> v2 ($out)" [ "$out" = "v2 GET /a?b=c 0" ]
out=$(cget myapp.com -o /dev/null -w '%{http_version} %{ssl_verify_result}' https://myapp.com/)
sl_check "the certificate verifies against the test CA; curl's default ALPN gets h2 ($out)" [ "$out" = "2 0" ]
out=$(cget myapp.com --http2 -o /dev/null -w '%{http_version}' https://myapp.com/)
sl_check "ALPN: a client offering h2 gets h2 ($out)" [ "$out" = "2" ]
out=$(cget myapp.com --http1.1 -o /dev/null -w '%{http_version}' https://myapp.com/)
sl_check "ALPN: a client offering only http/1.1 gets it ($out)" [ "$out" = "1.1" ]
out=$(cget myapp.com --http1.1 -o /dev/null -o /dev/null -w '%{num_connects} %{http_code}\n' https://myapp.com/1 https://myapp.com/2 | tr '\n' ' ')
sl_check "keep-alive over TLS: two requests, one connection ($out)" [ "$out" = "1 200 0 200 " ]
head -c 300000 /dev/zero | tr '\0' a >"$SL_TMP/big"
out=$(cget myapp.com --data-binary "@$SL_TMP/big" https://myapp.com/post)
sl_check "a 300 KB request body crosses TLS records whole ($out)" [ "$out" = "v1 POST /post 300000" ]

# ---- SNI: two servers on 443, each with its certificate -------------------
issuer() { echo | openssl s_client -connect "$HX_IP:443" -servername "$1" 2>/dev/null |
	openssl x509 -noout -subject 2>/dev/null; }
out=$(issuer other.example)
sl_check "SNI other.example gets the other.example certificate ($out)" grep -q 'CN *= *other.example' <<<"$out"
out=$(cget other.example https://other.example/)
sl_check "... and is routed over it ($out)" [ "$out" = "v1 GET / 0" ]
out=$(cget myapp.com -H 'Host: other.example' -o /dev/null -w '%{http_code}' https://myapp.com/)
sl_check "a Host outside the server SNI picked is misdirected: 421 ($out)" [ "$out" = 421 ]
out=$(curl -s -m 5 -k -H 'Host: other.example' "https://$HX_IP/")
sl_check "without SNI, any host of the port is routed ($out)" [ "$out" = "v1 GET / 0" ]
out=$(issuer myapp.com)
sl_check "SNI myapp.com gets the myapp.com certificate ($out)" grep -q 'CN *= *myapp.com' <<<"$out"
out=$(curl -s -m 5 -k --resolve "nobody.example:443:$HX_IP" -o /dev/null -w '%{http_code}' https://nobody.example/)
sl_check "a server name no server covers fails the handshake ($out)" [ "$out" = "000" ]

# ---- TLS 1.0 refused; 1.2 and 1.3 spoken -----------------------------------
# SECLEVEL=0: the client's own OpenSSL would refuse TLS 1.0 before asking
echo | openssl s_client -connect "$HX_IP:443" -servername myapp.com -tls1 \
	-cipher 'DEFAULT:@SECLEVEL=0' >"$SL_TMP/tls1.out" 2>&1
sl_check "a client offering only TLS 1.0 is refused by the server (protocol_version alert)" \
	grep -q 'alert protocol version' "$SL_TMP/tls1.out"
sl_check "... and no TLS 1.0 session is made (no certificate sent, cipher NONE)" \
	grep -q 'Cipher is (NONE)' "$SL_TMP/tls1.out"
out=$(cget myapp.com --tlsv1.2 --tls-max 1.2 -o /dev/null -w '%{http_code}' https://myapp.com/)
sl_check "TLS 1.2 served ($out)" [ "$out" = 200 ]
out=$(cget myapp.com --tlsv1.3 -o /dev/null -w '%{http_code}' https://myapp.com/)
sl_check "TLS 1.3 served ($out)" [ "$out" = 200 ]

# ---- a certificate replaced on disk ---------------------------------------
serial() { echo | openssl s_client -connect "$HX_IP:443" -servername myapp.com 2>/dev/null |
	openssl x509 -noout -serial 2>/dev/null; }
want1=$(openssl x509 -noout -serial -in "$C/myapp.crt")
want2=$(openssl x509 -noout -serial -in "$C/myapp2.crt")
sl_check "before: the first myapp.com certificate is served" [ "$(serial)" = "$want1" ]
cp "$C/myapp2.key" "$C/tls.key.new" && cp "$C/myapp2.crt" "$C/tls.crt.new"
mv "$C/tls.key.new" "$C/tls.key" && mv "$C/tls.crt.new" "$C/tls.crt"
sleep 1.2	# files are looked at on a handshake at most once a second
serial >/dev/null	# this handshake notices the change
out=$(serial)
sl_check "a certificate replaced on disk is served to the next handshakes ($out)" [ "$out" = "$want2" ]
out=$(cget myapp.com https://myapp.com/)
sl_check "... and verifies and routes ($out)" [ "$out" = "v1 GET / 0" ]
echo "not a certificate" >"$C/tls.crt"
sleep 1.2
serial >/dev/null
out=$(serial)
sl_check "a broken new file keeps the previous certificate ($out)" [ "$out" = "$want2" ]
sl_check "... and is logged" grep -q "does not load.*keeping the previous one" "$SL_TMP/proxy.log"

# ---- httpsRedirect on the plain HTTP server -------------------------------
out=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: myapp.com' "http://$HX_IP:80/x?y=1")
sl_check "httpsRedirect: 301 to https://myapp.com/x?y=1 ($out)" [ "$out" = "301 https://myapp.com/x?y=1" ]

# ---- handshake time-out, counted ------------------------------------------
exec 7<>"/dev/tcp/$HX_IP/443"
sleep 2.5
out=$(timeout 3 cat <&7 | wc -c; echo "rc=${PIPESTATUS[0]}")
out=$(echo $out)
exec 7<&-
sl_check "a connection that never completes a handshake is closed after the time-out ($out)" \
	[ "$out" = "0 rc=0" ]
m=$(hx_metrics_dump)
sl_check "... and rejected connections are counted as tls-handshake" \
	grep -Eq '^sluice_http_connections_rejected_total\{reason="tls-handshake"\} [1-9]' <<<"$m"
# ---- a reload naming a certificate that does not load changes nothing ----
cp "$C/myapp2.crt" "$C/tls.crt"	# the pair on disk loads again
sed -i "s|serverCertificate: $C/other.crt|serverCertificate: $C/missing.crt|" "$P"
kill -HUP "$HX_PID"
sl_wait_for 5 grep -q "reload refused" "$SL_TMP/proxy.log"
sl_check "a reload whose certificate file is missing is refused, with the file named" \
	bash -c "grep -q 'reload refused' '$SL_TMP/proxy.log' && grep -q 'missing.crt' '$SL_TMP/proxy.log'"
out=$(issuer other.example)
sl_check "... and the running policy keeps serving other.example ($out)" grep -q 'CN *= *other.example' <<<"$out"
kill -0 "$HX_PID" 2>/dev/null
sl_check "sluice-http is still running" [ $? -eq 0 ]
sl_done
