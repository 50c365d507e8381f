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
. "$ROOT/tools/sandbox.sh"
. "$ROOT/tools/node.sh"	# the node, sluiced, the S1 and "web" policies, web backends
B=$SL_BUILD	# tools/node.sh: SLUICED, CTL, CONNBENCH, ctl()
sl_require_root
for b in sluiced sluicectl connbench; do
	[ -x "$B/$b" ] || { echo "demo: build/$b missing: run make" >&2; exit 1; }
done
sl_ensure_bpffs

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

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

say "Setting up: namespace, demo cgroup, tcp-echo v1 and v2"
dl_setup
echo "  namespace $NS, cgroup $CG"
echo "  tcp-echo v1 on 10.1.0.1:9000 (\"one ...\"), v2 on 10.1.0.2:9000 (\"two ...\")"

if [ -x "$B/sluice-http" ]; then
	DL_HELPER=1
	# sluice-http outlives sluiced by design; if the reset cannot run,
	# stop it by the pid sluiced recorded.
	sl_defer "[ -f '$DL_STATE/http.pid' ] && kill \$(cat '$DL_STATE/http.pid')"
fi
dl_start || { echo "demo: sluiced did not start:"; cat "$DL_LOG"; exit 1; }
echo "  sluiced attached to the demo cgroup only (pins under $SL_BPFFS)"

say "Without a policy the VIP 198.18.0.10:9000 goes nowhere"
sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client 198.18.0.10:9000 -n 1 2>&1 | grep -o 'first error: .*' | sed 's/^/  /'

say "sluicectl apply: tcp-echo at 80/20"
dl_s1 80 20 >"$SL_TMP/tcp-echo.yaml"
ctl apply -f "$SL_TMP/tcp-echo.yaml" | sed 's/^/  /'
ctl get routes | sed 's/^/  /'
echo "  2,000 new connections:"
split 2000

say "sluicectl apply: shift to 0/100"
dl_s1 0 100 >"$SL_TMP/tcp-echo.yaml"
ctl apply -f "$SL_TMP/tcp-echo.yaml" | sed 's/^/  /'
echo "  2,000 new connections:"
split 2000

say "sluicectl stats"
ctl stats | sed 's/^/  /'

if [ "${DL_HELPER:-0}" = 1 ]; then
	say "HTTP header route through sluice-http: x-canary: yes -> v2"
	dl_web_backends "$NS" || echo "  web backends did not start"
	{ dl_s1 0 100; echo "---"; dl_web; } >"$SL_TMP/all.yaml"
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
		echo "  sluice-http did not come up; sluiced's log:"
		tail -5 "$DL_LOG" | sed 's/^/  /'
	fi
else
	say "build/sluice-http not built: skipping the HTTP header route"
fi

say "Cleaning up: sluicectl reset, daemon, backends, namespace, cgroup"
ctl reset | sed 's/^/  /'
exit 0
