// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * North-south TC: reverse NAT of replies (backend addr:port -> VIP:port)
 * for flows the XDP program DNATed, and the backend's side of the
 * conntrack state (SYN-ACK establishes, FIN/RST tear down).
 * Attached at egress of the --xdp interfaces (replies leave towards the
 * client there); the same program works at ingress of the backend-facing
 * interface. A reply finds its flow's conntrack entry through the backend's
 * sluice_ct4_rev slots (lib/ct.h); anything else passes untouched.
 *
 * Also the TC ingress fallback (sluice_tc_ingress) for interfaces where
 * XDP cannot attach, or with mode=tc: the XDP program's DNAT done on skbs.
 * IPv6 (both programs): subprograms entered only for the IPv6 ethertype,
 * on sluice_ct6, where a reply finds its flow's REPLY entry directly.
 */
/* lib/maps_ns.h: this object also declares sluice_tc_v6 */
#define SLUICE_NS_TC

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
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
#include "lib/nat.h"
#include "lib/ct.h"
#include "lib/nsflow.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Parse the IPv4/TCP headers of skb; when they are partly in page
 * fragments (rare), make the ones we may rewrite linear and parse again.
 * Returns the sl_parse outcome; *data is the linear start p points into. */
static __always_inline enum sl_parse sl_tc_parse(struct __sk_buff *skb, struct sl_pkt *p,
						 void **data)
{
	void *d = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	enum sl_parse r = sl_parse_tcp4(d, end, skb->len, p);
	__u32 pull;

	if (r == SL_PARSE_MALFORMED && skb->len > (__u32)(end - d)) {
		pull = sizeof(struct ethhdr) + 60 + sizeof(struct tcphdr);
		bpf_skb_pull_data(skb, skb->len < pull ? skb->len : pull);
		d = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		r = sl_parse_tcp4(d, end, skb->len, p);
	}
	*data = d;
	return r;
}

/* sl_tc_parse for IPv6. */
static __always_inline enum sl_parse sl_tc_parse6(struct __sk_buff *skb, struct sl_pkt6 *p,
						  void **data)
{
	void *d = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	enum sl_parse r = sl_parse_tcp6(d, end, skb->len, p);
	__u32 pull;

	if (r == SL_PARSE_MALFORMED && skb->len > (__u32)(end - d)) {
		pull = sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + sizeof(struct tcphdr);
		bpf_skb_pull_data(skb, skb->len < pull ? skb->len : pull);
		d = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		r = sl_parse_tcp6(d, end, skb->len, p);
	}
	*data = d;
	return r;
}

/* The reverse NAT of an IPv6 reply: its REPLY entry in sluice_ct6 (key =
 * the reply's own tuple) names the VIP:port; the state machine as for
 * IPv4, copied into the flow's FWD half. Anything else untouched. */
static __noinline int sl_tc6_revnat(struct __sk_buff *skb)
{
	struct sluice_ct6_key rk = { .proto = IPPROTO_TCP, .dir = SLUICE_CT_REPLY };
	struct sluice_ct6 *ct;
	struct sl_pkt6 p;
	__u8 vip[16], baddr[16];
	__be16 bport, vport;
	__u32 l3_off, l4_off;
	void *data;
	__u64 now;
	int gone;

	if (sl_tc_parse6(skb, &p, &data) != SL_PARSE_TCP6)
		return TC_ACT_OK;
	__builtin_memcpy(rk.saddr, &p.ip6->saddr, 16);
	__builtin_memcpy(rk.daddr, &p.ip6->daddr, 16);
	rk.sport = p.tcp->source;
	rk.dport = p.tcp->dest;
	now = bpf_ktime_get_coarse_ns();
	ct = sl_ct6_lookup(&rk, now);
	if (!ct)
		return TC_ACT_OK;
	if (sl_ct6_segment(ct, &rk, sl_tcp_flags(p.tcp), 0, now, &gone))
		sluice_count(SLUICE_CNT_CT_CLOSED);
	if (gone)
		sluice_count(SLUICE_CNT_CT_EVICT);
	__builtin_memcpy(vip, ct->addr, 16);
	vport = ct->port;
	__builtin_memcpy(baddr, rk.saddr, 16);
	bport = rk.sport;
	l3_off = (__u32)((void *)p.ip6 - data);
	l4_off = (__u32)((void *)p.tcp - data);
	if (sl_tc_nat6_snat(skb, l3_off, l4_off, baddr, bport, vip, vport))
		return TC_ACT_SHOT;
	sluice_count(SLUICE_CNT_TC_REVNAT);
	return TC_ACT_OK;
}

/* The TC ingress fallback for IPv6: sluice_tc_ingress's decision on
 * sluice_ct6, the DNAT by skb helpers; the stack forwards. A program of its
 * own, tail-called on the IPv6 ethertype (as a subprogram its stack would
 * add to sluice_tc_ingress's, over the verifier's 512 bytes). */
SEC("tc")
int sluice_tc_ingress6(struct __sk_buff *skb)
{
	struct sluice_ct6_key fk = { .proto = IPPROTO_TCP, .dir = SLUICE_CT_FWD };
	struct sluice_ct6 fv = {};
	struct sluice_ct6 *ct;
	struct sl_pkt6 p;
	__u8 baddr[16];
	__be16 vport, bport;
	__u32 l3_off, l4_off;
	void *data;
	__u64 now;

	switch (sl_tc_parse6(skb, &p, &data)) {
	case SL_PARSE_TCP6:
		break;
	case SL_PARSE_FRAG:
		sluice_count(SLUICE_CNT_XDP_FRAGMENT);
		return TC_ACT_OK;
	case SL_PARSE_MALFORMED:
		sluice_count(SLUICE_CNT_XDP_MALFORMED);
		return TC_ACT_OK;
	default:
		sluice_count(SLUICE_CNT_XDP_PASS);
		return TC_ACT_OK;
	}
	__builtin_memcpy(fk.saddr, &p.ip6->saddr, 16);
	__builtin_memcpy(fk.daddr, &p.ip6->daddr, 16);
	fk.sport = p.tcp->source;
	fk.dport = vport = p.tcp->dest;
	now = bpf_ktime_get_coarse_ns();

	ct = sl_ns6_established(&fk, sl_tcp_flags(p.tcp), now);
	if (ct) {
		__builtin_memcpy(baddr, ct->addr, 16);
		bport = ct->port;
	} else {
		switch (sl_ns6_new_flow(&fk, sl_tcp_flags(p.tcp), now, &fv)) {
		case SL_NS_NAT:
			break;
		case SL_NS_DROP:
			return TC_ACT_SHOT;
		default:
			return TC_ACT_OK;
		}
		if (sl_ct6_create(&fk, &fv)) {
			sluice_count(SLUICE_CNT_CT_INSERT_FAIL);
			return TC_ACT_OK;
		}
		sluice_count(SLUICE_CNT_XDP_NEW_FLOW);
		__builtin_memcpy(baddr, fv.addr, 16);
		bport = fv.port;
	}
	l3_off = (__u32)((void *)p.ip6 - data);
	l4_off = (__u32)((void *)p.tcp - data);
	if (sl_tc_nat6_dnat(skb, l3_off, l4_off, fk.daddr, vport, baddr, bport))
		return TC_ACT_SHOT;
	sluice_count(SLUICE_CNT_XDP_TO_STACK);
	return TC_ACT_OK;
}

SEC("tc")
int sluice_tc_revnat(struct __sk_buff *skb)
{
	struct sluice_ct4_key rk = { .proto = IPPROTO_TCP, .dir = SLUICE_CT_REPLY };
	struct sluice_ct4_key peer;
	struct sluice_ct4 *ct;
	__be32 vip, baddr;
	__be16 bport, vport;
	struct sl_pkt p;
	__u32 l3_off, l4_off;
	void *data;
	__u64 now;
	int gone;

	switch (sl_tc_parse(skb, &p, &data)) {
	case SL_PARSE_TCP4:
		break;
	case SL_PARSE_OTHER:
		if (sl_eth_ipv6(data, (void *)(long)skb->data_end))
			return sl_tc6_revnat(skb);
		return TC_ACT_OK;
	default:
		return TC_ACT_OK;
	}

	rk.saddr = p.ip4->saddr;
	rk.daddr = p.ip4->daddr;
	rk.sport = p.tcp->source;
	rk.dport = p.tcp->dest;
	now = bpf_ktime_get_coarse_ns();
	ct = sl_ct_reply_lookup(&rk, now, &vip, &vport, &peer);
	if (!ct)
		return TC_ACT_OK;	/* not a NATed flow: untouched */

	if (sl_ct_segment(ct, &peer, sl_tcp_flags(p.tcp), 0, now, &gone))
		sluice_count(SLUICE_CNT_CT_CLOSED);
	/* A flow with two entries lost its other half to LRU pressure: this
	 * reply is still translated, but the client's next packet will miss.
	 * Seen on the state-changing segments, which look the other half up. */
	if (gone)
		sluice_count(SLUICE_CNT_CT_EVICT);

	baddr = p.ip4->saddr;
	bport = p.tcp->source;
	l3_off = (__u32)((void *)p.ip4 - data);
	l4_off = (__u32)((void *)p.tcp - data);
	if (sl_tc_nat4_snat(skb, l3_off, l4_off, baddr, bport, vip, vport))
		return TC_ACT_SHOT;	/* half-rewritten: never send it on */
	sluice_count(SLUICE_CNT_TC_REVNAT);
	return TC_ACT_OK;
}

/* The TC ingress fallback for interfaces where XDP cannot attach: the same
 * decision as bpf/xdp.bpf.c (lib/nsflow.h, the same counters), the DNAT by
 * skb helpers, and the stack forwards the rewritten packet (no fib
 * redirect here). Verdicts: TC_ACT_OK (rewritten or untouched), TC_ACT_SHOT
 * for a SYN to a VIP without backend or a half-rewritten packet. */
SEC("tc")
int sluice_tc_ingress(struct __sk_buff *skb)
{
	struct sluice_ct4_key fk = { .proto = IPPROTO_TCP, .dir = SLUICE_CT_FWD };
	struct sluice_ct4 fv = {};
	struct sluice_ct4 *ct;
	struct sl_pkt p;
	__be32 vip, baddr;
	__be16 vport, bport;
	__u32 l3_off, l4_off;
	void *data;
	__u64 now;

	switch (sl_tc_parse(skb, &p, &data)) {
	case SL_PARSE_TCP4:
		break;
	case SL_PARSE_FRAG:
		sluice_count(SLUICE_CNT_XDP_FRAGMENT);
		return TC_ACT_OK;
	case SL_PARSE_MALFORMED:
		sluice_count(SLUICE_CNT_XDP_MALFORMED);
		return TC_ACT_OK;
	default:
		if (sl_eth_ipv6(data, (void *)(long)skb->data_end))
			bpf_tail_call(skb, &sluice_tc_v6, 0);
		sluice_count(SLUICE_CNT_XDP_PASS);
		return TC_ACT_OK;
	}
	fk.saddr = p.ip4->saddr;
	fk.daddr = vip = p.ip4->daddr;
	fk.sport = p.tcp->source;
	fk.dport = vport = p.tcp->dest;
	now = bpf_ktime_get_coarse_ns();

	ct = sl_ns_established(&fk, sl_tcp_flags(p.tcp), now);
	if (ct) {
		baddr = ct->addr;
		bport = ct->port;
	} else {
		switch (sl_ns_new_flow(&fk, sl_tcp_flags(p.tcp), now, &fv)) {
		case SL_NS_NAT:
			break;
		case SL_NS_DROP:
			return TC_ACT_SHOT;
		default:
			return TC_ACT_OK;
		}
		if (sl_ct_create(&fk, &fv)) {
			sluice_count(SLUICE_CNT_CT_INSERT_FAIL);
			return TC_ACT_OK;	/* fail-open, as in XDP */
		}
		sluice_count(SLUICE_CNT_XDP_NEW_FLOW);
		baddr = fv.addr;
		bport = fv.port;
	}
	l3_off = (__u32)((void *)p.ip4 - data);
	l4_off = (__u32)((void *)p.tcp - data);
	if (sl_tc_nat4_dnat(skb, l3_off, l4_off, vip, vport, baddr, bport))
		return TC_ACT_SHOT;	/* half-rewritten: never send it on */
	sluice_count(SLUICE_CNT_XDP_TO_STACK);
	return TC_ACT_OK;
}
