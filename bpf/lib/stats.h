/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-backend connection counters (sluice_stats), shared by the connect
 * hooks (opened) and sockops (established, failed, closed, active, bytes).
 * Requires bpf/lib/maps.h.
 */
#ifndef SLUICE_BPF_STATS_H
#define SLUICE_BPF_STATS_H

#include "lib/maps.h"

/* The value of key in the hash map, created from zero (a zeroed value of
 * the map's type) on first use. NULL only when the map is full: callers
 * then lose the count (fail-open, never the connect). */
static __always_inline void *sluice_get_or_create(void *map, const void *key, const void *zero)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	/* NOEXIST: a racing creator wins and we use its entry */
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/* The counters of key, created zeroed on first use. */
static __always_inline struct sluice_stats *sluice_stats_get(const struct sluice_stats_key *key)
{
	struct sluice_stats zero = {};

	return sluice_get_or_create(&sluice_stats, key, &zero);
}

#endif /* SLUICE_BPF_STATS_H */
