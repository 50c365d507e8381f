/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading the data plane back: global counters (PERCPU, summed over CPUs),
 * the per-backend connection stats that `sluicectl stats` shows, their
 * split by client workload that the Istio metrics show (sluice_traffic), and
 * the byte report that brings both up to date for live connections.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
		if (bpf_map_lookup_elem(dp->fds[SL_MAP_COUNTERS], &i, vals)) {
			rc = -errno;
			break;
		}
		for (c = 0; c < ncpu; c++)
			out[i] += vals[c];
	}
	free(vals);
	return rc;
}

int sl_dp_report_bytes(struct sl_dp *dp)
{
	char buf[64];
	ssize_t r;
	int fd;

	if (!dp || !dp->iter_link)
		return -EOPNOTSUPP;
	fd = bpf_iter_create(bpf_link__fd(dp->iter_link));
	if (fd < 0)
		return -errno;
	/* the program prints nothing: reading to the end runs it over every
	 * socket with Sluice storage */
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		;
	r = r < 0 ? -errno : 0;
	close(fd);
	return (int)r;
}

int sl_dp_report_bytes_error(const struct sl_dp *dp)
{
	return dp && !dp->iter_link ? (dp->iter_err ? dp->iter_err : EOPNOTSUPP) : 0;
}

/* A snapshot of hash map fd as records of rec_size bytes, each its key
 * (ksize bytes, at offset 0) and value (at voff); entries may be updated
 * while we walk (each value is read whole by the kernel). */
static int map_snapshot(int fd, size_t ksize, size_t voff, size_t rec_size, void **out,
			size_t *n)
{
	char k[64], prev[64], *v = NULL, *p;
	size_t cap = 0, cnt = 0;
	bool first = true;

	*out = NULL;
	*n = 0;
	if (ksize > sizeof(k))
		return -EINVAL;
	while (!bpf_map_get_next_key(fd, first ? NULL : prev, k)) {
		first = false;
		memcpy(prev, k, ksize);
		if (cnt == cap) {
			p = realloc(v, (cap = cap ? cap * 2 : 64) * rec_size);
			if (!p) {
				free(v);
				return -ENOMEM;
			}
			v = p;
		}
		if (bpf_map_lookup_elem(fd, k, v + cnt * rec_size + voff))
			continue;	/* deleted under us */
		memcpy(v + cnt * rec_size, k, ksize);
		cnt++;
	}
	*out = v;
	*n = cnt;
	return 0;
}

_Static_assert(offsetof(struct sl_dp_stat, key) == 0, "map_snapshot: key first");
_Static_assert(offsetof(struct sl_dp_traffic, key) == 0, "map_snapshot: key first");

/* map_snapshot of a map an older sluiced's pins may lack: empty then. */
static int optional_snapshot(struct sl_dp *dp, enum sl_map map, size_t ksize, size_t voff,
			     size_t rec_size, void **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (dp->fds[map] < 0)
		return 0;
	return map_snapshot(dp->fds[map], ksize, voff, rec_size, out, n);
}

int sl_dp_traffic(struct sl_dp *dp, struct sl_dp_traffic **out, size_t *n)
{
	return optional_snapshot(dp, SL_MAP_TRAFFIC, sizeof(struct sluice_traffic_key),
				 offsetof(struct sl_dp_traffic, val), sizeof(**out), (void **)out, n);
}

/* sluice_traffic entries follow their backend's sluice_stats entry: once
 * sl_dp_stats_gc deleted that, they go too. A connection that completes
 * later recreates both. */
static void traffic_gc(struct sl_dp *dp)
{
	struct sl_dp_traffic *t = NULL;
	struct sluice_stats st;
	size_t n = 0, i;

	if (sl_dp_traffic(dp, &t, &n))
		return;
	for (i = 0; i < n; i++)
		if (bpf_map_lookup_elem(dp->fds[SL_MAP_STATS], &t[i].key.stats, &st) && errno == ENOENT)
			bpf_map_delete_elem(dp->fds[SL_MAP_TRAFFIC], &t[i].key);
	free(t);
}

int sl_dp_stats(struct sl_dp *dp, struct sl_dp_stat **out, size_t *n)
{
	return map_snapshot(dp->fds[SL_MAP_STATS], sizeof(struct sluice_stats_key),
			    offsetof(struct sl_dp_stat, val), sizeof(**out), (void **)out, n);
}

_Static_assert(offsetof(struct sl_dp_eject, key) == 0, "map_snapshot: key first");

int sl_dp_ejects(struct sl_dp *dp, struct sl_dp_eject **out, size_t *n)
{
	return optional_snapshot(dp, SL_MAP_EJECT, sizeof(struct sluice_stats_key),
				 offsetof(struct sl_dp_eject, val), sizeof(**out), (void **)out, n);
}

void sl_dp_pool_use(struct sl_dp *dp, uint32_t svc_sid, uint32_t subset_sid,
		    struct sluice_pool_use *out)
{
	struct sluice_pool_use_key k = { .svc_sid = svc_sid, .subset_sid = subset_sid };

	if (dp->fds[SL_MAP_POOL_USE] < 0 || bpf_map_lookup_elem(dp->fds[SL_MAP_POOL_USE], &k, out))
		memset(out, 0, sizeof(*out));
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sluice_stats_key));
}

/* Append the stats key of every backend of every subset of the live
 * generation, read back from the kernel maps (not from a model in memory:
 * right after a restart that re-adopted the pins there is none). */
static int live_keys(struct sl_dp *dp, uint32_t live, struct sluice_stats_key **out, size_t *n)
{
	struct sluice_subset_key sk, sprev;
	struct sluice_subset sv;
	struct sluice_stats_key *v = NULL, *p;
	size_t cap = 0, cnt = 0;
	bool first = true;
	int rc = 0;

	while (!bpf_map_get_next_key(dp->fds[SL_MAP_SUBSET], first ? NULL : &sprev, &sk)) {
		first = false;
		sprev = sk;
		if (sk.gen != live || bpf_map_lookup_elem(dp->fds[SL_MAP_SUBSET], &sk, &sv))
			continue;
		for (__u32 i = 0; i < sv.nbackends; i++) {
			struct sluice_backend_key bk = { .gen = live, .idx = sv.backend_first + i };
			struct sluice_backend bv;

			if (bpf_map_lookup_elem(dp->fds[SL_MAP_BACKEND], &bk, &bv))
				continue;
			if (cnt == cap) {
				p = realloc(v, (cap = cap ? cap * 2 : 256) * sizeof(*v));
				if (!p) {
					rc = -ENOMEM;
					goto cleanup;
				}
				v = p;
			}
			memset(&v[cnt], 0, sizeof(v[cnt]));
			v[cnt].svc_sid = sv.svc_sid;
			v[cnt].subset_sid = sv.subset_sid;
			memcpy(v[cnt].addr, bv.addr, 16);
			v[cnt].port = bv.port;
			cnt++;
		}
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), key_cmp);
	*out = v;
	*n = cnt;
	v = NULL;
cleanup:
	free(v);
	return rc;
}

static uint64_t stats_motion(const struct sluice_stats *s)
{
	return s->opened + s->established + s->failed + s->closed + s->bytes_sent +
	       s->bytes_received;
}

/* Two passes, so that nothing still moving is lost: an entry that is not
 * live and has no active connection becomes a candidate, remembered with
 * the sum of its counters; a candidate seen again unchanged is deleted. A
 * connection that completes later simply recreates its entry (the programs
 * create entries on first use). */
int sl_dp_stats_gc(struct sl_dp *dp, size_t *deleted, size_t *pending)
{
	struct sluice_stats_key *live = NULL;
	struct sl_dp_stale *next = NULL, *p;
	size_t nlive = 0, nnext = 0, cap = 0, i;
	struct sl_dp_stat *st = NULL;
	size_t nst = 0;
	int rc;

	*deleted = 0;
	*pending = 0;
	if (!dp || dp->readonly)
		return -EPERM;
	if ((rc = live_keys(dp, sl_dp_generation(dp), &live, &nlive)))
		goto cleanup;
	if ((rc = sl_dp_stats(dp, &st, &nst)))
		goto cleanup;
	for (i = 0; i < nst; i++) {
		const struct sl_dp_stale *was;
		uint64_t motion = stats_motion(&st[i].val);

		if (nlive && bsearch(&st[i].key, live, nlive, sizeof(*live), key_cmp))
			continue;
		if (st[i].val.active > 0) {
			(*pending)++;	/* not yet: a connection is open */
			continue;
		}
		/* the key leads struct sl_dp_stale: key_cmp compares both */
		was = dp->nstale ? bsearch(&st[i].key, dp->stale, dp->nstale, sizeof(*dp->stale),
					   key_cmp) : NULL;
		if (was && was->motion == motion) {
			if (!bpf_map_delete_elem(dp->fds[SL_MAP_STATS], &st[i].key))
				(*deleted)++;
			continue;
		}
		if (nnext == cap) {
			p = realloc(next, (cap = cap ? cap * 2 : 64) * sizeof(*next));
			if (!p) {
				rc = -ENOMEM;
				goto cleanup;
			}
			next = p;
		}
		next[nnext].key = st[i].key;
		next[nnext++].motion = motion;
	}
	if (nnext)
		qsort(next, nnext, sizeof(*next), key_cmp);
	free(dp->stale);
	dp->stale = next;
	dp->nstale = nnext;
	next = NULL;
	*pending += nnext;
	if (*deleted)
		traffic_gc(dp);
cleanup:
	free(next);
	free(st);
	free(live);
	return rc;
}
