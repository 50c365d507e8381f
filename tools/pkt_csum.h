/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Internet checksum computed from scratch (RFC 1071) over whole
 * headers and segments, with the IPv4 and IPv6 pseudo-header sums (RFC 793,
 * RFC 8200 8.1): for frames built by the XDP/TC test fixtures
 * (tests/bpf/xdp_fixture.h, xdp_fixture6.h) and by tools/xdp_tool.c. Deliberately
 * not bpf/lib/csum.h's incremental updates, which the fixtures check.
 */
#ifndef SLUICE_TOOLS_PKT_CSUM_H
#define SLUICE_TOOLS_PKT_CSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The one's complement of the one's complement sum of buf (len bytes,
 * big-endian 16-bit words) started at sum: the checksum field's value, or
 * 0 when buf already holds a valid checksum. */
static inline uint16_t fx_csum(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The sum of 16-bit words of n bytes at p (n even), unfolded. */
static inline uint32_t fx_sum16(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	return sum;
}

/* The IPv4 pseudo-header sum: addresses (network order, as in the header),
 * protocol and the L4 length; fx_csum's start for a TCP/UDP segment. */
static inline uint32_t fx_pseudo4(uint32_t saddr, uint32_t daddr, uint8_t proto, size_t l4len)
{
	uint8_t ph[8];

	memcpy(ph, &saddr, 4);
	memcpy(ph + 4, &daddr, 4);
	return fx_sum16(ph, sizeof(ph)) + proto + (uint32_t)l4len;
}

/* The IPv6 pseudo-header sum: both 16-byte addresses, the upper-layer
 * length and the next header. */
static inline uint32_t fx_pseudo6(const void *saddr, const void *daddr, uint8_t proto,
				  size_t l4len)
{
	uint8_t ph[32];

	memcpy(ph, saddr, 16);
	memcpy(ph + 16, daddr, 16);
	return fx_sum16(ph, sizeof(ph)) + proto + (uint32_t)(l4len >> 16) +
	       (uint32_t)(l4len & 0xffff);
}

#endif /* SLUICE_TOOLS_PKT_CSUM_H */
