#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sluice-http reload (SIGHUP) under load: wrk keeps 20 keep-alive
# connections busy while the policy flips between 100/0 and 0/100 twenty
# times; not one request may fail. Then: the last policy is in force, and a
# bad policy on reload is refused with the old one kept; a request in flight
# across a reload finishes where it started.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_common.sh"
sl_require_root
hx_require
command -v wrk >/dev/null || { echo "Bail out! wrk is not installed (make deps)"; exit 1; }

D="$SL_TMP/policies"
mkdir -p "$D"
policy() {	# policy W1 W2
	cat <<YAML
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: svc, namespace: t}
spec:
  hosts: [svc.t.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: $HX_IP, ports: {http: 9501}, labels: {version: v1}}
  - {address: $HX_IP, ports: {http: 9502}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: svc, namespace: t}
spec:
  host: svc
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: svc, namespace: t}
spec:
  hosts: [svc]
  http:
  - route:
    - {destination: {host: svc, subset: v1}, weight: $1}
    - {destination: {host: svc, subset: v2}, weight: $2}
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: slow, namespace: t}
spec:
  hosts: [slow.t.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: $HX_IP, ports: {http: 9511}, labels: {version: v1}}
  - {address: $HX_IP, ports: {http: 9512}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: slow, namespace: t}
spec:
  host: slow
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: slow, namespace: t}
spec:
  hosts: [slow]
  http:
  - route:
    - {destination: {host: slow, subset: v1}, weight: $1}
    - {destination: {host: slow, subset: v2}, weight: $2}
YAML
}
put() { cat >"$D/.p.tmp" && mv "$D/.p.tmp" "$D/svc.yaml"; }
policy 100 0 | put

hx_backend_c v1 9501
hx_backend_c v2 9502
hx_backend sv1 9511
hx_backend sv2 9512
hx_proxy "$D" 15001

j=$(hx_get --port 15001 --host svc -n 200)
hx_expect "before reload: 100/0 -> all v1" "$j" "j['backend'] == {'v1': 200}"

sl_bg wrk wrk -t1 -c20 -d6s -H "Host: svc" "http://$HX_IP:15001/" >/dev/null
WRK=$SL_PID_wrk
sleep 0.5	# let wrk connect before the first flip (load shape, not a sync)
for i in $(seq 1 20); do
	if [ $((i % 2)) -eq 1 ]; then policy 0 100 | put; else policy 100 0 | put; fi
	kill -HUP "$HX_PID"
	sleep 0.2
done
policy 0 100 | put
kill -HUP "$HX_PID"
for _ in $(seq 1 200); do kill -0 "$WRK" 2>/dev/null || break; sleep 0.05; done
wait "$WRK" 2>/dev/null
out=$(cat "$SL_TMP/wrk.log")
echo "$out" | sed 's/^/# /'
reloads=$(grep -c "policy reloaded" "$SL_TMP/proxy.log")
total=$(echo "$out" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')
if [ "${total:-0}" -gt 1000 ] && ! echo "$out" | grep -q "Non-2xx" && ! echo "$out" | grep -q "Socket errors"; then
	sl_ok "21 reloads under load ($reloads done): $total requests, 0 failed"
else
	sl_fail "21 reloads under load: 0 failed requests"
fi
sl_check "every SIGHUP reloaded ($reloads of 21)" test "$reloads" -eq 21

j=$(hx_get --port 15001 --host svc -n 200)
hx_expect "after reloads: 0/100 in force -> all v2" "$j" "j['backend'] == {'v2': 200}"

# a request in flight across a reload finishes where it started: a slow
# request to slow v1, the policy flips to 0/100 while it is served
policy 100 0 | put
kill -HUP "$HX_PID"
sl_wait_for 10 bash -c "[ \$(grep -c 'policy reloaded' '$SL_TMP/proxy.log') -ge 22 ]"
hx_get --port 15001 --host slow -H "x-delay-ms: 1500" >"$SL_TMP/slow.json" &
slowpid=$!
sl_defer "kill $slowpid 2>/dev/null"
inflight() { [ "$(curl -s "http://$HX_IP:9511/_inflight")" -ge 1 ]; }
sl_wait_for 10 inflight || sl_log "slow request not seen in flight"
policy 0 100 | put
kill -HUP "$HX_PID"
sl_wait_for 10 bash -c "[ \$(grep -c 'policy reloaded' '$SL_TMP/proxy.log') -ge 23 ]"
j=$(hx_get --port 15001 --host slow -n 5)
hx_expect "after the flip, new requests go to slow v2" "$j" "j['backend'] == {'sv2': 5}"
wait $slowpid
j=$(cat "$SL_TMP/slow.json")
hx_expect "the request in flight across the reload finished on v1 with 200" "$j" \
	"j['status'] == {'200': 1} and j['backend'] == {'sv1': 1}"

printf 'kind: VirtualService\nmetadata: {name: bad}\nspec: {hosts: [nope], http: [{route: [{destination: {host: nope}}]}]}\n' >"$D/bad.yaml"
kill -HUP "$HX_PID"
sl_wait_for 10 grep -q "reload refused" "$SL_TMP/proxy.log"
sl_check "bad policy on reload: refused and logged" grep -q "reload refused" "$SL_TMP/proxy.log"
j=$(hx_get --port 15001 --host svc -n 200)
hx_expect "bad policy on reload: the old one still routes (all v2)" "$j" "j['backend'] == {'v2': 200}"
sl_check "sluice-http still running" kill -0 "$HX_PID"
sl_done
