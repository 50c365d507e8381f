/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Route, weighted subset and backend selection, shared by the socket
 * programs (sock.bpf.c) and the XDP program. Nothing here touches a program
 * context: callers pass the generation they read once, the service, and the
 * random (or hash) inputs, so the same policy gives the same choice on every
 * hook. Requires bpf/lib/maps.h.
 */
#ifndef SLUICE_BPF_SELECT_H
#define SLUICE_BPF_SELECT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "lib/maps.h"

/* Scale a 32-bit uniform value into [0, n) without modulo bias beyond
 * 2^-32: the exact integer draw the weights are defined by. */
static __always_inline __u32 sluice_scale(__u32 rnd, __u32 n)
{
	return (__u32)(((__u64)rnd * n) >> 32);
}

/* Find the first route of svc whose port and sourceLabels match.
 * workload is the client's workload id or SLUICE_NO_WORKLOAD. Returns the
 * route (and its id in *route_id) or NULL when no route matches. */
static __always_inline struct sluice_route *
sluice_select_route(__u32 gen, const struct sluice_svc *svc, __u16 port,
		    __u32 workload, __u32 *route_id)
{
	struct sluice_route_key rk = { .gen = gen };
	struct sluice_route_src_key sk = { .gen = gen, .workload_id = workload };
	struct sluice_route *r;
	__u32 i;

	for (i = 0; i < SLUICE_MAX_ROUTES; i++) {
		if (i >= svc->nroutes)
			break;
		rk.route_id = svc->route_first + i;
		/* the one route copied into the service entry: no lookup */
		if (svc->flags & SLUICE_SVC_ROUTE_INLINE)
			r = (struct sluice_route *)&svc->route;
		else
			r = bpf_map_lookup_elem(&sluice_route, &rk);
		/* fail-open: a missing route (torn table) is skipped; the
		 * caller counts MAP_MISS when nothing matches */
		if (!r)
			continue;
		if (r->port && r->port != port)
			continue;
		if (r->flags & SLUICE_ROUTE_SOURCE) {
			if (workload == SLUICE_NO_WORKLOAD)
				continue;
			sk.route_id = rk.route_id;
			/* absent = this workload's labels do not match */
			if (!bpf_map_lookup_elem(&sluice_route_src, &sk))
				continue;
		}
		*route_id = rk.route_id;
		return r;
	}
	return NULL;
}

/* Weighted subset choice with exact integer weights:
 * x = rnd * total >> 32, the first destination with x < cum_weight.
 * Returns the subset id, or -1 when the route has no destination. */
static __always_inline __s64 sluice_pick_dest(const struct sluice_route *r, __u32 rnd)
{
	__u32 x, i;

	if (!r->total || !r->ndests)
		return -1;
	x = sluice_scale(rnd, r->total);
	for (i = 0; i < SLUICE_MAX_DESTS; i++) {
		if (i >= r->ndests)
			break;
		if (x < r->dests[i].cum_weight)
			return r->dests[i].subset_id;
	}
	return -1;
}

static __always_inline __s64 sluice_backend_active(const struct sluice_subset *sub,
						   const struct sluice_backend *be)
{
	struct sluice_stats_key k = {
		.svc_sid = sub->svc_sid,
		.subset_sid = sub->subset_sid,
		.port = be->port,
	};
	struct sluice_stats *st;

	__builtin_memcpy(k.addr, be->addr, sizeof(k.addr));
	st = bpf_map_lookup_elem(&sluice_stats, &k);
	/* no stats yet = no connection yet */
	return st ? st->active : 0;
}

/* Backend idx (< sub->nbackends) of subset sub of generation gen: from the
 * subset entry when it is one of the inline copies, else sluice_backend. */
static __always_inline struct sluice_backend *
sluice_backend_at(__u32 gen, struct sluice_subset *sub, __u32 idx)
{
	struct sluice_backend_key bk = { .gen = gen, .idx = sub->backend_first + idx };
	__u32 i = idx;

	if (idx < SLUICE_SUBSET_INLINE) {
		/* re-bound i where the verifier sees it (the compiler would
		 * test a copy and index with the original);
		 * SLUICE_SUBSET_INLINE is a power of two */
		asm volatile("" : "+r"(i));
		i &= SLUICE_SUBSET_INLINE - 1;
		if (sub->inl[i].port)
			return &sub->inl[i];
	}
	return bpf_map_lookup_elem(&sluice_backend, &bk);
}

/* Index in r->dests of the weighted choice for rnd (same draw as
 * sluice_pick_dest), or -1 when the route has no destination. For callers
 * holding the destination subsets inline (SLUICE_SVC_SUBSET_INLINE). */
static __always_inline int sluice_pick_dest_idx(const struct sluice_route *r, __u32 rnd)
{
	__u32 x, i;

	if (!r->total || !r->ndests)
		return -1;
	x = sluice_scale(rnd, r->total);
	for (i = 0; i < SLUICE_MAX_DESTS; i++) {
		if (i >= r->ndests)
			break;
		if (x < r->dests[i].cum_weight)
			return (int)i;
	}
	return -1;
}

/* Choose a backend of subset sub (generation gen) by its load balancer.
 * rnd1/rnd2 are independent uniform 32-bit inputs (RANDOM uses rnd1,
 * LEAST_REQUEST draws two candidates and keeps the one with fewer active
 * connections; MAGLEV scales rnd1, which a caller sets to its source hash).
 * sub may be a sluice_subset entry or a copy inside a sluice_svc entry;
 * either is a map value, so the ROUND_ROBIN cursor can be advanced in it. */
static __always_inline struct sluice_backend *
sluice_pick_in_subset(__u32 gen, struct sluice_subset *sub, __u32 rnd1, __u32 rnd2)
{
	struct sluice_backend *a, *b;
	__u32 n, idx;

	if (!sub->nbackends)
		return NULL;
	n = sub->nbackends;

	/* the backend index is chosen first; small subsets carry their
	 * backends inline (no sluice_backend lookup) */
	switch (sub->lb) {
	case SLUICE_LB_RANDOM:
	case SLUICE_LB_MAGLEV:
		/* MAGLEV here: the connect hook passes the source hash as
		 * rnd1 (sticky while the backends hold; no Maglev table at
		 * connect); XDP comes here only when its table is torn */
		idx = sluice_scale(rnd1, n);
		break;
	case SLUICE_LB_LEAST_REQUEST:
		idx = sluice_scale(rnd1, n);
		if (n == 1 || sluice_scale(rnd2, n) == idx)
			break;	/* one candidate: no active counts to compare */
		a = sluice_backend_at(gen, sub, idx);
		b = sluice_backend_at(gen, sub, sluice_scale(rnd2, n));
		/* fail-open: with one candidate missing use the other */
		if (!a)
			return b;
		if (!b)
			return a;
		return sluice_backend_active(sub, b) < sluice_backend_active(sub, a) ? b : a;
	default: /* ROUND_ROBIN */
		if (n == 1) {
			idx = 0;	/* no turn to take: leave the line clean */
			break;
		}
		/* read then add: two racing connects may share a turn,
		 * which keeps the spread even without BPF_FETCH (cpu v1) */
		idx = (__u32)(sub->rr_cursor % n);
		__sync_fetch_and_add(&sub->rr_cursor, 1);
		break;
	}
	return sluice_backend_at(gen, sub, idx);
}

/* Choose a backend of subset (gen, subset_id): sluice_pick_in_subset on the
 * sluice_subset entry. On success returns the backend and sets *subset_out. */
static __always_inline struct sluice_backend *
sluice_pick_backend(__u32 gen, __u32 subset_id, __u32 rnd1, __u32 rnd2,
		    struct sluice_subset **subset_out)
{
	struct sluice_subset_key sk = { .gen = gen, .subset_id = subset_id };
	struct sluice_subset *sub;

	sub = bpf_map_lookup_elem(&sluice_subset, &sk);
	/* fail-open: caller passes the connection through untouched */
	if (!sub || !sub->nbackends)
		return NULL;
	*subset_out = sub;
	return sluice_pick_in_subset(gen, sub, rnd1, rnd2);
}

#endif /* SLUICE_BPF_SELECT_H */
