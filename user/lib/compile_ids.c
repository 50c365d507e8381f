/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stable ids the compiled tables use (include/sluice/compile_l4.h):
 * sl_dp_sid for services and subsets (sluice_stats keys), workload ids
 * (sluice_cgroup, sluice_route_src, sluice_origdst), and the lookups over a
 * compiled generation that tests and tools use. Split out of compile_l4.c,
 * which builds the tables.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/compile_l4.h"
#include "sluice/dataplane.h"

uint32_t sl_dp_sid(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; s && *s; s++) {
		h ^= (uint8_t)*s;
		h *= 16777619u;
	}
	return h ? h : 1;
}

static uint32_t fnv_more(uint32_t h, const char *s)
{
	for (; s && *s; s++) {
		h ^= (uint8_t)*s;
		h *= 16777619u;
	}
	return h;
}

int sl_l4_workload_ids(const struct sl_model *m, uint32_t **out)
{
	size_t n = m->nworkloads, cap = 16, i, j;
	uint32_t *ids, *set;

	*out = NULL;
	while (cap < 2 * n)
		cap *= 2;
	ids = calloc(n ? n : 1, sizeof(*ids));
	set = calloc(cap, sizeof(*set));	/* open addressing, 0 = empty */
	if (!ids || !set) {
		free(ids);
		free(set);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		const struct sl_workload *w = &m->workloads[i];
		uint32_t id = fnv_more(fnv_more(fnv_more(2166136261u, w->ns), "/"), w->name);

		for (;;) {
			if (id != 0 && id != SLUICE_NO_WORKLOAD) {
				for (j = id & (cap - 1); set[j] && set[j] != id; j = (j + 1) & (cap - 1))
					;
				if (!set[j]) {
					set[j] = id;
					break;
				}
			}
			id = id * 2654435761u + 1;	/* taken: probe on */
		}
		ids[i] = id;
	}
	free(set);
	*out = ids;
	return 0;
}

int sl_l4_workload_index(const uint32_t *ids, size_t n, uint32_t wid)
{
	size_t i;

	for (i = 0; ids && i < n && i <= INT32_MAX; i++)
		if (ids[i] == wid)
			return (int)i;
	return -1;
}

const struct sluice_svc *sl_l4_find_svc(const struct sl_l4_gen *g, const uint8_t addr[16],
					uint16_t port, uint8_t proto)
{
	size_t i;

	for (i = 0; i < g->nsvcs; i++)
		if (!memcmp(g->svcs[i].k.addr, addr, 16) && g->svcs[i].k.port == htons(port) &&
		    g->svcs[i].k.proto == proto)
			return &g->svcs[i].v;
	return NULL;
}

const struct sluice_route *sl_l4_find_route(const struct sl_l4_gen *g, uint32_t id)
{
	return id < g->nroutes ? &g->routes[id].v : NULL;
}

const struct sluice_subset *sl_l4_find_subset(const struct sl_l4_gen *g, uint32_t id)
{
	return id < g->nsubsets ? &g->subsets[id].v : NULL;
}

const struct sluice_backend *sl_l4_find_backend(const struct sl_l4_gen *g, uint32_t idx)
{
	return idx < g->nbackends && g->backends[idx].k.gen ? &g->backends[idx].v : NULL;
}
