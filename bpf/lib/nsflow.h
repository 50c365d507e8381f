/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The north-south flow decision, shared by the XDP program and its TC
 * ingress fallback (bpf/xdp.bpf.c, bpf/tc.bpf.c): what an IPv4/TCP (or,
 * with the sl_ns6_* twins on sluice_ct6, IPv6/TCP) packet from an off-node
 * client becomes, without touching the packet. Callers
 * parse, call sl_ns_established() and, on a miss, sl_ns_new_flow(), then
 * rewrite and forward the packet their own way (direct writes in XDP, skb
 * helpers in TC). Selection is lib/select.h's, the same as the connect
 * hook's; conntrack is lib/ct.h.
 */
#ifndef SLUICE_BPF_NSFLOW_H
#define SLUICE_BPF_NSFLOW_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "sluice/abi.h"
#include "lib/maps.h"
#include "lib/select.h"
#include "lib/addr.h"
#include "lib/parse.h"
#include "lib/ct.h"
#include "lib/hash.h"
#include "lib/maglev.h"
#include "lib/trace.h"

enum sl_ns {
	SL_NS_PASS = 0,		/* not ours or not now: untouched (counted) */
	SL_NS_DROP,		/* a SYN to a VIP with no backend (counted) */
	SL_NS_NAT,		/* new flow: *fv holds the backend */
};

/* A new north-south flow's decision for `sluicectl trace` (only while the
 * trace is on: otherwise one array lookup per new flow, none per packet). */
static __always_inline void sl_ns_trace(const __u8 client[16], __be16 cport, const __u8 vip[16],
					__be16 vport, const struct sluice_backend *be,
					const struct sluice_subset *sub, __u32 gen)
{
	struct sluice_trace_rec rec = {};
	struct sluice_trace_cfg *tc;
	__u64 now;

	tc = sluice_trace_on(&now);
	if (!tc)
		return;
	rec.ts_ns = now;
	rec.layer = SLUICE_TL_XDP;
	__builtin_memcpy(rec.client, client, 16);
	rec.client_port = cport;
	__builtin_memcpy(rec.vip, vip, 16);
	rec.vip_port = vport;
	__builtin_memcpy(rec.backend, be->addr, 16);
	rec.backend_port = be->port;
	rec.proto = IPPROTO_TCP;
	rec.verdict = SLUICE_TV_STEER;
	rec.why = SLUICE_WHY_WEIGHT;
	rec.lb = sub->lb;
	rec.gen = gen;
	rec.workload_id = SLUICE_NO_WORKLOAD;
	rec.svc_sid = sub->svc_sid;
	rec.subset_sid = sub->subset_sid;
	sluice_trace_emit(tc, &rec);
}

/* Choose the backend of a new flow to svc. Returns the backend or NULL
 * (no matching route, empty tables: the caller drops the SYN and counts).
 * When the compiler copied the service's one route and its (<= 2) subsets
 * into the svc entry (SLUICE_SVC_SUBSET_INLINE, as for the connect hook),
 * the draw reads those copies: no sluice_route/sluice_subset/sluice_backend
 * lookup at all for small subsets. Maglev subsets use the tables (their
 * copies carry no Maglev fields). */
static __always_inline struct sluice_backend *
sl_select(__u32 gen, struct sluice_svc *svc, __u16 port, const __u8 saddr[16],
	  struct sluice_subset **sub_out)
{
	struct sluice_subset_key sk = { .gen = gen };
	struct sluice_backend *be = NULL;
	struct sluice_subset *sub;
	struct sluice_route *r;
	__u32 route_id, h, rnd;
	__s64 subset_id;
	int di;

	/* Off-node clients have no workload: sourceLabels routes never match. */
	r = sluice_select_route(gen, svc, port, SLUICE_NO_WORKLOAD, &route_id);
	if (!r || !r->ndests)
		return NULL;
	rnd = bpf_get_prandom_u32();
	if ((svc->flags & SLUICE_SVC_SUBSET_INLINE) && r == &svc->route &&
	    svc->sub[0].lb != SLUICE_LB_MAGLEV &&
	    (r->ndests < 2 || svc->sub[1].lb != SLUICE_LB_MAGLEV)) {
		di = sluice_pick_dest_idx(r, rnd);
		if (di < 0 || di >= SLUICE_SVC_INLINE_SUBSETS)
			return NULL;
		sub = &svc->sub[di & (SLUICE_SVC_INLINE_SUBSETS - 1)];
		*sub_out = sub;
		return sluice_pick_in_subset(gen, sub, bpf_get_prandom_u32(),
					     bpf_get_prandom_u32());
	}
	h = sl_addr_hash(saddr);
	/* Stickiness (consistentHash): when the route's subsets hash, the
	 * subset is chosen by the same client hash, so a client stays on one
	 * version as long as the weights hold. */
	sk.subset_id = r->dests[0].subset_id;
	sub = bpf_map_lookup_elem(&sluice_subset, &sk);
	if (sub && sub->lb == SLUICE_LB_MAGLEV)
		rnd = h;
	subset_id = sluice_pick_dest(r, rnd);
	if (subset_id < 0)
		return NULL;
	sk.subset_id = (__u32)subset_id;
	sub = bpf_map_lookup_elem(&sluice_subset, &sk);
	/* fail-closed for this SYN: a torn table means no backend */
	if (!sub)
		return NULL;
	*sub_out = sub;
	if (sub->lb == SLUICE_LB_MAGLEV)
		be = sl_maglev_pick(gen, sub, sl_mix32(h ^ 0x9e3779b9u));
	if (!be)
		be = sluice_pick_backend(gen, (__u32)subset_id, bpf_get_prandom_u32(),
					 bpf_get_prandom_u32(), sub_out);
	return be;
}

/* Create the conntrack of a new flow fk -> fv (fv holds the backend and its
 * next hop): the FWD entry, after recording the VIP:port for the backend in
 * sluice_ct4_rev so TC can find it from a reply; a REPLY entry as well only
 * when the backend's slots are full. Returns 0 or -1 (nothing left behind
 * but a rev slot, which is harmless; the caller passes the packet on
 * untouched). */
static __always_inline int sl_ct_create(const struct sluice_ct4_key *fk, struct sluice_ct4 *fv)
{
	struct sluice_ct4_key rk;
	struct sluice_ct4 rv = {};

	int rev = sl_ct_rev_note(fv->addr, fv->port, fk->daddr, fk->dport);

	if (rev < 0)
		return -1;
	if (!rev)
		return bpf_map_update_elem(&sluice_ct4, fk, fv, BPF_ANY) ? -1 : 0;
	fv->flags |= SLUICE_CT_F_REPLY_ENTRY;
	sl_ct_reply_of_fwd(fk, fv, &rk);
	rv.addr = fk->daddr;
	rv.port = fk->dport;
	rv.flags = fv->flags;
	rv.svc_sid = fv->svc_sid;
	rv.subset_sid = fv->subset_sid;
	rv.gen = fv->gen;
	rv.created_ns = fv->created_ns;
	rv.last_ns = fv->last_ns;
	if (bpf_map_update_elem(&sluice_ct4, &rk, &rv, BPF_ANY))
		return -1;
	if (bpf_map_update_elem(&sluice_ct4, fk, fv, BPF_ANY)) {
		bpf_map_delete_elem(&sluice_ct4, &rk);
		return -1;
	}
	return 0;
}

/* Conntrack hit of a client packet (key fk, TCP flags fl): the FWD entry
 * with the segment applied and counted ESTABLISHED, or NULL (no live entry,
 * or a SYN reusing the port of a closing/closed flow, which is chosen
 * again). Conntrack decides whatever the policy says now: a weight change
 * never moves an established flow. */
static __always_inline struct sluice_ct4 *sl_ns_established(const struct sluice_ct4_key *fk,
							    __u8 fl, __u64 now)
{
	struct sluice_ct4 *ct = sl_ct_lookup(fk, now);
	struct sluice_ct4_key rk;
	int gone;

	if (!ct)
		return NULL;
	if ((fl & (SL_TCP_SYN | SL_TCP_ACK)) == SL_TCP_SYN && ct->state >= SLUICE_CT_CLOSING)
		return NULL;
	if (!(fl & (SL_TCP_SYN | SL_TCP_FIN | SL_TCP_RST))) {
		/* the common case: a plain segment only refreshes the entry */
		sl_ct_touch(ct, now);
		sluice_count(SLUICE_CNT_XDP_ESTABLISHED);
		return ct;
	}
	sl_ct_reply_of_fwd(fk, ct, &rk);
	if (sl_ct_segment(ct, &rk, fl, 1, now, &gone))
		sluice_count(SLUICE_CNT_CT_CLOSED);
	if (gone)
		sluice_count(SLUICE_CNT_CT_EVICT);
	sluice_count(SLUICE_CNT_XDP_ESTABLISHED);
	return ct;
}

/* A client packet without conntrack. SL_NS_NAT for a SYN to a TCP service
 * this path rewrites, with *fv filled (backend, ids, gen, times; no next
 * hop); SL_NS_PASS for anything else (not a service, HTTP/passthrough
 * services, mid-flow packets, no policy); SL_NS_DROP for a SYN to a VIP
 * with no usable backend. PASS and DROP are counted here. */
static __always_inline enum sl_ns sl_ns_new_flow(const struct sluice_ct4_key *fk, __u8 fl,
						 __u64 now, struct sluice_ct4 *fv)
{
	struct sluice_svc_key svk = { .proto = IPPROTO_TCP };
	struct sluice_subset *sub = NULL;
	struct sluice_backend *be;
	struct sluice_svc *svc;
	__u8 caddr[16];
	__be32 baddr;
	__u32 gen;

	gen = sluice_live_gen();
	if (!gen) {
		sluice_count(SLUICE_CNT_XDP_PASS);
		return SL_NS_PASS;
	}
	svk.gen = gen;
	svk.port = fk->dport;
	sl_v4mapped(svk.addr, fk->daddr);
	svc = bpf_map_lookup_elem(&sluice_svc, &svk);
	/* Not a service, or one this path does not rewrite (HTTP services go to
	 * the L7 helper's Gateway listener; passthrough is registry-only). */
	if (!svc || (svc->flags & (SLUICE_SVC_HTTP | SLUICE_SVC_PASSTHROUGH))) {
		sluice_count(SLUICE_CNT_XDP_PASS);
		return SL_NS_PASS;
	}
	if ((fl & (SL_TCP_SYN | SL_TCP_ACK)) != SL_TCP_SYN) {
		/* Mid-flow without conntrack (started before us, or evicted). */
		sluice_count(SLUICE_CNT_XDP_NO_CT);
		return SL_NS_PASS;
	}
	if (svc->flags & SLUICE_SVC_NO_ENDPOINTS)
		goto no_backend;
	sl_v4mapped(caddr, fk->saddr);
	be = sl_select(gen, svc, bpf_ntohs(fk->dport), caddr, &sub);
	if (!be || !sub || !sl_from_v4mapped(be->addr, &baddr))
		goto no_backend;
	fv->addr = baddr;
	fv->port = be->port;
	fv->svc_sid = sub->svc_sid;
	fv->subset_sid = sub->subset_sid;
	fv->gen = gen;
	fv->created_ns = now;
	fv->last_ns = now;
	sl_ns_trace(caddr, fk->sport, svk.addr, fk->dport, be, sub, gen);
	return SL_NS_NAT;

no_backend:
	/* A VIP with nowhere to go: drop the SYN (the client retries or
	 * times out) rather than leak it to the stack. */
	sluice_count(SLUICE_CNT_XDP_NO_BACKEND);
	return SL_NS_DROP;
}

/* ---- IPv6: the same decisions on sluice_ct6 (two entries per flow) ---- */

/* Create both halves of a new IPv6 flow fk -> fv: the REPLY entry first (a
 * reply must never find a FWD entry without it), then the FWD entry.
 * Returns 0 or -1 (nothing left behind; the caller passes untouched). */
static __always_inline int sl_ct6_create(const struct sluice_ct6_key *fk, struct sluice_ct6 *fv)
{
	struct sluice_ct6_key rk;
	struct sluice_ct6 rv = {};

	fv->flags |= SLUICE_CT_F_REPLY_ENTRY;
	sl_ct6_peer_key(fk, fv, &rk);
	__builtin_memcpy(rv.addr, fk->daddr, 16);
	rv.port = fk->dport;
	rv.flags = fv->flags;
	rv.svc_sid = fv->svc_sid;
	rv.subset_sid = fv->subset_sid;
	rv.gen = fv->gen;
	rv.created_ns = fv->created_ns;
	rv.last_ns = fv->last_ns;
	if (bpf_map_update_elem(&sluice_ct6, &rk, &rv, BPF_ANY))
		return -1;
	if (bpf_map_update_elem(&sluice_ct6, fk, fv, BPF_ANY)) {
		bpf_map_delete_elem(&sluice_ct6, &rk);
		return -1;
	}
	return 0;
}

/* sl_ns_established for an IPv6 client packet (key fk). */
static __always_inline struct sluice_ct6 *sl_ns6_established(const struct sluice_ct6_key *fk,
							     __u8 fl, __u64 now)
{
	struct sluice_ct6 *ct = sl_ct6_lookup(fk, now);
	int gone;

	if (!ct)
		return NULL;
	if ((fl & (SL_TCP_SYN | SL_TCP_ACK)) == SL_TCP_SYN && ct->state >= SLUICE_CT_CLOSING)
		return NULL;
	if (sl_ct6_segment(ct, fk, fl, 1, now, &gone))
		sluice_count(SLUICE_CNT_CT_CLOSED);
	if (gone)
		sluice_count(SLUICE_CNT_CT_EVICT);
	sluice_count(SLUICE_CNT_XDP_ESTABLISHED);
	return ct;
}

/* sl_ns_new_flow for an IPv6 client packet: the VIP is looked up by its
 * 16-byte address, selection is the same sl_select. A chosen backend must
 * be IPv6: a v4-mapped one (a mixed-family subset, which the connect6
 * hook can serve but a packet rewrite cannot) makes the packet pass
 * untouched, counted MAP_MISS (fail-open, docs/xdp.md). A v4-mapped
 * destination on the wire is never a VIP here (those are IPv4's). */
static __always_inline enum sl_ns sl_ns6_new_flow(const struct sluice_ct6_key *fk, __u8 fl,
						  __u64 now, struct sluice_ct6 *fv)
{
	struct sluice_svc_key svk = { .proto = IPPROTO_TCP };
	struct sluice_subset *sub = NULL;
	struct sluice_backend *be;
	struct sluice_svc *svc;
	__u32 gen;

	gen = sluice_live_gen();
	if (!gen || sl_is_v4mapped(fk->daddr)) {
		sluice_count(SLUICE_CNT_XDP_PASS);
		return SL_NS_PASS;
	}
	svk.gen = gen;
	svk.port = fk->dport;
	__builtin_memcpy(svk.addr, fk->daddr, 16);
	svc = bpf_map_lookup_elem(&sluice_svc, &svk);
	if (!svc || (svc->flags & (SLUICE_SVC_HTTP | SLUICE_SVC_PASSTHROUGH))) {
		sluice_count(SLUICE_CNT_XDP_PASS);
		return SL_NS_PASS;
	}
	if ((fl & (SL_TCP_SYN | SL_TCP_ACK)) != SL_TCP_SYN) {
		sluice_count(SLUICE_CNT_XDP_NO_CT);
		return SL_NS_PASS;
	}
	if (svc->flags & SLUICE_SVC_NO_ENDPOINTS)
		goto no_backend;
	be = sl_select(gen, svc, bpf_ntohs(fk->dport), fk->saddr, &sub);
	if (!be || !sub)
		goto no_backend;
	if (sl_is_v4mapped(be->addr)) {
		sluice_count(SLUICE_CNT_MAP_MISS);
		return SL_NS_PASS;
	}
	__builtin_memcpy(fv->addr, be->addr, 16);
	fv->port = be->port;
	fv->svc_sid = sub->svc_sid;
	fv->subset_sid = sub->subset_sid;
	fv->gen = gen;
	fv->created_ns = now;
	fv->last_ns = now;
	sl_ns_trace(fk->saddr, fk->sport, fk->daddr, fk->dport, be, sub, gen);
	return SL_NS_NAT;

no_backend:
	sluice_count(SLUICE_CNT_XDP_NO_BACKEND);
	return SL_NS_DROP;
}

#endif /* SLUICE_BPF_NSFLOW_H */
