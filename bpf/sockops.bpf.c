/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection life cycle of the sockets the connect hooks steered: counts
 * established, failed (closed before established), closed, active and bytes
 * per backend in sluice_stats (LEAST_REQUEST reads `active`), and publishes
 * sluice_origdst for connections sent to sluice-http once their local port
 * is known. Only sockets with sluice_sock storage are touched.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "sluice/abi.h"
#include "lib/maps.h"
#include "lib/stats.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* TCP_CLOSE in the kernel's TCP state numbering (include/net/tcp_states.h). */
#define SLUICE_TCP_CLOSE 7

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

static __always_inline void on_established(struct bpf_sock_ops *skops, struct sluice_sk_state *ss)
{
	struct sluice_origdst_key k;
	struct sluice_origdst v = {};
	struct sluice_stats *st;

	if (ss->state != SLUICE_SOCK_NEW)
		return;
	ss->state = SLUICE_SOCK_ESTABLISHED;
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

/* bytes_acked and bytes_received count sequence space: our SYN is in
 * bytes_acked, each side's FIN in the counters once it was acknowledged or
 * received. Payload = counter - those control bytes. */
static __always_inline __u64 payload(__u64 seq_bytes, __u64 ctl)
{
	return seq_bytes > ctl ? seq_bytes - ctl : 0;
}

static __always_inline void on_close(struct bpf_sock_ops *skops, struct sluice_sk_state *ss)
{
	struct sluice_origdst_key k;
	struct sluice_stats *st;
	__u8 was = ss->state;
	__u32 from = skops->args[0];
	/* an orderly close (both FINs exchanged, ours acked) */
	__u64 fin = from == BPF_TCP_LAST_ACK || from == BPF_TCP_FIN_WAIT2 ||
		    from == BPF_TCP_CLOSING || from == BPF_TCP_TIME_WAIT;

	if (was == SLUICE_SOCK_CLOSED)
		return;
	ss->state = SLUICE_SOCK_CLOSED;
	if (ss->flags & SLUICE_SOCK_F_STEERED) {
		st = sluice_stats_get(&ss->stats);
		if (st && was == SLUICE_SOCK_ESTABLISHED) {
			__sync_fetch_and_add(&st->closed, 1);
			__sync_fetch_and_add(&st->active, -1);
			__sync_fetch_and_add(&st->bytes_sent, payload(skops->bytes_acked, 1 + fin));
			__sync_fetch_and_add(&st->bytes_received, payload(skops->bytes_received, fin));
		} else if (st) {
			__sync_fetch_and_add(&st->failed, 1);
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
