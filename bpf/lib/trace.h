/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The decision trace: one struct sluice_trace_rec per decision into the
 * sluice_trace ring buffer, while sluicectl trace holds the switch on
 * (sluice_trace_cfg, see include/sluice/abi.h). Off, it costs the inlined
 * array lookup and one compare. Requires bpf/lib/maps.h.
 */
#ifndef SLUICE_BPF_TRACE_H
#define SLUICE_BPF_TRACE_H

#include "lib/maps.h"

/* The trace config when a record should be written now, else NULL: off,
 * past the reader's deadline, not sampled, or over the rate limit (those
 * two counted as dropped). */
static __always_inline struct sluice_trace_cfg *sluice_trace_on(__u64 *now_out)
{
	__u32 zero = 0;
	struct sluice_trace_cfg *tc = bpf_map_lookup_elem(&sluice_trace_cfg, &zero);
	__u64 now;

	if (!tc || !tc->until_ns)
		return NULL;
	now = bpf_ktime_get_ns();
	if (now > tc->until_ns)
		return NULL;
	if (tc->sample > 1 && bpf_get_prandom_u32() % tc->sample)
		return NULL;
	if (tc->max_per_sec) {
		/* one-second windows; the reset and the check race between
		 * CPUs, which only makes the limit approximate */
		if (now - tc->win_start_ns >= 1000000000ull) {
			tc->win_start_ns = now;
			tc->win_count = 0;
		}
		if (tc->win_count >= tc->max_per_sec) {
			__sync_fetch_and_add(&tc->dropped, 1);
			return NULL;
		}
		__sync_fetch_and_add(&tc->win_count, 1);
	}
	*now_out = now;
	return tc;
}

/* Write rec; a full ring buffer drops it, counted. No wakeup: the reader
 * drains the ring on its own clock (every 100 ms), so a record costs no
 * irq_work and no reader wakeup per connect(). */
static __always_inline void sluice_trace_emit(struct sluice_trace_cfg *tc,
					      struct sluice_trace_rec *rec)
{
	if (bpf_ringbuf_output(&sluice_trace, rec, sizeof(*rec), BPF_RB_NO_WAKEUP))
		__sync_fetch_and_add(&tc->dropped, 1);
	else
		__sync_fetch_and_add(&tc->written, 1);
}

#endif /* SLUICE_BPF_TRACE_H */
