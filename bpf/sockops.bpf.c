/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection life cycle of the sockets the connect hooks steered: counts
 * established, failed (closed before established), closed, active and bytes
 * per backend in sluice_stats (LEAST_REQUEST reads `active`), and publishes
 * sluice_origdst for connections sent to sluice-http once their local port
 * is known, and applies the subset's connectionPool.tcp (maxConnections
 * count, connectTimeout, tcpKeepalive). Only sockets with sluice_sock
 * storage are touched.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "sluice/abi.h"
#include "lib/maps.h"
#include "lib/stats.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The kernel's tick rate, for the SYN RTO (in jiffies); 0 when libbpf finds
 * no kernel config, then the lowest common rate is assumed (see syn_rto). */
extern int CONFIG_HZ __kconfig __weak;

/* TCP_CLOSE in the kernel's TCP state numbering (include/net/tcp_states.h). */
#define SLUICE_TCP_CLOSE 7

/* Socket options (include/uapi/asm-generic/socket.h, linux/tcp.h). */
#define SL_SOL_SOCKET 1
#define SL_SO_KEEPALIVE 9
#define SL_SOL_TCP 6
#define SL_TCP_KEEPIDLE 4
#define SL_TCP_KEEPINTVL 5
#define SL_TCP_KEEPCNT 6
#define SL_TCP_USER_TIMEOUT 18

static __always_inline struct sluice_sk_state *steered(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;

	if (!sk)
		return NULL;
	/* absent = a socket Sluice did not rewrite: not ours to count */
	return bpf_sk_storage_get(&sluice_sock, sk, 0, 0);
}

static __always_inline void origdst_key(struct bpf_sock_ops *skops, struct sluice_origdst_key *k)
{
	/* read every field unconditionally: the verifier refuses a context
	 * access through a pointer the compiler computed for both branches */
	__u32 ip4 = *(volatile __u32 *)&skops->local_ip4;
	__u32 a0 = *(volatile __u32 *)&skops->local_ip6[0];
	__u32 a1 = *(volatile __u32 *)&skops->local_ip6[1];
	__u32 a2 = *(volatile __u32 *)&skops->local_ip6[2];
	__u32 a3 = *(volatile __u32 *)&skops->local_ip6[3];
	__u32 family = skops->family, w[4];

	if (family == 2 /* AF_INET */) {
		w[0] = 0;
		w[1] = 0;
		w[2] = bpf_htonl(0xffff);
		w[3] = ip4;
	} else {
		w[0] = a0;
		w[1] = a1;
		w[2] = a2;
		w[3] = a3;
	}
	__builtin_memcpy(k->addr, w, 16);
	/* local_port is in host order in bpf_sock_ops */
	k->port = bpf_htons((__u16)skops->local_port);
	k->pad = 0;
}

/* connectionPool.tcp of the socket's subset, when it has one: count the
 * connection against maxConnections (from its SYN to its close), bound the
 * handshake by connectTimeout, set tcpKeepalive. At TCP_CONNECT_CB, before
 * the SYN is sent. */
static __always_inline void pool_connect(struct bpf_sock_ops *skops, struct sluice_sk_state *ss)
{
	struct sluice_pool_key pk = { .gen = sluice_live_gen(), .svc_sid = ss->stats.svc_sid,
				      .subset_sid = ss->stats.subset_sid };
	struct sluice_pool_use_key uk = { .svc_sid = ss->stats.svc_sid,
					  .subset_sid = ss->stats.subset_sid };
	struct sluice_pool_use zero = {}, *use;
	struct sluice_pool *pool;
	int v;

	pool = bpf_map_lookup_elem(&sluice_pool, &pk);
	if (!pool)
		return;
	if (pool->od_consecutive)
		ss->flags |= SLUICE_SOCK_F_OUTLIER;
	if (pool->max_conns) {
		use = sluice_get_or_create(&sluice_pool_use, &uk, &zero);
		/* fail-open: a full map only loses the count */
		if (use) {
			__sync_fetch_and_add(&use->open, 1);
			ss->flags |= SLUICE_SOCK_F_POOLED;
		}
	}
	/* TCP_USER_TIMEOUT bounds SYN_SENT too (Linux 5.4+): the SYN gives up
	 * after connectTimeout. Cleared once established, so it never bounds
	 * data; an application's own value is left alone. */
	v = 0;
	if (pool->connect_timeout_ms &&
	    !bpf_getsockopt(skops, SL_SOL_TCP, SL_TCP_USER_TIMEOUT, &v, sizeof(v)) && v == 0) {
		v = (int)pool->connect_timeout_ms;
		if (!bpf_setsockopt(skops, SL_SOL_TCP, SL_TCP_USER_TIMEOUT, &v, sizeof(v)))
			ss->flags |= SLUICE_SOCK_F_CONNECT_TIMEOUT;
	}
	if (pool->keepalive) {
		v = 1;
		bpf_setsockopt(skops, SL_SOL_SOCKET, SL_SO_KEEPALIVE, &v, sizeof(v));
		if (pool->ka_time_s) {
			v = (int)pool->ka_time_s;
			bpf_setsockopt(skops, SL_SOL_TCP, SL_TCP_KEEPIDLE, &v, sizeof(v));
		}
		if (pool->ka_intvl_s) {
			v = (int)pool->ka_intvl_s;
			bpf_setsockopt(skops, SL_SOL_TCP, SL_TCP_KEEPINTVL, &v, sizeof(v));
		}
		if (pool->ka_probes) {
			v = (int)pool->ka_probes;
			bpf_setsockopt(skops, SL_SOL_TCP, SL_TCP_KEEPCNT, &v, sizeof(v));
		}
	}
}

/* BPF_SOCK_OPS_TIMEOUT_INIT for a socket with a connectTimeout: the first
 * SYN retransmission timer (jiffies) is the timeout itself, so the SYN gives
 * up at connectTimeout (TCP_USER_TIMEOUT, set at TCP_CONNECT_CB) rather than
 * at the default 1 s timer's expiry. With HZ unknown 100 is assumed: the
 * timer is then at most the timeout, and the kernel clamps the next one to
 * what is left of it. -1 = the kernel's default. */
static __always_inline int syn_rto(struct sluice_sk_state *ss)
{
	struct sluice_pool_key pk = { .gen = sluice_live_gen(), .svc_sid = ss->stats.svc_sid,
				      .subset_sid = ss->stats.subset_sid };
	__u64 hz = CONFIG_HZ > 0 ? (__u64)CONFIG_HZ : 100, j;
	struct sluice_pool *pool;

	if (!(ss->flags & SLUICE_SOCK_F_CONNECT_TIMEOUT))
		return -1;
	pool = bpf_map_lookup_elem(&sluice_pool, &pk);
	if (!pool || !pool->connect_timeout_ms)
		return -1;
	j = (__u64)pool->connect_timeout_ms * hz / 1000;
	return j ? (int)j : 1;
}

/* sluice_eject's walk context: backends of one subset still ejected. */
struct eject_count {
	__u32 svc_sid, subset_sid;
	__u64 now;
	__u32 out;
};

static long count_ejected(void *map, struct sluice_stats_key *k, struct sluice_eject *e,
			  struct eject_count *c)
{
	if (k->svc_sid == c->svc_sid && k->subset_sid == c->subset_sid && e->until_ns > c->now)
		c->out++;
	return 0;
}

/* outlierDetection at L4: a connect that failed (closed before it was
 * established: RST, SYN timeout, unreachable) counts against its backend;
 * the failure that reaches od_consecutive ejects it for od_base_ms x times
 * ejected (at most 10x), unless od_max_ejected backends of the subset are
 * out already. A connect that succeeds resets the count (outlier_ok). The
 * same rules as sluice-http's (user/http/router.c hx_outlier_report). */
static __always_inline void outlier_fail(struct sluice_sk_state *ss)
{
	struct sluice_pool_key pk = { .gen = sluice_live_gen(), .svc_sid = ss->stats.svc_sid,
				      .subset_sid = ss->stats.subset_sid };
	struct sluice_pool_use_key uk = { .svc_sid = ss->stats.svc_sid,
					  .subset_sid = ss->stats.subset_sid };
	struct eject_count c = { .svc_sid = ss->stats.svc_sid, .subset_sid = ss->stats.subset_sid };
	struct sluice_eject zero = {}, *e;
	struct sluice_pool_use zu = {}, *use;
	struct sluice_pool *pool;
	__u32 times;

	pool = bpf_map_lookup_elem(&sluice_pool, &pk);
	if (!pool || !pool->od_consecutive)
		return;
	e = sluice_get_or_create(&sluice_eject, &ss->stats, &zero);
	if (!e)
		return;
	c.now = bpf_ktime_get_ns();
	if (e->until_ns > c.now)
		return;		/* a connect made before the ejection */
	__sync_fetch_and_add(&e->consecutive, 1);
	if (e->consecutive < pool->od_consecutive)
		return;
	bpf_for_each_map_elem(&sluice_eject, count_ejected, &c, 0);
	if (c.out >= pool->od_max_ejected)
		return;		/* the count stays: the next failure tries again */
	times = e->times < 10 ? e->times + 1 : 10;
	e->times = times;
	e->until_ns = c.now + (__u64)pool->od_base_ms * 1000000ull * times;
	e->consecutive = 0;
	use = sluice_get_or_create(&sluice_pool_use, &uk, &zu);
	if (use)
		__sync_fetch_and_add(&use->ejections, 1);
}

static __always_inline void outlier_ok(struct sluice_sk_state *ss)
{
	struct sluice_eject *e = bpf_map_lookup_elem(&sluice_eject, &ss->stats);

	if (e && e->consecutive)
		e->consecutive = 0;
}

static __always_inline void pool_close(struct sluice_sk_state *ss)
{
	struct sluice_pool_use_key uk = { .svc_sid = ss->stats.svc_sid,
					  .subset_sid = ss->stats.subset_sid };
	struct sluice_pool_use *use;

	ss->flags &= ~SLUICE_SOCK_F_POOLED;
	use = bpf_map_lookup_elem(&sluice_pool_use, &uk);
	if (use)
		__sync_fetch_and_add(&use->open, -1);
}

static __always_inline void on_established(struct bpf_sock_ops *skops, struct sluice_sk_state *ss)
{
	struct sluice_origdst_key k;
	struct sluice_origdst v = {};
	struct sluice_stats *st;

	if (ss->state != SLUICE_SOCK_NEW)
		return;
	ss->state = SLUICE_SOCK_ESTABLISHED;
	if (ss->flags & SLUICE_SOCK_F_OUTLIER)
		outlier_ok(ss);
	if (ss->flags & SLUICE_SOCK_F_CONNECT_TIMEOUT) {
		int zero = 0;

		bpf_setsockopt(skops, SL_SOL_TCP, SL_TCP_USER_TIMEOUT, &zero, sizeof(zero));
		ss->flags &= ~SLUICE_SOCK_F_CONNECT_TIMEOUT;
	}
	if (ss->flags & SLUICE_SOCK_F_STEERED) {
		st = sluice_stats_get(&ss->stats);
		if (st) {
			__sync_fetch_and_add(&st->established, 1);
			__sync_fetch_and_add(&st->active, 1);
		}
	}
	if (ss->flags & SLUICE_SOCK_F_HELPER) {
		origdst_key(skops, &k);
		__builtin_memcpy(v.vip, ss->vip, 16);
		v.vip_port = ss->vip_port;
		v.workload_id = ss->workload_id;
		/* fail-open: LRU never refuses; sluice-http errors if absent */
		bpf_map_update_elem(&sluice_origdst, &k, &v, BPF_ANY);
	}
}

static __always_inline void on_close(struct bpf_sock_ops *skops, struct sluice_sk_state *ss)
{
	struct sluice_origdst_key k;
	struct sluice_traffic *tr;
	struct sluice_stats *st;
	__u8 was = ss->state;
	__u32 from = skops->args[0];
	/* an orderly close (both FINs exchanged, ours acked) */
	__u64 fin = from == BPF_TCP_LAST_ACK || from == BPF_TCP_FIN_WAIT2 ||
		    from == BPF_TCP_CLOSING || from == BPF_TCP_TIME_WAIT;

	if (was == SLUICE_SOCK_CLOSED)
		return;
	ss->state = SLUICE_SOCK_CLOSED;
	if (ss->flags & SLUICE_SOCK_F_POOLED)
		pool_close(ss);
	if ((ss->flags & SLUICE_SOCK_F_OUTLIER) && was != SLUICE_SOCK_ESTABLISHED)
		outlier_fail(ss);
	if (ss->flags & SLUICE_SOCK_F_STEERED) {
		st = sluice_stats_get(&ss->stats);
		if (st && was == SLUICE_SOCK_ESTABLISHED) {
			__sync_fetch_and_add(&st->closed, 1);
			__sync_fetch_and_add(&st->active, -1);
		} else if (st) {
			__sync_fetch_and_add(&st->failed, 1);
		}
		if (was == SLUICE_SOCK_ESTABLISHED) {
			tr = sluice_traffic_get(ss);
			if (tr)
				__sync_fetch_and_add(&tr->closed, 1);
			sluice_report_bytes(ss, sluice_payload(skops->bytes_acked, 1 + fin),
					    sluice_payload(skops->bytes_received, fin));
		}
	}
	if ((ss->flags & SLUICE_SOCK_F_HELPER) && was == SLUICE_SOCK_ESTABLISHED) {
		origdst_key(skops, &k);
		bpf_map_delete_elem(&sluice_origdst, &k);
	}
}

SEC("sockops")
int sluice_sockops(struct bpf_sock_ops *skops)
{
	struct sluice_sk_state *ss;

	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		ss = steered(skops);
		/* ask for state changes: close and failure are seen there */
		if (ss && ss->flags)
			bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
						  BPF_SOCK_OPS_STATE_CB_FLAG);
		if (ss && (ss->flags & SLUICE_SOCK_F_STEERED))
			pool_connect(skops, ss);
		break;
	case BPF_SOCK_OPS_TIMEOUT_INIT:
		/* after TCP_CONNECT_CB on the active side (tcp_connect) */
		ss = steered(skops);
		skops->reply = ss ? syn_rto(ss) : -1;
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		ss = steered(skops);
		if (ss && ss->flags)
			on_established(skops, ss);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] != SLUICE_TCP_CLOSE)
			break;
		ss = steered(skops);
		if (ss && ss->flags)
			on_close(skops, ss);
		break;
	default:
		break;
	}
	return 1;
}
