#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# L4 benchmark (issue 3): new-connection rate (connect + "hello" echo +
# close, one client thread) and p50/p99 connect() latency from a client in a
# network namespace, side by side:
#   direct    client -> the two backend addresses at random, no service layer
#   hooked    (1 service) client in Sluice's cgroup -> the backends directly:
#             the hooks' cost on a connection they do not steer
#   sluice    client in Sluice's cgroup -> service VIP, rewritten at connect()
#   iptables  client -> VIP, DNAT by a kube-proxy style nat chain
#             (KUBE-SERVICES -> KUBE-SVC statistic -> KUBE-SEP DNAT) in its
#             own "node" namespace (conntrack loads there, nowhere else),
#             with the system's iptables (Debian 12: the nf_tables backend)
#   iptables-legacy  the same rules through iptables-legacy (x_tables), as
#             kube-proxy runs on nodes whose iptables is the legacy one
#   haproxy   client -> HAProxy (Debian package) TCP mode, roundrobin
# each at 1 service and at 10,000 services (clients spread over all VIPs);
# plus apply time for 1,000 and 10,000 services and sluiced's RSS at 1,000.
# Medians of BENCH_RUNS runs (default 5) of BENCH_SECS seconds (default 2),
# the modes interleaved run by run; ratios printed; results also written to
# build/bench/l4.md for docs/benchmarks.md.
#
# Traffic safety: everything runs inside namespaces made here, on addresses
# bound to their lo; the Sluice hooks attach to a cgroup made here only.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SL_ID=${SL_ID:-$$}
. "$ROOT/tools/sandbox.sh"
B=$ROOT/build
CB=$B/connbench
RUNS=${BENCH_RUNS:-5}
SECS=${BENCH_SECS:-2}
BIG=${BENCH_SERVICES:-10000}
OUT=$B/bench/l4.md
sl_require_root
sl_ensure_bpffs
for b in sluiced sluicectl connbench; do
	[ -x "$B/$b" ] || { echo "bench_l4: build/$b missing: run make" >&2; exit 1; }
done
command -v haproxy >/dev/null || { echo "bench_l4: haproxy missing: make deps" >&2; exit 1; }
mkdir -p "$B/bench"

# ---- topology ----
sl_defer "rm -rf '$SL_BPFFS'"
sl_netns node >/dev/null || exit 1
sl_netns kp >/dev/null || exit 1
NS="sl${SL_ID}-node"
KP="sl${SL_ID}-kp"
LEGACY=
if command -v iptables-legacy-restore >/dev/null; then
	sl_netns kpl >/dev/null || exit 1
	LEGACY="sl${SL_ID}-kpl"
fi
sl_mkcgroup client >/dev/null || exit 1
CG="$(sl_cgroup2_root)/sluice-test-$SL_ID/client"
for ns in "$NS" "$KP" $LEGACY; do
	ip -n "$ns" addr add 10.1.0.1/32 dev lo
	ip -n "$ns" addr add 10.1.0.2/32 dev lo
	# VIP ranges are local (AnyIP): HAProxy binds them, DNAT rewrites them;
	# for Sluice the route does not matter (rewritten before routing).
	ip -n "$ns" route add local 10.96.0.0/16 dev lo
	ip -n "$ns" route add local 10.97.0.0/16 dev lo
	sl_bg "b1$ns" nsenter --net="/run/netns/$ns" "$CB" serve 10.1.0.1:9000 one >/dev/null
	sl_bg "b2$ns" nsenter --net="/run/netns/$ns" "$CB" serve 10.1.0.2:9000 two >/dev/null
done
sl_wait_for 5 nsenter --net="/run/netns/$NS" "$CB" client 10.1.0.2:9000 -n 1 || exit 1
sl_wait_for 5 nsenter --net="/run/netns/$KP" "$CB" client 10.1.0.2:9000 -n 1 || exit 1
[ -z "$LEGACY" ] || sl_wait_for 5 nsenter --net="/run/netns/$LEGACY" "$CB" client 10.1.0.2:9000 -n 1 || exit 1

mkdir -p "$SL_TMP/pol"
sl_bg sluiced nsenter --net="/run/netns/$NS" "$B/sluiced" --policy-dir "$SL_TMP/pol" \
	--cgroup "$CG" --bpffs "$SL_BPFFS" --socket "$SL_SOCK" --state-dir "$SL_TMP/state" \
	--no-http-helper >/dev/null
sl_defer "'$CTL' --socket '$SL_SOCK' reset"
sl_wait_for 10 "$CTL" --socket "$SL_SOCK" status || { echo "bench_l4: sluiced did not start"; exit 1; }
DPID=$SL_PID_sluiced

ip4() {	# ip4 BASE(10.96) N: the Nth address after BASE.0.10
	local n=$(($2 + 10))
	echo "$1.$((n / 256)).$((n % 256))"
}

# ---- policies and peer configurations for N services ----
gen_policy() {	# gen_policy N FILE: N tcp services, 50/50 over v1/v2
	python3 - "$1" >"$2" <<'EOF'
import sys
n = int(sys.argv[1])
out = []
for i in range(n):
    k = i + 10
    vip = "10.96.%d.%d" % (k // 256, k % 256)
    name = "svc%d" % i
    out.append("""apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: %(n)s, namespace: bench}
spec:
  hosts: [%(n)s.bench.svc.cluster.local]
  addresses: [%(vip)s]
  ports: [{number: 9000, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints:
  - {address: 10.1.0.1, labels: {version: v1}}
  - {address: 10.1.0.2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: %(n)s, namespace: bench}
spec:
  host: %(n)s
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: %(n)s, namespace: bench}
spec:
  hosts: [%(n)s]
  tcp:
  - route:
    - {destination: {host: %(n)s, subset: v1}, weight: 50}
    - {destination: {host: %(n)s, subset: v2}, weight: 50}
""" % {"n": name, "vip": vip})
sys.stdout.write("---\n".join(out))
EOF
}

gen_iptables() {	# gen_iptables N: iptables-restore input, kube-proxy's shape
	python3 - "$1" <<'EOF'
import sys
n = int(sys.argv[1])
w = sys.stdout.write
w("*nat\n:KUBE-SERVICES - [0:0]\n")
for i in range(n):
    w(":KUBE-SVC-%d - [0:0]\n:KUBE-SEP-%d-1 - [0:0]\n:KUBE-SEP-%d-2 - [0:0]\n" % (i, i, i))
w("-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
for i in range(n):
    k = i + 10
    vip = "10.96.%d.%d" % (k // 256, k % 256)
    w("-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"bench/svc%d:tcp cluster IP\" "
      "-m tcp --dport 9000 -j KUBE-SVC-%d\n" % (vip, i, i))
    w("-A KUBE-SVC-%d -m comment --comment \"bench/svc%d:tcp -> 10.1.0.1:9000\" "
      "-m statistic --mode random --probability 0.5 -j KUBE-SEP-%d-1\n" % (i, i, i))
    w("-A KUBE-SVC-%d -m comment --comment \"bench/svc%d:tcp -> 10.1.0.2:9000\" -j KUBE-SEP-%d-2\n" % (i, i, i))
    for e in (1, 2):
        w("-A KUBE-SEP-%d-%d -p tcp -m comment --comment \"bench/svc%d:tcp\" -m tcp "
          "-j DNAT --to-destination 10.1.0.%d:9000\n" % (i, e, i, e))
w("COMMIT\n")
EOF
}

gen_haproxy() {	# gen_haproxy N: one TCP listener per service on 10.97.x.y:9000
	python3 - "$1" <<'EOF'
import sys
n = int(sys.argv[1])
w = sys.stdout.write
w("global\n  nbthread 1\n  maxconn 4000\n  log stdout format raw local0 emerg\n"
  "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n"
  "backend be\n  balance roundrobin\n  server v1 10.1.0.1:9000\n  server v2 10.1.0.2:9000\n")
for i in range(n):
    k = i + 10
    w("frontend f%d\n  bind 10.97.%d.%d:9000\n  default_backend be\n" % (i, k // 256, k % 256))
EOF
}

# ---- measurement ----
declare -A R P50 P99	# "mode/size" -> space-separated per-run values
run_client() {	# run_client MODE SIZE: one run; appends to R/P50/P99
	local mode=$1 size=$2 line spread=() target
	[ "$size" -gt 1 ] && spread=(--spread "$size")
	case $mode in
	direct) line=$(nsenter --net="/run/netns/$NS" "$CB" client 10.1.0.1:9000 -d "$SECS" --linger0 --spread 2) ;;
	hooked) line=$(sl_in_cgroup_ns "$CG" "$NS" "$CB" client 10.1.0.1:9000 -d "$SECS" --linger0 --spread 2) ;;
	sluice) line=$(sl_in_cgroup_ns "$CG" "$NS" "$CB" client 10.96.0.10:9000 -d "$SECS" --linger0 "${spread[@]}") ;;
	iptables) line=$(nsenter --net="/run/netns/$KP" "$CB" client 10.96.0.10:9000 -d "$SECS" --linger0 "${spread[@]}") ;;
	iptables-legacy) line=$(nsenter --net="/run/netns/$LEGACY" "$CB" client 10.96.0.10:9000 -d "$SECS" --linger0 "${spread[@]}") ;;
	haproxy) line=$(nsenter --net="/run/netns/$NS" "$CB" client 10.97.0.10:9000 -d "$SECS" --linger0 "${spread[@]}") ;;
	esac
	if ! grep -q ' fail=0 ' <<<"$line"; then
		echo "bench_l4: $mode/$size had failures: $line" >&2
	fi
	R[$mode/$size]+="$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$line") "
	P50[$mode/$size]+="$(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<<"$line") "
	P99[$mode/$size]+="$(sed -n 's/.* p99_us=\([0-9]*\).*/\1/p' <<<"$line") "
}


HAPROXY_PID=
start_haproxy() {	# start_haproxy N
	[ -n "$HAPROXY_PID" ] && { kill "$HAPROXY_PID"; wait "$HAPROXY_PID" 2>/dev/null; }
	gen_haproxy "$1" >"$SL_TMP/haproxy.cfg"
	sl_bg "haproxy$1" nsenter --net="/run/netns/$NS" haproxy -db -f "$SL_TMP/haproxy.cfg" >/dev/null
	local v="SL_PID_haproxy$1"
	HAPROXY_PID=${!v}
	sl_wait_for 30 nsenter --net="/run/netns/$NS" "$CB" client "$(ip4 10.97 $(($1 - 1))):9000" -n 1 ||
		echo "bench_l4: haproxy with $1 listeners did not come up" >&2
}

apply_size() {	# apply_size N: apply N services, print sluicectl's wall time (ms)
	local t0 t1
	gen_policy "$1" "$SL_TMP/p$1.yaml"
	t0=$(date +%s%N)
	"$CTL" --socket "$SL_SOCK" apply -f "$SL_TMP/p$1.yaml" >/dev/null || echo "bench_l4: apply of $1 services failed" >&2
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

# "hooked" (1 service only): a client in Sluice's cgroup connecting straight
# to the backends — what the hooks cost a connection they do not steer.
modes() {
	local legacy=${LEGACY:+iptables-legacy}
	if [ "$1" = 1 ]; then echo direct hooked sluice iptables $legacy haproxy
	else echo direct sluice iptables $legacy haproxy; fi
}

# In-kernel cost of Sluice per steered connection, from bpf_stats (run time
# and count of each of Sluice's programs over one sluice run): a figure with
# far less noise than the rates, which says what the ratio to direct can be.
declare -A BPFNS BPFDETAIL
prog_stats() {	# id -> "run_time_ns run_cnt" of every sluice program
	bpftool -j prog show | jq -r '.[] | select(.name | startswith("sluice_")) |
		"\(.id) \(.name) \(.run_time_ns // 0) \(.run_cnt // 0)"'
}
bpf_cost() {	# bpf_cost SIZE: one sluice run with bpf_stats on
	local size=$1 before after line conns spread=()
	[ "$size" -gt 1 ] && spread=(--spread "$size")
	sysctl -qw kernel.bpf_stats_enabled=1
	before=$(prog_stats)
	line=$(sl_in_cgroup_ns "$CG" "$NS" "$CB" client 10.96.0.10:9000 -d "$SECS" --linger0 "${spread[@]}")
	after=$(prog_stats)
	sysctl -qw kernel.bpf_stats_enabled=0
	conns=$(sed -n 's/.* ok=\([0-9]*\) .*/\1/p' <<<"$line")
	[ "${conns:-0}" -gt 0 ] || return
	read -r BPFNS[$size] BPFDETAIL[$size] < <(join <(sort <<<"$before") <(sort <<<"$after") |
		awk -v n="$conns" '$7 > $4 {	# id name ns0 cnt0 name ns1 cnt1
			t = $6 - $3; c = $7 - $4; tot += t
			d = d sprintf("%s%s %.0f ns x %.1f", d ? ", " : "", $2, t / c, c / n) }
			END { printf "%.0f %s\n", tot / n, d }' | tr -s ' ' ' ')
}
sl_defer "sysctl -qw kernel.bpf_stats_enabled=0"

declare -A APPLY
for size in 1 "$BIG"; do
	echo "== $size service(s): configuring sluice, iptables, haproxy" >&2
	APPLY[$size]=$(apply_size "$size")
	gen_iptables "$size" | nsenter --net="/run/netns/$KP" iptables-restore
	[ -z "$LEGACY" ] || gen_iptables "$size" | nsenter --net="/run/netns/$LEGACY" iptables-legacy-restore
	start_haproxy "$size"
	for r in $(seq 1 "$RUNS"); do
		for mode in $(modes "$size"); do
			run_client "$mode" "$size"
		done
		echo "   run $r/$RUNS done" >&2
	done
	bpf_cost "$size"
done
# Apply time at 1,000 and 10,000 services (fresh desired state each time,
# from the small one) and RSS at 1,000 services.
apply_size 1 >/dev/null
A1K=()
A10K=()
for r in $(seq 1 "$RUNS"); do
	A1K+=("$(apply_size 1000)")
	A10K+=("$(apply_size "$BIG")")
	apply_size 1 >/dev/null
done
apply_size 1000 >/dev/null
RSS_KB=$(awk '/^VmRSS/ { print $2 }' "/proc/$DPID/status")
DAEMON_APPLY_MS=$("$CTL" --socket "$SL_SOCK" status -o json | jq -r .last_apply_ms)

# ---- report ----
{
	echo "### L4 connection benchmark ($(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r))"
	echo
	echo "connect + 6-byte echo + close, one client thread, ${SECS}s runs, median of $RUNS;"
	echo "p50/p99 = connect() latency. At $BIG services the client spreads over all VIPs."
	echo
	echo "| services | path | conn/s | p50 µs | p99 µs | sluice ÷ path | direct ÷ path |"
	echo "|---:|---|---:|---:|---:|---:|---:|"
	for size in 1 "$BIG"; do
		s=$(echo "${R[sluice/$size]}" | sl_median)
		d=$(echo "${R[direct/$size]}" | sl_median)
		for mode in $(modes "$size"); do
			rate=$(echo "${R[$mode/$size]}" | sl_median)
			printf '| %s | %s | %.0f | %s | %s | %s | %s |\n' "$size" "$mode" "$rate" \
				"$(echo "${P50[$mode/$size]}" | sl_median)" "$(echo "${P99[$mode/$size]}" | sl_median)" \
				"$(awk -v a="$s" -v b="$rate" 'BEGIN { printf (b > 0 ? "%.2fx" : "-"), a / b }')" \
				"$(awk -v a="$d" -v b="$rate" 'BEGIN { printf (b > 0 ? "%.2fx" : "-"), a / b }')"
		done
	done
	echo
	echo "direct ÷ path is the ceiling of sluice ÷ path: what steering at zero cost would"
	echo "reach against that peer with this client and these backends on this machine."
	echo
	echo "| services | Sluice BPF time per steered connection (bpf_stats) | per program (ns per run x runs per connection) | direct connection time | predicted sluice ÷ direct |"
	echo "|---:|---:|---|---:|---:|"
	for size in 1 "$BIG"; do
		d=$(echo "${R[direct/$size]}" | sl_median)
		awk -v s="$size" -v b="${BPFNS[$size]:-0}" -v det="${BPFDETAIL[$size]:-}" -v d="$d" 'BEGIN {
			dt = d > 0 ? 1e9 / d : 0
			printf "| %s | %.2f µs | %s | %.1f µs | %.3fx |\n", s, b / 1000, det, dt / 1000,
			       (dt > 0 ? dt / (dt + b) : 0) }'
	done
	echo
	echo "| apply (sluicectl apply, wall) | median ms | runs |"
	echo "|---|---:|---|"
	echo "| 1 service | ${APPLY[1]} | 1 |"
	echo "| 1,000 services | $(echo "${A1K[*]}" | sl_median) | ${A1K[*]} |"
	echo "| $BIG services | $(echo "${A10K[*]}" | sl_median) | ${A10K[*]} |"
	echo
	echo "sluiced RSS at 1,000 services: $((RSS_KB / 1024)) MB ($RSS_KB kB); daemon-side compile+flip of the last apply: $DAEMON_APPLY_MS ms."
	echo
	echo "Targets (issue 3): sluice >= 0.97x direct; >= 3x iptables at $BIG; >= 2x haproxy;"
	echo "apply of $BIG <= 1000 ms; RSS <= 16 MB."
} | tee "$OUT"
