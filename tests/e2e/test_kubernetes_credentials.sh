#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Gateway tls.credentialName from a Kubernetes Secret, end to end: sluiced
# --kubernetes against the API-server simulator (tools/kube_apiserver_sim.py)
# serving a kubernetes.io/tls Secret, a ServiceEntry, DestinationRule,
# Gateway (credentialName) and VirtualService; sluice-http terminates HTTPS
# with the Secret's certificate (checked by curl against the test CA) and
# routes a header route and the default route; the Secret's files are 0600
# in 0700 directories and an Opaque Secret is not read (field selector); a
# MUTUAL server takes its client CA from the Secret's ca.crt; the Secret
# updated in the API server is served to a later handshake without an
# apply; a Gateway naming a Secret that does not exist is left out with its
# name, position and the Secret named, the rest keeps working, and it is
# applied once the Secret arrives; a deleted Secret's files are removed.
# With RBAC granting no Secrets (403) the rest of the cluster still applies;
# without --kubernetes, credentialName is refused at apply at its line:col.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

command -v openssl >/dev/null && command -v curl >/dev/null || { echo "Bail out! openssl and curl needed"; exit 1; }
dl_setup_helper
dl_web_backends "$NS" || { echo "Bail out! web backends did not start"; exit 1; }
dl_kube_sim

C="$SL_TMP/certs"
mkdir -p "$C"
sl_mkca "$C" ca && sl_mkcert "$C" ca web web.example DNS:web.example &&
	sl_mkcert "$C" ca web2 web.example DNS:web.example &&
	sl_mkcert "$C" ca late late.example DNS:late.example &&
	sl_mkcert "$C" ca client client.example DNS:client.example ||
	{ echo "Bail out! openssl could not make the test certificates"; exit 1; }

secret() {	# secret NAME CERT-BASENAME [TYPE [CA-BASENAME]]: the Secret as the API server serves it
	local ca=""
	[ -n "${4:-}" ] && ca=", \"ca.crt\": \"$(base64 -w0 "$C/$4.crt")\""
	printf '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "%s", "namespace": "edge"},
 "type": "%s", "data": {"tls.crt": "%s", "tls.key": "%s"%s}}' "$1" "${3:-kubernetes.io/tls}" \
		"$(base64 -w0 "$C/$2.crt")" "$(base64 -w0 "$C/$2.key")" "$ca"
}
{
	echo '['
	secret web-cert web
	echo ','
	secret db-password web Opaque
	echo ','
	cat <<'JSON'
{"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry", "metadata": {"name": "web", "namespace": "edge"},
 "spec": {"hosts": ["web.edge.svc.cluster.local"], "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
          "resolution": "STATIC", "endpoints": [
   {"address": "10.1.0.1", "ports": {"http": 8080}, "labels": {"version": "v1"}},
   {"address": "10.1.0.2", "ports": {"http": 8080}, "labels": {"version": "v2"}}]}},
{"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "web", "namespace": "edge"},
 "spec": {"host": "web.edge.svc.cluster.local", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                                          {"name": "v2", "labels": {"version": "v2"}}]}},
{"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": "edge"},
 "spec": {"servers": [{"port": {"number": 8443, "name": "https", "protocol": "HTTPS"}, "hosts": ["web.example"],
                       "tls": {"mode": "SIMPLE", "credentialName": "web-cert"}}]}},
{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "web", "namespace": "edge"},
 "spec": {"hosts": ["web.example"], "gateways": ["gw"], "http": [
   {"match": [{"headers": {"x-canary": {"exact": "yes"}}}],
    "route": [{"destination": {"host": "web.edge.svc.cluster.local", "subset": "v2"}}]},
   {"route": [{"destination": {"host": "web.edge.svc.cluster.local", "subset": "v1"}}]}]}}
]
JSON
} | ctlsim put >/dev/null

DL_HELPER=1 dl_start --kubernetes --kubeconfig "$KUBECONFIG_SIM" --http-gateway-addr 127.0.0.1 ||
	{ echo "Bail out! sluiced did not start"; cat "$DL_LOG"; exit 1; }
helper_running() { ctl status -o json | jq -e '.helper == "running" and (.kubernetes_resources | all(.synced))' >/dev/null; }
sl_check "Secrets listed with the other resources, the Gateway applied, sluice-http running" \
	sl_wait_for 20 helper_running

CD="$DL_STATE/credentials"
sl_check "the Secret's files: tls.crt and tls.key decoded as the PEM given" \
	cmp -s "$CD/edge/web-cert/tls.crt" "$C/web.crt" && cmp -s "$CD/edge/web-cert/tls.key" "$C/web.key"
sl_check "files 0600, directories 0700" \
	[ "$(stat -c %a "$CD/edge/web-cert/tls.key" "$CD/edge/web-cert/tls.crt" "$CD/edge/web-cert" "$CD/edge" "$CD" | sort -u | tr '\n' ' ')" = "600 700 " ]
sl_check "an Opaque Secret is not read (fieldSelector type=kubernetes.io/tls)" [ ! -e "$CD/edge/db-password" ]
sl_check "the status lists the Secrets resource" \
	sh -c "'$CTL' --socket '$SL_SOCK' status -o json | jq -e '.kubernetes_resources | any(.path == \"/api/v1/secrets\" and .objects == 1)' >/dev/null"

web() { sl_in_ns "$NS" curl -s -m 3 --cacert "$C/ca.crt" --resolve web.example:8443:127.0.0.1 "$@" https://web.example:8443/; }
ready() { [ "$(web)" = "web v1" ]; }
sl_check "HTTPS with the Secret's certificate, verified against the test CA: default route -> v1" \
	sl_wait_for 10 ready
sl_check "x-canary: yes -> v2 over the same TLS" [ "$(web -H 'x-canary: yes')" = "web v2" ]

served() {	# the SHA-256 fingerprint of the certificate served for SNI $1 on port $2
	sl_in_ns "$NS" sh -c "openssl s_client -connect 127.0.0.1:$2 -servername $1 </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256" 2>/dev/null
}
fp() { openssl x509 -noout -fingerprint -sha256 -in "$1"; }
sl_check "the served certificate is the Secret's" [ "$(served web.example 8443)" = "$(fp "$C/web.crt")" ]

# MUTUAL: the client CA from the same Secret's ca.crt
{
	echo '['
	secret mtls-cert web kubernetes.io/tls ca
	echo ','
	cat <<'JSON'
{"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "mtls", "namespace": "edge"},
 "spec": {"servers": [{"port": {"number": 8444, "name": "https-m", "protocol": "HTTPS"}, "hosts": ["web.example"],
                       "tls": {"mode": "MUTUAL", "credentialName": "mtls-cert"}}]}},
{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "web", "namespace": "edge"},
 "spec": {"hosts": ["web.example"], "gateways": ["gw", "mtls"], "http": [
   {"match": [{"headers": {"x-canary": {"exact": "yes"}}}],
    "route": [{"destination": {"host": "web.edge.svc.cluster.local", "subset": "v2"}}]},
   {"route": [{"destination": {"host": "web.edge.svc.cluster.local", "subset": "v1"}}]}]}}
]
JSON
} | ctlsim put >/dev/null
mtls() { sl_in_ns "$NS" curl -s -m 3 --cacert "$C/ca.crt" --resolve web.example:8444:127.0.0.1 "$@" https://web.example:8444/; }
mtls_up() { [ "$(mtls --cert "$C/client.crt" --key "$C/client.key")" = "web v1" ]; }
sl_check "MUTUAL with credentialName: a client certificate of the Secret's ca.crt is accepted and routed" \
	sl_wait_for 10 mtls_up
sl_check "  ... ca.crt written beside the key" cmp -s "$CD/edge/mtls-cert/ca.crt" "$C/ca.crt"
sl_check "  ... a client without a certificate fails the handshake" sh -c "! $(printf '%q ' nsenter --net="/run/netns/$NS" curl -s -m 3 --cacert "$C/ca.crt" --resolve web.example:8444:127.0.0.1 https://web.example:8444/) >/dev/null"

# the Secret changes in the API server: new files, the next handshakes serve it
gen=$(dl_gen)
{ echo '['; secret web-cert web2; echo ']'; } | ctlsim put >/dev/null
new_cert() { [ "$(served web.example 8443)" = "$(fp "$C/web2.crt")" ]; }
sl_check "the Secret updated in the API server is served to a later handshake" sl_wait_for 10 new_cert
sl_check "  ... without a new generation (sluice-http re-read the files)" [ "$(dl_gen)" = "$gen" ]
sl_check "  ... and routes as before" [ "$(web)" = "web v1" ]

# a Gateway naming a Secret that does not exist: left out, named, positioned
{
	echo '['
	cat <<'JSON'
{"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "late", "namespace": "edge"},
 "spec": {"servers": [{"port": {"number": 9443, "name": "https", "protocol": "HTTPS"}, "hosts": ["late.example"],
                       "tls": {"mode": "SIMPLE", "credentialName": "late-cert"}}]}}
]
JSON
} | ctlsim put >/dev/null
left_out() { grep -q "kubernetes: kubernetes:/apis/networking.istio.io/v1/gateways/edge/late left out: kubernetes:/apis/networking.istio.io/v1/gateways/edge/late:1:[0-9]*: error\[SL0009\]: Gateway edge/late port 9443: credentialName late-cert: no Secret edge/late-cert" "$DL_LOG"; }
sl_check "a Gateway naming a missing Secret is left out, its name, position and the Secret in the log" \
	sl_wait_for 10 left_out
sl_log "$(grep -m1 'gateways/edge/late left out' "$DL_LOG")"
sl_check "  ... the rest keeps working" [ "$(web -H 'x-canary: yes')" = "web v2" ]
late_code() { sl_in_ns "$NS" curl -s -o /dev/null -w '%{http_code}' -m 3 --cacert "$C/ca.crt" \
	--resolve late.example:9443:127.0.0.1 https://late.example:9443/; }
sl_check "  ... and nothing listens on its port" [ "$(late_code)" = 000 ]
{ echo '['; secret late-cert late; echo ']'; } | ctlsim put >/dev/null
late_up() { c=$(late_code); [ "$c" != 000 ]; }
sl_check "the Secret arriving applies the Gateway left out: its port answers over TLS with the Secret's certificate" \
	sl_wait_for 10 late_up
sl_log "late.example:9443 answers HTTP $(late_code) (no route bound: the TLS handshake verified)"

# the Secret deleted: its files go
echo '[{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "late-cert", "namespace": "edge"}}]' |
	ctlsim delete >/dev/null
gone() { [ ! -e "$CD/edge/late-cert" ]; }
sl_check "a deleted Secret's directory is removed" sl_wait_for 5 gone
sl_check "no temporary file left beside the Secret's files" \
	[ -z "$(find "$CD" -name '.*.tmp')" ]

# RBAC without Secrets (the rule removed): sluiced restarted reads the rest;
# the Gateways naming Secrets are left out, and what is bound to them
echo /api/v1/secrets | ctlsim forbid >/dev/null
kill -TERM "$DL_PID"
sl_check "sluiced stopped" sl_wait_for 5 bash -c "! kill -0 $DL_PID 2>/dev/null"
DL_HELPER=1 dl_start --kubernetes --kubeconfig "$KUBECONFIG_SIM" --http-gateway-addr 127.0.0.1 ||
	{ echo "Bail out! sluiced did not start again"; cat "$DL_LOG"; exit 1; }
forbidden() { ctl status -o json | jq -e '.kubernetes_resources[] | select(.path == "/api/v1/secrets") |
	.synced and (.served | not) and (.error | test("HTTP 403"))' >/dev/null; }
sl_check "Secrets forbidden (403): shown not served, with the error" sl_wait_for 15 forbidden
sl_log "$(ctl status | grep '/api/v1/secrets')"
gw_out() { grep -q "gateways/edge/gw left out: .*error\[SL0009\]: Gateway edge/gw port 8443: credentialName web-cert: no Secret edge/web-cert" "$DL_LOG"; }
sl_check "the Gateway naming a Secret is left out, the Secret named" sl_wait_for 10 gw_out
sl_check "  ... and the VirtualService bound to it, for the gateway it names" \
	grep -q "virtualservices/edge/web left out: .*error\[SL0108\]" "$DL_LOG"
rest_in() { "$CTL" --socket "$SL_SOCK" get objects -o json |
	jq -e 'any(.[]; .kind == "ServiceEntry" and .name == "web") and all(.[]; .kind != "Gateway")' >/dev/null; }
sl_check "  ... the rest of the cluster's objects applied" sl_wait_for 10 rest_in
sl_check "the credentials directory was emptied at start" [ -z "$(ls -A "$CD")" ]

# without the Kubernetes source: credentialName refused at apply, at its position
kill -TERM "$DL_PID"
sl_check "sluiced stopped again" sl_wait_for 5 bash -c "! kill -0 $DL_PID 2>/dev/null"
dl_start || { echo "Bail out! sluiced did not start without --kubernetes"; cat "$DL_LOG"; exit 1; }
G="$SL_TMP/gw-credential.yaml"
cat >"$G" <<'YAML'
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: files, namespace: edge}
spec:
  servers:
  - port: {number: 7443, name: https, protocol: HTTPS}
    hosts: [web.example]
    tls: {mode: SIMPLE, credentialName: web-cert}
YAML
out=$("$CTL" --socket "$SL_SOCK" apply -f "$G" 2>&1); rc=$?
sl_log "$(grep SL0007 <<<"$out")"
sl_check "without --kubernetes, credentialName is refused at apply with its position and what to do" \
	[ "$rc" = 1 ] && grep -qF "$G:8:41: error[SL0007]: Gateway edge/files port 7443: credentialName web-cert needs the Kubernetes source (it names a Secret): run sluiced with --kubernetes, or give serverCertificate/privateKey" <<<"$out"
sl_done
