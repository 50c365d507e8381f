/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L4 compiler: resolved model -> one generation of socket data-plane
 * map entries (see include/sluice/compile_l4.h and docs/dataplane.md).
 *
 * Per service, per (VIP, port): a sluice_svc entry whose routes are the
 * mesh VirtualService's tcp routes (or its http routes steered per
 * connection when no sluice-http helper is configured and they need nothing
 * L7), one BPF route per (route, match), always ending with a catch-all
 * route so a connection to a service never falls through. Destinations with
 * weight 0 or with no endpoints are left out and the others renormalised;
 * a route left with nothing refuses (ECONNREFUSED), never a black hole.
 * Anything the socket data plane cannot enforce is refused with -ENOTSUP.
 * A Gateway TCP server with bind becomes one more sluice_svc entry at
 * (bind, port), its routes compiled by the same code from the tcp routes of
 * the VirtualService bound to it, so the connect hooks (local clients) and
 * XDP/TC (off-node clients) steer it alike.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include "sluice/compile_l4.h"
#include "sluice/dataplane.h"
#include "lib/compile_int.h"

int cl4_fail(struct cctx *c, int rc, const char *fmt, ...)
{
	va_list ap;

	if (c->err) {
		va_start(ap, fmt);
		vsnprintf(c->err, SL_DP_ERRLEN, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Make room for one more element of size sz in *arr (n used, *cap slots). */
int cl4_grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	p = realloc(*arr, ncap * sz);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* One L4 listener: a service port, routed by the service's mesh
 * VirtualService, or a gateway TCP server at its bind address, routed by
 * the bound VirtualService the policy front-end picked for it. */
struct listener {
	const char *name;	/* for messages: the host, or "gateway ns/name" */
	const char *ctx;	/* "mesh" or the gateway's "ns/name" */
	const struct sl_vhost *vh;	/* NULL: no VirtualService */
	bool is_http;		/* http routes steered per connection */
	uint16_t port;
	long fallback;		/* service balancing what no route takes, -1 none */
};

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

static uint16_t target_port(const struct sl_service *s, const struct sl_endpoint *ep,
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
static size_t ep_addrs(const struct cctx *c, const struct sl_endpoint *ep,
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
		naddr = ep_addrs(c, ep, &addrs);
		for (a = 0; a < naddr; a++) {
			if ((rc = cl4_grow((void **)&g->backends, &g->cap[CAP_BACKEND], g->nbackends,
				       sizeof(*g->backends))))
				return rc;
			b = &g->backends[g->nbackends++];
			memset(b, 0, sizeof(*b));
			b->k.gen = g->gen;
			b->k.idx = (uint32_t)(g->nbackends - 1);
			memcpy(b->v.addr, addrs[a].addr, 16);
			b->v.port = htons(target_port(s, ep, port));
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
static int64_t subset_for(struct cctx *c, size_t ds, int k, uint16_t port)
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

/* The backend port of destination d for a connection to port: the
 * destination's port; without one, the client's port — at a gateway the
 * service's only port first (Istio's rule there; the front-end checked that
 * one of them is a port of the service). */
static uint16_t dest_port(const struct cctx *c, const struct sl_dest *d, uint16_t port)
{
	const struct sl_service *s = &c->m->services[d->service];

	if (d->port)
		return d->port;
	if (c->gw_ports && s->nports == 1)
		return s->ports[0].number;
	return port;
}

/* Weighted destinations of route r for client port `port` into out. */
static int compile_dests(struct cctx *c, const struct sl_route *r, uint16_t port,
			 struct sluice_route *out)
{
	bool raw = r->weight_raw_total > 0 && r->weight_raw_total <= UINT32_MAX;
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < r->ndests; i++) {
		const struct sl_dest *d = &r->dests[i];
		uint32_t w = raw ? d->weight_raw : d->weight;
		int64_t id;

		if (!w)
			continue;
		id = subset_for(c, d->service, d->subset, dest_port(c, d, port));
		if (id < -1)
			return (int)id;
		if (id == -1)
			continue;	/* empty subset: skipped, others renormalised */
		if (out->ndests >= SLUICE_MAX_DESTS)
			return cl4_fail(c, -E2BIG, "%s:%d: more than %d weighted destinations",
				    r->pos.file ? r->pos.file : "?", r->pos.line, SLUICE_MAX_DESTS);
		cum += w;
		/* a hashing subset makes the subset choice hash too, so one
		 * client stays on one version while the weights hold */
		if (c->g->subsets[id].v.lb == SLUICE_LB_MAGLEV)
			out->flags |= SLUICE_ROUTE_HASH;
		out->dests[out->ndests].subset_id = (uint32_t)id;
		out->dests[out->ndests].cum_weight = (uint32_t)cum;
		out->ndests++;
	}
	out->total = (uint32_t)cum;
	if (!out->ndests)
		out->flags |= SLUICE_ROUTE_NO_ENDPOINTS;
	return 0;
}

static int push_route(struct cctx *c, const struct sluice_route *v, uint32_t *id)
{
	struct sl_l4_gen *g = c->g;
	int rc;

	if ((rc = cl4_grow((void **)&g->routes, &g->cap[CAP_ROUTE], g->nroutes, sizeof(*g->routes))))
		return rc;
	g->routes[g->nroutes].k.gen = g->gen;
	g->routes[g->nroutes].k.route_id = (uint32_t)g->nroutes;
	g->routes[g->nroutes].v = *v;
	*id = (uint32_t)g->nroutes++;
	return 0;
}

/* Does match mt apply where the listener is ("mesh" or "ns/name")? */
static bool match_in(const struct sl_match *mt, const char *ctx)
{
	size_t i;

	if (!mt || !mt->ngateways)
		return true;
	for (i = 0; i < mt->ngateways; i++)
		if (!strcmp(mt->gateways[i], ctx))
			return true;
	return false;
}

/* An http route steered per connection (no helper) may use only what the
 * socket layer sees: port and sourceLabels matches, weighted destinations. */
static int check_http_l4(struct cctx *c, const struct sl_vhost *vh, const struct sl_route *r)
{
	size_t i;
	bool l7 = r->timeout_ms || r->retries.set || r->fault.delay_ppm || r->fault.abort_ppm ||
		  r->rewrite.uri || r->rewrite.authority || r->has_redirect || r->has_mirror ||
		  r->req_headers.nset || r->req_headers.nadd || r->req_headers.nremove ||
		  r->resp_headers.nset || r->resp_headers.nadd || r->resp_headers.nremove;

	for (i = 0; !l7 && i < r->nmatches; i++) {
		const struct sl_match *mt = &r->matches[i];

		l7 = mt->uri.kind || mt->method.kind || mt->authority.kind || mt->scheme.kind ||
		     mt->nheaders || mt->nwithout_headers || mt->nquery;
	}
	if (l7)
		return cl4_fail(c, -ENOTSUP, "%s:%d: VirtualService %s/%s: this http route needs "
			    "the sluice-http helper, which is not configured",
			    r->pos.file ? r->pos.file : "?", r->pos.line, vh->ns, vh->name);
	return 0;
}

/* Routes of listener l: sets route_first/nroutes/flags of v. Per route and
 * match (in order) one BPF route, skipping matches for another port or
 * place, until an unconditional one; then, when none was and the listener
 * has a fallback service, that service by its own load balancer. */
/* The TCP fault of route id (its VirtualService's annotations). */
static int push_fault(struct cctx *c, const struct sl_vhost *vh, uint32_t id)
{
	struct sl_l4_gen *g = c->g;
	int rc;

	if ((rc = cl4_grow((void **)&g->faults, &g->cap[CAP_FAULT], g->nfaults, sizeof(*g->faults))))
		return rc;
	g->faults[g->nfaults++] = (struct sl_l4_fault){
		.k = { .gen = g->gen, .route_id = id },
		.v = { .abort_ppm = vh->tcp_fault_ppm, .err = vh->tcp_fault_errno },
	};
	return 0;
}

static int compile_routes(struct cctx *c, const struct listener *l, struct sluice_svc *v)
{
	const struct sl_vhost *vh = l->vh;
	const struct sl_route *routes = NULL;
	size_t nr = 0, i, j, mi;
	bool catch_all = false, all_empty = true, fault = false;
	uint32_t id, first = (uint32_t)c->g->nroutes;
	int rc;

	if (vh) {
		routes = l->is_http ? vh->http : vh->tcp;
		nr = l->is_http ? vh->nhttp : vh->ntcp;
		/* the fault is the tcp routes' (the front-end requires some) */
		fault = vh->tcp_fault_ppm && !l->is_http;
	}
	if (fault && strcmp(l->ctx, "mesh"))
		return cl4_fail(c, -ENOTSUP, "%s:%d: VirtualService %s/%s: sluice.io/tcp-fault-abort on "
			    "a gateway's TCP server is not supported (XDP does not inject faults); "
			    "bind the fault to a mesh-only VirtualService",
			    vh->tcp_fault_pos.file ? vh->tcp_fault_pos.file : "?",
			    vh->tcp_fault_pos.line, vh->ns, vh->name);
	for (i = 0; i < nr && !catch_all; i++) {
		const struct sl_route *r = &routes[i];

		if (l->is_http && (rc = check_http_l4(c, vh, r)))
			return rc;
		for (mi = 0; mi < (r->nmatches ? r->nmatches : 1) && !catch_all; mi++) {
			const struct sl_match *mt = r->nmatches ? &r->matches[mi] : NULL;
			struct sluice_route br = { 0 };

			if (mt && mt->port && mt->port != l->port)
				continue;
			if (!match_in(mt, l->ctx))
				continue;
			if (mt && mt->has_source_labels && !mt->nsource_workloads)
				continue;	/* no client can ever match */
			br.port = l->port;
			if ((rc = compile_dests(c, r, l->port, &br)))
				return rc;
			if (fault)
				br.flags |= SLUICE_ROUTE_FAULT;
			if (mt && mt->has_source_labels) {
				br.flags |= SLUICE_ROUTE_SOURCE;
				c->g->cfg.flags |= SLUICE_CFG_SOURCE_ROUTES;
			} else {
				catch_all = true;
			}
			if (c->g->nroutes - first >= SLUICE_MAX_ROUTES)
				return cl4_fail(c, -E2BIG, "%s: more than %d L4 routes on port %u",
					    l->name, SLUICE_MAX_ROUTES, l->port);
			if ((rc = push_route(c, &br, &id)))
				return rc;
			if (fault && (rc = push_fault(c, vh, id)))
				return rc;
			if (!(br.flags & SLUICE_ROUTE_NO_ENDPOINTS))
				all_empty = false;
			for (j = 0; mt && mt->has_source_labels && j < mt->nsource_workloads; j++) {
				struct sluice_route_src_key *sk;

				if ((rc = cl4_grow((void **)&c->g->srcs, &c->g->cap[CAP_SRC],
					       c->g->nsrcs, sizeof(*c->g->srcs))))
					return rc;
				sk = &c->g->srcs[c->g->nsrcs++];
				memset(sk, 0, sizeof(*sk));
				sk->gen = c->g->gen;
				sk->route_id = id;
				sk->workload_id = c->wids[mt->source_workloads[j]];
			}
		}
	}
	if (!catch_all && l->fallback >= 0) {
		/* no VirtualService, or none of its routes is unconditional:
		 * the whole service by its own load balancer */
		const struct sl_service *s = &c->m->services[l->fallback];
		struct sl_dest d = { .service = (size_t)l->fallback, .subset = -1, .weight_raw = 1,
				     .weight = 1 };
		struct sl_route r = { .dests = &d, .ndests = 1, .weight_raw_total = 1, .pos = s->pos };
		struct sluice_route br = { .port = l->port };

		if ((rc = compile_dests(c, &r, l->port, &br)))
			return rc;
		if (c->g->nroutes - first >= SLUICE_MAX_ROUTES)
			return cl4_fail(c, -E2BIG, "%s: more than %d L4 routes on port %u", l->name,
				    SLUICE_MAX_ROUTES, l->port);
		if ((rc = push_route(c, &br, &id)))
			return rc;
		if (!(br.flags & SLUICE_ROUTE_NO_ENDPOINTS))
			all_empty = false;
	}
	v->route_first = first;
	v->nroutes = (uint16_t)(c->g->nroutes - first);
	if (all_empty)
		v->flags |= SLUICE_SVC_NO_ENDPOINTS;
	return 0;
}

/* Routes of service si for client port p: sets route_first/nroutes/flags. */
static int compile_port(struct cctx *c, size_t si, const struct sl_port *p, struct sluice_svc *v)
{
	const struct sl_service *s = &c->m->services[si];
	struct listener l = { .name = s->host, .ctx = "mesh", .port = p->number,
			      .fallback = (long)si };

	memset(v, 0, sizeof(*v));
	v->svc_sid = sl_dp_sid(s->host);
	if (s->vhost >= 0 && (size_t)s->vhost < c->m->nvhosts && c->m->vhosts[s->vhost].mesh)
		l.vh = &c->m->vhosts[s->vhost];
	l.is_http = sl_proto_is_http(p->proto) && l.vh && l.vh->nhttp > 0;
	if (c->o->helper_port && sl_port_wants_helper(c->m, s, p)) {
		v->flags = SLUICE_SVC_HTTP;
		return 0;
	}
	if (s->nendpoints == 0 && s->resolution == SL_RES_NONE) {
		v->flags = SLUICE_SVC_PASSTHROUGH;	/* registered, not steered */
		return 0;
	}
	return compile_routes(c, &l, v);
}

static int push_svc(struct cctx *c, const uint8_t addr[16], uint16_t port, uint8_t proto,
		    const struct sluice_svc *v, uint16_t internal)
{
	struct sl_l4_gen *g = c->g;
	struct sl_l4_svc *e;
	int rc;

	if ((rc = cl4_grow((void **)&g->svcs, &g->cap[CAP_SVC], g->nsvcs, sizeof(*g->svcs))))
		return rc;
	e = &g->svcs[g->nsvcs++];
	memset(e, 0, sizeof(*e));
	e->k.gen = g->gen;
	e->k.port = htons(port);
	e->k.proto = proto;
	memcpy(e->k.addr, addr, 16);
	e->v = *v;
	e->v.pad = internal;	/* 1 = endpoint registration; cleared below */
	return 0;
}

static int svc_cmp(const void *a, const void *b)
{
	const struct sl_l4_svc *x = a, *y = b;
	int r = memcmp(&x->k, &y->k, sizeof(x->k));

	return r ? r : (int)x->v.pad - (int)y->v.pad;
}

/* Sort the service keys; a VIP:port claimed by two services is an error, an
 * endpoint registration under a VIP's key is dropped. An endpoint address
 * registered by several services is hidden only from the egress scopes
 * that see none of them. */
static int dedupe_svcs(struct cctx *c)
{
	struct sl_l4_gen *g = c->g;
	size_t i, o = 0;
	bool kept_internal = false;
	char a[INET6_ADDRSTRLEN];

	if (g->nsvcs)
		qsort(g->svcs, g->nsvcs, sizeof(*g->svcs), svc_cmp);
	for (i = 0; i < g->nsvcs; i++) {
		if (o && !memcmp(&g->svcs[o - 1].k, &g->svcs[i].k, sizeof(g->svcs[i].k))) {
			if (g->svcs[i].v.pad) {
				if (kept_internal)
					g->svcs[o - 1].v.scope_hidden &= g->svcs[i].v.scope_hidden;
				continue;
			}
			inet_ntop(AF_INET6, g->svcs[i].k.addr, a, sizeof(a));
			return cl4_fail(c, -EINVAL, "address %s port %u is claimed by two services",
				    a, ntohs(g->svcs[i].k.port));
		}
		kept_internal = g->svcs[i].v.pad;
		g->svcs[o] = g->svcs[i];
		g->svcs[o++].v.pad = 0;
	}
	g->nsvcs = o;
	return 0;
}

/* Gateway TCP servers: an L4 service at (bind, port) with the tcp routes
 * of the VirtualService the front-end picked (tcp_vhost), compiled like a
 * mesh service's. No fallback: a server without routes is not programmed
 * (the front-end warned). */
static int compile_gateways(struct cctx *c)
{
	const struct sl_model *m = c->m;
	size_t g, s;
	int rc = 0;

	for (g = 0; g < m->ngateways; g++) {
		const struct sl_gateway *gw = &m->gateways[g];
		char ctx[512], name[600];

		snprintf(ctx, sizeof(ctx), "%s/%s", gw->ns ? gw->ns : "", gw->name ? gw->name : "");
		snprintf(name, sizeof(name), "gateway %s", ctx);
		for (s = 0; s < gw->nservers; s++) {
			const struct sl_gateway_server *sv = &gw->servers[s];
			struct listener l = { .name = name, .ctx = ctx, .port = sv->port,
					      .fallback = -1 };
			struct sluice_svc v = { .svc_sid = sl_dp_sid(ctx) };

			if (sv->proto != SL_PROTO_TCP || !sv->bind.family || sv->tcp_vhost < 0 ||
			    (size_t)sv->tcp_vhost >= m->nvhosts)
				continue;
			l.vh = &m->vhosts[sv->tcp_vhost];
			c->nmemo = 0;
			c->gw_ports = true;
			rc = compile_routes(c, &l, &v);
			c->gw_ports = false;
			if (rc)
				return rc;
			if ((rc = push_svc(c, sv->bind.addr, sv->port, IPPROTO_TCP, &v, 0)))
				return rc;
		}
	}
	return 0;
}

static int compile_registry(struct cctx *c)
{
	static const struct sluice_svc pass = { .flags = SLUICE_SVC_PASSTHROUGH };
	const struct sl_model *m = c->m;
	size_t si, e, pi;
	int rc;

	for (si = 0; si < m->nservices; si++) {
		const struct sl_service *s = &m->services[si];

		for (e = 0; e < s->nendpoints; e++) {
			const struct sl_ip *addrs;
			size_t a, naddr = ep_addrs(c, &s->endpoints[e], &addrs);

			for (pi = 0; pi < s->nports; pi++) {
				uint16_t tp = target_port(s, &s->endpoints[e], s->ports[pi].number);
				uint8_t proto = s->ports[pi].proto == SL_PROTO_UDP ? IPPROTO_UDP
										   : IPPROTO_TCP;
				struct sluice_svc v = pass;

				v.svc_sid = sl_dp_sid(s->host);
				v.scope_hidden = c->svc_hidden ? c->svc_hidden[si] : 0;
				for (a = 0; a < naddr; a++)
					if ((rc = push_svc(c, addrs[a].addr, tp, proto, &v, 1)))
						return rc;
			}
		}
	}
	return 0;
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
static int compile_scopes(struct cctx *c)
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

static int compile_workloads(struct cctx *c)
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
static void inline_copies(struct sl_l4_gen *g)
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

/* DNS endpoints reach sluice-http's upstreams only through addresses it
 * cannot resolve: a service the helper serves (gateway http routes, and
 * tls routes of passthrough servers) must use IP endpoints. */
static bool gateway_http_dest(const struct sl_model *m, size_t si)
{
	for (size_t v = 0; v < m->nvhosts; v++) {
		const struct sl_vhost *vh = &m->vhosts[v];

		if (vh->ngateways <= (vh->mesh ? 1u : 0u))
			continue;	/* bound to the mesh only */
		for (size_t r = 0; r < vh->nhttp; r++)
			for (size_t d = 0; d < vh->http[r].ndests; d++)
				if (vh->http[r].dests[d].service == si)
					return true;
		for (size_t r = 0; r < vh->ntls; r++)
			for (size_t d = 0; d < vh->tls[r].ndests; d++)
				if (vh->tls[r].dests[d].service == si)
					return true;
	}
	return false;
}

static int check_dns(struct cctx *c, size_t si)
{
	const struct sl_service *s = &c->m->services[si];
	bool helper = gateway_http_dest(c->m, si);
	size_t e, pi;

	for (pi = 0; pi < s->nports && c->o->helper_port && !helper; pi++)
		helper = sl_port_wants_helper(c->m, s, &s->ports[pi]);
	for (e = 0; e < s->nendpoints && helper; e++)
		if (s->endpoints[e].dns_name)
			return cl4_fail(c, -ENOTSUP, "%s:%d: %s: DNS endpoints of a service sluice-http "
				    "serves (HTTP or TLS passthrough routes) are not supported yet; give IP "
				    "endpoints or route it at L4 (tcp routes)",
				    s->pos.file ? s->pos.file : "?", s->pos.line, s->host);
	return 0;
}

int sl_compile_l4(const struct sl_model *m, const struct sl_l4_opts *opts, uint32_t gen,
		  struct sl_l4_gen *out, char *err)
{
	struct sl_l4_opts none = { 0 };
	struct cctx c = { .m = m, .o = opts ? opts : &none, .g = out, .err = err,
			  .kubelet_layouts = -1 };
	size_t si, pi, vi;
	int rc;

	memset(out, 0, sizeof(*out));
	out->gen = gen;
	if (m->outbound == SL_OUTBOUND_REGISTRY_ONLY)
		out->cfg.flags |= SLUICE_CFG_REGISTRY_ONLY;
	if (c.o->helper_port) {
		out->cfg.helper_port = htons(c.o->helper_port);
		memcpy(out->cfg.helper_addr, c.o->helper_addr, 16);
	}
	if ((rc = sl_l4_workload_ids(m, &c.wids)) || (rc = compile_scopes(&c)) ||
	    (rc = compile_workloads(&c)))
		goto cleanup;
	for (si = 0; si < m->nservices; si++) {
		const struct sl_service *s = &m->services[si];

		const struct sl_ip *hostaddrs = NULL;
		size_t nhostaddrs = 0;

		c.nmemo = 0;	/* subsets are shared within one service */
		if ((rc = check_dns(&c, si)))
			goto cleanup;
		/* a DNS entry that resolves its own host and that a mesh
		 * VirtualService routes: the addresses the host resolves to
		 * are routed like VIPs (a client that resolved the name itself
		 * connects to one of them). Unrouted, they are only registered
		 * (compile_registry, REGISTRY_ONLY). */
		if (s->nendpoints == 1 && s->endpoints[0].host_endpoint && s->vhost >= 0 &&
		    (size_t)s->vhost < m->nvhosts && m->vhosts[s->vhost].mesh)
			nhostaddrs = ep_addrs(&c, &s->endpoints[0], &hostaddrs);
		if (!s->nvips && !nhostaddrs)
			continue;	/* reachable by name only: nothing to match */
		for (pi = 0; pi < s->nports; pi++) {
			uint8_t proto = s->ports[pi].proto == SL_PROTO_UDP ? IPPROTO_UDP : IPPROTO_TCP;
			struct sluice_svc v;

			if ((rc = compile_port(&c, si, &s->ports[pi], &v)))
				goto cleanup;
			v.scope_hidden = c.svc_hidden ? c.svc_hidden[si] : 0;
			for (vi = 0; vi < s->nvips; vi++)
				if ((rc = push_svc(&c, s->vips[vi].addr, s->ports[pi].number, proto,
						   &v, 0)))
					goto cleanup;
			for (vi = 0; vi < nhostaddrs; vi++)
				if ((rc = push_svc(&c, hostaddrs[vi].addr, s->ports[pi].number, proto,
						   &v, 0)))
					goto cleanup;
		}
	}
	if ((rc = compile_gateways(&c)))
		goto cleanup;
	if (out->cfg.flags & SLUICE_CFG_REGISTRY_ONLY && (rc = compile_registry(&c)))
		goto cleanup;
	rc = dedupe_svcs(&c);
	if (!rc)
		inline_copies(out);
cleanup:
	free(c.memo);
	free(c.wids);
	free(c.wl_scope);
	free(c.svc_hidden);
	if (rc) {
		if (rc == -ENOMEM && err)
			snprintf(err, SL_DP_ERRLEN, "out of memory compiling the L4 policy");
		sl_l4_gen_free(out);
	}
	return rc;
}

void sl_l4_gen_free(struct sl_l4_gen *g)
{
	if (!g)
		return;
	free(g->svcs);
	free(g->routes);
	free(g->srcs);
	free(g->cgroups);
	free(g->subsets);
	free(g->backends);
	free(g->origins);
	free(g->pools);
	free(g->faults);
	memset(g, 0, sizeof(*g));
}
