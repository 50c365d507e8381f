/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading the data plane back: global counters (PERCPU, summed over CPUs)
 * and the per-backend connection stats that `sluicectl stats` shows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/dp_int.h"

int sl_dp_counters(struct sl_dp *dp, uint64_t out[__SLUICE_CNT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;
	__u32 i;
	int c, rc = 0;

	memset(out, 0, sizeof(uint64_t) * __SLUICE_CNT_MAX);
	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (i = 0; i < __SLUICE_CNT_MAX; i++) {
		if (bpf_map_lookup_elem(dp->fds[DPM_COUNTERS], &i, vals)) {
			rc = -errno;
			break;
		}
		for (c = 0; c < ncpu; c++)
			out[i] += vals[c];
	}
	free(vals);
	return rc;
}

/* A snapshot of sluice_stats; entries may be updated while we walk (each
 * value is read whole by the kernel, counters are independent). */
int sl_dp_stats(struct sl_dp *dp, struct sl_dp_stat **out, size_t *n)
{
	struct sluice_stats_key k, prev;
	struct sl_dp_stat *v = NULL, *p;
	size_t cap = 0, cnt = 0;
	bool first = true;
	int rc = 0;

	*out = NULL;
	*n = 0;
	while (!bpf_map_get_next_key(dp->fds[DPM_STATS], first ? NULL : &prev, &k)) {
		first = false;
		prev = k;
		if (cnt == cap) {
			p = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof(*v));
			if (!p) {
				rc = -ENOMEM;
				goto cleanup;
			}
			v = p;
		}
		if (bpf_map_lookup_elem(dp->fds[DPM_STATS], &k, &v[cnt].val))
			continue;	/* deleted under us */
		v[cnt++].key = k;
	}
	*out = v;
	*n = cnt;
	v = NULL;
cleanup:
	free(v);
	return rc;
}
