#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# S9, Sidecar egress scopes enforced at connect() by the client's workload:
# the example policy as written (policies/examples/s9-egress-scopes), with
# its placeholder cgroups replaced by two client cgroups of this test. Under
# REGISTRY_ONLY a workload in prod-us1 reaches prod-us1, prod-apis and dev
# and is refused (EPERM) on finance; a workload in finance (no Sidecar: the
# root default "./*", "dev/*") reaches finance and dev only; a client that
# is no workload gets the root default with "." its own namespace (dev
# only). Under ALLOW_ANY an out-of-scope host passes unsteered. Counters
# scope_deny / scope_pass and trace's "egress-scope" say what happened.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
dl_start || { echo "Bail out! sluiced did not start"; cat "$DL_LOG"; exit 1; }

mkdir -p "$CG/checkout" "$CG/reports"
sl_defer "sl_kill_cgroup '$CG/checkout'; rmdir '$CG/checkout'"
sl_defer "sl_kill_cgroup '$CG/reports'; rmdir '$CG/reports'"
REL="sluice-test-$SL_ID/client"
policy() {	# policy MODE: the S9 example under outboundTrafficPolicy MODE
	sed -e "s|sluice-demo/|$REL/|" "$SL_ROOT/policies/examples/s9-egress-scopes/scopes.yaml"
	cat <<EOF2
---
apiVersion: sluice.io/v1alpha1
kind: MeshConfig
metadata: {name: mesh}
spec:
  outboundTrafficPolicy: {mode: $1}
EOF2
}
policy REGISTRY_ONLY >"$SL_TMP/s9.yaml"
sl_check "the S9 example validates with REGISTRY_ONLY" "$CTL" validate -q -f "$SL_TMP/s9.yaml"
sl_check "and applies" ctl apply -q -f "$SL_TMP/s9.yaml"

# try CGROUP VIP: 3 connections; prints "ok=N fail=N err=..." (err: the
# first connect error, "-" when none)
try() {
	local out line err
	out=$(sl_in_cgroup_ns "$1" "$NS" "$CONNBENCH" client "$2:9000" -n 3 2>&1)
	line=$(grep '^conns=' <<<"$out")
	err=$(sed -n 's/^connbench: first error: //p' <<<"$out" | head -1)
	echo "ok=$(dl_field "$line" ok) fail=$(dl_field "$line" fail) err=${err:--}"
}
reach() {	# reach WHO CGROUP VIP HOST
	local r; r=$(try "$2" "$3")
	sl_log "$1 -> $4: $r"
	sl_check "$1 reaches $4" [ "${r%% *}" = "ok=3" ]
}
refused() {	# refused WHO CGROUP VIP HOST ERRTEXT
	local r; r=$(try "$2" "$3")
	sl_log "$1 -> $4: $r"
	case $r in
	"ok=0 fail=3 err="*"$5"*) sl_ok "$1 fails on $4 ($5)" ;;
	*) sl_fail "$1 fails on $4 ($5): got $r" ;;
	esac
}
counter() { ctl status -o json | jq -r ".counters.$1"; }

deny0=$(counter scope_deny)
reach checkout "$CG/checkout" 198.18.9.1 orders.prod-us1
reach checkout "$CG/checkout" 198.18.9.2 catalog.prod-apis
reach checkout "$CG/checkout" 198.18.9.3 sandbox.dev
refused checkout "$CG/checkout" 198.18.9.4 ledger.finance "Operation not permitted"
refused checkout "$CG/checkout" 10.1.0.2 "ledger's endpoint address" "Operation not permitted"
reach reports "$CG/reports" 198.18.9.4 "ledger.finance (its own namespace, root default ./*)"
reach reports "$CG/reports" 198.18.9.3 "sandbox.dev (root default dev/*)"
refused reports "$CG/reports" 198.18.9.1 orders.prod-us1 "Operation not permitted"
refused reports "$CG/reports" 198.18.9.2 catalog.prod-apis "Operation not permitted"
# 10.1.0.1 is an endpoint of orders, catalog and sandbox: seen through sandbox
reach reports "$CG/reports" 10.1.0.1 "an endpoint address it sees through one service"
reach "a client that is no workload" "$CG" 198.18.9.3 "sandbox.dev (root default)"
refused "a client that is no workload" "$CG" 198.18.9.1 orders.prod-us1 "Operation not permitted"
deny1=$(counter scope_deny)
sl_log "scope_deny $deny0 -> $deny1"
sl_check "scope_deny counted every refused connect (5 x 3)" [ $((deny1 - deny0)) -eq 15 ]

# The trace names the reason.
dl_trace_run 1 "$SL_TMP/trace.json" try "$CG/checkout" 198.18.9.4
sl_log "trace: $(head -1 "$SL_TMP/trace.json")"
sl_check "trace: refuse, egress-scope, EPERM" \
	jq -e 'select(.verdict == "refuse" and .why == "egress-scope" and .errno == 1)' \
	"$SL_TMP/trace.json" >/dev/null

# ALLOW_ANY: out of scope passes unsteered (its VIP has no route in the
# node namespace: the connect fails there, not by Sluice), in scope steers.
policy ALLOW_ANY >"$SL_TMP/s9.yaml"
sl_check "the S9 example applies with ALLOW_ANY" ctl apply -q -f "$SL_TMP/s9.yaml"
pass0=$(counter scope_pass)
refused checkout "$CG/checkout" 198.18.9.4 "ledger.finance, passed unsteered to its VIP" "unreachable"
reach checkout "$CG/checkout" 198.18.9.1 "orders.prod-us1 under ALLOW_ANY"
pass1=$(counter scope_pass)
sl_check "scope_pass counted the 3 unsteered connects" [ $((pass1 - pass0)) -eq 3 ]

# Without Sidecars nothing is scoped.
grep -v '^$' "$SL_TMP/s9.yaml" | awk 'BEGIN { RS = "---\n"; ORS = "---\n" } !/kind: Sidecar/' >"$SL_TMP/nosc.yaml"
sl_check "the policy without Sidecars applies" ctl apply -q -f "$SL_TMP/nosc.yaml"
reach reports "$CG/reports" 198.18.9.1 "orders.prod-us1 once no Sidecar scopes it"
sl_done
