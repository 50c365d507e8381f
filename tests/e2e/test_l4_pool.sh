#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# S8, connectionPool.tcp enforced in the kernel: with maxConnections 100 the
# 101st concurrent connection to the subset is refused (ECONNREFUSED) and
# counted as overflow, a closed one frees its slot; tcpKeepalive shows on the
# sockets (ss -o); a backend that never answers the SYN fails connect() after
# about connectTimeout instead of the kernel's two minutes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
dl_start --metrics 127.0.0.1:9467 || { echo "Bail out! sluiced did not start"; exit 1; }
# a "backend" whose SYNs vanish: its address is local, its SYNs dropped
ip -n "$NS" addr add 10.1.0.9/32 dev lo
nsenter --net="/run/netns/$NS" iptables -A INPUT -d 10.1.0.9 -p tcp --syn -j DROP ||
	{ echo "Bail out! iptables in the node namespace"; exit 1; }

sed -e 's/address: 198.18.8.1,/address: 10.1.0.1, ports: {tcp-redis: 9000},/' \
	"$SL_ROOT/policies/examples/s8-redis-pool/redis.yaml" >"$SL_TMP/redis.yaml"
cat >>"$SL_TMP/redis.yaml" <<'EOF'
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: silent, namespace: cache}
spec:
  hosts: [silent.cache.svc.cluster.local]
  addresses: [198.18.8.11]
  ports: [{number: 9000, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 10.1.0.9}]
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: silent, namespace: cache}
spec:
  host: silent.cache.svc.cluster.local
  trafficPolicy: {connectionPool: {tcp: {connectTimeout: 30ms}}}
EOF
sl_check "the S8 DestinationRule as written validates" "$CTL" validate -q -f "$SL_TMP/redis.yaml"
sl_check "and applies" ctl apply -q -f "$SL_TMP/redis.yaml"

# pool_client: N connections to the VIP held open (each answered once),
# then one more; report, keep them while the caller looks, close, retry.
cat >"$SL_TMP/pool_client.py" <<'EOF'
import errno, os, socket, sys, time
vip, port, n, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
held, err = [], 0
for _ in range(n):
    s = socket.create_connection((vip, port), timeout=5)
    s.sendall(b"hi\n"); s.recv(64)
    held.append(s)
try:
    socket.create_connection((vip, port), timeout=5).close()
except OSError as e:
    err = e.errno
uto = held[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)
print("uto=%d" % uto, flush=True)
print("held=%d extra_errno=%d" % (len(held), err), flush=True)
time.sleep(hold)
held.pop().close()
time.sleep(0.2)
try:
    socket.create_connection((vip, port), timeout=5).close()
    again = 0
except OSError as e:
    again = e.errno
print("after_close_errno=%d" % again, flush=True)
for s in held:
    s.close()
EOF
sl_in_cgroup_ns "$CG" "$NS" python3 "$SL_TMP/pool_client.py" 198.18.8.10 6379 100 3 \
	>"$SL_TMP/pool.out" 2>&1 &
pc=$!
sl_defer "kill $pc"
sl_wait_for 15 grep -q "^held=" "$SL_TMP/pool.out"
sl_log "$(head -1 "$SL_TMP/pool.out")"
sl_check "100 connections held open" grep -q "^held=100 " "$SL_TMP/pool.out"
sl_check "once established a socket has no TCP_USER_TIMEOUT (connectTimeout bounds only the SYN)" \
	grep -q "^uto=0$" "$SL_TMP/pool.out"
sl_check "the 101st is refused with ECONNREFUSED" grep -q "extra_errno=$(python3 -c 'import errno; print(errno.ECONNREFUSED)')$" "$SL_TMP/pool.out"
ov=$(ctl stats -o json | jq '.[] | select(.level == "subset" and .service == "redis.cache.svc.cluster.local") | .overflow')
sl_check "the refusal is counted as overflow in stats (${ov:-none})" [ "${ov:-0}" = 1 ]
sl_check "and on /metrics (sluice_pool_overflow_total)" sh -c "nsenter --net=/run/netns/$NS curl -s -m 5 http://127.0.0.1:9467/metrics |
	grep -q '^sluice_pool_overflow_total{destination_service=\"redis.cache.svc.cluster.local\",destination_subset=\"\"} 1\$'"
ka=$(nsenter --net="/run/netns/$NS" ss -tnoH state established dst 10.1.0.1 dport = 9000 | grep -c "timer:(keepalive,1[12][0-9]min")
sl_check "keepalive armed on the held sockets: 7200 s idle ($ka of 100 show it in ss -o)" [ "$ka" -eq 100 ]
wait "$pc"
sl_log "$(tail -1 "$SL_TMP/pool.out")"
sl_check "a closed connection frees its slot: the next connect() succeeds" \
	grep -q "^after_close_errno=0$" "$SL_TMP/pool.out"
line=$(sl_in_cgroup_ns "$CG" "$NS" "$CONNBENCH" client 198.18.8.10:6379 -n 300)
sl_check "after all closed: 300 sequential connections, 0 failed" [ "$(dl_field "$line" fail)" = 0 ]

# connectTimeout: the SYN to the silent backend gives up after ~30 ms.
t=$(sl_in_cgroup_ns "$CG" "$NS" python3 -c '
import errno, socket, time
t0 = time.monotonic()
try:
    socket.create_connection(("198.18.8.11", 9000), timeout=10).close(); e = 0
except OSError as x:
    e = x.errno or -1
print("%d %.1f" % (e, (time.monotonic() - t0) * 1000))')
sl_log "silent backend: errno and ms: $t"
sl_check "silent backend: connect() fails with ETIMEDOUT" [ "${t%% *}" = "$(python3 -c 'import errno; print(errno.ETIMEDOUT)')" ]
sl_check "... after about connectTimeout (30 ms; < 1 s, the kernel alone waits ~130 s)" \
	awk -v ms="${t#* }" 'BEGIN { exit !(ms >= 20 && ms < 1000) }'

sl_done
