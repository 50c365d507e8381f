/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The byte reporter: an iterator over the TCP sockets of the network
 * namespace that runs it (iter/tcp) which adds, for every steered connection
 * still established, the payload bytes it moved since the last report to
 * sluice_stats and sluice_traffic. sockops adds the rest at close
 * (bpf/lib/stats.h, sluice_report_bytes), so a long-lived connection shows
 * its bytes while it lives, as Istio reports TCP bytes periodically.
 * sluiced runs it (sl_dp_report_bytes) before it reads the counters; clients
 * in other network namespaces than sluiced's are reported at close only
 * (docs/metrics.md).
 *
 * Kernel types are declared with the fields used only; CO-RE relocates them
 * against the running kernel's BTF.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sluice/abi.h"
#include "lib/maps.h"
#include "lib/stats.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SLUICE_TCP_ESTABLISHED 1	/* include/net/tcp_states.h */

struct sock_common {
	unsigned char skc_state;
} __attribute__((preserve_access_index));

struct tcp_sock {
	__u64 bytes_received;
	__u64 bytes_acked;
} __attribute__((preserve_access_index));

struct bpf_iter_meta;

struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
	__u32 uid;
} __attribute__((preserve_access_index));

SEC("iter/tcp")
int sluice_report(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct sluice_sk_state *ss;
	struct tcp_sock *tp;

	/* only while established: no FIN in the counters yet, and what
	 * follows is counted by the close (sockops) */
	if (!skc || skc->skc_state != SLUICE_TCP_ESTABLISHED)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	ss = bpf_sk_storage_get(&sluice_sock, tp, 0, 0);
	if (!ss || !(ss->flags & SLUICE_SOCK_F_STEERED) || ss->state != SLUICE_SOCK_ESTABLISHED)
		return 0;
	sluice_report_bytes(ss, sluice_payload(tp->bytes_acked, 1), tp->bytes_received);
	return 0;
}
