#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sluiced --kubernetes against an API-server SIMULATOR (tests/e2e/
# kube_apiserver_sim.py: HTTPS with a test CA, a bearer token, LIST and
# chunked WATCH streams, 410 Gone, dropped watches), in the node namespace:
# the Service, EndpointSlice, Pods, DestinationRule and VirtualService it
# serves route through the cluster IP; an EndpointSlice change reaches the
# kernel within a second; a dropped watch reconnects, a compacted
# resourceVersion relists (410) and so does an API server restarted on a new
# resourceVersion series, all converging; endpoint changes (a rolling
# update) apply as deltas of the live generation; a bad VirtualService from
# the API is left out, named in the log, and the rest keeps working; a
# SIGHUP with an empty policy directory leaves the cluster's objects alone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
dl_kube_sim

slice() {	# slice READY2: the EndpointSlice, v2's endpoint ready or not
	cat <<JSON
{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
 "metadata": {"name": "cart-abc", "namespace": "shop", "labels": {"kubernetes.io/service-name": "cart"}},
 "addressType": "IPv4", "ports": [{"name": "tcp-cart", "port": 9000, "protocol": "TCP"}],
 "endpoints": [
  {"addresses": ["10.1.0.1"], "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "name": "cart-v1", "namespace": "shop"}},
  {"addresses": ["10.1.0.2"], "conditions": {"ready": $1}, "targetRef": {"kind": "Pod", "name": "cart-v2", "namespace": "shop"}}]}
JSON
}
vs() {	# vs NAME SUBSET2
	cat <<JSON
{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
 "metadata": {"name": "$1", "namespace": "shop"},
 "spec": {"hosts": ["cart"], "tcp": [{"route": [
   {"destination": {"host": "cart", "subset": "v1"}, "weight": 50},
   {"destination": {"host": "cart", "subset": "$2"}, "weight": 50}]}]}}
JSON
}
{
	echo '['
	cat <<'JSON'
{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "cart", "namespace": "shop"},
 "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.30", "clusterIPs": ["10.96.0.30"], "selector": {"app": "cart"},
          "ports": [{"name": "tcp-cart", "port": 7000, "targetPort": 9000, "protocol": "TCP"}]}},
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cart-v1", "namespace": "shop", "uid": "u-1", "labels": {"app": "cart", "version": "v1"}},
 "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "cart:1"}]}, "status": {"phase": "Running", "podIP": "10.1.0.1"}},
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cart-v2", "namespace": "shop", "uid": "u-2", "labels": {"app": "cart", "version": "v2"}},
 "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "cart:2"}]}, "status": {"phase": "Running", "podIP": "10.1.0.2"}},
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client-1", "namespace": "shop", "uid": "u-9", "labels": {"app": "client"}},
 "spec": {"nodeName": "node-b", "containers": [{"name": "c", "image": "client:1"}]}, "status": {"phase": "Running", "podIP": "10.1.0.9"}},
{"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "cart", "namespace": "shop"},
 "spec": {"host": "cart", "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]},
 "status": {"observedGeneration": 1}},
JSON
	slice true
	echo ','
	vs cart v2
	echo ']'
} | ctlsim put >/dev/null

# the first URL answers nothing: sluiced moves on to the second; this is
# node-b (the cart Pods run on node-a, client-1 here)
dl_start --kubernetes --kubeconfig "$KUBECONFIG_SIM" --node-name node-b \
	--kube-apiserver https://127.0.0.1:6445,https://127.0.0.1:6443 || { echo "Bail out! sluiced did not start"; cat "$DL_LOG"; exit 1; }
synced() { ctl status -o json | jq -e '(.kubernetes_resources | all(.synced)) and .objects >= 6' >/dev/null; }
sl_check "every resource listed and the cluster's objects applied (past a dead first URL)" \
	sl_wait_for 15 synced
sl_log "$(ctl status | grep -A9 '^kubernetes_resources' | head -4)"
sl_check "Pods are held trimmed to the fields Sluice reads (no container image, node or portless container in the state file)" \
	sh -c "grep -q cart-v2 '$DL_STATE/snapshot.yaml' && ! grep -q '\"image\"\\|\"nodeName\"\\|\"containers\"' '$DL_STATE/snapshot.yaml'"
sl_check "--node-name: only the Pod of this node is a workload (a client); the others are endpoints only" \
	sh -c "'$CTL' --socket '$SL_SOCK' get workloads -o json | jq -e 'length == 1 and .[0].name == \"client-1\"' >/dev/null"
sl_check "the log names the node" grep -q "as node node-b (Pods of other nodes: endpoints only)" "$DL_LOG"
held=$(ctl status -o json | jq -c '[.kubernetes_resources[] | select(.objects > 0 and (.path | test("secrets") | not))] | [(map(.text_bytes) | add), (map(.held_bytes) | add)]')
sl_check "the objects' texts are held deflated, the state file has them as JSON (text, held: $held)" \
	sh -c "echo '$held' | jq -e '.[1] * 2 < .[0]' >/dev/null && grep -q '\"name\":\"cart-v2\",\"namespace\":\"shop\"' '$DL_STATE/snapshot.yaml'"
sl_check "get objects: the cluster's objects, source kubernetes" \
	sh -c "'$CTL' --socket '$SL_SOCK' get objects -o json | jq -e 'length >= 6 and all(.[]; .source == \"kubernetes\")' >/dev/null"
to_vip() { sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client 10.96.0.30:7000 "$@"; }
line=$(to_vip -n 400)
sl_log "50/50 from the API server's objects: $line"
sl_check "routes as the API server's VirtualService says (both versions, 0 failed)" \
	[ "$(dl_field "$line" fail)" = 0 ] && [ "$(dl_field "$line" one)" -gt 100 ] && [ "$(dl_field "$line" two)" -gt 100 ]

# an EndpointSlice change: v2 not ready
only_v1() { l=$(to_vip -n 50); [ "$(dl_field "$l" one)" = 50 ]; }
t0=$(date +%s%N)
{ echo '['; slice false; echo ']'; } | ctlsim put >/dev/null
sl_check "an EndpointSlice change reaches the kernel" sl_wait_for 5 only_v1
sl_log "EndpointSlice change to steering in $((($(date +%s%N) - t0) / 1000000)) ms (debounce 100 ms, polled)"

# watch faults: dropped, then compacted (410): both converge
ctlsim drop </dev/null >/dev/null
sleep 0.5
{ echo '['; slice true; echo ']'; } | ctlsim put >/dev/null
both() { l=$(to_vip -n 200); [ "$(dl_field "$l" two)" -gt 20 ]; }
sl_check "after a dropped watch: reconnected, the next change applies" sl_wait_for 10 both
ctlsim compact </dev/null >/dev/null
{ echo '['; slice false; echo ']'; } | ctlsim put >/dev/null
sl_check "after a compaction (410 Gone): relisted, the change applies" sl_wait_for 10 only_v1
# the API server restarts on a restored store: a new resourceVersion series,
# lower than the one held; the watch gets "too large resource version",
# sluiced relists, and the next change applies
ctlsim 'restart?base=2' </dev/null >/dev/null
sleep 0.5
{ echo '['; slice true; echo ']'; } | ctlsim put >/dev/null
sl_check "after an API-server restart on a new resourceVersion series: relisted, the change applies" \
	sl_wait_for 10 both
{ echo '['; slice false; echo ']'; } | ctlsim put >/dev/null
sl_check "and the watch from the new series goes on (the next change applies too)" \
	sl_wait_for 10 only_v1
ahead=$(sl_in_ns "$NS" curl -s http://127.0.0.1:6444/stats | jq .ahead)
sl_check "the simulator answered 'too large resource version' ($ahead watches)" [ "${ahead:-0}" -ge 1 ]
expired=$(ctl status -o json | jq '[.kubernetes_resources[].expired] | add')
sl_check "status counts the 410s ($expired)" [ "${expired:-0}" -ge 1 ]

# a bad VirtualService from the API: left out and named; the rest works
{ echo '['; vs bad v3; echo ']'; } | sed 's/"cart"\]/"cart-bad"]/' | ctlsim put >/dev/null
sl_check "a bad VirtualService is left out and named in the log" \
	sl_wait_for 10 grep -q "kubernetes: kubernetes:/apis/networking.istio.io/v1/virtualservices/shop/bad left out" "$DL_LOG"
{ echo '['; slice true; echo ']'; } | ctlsim put >/dev/null
sl_check "and the rest keeps applying (v2 ready again)" sl_wait_for 10 both

# a rolling update of v1 under load: a new pod (new IP) becomes ready, the
# old one terminates, then goes; 0 failed connections throughout
ip -n "$NS" addr add 10.1.0.3/32 dev lo
sl_bg b3 nsenter --net="/run/netns/$NS" "$CONNBENCH" serve 10.1.0.3:9000 one >/dev/null
sl_wait_for 5 sl_in_ns "$NS" "$CONNBENCH" client 10.1.0.3:9000 -n 1
roll() {	# roll STAGE: the slice with the old v1 pod ready|terminating|gone
	local old=""
	case $1 in
	ready) old='{"addresses": ["10.1.0.1"], "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "name": "cart-v1", "namespace": "shop"}},' ;;
	terminating) old='{"addresses": ["10.1.0.1"], "conditions": {"ready": false, "terminating": true}, "targetRef": {"kind": "Pod", "name": "cart-v1", "namespace": "shop"}},' ;;
	esac
	cat <<JSON
[{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
 "metadata": {"name": "cart-abc", "namespace": "shop", "labels": {"kubernetes.io/service-name": "cart"}},
 "addressType": "IPv4", "ports": [{"name": "tcp-cart", "port": 9000, "protocol": "TCP"}],
 "endpoints": [$old
  {"addresses": ["10.1.0.3"], "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "name": "cart-v1-new", "namespace": "shop"}},
  {"addresses": ["10.1.0.2"], "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "name": "cart-v2", "namespace": "shop"}}]},
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cart-v1-new", "namespace": "shop", "uid": "u-3", "labels": {"app": "cart", "version": "v1"}},
  "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "cart:1"}]}, "status": {"phase": "Running", "podIP": "10.1.0.3"}}]
JSON
}
gen0=$(dl_gen)
inc0=$(ctl status -o json | jq .incremental_applies)
sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client 10.96.0.30:7000 -d 4 -c 2 --rate 600 >"$SL_TMP/roll.out" 2>&1 &
rl=$!
sl_defer "kill $rl"
sleep 0.5
roll ready | ctlsim put >/dev/null
sleep 0.8
roll terminating | ctlsim put >/dev/null
sleep 0.8
roll gone | ctlsim put >/dev/null
echo '[{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cart-v1", "namespace": "shop"}}]' | ctlsim delete >/dev/null
wait "$rl"
line=$(grep '^conns=' "$SL_TMP/roll.out")
sl_log "rolling update under load: $line"
sl_check "a rolling update under load: 0 failed connections, the split holds (both versions)" \
	[ "$(dl_field "$line" fail)" = 0 ] && [ "$(dl_field "$line" ok)" -gt 1000 ] && \
	[ "$(dl_field "$line" one)" -gt 300 ] && [ "$(dl_field "$line" two)" -gt 300 ]
# incremental apply: each step rewrote cart's entries in the live
# generation (no new generation, no recompile of the rest)
inc1=$(ctl status -o json | jq .incremental_applies)
sl_check "the rolling update applied incrementally: generation $gen0 stays, $((inc1 - inc0)) incremental applies" \
	[ "$(dl_gen)" = "$gen0" ] && [ $((inc1 - inc0)) -ge 3 ]
sl_check "the log says so (services rewritten, per change)" \
	grep -q "apply generation $gen0 (incremental, source kubernetes): .* 1 services rewritten" "$DL_LOG"
eps() { ctl get endpoints -o json | jq -r '[.[] | select(.service | startswith("cart.")) | .address] | sort | join(",")'; }
sl_check "get endpoints follows: $(eps)" [ "$(eps)" = "10.1.0.2,10.1.0.3" ]
sl_check "the state file follows within a second (the new pod in, the old one out)" \
	sl_wait_for 3 sh -c "grep -q cart-v1-new '$DL_STATE/snapshot.yaml' && ! grep -q '\"name\": \"cart-v1\"' '$DL_STATE/snapshot.yaml'"
# written in the background from a compact copy (names kept as what they
# do not share with the one before): each part under its whole name, once
# each, sorted, each with its source, as the whole apply's synchronous write
sl_check "the background write names every part whole: $(grep -c '^# source: ' "$DL_STATE/snapshot.yaml") parts" \
	sh -c "s='$DL_STATE/snapshot.yaml'; grep '^# source: ' \"\$s\" >'$SL_TMP/names' &&
		LC_ALL=C sort -c '$SL_TMP/names' && [ -z \"\$(uniq -d '$SL_TMP/names')\" ] &&
		grep -qx '# source: kubernetes:/api/v1/pods/shop/cart-v1-new' '$SL_TMP/names' &&
		grep -qx '# source: kubernetes:/apis/discovery.k8s.io/v1/endpointslices/shop/cart-abc' '$SL_TMP/names' &&
		[ \"\$(grep -c '^# from: kubernetes\$' \"\$s\")\" = \"\$(grep -c '^# source: kubernetes:' \"\$s\")\" ]"
sl_check "a change that empties a subset was applied whole, the log says why" \
	grep -q "applying the whole share: cart.shop.svc.cluster.local: a subset gains its first endpoint or loses its last" "$DL_LOG"
sl_kill_tree "$SL_PID_b1"	# the old pod's server is gone for good
line=$(to_vip -n 200)
sl_log "after the update, old backend stopped: $line"
sl_check "after it, the new pod serves v1 and the old address none (0 failed)" \
	[ "$(dl_field "$line" fail)" = 0 ] && [ "$(dl_field "$line" one)" -gt 20 ]

# sources do not fight: SIGHUP with an empty policy directory
kill -HUP "$DL_PID"
sl_wait_for 5 grep -q "SIGHUP: reloading" "$DL_LOG"
sleep 0.5
sl_check "SIGHUP with an empty policy dir leaves the cluster's objects alone" \
	sh -c "'$CTL' --socket '$SL_SOCK' get objects -o json | jq -e 'length >= 6' >/dev/null"
line=$(to_vip -n 100)
sl_check "and they still steer (0 failed)" [ "$(dl_field "$line" fail)" = 0 ]
sl_done
