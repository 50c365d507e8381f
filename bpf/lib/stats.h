/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-backend connection counters (sluice_stats) and their split by client
 * workload (sluice_traffic), shared by the connect hooks (opened), sockops
 * (established, failed, closed, active, bytes at close) and the byte
 * reporter bpf/iter.bpf.c (bytes while connections live).
 * Requires bpf/lib/maps.h.
 */
#ifndef SLUICE_BPF_STATS_H
#define SLUICE_BPF_STATS_H

#include "lib/maps.h"

/* The value of key in the hash map, created from zero (a zeroed value of
 * the map's type) on first use. NULL only when the map is full: callers
 * then lose the count (fail-open, never the connect). */
static __always_inline void *sluice_get_or_create(void *map, const void *key, const void *zero)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	/* NOEXIST: a racing creator wins and we use its entry */
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/* The counters of key, created zeroed on first use; a full map is counted
 * (SLUICE_CNT_STATS_FULL). */
static __always_inline struct sluice_stats *sluice_stats_get(const struct sluice_stats_key *key)
{
	struct sluice_stats zero = {};
	struct sluice_stats *st = sluice_get_or_create(&sluice_stats, key, &zero);

	if (!st)
		sluice_count(SLUICE_CNT_STATS_FULL);
	return st;
}

/* The Istio-metric counters of the connection ss describes (its backend
 * and client workload), created zeroed on first use. */
static __always_inline struct sluice_traffic *sluice_traffic_get(const struct sluice_sk_state *ss)
{
	struct sluice_traffic_key k = { .src_wid = ss->workload_id };
	struct sluice_traffic zero = {}, *tr;

	k.stats = ss->stats;
	tr = sluice_get_or_create(&sluice_traffic, &k, &zero);
	if (!tr)
		sluice_count(SLUICE_CNT_STATS_FULL);
	return tr;
}

/* Payload bytes in a TCP socket's sequence-space counters: bytes_acked
 * holds our SYN, each side's FIN once it was acknowledged or received. */
static __always_inline __u64 sluice_payload(__u64 seq_bytes, __u64 ctl)
{
	return seq_bytes > ctl ? seq_bytes - ctl : 0;
}

/* Add what ss's connection sent and received beyond what was reported
 * before; sent and received are its payload totals now. The swap makes the
 * close (sockops) and a concurrent report (bpf/iter.bpf.c) each add a
 * disjoint part: whichever swaps second adds only the difference, or
 * nothing when its total is the older one. */
static __always_inline void sluice_report_bytes(struct sluice_sk_state *ss, __u64 sent,
						__u64 received)
{
	__u64 was_sent = __sync_lock_test_and_set(&ss->reported_sent, sent);
	__u64 was_received = __sync_lock_test_and_set(&ss->reported_received, received);
	__u64 ds = sent > was_sent ? sent - was_sent : 0;
	__u64 dr = received > was_received ? received - was_received : 0;
	struct sluice_traffic *tr;
	struct sluice_stats *st;

	if (!ds && !dr)
		return;
	st = sluice_stats_get(&ss->stats);
	if (st) {
		__sync_fetch_and_add(&st->bytes_sent, ds);
		__sync_fetch_and_add(&st->bytes_received, dr);
	}
	tr = sluice_traffic_get(ss);
	if (tr) {
		__sync_fetch_and_add(&tr->bytes_sent, ds);
		__sync_fetch_and_add(&tr->bytes_received, dr);
	}
}

#endif /* SLUICE_BPF_STATS_H */
