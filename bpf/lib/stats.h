/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-backend connection counters (sluice_stats), shared by the connect
 * hooks (opened) and sockops (established, failed, closed, active, bytes).
 * Requires bpf/lib/maps.h.
 */
#ifndef SLUICE_BPF_STATS_H
#define SLUICE_BPF_STATS_H

#include "lib/maps.h"

/* The counters of key, created zeroed on first use. NULL only when the
 * map is full: callers then lose the count (fail-open, never the connect). */
static __always_inline struct sluice_stats *sluice_stats_get(const struct sluice_stats_key *key)
{
	struct sluice_stats zero = {};
	struct sluice_stats *st;

	st = bpf_map_lookup_elem(&sluice_stats, key);
	if (st)
		return st;
	/* NOEXIST: a racing creator wins and we use its entry */
	bpf_map_update_elem(&sluice_stats, key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&sluice_stats, key);
}

#endif /* SLUICE_BPF_STATS_H */
