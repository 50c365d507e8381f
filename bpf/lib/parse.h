/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for the north-south programs (XDP and TC): Ethernet ->
 * IPv4 -> TCP with a cursor and a bounds check before every access. Used
 * with the data/data_end pair of either context, so the same code runs in
 * xdp.bpf.c and tc.bpf.c.
 *
 * Defined outcomes (enum sl_parse): every packet gets exactly one, and only
 * SL_PARSE_TCP4 hands pointers back. IPv4 options are allowed (the L4 header
 * is found with ihl); fragments are reported, never reassembled; IPv6 and
 * non-IP are "not ours" (IPv4 only for now, see docs/xdp.md).
 */
#ifndef SLUICE_BPF_PARSE_H
#define SLUICE_BPF_PARSE_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

enum sl_parse {
	SL_PARSE_TCP4 = 0,	/* eth/ip4/tcp pointers valid */
	SL_PARSE_OTHER,		/* not IPv4 TCP: not ours */
	SL_PARSE_FRAG,		/* IPv4 fragment (MF set or offset != 0) */
	SL_PARSE_MALFORMED,	/* truncated or inconsistent headers */
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

/* v4-mapped form (::ffff:a.b.c.d) of an IPv4 address, as the ABI stores it. */
static __always_inline void sl_v4mapped(__u8 out[16], __be32 a)
{
	__builtin_memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	__builtin_memcpy(&out[12], &a, 4);
}

/* The IPv4 address of a v4-mapped one; returns 0 when addr is not v4-mapped. */
static __always_inline int sl_from_v4mapped(const __u8 addr[16], __be32 *a)
{
	__u64 hi;
	__u32 mid;

	__builtin_memcpy(&hi, addr, 8);
	__builtin_memcpy(&mid, addr + 8, 4);
	if (hi != 0 || mid != bpf_htonl(0x0000ffff))
		return 0;
	__builtin_memcpy(a, addr + 12, 4);
	return 1;
}

#endif /* SLUICE_BPF_PARSE_H */
