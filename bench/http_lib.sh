# SPDX-License-Identifier: Apache-2.0
# The start shared by the sluice-http benchmarks (bench_http.sh,
# bench_https.sh, bench_h2.sh), sourced from the repository root: the knobs'
# defaults, a temporary directory and the processes started, both removed at
# exit, the two C backends (v1, v2) with their ServiceEntry and
# DestinationRule, the certificate and the split route of the TLS runs (and
# HAProxy's twin of it),
# CPU time of processes, and the medians and paired ratios of the runs.
set -uo pipefail
B=${B:-build}
RUNS=${RUNS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
IP=127.0.0.1
PIDS=()

# hb_init NAME TOOL...: T (a temporary directory), sluice-http and the
# backend built, the tools checked; everything started is killed at exit.
hb_init() {
	local name=$1 c
	shift
	T=$(mktemp -d "/tmp/sluice-$name.XXXXXX")
	trap hb_cleanup EXIT
	trap 'exit 130' INT TERM
	make -s build/sluice-http build/http-backend >/dev/null || { echo "$name: build failed"; exit 1; }
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "$name: $c not installed (make deps)"; exit 1; }
	done
}
hb_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.1
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
port_open() { (exec 3<>"/dev/tcp/$IP/$1") 2>/dev/null; }
wait_port() { local i; for i in $(seq 1 100); do port_open "$1" && return 0; sleep 0.05; done; return 1; }

# hb_backends: the 1 KB backends v1 on P_V1 and v2 on P_V2 (BE1, BE2).
hb_backends() {
	"$B/http-backend" $IP "$P_V1" v1 1024 >/dev/null & BE1=$!; PIDS+=($BE1)
	"$B/http-backend" $IP "$P_V2" v2 1024 >/dev/null & BE2=$!; PIDS+=($BE2)
}

# hb_service_yaml: the ServiceEntry "bench" of the two backends and its
# DestinationRule (subsets v1, v2), ending with a document separator.
hb_service_yaml() {
	cat <<YAML
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: bench, namespace: bench}
spec:
  hosts: [bench.bench.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: $IP, ports: {http: $P_V1}, labels: {version: v1}}
  - {address: $IP, ports: {http: $P_V2}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: bench, namespace: bench}
spec:
  host: bench
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
YAML
}

# hb_cert: an ECDSA P-256 certificate for bench.example in $T (tls.crt,
# tls.key, and haproxy.pem: both), and the TLS 1.2 cipher both proxies are
# held to in CIPHER.
CIPHER=ECDHE-ECDSA-AES128-GCM-SHA256
hb_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=bench.example" -addext "subjectAltName=DNS:bench.example" \
		-keyout "$T/tls.key" -out "$T/tls.crt" 2>/dev/null || return 1
	cat "$T/tls.crt" "$T/tls.key" >"$T/haproxy.pem"
}

# hb_tls_yaml: the tls block of an HTTPS server of that certificate and
# cipher (indented for a server under "servers:").
hb_tls_yaml() {
	cat <<YAML
    tls:
      mode: SIMPLE
      serverCertificate: $T/tls.crt
      privateKey: $T/tls.key
      minProtocolVersion: TLSV1_2
      maxProtocolVersion: TLSV1_2
      cipherSuites: [$CIPHER]
YAML
}

# hb_split_yaml: the VirtualService "bench" on Gateway gw: x-cohort:
# internal -> v2, the rest 90/10.
hb_split_yaml() {
	cat <<YAML
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bench, namespace: bench}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{headers: {x-cohort: {exact: internal}}}]
    route: [{destination: {host: bench, subset: v2}}]
  - route:
    - {destination: {host: bench, subset: v1}, weight: 90}
    - {destination: {host: bench, subset: v2}, weight: 10}
YAML
}

# hb_haproxy_split BIND...: HAProxy's configuration of the same route, one
# thread, with the given bind lines.
hb_haproxy_split() {
	local b
	cat <<CFG
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option http-keep-alive
    http-reuse always
frontend fe
CFG
	for b in "$@"; do echo "    bind $b"; done
	cat <<CFG
    acl cohort req.hdr(x-cohort) -m str internal
    use_backend v2 if cohort
    default_backend split
backend v2
    server v2 $IP:$P_V2
backend split
    balance random
    server v1 $IP:$P_V1 weight 90
    server v2 $IP:$P_V2 weight 10
CFG
}

# cpu_ticks PID...: utime+stime of processes (all threads), clock ticks
cpu_ticks() { local p t=0; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo $t; }
TCK=$(getconf CLK_TCK)

# med KEY NAME FIELD: the median of FIELD over the runs ($T/runs lines
# "KEY NAME ROUND values...") of target NAME under KEY (a mode or a load).
med() {
	awk -v m="$1" -v n="$2" -v f="$3" '$1 == m && $2 == n { print $f }' "$T/runs" | sort -g |
		awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
# ratios KEY FIELD: sluice-http / haproxy per round -> "median min max"
# (each round's two runs are minutes apart at most: the paired ratio is
# less exposed to load that drifts over the whole benchmark)
ratios() {
	awk -v m="$1" -v f="$2" '$1 == m && $2 == "sluice-http" { s[$3] = $f }
		$1 == m && $2 == "haproxy" { h[$3] = $f }
		END { for (i in s) if (h[i] > 0) print s[i] / h[i] }' "$T/runs" | sort -g |
		awk '{ a[NR] = $1 } END { printf "%.2f %.2f %.2f", a[int((NR + 1) / 2)], a[1], a[NR] }'
}

# hb_report ERRCOL LOAD...: per load, the medians of haproxy and sluice-http
# (rps, p99, ERRCOL, proxy CPU per request: fields 4-7 of $T/runs) and the
# median (range) of their per-round ratios.
hb_report() {
	local errcol=$1 load t r4 r5 r7
	shift
	for load in "$@"; do
		printf '\n[%s] %-12s %10s %10s %8s %16s\n' "$load" target rps p99_us "$errcol" proxy_cpu_us/req
		for t in haproxy sluice-http; do
			printf '[%s] %-12s %10s %10s %8s %16s\n' "$load" "$t" "$(med $load $t 4)" \
				"$(med $load $t 5)" "$(med $load $t 6)" "$(med $load $t 7)"
		done
		read -r -a r4 <<<"$(ratios $load 4)"
		read -r -a r5 <<<"$(ratios $load 5)"
		read -r -a r7 <<<"$(ratios $load 7)"
		printf '[%s] sluice-http/haproxy: rps %s (%s..%s), p99 %s (%s..%s), proxy CPU/req %s (%s..%s)\n' \
			"$load" "${r4[@]}" "${r5[@]}" "${r7[@]}"
	done
}
