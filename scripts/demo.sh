#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: a self-contained canary release with Sluice, in under a minute.
#
# Everything lives in a network namespace and a cgroup made for this run
# (removed at exit, also on failure or Ctrl-C): tcp-echo v1 and v2 answer
# "one ..." and "two ..."; sluiced attaches its socket hooks to the demo
# cgroup only; a client in that cgroup connects to the service VIP
# 198.18.0.10:9000 — an address with no route: only Sluice's connect()
# rewrite makes it answer. The split is shifted 80/20 -> 0/100 with
# `sluicectl apply`, and the observed split printed as bars. When
# sluice-http is built, an HTTP header route follows (x-canary: yes -> v2).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/e2e/lib.sh"
B=$ROOT/build
CTL=$B/sluicectl
CONNBENCH=$B/connbench
sl_require_root
for b in sluiced sluicectl connbench; do
	[ -x "$B/$b" ] || { echo "demo: build/$b missing: run make" >&2; exit 1; }
done
sl_ensure_bpffs

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ctl() { "$CTL" --socket "$SL_SOCK" "$@"; }

# bar LABEL COUNT TOTAL: one line of the split.
bar() {
	local n=$2 total=$3 w=50 fill
	fill=$((total ? n * w / total : 0))
	printf '  %-3s %6d  %5.1f%%  ' "$1" "$n" "$(awk -v n="$n" -v t="$total" 'BEGIN { print t ? 100 * n / t : 0 }')"
	printf '%*s' "$fill" '' | tr ' ' '#'
	printf '\n'
}

# split N: N connections from the demo cgroup to the VIP, drawn as bars.
split() {
	local line one two
	line=$(sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client 198.18.0.10:9000 -n "$1")
	one=$(echo "$line" | grep -o 'one=[0-9]*' | cut -d= -f2)
	two=$(echo "$line" | grep -o 'two=[0-9]*' | cut -d= -f2)
	bar v1 "${one:-0}" "$1"
	bar v2 "${two:-0}" "$1"
	echo "  ($(echo "$line" | grep -o 'fail=[0-9]*' | cut -d= -f2) failed connections)"
}

s1() {	# s1 W1 W2: the tcp-echo service, its subsets and the weighted route
	cat <<EOF
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: tcp-echo, namespace: weather}
spec:
  hosts: [tcp-echo.weather.svc.cluster.local]
  addresses: [198.18.0.10]
  ports: [{number: 9000, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints:
  - {address: 10.1.0.1, ports: {tcp: 9000}, labels: {app: tcp-echo, version: v1}}
  - {address: 10.1.0.2, ports: {tcp: 9000}, labels: {app: tcp-echo, version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: tcp-echo, namespace: weather}
spec:
  host: tcp-echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: tcp-echo, namespace: weather}
spec:
  hosts: [tcp-echo]
  tcp:
  - match: [{port: 9000}]
    route:
    - {destination: {host: tcp-echo, port: {number: 9000}, subset: v1}, weight: $1}
    - {destination: {host: tcp-echo, port: {number: 9000}, subset: v2}, weight: $2}
EOF
}

web() {	# the HTTP service: x-canary: yes -> v2, everyone else v1
	cat <<'EOF'
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: web, namespace: weather}
spec:
  hosts: [web.weather.svc.cluster.local]
  addresses: [198.18.0.20]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 10.1.0.1, labels: {app: web, version: v1}}
  - {address: 10.1.0.2, labels: {app: web, version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: web, namespace: weather}
spec:
  host: web
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: web, namespace: weather}
spec:
  hosts: [web]
  http:
  - match: [{headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: web, subset: v2}}]
  - route: [{destination: {host: web, subset: v1}}]
EOF
}

say "Setting up: namespace, demo cgroup, tcp-echo v1 and v2"
sl_defer "rm -rf '$SL_BPFFS'"
sl_netns demo >/dev/null || exit 1
NS="sl${SL_ID}-demo"
ip -n "$NS" addr add 10.1.0.1/32 dev lo
ip -n "$NS" addr add 10.1.0.2/32 dev lo
sl_mkcgroup client >/dev/null || exit 1
CG="$(sl_cgroup2_root)/sluice-test-$SL_ID/client"
sl_bg v1 nsenter --net="/run/netns/$NS" "$CONNBENCH" serve 10.1.0.1:9000 one >/dev/null
sl_bg v2 nsenter --net="/run/netns/$NS" "$CONNBENCH" serve 10.1.0.2:9000 two >/dev/null
echo "  namespace $NS, cgroup $CG"
echo "  tcp-echo v1 on 10.1.0.1:9000 (\"one ...\"), v2 on 10.1.0.2:9000 (\"two ...\")"

helper_flag=--no-http-helper
if [ -x "$B/sluice-http" ]; then helper_flag=; fi
mkdir -p "$SL_TMP/policies"
# sluice-http outlives sluiced by design; if the reset below cannot run,
# stop it by the pid sluiced recorded.
sl_defer "[ -f '$SL_TMP/state/http.pid' ] && kill \$(cat '$SL_TMP/state/http.pid')"
sl_bg sluiced nsenter --net="/run/netns/$NS" "$B/sluiced" --policy-dir "$SL_TMP/policies" \
	--cgroup "$CG" --bpffs "$SL_BPFFS" --socket "$SL_SOCK" --state-dir "$SL_TMP/state" \
	$helper_flag >/dev/null
sl_defer "'$CTL' --socket '$SL_SOCK' reset"
sl_wait_for 10 ctl status || { echo "demo: sluiced did not start:"; cat "$SL_TMP/sluiced.log"; exit 1; }
echo "  sluiced attached to the demo cgroup only (pins under $SL_BPFFS)"

say "Without a policy the VIP 198.18.0.10:9000 goes nowhere"
sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client 198.18.0.10:9000 -n 1 2>&1 | grep -o 'first error: .*' | sed 's/^/  /'

say "sluicectl apply: tcp-echo at 80/20"
s1 80 20 >"$SL_TMP/tcp-echo.yaml"
ctl apply -f "$SL_TMP/tcp-echo.yaml" | sed 's/^/  /'
ctl get routes | sed 's/^/  /'
echo "  2,000 new connections:"
split 2000

say "sluicectl apply: shift to 0/100"
s1 0 100 >"$SL_TMP/tcp-echo.yaml"
ctl apply -f "$SL_TMP/tcp-echo.yaml" | sed 's/^/  /'
echo "  2,000 new connections:"
split 2000

say "sluicectl stats"
ctl stats | sed 's/^/  /'

if [ -z "$helper_flag" ]; then
	say "HTTP header route through sluice-http: x-canary: yes -> v2"
	for v in 1 2; do
		sl_bg "web$v" nsenter --net="/run/netns/$NS" python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = ("web v%s\n" % sys.argv[2]).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer((sys.argv[1], 8080), H).serve_forever()' "10.1.0.$v" "$v" >/dev/null
	done
	for v in 1 2; do
		sl_wait_for 10 sl_in_ns "$NS" curl -sf -m 2 -o /dev/null "http://10.1.0.$v:8080/"
	done
	{ s1 0 100; web; } >"$SL_TMP/all.yaml"
	ctl apply -f "$SL_TMP/all.yaml" | sed 's/^/  /'
	if sl_wait_for 10 bash -c "'$CTL' --socket '$SL_SOCK' status | grep -q '^helper: running'" &&
	   sl_wait_for 10 sl_in_cgroup_ns "$CG" "$NS" curl -sf -m 2 -o /dev/null http://198.18.0.20:8080/; then
		for hdr in "" "x-canary: yes"; do
			n1=0 n2=0
			for _ in $(seq 1 20); do
				r=$(sl_in_cgroup_ns "$CG" "$NS" curl -s -m 2 ${hdr:+-H "$hdr"} http://198.18.0.20:8080/)
				case $r in *v1*) n1=$((n1 + 1)) ;; *v2*) n2=$((n2 + 1)) ;; esac
			done
			echo "  20 requests ${hdr:-without the header}:"
			bar v1 "$n1" 20
			bar v2 "$n2" 20
		done
	else
		echo "  sluice-http did not come up; see $SL_TMP/sluiced.log"
		tail -5 "$SL_TMP/sluiced.log" | sed 's/^/  /'
	fi
else
	say "build/sluice-http not built: skipping the HTTP header route"
fi

say "Cleaning up: sluicectl reset, daemon, backends, namespace, cgroup"
ctl reset | sed 's/^/  /'
exit 0
