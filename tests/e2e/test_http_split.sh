#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sluice-http weights and hashing with real backends on a private loopback IP:
# 90/10 within 1 point, fault abort 10% within 1 point (each over 20,000
# requests: the issue asks for >= 10,000),
# consistentHash on a cookie choosing the subset too (one user stays on one
# version across 1,000 requests while many users split 90/10), weight 0/100.
# Tolerances: a fair 10% draw over 20,000 has sd 0.21 points, so 1 point is
# 4.7 sd (a false alarm once in ~400,000 runs; over 10,000 it was 3.3 sd and
# fired in CI once in a full-suite run); a real 1-point bias fails every time.
# The hashed split is deterministic for fixed user names.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_common.sh"
sl_require_root
hx_require

P="$SL_TMP/policy.yaml"
svc() {	# svc NAME PORT1 PORT2 [DR trafficPolicy yaml]
	cat <<YAML
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: $1, namespace: t}
spec:
  hosts: [$1.t.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: @IP@, ports: {http: $2}, labels: {version: v1}}
  - {address: @IP@, ports: {http: $3}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: $1, namespace: t}
spec:
  host: $1
  ${4:-}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
YAML
}
{
	svc split 9101 9102
	svc abort 9101 9102
	svc sticky 9101 9102 "trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: user, ttl: 60s}}}}"
	svc zero 9101 9102
	cat <<'YAML'
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: split, namespace: t}
spec:
  hosts: [split]
  http:
  - route:
    - {destination: {host: split, subset: v1}, weight: 90}
    - {destination: {host: split, subset: v2}, weight: 10}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: abort, namespace: t}
spec:
  hosts: [abort]
  http:
  - fault: {abort: {percentage: {value: 10}, httpStatus: 418}}
    route: [{destination: {host: abort, subset: v1}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: sticky, namespace: t}
spec:
  hosts: [sticky]
  http:
  - route:
    - {destination: {host: sticky, subset: v1}, weight: 90}
    - {destination: {host: sticky, subset: v2}, weight: 10}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: zero, namespace: t}
spec:
  hosts: [zero]
  http:
  - route:
    - {destination: {host: zero, subset: v1}, weight: 0}
    - {destination: {host: zero, subset: v2}, weight: 100}
YAML
} >"$P"
hx_subst "$P"

hx_backend_c v1 9101
hx_backend_c v2 9102
hx_proxy "$P" 15001

j=$(hx_get --port 15001 --host split -n 20000)
sl_log "90/10: $j"
hx_expect "90/10 over 20,000 requests: v2 share 10% +- 1 point" "$j" \
	"j['status'] == {'200': 20000} and abs(j['backend'].get('v2', 0) / 200.0 - 10) <= 1"

j=$(hx_get --port 15001 --host abort -n 20000)
sl_log "abort: $j"
hx_expect "fault abort 10% over 20,000: 418 share 10% +- 1 point, rest 200" "$j" \
	"abs(j['status'].get('418', 0) / 200.0 - 10) <= 1 and j['status'].get('418', 0) + j['status'].get('200', 0) == 20000"

j=$(hx_get --port 15001 --host zero -n 500)
hx_expect "weights 0/100: every request to v2" "$j" "j['backend'] == {'v2': 500}"

# one user, 1,000 requests: one version (and one endpoint)
for u in alice bob carol dave; do
	j=$(hx_get --port 15001 --host sticky -n 1000 -H "Cookie: theme=x; user=$u")
	hx_expect "consistentHash cookie user=$u: 1,000 requests on one version" "$j" \
		"j['status'] == {'200': 1000} and len(j['backend']) == 1"
done
# many users: the split holds (2,000 users; deterministic hash, sd 0.7 points)
j=$(hx_get --port 15001 --host sticky -n 4000 --users 2000)
hx_expect "consistentHash over 2,000 users: v2 share 10% +- 2.5 points, each user on one version" "$j" \
	"abs(j['backend'].get('v2', 0) / 40.0 - 10) <= 2.5 and all(len(v) == 1 for v in j['users'].values())"
sl_log "sticky many users: $(hx_jq "$j" "j['backend']")"
sticky_before=$j
# no cookie yet (ttl set): a cookie is minted, hashed and handed out; the
# user then stays where the minted cookie put it
h=$(curl -s -o /dev/null -D - -H "Host: sticky" "http://$HX_IP:15001/")
ck=$(echo "$h" | tr -d '\r' | sed -n 's/^set-cookie: \(user=[0-9a-f]*\);.*/\1/ip')
first=$(echo "$h" | tr -d '\r' | sed -n 's/^x-backend: //ip')
if [ -n "$ck" ] && [ -n "$first" ]; then
	j=$(hx_get --port 15001 --host sticky -n 300 -H "Cookie: $ck")
	hx_expect "consistentHash cookie minted ($ck): later requests stay on $first" "$j" \
		"j['backend'] == {'$first': 300}"
else
	sl_fail "consistentHash cookie minted when absent (set-cookie)"; sl_log "$h"
fi
j=$(hx_get --port 15001 --host sticky -n 2000)
hx_expect "consistentHash, every request a new minted cookie: v2 share 10% +- 2.5 points" "$j" \
	"abs(j['backend'].get('v2', 0) / 20.0 - 10) <= 2.5"
# raising v2 from 10% to 20% moves only users from v1 to v2, about a tenth
# of them: the hash is a point on the cumulative weights, whose v1/v2
# boundary moves from 90% to 80%
sed -i 's/{destination: {host: sticky, subset: v1}, weight: 90}/{destination: {host: sticky, subset: v1}, weight: 80}/;
	s/{destination: {host: sticky, subset: v2}, weight: 10}/{destination: {host: sticky, subset: v2}, weight: 20}/' "$P"
kill -HUP "$HX_PID"
v2share() { hx_get --port 15001 --host sticky -n 2000 --users 2000 | python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["backend"].get("v2", 0))'; }
reloaded() { [ "$(v2share)" -gt 300 ]; }
sl_wait_for 5 reloaded
after=$(hx_get --port 15001 --host sticky -n 4000 --users 2000)
moves=$(python3 -c '
import json, sys
b, a = json.loads(sys.argv[1])["users"], json.loads(sys.argv[2])["users"]
ver = lambda u: next(iter(u))
up = sum(1 for k in b if ver(b[k]) == "v1" and ver(a[k]) == "v2")
down = sum(1 for k in b if ver(b[k]) == "v2" and ver(a[k]) == "v1")
print(up, down, sum(1 for k in a if ver(a[k]) == "v2"))' "$sticky_before" "$after")
read -r up down nv2 <<<"$moves"
sl_log "90/10 -> 80/20 over 2,000 users: $up moved v1 -> v2, $down v2 -> v1, $nv2 now on v2"
sl_check "90/10 -> 80/20: no user moves from v2 to v1 ($down)" [ "${down:-1}" -eq 0 ]
sl_check "90/10 -> 80/20: about 10% of users move to v2 ($up of 2,000: 140..260) and v2 holds about 20% ($nv2: 330..470)" \
	awk -v u="${up:-0}" -v n="${nv2:-0}" 'BEGIN { exit !(u >= 140 && u <= 260 && n >= 330 && n <= 470) }'
sl_check "sluice-http still running" kill -0 "$HX_PID"
sl_done
