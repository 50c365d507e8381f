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
		id = cl4_subset_for(c, d->service, d->subset, dest_port(c, d, port));
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
			size_t a, naddr = cl4_ep_addrs(c, &s->endpoints[e], &addrs);

			for (pi = 0; pi < s->nports; pi++) {
				uint16_t tp = cl4_target_port(s, &s->endpoints[e], s->ports[pi].number);
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

/* The arrays trimmed to what they hold: the live generation is kept (the
 * incremental apply patches it), and growth by doubling left up to half
 * of each one unused (~5 MB at 10,000 services). */
static void fit(struct sl_l4_gen *g)
{
	struct {
		void **p;
		size_t n, sz;
		int cap;
	} a[] = {
		{ (void **)&g->svcs, g->nsvcs, sizeof(*g->svcs), CAP_SVC },
		{ (void **)&g->routes, g->nroutes, sizeof(*g->routes), CAP_ROUTE },
		{ (void **)&g->srcs, g->nsrcs, sizeof(*g->srcs), CAP_SRC },
		{ (void **)&g->cgroups, g->ncgroups, sizeof(*g->cgroups), CAP_CG },
		{ (void **)&g->subsets, g->nsubsets, sizeof(*g->subsets), CAP_SUBSET },
		{ (void **)&g->origins, g->nsubsets, sizeof(*g->origins), CAP_ORIGIN },
		{ (void **)&g->backends, g->nbackends, sizeof(*g->backends), CAP_BACKEND },
		{ (void **)&g->pools, g->npools, sizeof(*g->pools), CAP_POOL },
		{ (void **)&g->faults, g->nfaults, sizeof(*g->faults), CAP_FAULT },
	};

	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
		void *q;

		if (!a[i].n || a[i].n >= g->cap[a[i].cap])
			continue;
		if ((q = realloc(*a[i].p, a[i].n * a[i].sz))) {	/* else: kept as it was */
			*a[i].p = q;
			g->cap[a[i].cap] = a[i].n;
		}
	}
}

/* g->svc_refs: each service entry with inline copies, for deltas. */
static int svc_refs(struct sl_l4_gen *g)
{
	size_t n = 0;

	for (size_t i = 0; i < g->nsvcs; i++)
		n += !!(g->svcs[i].v.flags & SLUICE_SVC_SUBSET_INLINE);
	if (!n)
		return 0;
	if (!(g->svc_refs = calloc(n, sizeof(*g->svc_refs))))
		return -ENOMEM;
	for (size_t i = 0; i < g->nsvcs; i++) {
		const struct sluice_svc *v = &g->svcs[i].v;
		struct sl_l4_svc_ref *r = &g->svc_refs[g->nsvc_refs];

		if (!(v->flags & SLUICE_SVC_SUBSET_INLINE))
			continue;
		r->k = g->svcs[i].k;
		for (size_t k = 0; k < v->route.ndests && k < SLUICE_SVC_INLINE_SUBSETS; k++)
			r->sub_id[r->nsub++] = v->route.dests[k].subset_id;
		g->nsvc_refs++;
	}
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
	if ((rc = sl_l4_workload_ids(m, &c.wids)) || (rc = cl4_compile_scopes(&c)) ||
	    (rc = cl4_compile_workloads(&c)))
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
			nhostaddrs = cl4_ep_addrs(&c, &s->endpoints[0], &hostaddrs);
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
	if (!rc) {
		cl4_inline_copies(out);
		fit(out);
		rc = svc_refs(out);
	}
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
	free(g->svc_refs);
	free(g->holes);
	memset(g, 0, sizeof(*g));
}

void sl_l4_gen_keep_for_deltas(struct sl_l4_gen *g)
{
	/* a fresh compile has no holes; without room for the bits the
	 * backends stay (sl_l4_gen_patch keeps either) */
	if (!g->holes && !g->nholes &&
	    (g->holes = calloc(g->nbackends / 64 + 1, sizeof(*g->holes)))) {
		free(g->backends);
		g->backends = NULL;
		g->cap[CAP_BACKEND] = 0;
	}
	struct {
		void **p;
		size_t *n;
		int cap;
	} drop[] = {
		{ (void **)&g->svcs, &g->nsvcs, CAP_SVC },
		{ (void **)&g->routes, &g->nroutes, CAP_ROUTE },
		{ (void **)&g->srcs, &g->nsrcs, CAP_SRC },
		{ (void **)&g->cgroups, &g->ncgroups, CAP_CG },
		{ (void **)&g->faults, &g->nfaults, CAP_FAULT },
	};

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
		free(*drop[i].p);
		*drop[i].p = NULL;
		*drop[i].n = 0;
		g->cap[drop[i].cap] = 0;
	}
}
