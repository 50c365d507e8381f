/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for the north-south programs (XDP and TC): Ethernet ->
 * IPv4 -> TCP (sl_parse_tcp4) and Ethernet -> IPv6 -> TCP (sl_parse_tcp6)
 * with a cursor and a bounds check before every access. Used
 * with the data/data_end pair of either context, so the same code runs in
 * xdp.bpf.c and tc.bpf.c.
 *
 * Defined outcomes (enum sl_parse): every packet gets exactly one, and only
 * SL_PARSE_TCP4 hands pointers back. IPv4 options are allowed (the L4 header
 * is found with ihl); fragments are reported, never reassembled. The IPv4
 * parser's callers test for IPv6 (sl_eth_ipv6) only on its SL_PARSE_OTHER
 * outcome, so an IPv4 packet makes no extra test; IPv6 extension headers other than
 * a fragment header are reported (SL_PARSE_EXTHDR), never walked: those
 * packets go to the stack untouched (docs/xdp.md).
 */
#ifndef SLUICE_BPF_PARSE_H
#define SLUICE_BPF_PARSE_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lib/addr.h"

enum sl_parse {
	SL_PARSE_TCP4 = 0,	/* eth/ip4/tcp pointers valid */
	SL_PARSE_OTHER,		/* not IPv4 TCP: not ours */
	SL_PARSE_FRAG,		/* IPv4 fragment (MF set or offset != 0) */
	SL_PARSE_MALFORMED,	/* truncated or inconsistent headers */
	SL_PARSE_TCP6,		/* sl_parse_tcp6: eth/ip6/tcp pointers valid */
	SL_PARSE_EXTHDR,	/* IPv6 extension header before the L4 header */
};

struct sl_pkt {
	struct ethhdr *eth;
	struct iphdr *ip4;
	struct tcphdr *tcp;
};

#define SL_IP_MF	0x2000
#define SL_IP_OFFMASK	0x1fff

/* Parse from data to data_end (the linear part). frame_len is the whole
 * frame's length, which is more than data_end - data for a non-linear skb
 * (TC: payload in page fragments). Bounds: the Ethernet header, the IPv4
 * header including its options (ihl * 4 bytes, ihl >= 5), and the fixed TCP
 * header are all inside the linear part before any pointer is returned. A
 * tot_len that disagrees with the frame (shorter than the headers, or
 * longer than what arrived) is malformed; trailing Ethernet padding is
 * allowed. */
static __always_inline enum sl_parse sl_parse_tcp4(void *data, void *data_end,
						   __u32 frame_len, struct sl_pkt *p)
{
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *tcp;
	__u32 ihl_len, tot;

	if ((void *)(eth + 1) > data_end)
		return SL_PARSE_MALFORMED;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return SL_PARSE_OTHER;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return SL_PARSE_MALFORMED;
	if (ip->version != 4 || ip->ihl < 5)
		return SL_PARSE_MALFORMED;
	if (ip->protocol != IPPROTO_TCP)
		return SL_PARSE_OTHER;
	ihl_len = (__u32)ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (tot < ihl_len || sizeof(*eth) + tot > frame_len)
		return SL_PARSE_MALFORMED;
	if (ip->frag_off & bpf_htons(SL_IP_MF | SL_IP_OFFMASK))
		return SL_PARSE_FRAG;
	if (tot < ihl_len + sizeof(*tcp))
		return SL_PARSE_MALFORMED;
	tcp = (void *)ip + ihl_len;
	if ((void *)(tcp + 1) > data_end)
		return SL_PARSE_MALFORMED;
	if (tcp->doff < 5 || (__u32)tcp->doff * 4 > tot - ihl_len)
		return SL_PARSE_MALFORMED;
	p->eth = eth;
	p->ip4 = ip;
	p->tcp = tcp;
	return SL_PARSE_TCP4;
}

/* 1 when the frame at data carries the IPv6 ethertype (bounds checked). */
static __always_inline int sl_eth_ipv6(void *data, void *data_end)
{
	struct ethhdr *eth = data;

	/* a fresh load: else the compiler tests the IPv4 parser's loaded
	 * ethertype for IPv6 first, a compare on every IPv4 packet */
	asm volatile("" ::: "memory");
	return (void *)(eth + 1) <= data_end && eth->h_proto == bpf_htons(ETH_P_IPV6);
}

struct sl_pkt6 {
	struct ethhdr *eth;
	struct ipv6hdr *ip6;
	struct tcphdr *tcp;
};

/* IPv6 next-header values that are extension headers (RFC 8200 4, and
 * AH, Mobility, HIP, Shim6); the fragment header is reported on its own. */
#define SL_NH_HOPOPTS	0
#define SL_NH_ROUTING	43
#define SL_NH_FRAGMENT	44
#define SL_NH_AH	51
#define SL_NH_DSTOPTS	60
#define SL_NH_MOBILITY	135
#define SL_NH_HIP	139
#define SL_NH_SHIM6	140

/* Parse an IPv6/TCP frame, the IPv6 twin of sl_parse_tcp4 (same bounds
 * rules): the fixed 40-byte header and the fixed TCP header are inside the
 * linear part; payload_len must fit the frame (trailing padding allowed)
 * and hold the TCP header with its options. TCP must follow the fixed
 * header directly: a fragment header is SL_PARSE_FRAG, any other extension
 * header SL_PARSE_EXTHDR (a jumbogram's payload_len 0 comes with a
 * hop-by-hop header, so it lands there too). */
static __always_inline enum sl_parse sl_parse_tcp6(void *data, void *data_end,
						   __u32 frame_len, struct sl_pkt6 *p)
{
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6;
	struct tcphdr *tcp;
	__u32 plen;

	if ((void *)(eth + 1) > data_end)
		return SL_PARSE_MALFORMED;
	if (eth->h_proto != bpf_htons(ETH_P_IPV6))
		return SL_PARSE_OTHER;
	ip6 = (void *)(eth + 1);
	if ((void *)(ip6 + 1) > data_end)
		return SL_PARSE_MALFORMED;
	if (ip6->version != 6)
		return SL_PARSE_MALFORMED;
	switch (ip6->nexthdr) {
	case IPPROTO_TCP:
		break;
	case SL_NH_FRAGMENT:
		return SL_PARSE_FRAG;
	case SL_NH_HOPOPTS:
	case SL_NH_ROUTING:
	case SL_NH_AH:
	case SL_NH_DSTOPTS:
	case SL_NH_MOBILITY:
	case SL_NH_HIP:
	case SL_NH_SHIM6:
		return SL_PARSE_EXTHDR;
	default:
		return SL_PARSE_OTHER;
	}
	plen = bpf_ntohs(ip6->payload_len);
	if (sizeof(*eth) + sizeof(*ip6) + plen > frame_len || plen < sizeof(*tcp))
		return SL_PARSE_MALFORMED;
	tcp = (void *)(ip6 + 1);
	if ((void *)(tcp + 1) > data_end)
		return SL_PARSE_MALFORMED;
	if (tcp->doff < 5 || (__u32)tcp->doff * 4 > plen)
		return SL_PARSE_MALFORMED;
	p->eth = eth;
	p->ip6 = ip6;
	p->tcp = tcp;
	return SL_PARSE_TCP6;
}

#endif /* SLUICE_BPF_PARSE_H */
