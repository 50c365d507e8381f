/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * consistentHash at L4 (useSourceIp) on the XDP path: Maglev lookup tables
 * (Eisenbud et al., NSDI'16) built per subset by user/lib/compile_maglev.c
 * and stored per generation in sluice_maglev (lib/maps_ns.h). Removing one
 * of N backends changes about 1/N of the slots, so about 1/N of the
 * clients move.
 * The hash is over the client's source address only (Istio useSourceIp,
 * sl_addr_hash in lib/hash.h): one client address stays on one subset and
 * one backend while the policy holds (tests/e2e/test_xdp_maglev.sh).
 */
#ifndef SLUICE_BPF_MAGLEV_H
#define SLUICE_BPF_MAGLEV_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sluice/abi.h"
#include "lib/maps.h"
#include "lib/maps_ns.h"
#include "lib/hash.h"

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
