#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# S10, DNS ServiceEntries: under REGISTRY_ONLY a `resolution: DNS` entry for
# api.example.test (no endpoints, no addresses) opens exactly the addresses
# the name resolves to; a changed resolution is picked up (--dns-refresh 1),
# a failed one keeps the last good addresses and shows in status; an entry
# whose endpoint is a DNS name steers its VIP to what the name resolves to.
# Names resolve through a private /etc/hosts: sluiced runs in its own mount
# namespace with a test hosts file (and a resolv.conf naming 127.0.0.1 of
# the node namespace, where nothing answers) bind-mounted, so no query
# leaves the test.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
HOSTS=$SL_TMP/hosts
printf '127.0.0.1 localhost\n10.1.0.1 api.example.test\n10.1.0.2 backend.example.test\n' >"$HOSTS"
echo "nameserver 127.0.0.1" >"$SL_TMP/resolv.conf"
sl_bg sluiced unshare --mount --propagation private sh -c '
	mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' \
	"$HOSTS" "$SL_TMP/resolv.conf" nsenter --net="/run/netns/$NS" "$SLUICED" \
	--policy-dir "$DL_POL" --cgroup "$CG" --bpffs "$SL_BPFFS" --socket "$SL_SOCK" \
	--state-dir "$DL_STATE" --no-http-helper --dns-refresh 1 >/dev/null
DL_LOG=$SL_TMP/sluiced.log
sl_defer "'$CTL' --socket '$SL_SOCK' reset"
sl_wait_for 10 ctl status || { echo "Bail out! sluiced did not start"; cat "$DL_LOG"; exit 1; }

cat >"$SL_TMP/s10.yaml" <<'YAML'
apiVersion: sluice.io/v1alpha1
kind: MeshConfig
metadata: {name: mesh}
spec:
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: json-api, namespace: forum}
spec:
  hosts: [api.example.test]
  ports: [{number: 9000, name: tcp, protocol: TCP}]
  resolution: DNS
  location: MESH_EXTERNAL
YAML
sl_check "S10: the DNS entry validates offline (nothing resolved)" "$CTL" validate -q -f "$SL_TMP/s10.yaml"
sl_check "and applies" ctl apply -q -f "$SL_TMP/s10.yaml"
addrs() { ctl status -o json | jq -r --arg n "$1" '.dns[] | select(.name == $n) | .addresses'; }
sl_log "status: api.example.test -> $(addrs api.example.test)"
sl_check "the first generation already carries the answer (10.1.0.1)" [ "$(addrs api.example.test)" = 10.1.0.1 ]

# to ADDR: 3 connections from the client cgroup; "ok=N fail=N err"
to() {
	local out line
	out=$(sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client "$1:9000" -n 3 2>&1)
	line=$(grep '^conns=' <<<"$out")
	echo "ok=$(dl_field "$line" ok) fail=$(dl_field "$line" fail) $(sed -n 's/^connbench: first error: //p' <<<"$out")"
}
reaches() { local r; r=$(to "$1"); sl_log "$1: $r"; [ "${r%% *}" = ok=3 ]; }
refused() { local r; r=$(to "$1"); sl_log "$1: $r"; [[ $r == "ok=0 fail=3 connect: Operation not permitted"* ]]; }
sl_check "REGISTRY_ONLY: the resolved address is reached" reaches 10.1.0.1
sl_check "REGISTRY_ONLY: another address on the port is refused (EPERM)" refused 10.1.0.2

# The name moves: edited in place (the bind mount follows the inode).
printf '127.0.0.1 localhost\n10.1.0.2 api.example.test\n10.1.0.2 backend.example.test\n' >"$HOSTS"
moved() { [ "$(addrs api.example.test)" = 10.1.0.2 ]; }
sl_check "a changed resolution is picked up within the refresh" sl_wait_for 10 moved
sl_check "the new address is reached" reaches 10.1.0.2
sl_check "the old one is refused" refused 10.1.0.1
sl_check "the log names the name and its addresses" \
	grep -q "dns: api.example.test resolves to 10.1.0.2" "$DL_LOG"

# The name stops resolving: the last good addresses stay.
printf '127.0.0.1 localhost\n10.1.0.2 backend.example.test\n' >"$HOSTS"
failing() { ctl status -o json | jq -e '.dns[] | select(.name == "api.example.test") | .error != "-"' >/dev/null; }
sl_check "a failed resolution shows in status" sl_wait_for 10 failing
sl_log "status: $(ctl status -o json | jq -c '.dns')"
sl_check "and keeps the last good address" [ "$(addrs api.example.test)" = 10.1.0.2 ]
sl_check "which is still reached" reaches 10.1.0.2
sl_check "status (table) shows the failure" sh -c "'$CTL' --socket '$SL_SOCK' status | grep -q 'api.example.test -> 10.1.0.2; last query failed'"

# An endpoint named by DNS behind a VIP.
cat >>"$SL_TMP/s10.yaml" <<'YAML'
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: backend, namespace: forum}
spec:
  hosts: [backend.forum.svc.cluster.local]
  addresses: [198.18.0.50]
  ports: [{number: 9000, name: tcp, protocol: TCP}]
  resolution: DNS
  endpoints: [{address: backend.example.test}]
YAML
sl_check "a DNS-named endpoint behind a VIP applies" ctl apply -q -f "$SL_TMP/s10.yaml"
line=$(sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client 198.18.0.50:9000 -n 20)
sl_log "VIP 198.18.0.50: $line"
sl_check "the VIP is steered to the name's address (10.1.0.2 answers 'two')" \
	[ "$(dl_field "$line" two)" = 20 ]
sl_done
