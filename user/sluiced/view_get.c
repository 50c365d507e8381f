// SPDX-License-Identifier: Apache-2.0
/*
 * `sluicectl get services|routes|endpoints|workloads [NAME] [-n NS]`: the
 * live compiled model, as the daemon holds it, in the record form of view.h
 * (text lines for the table, the same as data for -o json|yaml).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sluiced.h"
#include "view.h"

/* A filter: NAME (empty = any) and namespace (empty = any). */
struct get_filter {
	const char *name, *ns;
};

static bool ns_ok(const struct get_filter *g, const char *ns)
{
	return !g->ns[0] || (ns && !strcmp(ns, g->ns));
}

/* no NAME, or the host or its leading labels */
static bool host_ok(const char *want, const char *host)
{
	return !want[0] || sl_host_named(host, want);
}

static void add_labels(struct vfield *f, const struct sl_labels *l)
{
	struct vrec *it;
	size_t i;

	f->map = true;
	it = vf_item(f);
	for (i = 0; i < l->n; i++) {
		vf_add(f, "%s=%s", l->v[i].key, l->v[i].value);
		vf_str(it, l->v[i].key, "%s", l->v[i].value);
	}
}

static const char *res_name(enum sl_resolution r)
{
	return r == SL_RES_STATIC ? "STATIC" : r == SL_RES_DNS ? "DNS" : "NONE";
}

static void get_services(const struct sl_model *m, struct vtable *t,
			 const struct get_filter *gf)
{
	size_t i, j;

	for (i = 0; i < m->nservices; i++) {
		const struct sl_service *s = &m->services[i];
		struct vrec *r, *it;
		struct vfield *f;
		char ip[64];

		if (!ns_ok(gf, s->ns) ||
		    !(host_ok(gf->name, s->host) || (s->name && !strcmp(gf->name, s->name))))
			continue;
		r = vt_rec(t);
		vf_str(r, "host", "%s", s->host);
		vf_str(r, "name", "%s", s->name ? s->name : "");
		vf_str(r, "namespace", "%s", s->ns ? s->ns : "");
		f = vf_list(r, "vips");
		for (j = 0; j < s->nvips; j++) {
			view_addr(s->vips[j].addr, ip, sizeof(ip));
			vf_add(f, "%s", ip);
		}
		f = vf_list(r, "ports");
		for (j = 0; j < s->nports; j++) {
			vf_add(f, "%u/%s", s->ports[j].number, sl_proto_name(s->ports[j].proto));
			it = vf_item(f);
			vf_num(it, "number", s->ports[j].number);
			vf_str(it, "name", "%s", s->ports[j].name ? s->ports[j].name : "");
			vf_str(it, "protocol", "%s", sl_proto_name(s->ports[j].proto));
		}
		vf_str(r, "resolution", "%s", res_name(s->resolution));
		vf_num(r, "endpoints", s->nendpoints);
		f = vf_list(r, "subsets");
		for (j = 0; j < s->nsubsets; j++) {
			vf_add(f, "%s(%zu)", s->subsets[j].name, s->subsets[j].nendpoints);
			it = vf_item(f);
			vf_str(it, "name", "%s", s->subsets[j].name);
			vf_num(it, "endpoints", s->subsets[j].nendpoints);
		}
		if (s->vhost >= 0 && (size_t)s->vhost < m->nvhosts)
			vf_str(r, "virtualservice", "%s/%s", m->vhosts[s->vhost].ns,
			       m->vhosts[s->vhost].name);
		else
			vf_str(r, "virtualservice", "%s", "");
	}
	/* Gateway TCP servers are L4 services too (at bind:port): listed so
	 * that every VIP the data plane steers shows up here. */
	for (i = 0; i < m->ngateways; i++) {
		const struct sl_gateway *g = &m->gateways[i];

		for (j = 0; j < g->nservers; j++) {
			const struct sl_gateway_server *gs = &g->servers[j];
			struct vrec *r;
			struct vfield *f;
			char ip[64];

			struct vrec *it;

			if (gs->proto != SL_PROTO_TCP || !gs->bind_address)
				continue;
			if (!ns_ok(gf, g->ns) || (gf->name[0] && strcmp(gf->name, g->name)))
				continue;
			r = vt_rec(t);
			vf_str(r, "host", "gateway %s/%s", g->ns, g->name);
			vf_str(r, "name", "%s", g->name);
			vf_str(r, "namespace", "%s", g->ns);
			f = vf_list(r, "vips");
			view_addr(gs->bind.addr, ip, sizeof(ip));
			vf_add(f, "%s", ip);
			f = vf_list(r, "ports");
			vf_add(f, "%u/%s", gs->port, sl_proto_name(gs->proto));
			it = vf_item(f);
			vf_num(it, "number", gs->port);
			vf_str(it, "name", "%s", gs->port_name ? gs->port_name : "");
			vf_str(it, "protocol", "%s", sl_proto_name(gs->proto));
			vf_str(r, "resolution", "%s", "");
			vf_num(r, "endpoints", 0);
			vf_list(r, "subsets");
			if (gs->tcp_vhost >= 0 && (size_t)gs->tcp_vhost < m->nvhosts)
				vf_str(r, "virtualservice", "%s/%s", m->vhosts[gs->tcp_vhost].ns,
				       m->vhosts[gs->tcp_vhost].name);
			else
				vf_str(r, "virtualservice", "%s", "(none: not programmed)");
		}
	}
}

/* One match condition: text "uri^=/api" and {field, match, value}. */
static void cond(struct vfield *f, const char *field, const char *match, const char *value,
		 const char *text_op)
{
	struct vrec *it;

	vf_add(f, "%s%s%s", field, text_op, value);
	it = vf_item(f);
	vf_str(it, "field", "%s", field);
	vf_str(it, "match", "%s", match);
	vf_str(it, "value", "%s", value);
}

static void strmatch_text(struct vfield *f, const char *what, const struct sl_strmatch *sm)
{
	static const char *op[] = { "", "=", "^=", "~" };
	static const char *name[] = { "", "exact", "prefix", "regex" };

	if (sm->kind >= SL_STR_EXACT && sm->kind <= SL_STR_REGEX)
		cond(f, what, name[sm->kind], sm->value ? sm->value : "", op[sm->kind]);
}

static void match_text(const struct sl_model *m, struct vfield *f, const struct sl_match *mt)
{
	size_t k;

	strmatch_text(f, "uri", &mt->uri);
	strmatch_text(f, "method", &mt->method);
	strmatch_text(f, "authority", &mt->authority);
	char port[8];

	for (k = 0; k < mt->nheaders; k++) {
		if (mt->headers[k].m.kind)
			strmatch_text(f, mt->headers[k].name, &mt->headers[k].m);
		else
			cond(f, mt->headers[k].name, "present", "", "(present)");
	}
	for (k = 0; k < mt->nquery; k++)
		strmatch_text(f, mt->query[k].name, &mt->query[k].m);
	for (k = 0; k < mt->nsni_hosts; k++)	/* tls routes */
		cond(f, "sni", mt->sni_hosts[k][0] == '*' ? "wildcard" : "exact",
		     mt->sni_hosts[k], "=");
	if (mt->port) {
		snprintf(port, sizeof(port), "%u", mt->port);
		cond(f, "port", "exact", port, "=");
	}
	if (mt->has_source_labels) {
		for (k = 0; k < mt->source_labels.n; k++) {
			char field[256];

			snprintf(field, sizeof(field), "source:%s", mt->source_labels.v[k].key);
			cond(f, field, "exact", mt->source_labels.v[k].value, "=");
		}
		for (k = 0; k < mt->nsource_workloads; k++)
			if (mt->source_workloads[k] < m->nworkloads)
				cond(f, "workload", "resolved",
				     m->workloads[mt->source_workloads[k]].name, ":");
	}
}

static void route_rec(const struct sl_model *m, struct vtable *t, const struct sl_vhost *v,
		      const char *kind, size_t idx, const struct sl_route *rt)
{
	struct vrec *r = vt_rec(t);
	struct vfield *f;
	size_t j;

	vf_str(r, "virtualservice", "%s/%s", v->ns, v->name);
	vf_str(r, "namespace", "%s", v->ns);
	vf_str(r, "kind", "%s", kind);
	vf_num(r, "index", idx);
	vf_str(r, "name", "%s", rt->name ? rt->name : "");
	f = vf_list(r, "match");
	for (j = 0; j < rt->nmatches; j++)
		match_text(m, f, &rt->matches[j]);
	f = vf_list(r, "destinations");
	for (j = 0; j < rt->ndests; j++) {
		const struct sl_dest *ds = &rt->dests[j];
		const struct sl_service *s = ds->service < m->nservices ? &m->services[ds->service] : NULL;
		const char *sub = s && ds->subset >= 0 && (size_t)ds->subset < s->nsubsets ?
			s->subsets[ds->subset].name : "*";

		struct vrec *it;

		vf_add(f, "%s/%s %.4g%%", s ? s->host : "?", sub,
		       (double)ds->weight * 100.0 / SL_WEIGHT_TOTAL);
		it = vf_item(f);
		vf_str(it, "host", "%s", s ? s->host : "");
		vf_str(it, "subset", "%s", sub[0] == '*' ? "" : sub);
		vf_num(it, "port", ds->port);
		vf_real(it, "weight", (double)ds->weight * 100.0 / SL_WEIGHT_TOTAL);
	}
}

static void get_routes(const struct sl_model *m, struct vtable *t, const struct get_filter *g)
{
	size_t i, j;

	for (i = 0; i < m->nvhosts; i++) {
		const struct sl_vhost *v = &m->vhosts[i];

		if (!ns_ok(g, v->ns) || (g->name[0] && strcmp(g->name, v->name)))
			continue;
		for (j = 0; j < v->ntcp; j++)
			route_rec(m, t, v, "tcp", j, &v->tcp[j]);
		for (j = 0; j < v->nhttp; j++)
			route_rec(m, t, v, "http", j, &v->http[j]);
		for (j = 0; j < v->ntls; j++)
			route_rec(m, t, v, "tls", j, &v->tls[j]);
	}
}

static void get_endpoints(const struct sl_model *m, struct vtable *t, const struct get_filter *g)
{
	size_t i, j, k, l;

	for (i = 0; i < m->nservices; i++) {
		const struct sl_service *s = &m->services[i];

		if (!ns_ok(g, s->ns) || !host_ok(g->name, s->host))
			continue;
		for (j = 0; j < s->nendpoints; j++) {
			const struct sl_endpoint *e = &s->endpoints[j];
			struct vrec *r = vt_rec(t);
			struct vfield *f;
			char ip[64];

			vf_str(r, "service", "%s", s->host);
			view_addr(e->ip.addr, ip, sizeof(ip));
			vf_str(r, "address", "%s", ip);
			f = vf_map(r, "ports");
			for (k = 0; k < e->nports; k++) {
				vf_add(f, "%s=%u", e->ports[k].name, e->ports[k].number);
				vf_num(vf_item(f), e->ports[k].name, e->ports[k].number);
			}
			f = vf_list(r, "labels");
			add_labels(f, &e->labels);
			f = vf_list(r, "subsets");
			for (k = 0; k < s->nsubsets; k++)
				for (l = 0; l < s->subsets[k].nendpoints; l++)
					if (s->subsets[k].endpoints[l] == j)
						vf_add(f, "%s", s->subsets[k].name);
			vf_num(r, "weight", e->weight);
			if (e->workload >= 0 && (size_t)e->workload < m->nworkloads)
				vf_str(r, "workload", "%s/%s", m->workloads[e->workload].ns,
				       m->workloads[e->workload].name);
			else
				vf_str(r, "workload", "%s", "");
		}
	}
}

static void get_workloads(const struct sl_model *m, struct vtable *t, const struct get_filter *g)
{
	size_t i;

	for (i = 0; i < m->nworkloads; i++) {
		const struct sl_workload *w = &m->workloads[i];
		struct vrec *r;
		char ip[64];

		if (!ns_ok(g, w->ns) || (g->name[0] && strcmp(g->name, w->name)))
			continue;
		r = vt_rec(t);
		vf_str(r, "name", "%s", w->name);
		vf_str(r, "namespace", "%s", w->ns);
		view_addr(w->ip.addr, ip, sizeof(ip));
		vf_str(r, "address", "%s", w->address ? ip : "");
		add_labels(vf_list(r, "labels"), &w->labels);
		vf_str(r, "cgroup", "%s", w->cgroup ? w->cgroup : "");
	}
}

/* Every object of the desired state with the source that owns it and the
 * file and line it came from. */
static void get_objects(const struct sluiced *d, struct vtable *t, const struct get_filter *g)
{
	const struct sl_model *m = d->model;
	struct sl_snap_map map = { 0 };
	char *text = NULL;
	size_t len = 0, i;

	if (sl_snap_build(d->parts, d->nparts, NULL, &text, &len, &map))
		return;
	for (i = 0; i < m->nobjects; i++) {
		const struct sl_object *o = &m->objects[i];
		size_t line = 0;
		int part = o->pos.line > 0 ? sl_snap_locate(&map, (size_t)o->pos.line, &line) : -1;
		struct vrec *r;

		if (!ns_ok(g, o->ns) || (g->name[0] && strcmp(g->name, o->name)))
			continue;
		r = vt_rec(t);
		vf_str(r, "kind", "%s", o->kind);
		vf_str(r, "namespace", "%s", o->ns);
		vf_str(r, "name", "%s", o->name);
		vf_str(r, "source", "%s", part < 0 ? "" : d->parts[part].from[0] ?
			d->parts[part].from : sluiced_source_name(d->source));
		if (part >= 0)
			vf_str(r, "file", "%s:%zu", d->parts[part].name, line);
		else
			vf_str(r, "file", "%s", "");
	}
	sl_snap_map_free(&map);
	free(text);
}

int view_get(const struct sluiced *d, const char *what, const char *name, const char *ns,
	     enum view_fmt f, FILE *out)
{
	struct get_filter g = { .name = name ? name : "", .ns = ns ? ns : "" };
	const struct sl_model *m = d->model;
	struct vtable t = { 0 };

	if (!strcmp(what, "services") || !strcmp(what, "service") || !strcmp(what, "svc")) {
		if (m)
			get_services(m, &t, &g);
	} else if (!strcmp(what, "routes") || !strcmp(what, "route")) {
		if (m)
			get_routes(m, &t, &g);
	} else if (!strcmp(what, "endpoints") || !strcmp(what, "endpoint") || !strcmp(what, "ep")) {
		if (m)
			get_endpoints(m, &t, &g);
	} else if (!strcmp(what, "workloads") || !strcmp(what, "workload")) {
		if (m)
			get_workloads(m, &t, &g);
	} else if (!strcmp(what, "objects") || !strcmp(what, "object")) {
		if (m)
			get_objects(d, &t, &g);
	} else {
		fprintf(out, "get: unknown kind \"%s\" (services, routes, endpoints, workloads, "
			"objects)\n", what);
		return -EINVAL;
	}
	/* a name that matches nothing is an error, as kubectl's NotFound */
	if (g.name[0] && !t.n) {
		fprintf(out, "get: %s \"%s\"%s%s not found\n", what, g.name, g.ns[0] ? " in namespace " : "",
			g.ns);
		vt_free(&t);
		return -ENOENT;
	}
	vt_render(&t, f, false, out);
	vt_free(&t);
	return 0;
}
