# SPDX-License-Identifier: Apache-2.0
# The sluiced node of the end-to-end tests, the benchmarks and `make demo`
# (sourced after tools/sandbox.sh).
#
# One network namespace "node" (sl<id>-node) with lo up and the backend
# addresses 10.1.0.1 (v1, answers "one ...") and 10.1.0.2 (v2, "two ...")
# on lo; sluiced runs inside it (so its metrics port and the helper's mesh
# listener never collide with other runs) with a private pin root, control
# socket, state dir and policy dir; its socket hooks attach only to the test
# cgroup "client". Clients join that cgroup, then the namespace, and connect
# to the S1 VIP 198.18.0.10:9000 — which has no route: only Sluice's
# connect() rewrite makes it reachable.

VIP=198.18.0.10:9000
DL_POL=$SL_TMP/policies
DL_STATE=$SL_TMP/state


# S1 with weights $1/$2 on stdout (the VirtualService alone when $3 = vs;
# with $3 = workloads the endpoints are WorkloadEntries tcp-echo-v1 and
# tcp-echo-v2 selected by the ServiceEntry, so metrics name them).
dl_s1() {
	local w1=$1 w2=$2
	if [ "${3:-}" = workloads ]; then
		cat <<'EOF'
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: tcp-echo-v1, namespace: weather}
spec: {address: 10.1.0.1, labels: {app: tcp-echo, version: v1}}
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: tcp-echo-v2, namespace: weather}
spec: {address: 10.1.0.2, labels: {app: tcp-echo, version: v2}}
---
EOF
	fi
	if [ "${3:-}" != vs ]; then
		cat <<'EOF'
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: tcp-echo, namespace: weather}
spec:
  hosts: [tcp-echo.weather.svc.cluster.local]
  addresses: [198.18.0.10]
  ports: [{number: 9000, name: tcp, protocol: TCP}]
  resolution: STATIC
EOF
		if [ "${3:-}" = workloads ]; then
			echo "  workloadSelector: {labels: {app: tcp-echo}}"
		else
			cat <<'EOF'
  endpoints:
  - {address: 10.1.0.1, ports: {tcp: 9000}, labels: {app: tcp-echo, version: v1}}
  - {address: 10.1.0.2, ports: {tcp: 9000}, labels: {app: tcp-echo, version: v2}}
EOF
		fi
		cat <<'EOF'
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
EOF
	fi
	cat <<EOF
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: tcp-echo, namespace: weather}
spec:
  hosts: [tcp-echo]
  tcp:
  - match: [{port: 9000}]
    route:
    - {destination: {host: tcp-echo, port: {number: 9000}, subset: v1}, weight: $w1}
    - {destination: {host: tcp-echo, port: {number: 9000}, subset: v2}, weight: $w2}
EOF
}

# The HTTP service "web" (VIP 198.18.0.20:8080, v1 on 10.1.0.1, v2 on
# 10.1.0.2) with a header route: x-canary: yes -> v2, everyone else v1.
# dl_web workloads: the endpoints are WorkloadEntries web-v1 and web-v2
# (namespace shop) selected by the ServiceEntry, so metrics name them.
dl_web() {
	if [ "${1:-}" = workloads ]; then
		cat <<'YAML'
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: web-v1, namespace: shop}
spec: {address: 10.1.0.1, labels: {app: web, version: v1}}
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: web-v2, namespace: shop}
spec: {address: 10.1.0.2, labels: {app: web, version: v2}}
---
YAML
	fi
	cat <<'YAML'
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: web, namespace: shop}
spec:
  hosts: [web.shop.svc.cluster.local]
  addresses: [198.18.0.20]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
YAML
	if [ "${1:-}" = workloads ]; then
		echo "  workloadSelector: {labels: {app: web}}"
	else
		cat <<'YAML'
  endpoints:
  - {address: 10.1.0.1, labels: {version: v1}}
  - {address: 10.1.0.2, labels: {version: v2}}
YAML
	fi
	cat <<'YAML'
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec:
  host: web
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - match: [{headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: web, subset: v2}}]
  - route: [{destination: {host: web, subset: v1}}]
YAML
}

# dl_web_backends NS: HTTP backends for "web" in NS (python3 stdlib),
# answering "web v1" / "web v2"; returns once both answer.
dl_web_backends() {
	local ns=$1 v
	for v in 1 2; do
		sl_bg "web$v" nsenter --net="/run/netns/$ns" python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = ("web v%s\n" % sys.argv[2]).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer((sys.argv[1], 8080), H).serve_forever()' "10.1.0.$v" "$v" >/dev/null
	done
	for v in 1 2; do
		sl_wait_for 10 sl_in_ns "$ns" curl -sf -m 2 -o /dev/null "http://10.1.0.$v:8080/" || return 1
	done
}

# dl_extra_se: a second TCP service ("extra", VIP 198.18.0.77) beside S1,
# for the tests of sources and empty applies.
dl_extra_se() {
	cat <<'YAML'
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: extra, namespace: weather}
spec:
  hosts: [extra.weather.svc.cluster.local]
  addresses: [198.18.0.77]
  ports: [{number: 9000, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 10.1.0.1}]
YAML
}

# dl_forecast KEY VALUE: the TCP service "forecast" (VIP 198.18.0.11:9000,
# v1 on 10.1.0.1, v2 on 10.1.0.2) routed by its client's labels: clients
# labelled KEY: VALUE to v2, everyone else to v1.
dl_forecast() {
	cat <<YAML
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: forecast, namespace: weather}
spec:
  hosts: [forecast.weather.svc.cluster.local]
  addresses: [198.18.0.11]
  ports: [{number: 9000, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints:
  - {address: 10.1.0.1, ports: {tcp: 9000}, labels: {version: v1}}
  - {address: 10.1.0.2, ports: {tcp: 9000}, labels: {version: v2}}
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
  tcp:
  - match: [{sourceLabels: {$1: $2}}]
    route: [{destination: {host: forecast, subset: v2}}]
  - route: [{destination: {host: forecast, subset: v1}}]
YAML
}

# dl_policy FILE W1 W2: write S1 with those weights to FILE.
dl_policy() { dl_s1 "$2" "$3" >"$1"; }

dl_setup() {
	sl_require_root
	sl_ensure_bpffs
	sl_need_built "$SLUICED" "$CTL" "$CONNBENCH"
	mkdir -p "$DL_POL" "$DL_STATE"
	# Last resort if the daemon cannot reset: unpinning removes everything.
	sl_defer "rm -rf '$SL_BPFFS'"
	# Not in $(...): sl_netns/sl_mkcgroup/sl_bg register their cleanup with
	# sl_defer, which a command-substitution subshell would lose. sl_bg gets
	# nsenter itself (not the sl_in_ns function): nsenter execs, so the PID
	# it records is the process to kill.
	sl_netns node >/dev/null || exit 1
	NS="sl${SL_ID}-node"
	ip -n "$NS" addr add 10.1.0.1/32 dev lo
	ip -n "$NS" addr add 10.1.0.2/32 dev lo
	sl_mkcgroup client >/dev/null || exit 1
	CG="$(sl_cgroup2_root)/sluice-test-$SL_ID/client"
	sl_bg b1 nsenter --net="/run/netns/$NS" "$CONNBENCH" serve 10.1.0.1:9000 one >/dev/null
	sl_bg b2 nsenter --net="/run/netns/$NS" "$CONNBENCH" serve 10.1.0.2:9000 two >/dev/null
	sl_wait_for 5 sl_in_ns "$NS" "$CONNBENCH" client 10.1.0.1:9000 -n 1 &&
		sl_wait_for 5 sl_in_ns "$NS" "$CONNBENCH" client 10.1.0.2:9000 -n 1 ||
		{ echo "Bail out! backends did not start"; exit 1; }
}

# dl_setup_helper: dl_setup for a test that runs sluice-http under sluiced:
# bails out when it is not built; a helper that outlives sluiced is killed
# by the PID in its pid file.
dl_setup_helper() {
	[ -x "$SL_BUILD/sluice-http" ] || { echo "Bail out! sluice-http is not built"; exit 1; }
	dl_setup
	sl_defer "[ -f '$DL_STATE/http.pid' ] && kill \$(cat '$DL_STATE/http.pid')"
}

# dl_start [extra sluiced flags]: start sluiced in the node namespace; wait
# until it answers. Sets DL_PID. The first start registers the reset.
# Without sluice-http unless DL_HELPER=1 (the caller then defers killing a
# helper that outlives sluiced, from $DL_STATE/http.pid).
DL_RESET_DEFERRED=0
dl_start() {
	local var="SL_PID_sluiced$DL_STARTS" helper=(--no-http-helper)
	[ "${DL_HELPER:-0}" = 1 ] && helper=()
	sl_bg "sluiced$DL_STARTS" nsenter --net="/run/netns/$NS" "$SLUICED" --policy-dir "$DL_POL" \
		--cgroup "$CG" --bpffs "$SL_BPFFS" --socket "$SL_SOCK" --state-dir "$DL_STATE" \
		"${helper[@]}" "$@" >/dev/null
	DL_PID=${!var}
	DL_LOG=$SL_TMP/sluiced$DL_STARTS.log
	DL_STARTS=$((DL_STARTS + 1))
	if [ "$DL_RESET_DEFERRED" = 0 ]; then
		sl_defer "'$CTL' --socket '$SL_SOCK' reset"
		DL_RESET_DEFERRED=1
	fi
	sl_wait_for 10 ctl status
}
DL_STARTS=0

# dl_load N [connbench args]: N connections from the client cgroup to the
# VIP; prints connbench's summary line.
dl_load() {
	local n=$1; shift
	sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client "$VIP" -n "$n" "$@"
}

# dl_load_bg OUT [connbench args]: the same load in the background, output
# to OUT; DL_LOAD_PID is connbench itself (sh and nsenter exec into it), so
# `kill -TERM` ends the load early and it still prints its summary.
dl_load_bg() {
	local out=$1; shift
	sh -c 'echo $$ > "$1/cgroup.procs" && shift 2 && exec nsenter --net="/run/netns/$0" "$@"' \
		"$NS" "$CG" x "$CONNBENCH" client "$VIP" "$@" >"$out" 2>&1 &
	DL_LOAD_PID=$!
	sl_defer "kill $DL_LOAD_PID"
}


# Generation from `sluicectl status -o json`.
dl_gen() { ctl status -o json | jq -r .generation; }

# dl_trace_run N OUT CMD...: start `trace -o json --count N` (bounded by a
# timeout), wait until it reads, run CMD, wait for the trace to end.
dl_trace_run() {
	local n=$1 out=$2; shift 2
	timeout 20 "$CTL" --socket "$SL_SOCK" trace -o json --count "$n" >"$out" 2>"$out.err" &
	local tp=$!
	sl_defer "kill $tp"
	sl_wait_for 10 grep -q "tracing connect" "$out.err" || return 1
	"$@" >/dev/null 2>&1
	wait "$tp"
}

# dl_kube_sim: the API-server simulator (tools/kube_apiserver_sim.py) in
# the node namespace on 127.0.0.1:6443 (HTTPS, a test CA made here, token
# sim-token-1) and its control port 6444; sets KUBECONFIG_SIM (a kubeconfig
# for sluiced --kubeconfig) and defines ctlsim VERB (POSTs stdin there:
# put, delete, compact, drop).
dl_kube_sim() {
	local k=$SL_TMP/kube
	command -v openssl >/dev/null || { echo "Bail out! openssl is not installed (make deps)"; exit 1; }
	mkdir -p "$k"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=sluice-test-ca" \
		-keyout "$k/ca.key" -out "$k/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$k/srv.key" \
		-out "$k/srv.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' >"$k/san.ext"
	openssl x509 -req -in "$k/srv.csr" -CA "$k/ca.crt" -CAkey "$k/ca.key" -CAcreateserial \
		-days 1 -extfile "$k/san.ext" -out "$k/srv.crt" 2>/dev/null ||
		{ echo "Bail out! cannot make test certificates"; exit 1; }
	# a client certificate of the same CA (x509 authentication)
	openssl req -newkey rsa:2048 -nodes -subj "/CN=system:node:sim/O=system:nodes" \
		-keyout "$k/client.key" -out "$k/client.csr" 2>/dev/null &&
		openssl x509 -req -in "$k/client.csr" -CA "$k/ca.crt" -CAkey "$k/ca.key" \
			-CAcreateserial -days 1 -out "$k/client.crt" 2>/dev/null ||
		{ echo "Bail out! cannot make test certificates"; exit 1; }
	sl_bg apisim nsenter --net="/run/netns/$NS" python3 "$SL_ROOT/tools/kube_apiserver_sim.py" \
		--addr 127.0.0.1 --port 6443 --control-port 6444 --cert "$k/srv.crt" --key "$k/srv.key" \
		--token sim-token-1 --client-ca "$k/ca.crt" >/dev/null
	sl_wait_for 10 sl_in_ns "$NS" curl -s -o /dev/null http://127.0.0.1:6444/stats ||
		{ echo "Bail out! the simulator did not start"; exit 1; }
	KUBECONFIG_SIM=$k/kubeconfig
	cat >"$KUBECONFIG_SIM" <<YAML
apiVersion: v1
kind: Config
current-context: sim
clusters: [{name: sim, cluster: {server: "https://127.0.0.1:6443", certificate-authority: $k/ca.crt}}]
users: [{name: sim, user: {token: sim-token-1}}]
contexts: [{name: sim, context: {cluster: sim, user: sim}}]
YAML
	# the same cluster with a client certificate, as kubeadm writes a
	# node's kubeconfig: everything inline (*-data, base64)
	KUBECONFIG_SIM_CERT=$k/kubeconfig-cert
	cat >"$KUBECONFIG_SIM_CERT" <<YAML
apiVersion: v1
kind: Config
current-context: node
clusters: [{name: sim, cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: $(base64 -w0 "$k/ca.crt")}}]
users: [{name: node, user: {client-certificate-data: $(base64 -w0 "$k/client.crt"), client-key-data: $(base64 -w0 "$k/client.key")}}]
contexts: [{name: node, context: {cluster: sim, user: node}}]
YAML
}
ctlsim() { sl_in_ns "$NS" curl -s -m 30 -X POST --data-binary @- "http://127.0.0.1:6444/$1"; }
