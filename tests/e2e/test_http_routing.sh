#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sluice-http routing, standalone, real backends on a private loopback IP:
# S3 (User-Agent), S4's cookie part (user=tester -> frontend v2), S5 at the
# gateway (Host header) and in the mesh (Host routing without the BPF map),
# no-route 503, header set/add/remove, rewrite, redirect, metrics dump.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_common.sh"
sl_require_root
hx_require

P="$SL_TMP/policy.yaml"
cat >"$P" <<'YAML'
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: forecast, namespace: weather}
spec:
  hosts: [forecast.weather.svc.cluster.local]
  addresses: [198.18.0.20]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: @IP@, ports: {http: 9001}, labels: {version: v1}}
  - {address: @IP@, ports: {http: 9002}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: forecast, namespace: weather}
spec:
  host: forecast
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: forecast, namespace: weather}
spec:
  hosts: [forecast]
  http:
  - match: [{headers: {User-Agent: {regex: ".*Chrome.*"}}}]
    route: [{destination: {host: forecast, subset: v2}}]
  - match: [{uri: {prefix: /old/}}]
    rewrite: {uri: /new/}
    headers:
      request: {set: {x-set: yes}, add: {x-added: one}, remove: [x-drop]}
      response: {set: {x-resp: set}, remove: [x-backend-internal]}
    route: [{destination: {host: forecast, subset: v1}}]
  - match: [{uri: {exact: /moved}}]
    redirect: {uri: /elsewhere, authority: example.org}
  - match: [{uri: {prefix: /mirror}}]
    route: [{destination: {host: forecast, subset: v1}}]
    mirror: {host: catalog.istioinaction.svc.cluster.local, subset: v2}
    mirrorPercentage: {value: 100}
  - route: [{destination: {host: forecast, subset: v1}}]
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: frontend, namespace: weather}
spec:
  hosts: [frontend.weather.svc.cluster.local]
  addresses: [198.18.0.21]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: @IP@, ports: {http: 9011}, labels: {version: v1}}
  - {address: @IP@, ports: {http: 9012}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: frontend, namespace: weather}
spec:
  host: frontend
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: frontend, namespace: weather}
spec:
  hosts: [frontend]
  http:
  - match: [{headers: {cookie: {regex: "^(.*?;)?(user=tester)(;.*)?$"}}}]
    route: [{destination: {host: frontend, subset: v2}}]
  - route: [{destination: {host: frontend, subset: v1}}]
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: catalog, namespace: istioinaction}
spec:
  hosts: [catalog.istioinaction.svc.cluster.local]
  addresses: [198.18.0.22]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: @IP@, ports: {http: 9021}, labels: {version: v1}}
  - {address: @IP@, ports: {http: 9022}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: catalog, namespace: istioinaction}
spec:
  host: catalog
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: catalog-gateway, namespace: istioinaction}
spec:
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: [catalog.istioinaction.io]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: catalog-gw, namespace: istioinaction}
spec:
  hosts: [catalog.istioinaction.io]
  gateways: [catalog-gateway]
  http:
  - match: [{headers: {x-istio-cohort: {exact: internal}}}]
    route: [{destination: {host: catalog, subset: v2}}]
  - route: [{destination: {host: catalog, subset: v1}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: catalog, namespace: istioinaction}
spec:
  hosts: [catalog]
  gateways: [mesh]
  http:
  - match: [{headers: {x-istio-cohort: {exact: internal}}}]
    route: [{destination: {host: catalog, subset: v2}}]
  - route: [{destination: {host: catalog, subset: v1}}]
YAML
hx_subst "$P"

for b in "v1 9001" "v2 9002" "fv1 9011" "fv2 9012" "cv1 9021" "cv2 9022"; do
	hx_backend $b
done
hx_proxy "$P" 8080
sl_wait_for 10 hx_port_open "$HX_IP" 15001

# S3: a Chrome UA always sees v2, a Firefox UA always v1.
j=$(hx_get --port 15001 --host forecast -n 200 -H "User-Agent: Mozilla/5.0 Chrome/120.0")
hx_expect "S3 Chrome UA -> forecast v2 (200/200)" "$j" "j['backend'] == {'v2': 200}"
j=$(hx_get --port 15001 --host forecast -n 200 -H "User-Agent: Mozilla/5.0 Firefox/121.0")
hx_expect "S3 Firefox UA -> forecast v1 (200/200)" "$j" "j['backend'] == {'v1': 200}"

# S4, cookie part: user=tester reaches frontend v2, other cookies v1.
j=$(hx_get --port 15001 --host frontend.weather.svc.cluster.local -n 100 -H "Cookie: user=tester")
hx_expect "S4 cookie user=tester -> frontend v2" "$j" "j['backend'] == {'fv2': 100}"
j=$(hx_get --port 15001 --host frontend -n 100 -H "Cookie: theme=dark;user=tester")
hx_expect "S4 cookie ...;user=tester -> frontend v2" "$j" "j['backend'] == {'fv2': 100}"
j=$(hx_get --port 15001 --host frontend -n 100 -H "Cookie: user=someone")
hx_expect "S4 other cookie -> frontend v1" "$j" "j['backend'] == {'fv1': 100}"
j=$(hx_get --port 15001 --host frontend -n 100)
hx_expect "S4 no cookie -> frontend v1" "$j" "j['backend'] == {'fv1': 100}"

# S5 at the gateway: Host selects the VirtualService; the cohort header v2.
j=$(hx_get --port 8080 --host catalog.istioinaction.io -n 200 -H "x-istio-cohort: internal")
hx_expect "S5 gateway cohort internal -> catalog v2" "$j" "j['backend'] == {'cv2': 200}"
j=$(hx_get --port 8080 --host catalog.istioinaction.io:8080 -n 200)
hx_expect "S5 gateway without header -> 100% catalog v1" "$j" "j['backend'] == {'cv1': 200}"
j=$(hx_get --port 8080 --host other.example.com -n 5)
hx_expect "gateway unknown Host -> 503 no-route" "$j" "j['status'] == {'503': 5}"
# S5 in the mesh (Host routing): identical results
j=$(hx_get --port 15001 --host catalog -n 200 -H "x-istio-cohort: internal")
hx_expect "S5 mesh cohort internal -> catalog v2" "$j" "j['backend'] == {'cv2': 200}"
j=$(hx_get --port 15001 --host catalog.istioinaction.svc.cluster.local -n 200)
hx_expect "S5 mesh without header -> 100% catalog v1" "$j" "j['backend'] == {'cv1': 200}"

# no route: a clear 503 with the reason header
h=$(curl -s -o /dev/null -D - -H "Host: nowhere" "http://$HX_IP:15001/")
if echo "$h" | grep -q "^HTTP/1.1 503" && echo "$h" | grep -qi "^x-sluice-reason: no-route"; then
	sl_ok "no VirtualService -> 503 x-sluice-reason: no-route"
else
	sl_fail "no VirtualService -> 503 x-sluice-reason: no-route"; sl_log "$h"
fi

# rewrite + request/response header operations
h=$(curl -s -D - -H "Host: forecast" -H "x-drop: secret" -H "x-keep: k" "http://$HX_IP:15001/old/path?q=1")
if echo "$h" | grep -q "^v1 GET /new/path?q=1 " && echo "$h" | grep -qi "^x-echo-x-set: yes" &&
   echo "$h" | grep -qi "^x-echo-x-added: one" && ! echo "$h" | grep -qi "^x-echo-x-drop" &&
   echo "$h" | grep -qi "^x-echo-x-keep: k" && echo "$h" | grep -qi "^x-resp: set"; then
	sl_ok "rewrite uri prefix, request set/add/remove, response set"
else
	sl_fail "rewrite uri prefix, request set/add/remove, response set"; sl_log "$h"
fi

# redirect
h=$(curl -s -o /dev/null -D - -H "Host: forecast" "http://$HX_IP:15001/moved")
if echo "$h" | grep -q "^HTTP/1.1 301" && echo "$h" | grep -qi "^location: http://example.org/elsewhere"; then
	sl_ok "redirect -> 301 with Location"
else
	sl_fail "redirect -> 301 with Location"; sl_log "$h"
fi

# mirror: fire and forget to catalog v2, Host suffixed -shadow
j=$(hx_get --port 15001 --host forecast --path /mirror -n 5 -H "x-count: mir-$SL_ID")
hx_expect "mirror: the client sees the primary (forecast v1)" "$j" "j['backend'] == {'v1': 5}"
mirrored() { [ "$(curl -s "http://$HX_IP:9022/_hits?id=mir-$SL_ID")" = "5 forecast-shadow" ]; }
if sl_wait_for 10 mirrored; then
	sl_ok "mirror: catalog v2 got all 5 copies with Host forecast-shadow"
else
	sl_fail "mirror: catalog v2 got all 5 copies with Host forecast-shadow"
	sl_log "got: $(curl -s "http://$HX_IP:9022/_hits?id=mir-$SL_ID")"
fi

# body-less answers on a kept-alive connection: HEAD, then GET
n=$(curl -s -m 5 -w '%{http_code}\n' -I -H "Host: forecast" -o /dev/null "http://$HX_IP:15001/h1" \
	-o /dev/null "http://$HX_IP:15001/h2" -o /dev/null "http://$HX_IP:15001/h3" | grep -c '^200$')
sl_check "3 HEAD requests on one keep-alive connection" test "$n" = 3
j=$(hx_get --port 15001 --host forecast -n 20 -H "x-status: 204")
hx_expect "204 answers (the test backend wrongly adds a body) on keep-alive" "$j" "j['status'] == {'204': 20}"
r=$(curl -s -m 5 --http1.0 -H "Host: forecast" "http://$HX_IP:15001/ten")
sl_check "HTTP/1.0 client" test "$r" = "v1 GET /ten 0"

# large and chunked bodies stream through (and arrive whole)
head -c 3000000 /dev/zero >"$SL_TMP/big"
r=$(curl -s -H "Host: forecast" --data-binary @"$SL_TMP/big" "http://$HX_IP:15001/up")
sl_check "3 MB request body streamed (Content-Length)" test "$r" = "v1 POST /up 3000000"
r=$(curl -s -H "Host: forecast" -H "Transfer-Encoding: chunked" --data-binary @"$SL_TMP/big" "http://$HX_IP:15001/up")
sl_check "3 MB chunked request body streamed" test "$r" = "v1 POST /up 3000000"

# metrics: one connection = one dump
m=$(hx_metrics_dump)
# series split by destination endpoint labels: sum catalog v2's
v2ok=$(awk '/^istio_requests_total\{reporter="destination",/ &&
	/destination_service="catalog.istioinaction.svc.cluster.local"/ &&
	/destination_version="v2"/ && /response_code="200"/ { n += $NF } END { print n + 0 }' <<<"$m")
if [ "$v2ok" = 400 ] &&
   grep '^istio_request_duration_milliseconds_count{reporter="source",' <<<"$m" |
	grep 'destination_service="forecast.weather.svc.cluster.local"' | grep -q 'destination_version="v1"' &&
   grep -q 'istio_request_duration_milliseconds_bucket{.*le="+Inf"}' <<<"$m"; then
	sl_ok "metrics socket: istio_requests_total and duration histogram"
else
	sl_fail "metrics socket: istio_requests_total and duration histogram"; echo "$m" | head -20 | sed 's/^/# /'
fi
sl_check "sluice-http still running" kill -0 "$HX_PID"
sl_done
