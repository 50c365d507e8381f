/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Atomic apply. The scheme (docs/dataplane.md):
 *   1. compile the model into generation N+1 (N = sluice_ctl.gen);
 *   2. write every N+1 entry beside the live N entries — programs do not
 *      look at N+1 yet; on any failure delete N+1 and stop (N stays live);
 *   3. flip sluice_ctl.gen to N+1 with one update (a program reads gen once
 *      per run and uses it for all its lookups: one connect(), one policy);
 *   4. barrier: synchronize_rcu, so no program still runs with gen N;
 *   5. delete every entry whose generation is not N+1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/dp_int.h"
#include "sluice/xdp.h"

/* Key sizes of the generation-keyed maps; every key starts with __u32 gen. */
static const struct {
	enum sl_map map;
	size_t key_size;
} gen_maps[] = {
	{ SL_MAP_GENCFG, sizeof(__u32) },
	{ SL_MAP_SVC, sizeof(struct sluice_svc_key) },
	{ SL_MAP_ROUTE, sizeof(struct sluice_route_key) },
	{ SL_MAP_ROUTE_SRC, sizeof(struct sluice_route_src_key) },
	{ SL_MAP_CGROUP, sizeof(struct sluice_cgroup_key) },
	{ SL_MAP_SUBSET, sizeof(struct sluice_subset_key) },
	{ SL_MAP_BACKEND, sizeof(struct sluice_backend_key) },
	{ SL_MAP_POOL, sizeof(struct sluice_pool_key) },
	{ SL_MAP_FAULT, sizeof(struct sluice_route_key) },
};

/* Collect then delete (deleting while walking restarts a hash walk). */
static int gc_map(int fd, size_t ksz, uint32_t keep)
{
	size_t n = 0, cap = 0, i;
	char *keys = NULL, prev[64], cur[64];
	bool first = true;
	int rc = 0;

	while (!bpf_map_get_next_key(fd, first ? NULL : prev, cur)) {
		uint32_t gen;

		memcpy(&gen, cur, sizeof(gen));
		if (gen != keep) {
			if (n == cap) {
				char *p = realloc(keys, (cap = cap ? cap * 2 : 256) * ksz);

				if (!p) {
					rc = -ENOMEM;
					goto cleanup;
				}
				keys = p;
			}
			memcpy(keys + n * ksz, cur, ksz);
			n++;
		}
		memcpy(prev, cur, ksz);
		first = false;
	}
	for (i = 0; i < n; i++)
		if (bpf_map_delete_elem(fd, keys + i * ksz) && errno != ENOENT && !rc)
			rc = -errno;
cleanup:
	free(keys);
	return rc;
}

int sl_dp_gc(struct sl_dp *dp, uint32_t keep)
{
	size_t i;
	int rc = 0, r;

	for (i = 0; i < sizeof(gen_maps) / sizeof(gen_maps[0]); i++) {
		if (dp->fds[gen_maps[i].map] < 0)
			continue;
		r = gc_map(dp->fds[gen_maps[i].map], gen_maps[i].key_size, keep);
		if (r && !rc)
			rc = r;
	}
	return rc;
}

static int put(int fd, const void *k, const void *v)
{
	return bpf_map_update_elem(fd, k, v, BPF_ANY) ? -errno : 0;
}

/* Write generation g beside the live one. Leaf tables first, sluice_svc
 * (the entry point) last. */
static int write_gen(struct sl_dp *dp, const struct sl_l4_gen *g, char *err)
{
	const char *what = "gencfg";
	size_t i;
	int rc;

	if ((rc = put(dp->fds[SL_MAP_GENCFG], &g->gen, &g->cfg)))
		goto cleanup;
	what = "cgroup";
	for (i = 0; i < g->ncgroups; i++)
		if ((rc = put(dp->fds[SL_MAP_CGROUP], &g->cgroups[i].k, &g->cgroups[i].v)))
			goto cleanup;
	what = "backend";
	for (i = 0; i < g->nbackends; i++)
		if ((rc = put(dp->fds[SL_MAP_BACKEND], &g->backends[i].k, &g->backends[i].v)))
			goto cleanup;
	what = "pool";
	for (i = 0; i < g->npools; i++)
		if ((rc = put(dp->fds[SL_MAP_POOL], &g->pools[i].k, &g->pools[i].v)))
			goto cleanup;
	what = "subset";
	for (i = 0; i < g->nsubsets; i++)
		if ((rc = put(dp->fds[SL_MAP_SUBSET], &g->subsets[i].k, &g->subsets[i].v)))
			goto cleanup;
	what = "fault";
	for (i = 0; i < g->nfaults; i++)
		if ((rc = put(dp->fds[SL_MAP_FAULT], &g->faults[i].k, &g->faults[i].v)))
			goto cleanup;
	what = "route_src";
	for (i = 0; i < g->nsrcs; i++) {
		__u32 one = 1;

		if ((rc = put(dp->fds[SL_MAP_ROUTE_SRC], &g->srcs[i], &one)))
			goto cleanup;
	}
	what = "route";
	for (i = 0; i < g->nroutes; i++)
		if ((rc = put(dp->fds[SL_MAP_ROUTE], &g->routes[i].k, &g->routes[i].v)))
			goto cleanup;
	what = "svc";
	for (i = 0; i < g->nsvcs; i++)
		if ((rc = put(dp->fds[SL_MAP_SVC], &g->svcs[i].k, &g->svcs[i].v)))
			goto cleanup;
cleanup:
	if (rc)
		sl_dp_err(err, "write sluice_%s for generation %u: %s%s", what, g->gen,
			  strerror(-rc), rc == -E2BIG || rc == -ENOMEM ? " (map full)" : "");
	return rc;
}

/* consistentHash subsets get Maglev tables for the XDP path. The tables live
 * in the XDP object's pinned sluice_maglev map: without it (no --xdp) the
 * connect hook needs none and nothing is written. Returns the map fd (-1
 * when there is no map) with g's subsets given their maglev_first/size and
 * mg filled when some subset hashes; -errno on failure (message in err). */
static int maglev_prepare(struct sl_dp *dp, struct sl_l4_gen *g, uint32_t live,
			  struct sl_maglev_gen *mg, char *err)
{
	size_t i;
	int fd, rc;

	fd = sl_map_open_pinned(dp->bpffs, SL_MAP_MAGLEV);
	if (fd < 0)
		return -1;
	for (i = 0; i < g->nsubsets; i++)
		if (g->subsets[i].v.lb == SLUICE_LB_MAGLEV)
			break;
	/* no hashing subset: the fd only serves to drop the old tables */
	if (i == g->nsubsets)
		return fd;
	if ((rc = sl_compile_maglev(g, SLUICE_MAGLEV_DEFAULT_M, mg, err)))
		goto fail;
	/* leftovers of a failed apply: keep only the live generation */
	if ((rc = gc_map(fd, sizeof(struct sluice_maglev_key), live))) {
		sl_dp_err(err, "clear stale Maglev entries: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = sl_maglev_write(fd, mg))) {
		sl_dp_err(err, "write sluice_maglev for generation %u: %s%s", g->gen,
			  strerror(-rc), rc == -E2BIG || rc == -ENOMEM ? " (map full)" : "");
		gc_map(fd, sizeof(struct sluice_maglev_key), live);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return rc;
}

static void l4_opts(const struct sl_dp *dp, struct sl_l4_opts *lo)
{
	memset(lo, 0, sizeof(*lo));
	memcpy(lo->helper_addr, dp->opts.helper_addr, 16);
	lo->helper_port = dp->opts.helper_port;
	lo->dns_lookup = dp->opts.dns_lookup;
	lo->dns_arg = dp->opts.dns_arg;
	lo->kubelet_root = dp->opts.kubelet_root;
}

int sl_dp_apply(struct sl_dp *dp, const struct sl_model *m, uint32_t *gen, char *err)
{
	struct sl_l4_opts lo;
	struct sl_l4_gen g = { 0 };
	struct sluice_ctl ctl = { 0 };
	struct sl_maglev_gen mg = { 0 };
	uint32_t live, next;
	__u32 zero = 0;
	int rc, mfd = -1;

	if (!dp || dp->readonly) {
		sl_dp_err(err, "apply needs a data plane opened for writing");
		return -EPERM;
	}
	live = sl_dp_generation(dp);
	next = live + 1 ? live + 1 : 1;
	l4_opts(dp, &lo);
	if ((rc = sl_compile_l4(m, &lo, next, &g, err)))
		return rc;
	/* leftovers of a failed apply may sit under `next`: clear them */
	if ((rc = sl_dp_gc(dp, live))) {
		sl_dp_err(err, "clear stale generations: %s", strerror(-rc));
		goto cleanup;
	}
	mfd = maglev_prepare(dp, &g, live, &mg, err);
	if (mfd < -1) {
		rc = mfd;
		mfd = -1;
		goto cleanup;
	}
	if ((rc = write_gen(dp, &g, err))) {
		sl_dp_gc(dp, live);	/* nothing of `next` stays behind */
		if (mfd >= 0)
			sl_maglev_delete_gen(mfd, next);
		goto cleanup;
	}
	ctl.gen = next;
	if (bpf_map_update_elem(dp->fds[SL_MAP_CTL], &zero, &ctl, BPF_ANY)) {
		rc = -errno;
		sl_dp_err(err, "flip sluice_ctl to generation %u: %s", next, strerror(errno));
		sl_dp_gc(dp, live);
		if (mfd >= 0)
			sl_maglev_delete_gen(mfd, next);
		goto cleanup;
	}
	/* from here the new policy is live; failures below only leave garbage
	 * that the next apply or open collects */
	if (sl_dp_barrier(dp) == 0) {
		sl_dp_gc(dp, next);
		if (mfd >= 0)
			sl_maglev_delete_gen(mfd, live);
	}
	if (gen)
		*gen = next;
	/* kept: an endpoint change is a delta of it (sl_dp_apply_delta) */
	sl_l4_gen_free(&dp->live);
	sl_l4_gen_keep_for_deltas(&g);
	dp->live = g;
	memset(&g, 0, sizeof(g));
cleanup:
	if (mfd >= 0)
		close(mfd);
	sl_maglev_gen_free(&mg);
	sl_l4_gen_free(&g);
	return rc;
}

/* Put back the entries a failed delta rewrote (the first n of each kind,
 * in the order written; the service values as they were read, old) and
 * drop its new backends. */
static void delta_undo(struct sl_dp *dp, const struct sl_l4_delta *d, size_t nadd, size_t npools,
		       size_t nsubsets, size_t nsvcs, const struct sluice_svc *old)
{
	const struct sl_l4_gen *g = &dp->live;
	size_t i, p;

	for (i = 0; i < nsvcs; i++)
		put(dp->fds[SL_MAP_SVC], &d->svcs[i].k, &old[i]);
	for (i = 0; i < nsubsets; i++) {
		uint32_t id = d->subsets[i].k.subset_id;

		if (id < g->nsubsets)
			put(dp->fds[SL_MAP_SUBSET], &g->subsets[id].k, &g->subsets[id].v);
	}
	for (i = 0; i < npools; i++)
		for (p = 0; p < g->npools; p++)
			if (!memcmp(&g->pools[p].k, &d->pools[i].k, sizeof(g->pools[p].k)))
				put(dp->fds[SL_MAP_POOL], &g->pools[p].k, &g->pools[p].v);
	for (i = 0; i < nadd; i++)
		bpf_map_delete_elem(dp->fds[SL_MAP_BACKEND], &d->add[i].k);
}

int sl_dp_apply_delta(struct sl_dp *dp, const struct sl_model *m, const size_t *svcs, size_t n,
		      char *err)
{
	struct sl_l4_delta d;
	struct sl_l4_opts lo;
	struct sluice_svc *old = NULL;	/* the service values rewritten, as read */
	size_t a = 0, p = 0, s = 0, v = 0;
	const char *what = "backend";
	int rc;

	if (!dp || dp->readonly) {
		sl_dp_err(err, "apply needs a data plane opened for writing");
		return -EPERM;
	}
	if (!dp->live.gen || dp->live.gen != sl_dp_generation(dp)) {
		sl_dp_err(err, "the live generation was not written by this daemon");
		return -EAGAIN;
	}
	l4_opts(dp, &lo);
	if ((rc = sl_compile_l4_delta(m, &lo, &dp->live, svcs, n, &d, err)))
		return rc;
	if (d.nsvcs && !(old = calloc(d.nsvcs, sizeof(*old)))) {
		sl_l4_delta_free(&d);
		sl_dp_err(err, "out of memory applying an endpoint change");
		return -ENOMEM;
	}
	for (a = 0; a < d.nadd; a++)
		if (bpf_map_update_elem(dp->fds[SL_MAP_BACKEND], &d.add[a].k, &d.add[a].v, BPF_NOEXIST))
			goto fail;
	what = "pool";
	for (p = 0; p < d.npools; p++)
		if (bpf_map_update_elem(dp->fds[SL_MAP_POOL], &d.pools[p].k, &d.pools[p].v, BPF_EXIST))
			goto fail;
	what = "subset";
	for (s = 0; s < d.nsubsets; s++)
		if (bpf_map_update_elem(dp->fds[SL_MAP_SUBSET], &d.subsets[s].k, &d.subsets[s].v,
					BPF_EXIST))
			goto fail;
	/* a service entry is read back from the map, its inline copies
	 * rewritten: the live generation keeps only their subset ids */
	what = "svc";
	for (v = 0; v < d.nsvcs; v++) {
		struct sluice_svc nv;

		if (bpf_map_lookup_elem(dp->fds[SL_MAP_SVC], &d.svcs[v].k, &old[v]))
			goto fail;
		nv = old[v];
		sl_l4_svc_fix_apply(&nv, &d.svcs[v], &d);
		if (bpf_map_update_elem(dp->fds[SL_MAP_SVC], &d.svcs[v].k, &nv, BPF_EXIST))
			goto fail;
	}
	/* the new entries are live; the old backends go once no program can
	 * still hold a subset that points at them: after a barrier, which
	 * sl_dp_delta_reap waits for off the change's path */
	if (d.ndel) {
		uint32_t *r = realloc(dp->reap, (dp->nreap + d.ndel) * sizeof(*r));

		if (r) {
			dp->reap = r;
			memcpy(&dp->reap[dp->nreap], d.del, d.ndel * sizeof(*r));
			dp->nreap += d.ndel;
			dp->reap_gen = dp->live.gen;
		}
		/* else: left for the next generation's clean-up */
	}
	if (sl_l4_gen_patch(&dp->live, &d)) {
		/* the maps are right, the copy is not: the next change
		 * compiles everything */
		sl_l4_gen_free(&dp->live);
	}
	sl_l4_delta_free(&d);
	free(old);
	return 0;
fail:
	rc = -errno;
	sl_dp_err(err, "rewrite sluice_%s of generation %u: %s%s", what, dp->live.gen,
		  strerror(errno), rc == -E2BIG || rc == -ENOMEM ? " (map full)" : "");
	delta_undo(dp, &d, a, p, s, v, old);
	sl_l4_delta_free(&d);
	free(old);
	return rc;
}

size_t sl_dp_delta_reap(struct sl_dp *dp)
{
	size_t n = dp ? dp->nreap : 0;

	if (!n)
		return 0;
	/* backends of another generation went with it (sl_dp_gc) */
	if (dp->reap_gen == sl_dp_generation(dp) && !dp->readonly && sl_dp_barrier(dp) == 0)
		for (size_t i = 0; i < n; i++)
			bpf_map_delete_elem(dp->fds[SL_MAP_BACKEND],
					    &(struct sluice_backend_key){ dp->reap_gen, dp->reap[i] });
	free(dp->reap);
	dp->reap = NULL;
	dp->nreap = 0;
	return n;
}
