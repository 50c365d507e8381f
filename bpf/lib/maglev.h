/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * consistentHash at L4 (useSourceIp) on the XDP path: Maglev lookup tables
 * (Eisenbud et al., NSDI'16) built per subset by user/lib/compile_maglev.c
 * and stored per generation in sluice_maglev (lib/maps_ns.h). Removing one
 * of N backends changes about 1/N of the slots, so about 1/N of the
 * clients move.
 * The hash is over the client's source address only (Istio useSourceIp):
 * one client address stays on one subset and one backend while the
 * policy holds.
 */
#ifndef SLUICE_BPF_MAGLEV_H
#define SLUICE_BPF_MAGLEV_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sluice/abi.h"
#include "lib/maps.h"
#include "lib/maps_ns.h"

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

/* Hash of a 16-byte (v4-mapped) client address; same value in userspace
 * tests (tests/bpf/test_xdp_*.c re-implement it to predict choices). */
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

/* The backend of subset sub for hash h, or NULL (fail-open: the caller
 * falls back to the subset's ordinary pick when the table is torn). */
static __always_inline struct sluice_backend *
sl_maglev_pick(__u32 gen, const struct sluice_subset *sub, __u32 h)
{
	struct sluice_maglev_key mk = { .gen = gen };
	struct sluice_backend_key bk = { .gen = gen };
	__u32 *idx;

	if (!sub->maglev_size)
		return NULL;
	mk.slot = sub->maglev_first + h % sub->maglev_size;
	idx = bpf_map_lookup_elem(&sluice_maglev, &mk);
	if (!idx)
		return NULL;
	bk.idx = *idx;
	return bpf_map_lookup_elem(&sluice_backend, &bk);
}

#endif /* SLUICE_BPF_MAGLEV_H */
