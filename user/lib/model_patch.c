/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Incremental apply, the model's half: a service takes new endpoints in
 * the live model without a reload of everything else. The endpoints come
 * from a small model loaded from the service's own objects (its Service,
 * EndpointSlices and their Pods), so they are parsed and checked by the
 * same front-end as a full load; the subsets are selected again by their
 * labels, as pl_resolve selects them. include/sluice/model.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/model.h"

struct sl_svc_patch {
	size_t si;
	struct sl_model *src;		/* owns the new endpoints */
	size_t *idx;			/* the subsets' new endpoint lists, one block */
	/* what the model held before, for sl_model_patch_undo */
	struct sl_endpoint *old_eps;
	size_t old_neps;
	size_t **old_sub;
	size_t *old_subn;
};

int sl_model_patch_endpoints(struct sl_model *m, size_t si, struct sl_model *src, size_t src_si,
			     struct sl_svc_patch **out)
{
	struct sl_service *s = &m->services[si];
	const struct sl_service *ns = &src->services[src_si];
	struct sl_svc_patch *p = calloc(1, sizeof(*p));
	size_t k, e, o = 0;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->idx = calloc(s->nsubsets * ns->nendpoints + 1, sizeof(*p->idx));
	p->old_sub = calloc(s->nsubsets + 1, sizeof(*p->old_sub));
	p->old_subn = calloc(s->nsubsets + 1, sizeof(*p->old_subn));
	if (!p->idx || !p->old_sub || !p->old_subn) {
		p->src = NULL;
		sl_svc_patch_free(p);
		return -ENOMEM;
	}
	if ((s->nendpoints == 0) != (ns->nendpoints == 0))
		goto again;
	/* select first, into p->idx (subset k's list starts where k-1's
	 * ended; old_subn holds the counts meanwhile); commit only when no
	 * subset empties or fills */
	for (k = 0; k < s->nsubsets; k++) {
		size_t start = o;

		for (e = 0; e < ns->nendpoints; e++)
			if (sl_labels_select(&s->subsets[k].labels, &ns->endpoints[e].labels))
				p->idx[o++] = e;
		if ((s->subsets[k].nendpoints == 0) != (o == start))
			goto again;
		p->old_subn[k] = o - start;
	}
	p->si = si;
	p->src = src;
	p->old_eps = s->endpoints;
	p->old_neps = s->nendpoints;
	o = 0;
	for (k = 0; k < s->nsubsets; k++) {
		size_t n = p->old_subn[k];

		p->old_sub[k] = s->subsets[k].endpoints;
		p->old_subn[k] = s->subsets[k].nendpoints;
		s->subsets[k].endpoints = &p->idx[o];
		s->subsets[k].nendpoints = n;
		o += n;
	}
	s->endpoints = ns->endpoints;
	s->nendpoints = ns->nendpoints;
	*out = p;
	return 0;
again:
	p->src = NULL;
	sl_svc_patch_free(p);
	return -EAGAIN;
}

void sl_model_patch_undo(struct sl_model *m, struct sl_svc_patch *p)
{
	struct sl_service *s;

	if (!p)
		return;
	s = &m->services[p->si];
	s->endpoints = p->old_eps;
	s->nendpoints = p->old_neps;
	for (size_t k = 0; k < s->nsubsets; k++) {
		s->subsets[k].endpoints = p->old_sub[k];
		s->subsets[k].nendpoints = p->old_subn[k];
	}
	sl_svc_patch_free(p);
}

void sl_svc_patch_free(struct sl_svc_patch *p)
{
	if (!p)
		return;
	sl_model_free(p->src);
	free(p->idx);
	free(p->old_sub);
	free(p->old_subn);
	free(p);
}

size_t sl_svc_patch_service(const struct sl_svc_patch *p)
{
	return p->si;
}
