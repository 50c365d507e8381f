// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * North-south XDP: DNAT of TCP flows to a service VIP:port to a backend
 * chosen by the same tables (and lib/select.h) as the connect() hook.
 *
 * Per packet (IPv4/TCP only; everything else passes untouched):
 *   conntrack hit          -> DNAT to the flow's backend (a weight change
 *                             never moves an established flow)
 *   miss, VIP, SYN         -> route, weighted subset, backend (Maglev for
 *                             consistentHash), conntrack both directions, DNAT
 *   miss, VIP, not SYN     -> pass, counted (XDP_NO_CT)
 *   miss, not a VIP        -> pass, counted (XDP_PASS)
 * A DNATed packet is redirected to the fib next hop when the neighbour is
 * known (TTL - 1, MACs rewritten), else passed to the stack which forwards
 * it (and resolves the neighbour for the next packets). The next hop is
 * looked up on the SYN and cached in the flow's conntrack entry (refreshed
 * about once a second), so an established packet costs one conntrack
 * lookup, the rewrite and the redirect.
 * Verdicts and their counters are listed in docs/xdp.md.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "sluice/abi.h"
#include "lib/maps.h"
#include "lib/select.h"
#include "lib/parse.h"
#include "lib/csum.h"
#include "lib/nat.h"
#include "lib/ct.h"
#include "lib/maglev.h"

#ifndef AF_INET
#define AF_INET 2
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* 1: redirect to the fib next hop when known; 0: always hand the DNATed
 * packet to the stack (for native mode towards devices that cannot take
 * redirected frames). Set by user/lib/dp_xdp.c before load. */
const volatile __u8 sl_xdp_redirect = 1;

/* Look up the next hop towards daddr (the backend) and cache it in ct.
 * Returns 0, or -1 when the fib has no usable answer (no neighbour entry
 * yet, forwarding off, ...): nh_ifindex is then 0 and the stack forwards,
 * resolving the neighbour for the next packets. */
static __always_inline int sl_nexthop(struct xdp_md *ctx, const struct iphdr *ip, __be32 daddr,
				      struct sluice_ct4 *ct, __u32 stamp)
{
	struct bpf_fib_lookup fib = {};

	ct->nh_ifindex = 0;
	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = daddr;
	fib.ifindex = ctx->ingress_ifindex;
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return -1;
	__builtin_memcpy(ct->nh_dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(ct->nh_smac, fib.smac, ETH_ALEN);
	ct->nh_time = stamp;
	ct->nh_ifindex = fib.ifindex;
	return 0;
}

/* Send the (already DNATed) packet to the next hop cached in ct: TTL - 1,
 * MACs, XDP_TX or redirect. Without a cached next hop (or TTL <= 1, which
 * the stack answers with an ICMP error) the stack forwards it. */
static __always_inline int sl_forward(struct xdp_md *ctx, struct ethhdr *eth, struct iphdr *ip,
				      const struct sluice_ct4 *ct)
{
	__u32 ifindex = ct->nh_ifindex;

	if (!ifindex || ip->ttl <= 1) {
		sluice_count(SLUICE_CNT_XDP_TO_STACK);
		return XDP_PASS;
	}
	sl_ip4_dec_ttl(ip);
	__builtin_memcpy(eth->h_dest, ct->nh_dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, ct->nh_smac, ETH_ALEN);
	sluice_count(SLUICE_CNT_XDP_REDIRECT);
	if (ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(ifindex, 0);
}

/* Choose the backend of a new flow to svc. Returns the backend or NULL
 * (no matching route, empty tables: the caller drops the SYN and counts). */
static __always_inline struct sluice_backend *
sl_select(__u32 gen, const struct sluice_svc *svc, __u16 port, const __u8 saddr[16],
	  struct sluice_subset **sub_out)
{
	struct sluice_subset_key sk = { .gen = gen };
	struct sluice_backend *be = NULL;
	struct sluice_subset *sub;
	struct sluice_route *r;
	__u32 route_id, h, rnd;
	__s64 subset_id;

	/* Off-node clients have no workload: sourceLabels routes never match. */
	r = sluice_select_route(gen, svc, port, SLUICE_NO_WORKLOAD, &route_id);
	if (!r || !r->ndests)
		return NULL;
	h = sl_addr_hash(saddr);
	rnd = bpf_get_prandom_u32();
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

/* Create both conntrack entries of a new flow fk -> fv (fv holds the
 * backend and its next hop). Returns 0 or -1 (nothing left behind). */
static __always_inline int sl_ct_create(const struct sluice_ct4_key *fk,
					const struct sluice_ct4 *fv)
{
	struct sluice_ct4_key rk;
	struct sluice_ct4 rv = {};

	sl_ct_reply_of_fwd(fk, fv, &rk);
	rv.addr = fk->daddr;
	rv.port = fk->dport;
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

SEC("xdp")
int sluice_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sluice_ct4_key fk = { .proto = IPPROTO_TCP, .dir = SLUICE_CT_FWD };
	struct sluice_svc_key svk = { .proto = IPPROTO_TCP };
	struct sluice_subset *sub = NULL;
	struct sluice_ct4_key rk;
	struct sluice_ct4 fv = {};
	struct sluice_backend *be;
	struct sluice_svc *svc;
	struct sluice_ct4 *ct;
	struct sl_pkt p;
	__u8 caddr[16], fl;
	__u32 gen, stamp;
	__be32 baddr;
	int gone;
	__u64 now;

	switch (sl_parse_tcp4(data, data_end, (__u32)(data_end - data), &p)) {
	case SL_PARSE_TCP4:
		break;
	case SL_PARSE_FRAG:
		/* No ports in later fragments: never DNATed, the stack decides. */
		sluice_count(SLUICE_CNT_XDP_FRAGMENT);
		return XDP_PASS;
	case SL_PARSE_MALFORMED:
		/* Fail-open to the stack, which validates and drops it. */
		sluice_count(SLUICE_CNT_XDP_MALFORMED);
		return XDP_PASS;
	default:
		sluice_count(SLUICE_CNT_XDP_PASS);
		return XDP_PASS;
	}

	fk.saddr = p.ip4->saddr;
	fk.daddr = p.ip4->daddr;
	fk.sport = p.tcp->source;
	fk.dport = p.tcp->dest;
	fl = sl_tcp_flags(p.tcp);
	now = bpf_ktime_get_coarse_ns();
	stamp = (__u32)(now >> 30);

	/* Established: one lookup, the rewrite, the cached next hop. */
	ct = sl_ct_lookup(&fk, now);
	/* A SYN on a closing or closed flow is a new connection reusing the
	 * port: choose again. Otherwise conntrack decides, whatever the
	 * policy says now. */
	if (ct && !((fl & (SL_TCP_SYN | SL_TCP_ACK)) == SL_TCP_SYN &&
		    ct->state >= SLUICE_CT_CLOSING)) {
		sl_ct_reply_of_fwd(&fk, ct, &rk);
		if (sl_ct_segment(ct, &rk, fl, 1, now, &gone))
			sluice_count(SLUICE_CNT_CT_CLOSED);
		if (gone)
			sluice_count(SLUICE_CNT_CT_EVICT);
		/* refresh the cached next hop about once a second, so a
		 * route or neighbour change is followed within ~1 s */
		if (sl_xdp_redirect && (!ct->nh_ifindex || ct->nh_time != stamp))
			sl_nexthop(ctx, p.ip4, ct->addr, ct, stamp);
		sl_nat4_dnat(p.ip4, p.tcp, ct->addr, ct->port);
		sluice_count(SLUICE_CNT_XDP_ESTABLISHED);
		return sl_forward(ctx, p.eth, p.ip4, ct);
	}

	gen = sluice_live_gen();
	if (!gen) {
		sluice_count(SLUICE_CNT_XDP_PASS);
		return XDP_PASS;
	}
	svk.gen = gen;
	svk.port = p.tcp->dest;
	sl_v4mapped(svk.addr, p.ip4->daddr);
	svc = bpf_map_lookup_elem(&sluice_svc, &svk);
	/* Not a service, or one this path does not rewrite (HTTP services go to
	 * the L7 helper's Gateway listener; passthrough is registry-only). */
	if (!svc || (svc->flags & (SLUICE_SVC_HTTP | SLUICE_SVC_PASSTHROUGH))) {
		sluice_count(SLUICE_CNT_XDP_PASS);
		return XDP_PASS;
	}
	if ((fl & (SL_TCP_SYN | SL_TCP_ACK)) != SL_TCP_SYN) {
		/* Mid-flow without conntrack (started before us, or evicted). */
		sluice_count(SLUICE_CNT_XDP_NO_CT);
		return XDP_PASS;
	}
	if (svc->flags & SLUICE_SVC_NO_ENDPOINTS)
		goto no_backend;
	sl_v4mapped(caddr, p.ip4->saddr);
	be = sl_select(gen, svc, bpf_ntohs(p.tcp->dest), caddr, &sub);
	if (!be || !sub || !sl_from_v4mapped(be->addr, &baddr))
		goto no_backend;
	fv.addr = baddr;
	fv.port = be->port;
	fv.svc_sid = sub->svc_sid;
	fv.subset_sid = sub->subset_sid;
	fv.gen = gen;
	fv.created_ns = now;
	fv.last_ns = now;
	if (sl_xdp_redirect)
		sl_nexthop(ctx, p.ip4, baddr, &fv, stamp);
	if (sl_ct_create(&fk, &fv)) {
		/* Fail-open: without conntrack the replies could not be
		 * reverse-NATed, so do not rewrite at all. */
		sluice_count(SLUICE_CNT_CT_INSERT_FAIL);
		return XDP_PASS;
	}
	sl_nat4_dnat(p.ip4, p.tcp, baddr, be->port);
	sluice_count(SLUICE_CNT_XDP_NEW_FLOW);
	return sl_forward(ctx, p.eth, p.ip4, &fv);

no_backend:
	/* A VIP with nowhere to go: drop the SYN (the client retries or
	 * times out) rather than leak it to the stack. */
	sluice_count(SLUICE_CNT_XDP_NO_BACKEND);
	return XDP_DROP;
}
