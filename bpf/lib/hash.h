/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The hashes that make consistentHash sticky: the same input gives the
 * same value on every CPU, packet and program load. sl_addr_hash is the
 * north-south client hash (lib/nsflow.h, Maglev); sl_id_hash the connect
 * hook's, of the calling workload's cgroup id (sock.bpf.c).
 */
#ifndef SLUICE_BPF_HASH_H
#define SLUICE_BPF_HASH_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* 32-bit finaliser of MurmurHash3: every input bit reaches every output bit. */
static __always_inline __u32 sl_mix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* Hash of a 16-byte (v4-mapped or IPv6) client address. */
static __always_inline __u32 sl_addr_hash(const __u8 addr[16])
{
	__u32 w[4], h = 0x5eed51ceu;

	__builtin_memcpy(w, addr, 16);
	h = sl_mix32(h ^ w[0]);
	h = sl_mix32(h ^ w[1]);
	h = sl_mix32(h ^ w[2]);
	h = sl_mix32(h ^ w[3]);
	return h;
}

/* Hash of a 64-bit id (a cgroup id), well spread over [0, 2^32) for
 * sluice_scale: the low half finalised, the high half folded in. */
static __always_inline __u32 sl_id_hash(__u64 id)
{
	__u32 h = sl_mix32((__u32)id ^ 0x5eed51ceu);

	h ^= (__u32)(id >> 32);
	h *= 0x85ebca6bu;
	h ^= h >> 16;
	return h;
}

#endif /* SLUICE_BPF_HASH_H */
