/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the L4 compiler: any byte string that the policy
 * front-end accepts is compiled into a generation (with and without a
 * helper, with a fixed cgroup resolver so no filesystem is touched), and
 * every compiled reference is checked to point inside the generation.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sluice/compile_l4.h"
#include "sluice/dataplane.h"

static uint64_t fake_cgroup(const char *rel, void *arg)
{
	(void)arg;
	return rel[0] ? 1000 + (uint64_t)rel[0] : 0;
}

/* Every id a program would look up exists in the generation. */
static void check(const struct sl_l4_gen *g)
{
	size_t i, j;

	for (i = 0; i < g->nsvcs; i++) {
		const struct sluice_svc *s = &g->svcs[i].v;

		if (s->nroutes > SLUICE_MAX_ROUTES || s->route_first + s->nroutes > g->nroutes)
			abort();
	}
	for (i = 0; i < g->nroutes; i++) {
		const struct sluice_route *r = &g->routes[i].v;

		if (r->ndests > SLUICE_MAX_DESTS || (r->ndests && r->total != r->dests[r->ndests - 1].cum_weight))
			abort();
		for (j = 0; j < r->ndests; j++)
			if (r->dests[j].subset_id >= g->nsubsets ||
			    (j && r->dests[j].cum_weight <= r->dests[j - 1].cum_weight))
				abort();
	}
	for (i = 0; i < g->nsubsets; i++) {
		const struct sluice_subset *s = &g->subsets[i].v;

		if (!s->nbackends || (size_t)s->backend_first + s->nbackends > g->nbackends)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_l4_opts o = { .cgroup_id = fake_cgroup };
	char err[SL_DP_ERRLEN];
	struct sl_model *m = NULL;
	struct sl_l4_gen g;
	struct sl_diags d;

	sl_diags_init(&d);
	if (sl_model_load_buf("fuzz.yaml", (const char *)data, size, &d, &m) == 0) {
		if (sl_compile_l4(m, &o, 1, &g, err) == 0) {
			check(&g);
			sl_l4_gen_free(&g);
		}
		o.helper_port = 15001;
		if (sl_compile_l4(m, &o, 2, &g, err) == 0) {
			check(&g);
			sl_l4_gen_free(&g);
		}
		sl_model_free(m);
	}
	sl_diags_free(&d);
	return 0;
}
