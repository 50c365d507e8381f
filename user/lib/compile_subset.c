/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L4 compiler's backends and subsets (user/lib/compile_l4.c drives it):
 * the backend entries of a (service, subset, port), the subset entry over
 * them with its load balancer and connection pool, and the inline copies
 * that save the connect hook cold lookups. Shared with compile_delta.c
 * through compile_int.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/compile_l4.h"
#include "sluice/dataplane.h"
#include "lib/compile_int.h"

uint16_t cl4_target_port(const struct sl_service *s, const struct sl_endpoint *ep,
			uint16_t port)
{
	const struct sl_port *sp = NULL;
	size_t i;

	for (i = 0; i < s->nports; i++)
		if (s->ports[i].number == port)
			sp = &s->ports[i];
	if (!sp)
		return port;
	for (i = 0; ep && sp->name && i < ep->nports; i++)
		if (ep->ports[i].name && !strcmp(ep->ports[i].name, sp->name) && ep->ports[i].number)
			return ep->ports[i].number;
	return sp->target_port ? sp->target_port : sp->number;
}

static int lb_kind(struct cctx *c, const struct sl_service *s, const char *subset,
		   const struct sl_traffic_policy *tp, uint8_t *out)
{
	const char *what = NULL;

	*out = SLUICE_LB_ROUND_ROBIN;

	switch (tp->lb.kind) {
	case SL_LB_UNSET:
	case SL_LB_ROUND_ROBIN:
		*out = SLUICE_LB_ROUND_ROBIN;
		break;
	case SL_LB_RANDOM:
		*out = SLUICE_LB_RANDOM;
		break;
	case SL_LB_LEAST_REQUEST:
		*out = SLUICE_LB_LEAST_REQUEST;
		break;
	case SL_LB_PASSTHROUGH:
		what = "loadBalancer PASSTHROUGH";
		break;
	case SL_LB_CONSISTENT_HASH:
		/* useSourceIp: Maglev on the XDP path; at connect() the
		 * workload's cgroup stands for the source (docs/dataplane.md).
		 * The other keys are HTTP attributes the socket layer lacks. */
		if (tp->lb.hash == SL_HASH_SOURCE_IP)
			*out = SLUICE_LB_MAGLEV;
		else
			what = "consistentHash on an HTTP attribute";
		break;
	}
	if (what)
		return cl4_fail(c, -ENOTSUP, "%s:%d: %s of %s%s%s is not supported yet by the L4 "
			    "data plane", s->pos.file ? s->pos.file : "?", s->pos.line, what,
			    s->host, subset ? " subset " : "", subset ? subset : "");
	return 0;
}

/* connectionPool.tcp and outlierDetection of subset e (tp its effective
 * trafficPolicy): flag it and give (gen, service, subset) its sluice_pool
 * entry, once for all the ports the subset is compiled for. Enforced in the
 * kernel: maxConnections at connect(), connectTimeout and tcpKeepalive by
 * sockops, ejections by sockops (failed connects) and connect() (skipping
 * ejected backends). outlierDetection's defaults are sluice-http's: 5
 * consecutive errors, 30 s, 10% (at least one backend). */
static int pool_for(struct cctx *c, const struct sl_traffic_policy *tp, struct sl_l4_subset *e)
{
	const struct sl_conn_pool *p = &tp->pool;
	const struct sl_outlier *od = &tp->outlier;
	struct sl_l4_gen *g = c->g;
	struct sl_l4_pool *q;
	size_t i;
	int rc;

	if (!p->tcp_max_connections && !p->tcp_connect_timeout_ms && !p->tcp_keepalive && !od->set)
		return 0;
	e->v.flags |= SLUICE_SUBSET_F_POOL | (od->set ? SLUICE_SUBSET_F_OUTLIER : 0);
	for (i = 0; i < g->npools; i++)
		if (g->pools[i].k.svc_sid == e->v.svc_sid &&
		    g->pools[i].k.subset_sid == e->v.subset_sid)
			return 0;
	if ((rc = cl4_grow((void **)&g->pools, &g->cap[CAP_POOL], g->npools, sizeof(*g->pools))))
		return rc;
	q = &g->pools[g->npools++];
	memset(q, 0, sizeof(*q));
	q->k.gen = g->gen;
	q->k.svc_sid = e->v.svc_sid;
	q->k.subset_sid = e->v.subset_sid;
	q->v.max_conns = p->tcp_max_connections;
	q->v.connect_timeout_ms = p->tcp_connect_timeout_ms;
	q->v.keepalive = p->tcp_keepalive;
	q->v.ka_time_s = p->ka_time_s;
	q->v.ka_intvl_s = p->ka_interval_s;
	q->v.ka_probes = p->ka_probes;
	if (od->set) {
		uint32_t n = od->consecutive_5xx, pct = od->max_ejection_pct ? od->max_ejection_pct : 10;

		/* at L4 a failed connect is both a 5xx and a gateway error
		 * (Istio's rule for opaque TCP): the lower threshold decides */
		if (od->consecutive_gw && (!n || od->consecutive_gw < n))
			n = od->consecutive_gw;
		q->v.od_consecutive = n ? n : 5;
		q->v.od_base_ms = od->base_ejection_ms ? od->base_ejection_ms : 30000;
		q->v.od_max_ejected = e->v.nbackends * pct / 100;
		if (!q->v.od_max_ejected)
			q->v.od_max_ejected = 1;
	}
	return 0;
}

/* The addresses of endpoint ep now: its IP, or what its DNS name resolves
 * to (sl_l4_opts.dns_lookup; none before the first answer or offline). */
size_t cl4_ep_addrs(const struct cctx *c, const struct sl_endpoint *ep,
		    const struct sl_ip **addrs)
{
	*addrs = &ep->ip;
	if (!ep->dns_name)
		return ep->ip.family ? 1 : 0;
	*addrs = NULL;
	return c->o->dns_lookup ? c->o->dns_lookup(ep->address, addrs, c->o->dns_arg) : 0;
}

/* Append to g the backends of (service ds, subset k or -1, destination
 * port): the endpoints with an address, a DNS name one per address it
 * resolves to now. Their number in *n; 0 or a negative errno. */
int cl4_build_backends(struct cctx *c, size_t ds, int k, uint16_t port, size_t *n)
{
	const struct sl_service *s = &c->m->services[ds];
	const struct sl_subset *sub = k >= 0 ? &s->subsets[k] : NULL;
	struct sl_l4_gen *g = c->g;
	size_t i, a, neps, naddr, first = g->nbackends;
	const struct sl_ip *addrs;
	uint32_t w0 = 0;
	int rc;

	neps = sub ? sub->nendpoints : s->nendpoints;
	for (i = 0; i < neps; i++) {
		const struct sl_endpoint *ep = &s->endpoints[sub ? sub->endpoints[i] : i];
		struct sl_l4_backend *b;

		if (i == 0)
			w0 = ep->weight;
		else if (ep->weight != w0)
			return cl4_fail(c, -ENOTSUP, "%s:%d: endpoint weights of %s differ; weighted "
				    "endpoints are not supported yet by the L4 data plane",
				    ep->pos.file ? ep->pos.file : "?", ep->pos.line, s->host);
		naddr = cl4_ep_addrs(c, ep, &addrs);
		for (a = 0; a < naddr; a++) {
			if ((rc = cl4_grow((void **)&g->backends, &g->cap[CAP_BACKEND], g->nbackends,
				       sizeof(*g->backends))))
				return rc;
			b = &g->backends[g->nbackends++];
			memset(b, 0, sizeof(*b));
			b->k.gen = g->gen;
			b->k.idx = (uint32_t)(g->nbackends - 1);
			memcpy(b->v.addr, addrs[a].addr, 16);
			b->v.port = htons(cl4_target_port(s, ep, port));
			b->v.weight = ep->weight ? ep->weight : 1;
		}
	}
	*n = g->nbackends - first;
	if (*n > SLUICE_MAX_BACKENDS)
		return cl4_fail(c, -E2BIG, "%s: %zu endpoints in one subset (limit %d)", s->host, *n,
			    SLUICE_MAX_BACKENDS);
	return 0;
}

/* The subset id for (service ds, subset k or -1, destination port), built on
 * first use. Returns the id, -1 when it has no endpoints, or a negative
 * errno below -1. */
int64_t cl4_subset_for(struct cctx *c, size_t ds, int k, uint16_t port)
{
	const struct sl_service *s = &c->m->services[ds];
	const struct sl_subset *sub = k >= 0 ? &s->subsets[k] : NULL;
	struct sl_l4_gen *g = c->g;
	struct sl_l4_subset *e;
	size_t i, n, first = g->nbackends;
	uint8_t lb = SLUICE_LB_ROUND_ROBIN;
	int rc;

	for (i = 0; i < c->nmemo; i++)
		if (c->memo[i].svc == ds && c->memo[i].subset == k && c->memo[i].port == port)
			return c->memo[i].id;
	if ((rc = cl4_grow((void **)&c->memo, &c->capmemo, c->nmemo, sizeof(*c->memo))))
		return rc;
	c->memo[c->nmemo] = (struct subset_memo){ ds, k, port, -1 };
	if ((rc = cl4_build_backends(c, ds, k, port, &n)))
		return rc;
	if (n == 0) {
		c->nmemo++;
		return -1;
	}
	if ((rc = lb_kind(c, s, sub ? sub->name : NULL, sub ? &sub->tp : &s->tp, &lb)))
		return rc;
	if ((rc = cl4_grow((void **)&g->subsets, &g->cap[CAP_SUBSET], g->nsubsets, sizeof(*g->subsets))) ||
	    (rc = cl4_grow((void **)&g->origins, &g->cap[CAP_ORIGIN], g->nsubsets, sizeof(*g->origins))))
		return rc;
	g->origins[g->nsubsets] = (struct sl_l4_origin){ .svc = (uint32_t)ds, .subset = k,
							 .port = port };
	e = &g->subsets[g->nsubsets++];
	memset(e, 0, sizeof(*e));
	e->k.gen = g->gen;
	e->k.subset_id = (uint32_t)(g->nsubsets - 1);
	e->v.svc_sid = sl_dp_sid(s->host);
	e->v.subset_sid = sub ? sl_dp_sid(sub->name) : 0;
	e->v.backend_first = (uint32_t)first;
	e->v.nbackends = (uint16_t)n;
	e->v.lb = lb;
	/* the Maglev table size (prime, checked by the validator); 0 = the
	 * default of sl_compile_maglev */
	if (lb == SLUICE_LB_MAGLEV)
		e->v.maglev_size = (sub ? &sub->tp : &s->tp)->lb.maglev_size;
	if ((rc = pool_for(c, sub ? &sub->tp : &s->tp, e)))
		return rc;
	c->memo[c->nmemo].id = e->k.subset_id;
	return c->memo[c->nmemo++].id;
}

void cl4_fill_inline(struct sluice_subset *sv, const struct sl_l4_backend *b, size_t n)
{
	memset(sv->inl, 0, sizeof(sv->inl));
	for (size_t k = 0; k < SLUICE_SUBSET_INLINE && k < sv->nbackends && k < n; k++)
		sv->inl[k] = b[k].v;
}

/* Copies that save the connect hook cold hash lookups (the cost that grows
 * with the number of services): a service's only route into its svc entry,
 * a small subset's backends into the subset entry, and then the (at most
 * SLUICE_SVC_INLINE_SUBSETS) subsets of that route into the svc entry.
 * The tables keep the originals (the XDP path and tools read them; the
 * Maglev fields of the svc copies are not filled in later: the connect
 * hooks never read them). */
void cl4_inline_copies(struct sl_l4_gen *g)
{
	size_t i, k;

	for (i = 0; i < g->nsvcs; i++) {
		struct sluice_svc *v = &g->svcs[i].v;

		if (v->nroutes != 1 || v->route_first >= g->nroutes ||
		    (v->flags & (SLUICE_SVC_HTTP | SLUICE_SVC_PASSTHROUGH | SLUICE_SVC_NO_ENDPOINTS)))
			continue;
		v->route = g->routes[v->route_first].v;
		v->flags |= SLUICE_SVC_ROUTE_INLINE;
	}
	for (i = 0; i < g->nsubsets; i++) {
		struct sluice_subset *sv = &g->subsets[i].v;

		if (sv->backend_first < g->nbackends)
			cl4_fill_inline(sv, &g->backends[sv->backend_first],
					g->nbackends - sv->backend_first);
	}
	/* after the subsets got their inline backends: a service whose one
	 * route has at most SLUICE_SVC_INLINE_SUBSETS destinations carries
	 * them too, so a steered connect reads one cold entry, not two */
	for (i = 0; i < g->nsvcs; i++) {
		struct sluice_svc *v = &g->svcs[i].v;
		const struct sluice_route *r = &v->route;

		if (!(v->flags & SLUICE_SVC_ROUTE_INLINE) || !r->ndests ||
		    r->ndests > SLUICE_SVC_INLINE_SUBSETS)
			continue;
		for (k = 0; k < r->ndests; k++)
			if (r->dests[k].subset_id >= g->nsubsets)
				break;
		if (k < r->ndests)
			continue;
		for (k = 0; k < r->ndests; k++)
			v->sub[k] = g->subsets[r->dests[k].subset_id].v;
		v->flags |= SLUICE_SVC_SUBSET_INLINE;
	}
}
