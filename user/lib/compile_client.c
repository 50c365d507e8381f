/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L4 compiler's clients (user/lib/compile_l4.c drives it): the local
 * workloads' cgroups (sluice_cgroup) and their Sidecar egress scopes (which
 * services each client context may not see).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sluice/compile_l4.h"
#include "sluice/dataplane.h"
#include "lib/compile_int.h"

static uint64_t cgroup_id_stat(const char *rel, void *arg)
{
	char root[512], path[1024];
	struct stat st;

	(void)arg;
	if (sl_cgroup2_root(root, sizeof(root), NULL))
		return 0;
	while (*rel == '/')
		rel++;
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	/* on cgroup v2 the cgroup id is the directory's inode number */
	if (stat(path, &st) || !S_ISDIR(st.st_mode))
		return 0;
	return (uint64_t)st.st_ino;
}

/* One client context of Sidecar egress scoping: the Sidecar and the
 * namespace its "." stands for. */
struct scope_ctx {
	const struct sl_sidecar *sc;
	const char *ns;
	uint8_t id;
};

/* The contexts seen so far, each with the services it may not see (one
 * bit row per context, grown as contexts appear). */
struct scopes {
	struct scope_ctx *ctx;
	uint64_t *vis;
	size_t n, cap, nwords;
};

static uint8_t scope_id(struct cctx *c, struct scopes *s, const struct sl_sidecar *sc,
			const char *ns, int *rc)
{
	const struct sl_model *m = c->m;
	size_t i, si, nsvc = m->nservices;
	uint64_t *mine;
	uint8_t id = 0;

	if (!sc || !sc->negress_hosts)
		return 0;	/* no egress listener: everything visible */
	for (i = 0; i < s->n; i++)
		if (s->ctx[i].sc == sc && !strcmp(s->ctx[i].ns, ns))
			return s->ctx[i].id;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct scope_ctx *ctx = realloc(s->ctx, cap * sizeof(*ctx));
		uint64_t *vis = ctx ? realloc(s->vis, cap * s->nwords * sizeof(*vis)) : NULL;

		if (ctx)
			s->ctx = ctx;
		if (!vis) {
			*rc = -ENOMEM;
			return 0;
		}
		s->vis = vis;
		s->cap = cap;
	}
	mine = s->vis + s->n * s->nwords;
	memset(mine, 0, s->nwords * sizeof(*mine));
	for (si = 0; si < nsvc; si++)
		if (!sl_egress_allows(sc, ns, &m->services[si]))
			mine[si / 64] |= 1ull << (si % 64);
	/* contexts that hide the same services share one scope */
	for (i = 0; i < s->n && !id; i++)
		if (!memcmp(s->vis + i * s->nwords, mine, s->nwords * sizeof(*mine)))
			id = s->ctx[i].id;
	if (!id) {
		uint8_t max = 0;
		for (i = 0; i < s->n; i++)
			max = s->ctx[i].id > max ? s->ctx[i].id : max;
		if (max == SLUICE_MAX_SCOPES) {
			*rc = cl4_fail(c, -ENOSPC, "%s:%d: Sidecar %s/%s: more than %d distinct egress "
				   "scopes in one policy", sc->pos.file ? sc->pos.file : "?",
				   sc->pos.line, sc->ns, sc->name, SLUICE_MAX_SCOPES);
			return 0;
		}
		id = max + 1;
		for (si = 0; si < nsvc; si++)
			if (mine[si / 64] >> (si % 64) & 1)
				c->svc_hidden[si] |= 1ull << id;
	}
	s->ctx[s->n++] = (struct scope_ctx){ sc, ns, id };
	return id;
}

/* Sidecar egress scopes: every local client (a workload with a cgroup, or a
 * Pod) and the clients that are no workload (the root default, with "." its
 * own namespace) get the scope of the services they may not see; the
 * services carry one bit per scope that hides them. */
int cl4_compile_scopes(struct cctx *c)
{
	const struct sl_model *m = c->m;
	struct scopes s = { .nwords = m->nservices / 64 + 1 };
	int rc = 0;

	if (!m->nsidecars)
		return 0;
	c->wl_scope = calloc(m->nworkloads + 1, sizeof(*c->wl_scope));
	c->svc_hidden = calloc(m->nservices + 1, sizeof(*c->svc_hidden));
	if (!c->wl_scope || !c->svc_hidden)
		return -ENOMEM;
	if (m->default_sidecar >= 0) {
		const struct sl_sidecar *d = &m->sidecars[m->default_sidecar];
		c->g->cfg.default_scope = scope_id(c, &s, d, d->ns, &rc);
	}
	for (size_t w = 0; w < m->nworkloads && !rc; w++) {
		const struct sl_workload *wl = &m->workloads[w];

		if (wl->cgroup || wl->pod_uid)
			c->wl_scope[w] = scope_id(c, &s, sl_sidecar_of(m, wl), wl->ns, &rc);
	}
	if (s.n)
		c->g->cfg.flags |= SLUICE_CFG_EGRESS_SCOPES;
	free(s.ctx);
	free(s.vis);
	return rc;
}

/* A local pod's cgroup by its UID, in kubelet's layouts: systemd
 * (kubepods.slice/kubepods-QOS.slice/kubepods-QOS-podUID_.slice, '-' in the
 * UID written '_'; Guaranteed pods directly under kubepods.slice) and
 * cgroupfs (kubepods/QOS/podUID). 0 when none exists: not on this node. */
static uint64_t pod_cgroup(struct cctx *c, const char *uid,
			   uint64_t (*resolve)(const char *, void *))
{
	static const char *const qos[] = { "", "burstable", "besteffort" };
	const char *root = c->o->kubelet_root && c->o->kubelet_root[0] ? c->o->kubelet_root : NULL;
	char u[128], path[512];
	uint64_t id;
	size_t i;

	/* which layouts this node has, once per compile: a Pod of another
	 * node costs no look at a layout that is not there */
	if (c->kubelet_layouts < 0) {
		c->kubelet_layouts = 0;
		snprintf(path, sizeof(path), "%s%skubepods.slice", root ? root : "", root ? "/" : "");
		if (resolve(path, c->o->cgroup_arg))
			c->kubelet_layouts |= 1;
		snprintf(path, sizeof(path), "%s%skubepods", root ? root : "", root ? "/" : "");
		if (resolve(path, c->o->cgroup_arg))
			c->kubelet_layouts |= 2;
	}
	snprintf(u, sizeof(u), "%s", uid);
	for (i = 0; u[i]; i++)
		if (u[i] == '-')
			u[i] = '_';
	for (i = 0; i < 3; i++) {
		if (c->kubelet_layouts & 1) {
			if (i == 0)
				snprintf(path, sizeof(path), "%s%skubepods.slice/kubepods-pod%s.slice",
					 root ? root : "", root ? "/" : "", u);
			else
				snprintf(path, sizeof(path), "%s%skubepods.slice/kubepods-%s.slice/"
					 "kubepods-%s-pod%s.slice", root ? root : "", root ? "/" : "",
					 qos[i], qos[i], u);
			if ((id = resolve(path, c->o->cgroup_arg)))
				return id;
		}
		if (c->kubelet_layouts & 2) {
			snprintf(path, sizeof(path), "%s%skubepods/%s%spod%s", root ? root : "",
				 root ? "/" : "", qos[i], i ? "/" : "", uid);
			if ((id = resolve(path, c->o->cgroup_arg)))
				return id;
		}
	}
	return 0;
}

uint64_t sl_l4_pod_cgroup(const struct sl_l4_opts *o, const char *uid)
{
	struct cctx c = { .o = o, .kubelet_layouts = -1 };

	return pod_cgroup(&c, uid, o->cgroup_id ? o->cgroup_id : cgroup_id_stat);
}

int cl4_compile_workloads(struct cctx *c)
{
	uint64_t (*resolve)(const char *, void *) = c->o->cgroup_id ? c->o->cgroup_id
								    : cgroup_id_stat;
	struct sl_l4_gen *g = c->g;
	size_t i;
	int rc;

	for (i = 0; i < c->m->nworkloads; i++) {
		const struct sl_workload *w = &c->m->workloads[i];
		uint64_t id;

		if (!w->cgroup && !w->pod_uid)
			continue;
		/* a client whose cgroup does not exist (yet) matches no
		 * sourceLabels; it is picked up by the next apply */
		id = w->cgroup ? resolve(w->cgroup, c->o->cgroup_arg)
			       : pod_cgroup(c, w->pod_uid, resolve);
		if (!id)
			continue;
		if ((rc = cl4_grow((void **)&g->cgroups, &g->cap[CAP_CG], g->ncgroups, sizeof(*g->cgroups))))
			return rc;
		memset(&g->cgroups[g->ncgroups], 0, sizeof(g->cgroups[0]));
		g->cgroups[g->ncgroups].k.gen = g->gen;
		g->cgroups[g->ncgroups].k.cgroup_id = id;
		g->cgroups[g->ncgroups].v.workload_id = c->wids[i];
		g->cgroups[g->ncgroups].v.scope = c->wl_scope ? c->wl_scope[i] : 0;
		g->ncgroups++;
	}
	if (g->ncgroups)
		g->cfg.flags |= SLUICE_CFG_CLIENT_WORKLOADS;
	return 0;
}
