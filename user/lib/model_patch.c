/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Incremental apply, the model's half: a service takes new endpoints in
 * the live model without a reload of everything else. The endpoints come
 * from a small model loaded from the service's own objects (its Service,
 * EndpointSlices and their Pods), so they are parsed and checked by the
 * same front-end as a full load; the subsets are selected again by their
 * labels, as pl_resolve selects them. The patch keeps a copy of the new
 * endpoints (with their addresses, labels and ports) in one block, not the
 * small model they came in: a model's arena is 64 KB, and a patch lives
 * until the next whole apply, one per service whose endpoints moved.
 * include/sluice/model.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/model.h"

struct sl_svc_patch {
	size_t si;
	struct sl_endpoint *eps;	/* the new endpoints, one block (copy_endpoints) */
	size_t *idx;			/* the subsets' new endpoint lists, one block */
	/* what the model held before, for sl_model_patch_undo */
	struct sl_endpoint *old_eps;
	size_t old_neps;
	size_t **old_sub;
	size_t *old_subn;
};

static size_t str_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static char *put_str(char **at, const char *s)
{
	char *p = *at;
	size_t l = str_size(s);

	if (!s)
		return NULL;
	memcpy(p, s, l);
	*at += l;
	return p;
}

/* n endpoints and what they point to (address, labels, ports, the
 * position's file name) copied into one malloc'd block. */
static struct sl_endpoint *copy_endpoints(const struct sl_endpoint *v, size_t n)
{
	size_t fixed = n * sizeof(*v), bytes, i, j;
	struct sl_endpoint *out;
	char *at;

	bytes = fixed;
	for (i = 0; i < n; i++) {
		bytes += str_size(v[i].address) + str_size(v[i].pos.file) +
			 v[i].labels.n * sizeof(*v[i].labels.v) + v[i].nports * sizeof(*v[i].ports);
		for (j = 0; j < v[i].labels.n; j++)
			bytes += str_size(v[i].labels.v[j].key) + str_size(v[i].labels.v[j].value);
		for (j = 0; j < v[i].nports; j++)
			bytes += str_size(v[i].ports[j].name);
	}
	/* the arrays first (aligned: the endpoints' size is a multiple of 8),
	 * the strings after them */
	if (!(out = malloc(bytes + 1)))
		return NULL;
	memcpy(out, v, fixed);
	at = (char *)out + fixed;
	for (i = 0; i < n; i++) {
		struct sl_endpoint *e = &out[i];

		if (e->labels.n) {
			e->labels.v = (struct sl_label *)(void *)at;
			at += e->labels.n * sizeof(*e->labels.v);
		}
		if (e->nports) {
			e->ports = (struct sl_named_port *)(void *)at;
			memcpy(e->ports, v[i].ports, e->nports * sizeof(*e->ports));
			at += e->nports * sizeof(*e->ports);
		}
	}
	for (i = 0; i < n; i++) {
		struct sl_endpoint *e = &out[i];

		e->address = put_str(&at, v[i].address);
		e->pos.file = put_str(&at, v[i].pos.file);
		for (j = 0; j < e->labels.n; j++) {
			e->labels.v[j].key = put_str(&at, v[i].labels.v[j].key);
			e->labels.v[j].value = put_str(&at, v[i].labels.v[j].value);
		}
		for (j = 0; j < e->nports; j++)
			e->ports[j].name = put_str(&at, v[i].ports[j].name);
	}
	return out;
}

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
	p->eps = copy_endpoints(ns->endpoints, ns->nendpoints);
	if (!p->idx || !p->old_sub || !p->old_subn || !p->eps) {
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
	s->endpoints = p->eps;
	s->nendpoints = ns->nendpoints;
	sl_model_free(src);	/* taken: what the model points at is p's copy */
	*out = p;
	return 0;
again:
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
	free(p->eps);
	free(p->idx);
	free(p->old_sub);
	free(p->old_subn);
	free(p);
}

size_t sl_svc_patch_service(const struct sl_svc_patch *p)
{
	return p->si;
}
