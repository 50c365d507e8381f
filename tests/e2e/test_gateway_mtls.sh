#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Gateway HTTPS servers that check client certificates (tls.mode MUTUAL and
# OPTIONAL_MUTUAL, caCertificates, subjectAltNames), standalone sluice-http on
# a private loopback IP. Three servers share port 443: a SIMPLE one first (the
# server a client without SNI lands on), a MUTUAL one and an OPTIONAL_MUTUAL
# one, then a SIMPLE one for *.example, whose hosts cover the MUTUAL one's.
# A client certificate from the CA with the listed SAN is served; none,
# another CA's, or the CA's with another SAN is refused in the handshake;
# OPTIONAL_MUTUAL serves a client without one. Neither a client without SNI
# nor a TLS session resumed from the SIMPLE server, nor SNI of the *.example
# server with Host mtls.example, reaches the MUTUAL server's hosts. A CA file replaced on disk is used by the next handshakes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_common.sh"
sl_require_root
hx_require
command -v openssl >/dev/null && command -v curl >/dev/null || { echo "Bail out! openssl and curl needed"; exit 1; }

C="$SL_TMP/certs"
mkdir -p "$C"
for ca in server-ca client-ca other-ca client-ca2; do sl_mkca "$C" $ca || break; done &&
	sl_mkcert "$C" server-ca plain.example plain.example DNS:plain.example &&
	sl_mkcert "$C" server-ca mtls.example mtls.example DNS:mtls.example &&
	sl_mkcert "$C" server-ca opt.example opt.example DNS:opt.example &&
	sl_mkcert "$C" server-ca wild.example wild.example 'DNS:*.example' &&
	sl_mkcert "$C" client-ca client-a client-a URI:spiffe://test/client-a &&
	sl_mkcert "$C" client-ca client-b client-b URI:spiffe://test/client-b &&
	sl_mkcert "$C" other-ca stranger stranger URI:spiffe://test/client-a &&
	sl_mkcert "$C" client-ca2 client-a2 client-a2 URI:spiffe://test/client-a &&
	[ -s "$C/client-ca2.crt" ] ||
	{ echo "Bail out! openssl could not make the test certificates"; exit 1; }
cp "$C/client-ca.crt" "$C/clients.pem"

hx_backend v1 9101

P="$SL_TMP/policy.yaml"
cat >"$P" <<YAML
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: app, namespace: shop}
spec:
  hosts: [app.shop.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: $HX_IP, ports: {http: 9101}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  servers:
  - port: {number: 443, name: https-plain, protocol: HTTPS}
    hosts: [plain.example]
    tls: {mode: SIMPLE, serverCertificate: $C/plain.example.crt, privateKey: $C/plain.example.key}
  - port: {number: 443, name: https-mtls, protocol: HTTPS}
    hosts: [mtls.example]
    tls:
      mode: MUTUAL
      serverCertificate: $C/mtls.example.crt
      privateKey: $C/mtls.example.key
      caCertificates: $C/clients.pem
      subjectAltNames: [spiffe://test/client-a]
  - port: {number: 443, name: https-opt, protocol: HTTPS}
    hosts: [opt.example]
    tls: {mode: OPTIONAL_MUTUAL, serverCertificate: $C/opt.example.crt, privateKey: $C/opt.example.key,
          caCertificates: $C/clients.pem}
  - port: {number: 443, name: https-wild, protocol: HTTPS}
    hosts: ["*.example"]
    tls: {mode: SIMPLE, serverCertificate: $C/wild.example.crt, privateKey: $C/wild.example.key}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: shop}
spec:
  hosts: [plain.example, mtls.example, opt.example]
  gateways: [edge]
  http: [{route: [{destination: {host: app.shop.svc.cluster.local}}]}]
YAML

hx_proxy "$P" 443

# code NAME [CLIENT]: the HTTP status curl gets from https://NAME/ (000 = no
# TLS session), with CLIENT's certificate when given
code() {
	local n=$1 cl=${2:-}
	curl -s -m 5 --resolve "$n:443:$HX_IP" --cacert "$C/server-ca.crt" \
		${cl:+--cert "$C/$cl.crt" --key "$C/$cl.key"} -o /dev/null -w '%{http_code}' "https://$n/"
}

# ---- MUTUAL -----------------------------------------------------------------
out=$(code mtls.example client-a)
sl_check "MUTUAL: a client certificate from caCertificates with the listed SAN is served ($out)" [ "$out" = 200 ]
out=$(code mtls.example)
sl_check "MUTUAL: no client certificate, no TLS session ($out)" [ "$out" = 000 ]
out=$(code mtls.example stranger)
sl_check "MUTUAL: a certificate from another CA is refused ($out)" [ "$out" = 000 ]
out=$(code mtls.example client-b)
sl_check "MUTUAL: the CA's certificate with a SAN not listed is refused ($out)" [ "$out" = 000 ]
out=$(code mtls.example client-a; echo; curl -s -m 5 --resolve "mtls.example:443:$HX_IP" \
	--cacert "$C/server-ca.crt" --tlsv1.2 --tls-max 1.2 --cert "$C/client-a.crt" --key "$C/client-a.key" \
	-o /dev/null -w '%{http_code}' https://mtls.example/)
sl_check "MUTUAL over TLS 1.3 and 1.2 ($(echo $out))" [ "$(echo $out)" = "200 200" ]

# ---- OPTIONAL_MUTUAL -------------------------------------------------------
out=$(code opt.example)
sl_check "OPTIONAL_MUTUAL: a client without a certificate is served ($out)" [ "$out" = 200 ]
out=$(code opt.example client-b)
sl_check "OPTIONAL_MUTUAL: a certificate from caCertificates is served ($out)" [ "$out" = 200 ]
out=$(code opt.example stranger)
sl_check "OPTIONAL_MUTUAL: a certificate from another CA is refused ($out)" [ "$out" = 000 ]

# ---- no way around the check -----------------------------------------------
out=$(curl -s -m 5 -k -H 'Host: mtls.example' -o /dev/null -w '%{http_code}' "https://$HX_IP/")
sl_check "without SNI (on the SIMPLE server), Host mtls.example is misdirected: 421 ($out)" [ "$out" = 421 ]
out=$(curl -s -m 5 -k -H 'Host: plain.example' -o /dev/null -w '%{http_code}' "https://$HX_IP/")
sl_check "... while the SIMPLE server's own host is served ($out)" [ "$out" = 200 ]
# SNI www.example picks the *.example server (SIMPLE), whose hosts also cover
# mtls.example: that host's own server checks client certificates, so it is
# not served on a connection that skipped the check
out=$(curl -s -m 5 -k --resolve "www.example:443:$HX_IP" \
	-H 'Host: mtls.example' -o /dev/null -w '%{http_code}' https://www.example/)
sl_check "SNI of the *.example SIMPLE server, Host mtls.example is misdirected: 421 ($out)" [ "$out" = 421 ]
out=$(curl -s -m 5 -k --resolve "www.example:443:$HX_IP" \
	-H 'Host: plain.example' -o /dev/null -w '%{http_code}' https://www.example/)
sl_check "... while a host of a SIMPLE server is served there ($out)" [ "$out" = 200 ]
# sess NAME IN OUT [ARGS]: one s_client handshake to NAME, printing New/Reused
sess() {
	local n=$1 in=$2 out=$3; shift 3
	(sleep 0.5; printf 'GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$n") |
		timeout 5 openssl s_client -connect "$HX_IP:443" -servername "$n" -CAfile "$C/server-ca.crt" \
		${in:+-sess_in "$in"} ${out:+-sess_out "$out"} "$@" 2>&1 | grep -Eo '^(New|Reused),|^HTTP/1.1 [0-9]+' | tr '\n' ' '
}
for v in tls1_2 tls1_3; do
	sess plain.example "" "$SL_TMP/s-$v" -$v >/dev/null
	out=$(sess plain.example "$SL_TMP/s-$v" "" -$v)
	sl_check "$v: a session of the SIMPLE server resumes there ($out)" grep -q '^Reused,' <<<"$out"
	out=$(sess mtls.example "$SL_TMP/s-$v" "" -$v)
	sl_check "$v: ... but not on the MUTUAL server, which still asks for a certificate ($out)" \
		bash -c "! grep -q 'Reused\|HTTP/1.1 200' <<<'$out'"
done

# ---- the CA file replaced on disk ------------------------------------------
out=$(code mtls.example client-a2)
sl_check "before: a certificate of a second client CA is refused ($out)" [ "$out" = 000 ]
cat "$C/client-ca.crt" "$C/client-ca2.crt" >"$C/clients.pem.new" && mv "$C/clients.pem.new" "$C/clients.pem"
sleep 1.2	# files are looked at on a handshake at most once a second
code mtls.example client-a >/dev/null	# this handshake notices the change
out=$(code mtls.example client-a2)
sl_check "caCertificates replaced on disk: the next handshakes trust the new CA ($out)" [ "$out" = 200 ]
sl_check "... and the re-read is logged" grep -q "re-read" "$SL_TMP/proxy.log"
# a session made with the second CA's client certificate, then that CA taken
# out of the file: the session does not resume past the new check
for v in tls1_2 tls1_3; do
	sess mtls.example "" "$SL_TMP/s-a2-$v" -$v -cert "$C/client-a2.crt" -key "$C/client-a2.key" >/dev/null
	out=$(sess mtls.example "$SL_TMP/s-a2-$v" "" -$v)
	sl_check "$v: a session of the second CA's client resumes while that CA is trusted ($out)" \
		grep -q '^Reused,' <<<"$out"
done
cp "$C/client-ca.crt" "$C/clients.pem.new" && mv "$C/clients.pem.new" "$C/clients.pem"
sleep 1.2
code mtls.example client-a >/dev/null	# this handshake notices the change
out=$(code mtls.example client-a2)
sl_check "caCertificates without the second CA: its client is refused ($out)" [ "$out" = 000 ]
for v in tls1_2 tls1_3; do
	out=$(sess mtls.example "$SL_TMP/s-a2-$v" "" -$v)
	sl_check "$v: the second CA's client's session made before does not resume ($out)" \
		bash -c "! grep -q 'Reused\|HTTP/1.1 200' <<<'$out'"
done
kill -0 "$HX_PID" 2>/dev/null
sl_check "sluice-http is still running" [ $? -eq 0 ]
sl_done
