// SPDX-License-Identifier: Apache-2.0
/*
 * Resolution: turns the raw objects of a load into the compiled model.
 * Short names become FQDNs, ServiceEntry hosts become services, subsets
 * become endpoint index lists, sourceLabels become workload index lists,
 * gateway names become "ns/name", weights are normalised. Cross-object
 * validation (host/subset/port/gateway references, duplicates, shadowed
 * routes) happens here, reported at the referring node.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/types.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/policy_int.h"

char *pl_fqdn(struct sl_arena *a, const char *host, const char *ns)
{
	if (strchr(host, '.') || strchr(host, '*'))
		return sl_arena_strdup(a, host);
	return sl_arena_printf(a, "%s.%s.svc.cluster.local", host, ns);
}

static int nsname_cmp(const char *ans, const char *aname, const char *bns, const char *bname)
{
	int c = strcmp(ans, bns);
	return c ? c : strcmp(aname, bname);
}

static int obj_cmp(const void *pa, const void *pb)
{
	const struct sl_object *a = pa, *b = pb;
	int c = strcmp(a->kind, b->kind);
	if (c)
		return c;
	c = nsname_cmp(a->ns, a->name, b->ns, b->name);
	if (c)
		return c;
	c = strcmp(a->pos.file, b->pos.file);
	return c ? c : a->pos.line - b->pos.line;
}

static int we_cmp(const void *pa, const void *pb)
{
	const struct sl_workload *a = pa, *b = pb;
	return nsname_cmp(a->ns, a->name, b->ns, b->name);
}

static int gw_cmp(const void *pa, const void *pb)
{
	const struct sl_gateway *a = pa, *b = pb;
	return nsname_cmp(a->ns, a->name, b->ns, b->name);
}

static int sc_cmp(const void *pa, const void *pb)
{
	const struct sl_sidecar *a = pa, *b = pb;
	return nsname_cmp(a->ns, a->name, b->ns, b->name);
}

static int vs_cmp(const void *pa, const void *pb)
{
	const struct pl_vs *a = pa, *b = pb;
	return nsname_cmp(a->vh.ns, a->vh.name, b->vh.ns, b->vh.name);
}

static int dr_cmp(const void *pa, const void *pb)
{
	const struct pl_dr *a = pa, *b = pb;
	return nsname_cmp(a->ns, a->name, b->ns, b->name);
}

struct svc_tmp {
	struct sl_service s;
	struct sl_pos host_pos;
	const char *kind;	/* of the object that defines it */
};

static int svc_cmp(const void *pa, const void *pb)
{
	const struct svc_tmp *a = pa, *b = pb;
	int c = strcmp(a->s.host, b->s.host);
	if (c)
		return c;
	c = strcmp(a->host_pos.file, b->host_pos.file);
	return c ? c : a->host_pos.line - b->host_pos.line;
}

int sl_model_find_service(const struct sl_model *m, const char *fqdn)
{
	size_t lo = 0, hi = m->nservices;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(fqdn, m->services[mid].host);
		if (c == 0)
			return (int)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static int find_gateway(const struct sl_model *m, const char *ns, const char *name)
{
	size_t lo = 0, hi = m->ngateways;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = nsname_cmp(ns, name, m->gateways[mid].ns, m->gateways[mid].name);
		if (c == 0)
			return (int)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static void err_at(struct pl_ctx *c, const char *code, struct sl_pos p, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void err_at(struct pl_ctx *c, const char *code, struct sl_pos p, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sl_diag_add(c->d, SL_SEV_ERROR, code, p, "%s", buf);
}

static void warn_at(struct pl_ctx *c, const char *code, struct sl_pos p, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void warn_at(struct pl_ctx *c, const char *code, struct sl_pos p, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sl_diag_add(c->d, SL_SEV_WARNING, code, p, "%s", buf);
}

/* A DNS ServiceEntry without endpoints resolves each of its hosts (Istio):
 * the host becomes the service's one endpoint, a name sluiced resolves. */
static int host_endpoint(struct pl_ctx *c, struct svc_tmp *t)
{
	struct sl_endpoint *e;

	if (strchr(t->s.host, '*')) {
		err_at(c, PL_E_CONFLICT, t->host_pos, "host %s: resolution DNS needs a host name to "
		       "resolve, not a wildcard (use resolution NONE)", t->s.host);
		return 0;
	}
	e = sl_arena_calloc(c->a, 2, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->address = t->s.host;
	e->dns_name = true;
	e->host_endpoint = true;
	e->weight = 1;
	e->workload = -1;
	e->pos = t->host_pos;
	t->s.endpoints = e;
	t->s.nendpoints = 1;
	return 0;
}

static int build_services(struct pl_ctx *c, struct sl_model *m)
{
	size_t n = 0;
	for (size_t i = 0; i < c->nse; i++)
		n += c->se[i].nhosts;
	struct svc_tmp *t = calloc(n ? n : 1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < c->nse; i++) {
		struct pl_se *se = &c->se[i];
		if (se->has_selector) {
			/* workloadSelector: WorkloadEntries of the same namespace */
			size_t cnt = 0;
			for (size_t w = 0; w < m->nworkloads; w++)
				cnt += !strcmp(m->workloads[w].ns, se->t.ns) &&
				       sl_labels_select(&se->selector, &m->workloads[w].labels);
			se->t.endpoints = sl_arena_calloc(c->a, cnt + 1, sizeof(*se->t.endpoints));
			if (!se->t.endpoints) {
				free(t);
				return -ENOMEM;
			}
			se->t.nendpoints = 0;
			for (size_t w = 0; w < m->nworkloads; w++) {
				struct sl_workload *wl = &m->workloads[w];
				if (strcmp(wl->ns, se->t.ns) || !sl_labels_select(&se->selector, &wl->labels))
					continue;
				struct sl_endpoint *e = &se->t.endpoints[se->t.nendpoints++];
				e->ip = wl->ip;
				e->address = wl->address;
				e->labels = wl->labels;
				e->ports = wl->ports;
				e->nports = wl->nports;
				e->weight = wl->weight;
				e->workload = (int)w;
				e->pos = wl->pos;
			}
			if (cnt == 0)
				warn_at(c, PL_W_EMPTYSUB, se->selector_pos,
					"workloadSelector selects no WorkloadEntry in namespace %s", se->t.ns);
		}
		for (size_t h = 0; h < se->nhosts; h++) {
			t[k].s = se->t;
			t[k].s.host = pl_fqdn(c->a, se->hosts[h], se->t.ns);
			t[k].host_pos = se->host_pos[h];
			t[k].kind = se->kind ? se->kind : "ServiceEntry";
			if (!t[k].s.host || (se->t.resolution == SL_RES_DNS && !se->t.nendpoints &&
					     !se->has_selector && host_endpoint(c, &t[k]))) {
				free(t);
				return -ENOMEM;
			}
			k++;
		}
	}
	qsort(t, n, sizeof(*t), svc_cmp);
	m->services = sl_arena_calloc(c->a, n + 1, sizeof(*m->services));
	if (!m->services) {
		free(t);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && !strcmp(t[i].s.host, t[i - 1].s.host)) {
			err_at(c, PL_E_DUPHOST, t[i].host_pos,
			       "host %s of %s %s/%s is already defined by %s %s/%s (at %s:%d:%d)",
			       t[i].s.host, t[i].kind, t[i].s.ns, t[i].s.name, t[i - 1].kind,
			       t[i - 1].s.ns, t[i - 1].s.name, t[i - 1].host_pos.file,
			       t[i - 1].host_pos.line, t[i - 1].host_pos.col);
			continue;
		}
		m->services[m->nservices++] = t[i].s;
	}
	free(t);
	return 0;
}

struct vip_key {
	uint8_t addr[16];
	uint16_t port;
	size_t se;
};

static int vip_cmp(const void *pa, const void *pb)
{
	const struct vip_key *a = pa, *b = pb;
	int c = memcmp(a->addr, b->addr, 16);
	if (c)
		return c;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return a->se < b->se ? -1 : (a->se > b->se);
}

/* The data plane steers by VIP and port: two ServiceEntries claiming the
 * same pair would make the choice arbitrary. */
static int check_vips(struct pl_ctx *c)
{
	size_t n = 0;
	for (size_t i = 0; i < c->nse; i++)
		n += c->se[i].t.nvips * c->se[i].t.nports;
	if (n < 2)
		return 0;
	struct vip_key *v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < c->nse; i++)
		for (size_t a = 0; a < c->se[i].t.nvips; a++)
			for (size_t p = 0; p < c->se[i].t.nports; p++) {
				memcpy(v[k].addr, c->se[i].t.vips[a].addr, 16);
				v[k].port = c->se[i].t.ports[p].number;
				v[k++].se = i;
			}
	qsort(v, n, sizeof(*v), vip_cmp);
	for (size_t i = 1; i < n; i++) {
		if (memcmp(v[i].addr, v[i - 1].addr, 16) || v[i].port != v[i - 1].port ||
		    v[i].se == v[i - 1].se)
			continue;
		const struct sl_service *a = &c->se[v[i - 1].se].t, *b = &c->se[v[i].se].t;
		err_at(c, PL_E_DUPVIP, b->pos,
		       "ServiceEntry %s/%s claims an address and port %u already used by ServiceEntry %s/%s",
		       b->ns, b->name, v[i].port, a->ns, a->name);
	}
	free(v);
	return 0;
}

/* Effective subset policy: each field set at subset level wins. */
static void merge_tp(struct sl_traffic_policy *sub, const struct sl_traffic_policy *rule)
{
	if (sub->lb.kind == SL_LB_UNSET)
		sub->lb = rule->lb;
	uint32_t *s = &sub->pool.tcp_max_connections;
	const uint32_t *r = &rule->pool.tcp_max_connections;
	for (size_t i = 0; i < sizeof(sub->pool) / sizeof(uint32_t); i++)
		if (!s[i])
			s[i] = r[i];
	if (!sub->outlier.set)
		sub->outlier = rule->outlier;
}

static int attach_rules(struct pl_ctx *c, struct sl_model *m)
{
	if (c->ndr)
		qsort(c->dr, c->ndr, sizeof(*c->dr), dr_cmp);
	for (size_t i = 0; i < c->ndr; i++) {
		struct pl_dr *dr = &c->dr[i];
		char *fq = pl_fqdn(c->a, dr->host, dr->ns);
		if (!fq)
			return -ENOMEM;
		int si = sl_model_find_service(m, fq);
		if (si < 0) {
			err_at(c, PL_E_HOST, dr->host_pos,
			       "DestinationRule %s/%s: host %s not found (no ServiceEntry defines it)",
			       dr->ns, dr->name, fq);
			continue;
		}
		struct sl_service *s = &m->services[si];
		if (s->dr_name) {
			err_at(c, PL_E_DUPDR, dr->host_pos,
			       "host %s already has DestinationRule %s; Sluice takes one rule per host",
			       fq, s->dr_name);
			continue;
		}
		s->dr_name = sl_arena_printf(c->a, "%s/%s", dr->ns, dr->name);
		s->tp = dr->tp;
		s->nsubsets = dr->nsubsets;
		s->subsets = sl_arena_calloc(c->a, dr->nsubsets + 1, sizeof(*s->subsets));
		if (!s->subsets || !s->dr_name)
			return -ENOMEM;
		for (size_t j = 0; j < dr->nsubsets; j++) {
			struct sl_subset *sub = &s->subsets[j];
			*sub = dr->subsets[j];
			merge_tp(&sub->tp, &dr->tp);
			sub->endpoints = sl_arena_calloc(c->a, s->nendpoints + 1, sizeof(size_t));
			if (!sub->endpoints)
				return -ENOMEM;
			for (size_t e = 0; e < s->nendpoints; e++)
				if (sl_labels_select(&sub->labels, &s->endpoints[e].labels))
					sub->endpoints[sub->nendpoints++] = e;
			if (sub->nendpoints == 0)
				warn_at(c, PL_W_EMPTYSUB, sub->pos,
					"subset \"%s\" of %s selects no endpoints", sub->name ? sub->name : "",
					fq);
		}
	}
	return 0;
}

static int resolve_dest(struct pl_ctx *c, struct sl_model *m, const char *ns,
			const struct pl_dest *d, struct sl_dest *out)
{
	char *fq = pl_fqdn(c->a, d->host ? d->host : "", ns);
	if (!fq)
		return -ENOMEM;
	out->pos = d->pos;
	out->subset = -1;
	int si = sl_model_find_service(m, fq);
	if (si < 0) {
		err_at(c, PL_E_HOST, d->host_pos, "destination host %s not found (no ServiceEntry)", fq);
		return 0;
	}
	struct sl_service *s = &m->services[si];
	out->service = (size_t)si;
	if (d->subset) {
		for (size_t j = 0; j < s->nsubsets; j++)
			if (s->subsets[j].name && !strcmp(s->subsets[j].name, d->subset))
				out->subset = (int)j;
		if (out->subset < 0)
			err_at(c, PL_E_SUBSET, d->subset_pos,
			       "subset \"%s\" is not defined for host %s%s%s", d->subset, fq,
			       s->dr_name ? " by DestinationRule " : " (no DestinationRule)",
			       s->dr_name ? s->dr_name : "");
	}
	if (d->port) {
		bool found = false;
		for (size_t j = 0; j < s->nports; j++)
			found |= s->ports[j].number == d->port;
		if (!found)
			err_at(c, PL_E_DPORT, d->port_pos, "port %u is not a port of service %s",
			       d->port, fq);
		out->port = d->port;
	}
	return 0;
}

/* sluice-http sends mirror copies as the HTTP/1.1 bytes it built: a
 * mirror to an HTTP2 or GRPC port (its own, or the service's only one) is
 * refused. */
static void check_mirror_proto(struct pl_ctx *c, const struct sl_model *m, const char *ns,
			       const struct pl_dest *d, const struct sl_dest *out)
{
	char *fq = pl_fqdn(c->a, d->host ? d->host : "", ns);
	int si = fq ? sl_model_find_service(m, fq) : -1;
	const struct sl_service *s;

	if (si < 0)
		return;	/* refused by resolve_dest */
	s = &m->services[si];
	for (size_t j = 0; j < s->nports; j++) {
		const struct sl_port *p = &s->ports[j];

		if (out->port ? p->number != out->port : s->nports != 1)
			continue;
		if (p->proto == SL_PROTO_HTTP2 || p->proto == SL_PROTO_GRPC)
			err_at(c, PL_E_UNSUP, d->host_pos, "mirror to port %u of %s (%s) is not "
			       "supported yet: mirror copies are sent as HTTP/1.1", p->number,
			       s->host, p->proto == SL_PROTO_GRPC ? "GRPC" : "HTTP2");
	}
}

/* Weights: all missing -> equal split; otherwise every destination needs
 * one. Normalised to SL_WEIGHT_TOTAL with largest-remainder rounding. */
static int resolve_weights(struct pl_ctx *c, struct pl_route *pr)
{
	struct sl_route *r = &pr->r;
	size_t with = 0;
	for (size_t i = 0; i < pr->ndests; i++)
		with += pr->dests[i].has_weight;
	if (with && with != pr->ndests) {
		for (size_t i = 0; i < pr->ndests; i++)
			if (!pr->dests[i].has_weight)
				err_at(c, PL_E_WEIGHT, pr->dests[i].pos,
				       "weight missing: give every destination of this route a weight, or none");
		return 0;
	}
	uint64_t sum = 0;
	for (size_t i = 0; i < r->ndests; i++) {
		r->dests[i].weight_raw = with ? pr->dests[i].weight : 1;
		sum += r->dests[i].weight_raw;
	}
	r->weight_raw_total = sum;
	if (r->ndests == 0)
		return 0;
	if (sum == 0) {
		err_at(c, PL_E_ZEROW, r->pos, "all weights of this route are 0: no traffic could flow");
		return 0;
	}
	uint64_t given = 0;
	uint64_t *rem = calloc(r->ndests, sizeof(*rem));
	if (!rem)
		return -ENOMEM;
	for (size_t i = 0; i < r->ndests; i++) {
		uint64_t x = (uint64_t)r->dests[i].weight_raw * SL_WEIGHT_TOTAL;
		r->dests[i].weight = (uint32_t)(x / sum);
		rem[i] = x % sum;
		given += r->dests[i].weight;
	}
	while (given < SL_WEIGHT_TOTAL) {
		size_t best = r->ndests;
		for (size_t i = 0; i < r->ndests; i++)
			if (r->dests[i].weight_raw && (best == r->ndests || rem[i] > rem[best]))
				best = i;
		r->dests[best].weight++;
		rem[best] = 0;
		given++;
	}
	free(rem);
	return 0;
}

static bool match_is_catch_all(const struct sl_match *mt)
{
	return !mt->uri.kind && !mt->method.kind && !mt->authority.kind && !mt->scheme.kind &&
	       !mt->nheaders && !mt->nwithout_headers && !mt->nquery && !mt->port &&
	       !mt->has_source_labels && !mt->nsni_hosts;
}

static bool route_is_catch_all(const struct sl_route *r)
{
	if (r->nmatches == 0)
		return true;
	for (size_t i = 0; i < r->nmatches; i++)
		if (match_is_catch_all(&r->matches[i]))
			return true;
	return false;
}

static int resolve_routes(struct pl_ctx *c, struct sl_model *m, struct pl_vs *vs,
			  struct pl_route *prs, struct sl_route *rs, size_t n, const char *kind)
{
	ssize_t catch_all = -1;
	for (size_t i = 0; i < n; i++) {
		struct pl_route *pr = &prs[i];
		struct sl_route *r = &pr->r;
		if (catch_all >= 0)
			warn_at(c, PL_W_SHADOW, r->pos,
				"%s route %zu is never used: %s route %zd before it matches everything",
				kind, i, kind, catch_all);
		else if (route_is_catch_all(r))
			catch_all = (ssize_t)i;
		r->ndests = pr->ndests;
		r->dests = sl_arena_calloc(c->a, pr->ndests + 1, sizeof(*r->dests));
		if (!r->dests)
			return -ENOMEM;
		for (size_t j = 0; j < pr->ndests; j++)
			if (resolve_dest(c, m, vs->vh.ns, &pr->dests[j], &r->dests[j]))
				return -ENOMEM;
		if (resolve_weights(c, pr))
			return -ENOMEM;
		if (pr->has_mirror) {
			r->has_mirror = true;
			if (resolve_dest(c, m, vs->vh.ns, &pr->mirror, &r->mirror))
				return -ENOMEM;
			check_mirror_proto(c, m, vs->vh.ns, &pr->mirror, &r->mirror);
		}
		for (size_t j = 0; j < r->nmatches; j++) {
			struct sl_match *mt = &r->matches[j];
			if (!mt->has_source_labels)
				continue;
			mt->source_workloads = sl_arena_calloc(c->a, m->nworkloads + 1, sizeof(size_t));
			if (!mt->source_workloads)
				return -ENOMEM;
			for (size_t w = 0; w < m->nworkloads; w++)
				if ((m->workloads[w].cgroup || m->workloads[w].pod_uid) &&
				    sl_labels_select(&mt->source_labels, &m->workloads[w].labels))
					mt->source_workloads[mt->nsource_workloads++] = w;
			if (mt->nsource_workloads == 0)
				warn_at(c, PL_W_NOSOURCE, pr->src_pos[j],
					"sourceLabels select no WorkloadEntry carrying a sluice.io/cgroup "
					"annotation: this match never applies");
		}
		rs[i] = *r;
	}
	return 0;
}

bool pl_server_serves(const struct sl_gateway_server *sv, const char *host)
{
	for (size_t h = 0; h < sv->nhosts; h++)
		if (sl_host_pattern_match(sv->hosts[h], host) ||
		    (host[0] == '*' && !strcasecmp(sv->hosts[h], host)))
			return true;
	return false;
}

static bool gateway_serves(const struct sl_gateway *g, const char *host)
{
	for (size_t s = 0; s < g->nservers; s++)
		if (pl_server_serves(&g->servers[s], host))
			return true;
	return false;
}

static int resolve_vhost(struct pl_ctx *c, struct sl_model *m, size_t vi)
{
	struct pl_vs *vs = &c->vs[vi];
	struct sl_vhost *vh = &vs->vh;
	size_t ng = vh->ngateways;
	char **gws = sl_arena_calloc(c->a, ng + 1, sizeof(*gws));
	if (!gws)
		return -ENOMEM;
	bool other = false;
	if (ng == 0) {
		vh->mesh = true;
		gws[0] = sl_arena_strdup(c->a, "mesh");
		ng = 1;
	}
	for (size_t i = 0; i < vh->ngateways; i++) {
		const char *g = vh->gateways[i];
		if (!strcmp(g, "mesh")) {
			vh->mesh = true;
			gws[i] = sl_arena_strdup(c->a, "mesh");
			continue;
		}
		other = true;
		const char *slash = strchr(g, '/');
		char *gns = slash ? sl_arena_strndup(c->a, g, (size_t)(slash - g)) : vh->ns;
		const char *gname = slash ? slash + 1 : g;
		gws[i] = sl_arena_printf(c->a, "%s/%s", gns, gname);
		if (!gws[i])
			return -ENOMEM;
		int gi = find_gateway(m, gns, gname);
		if (gi < 0) {
			err_at(c, PL_E_GATEWAY, vs->gw_pos[i], "gateway %s not found", gws[i]);
			continue;
		}
		for (size_t h = 0; h < vh->nhosts; h++) {
			char *fq = pl_fqdn(c->a, vh->hosts[h], vh->ns);
			if (!fq)
				return -ENOMEM;
			if (!gateway_serves(&m->gateways[gi], fq))
				warn_at(c, PL_W_GWNOHOST, vs->host_pos[h],
					"host %s is not among the hosts of gateway %s: no request for it "
					"reaches this VirtualService there", fq, gws[i]);
		}
	}
	vh->gateways = gws;
	vh->ngateways = ng;
	for (size_t i = 0; i < vh->nhosts; i++) {
		char *fq = pl_fqdn(c->a, vh->hosts[i], vh->ns);
		if (!fq)
			return -ENOMEM;
		vh->hosts[i] = fq;
		if (!vh->mesh)
			continue;
		if (strchr(fq, '*')) {
			if (!other)
				err_at(c, PL_E_UNSUP, vs->host_pos[i],
				       "wildcard host \"%s\" for the mesh is not supported yet", fq);
			continue;
		}
		int si = sl_model_find_service(m, fq);
		if (si < 0) {
			if (other)
				warn_at(c, PL_W_GWHOST, vs->host_pos[i],
					"host %s is not in the registry: routed on gateways only", fq);
			else
				err_at(c, PL_E_HOST, vs->host_pos[i],
				       "host %s not found (no ServiceEntry defines it)", fq);
			continue;
		}
		struct sl_service *s = &m->services[si];
		if (s->vhost >= 0) {
			const struct sl_vhost *o = &c->vs[s->vhost].vh;
			err_at(c, PL_E_DUPVS, vs->host_pos[i],
			       "host %s already has mesh VirtualService %s/%s; Sluice rejects a second one "
			       "(Istio would silently keep the oldest)", fq, o->ns, o->name);
			continue;
		}
		s->vhost = (int)vi;
		bool http = false;
		for (size_t j = 0; j < s->nports; j++)
			http |= sl_proto_is_http(s->ports[j].proto);
		if (vh->nhttp && !http)
			warn_at(c, PL_W_HTTPTCP, vs->host_pos[i],
				"service %s has no HTTP port: the http routes are never used for it "
				"(use tcp routes or an HTTP/HTTP2/GRPC port)", fq);
	}
	if (resolve_routes(c, m, vs, vs->http, vh->http, vh->nhttp, "http") ||
	    resolve_routes(c, m, vs, vs->tcp, vh->tcp, vh->ntcp, "tcp") ||
	    resolve_routes(c, m, vs, vs->tls, vh->tls, vh->ntls, "tls"))
		return -ENOMEM;
	return 0;
}

static int bind_gateways(struct pl_ctx *c, struct sl_model *m)
{
	for (size_t g = 0; g < m->ngateways; g++) {
		struct sl_gateway *gw = &m->gateways[g];
		char *key = sl_arena_printf(c->a, "%s/%s", gw->ns, gw->name);
		gw->vhosts = sl_arena_calloc(c->a, m->nvhosts + 1, sizeof(size_t));
		if (!key || !gw->vhosts)
			return -ENOMEM;
		for (size_t v = 0; v < m->nvhosts; v++) {
			const struct sl_vhost *vh = &m->vhosts[v];
			for (size_t i = 0; i < vh->ngateways; i++) {
				if (!strcmp(vh->gateways[i], key)) {
					gw->vhosts[gw->nvhosts++] = v;
					break;
				}
			}
		}
	}
	return 0;
}

/* Sort a raw array and copy it into the arena (the raw one is freed later). */
static int copy_sorted(struct pl_ctx *c, void **dst, size_t *ndst, void *src, size_t n,
		       size_t sz, int (*cmp)(const void *, const void *))
{
	if (n)
		qsort(src, n, sz, cmp);
	*dst = sl_arena_calloc(c->a, n + 1, sz);
	if (!*dst)
		return -ENOMEM;
	if (n)
		memcpy(*dst, src, n * sz);
	*ndst = n;
	return 0;
}

/* Which Sidecar scopes each workload's egress (Istio's precedence): one of
 * its namespace with a workloadSelector that selects it, else its
 * namespace's Sidecar without selector, else the root namespace's (found
 * at use: sl_sidecar_of). Two candidates at one level are an error, as
 * Istio leaves that case undefined. */
static void resolve_sidecars(struct pl_ctx *c, struct sl_model *m)
{
	m->default_sidecar = -1;
	for (size_t i = 0; i < m->nsidecars; i++) {
		const struct sl_sidecar *s = &m->sidecars[i];

		if (s->has_selector)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct sl_sidecar *o = &m->sidecars[j];
			if (!o->has_selector && !strcmp(o->ns, s->ns))
				err_at(c, PL_E_DUPSIDECAR, s->pos, "namespace %s has two Sidecars without "
				       "workloadSelector: %s and %s (at %s:%d:%d)", s->ns, s->name,
				       o->name, o->pos.file, o->pos.line, o->pos.col);
		}
		if (!strcmp(s->ns, SL_ROOT_NS))
			m->default_sidecar = (int)i;
	}
	for (size_t w = 0; w < m->nworkloads; w++) {
		struct sl_workload *wl = &m->workloads[w];
		int ns_wide = -1, sel = -1;

		for (size_t i = 0; i < m->nsidecars; i++) {
			const struct sl_sidecar *s = &m->sidecars[i];

			if (strcmp(s->ns, wl->ns))
				continue;
			if (!s->has_selector) {
				ns_wide = (int)i;
			} else if (sl_labels_select(&s->selector, &wl->labels)) {
				if (sel >= 0) {
					const struct sl_sidecar *o = &m->sidecars[sel];
					err_at(c, PL_E_DUPSIDECAR, s->pos, "WorkloadEntry %s/%s is selected "
					       "by two Sidecars: %s and %s (at %s:%d:%d)", wl->ns, wl->name,
					       s->name, o->name, o->pos.file, o->pos.line, o->pos.col);
				}
				sel = (int)i;
			}
		}
		wl->sidecar = sel >= 0 ? sel : ns_wide;
	}
}

/* The raw arrays in c stay owned by c (freed by the loader); everything the
 * model points to is copied into or already lives in the arena. */
int pl_resolve(struct pl_ctx *c, struct sl_model *m)
{
	if (copy_sorted(c, (void **)&m->objects, &m->nobjects, c->obj, c->nobj,
			sizeof(*c->obj), obj_cmp))
		return -ENOMEM;
	for (size_t i = 1; i < m->nobjects; i++) {
		struct sl_object *a = &m->objects[i - 1], *b = &m->objects[i];
		if (!strcmp(a->kind, b->kind) && !nsname_cmp(a->ns, a->name, b->ns, b->name))
			err_at(c, PL_E_DUPOBJ, b->pos, "duplicate %s %s/%s (first at %s:%d:%d)",
			       b->kind, b->ns, b->name, a->pos.file, a->pos.line, a->pos.col);
	}
	if (c->d->nerrors)
		return 0;
	if (pl_k8s_pod_workloads(c))
		return -ENOMEM;
	if (copy_sorted(c, (void **)&m->workloads, &m->nworkloads, c->we, c->nwe,
			sizeof(*c->we), we_cmp) ||
	    copy_sorted(c, (void **)&m->gateways, &m->ngateways, c->gw, c->ngw,
			sizeof(*c->gw), gw_cmp) ||
	    copy_sorted(c, (void **)&m->sidecars, &m->nsidecars, c->sc, c->nsc,
			sizeof(*c->sc), sc_cmp))
		return -ENOMEM;
	resolve_sidecars(c, m);
	if (pl_resolve_k8s(c) || check_vips(c) || build_services(c, m) || attach_rules(c, m))
		return -ENOMEM;
	if (c->nvs)
		qsort(c->vs, c->nvs, sizeof(*c->vs), vs_cmp);
	for (size_t i = 0; i < c->nvs; i++)
		if (resolve_vhost(c, m, i))
			return -ENOMEM;
	m->vhosts = sl_arena_calloc(c->a, c->nvs + 1, sizeof(*m->vhosts));
	if (!m->vhosts)
		return -ENOMEM;
	for (size_t i = 0; i < c->nvs; i++)
		m->vhosts[i] = c->vs[i].vh;
	m->nvhosts = c->nvs;
	if (bind_gateways(c, m) || pl_resolve_gateway_tcp(c, m) ||
	    pl_check_gateway_tls(c, m) || pl_check_tls_routes(c, m))
		return -ENOMEM;
	m->outbound = c->mesh_set ? c->mesh_mode : SL_OUTBOUND_ALLOW_ANY;
	return 0;
}
