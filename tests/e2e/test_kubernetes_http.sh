#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The field guide's canary on Kubernetes, end to end through the API
# server: policies/examples/k8s-canary as written (a Namespace, two
# Deployments, the Service, its EndpointSlice and Pods, a DestinationRule,
# a VirtualService with a header route and 90/10 weights), with only the
# pod addresses moved onto this test's backends, served by the API-server
# simulator; sluiced --kubernetes sends the Service's HTTP to sluice-http,
# which routes end-user: jason to v2 and splits everyone else 90/10.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

PY=python3
$PY -c 'import yaml' 2>/dev/null || PY=/usr/bin/python3
$PY -c 'import yaml' 2>/dev/null || { echo "Bail out! no python3 yaml module (make deps)"; exit 1; }
dl_setup_helper
dl_web_backends "$NS" || { echo "Bail out! web backends did not start"; exit 1; }
dl_kube_sim
# the example's objects, pods on this test's backends (10.1.0.x:8080), as the
# JSON the simulator serves; the kinds it does not serve are left out
for f in "$SL_ROOT"/policies/examples/k8s-canary/*.yaml; do cat "$f"; echo '---'; done |
	sed -e 's/10\.244\.13\.11/10.1.0.1/; s/10\.244\.13\.12/10.1.0.2/; s/port: 9080, protocol: TCP/port: 8080, protocol: TCP/' |
	$PY -c '
import json, sys, yaml
out = []
for d in yaml.safe_load_all(sys.stdin):
    if not d:
        continue
    for o in (d["items"] if d.get("kind") == "List" else [d]):
        if o["kind"] in ("Service", "EndpointSlice", "Pod", "DestinationRule", "VirtualService"):
            out.append(o)
print(json.dumps(out))' | ctlsim put >/dev/null
DL_HELPER=1 dl_start --kubernetes --kubeconfig "$KUBECONFIG_SIM" ||
	{ echo "Bail out! sluiced did not start"; cat "$DL_LOG"; exit 1; }
helper_running() { ctl status -o json | jq -e '.helper == "running" and .services >= 1' >/dev/null; }
sl_check "the cluster's objects applied, sluice-http running for the VirtualService" \
	sl_wait_for 20 helper_running
get() { sl_in_cgroup_ns "$CG" "$NS" curl -s -m 3 "$@" http://10.96.13.10:9080/; }
ready() { [ -n "$(get)" ]; }
sl_wait_for 10 ready
sl_check "end-user: jason -> reviews v2 (the header route)" [ "$(get -H 'end-user: jason')" = "web v2" ]
v2=0 v1=0
for i in $(seq 1 200); do
	case $(get) in "web v1") v1=$((v1 + 1)) ;; "web v2") v2=$((v2 + 1)) ;; esac
done
sl_log "everyone else, 200 requests: v1=$v1 v2=$v2"
sl_check "everyone else 90/10 (v2: $v2 of 200)" [ $((v1 + v2)) = 200 ] && [ "$v2" -ge 5 ] && [ "$v2" -le 40 ]
sl_done
