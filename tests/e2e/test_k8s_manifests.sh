#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Kubernetes manifests as files (issue 12, first step: the front-end): a
# folder with a Namespace, two Deployments, a Service, its EndpointSlice,
# the Pods as `kubectl get pods -o yaml` prints them (kind: List), a
# DestinationRule whose subsets select the pods' version labels and a
# VirtualService with 90/10 weights validates as it is (the kinds without
# addresses skipped with an info line each), applies, and routes through the
# Service's cluster IP; a terminating endpoint takes no new connection while
# an established one to it keeps working; a Service and a ServiceEntry for
# one host are refused with both positions; sourceLabels match client Pods
# by their cgroups, found by pod UID in kubelet's systemd and cgroupfs
# layouts (sluiced --kubelet-cgroup-root points at this test's cgroup).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
REL="sluice-test-$SL_ID/client"
dl_start --kubelet-cgroup-root "$REL" || { echo "Bail out! sluiced did not start"; exit 1; }
M=$SL_TMP/manifests
mkdir -p "$M"
cat >"$M/00-namespace.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: shop}
YAML
for v in 1 2; do
	cat >"$M/10-deploy-v$v.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart-v$v, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: cart, version: v$v}}
  template:
    metadata: {labels: {app: cart, version: v$v}}
    spec: {containers: [{name: cart, image: cart:$v, ports: [{name: tcp-cart, containerPort: 9000}]}]}
YAML
done
cat >"$M/20-service.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec:
  type: ClusterIP
  clusterIP: 10.96.0.30
  clusterIPs: [10.96.0.30]
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
  selector: {app: cart}
  sessionAffinity: None
  internalTrafficPolicy: Cluster
  ports: [{name: tcp-cart, port: 7000, targetPort: tcp-cart, protocol: TCP}]
YAML
slice() {	# slice V2_TERMINATING
	cat <<YAML
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: cart-x7k2p
  namespace: shop
  labels: {kubernetes.io/service-name: cart, endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io}
addressType: IPv4
ports: [{name: tcp-cart, port: 9000, protocol: TCP}]
endpoints:
- addresses: [10.1.0.1]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node-a
  targetRef: {kind: Pod, name: cart-v1-5d9c7, namespace: shop}
- addresses: [10.1.0.2]
  conditions: {ready: $([ "$1" = true ] && echo false || echo true), serving: true, terminating: $1}
  nodeName: node-a
  targetRef: {kind: Pod, name: cart-v2-8f2b1, namespace: shop}
YAML
}
slice false >"$M/30-endpointslice.yaml"
cat >"$M/40-pods.yaml" <<'YAML'
apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: cart-v1-5d9c7
    namespace: shop
    uid: 6c1f0a52-1111-4c8e-9d0b-0f6a8f1c0001
    labels: {app: cart, version: v1, pod-template-hash: 5d9c7}
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: cart-v1-5d9c7, uid: x}]
  spec: {nodeName: node-a, containers: [{name: cart, image: "cart:1"}]}
  status: {phase: Running, podIP: 10.1.0.1, podIPs: [{ip: 10.1.0.1}]}
- apiVersion: v1
  kind: Pod
  metadata:
    name: cart-v2-8f2b1
    namespace: shop
    uid: 6c1f0a52-2222-4c8e-9d0b-0f6a8f1c0002
    labels: {app: cart, version: v2, pod-template-hash: 8f2b1}
  spec: {nodeName: node-a, containers: [{name: cart, image: "cart:2"}]}
  status: {phase: Running, podIP: 10.1.0.2, podIPs: [{ip: 10.1.0.2}]}
YAML
dr() {	# the DestinationRule: subsets by the pods' version label
	cat <<'YAML'
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: cart, namespace: shop}
spec:
  host: cart
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
YAML
}
vs() {	# vs W1 W2: the DestinationRule and a VirtualService with those weights
	dr
	cat <<YAML
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart, namespace: shop}
spec:
  hosts: [cart]
  tcp:
  - route:
    - {destination: {host: cart, subset: v1}, weight: $1}
    - {destination: {host: cart, subset: v2}, weight: $2}
YAML
}
vs 90 10 >"$M/50-routing.yaml"

out=$("$CTL" validate -f "$M" 2>&1)
sl_check "the manifest folder validates as it is (exit 0)" "$CTL" validate -q -f "$M"
sl_log "$(grep -c 'info\[SL0014\]' <<<"$out") info lines"
sl_check "one info line per kind without addresses (Namespace, 2 Deployments)" \
	[ "$(grep -c 'info\[SL0014\]' <<<"$out")" = 3 ]
sl_check "no warning" sh -c "! grep -q 'warning\\[' <<'E'
$out
E"
sl_check "and applies" ctl apply -q -f "$M"

to_vip() { sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client 10.96.0.30:7000 "$@"; }
line=$(to_vip -n 1000)
sl_log "90/10 through the cluster IP: $line"
one=$(dl_field "$line" one) two=$(dl_field "$line" two)
sl_check "90/10 over the pods' version labels, named targetPort resolved (v2: $two of 1000)" \
	[ "$(dl_field "$line" fail)" = 0 ] && [ "$((one + two))" = 1000 ] && [ "$two" -ge 55 ] && [ "$two" -le 150 ]

# v2 everything, hold a connection to it, then v2 terminates
vs 0 100 >"$M/50-routing.yaml"
ctl apply -q -f "$M"
to_vip --hold 3000 >"$SL_TMP/hold.out" 2>&1 &
hold=$!
sl_defer "kill $hold"
sl_wait_for 5 grep -q "hold connected" "$SL_TMP/hold.out"
vs 50 50 >"$M/50-routing.yaml"
slice true >"$M/30-endpointslice.yaml"
sl_check "the EndpointSlice with v2 terminating applies" ctl apply -q -f "$M"
line=$(to_vip -n 300)
sl_log "v2 terminating: $line"
sl_check "a terminating endpoint takes no new connection (all 300 on v1)" \
	[ "$(dl_field "$line" one)" = 300 ]
wait "$hold"
sl_log "held: $(tail -1 "$SL_TMP/hold.out")"
sl_check "the connection established to it keeps working" grep -q "changes=0 word=two" "$SL_TMP/hold.out"

# --- sourceLabels by pod cgroup, no annotation ---
U1=7f1c2a90-aaaa-4b1e-8c1d-000000000001
U2=7f1c2a90-bbbb-4b1e-8c1d-000000000002
P1="$CG/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U1//-/_}.slice"
P2="$CG/kubepods/besteffort/pod$U2"
mkdir -p "$P1" "$P2"
# cleanup runs last-deferred first: parents deferred before their children
for d in "$CG/kubepods" "$CG/kubepods/besteffort" "$P2" "$CG/kubepods.slice" \
	 "$CG/kubepods.slice/kubepods-burstable.slice" "$P1"; do
	sl_defer "sl_kill_cgroup '$d'; rmdir '$d'"
done
cat >"$M/60-frontend.yaml" <<YAML
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: frontend-v1-aaaa, namespace: shop, uid: $U1, labels: {app: frontend, version: v1}}
  spec: {nodeName: node-a, containers: [{name: fe, image: "fe:1"}]}
  status: {phase: Running, podIP: 10.2.0.1}
- apiVersion: v1
  kind: Pod
  metadata: {name: frontend-v2-bbbb, namespace: shop, uid: $U2, labels: {app: frontend, version: v2}}
  spec: {nodeName: node-a, containers: [{name: fe, image: "fe:2"}]}
  status: {phase: Running, podIP: 10.2.0.2}
YAML
slice false >"$M/30-endpointslice.yaml"
{ dr; cat <<'YAML'
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart, namespace: shop}
spec:
  hosts: [cart]
  tcp:
  - match: [{sourceLabels: {version: v2}}]
    route: [{destination: {host: cart, subset: v2}}]
  - route: [{destination: {host: cart, subset: v1}}]
YAML
} >"$M/50-routing.yaml"
sl_check "the mesh VirtualService with sourceLabels over Pods validates without a warning" \
	sh -c "! '$CTL' validate -f '$M' 2>&1 | grep -q 'warning\['"
sl_check "and applies" ctl apply -q -f "$M"
from_pod() { sl_in_cgroup_ns "$1" "$NS" "$CONNBENCH" client 10.96.0.30:7000 -n 100; }
line=$(from_pod "$P2")
sl_log "from frontend-v2's pod cgroup (cgroupfs layout): $line"
sl_check "a client in frontend-v2's pod cgroup reaches v2 (100 of 100)" [ "$(dl_field "$line" two)" = 100 ]
line=$(from_pod "$P1")
sl_log "from frontend-v1's pod cgroup (systemd layout): $line"
sl_check "a client in frontend-v1's pod cgroup reaches v1 (100 of 100)" [ "$(dl_field "$line" one)" = 100 ]

# a Service and a ServiceEntry for one host
cat >"$SL_TMP/dup.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cart-se, namespace: shop}
spec:
  hosts: [cart.shop.svc.cluster.local]
  ports: [{number: 7000, name: tcp, protocol: TCP}]
YAML
out=$("$CTL" validate -f "$M" -f "$SL_TMP/dup.yaml" 2>&1)
sl_log "$(grep SL0110 <<<"$out")"
sl_check "a Service and a ServiceEntry for one host: refused naming both positions" \
	grep -qE "error\[SL0110\]: host cart.shop.svc.cluster.local of (Service|ServiceEntry) .* is already defined by (Service|ServiceEntry) .* \(at .*:[0-9]+:[0-9]+\)" <<<"$out"
sl_done
