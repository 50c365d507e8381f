/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * 16-byte addresses as the ABI stores them (include/sluice/abi.h: IPv4
 * v4-mapped, ::ffff:a.b.c.d): conversion to and from IPv4 and equality.
 * Shared by the socket hooks (sock.bpf.c) and the north-south programs
 * (lib/parse.h, lib/nsflow.h).
 */
#ifndef SLUICE_BPF_ADDR_H
#define SLUICE_BPF_ADDR_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* v4-mapped form (::ffff:a.b.c.d) of an IPv4 address, as the ABI stores it. */
static __always_inline void sl_v4mapped(__u8 out[16], __be32 a)
{
	__builtin_memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	__builtin_memcpy(&out[12], &a, 4);
}

/* 1 when addr (16 bytes) is v4-mapped (::ffff:a.b.c.d). */
static __always_inline int sl_is_v4mapped(const __u8 addr[16])
{
	__u64 hi;
	__u32 mid;

	__builtin_memcpy(&hi, addr, 8);
	__builtin_memcpy(&mid, addr + 8, 4);
	return hi == 0 && mid == bpf_htonl(0x0000ffff);
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

/* 1 when the 16-byte addresses a and b are equal. */
static __always_inline int sl_addr_eq(const __u8 a[16], const __u8 b[16])
{
	__u64 a0, a1, b0, b1;

	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	__builtin_memcpy(&b0, b, 8);
	__builtin_memcpy(&b1, b + 8, 8);
	return a0 == b0 && a1 == b1;
}

#endif /* SLUICE_BPF_ADDR_H */
