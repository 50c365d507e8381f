/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Incremental Internet checksum updates (RFC 1624: HC' = ~(~HC + ~m + m')),
 * done by hand for XDP (no skb checksum helpers; lib/nat.h) and the XDP
 * benchmark baselines (bench/xdp_baseline.bpf.c). The test fixtures
 * (tests/bpf/xdp_fixture.h) compute checksums from scratch instead, to
 * check these updates independently. The packet's checksum must be
 * complete (as received from a NIC, or sent with checksum offload off); TC
 * uses the kernel's bpf_l3/l4_csum_replace instead because skbs may carry
 * CHECKSUM_PARTIAL.
 */
#ifndef SLUICE_BPF_CSUM_H
#define SLUICE_BPF_CSUM_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

static __always_inline __u16 sl_csum_fold(__u32 c)
{
	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	return (__u16)c;
}

/* Replace a 16-bit word `from` by `to` under checksum *sum (all as stored). */
static __always_inline void sl_csum_replace2(__sum16 *sum, __u16 from, __u16 to)
{
	__u32 c = (__u16)~*sum;

	c += (__u16)~from;
	c += to;
	*sum = (__sum16)~sl_csum_fold(c);
}

/* Replace a 32-bit field `from` by `to` under checksum *sum. */
static __always_inline void sl_csum_replace4(__sum16 *sum, __u32 from, __u32 to)
{
	__u32 c = (__u16)~*sum;

	c += (__u16)~(from & 0xffff);
	c += (__u16)~(from >> 16);
	c += to & 0xffff;
	c += to >> 16;
	*sum = (__sum16)~sl_csum_fold(c);
}

#endif /* SLUICE_BPF_CSUM_H */
