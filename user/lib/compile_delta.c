/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Incremental apply, the compiler's half: when only some services'
 * endpoints changed (a pod rolled), the live generation is rewritten where
 * those endpoints are, instead of compiled again whole.
 *
 * Every subset entry remembers what it was built for (sl_l4_gen.origins:
 * service, subset, port), so the entries of a changed service are rebuilt
 * by the full compiler's own backend builder (cl4_build_backends) under
 * fresh backend indices; the subset entries keep their ids, so routes and
 * the other services pointing at them stay as they are. What hangs on an
 * endpoint set besides its backends is rewritten too: the inline copies in
 * subset and service entries, and outlierDetection's ejection cap (a share
 * of the subset's backends). The cost is the change's (the subsets of the
 * changed services, one pass over the service entries for inline copies),
 * not the policy's. What a delta cannot express it refuses with -EAGAIN:
 * the caller then compiles the whole generation.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/compile_l4.h"
#include "sluice/dataplane.h"
#include "lib/compile_int.h"

enum { D_ADD, D_SUBSET, D_POOL, D_SVC, D_DEL };

/* A generation patched this often carries this many holes in its backend
 * table before a full compile (which packs it) is asked for. */
#define HOLES_SLACK 4096

static int again(char *err, const char *why)
{
	if (err)
		snprintf(err, SL_DP_ERRLEN, "%s", why);
	return -EAGAIN;
}

/* Backend indices old_first..+n go away after the rewrite. */
static int note_del(struct sl_l4_delta *d, uint32_t first, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (cl4_grow((void **)&d->del, &d->cap[D_DEL], d->ndel, sizeof(*d->del)))
			return -ENOMEM;
		d->del[d->ndel++] = first + i;
	}
	return 0;
}

/* outlierDetection's cap on ejected backends follows the subset's size:
 * the pool entry of (svc, subset) as the full compile sizes it, from the
 * first subset entry (lowest id) of that pair. */
static int rewrite_pools(const struct sl_model *m, const struct sl_l4_gen *live,
			 const uint32_t *newn, struct sl_l4_delta *d)
{
	for (size_t p = 0; p < live->npools; p++) {
		const struct sl_l4_pool *q = &live->pools[p];
		struct sl_l4_pool nq = *q;
		const struct sl_traffic_policy *tp;
		const struct sl_service *s;
		const struct sl_l4_origin *o;
		size_t i;
		uint32_t pct, n;

		if (!q->v.od_consecutive)
			continue;
		for (i = 0; i < live->nsubsets; i++)
			if (live->subsets[i].v.svc_sid == q->k.svc_sid &&
			    live->subsets[i].v.subset_sid == q->k.subset_sid)
				break;
		if (i == live->nsubsets || !newn[i])
			continue;	/* not among the rewritten subsets */
		o = &live->origins[i];
		s = &m->services[o->svc];
		tp = o->subset >= 0 ? &s->subsets[o->subset].tp : &s->tp;
		pct = tp->outlier.max_ejection_pct ? tp->outlier.max_ejection_pct : 10;
		n = newn[i] * pct / 100;
		nq.v.od_max_ejected = n ? n : 1;
		if (nq.v.od_max_ejected == q->v.od_max_ejected)
			continue;
		if (cl4_grow((void **)&d->pools, &d->cap[D_POOL], d->npools, sizeof(*d->pools)))
			return -ENOMEM;
		d->pools[d->npools++] = nq;
	}
	return 0;
}

/* Service entries whose inline subset copies are among the rewritten. */
static int rewrite_svcs(const struct sl_l4_gen *live, const int32_t *at, struct sl_l4_delta *d)
{
	for (size_t i = 0; i < live->nsvc_refs; i++) {
		const struct sl_l4_svc_ref *r = &live->svc_refs[i];
		struct sl_l4_svc_fix f = { .k = r->k };
		bool hit = false;

		for (size_t k = 0; k < SLUICE_SVC_INLINE_SUBSETS; k++) {
			uint32_t id = k < r->nsub ? r->sub_id[k] : UINT32_MAX;

			f.at[k] = id < live->nsubsets ? at[id] : -1;
			hit |= f.at[k] >= 0;
		}
		if (!hit)
			continue;
		if (cl4_grow((void **)&d->svcs, &d->cap[D_SVC], d->nsvcs, sizeof(*d->svcs)))
			return -ENOMEM;
		d->svcs[d->nsvcs++] = f;
	}
	return 0;
}

int sl_compile_l4_delta(const struct sl_model *m, const struct sl_l4_opts *opts,
			const struct sl_l4_gen *live, const size_t *svcs, size_t n,
			struct sl_l4_delta *out, char *err)
{
	struct sl_l4_opts none = { 0 };
	struct sl_l4_gen scratch = { .gen = live->gen };
	struct cctx c = { .m = m, .o = opts ? opts : &none, .g = &scratch, .err = err,
			  .kubelet_layouts = -1 };
	bool *changed = calloc(m->nservices + 1, sizeof(*changed));
	int32_t *at = malloc((live->nsubsets + 1) * sizeof(*at));
	uint32_t *newn = calloc(live->nsubsets + 1, sizeof(*newn));
	size_t i, live_backends = live->nbackends - live->nholes;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!changed || !at || !newn) {
		rc = -ENOMEM;
		goto cleanup;
	}
	if (live->cfg.flags & SLUICE_CFG_REGISTRY_ONLY) {
		/* endpoint addresses are registered (and deduplicated across
		 * services) by the full compile */
		rc = again(err, "REGISTRY_ONLY registers endpoint addresses");
		goto cleanup;
	}
	if (!live->origins && live->nsubsets) {
		rc = again(err, "the live generation was not compiled here");
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		if (svcs[i] >= m->nservices) {
			rc = again(err, "a changed service is not in the model");
			goto cleanup;
		}
		changed[svcs[i]] = true;
	}
	for (i = 0; i < live->nsubsets; i++) {
		const struct sl_l4_origin *o = &live->origins[i];
		const struct sl_l4_subset *old = &live->subsets[i];
		struct sl_l4_subset ns;
		size_t first = scratch.nbackends, nb;

		at[i] = -1;
		if (o->svc >= m->nservices || !changed[o->svc])
			continue;
		if (old->v.lb == SLUICE_LB_MAGLEV) {
			rc = again(err, "a consistentHash subset has Maglev tables");
			goto cleanup;
		}
		if ((rc = cl4_build_backends(&c, o->svc, o->subset, o->port, &nb)))
			goto cleanup;
		if (nb == 0) {
			rc = again(err, "a subset lost its last endpoint");
			goto cleanup;
		}
		ns = *old;
		ns.v.backend_first = (uint32_t)(live->nbackends + first);
		ns.v.nbackends = (uint16_t)nb;
		ns.v.rr_cursor = 0;
		cl4_fill_inline(&ns.v, &scratch.backends[first], nb);
		if ((rc = note_del(out, old->v.backend_first, old->v.nbackends)))
			goto cleanup;
		if (cl4_grow((void **)&out->subsets, &out->cap[D_SUBSET], out->nsubsets,
			     sizeof(*out->subsets))) {
			rc = -ENOMEM;
			goto cleanup;
		}
		at[i] = (int32_t)out->nsubsets;
		newn[i] = (uint32_t)nb;
		out->subsets[out->nsubsets++] = ns;
	}
	if (live->nholes + out->ndel > live_backends + HOLES_SLACK) {
		rc = again(err, "the backend table has collected too many holes");
		goto cleanup;
	}
	for (i = 0; i < scratch.nbackends; i++)
		scratch.backends[i].k.idx = (uint32_t)(live->nbackends + i);
	out->add = scratch.backends;
	out->nadd = scratch.nbackends;
	out->cap[D_ADD] = scratch.cap[CAP_BACKEND];
	scratch.backends = NULL;
	if ((rc = rewrite_pools(m, live, newn, out)) || (rc = rewrite_svcs(live, at, out)))
		goto cleanup;
cleanup:
	if (rc == -ENOMEM && err)
		snprintf(err, SL_DP_ERRLEN, "out of memory compiling an endpoint change");
	if (rc)
		sl_l4_delta_free(out);
	sl_l4_gen_free(&scratch);
	free(changed);
	free(at);
	free(newn);
	return rc;
}

static int svc_key_cmp(const void *a, const void *b)
{
	const struct sluice_svc_key *x = a;
	const struct sl_l4_svc *y = b;

	return memcmp(x, &y->k, sizeof(*x));
}

int sl_l4_gen_patch(struct sl_l4_gen *g, const struct sl_l4_delta *d)
{
	size_t i;

	if (d->nadd && g->holes) {	/* kept without backends: the bits */
		size_t words = (g->nbackends + d->nadd) / 64 + 1, had = g->nbackends / 64 + 1;
		uint64_t *h = realloc(g->holes, words * sizeof(*h));

		if (!h)
			return -ENOMEM;
		memset(&h[had], 0, (words - had) * sizeof(*h));
		g->holes = h;
		g->nbackends += d->nadd;
	} else if (d->nadd) {
		struct sl_l4_backend *b = realloc(g->backends,
						  (g->nbackends + d->nadd) * sizeof(*b));

		if (!b)
			return -ENOMEM;
		g->backends = b;
		memcpy(&g->backends[g->nbackends], d->add, d->nadd * sizeof(*b));
		g->nbackends += d->nadd;
		g->cap[CAP_BACKEND] = g->nbackends;
	}
	for (i = 0; i < d->ndel; i++) {
		uint32_t x = d->del[i];

		if (x >= g->nbackends)
			continue;
		if (g->holes && !(g->holes[x / 64] & (1ull << (x % 64)))) {
			g->holes[x / 64] |= 1ull << (x % 64);
			g->nholes++;
		} else if (!g->holes && g->backends[x].k.gen) {
			g->backends[x].k.gen = 0;
			g->nholes++;
		}
	}
	for (i = 0; i < d->nsubsets; i++)
		if (d->subsets[i].k.subset_id < g->nsubsets)
			g->subsets[d->subsets[i].k.subset_id] = d->subsets[i];
	for (i = 0; i < d->npools; i++)
		for (size_t p = 0; p < g->npools; p++)
			if (!memcmp(&g->pools[p].k, &d->pools[i].k, sizeof(d->pools[i].k)))
				g->pools[p] = d->pools[i];
	for (i = 0; i < d->nsvcs && g->svcs; i++) {
		struct sl_l4_svc *e = bsearch(&d->svcs[i].k, g->svcs, g->nsvcs, sizeof(*g->svcs),
					      svc_key_cmp);

		sl_l4_svc_fix_apply(e ? &e->v : NULL, &d->svcs[i], d);
	}
	return 0;
}

void sl_l4_svc_fix_apply(struct sluice_svc *v, const struct sl_l4_svc_fix *f,
			 const struct sl_l4_delta *d)
{
	for (size_t k = 0; v && k < SLUICE_SVC_INLINE_SUBSETS; k++)
		if (f->at[k] >= 0 && (size_t)f->at[k] < d->nsubsets)
			v->sub[k] = d->subsets[f->at[k]].v;
}

void sl_l4_delta_free(struct sl_l4_delta *d)
{
	if (!d)
		return;
	free(d->add);
	free(d->subsets);
	free(d->pools);
	free(d->svcs);
	free(d->del);
	memset(d, 0, sizeof(*d));
}
