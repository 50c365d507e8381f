/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPv6 helpers for tests/bpf/test_xdp_fixtures.c (on top of xdp_fixture.h):
 * Ethernet/IPv6/TCP frames, optionally with one 8-byte extension header
 * before TCP, with the TCP checksum computed from scratch over the IPv6
 * pseudo-header (RFC 8200 8.1) and an independent checksum check of any
 * output frame.
 */
#ifndef SLUICE_TESTS_XDP_FIXTURE6_H
#define SLUICE_TESTS_XDP_FIXTURE6_H

#include <linux/ipv6.h>

#include "xdp_fixture.h"

enum { FX6_HOP = 1, FX6_DST, FX6_FRAG };

struct fx_tcp6 {
	const char *src, *dst;	/* IPv6 text */
	uint16_t sport, dport;	/* host order */
	uint8_t flags;		/* FX_* */
	uint8_t ext;		/* 0, or one 8-byte extension header before
				 * TCP: FX6_HOP, FX6_DST or FX6_FRAG */
	uint8_t proto;		/* 0 = TCP */
	uint8_t hop;		/* 0 = 64 */
	uint16_t payload;
};

/* TCP checksum over the IPv6 pseudo-header and the segment at l4 (len
 * bytes): 0 when valid, as fx_csum computes it. */
static inline uint16_t fx6_l4_csum(const struct ipv6hdr *ip6, const uint8_t *l4, size_t len,
				   uint8_t proto)
{
	return fx_csum(l4, len, fx_pseudo6(&ip6->saddr, &ip6->daddr, proto, len));
}

/* The TCP checksum of an IPv6 frame (TCP right after the fixed header)
 * valid? */
static inline int fx6_csum_ok(const uint8_t *frame, size_t len)
{
	const struct ipv6hdr *ip6 = (const void *)(frame + sizeof(struct ethhdr));
	size_t plen;

	if (len < sizeof(struct ethhdr) + sizeof(*ip6) + sizeof(struct tcphdr) ||
	    ip6->nexthdr != IPPROTO_TCP)
		return 0;
	plen = ntohs(ip6->payload_len);
	if (sizeof(struct ethhdr) + sizeof(*ip6) + plen > len)
		return 0;
	return fx6_l4_csum(ip6, (const uint8_t *)(ip6 + 1), plen, IPPROTO_TCP) == 0;
}

/* Build an Ethernet/IPv6/TCP (or UDP) frame with a correct checksum.
 * Returns its length. */
static inline size_t fx6_build(uint8_t *buf, const struct fx_tcp6 *t)
{
	struct ethhdr *eth = (void *)buf;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	uint8_t *l4 = (uint8_t *)(ip6 + 1), proto = t->proto ? t->proto : IPPROTO_TCP;
	struct tcphdr *tcp;
	size_t l4len, i, ext = 0;

	memset(buf, 0, FX_MAXPKT);
	memcpy(eth->h_dest, "\x02\x00\x00\x00\x00\x02", 6);
	memcpy(eth->h_source, "\x02\x00\x00\x00\x00\x01", 6);
	eth->h_proto = htons(ETH_P_IPV6);
	ip6->version = 6;
	ip6->flow_lbl[0] = 0x01;	/* flow label 0x12345 */
	ip6->flow_lbl[1] = 0x23;
	ip6->flow_lbl[2] = 0x45;
	ip6->hop_limit = t->hop ? t->hop : 64;
	inet_pton(AF_INET6, t->src, &ip6->saddr);
	inet_pton(AF_INET6, t->dst, &ip6->daddr);
	ip6->nexthdr = proto;
	if (t->ext) {
		ext = 8;
		ip6->nexthdr = t->ext == FX6_HOP ? 0 : t->ext == FX6_DST ? 60 : 44;
		l4[0] = proto;		/* next header */
		l4[1] = 0;		/* hdr ext len (8 bytes) / fragment: reserved */
		if (t->ext == FX6_FRAG) {
			l4[3] = 1;	/* offset 0, M set: a first fragment */
			l4[7] = 0x42;	/* identification */
		} else {
			l4[2] = 1;	/* PadN, 4 bytes of padding */
			l4[3] = 4;
		}
		l4 += 8;
	}
	tcp = (void *)l4;
	tcp->source = htons(t->sport);
	tcp->dest = htons(t->dport);
	tcp->seq = htonl(1000);
	tcp->ack_seq = htonl(t->flags & FX_ACK ? 2000 : 0);
	tcp->doff = 5;
	l4[13] = t->flags;
	tcp->window = htons(65535);
	for (i = 0; i < t->payload; i++)
		l4[sizeof(*tcp) + i] = (uint8_t)('a' + i % 26);
	l4len = sizeof(*tcp) + t->payload;
	ip6->payload_len = htons((uint16_t)(ext + l4len));
	tcp->check = htons(fx6_l4_csum(ip6, l4, l4len, proto));
	return sizeof(*eth) + sizeof(*ip6) + ext + l4len;
}

#endif /* SLUICE_TESTS_XDP_FIXTURE6_H */
