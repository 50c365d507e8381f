/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * IPv4/TCP and IPv6/TCP address rewriting for the north-south path.
 * XDP side (sl_nat4_*): direct packet writes with the incremental checksums
 * of csum.h. TC side (sl_tc_nat4_*: reverse NAT at egress, DNAT in the
 * ingress fallback): bpf_l3/l4_csum_replace, which handle
 * skbs in CHECKSUM_PARTIAL state (veth, local senders) correctly; the caller
 * must re-parse after these, since the helpers invalidate packet pointers.
 */
#ifndef SLUICE_BPF_NAT_H
#define SLUICE_BPF_NAT_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/if_ether.h>
#include <stddef.h>
#include <bpf/bpf_helpers.h>

#include "lib/csum.h"

/* DNAT: destination becomes addr:port; IP header and TCP checksums follow. */
static __always_inline void sl_nat4_dnat(struct iphdr *ip, struct tcphdr *tcp,
					 __be32 addr, __be16 port)
{
	sl_csum_replace4(&ip->check, ip->daddr, addr);
	sl_csum_replace4(&tcp->check, ip->daddr, addr);
	sl_csum_replace2(&tcp->check, tcp->dest, port);
	ip->daddr = addr;
	tcp->dest = port;
}

/* SNAT: source becomes addr:port (reverse NAT of a reply, XDP flavour). */
static __always_inline void sl_nat4_snat(struct iphdr *ip, struct tcphdr *tcp,
					 __be32 addr, __be16 port)
{
	sl_csum_replace4(&ip->check, ip->saddr, addr);
	sl_csum_replace4(&tcp->check, ip->saddr, addr);
	sl_csum_replace2(&tcp->check, tcp->source, port);
	ip->saddr = addr;
	tcp->source = port;
}

/* DNAT and a router's TTL - 1 together (the XDP forward path): the same
 * result as sl_nat4_dnat() plus an incremental update for the TTL, with
 * one checksum fold per header instead of two or three. */
static __always_inline void sl_nat4_dnat_fwd(struct iphdr *ip, struct tcphdr *tcp,
					     __be32 addr, __be16 port)
{
	__u16 old_tp = *(__u16 *)&ip->ttl;	/* ttl and protocol share a word */
	__be32 old = ip->daddr;
	__u32 c;

	ip->ttl--;
	c = (__u16)~ip->check;
	c += (__u16)~(old & 0xffff);
	c += (__u16)~(old >> 16);
	c += addr & 0xffff;
	c += addr >> 16;
	c += (__u16)~old_tp;
	c += *(__u16 *)&ip->ttl;
	ip->check = (__sum16)~sl_csum_fold(c);
	c = (__u16)~tcp->check;
	c += (__u16)~(old & 0xffff);
	c += (__u16)~(old >> 16);
	c += addr & 0xffff;
	c += addr >> 16;
	c += (__u16)~tcp->dest;
	c += port;
	tcp->check = (__sum16)~sl_csum_fold(c);
	ip->daddr = addr;
	tcp->dest = port;
}

/* TC rewrite of one address:port pair of the IPv4/TCP packet at
 * l3_off/l4_off: the fields at addr_off (in the IP header) and port_off (in
 * the TCP header) change from old_addr:old_port to addr:port, checksums by
 * bpf_l3/l4_csum_replace. Returns 0 or a negative helper error (packet left
 * as is or partly rewritten: the caller drops it then, never forwards a
 * packet with a broken checksum). */
static __always_inline int sl_tc_nat4(struct __sk_buff *skb, __u32 l3_off, __u32 l4_off,
				      __u32 addr_off, __u32 port_off, __be32 old_addr,
				      __be16 old_port, __be32 addr, __be16 port)
{
	__u32 ip_csum = l3_off + offsetof(struct iphdr, check);
	__u32 tcp_csum = l4_off + offsetof(struct tcphdr, check);
	int rc;

	rc = bpf_l4_csum_replace(skb, tcp_csum, old_addr, addr, BPF_F_PSEUDO_HDR | 4);
	if (rc)
		return rc;
	rc = bpf_l4_csum_replace(skb, tcp_csum, old_port, port, 2);
	if (rc)
		return rc;
	rc = bpf_l3_csum_replace(skb, ip_csum, old_addr, addr, 4);
	if (rc)
		return rc;
	rc = bpf_skb_store_bytes(skb, l3_off + addr_off, &addr, 4, 0);
	if (rc)
		return rc;
	return bpf_skb_store_bytes(skb, l4_off + port_off, &port, 2, 0);
}

/* TC reverse NAT: the source becomes addr:port (a reply leaves as the VIP). */
static __always_inline int sl_tc_nat4_snat(struct __sk_buff *skb, __u32 l3_off,
					   __u32 l4_off, __be32 old_addr, __be16 old_port,
					   __be32 addr, __be16 port)
{
	return sl_tc_nat4(skb, l3_off, l4_off, offsetof(struct iphdr, saddr),
			  offsetof(struct tcphdr, source), old_addr, old_port, addr, port);
}

/* TC DNAT (the ingress fallback): the destination becomes addr:port. */
static __always_inline int sl_tc_nat4_dnat(struct __sk_buff *skb, __u32 l3_off,
					   __u32 l4_off, __be32 old_addr, __be16 old_port,
					   __be32 addr, __be16 port)
{
	return sl_tc_nat4(skb, l3_off, l4_off, offsetof(struct iphdr, daddr),
			  offsetof(struct tcphdr, dest), old_addr, old_port, addr, port);
}

/* ---- IPv6 ---- IPv6 has no header checksum: only the TCP checksum, whose
 * pseudo-header holds both 16-byte addresses, follows the rewrite. */

/* XDP DNAT of an IPv6/TCP packet: the destination becomes addr:port, the
 * TCP checksum updated incrementally over the eight address words and the
 * port (one fold). fwd: also the router's hop limit - 1 (in no checksum). */
static __always_inline void sl_nat6_dnat(struct ipv6hdr *ip6, struct tcphdr *tcp,
					 const __u8 addr[16], __be16 port, int fwd)
{
	__u32 o[4], n[4], c;
	int i;

	__builtin_memcpy(o, &ip6->daddr, 16);
	__builtin_memcpy(n, addr, 16);
	c = (__u16)~tcp->check;
#pragma unroll
	for (i = 0; i < 4; i++) {
		c += (__u16)~(o[i] & 0xffff);
		c += (__u16)~(o[i] >> 16);
		c += n[i] & 0xffff;
		c += n[i] >> 16;
	}
	c += (__u16)~tcp->dest;
	c += port;
	tcp->check = (__sum16)~sl_csum_fold(c);
	__builtin_memcpy(&ip6->daddr, n, 16);
	tcp->dest = port;
	if (fwd)
		ip6->hop_limit--;
}

/* TC rewrite of one address:port pair of the IPv6/TCP packet at
 * l3_off/l4_off (the IPv6 twin of sl_tc_nat4): the address at addr_off
 * and the port at port_off change from old_addr:old_port to addr:port; the
 * TCP checksum follows by bpf_csum_diff over the 16 bytes, applied as a
 * pseudo-header change (right for CHECKSUM_PARTIAL skbs as well). Returns
 * 0 or a negative helper error (the caller drops the packet then). */
static __always_inline int sl_tc_nat6(struct __sk_buff *skb, __u32 l3_off, __u32 l4_off,
				      __u32 addr_off, __u32 port_off, const __u8 old_addr[16],
				      __be16 old_port, const __u8 addr[16], __be16 port)
{
	__u32 tcp_csum = l4_off + offsetof(struct tcphdr, check);
	__be32 o[4], n[4];
	__s64 diff;
	int rc;

	__builtin_memcpy(o, old_addr, 16);
	__builtin_memcpy(n, addr, 16);
	diff = bpf_csum_diff(o, 16, n, 16, 0);
	if (diff < 0)
		return (int)diff;
	rc = bpf_l4_csum_replace(skb, tcp_csum, 0, (__u32)diff, BPF_F_PSEUDO_HDR);
	if (rc)
		return rc;
	rc = bpf_l4_csum_replace(skb, tcp_csum, old_port, port, 2);
	if (rc)
		return rc;
	rc = bpf_skb_store_bytes(skb, l3_off + addr_off, n, 16, 0);
	if (rc)
		return rc;
	return bpf_skb_store_bytes(skb, l4_off + port_off, &port, 2, 0);
}

/* TC reverse NAT (IPv6): the source becomes addr:port. */
static __always_inline int sl_tc_nat6_snat(struct __sk_buff *skb, __u32 l3_off,
					   __u32 l4_off, const __u8 old_addr[16],
					   __be16 old_port, const __u8 addr[16], __be16 port)
{
	return sl_tc_nat6(skb, l3_off, l4_off, offsetof(struct ipv6hdr, saddr),
			  offsetof(struct tcphdr, source), old_addr, old_port, addr, port);
}

/* TC DNAT (IPv6, the ingress fallback): the destination becomes addr:port. */
static __always_inline int sl_tc_nat6_dnat(struct __sk_buff *skb, __u32 l3_off,
					   __u32 l4_off, const __u8 old_addr[16],
					   __be16 old_port, const __u8 addr[16], __be16 port)
{
	return sl_tc_nat6(skb, l3_off, l4_off, offsetof(struct ipv6hdr, daddr),
			  offsetof(struct tcphdr, dest), old_addr, old_port, addr, port);
}

#endif /* SLUICE_BPF_NAT_H */
