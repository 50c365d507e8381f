#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `sluicectl trace`: one record per connect() decision with the right reason
# — a weight draw, a sourceLabels route (with the client's workload named),
# a REGISTRY_ONLY refusal — and, once the reader has gone, the trace is off:
# the programs write nothing more.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
dl_start || { echo "Bail out! sluiced did not start"; exit 1; }
CGREL=${CG#"$(sl_cgroup2_root)"/}
jqe() { jq -se "$@" >/dev/null; }	# jq -e over a JSON-lines file

{
	echo "apiVersion: sluice.io/v1alpha1"
	echo "kind: MeshConfig"
	echo "metadata: {name: mesh}"
	echo "spec: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}"
	echo "---"
	dl_s1 80 20
	echo ---
	dl_forecast role tester
	cat <<EOF
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata:
  name: test-client
  namespace: weather
  annotations: {sluice.io/cgroup: $CGREL}
spec: {address: 127.0.3.1, labels: {role: tester}}
EOF
} >"$SL_TMP/policy.yaml"
sl_check "apply: 80/20 tcp-echo, forecast with a sourceLabels route, REGISTRY_ONLY" \
	ctl apply -f "$SL_TMP/policy.yaml" -q

dl_trace_run 40 "$SL_TMP/w.json" dl_load 40
sl_log "$(tail -1 "$SL_TMP/w.json")"
sl_check "weight draw: 40 records" [ "$(wc -l <"$SL_TMP/w.json")" -eq 40 ]
sl_check "weight draw: every record steer/weight to tcp-echo, subset v1 or v2" \
	jqe 'all(.[]; .verdict == "steer" and .why == "weight" and
		.service == "tcp-echo.weather.svc.cluster.local" and
		(.subset == "v1" or .subset == "v2") and .destination == "198.18.0.10:9000")' \
	"$SL_TMP/w.json"
sl_check "weight draw: the backend follows the subset (v1 10.1.0.1, v2 10.1.0.2)" \
	jqe 'all(.[]; (.subset == "v1") == (.backend == "10.1.0.1:9000"))' "$SL_TMP/w.json"
sl_check "weight draw: the client's workload is named (it has a sluice.io/cgroup)" \
	jqe 'all(.[]; .workload == "weather/test-client")' "$SL_TMP/w.json"

src_load() { sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client 198.18.0.11:9000 -n 10; }
dl_trace_run 10 "$SL_TMP/s.json" src_load
sl_log "$(tail -1 "$SL_TMP/s.json")"
sl_check "sourceLabels: 10 records, route #0 to subset v2, reason source-labels" \
	jqe 'length == 10 and all(.[]; .why == "source-labels" and .route == 0 and
		.subset == "v2" and .workload == "weather/test-client")' "$SL_TMP/s.json"

deny_load() { sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client 198.18.0.99:9000 -n 3; }
dl_trace_run 3 "$SL_TMP/d.json" deny_load
sl_log "$(tail -1 "$SL_TMP/d.json")"
sl_check "REGISTRY_ONLY: 3 refusals, reason registry-only, errno EPERM" \
	jqe 'length == 3 and all(.[]; .verdict == "refuse" and .why == "registry-only" and
		.errno == 1 and .destination == "198.18.0.99:9000" and .service == null)' \
	"$SL_TMP/d.json"

"$CTL" --socket "$SL_SOCK" trace --service forecast --count 1 >"$SL_TMP/filt.txt" 2>/dev/null &
fp=$!
sl_defer "kill $fp"
sleep 1
dl_load 30 >/dev/null
src_load >/dev/null
wait "$fp"
sl_check "--service forecast shows only forecast's decisions" \
	grep -q "(forecast.weather.svc.cluster.local): steer route #0 subset v2 -> 10.1.0.2:9000 (round-robin) \[source-labels\]" \
	"$SL_TMP/filt.txt"

# Nobody reading: the switch is off and nothing more is written.
cfg() { bpftool -j map dump pinned "$SL_BPFFS/sluice_trace_cfg" | jq -e ".[0].formatted.value.$1"; }
sl_check "after the reader exits the trace is off (until_ns = 0)" [ "$(cfg until_ns)" = 0 ]
before=$(cfg written)
dl_load 50 >/dev/null
after=$(cfg written)
sl_check "with no reader no record is written ($before before, $after after 50 connects)" \
	[ "${before:-x}" -ge 58 -a "${after:-y}" = "$before" ]

sl_done
