#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The L4 data plane through sluiced + sluicectl: S2's progressive canary
# (100/0 -> 50/50 -> 0/100, then v1's subset deleted from the DestinationRule
# and the VirtualService in one apply) under a running connection load with
# no failed connection; 100 applies under load; S4's sourceLabels by cgroup;
# a service with no endpoints refused with ECONNREFUSED; reset leaves no
# program, link or pin. Topology and helpers: tools/node.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
dl_start || { echo "Bail out! sluiced did not start"; cat "$DL_LOG"; exit 1; }

# S1's service and rule plus: forecast (sourceLabels), empty (no endpoints),
# two client workloads whose cgroups sit below the attach cgroup.
mkdir -p "$CG/wl-v1" "$CG/wl-v2"
sl_defer "sl_kill_cgroup '$CG/wl-v1'; rmdir '$CG/wl-v1'"
sl_defer "sl_kill_cgroup '$CG/wl-v2'; rmdir '$CG/wl-v2'"
REL="sluice-test-$SL_ID/client"
extra() {
	echo ---
	dl_forecast version v2
	cat <<EOF
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: empty, namespace: weather}
spec:
  hosts: [empty.weather.svc.cluster.local]
  addresses: [198.18.0.12]
  ports: [{number: 9000, name: tcp, protocol: TCP}]
  resolution: STATIC
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata:
  name: frontend-v1
  namespace: weather
  annotations: {sluice.io/cgroup: $REL/wl-v1}
spec: {address: 10.2.0.1, labels: {app: frontend, version: v1}}
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata:
  name: frontend-v2
  namespace: weather
  annotations: {sluice.io/cgroup: $REL/wl-v2}
spec: {address: 10.2.0.2, labels: {app: frontend, version: v2}}
EOF
}
policy() { { dl_s1 "$1" "$2"; extra; } >"$SL_TMP/p.yaml"; }
# S2's last step: v1 gone from the DestinationRule and the VirtualService.
policy_v2_only() {
	{ dl_s1 0 100 | awk '!/subset: v1|name: v1,/'; extra; } >"$SL_TMP/p.yaml"
}
apply() { ctl apply -f "$SL_TMP/p.yaml" >/dev/null; }

policy 100 0
sl_check "apply the base policy" apply

# --- S2 under a running load ---
dl_load 0 -d 6 -c 2 --rate 800 >"$SL_TMP/s2load.out" 2>&1 &
load=$!
sl_defer "kill $load"
step() {	# step NAME W1 W2 CHECK: apply, then 600 fresh connections
	local name=$1 line
	if [ "$2" = v2only ]; then policy_v2_only; else policy "$2" "$3"; fi
	apply || { sl_fail "S2 $name: apply"; return; }
	line=$(dl_load 600)
	sl_log "S2 $name: $line"
	sl_check "S2 $name: $4" awk -v one="$(dl_field "$line" one)" -v two="$(dl_field "$line" two)" \
		-v fail="$(dl_field "$line" fail)" "BEGIN { exit !(fail == 0 && ($5)) }"
}
step "100/0" 100 0 "all 600 on v1" "one == 600"
step "50/50" 50 50 "both versions, 0 failed" "one > 200 && two > 200"
step "0/100" 0 100 "all 600 on v2" "two == 600"
step "v1 subset deleted" v2only x "all 600 on v2, no gap" "two == 600"
wait "$load"	# bounded by -d
line=$(cat "$SL_TMP/s2load.out")
sl_log "load across the S2 steps: $line"
sl_check "S2: the load across all four applies had 0 failed connections" \
	[ "$(dl_field "$line" fail)" -eq 0 ] && [ "$(dl_field "$line" ok)" -gt 0 ]

# --- 100 applies under load ---
dl_load 0 -d 8 -c 2 --rate 800 >"$SL_TMP/flipload.out" 2>&1 &
load=$!
sl_defer "kill $load"
fails=0
t0=$(date +%s.%N)
for i in $(seq 1 100); do
	if [ $((i % 2)) -eq 0 ]; then policy 80 20; else policy 20 80; fi
	apply || fails=$((fails + 1))
done
t1=$(date +%s.%N)
wait "$load"	# bounded by -d
line=$(cat "$SL_TMP/flipload.out")
sl_log "100 applies in $(echo "$t1 - $t0" | bc 2>/dev/null || echo "?") s: $fails refused; load: $line"
sl_check "100 applies under load: all accepted" [ "$fails" -eq 0 ]
sl_check "100 applies under load: 0 failed connections" \
	[ "$(dl_field "$line" fail)" -eq 0 ] && [ "$(dl_field "$line" ok)" -gt 0 ]

# --- S4: sourceLabels by cgroup ---
s4() {	# s4 CGROUP: connections to forecast from that cgroup
	sl_in_cgroup_ns "$1" "$NS" "$CONNBENCH" client 198.18.0.11:9000 -n 300
}
l2=$(s4 "$CG/wl-v2"); l1=$(s4 "$CG/wl-v1"); l0=$(s4 "$CG")
sl_log "S4: wl-v2 $l2 / wl-v1 $l1 / other $l0"
sl_check "S4: frontend-v2's cgroup always reaches forecast v2" [ "$(dl_field "$l2" two)" -eq 300 ]
sl_check "S4: frontend-v1's cgroup always reaches forecast v1" [ "$(dl_field "$l1" one)" -eq 300 ]
sl_check "S4: a client with no workload takes the default (v1)" [ "$(dl_field "$l0" one)" -eq 300 ]

# --- no endpoints: ECONNREFUSED at once ---
errno_of() {
	sl_in_cgroup_ns "$CG" "$NS" python3 -c '
import socket, sys
s = socket.socket()
s.settimeout(5)
try:
    s.connect(("198.18.0.12", 9000)); print("connected")
except OSError as e:
    print(e.errno)'
}
sl_check "no endpoints: connect() fails with ECONNREFUSED" [ "$(errno_of)" = 111 ]

# --- reset leaves nothing ---
ctl reset >/dev/null
sl_check "reset: no program attached to the test cgroup" \
	bash -c "[ -z \"\$(bpftool cgroup show '$CG' 2>/dev/null | tail -n +2)\" ]"
sl_check "reset: no pin left under the pin root" [ ! -e "$SL_BPFFS" ]
sl_check "reset: no Sluice link left on the test cgroup" \
	bash -c "! bpftool link show 2>/dev/null | grep -q 'cgroup_id $(stat -c %i "$CG") '"

sl_done
