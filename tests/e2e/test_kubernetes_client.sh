#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# How sluiced --kubernetes talks to the API server, against the API-server
# SIMULATOR (tools/kube_apiserver_sim.py, with --client-ca). Lists come
# in pages (limit/continue): 1,200 Pods are all held after a relist read
# them 500 at a time. Authentication: a kubeconfig with a
# client certificate and key inline (client-certificate-data and
# client-key-data, the CA as certificate-authority-data; no token) lists,
# watches and steers; a certificate of another CA is refused by the server
# (its TLS handshake fails, as with a real API server), which status names, and nothing is applied; a kubeconfig whose user
# runs an exec credential plugin is refused at start with a message saying
# what to give instead.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
dl_kube_sim
cat <<'JSON' | ctlsim put >/dev/null
[{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "cart", "namespace": "shop"},
  "spec": {"clusterIP": "10.96.0.40", "clusterIPs": ["10.96.0.40"], "selector": {"app": "cart"},
           "ports": [{"name": "tcp", "port": 7000, "targetPort": 9000}]}},
 {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
  "metadata": {"name": "cart-x", "namespace": "shop", "labels": {"kubernetes.io/service-name": "cart"}},
  "addressType": "IPv4", "ports": [{"name": "tcp", "port": 9000}],
  "endpoints": [{"addresses": ["10.1.0.1"], "conditions": {"ready": true}}]}]
JSON
unauth() { sl_in_ns "$NS" curl -s http://127.0.0.1:6444/stats | jq .unauthorized; }

# a client certificate, everything inline
dl_start --kubernetes --kubeconfig "$KUBECONFIG_SIM_CERT" ||
	{ echo "Bail out! sluiced did not start"; cat "$DL_LOG"; exit 1; }
synced() { ctl status -o json | jq -e '(.kubernetes_resources | all(.synced)) and .services >= 1' >/dev/null; }
sl_check "a client certificate (kubeconfig *-data, no token) lists and watches every resource" \
	sl_wait_for 15 synced
sl_check "the server saw no unauthenticated request" [ "$(unauth)" = 0 ]
line=$(sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client 10.96.0.40:7000 -n 50)
sl_check "and the cluster's Service steers (0 failed)" \
	[ "$(dl_field "$line" fail)" = 0 ] && [ "$(dl_field "$line" one)" = 50 ]

# paging: 1,200 Pods, then a compaction: the relist reads them in pages
python3 -c '
import json
print(json.dumps([{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p%d" % i, "namespace": "load", "labels": {"app": "x"}},
                   "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Running", "podIP": "10.9.%d.%d" % (i // 250, i % 250 + 1)}}
                  for i in range(1200)]))' | ctlsim put >/dev/null
pods() { ctl status -o json | jq -r '.kubernetes_resources[] | select(.path == "/api/v1/pods") | .objects'; }
sl_wait_for 10 sh -c "[ \"\$('$CTL' --socket '$SL_SOCK' status -o json | jq -r '.kubernetes_resources[] | select(.path == \"/api/v1/pods\") | .objects')\" -ge 1200 ]"
podlists() { sl_in_ns "$NS" curl -s http://127.0.0.1:6444/stats | jq '."list /api/v1/pods"'; }
lists0=$(podlists)
ctlsim compact </dev/null >/dev/null
relisted() { [ "$(ctl status -o json | jq -r '.kubernetes_resources[] | select(.path == "/api/v1/pods") | .lists')" -ge 2 ]; }
sl_wait_for 10 relisted
lists1=$(podlists)
sl_check "a relist reads 1,200 Pods in pages of 500 ($((lists1 - lists0)) requests), all held ($(pods))" \
	[ $((lists1 - lists0)) = 3 ] && [ "$(pods)" = 1200 ]
kill "$DL_PID"
wait "$DL_PID" 2>/dev/null

# a certificate the server's CA did not sign: the handshake fails, named in status
k=$SL_TMP/kube
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=intruder" \
	-keyout "$k/other.key" -out "$k/other.crt" 2>/dev/null
sed -e "s|client-certificate-data: [^,]*|client-certificate-data: $(base64 -w0 "$k/other.crt")|" \
	-e "s|client-key-data: [^}]*|client-key-data: $(base64 -w0 "$k/other.key")|" \
	"$KUBECONFIG_SIM_CERT" >"$k/kubeconfig-other"
dl_start --kubernetes --kubeconfig "$k/kubeconfig-other" ||
	{ echo "Bail out! sluiced did not start"; cat "$DL_LOG"; exit 1; }
refused() { ctl status -o json | jq -e '[.kubernetes_resources[].error] | any(test("refuse the client certificate"))' >/dev/null; }
sl_check "a certificate of another CA: the server drops the TLS session, status says the certificate was likely refused" \
	sl_wait_for 15 refused
sl_check "and nothing is applied from it (not synced, the last state kept)" \
	sh -c "'$CTL' --socket '$SL_SOCK' status -o json | jq -e '.kubernetes_resources | all(.synced | not)' >/dev/null"
kill "$DL_PID"
wait "$DL_PID" 2>/dev/null

# an exec credential plugin: refused at start, saying what to give
cat >"$k/kubeconfig-exec" <<YAML
apiVersion: v1
kind: Config
current-context: c
clusters: [{name: s, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: aws}}}]
contexts: [{name: c, context: {cluster: s, user: u}}]
YAML
out=$(sl_in_ns "$NS" "$SLUICED" --kubernetes --kubeconfig "$k/kubeconfig-exec" --policy-dir "$DL_POL" \
	--cgroup "$CG" --bpffs "$SL_BPFFS" --socket "$SL_TMP/exec.sock" --state-dir "$SL_TMP/exec-state" \
	--no-http-helper 2>&1)
rc=$?
sl_log "exec plugin: $out"
sl_check "an exec credential plugin is refused at start, naming what to give instead" \
	[ "$rc" != 0 ] && grep -q "exec and auth-provider credential plugins are not supported; give a token" <<<"$out"
sl_done
