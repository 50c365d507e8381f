// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * North-south XDP: DNAT of TCP flows to a service VIP:port to a backend
 * chosen by the same tables (and lib/select.h) as the connect() hook.
 *
 * Per packet (IPv4/TCP, and IPv6/TCP in sluice_xdp6, tail-called on the
 * IPv6 ethertype only; everything else passes untouched):
 *   conntrack hit          -> DNAT to the flow's backend (a weight change
 *                             never moves an established flow)
 *   miss, VIP, SYN         -> route, weighted subset, backend (Maglev for
 *                             consistentHash), the flow's conntrack entry, DNAT
 *   miss, VIP, not SYN     -> pass, counted (XDP_NO_CT)
 *   miss, not a VIP        -> pass, counted (XDP_PASS)
 * A DNATed packet is redirected to the fib next hop when the neighbour is
 * known (TTL - 1, MACs rewritten), else passed to the stack which forwards
 * it (and resolves the neighbour for the next packets). The next hop is
 * looked up on the SYN and cached in the flow's conntrack entry (refreshed
 * about once a second), so an established packet costs one conntrack
 * lookup, the rewrite and the redirect. IPv6 is the same flow with its
 * own conntrack (sluice_ct6, two entries per flow), no header checksum and
 * the hop limit instead of the TTL; extension headers pass (docs/xdp.md).
 * Verdicts and their counters are listed in docs/xdp.md.
 */
/* lib/maps_ns.h: this object also declares sluice_xdp_tx and sluice_xdp_v6 */
#define SLUICE_NS_XDP

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "sluice/abi.h"
#include "lib/maps.h"
#include "lib/maps_ns.h"
#include "lib/parse.h"
#include "lib/csum.h"
#include "lib/nat.h"
#include "lib/ct.h"
#include "lib/nsflow.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* 1: redirect to the fib next hop when known; 0: always hand the DNATed
 * packet to the stack (for native mode towards devices that cannot take
 * redirected frames). Set by user/lib/dp_xdp.c before load. */
const volatile __u8 sl_xdp_redirect = 1;

/* A frame from the ingress device may be redirected to ifindex. */
static __always_inline int sl_can_redirect(struct xdp_md *ctx, __u32 ifindex)
{
	__u32 in = ctx->ingress_ifindex;

	return bpf_map_lookup_elem(&sluice_xdp_tx, &in) &&
	       bpf_map_lookup_elem(&sluice_xdp_tx, &ifindex);
}

/* Look up the next hop towards daddr (the backend) and cache it in ct for
 * about a second (stamp). Returns 0, or -1 when the fib has no usable
 * answer (no neighbour entry yet, forwarding off, ...) or the frame cannot
 * be redirected there (sl_can_redirect): nh_ifindex is then 0 and the stack
 * forwards, resolving the neighbour for the next packets. */
static __always_inline int sl_nexthop(struct xdp_md *ctx, const struct iphdr *ip, __be32 daddr,
				      struct sluice_ct4 *ct, __u32 stamp)
{
	struct bpf_fib_lookup fib = {};

	ct->nh_ifindex = 0;
	ct->nh_time = stamp;
	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = daddr;
	fib.ifindex = ctx->ingress_ifindex;
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS ||
	    !sl_can_redirect(ctx, fib.ifindex))
		return -1;
	__builtin_memcpy(ct->nh_dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(ct->nh_smac, fib.smac, ETH_ALEN);
	ct->nh_ifindex = fib.ifindex;
	return 0;
}

/* DNAT the packet to ct's backend and send it to the next hop cached in
 * ct: TTL - 1 (folded into the DNAT's checksum updates), MACs, XDP_TX or
 * redirect. Without a cached next hop (or TTL <= 1, which the stack
 * answers with an ICMP error) only the DNAT, and the stack forwards it. */
static __always_inline int sl_forward(struct xdp_md *ctx, struct ethhdr *eth, struct iphdr *ip,
				      struct tcphdr *tcp, const struct sluice_ct4 *ct)
{
	__u32 ifindex = ct->nh_ifindex;

	if (!ifindex || ip->ttl <= 1) {
		sl_nat4_dnat(ip, tcp, ct->addr, ct->port);
		sluice_count(SLUICE_CNT_XDP_TO_STACK);
		return XDP_PASS;
	}
	sl_nat4_dnat_fwd(ip, tcp, ct->addr, ct->port);
	__builtin_memcpy(eth->h_dest, ct->nh_dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, ct->nh_smac, ETH_ALEN);
	sluice_count(SLUICE_CNT_XDP_REDIRECT);
	if (ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect_map(&sluice_xdp_tx, ifindex, 0);
}

/* sl_nexthop for IPv6: the fib next hop towards daddr (flow label kept). */
static __always_inline int sl_nexthop6(struct xdp_md *ctx, const struct ipv6hdr *ip6,
				       const __u8 daddr[16], struct sluice_ct6 *ct, __u32 stamp)
{
	struct bpf_fib_lookup fib = {};

	ct->nh_ifindex = 0;
	ct->nh_time = stamp;
	fib.family = AF_INET6;
	fib.flowinfo = *(const __be32 *)ip6 & bpf_htonl(0x0fffffff);
	fib.l4_protocol = IPPROTO_TCP;
	fib.tot_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
	__builtin_memcpy(fib.ipv6_src, &ip6->saddr, 16);
	__builtin_memcpy(fib.ipv6_dst, daddr, 16);
	fib.ifindex = ctx->ingress_ifindex;
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS ||
	    !sl_can_redirect(ctx, fib.ifindex))
		return -1;
	__builtin_memcpy(ct->nh_dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(ct->nh_smac, fib.smac, ETH_ALEN);
	ct->nh_ifindex = fib.ifindex;
	return 0;
}

/* sl_forward for IPv6: DNAT, hop limit - 1 and MACs when the next hop is
 * cached, else the DNAT only and the stack forwards (or answers a hop
 * limit <= 1 with ICMPv6 time exceeded). */
static __always_inline int sl_forward6(struct xdp_md *ctx, struct ethhdr *eth,
				       struct ipv6hdr *ip6, struct tcphdr *tcp,
				       const struct sluice_ct6 *ct)
{
	__u32 ifindex = ct->nh_ifindex;

	if (!ifindex || ip6->hop_limit <= 1) {
		sl_nat6_dnat(ip6, tcp, ct->addr, ct->port, 0);
		sluice_count(SLUICE_CNT_XDP_TO_STACK);
		return XDP_PASS;
	}
	sl_nat6_dnat(ip6, tcp, ct->addr, ct->port, 1);
	__builtin_memcpy(eth->h_dest, ct->nh_dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, ct->nh_smac, ETH_ALEN);
	sluice_count(SLUICE_CNT_XDP_REDIRECT);
	if (ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect_map(&sluice_xdp_tx, ifindex, 0);
}

/* The IPv6 path: the IPv4 path below, step for step, on sluice_ct6. A
 * program of its own, entered from sluice_xdp by a tail call on the IPv6
 * ethertype only: IPv4 packets never run (or carry the registers of) any
 * of it, and it has its own 512 bytes of stack (as a subprogram its frame
 * would add to sluice_xdp's, over the verifier's limit). */
SEC("xdp")
int sluice_xdp6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sluice_ct6_key fk = { .proto = IPPROTO_TCP, .dir = SLUICE_CT_FWD };
	struct sluice_ct6 fv = {};
	struct sluice_ct6 *ct;
	struct sl_pkt6 p;
	__u32 stamp;
	__u64 now;
	__u8 fl;

	switch (sl_parse_tcp6(data, data_end, (__u32)(data_end - data), &p)) {
	case SL_PARSE_TCP6:
		break;
	case SL_PARSE_FRAG:
		sluice_count(SLUICE_CNT_XDP_FRAGMENT);
		return XDP_PASS;
	case SL_PARSE_MALFORMED:
		sluice_count(SLUICE_CNT_XDP_MALFORMED);
		return XDP_PASS;
	default:
		/* not TCP, or behind extension headers: the stack's */
		sluice_count(SLUICE_CNT_XDP_PASS);
		return XDP_PASS;
	}

	__builtin_memcpy(fk.saddr, &p.ip6->saddr, 16);
	__builtin_memcpy(fk.daddr, &p.ip6->daddr, 16);
	fk.sport = p.tcp->source;
	fk.dport = p.tcp->dest;
	fl = sl_tcp_flags(p.tcp);
	now = bpf_ktime_get_coarse_ns();
	stamp = (__u32)(now >> 30);

	ct = sl_ns6_established(&fk, fl, now);
	if (ct) {
		/* once a second: a next hop found, lost, or refused */
		if (sl_xdp_redirect && ct->nh_time != stamp)
			sl_nexthop6(ctx, p.ip6, ct->addr, ct, stamp);
		return sl_forward6(ctx, p.eth, p.ip6, p.tcp, ct);
	}

	switch (sl_ns6_new_flow(&fk, fl, now, &fv)) {
	case SL_NS_NAT:
		break;
	case SL_NS_DROP:
		return XDP_DROP;
	default:
		return XDP_PASS;
	}
	if (sl_xdp_redirect)
		sl_nexthop6(ctx, p.ip6, fv.addr, &fv, stamp);
	if (sl_ct6_create(&fk, &fv)) {
		sluice_count(SLUICE_CNT_CT_INSERT_FAIL);
		return XDP_PASS;
	}
	sluice_count(SLUICE_CNT_XDP_NEW_FLOW);
	return sl_forward6(ctx, p.eth, p.ip6, p.tcp, &fv);
}

SEC("xdp")
int sluice_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sluice_ct4_key fk = { .proto = IPPROTO_TCP, .dir = SLUICE_CT_FWD };
	struct sluice_ct4 fv = {};
	struct sluice_ct4 *ct;
	struct sl_pkt p;
	__u32 stamp;
	__u64 now;
	__u8 fl;

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
		/* IPv6 is tested only here, off the IPv4 path; the tail call
		 * returns only if the program array is empty */
		if (sl_eth_ipv6(data, data_end))
			bpf_tail_call(ctx, &sluice_xdp_v6, 0);
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
	ct = sl_ns_established(&fk, fl, now);
	if (ct) {
		/* refresh the cached next hop about once a second, so a
		 * route or neighbour change is followed within ~1 s */
		/* once a second: a next hop found, lost, or refused */
		if (sl_xdp_redirect && ct->nh_time != stamp)
			sl_nexthop(ctx, p.ip4, ct->addr, ct, stamp);
		return sl_forward(ctx, p.eth, p.ip4, p.tcp, ct);
	}

	switch (sl_ns_new_flow(&fk, fl, now, &fv)) {
	case SL_NS_NAT:
		break;
	case SL_NS_DROP:
		return XDP_DROP;
	default:
		return XDP_PASS;
	}
	if (sl_xdp_redirect)
		sl_nexthop(ctx, p.ip4, fv.addr, &fv, stamp);
	if (sl_ct_create(&fk, &fv)) {
		/* Fail-open: without conntrack the replies could not be
		 * reverse-NATed, so do not rewrite at all. */
		sluice_count(SLUICE_CNT_CT_INSERT_FAIL);
		return XDP_PASS;
	}
	sluice_count(SLUICE_CNT_XDP_NEW_FLOW);
	return sl_forward(ctx, p.eth, p.ip4, p.tcp, &fv);
}
