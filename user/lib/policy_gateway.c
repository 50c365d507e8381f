// SPDX-License-Identifier: Apache-2.0
/*
 * Gateway TCP servers. A Gateway server with port.protocol TCP and bind (its
 * VIP) becomes an L4 service at (bind, port.number), routed by the tcp routes
 * of the VirtualServices bound to the gateway, as Istio's gateway does: a
 * VirtualService applies when one of its hosts matches one of the server's
 * hosts, and its first tcp route whose match port is absent or the server
 * port serves the connection. Here, after the VirtualServices are resolved,
 * each server gets that VirtualService (sl_gateway_server.tcp_vhost) and the
 * checks a gateway needs beyond a mesh route's; compile_l4.c then compiles
 * the routes by the same code as a mesh service's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "lib/policy_int.h"

/* Does route r serve connections to port (a match without port, or with
 * this one; no match at all matches every port)? */
static bool route_serves_port(const struct sl_route *r, uint16_t port)
{
	if (r->nmatches == 0)
		return true;
	for (size_t i = 0; i < r->nmatches; i++)
		if (!r->matches[i].port || r->matches[i].port == port)
			return true;
	return false;
}

/* Istio matches both ways: a VS host under a server pattern (server "*",
 * VS "a.example.com") and a VS pattern over a server host (VS "*.example.com",
 * server "a.example.com"). */
static bool vhost_on_server(const struct sl_vhost *vh, const struct sl_gateway_server *sv)
{
	struct sl_gateway_server vs_side = { .hosts = vh->hosts, .nhosts = vh->nhosts };

	for (size_t h = 0; h < vh->nhosts; h++)
		if (pl_server_serves(sv, vh->hosts[h]))
			return true;
	for (size_t h = 0; h < sv->nhosts; h++)
		if (pl_server_serves(&vs_side, sv->hosts[h]))
			return true;
	return false;
}

static bool vhost_tcp_for(const struct sl_vhost *vh, uint16_t port)
{
	for (size_t i = 0; i < vh->ntcp; i++)
		if (route_serves_port(&vh->tcp[i], port))
			return true;
	return false;
}

static const char *ip_str(const struct sl_ip *ip, char *buf, size_t len)
{
	if (ip->family == AF_INET)
		inet_ntop(AF_INET, &ip->addr[12], buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, ip->addr, buf, (socklen_t)len);
	return buf;
}

struct claim {
	uint8_t addr[16];
	uint16_t port;
	int kind;		/* 0 = ServiceEntry, 1 = gateway server */
	size_t a, b;		/* se index; or gateway index, server index */
};

static int claim_cmp(const void *pa, const void *pb)
{
	const struct claim *x = pa, *y = pb;
	int c = memcmp(x->addr, y->addr, 16);

	if (c)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind - y->kind;
	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	return x->b < y->b ? -1 : (x->b > y->b);
}

/* The data plane keys services by (address, port): a gateway TCP server
 * whose bind:port a ServiceEntry or another gateway server already claims
 * would make the choice arbitrary. Reported at the later gateway's bind;
 * ServiceEntry against ServiceEntry is check_vips' (policy_resolve.c). */
static int check_claims(struct pl_ctx *c, struct sl_model *m)
{
	size_t n = 0, k = 0;

	for (size_t i = 0; i < c->nse; i++)
		n += c->se[i].t.nvips * c->se[i].t.nports;
	for (size_t g = 0; g < m->ngateways; g++)
		for (size_t s = 0; s < m->gateways[g].nservers; s++)
			n += m->gateways[g].servers[s].bind.family != 0;
	struct claim *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < c->nse; i++)
		for (size_t a = 0; a < c->se[i].t.nvips; a++)
			for (size_t p = 0; p < c->se[i].t.nports; p++) {
				memcpy(v[k].addr, c->se[i].t.vips[a].addr, 16);
				v[k].port = c->se[i].t.ports[p].number;
				v[k].kind = 0;
				v[k++].a = i;
			}
	for (size_t g = 0; g < m->ngateways; g++)
		for (size_t s = 0; s < m->gateways[g].nservers; s++) {
			const struct sl_gateway_server *sv = &m->gateways[g].servers[s];
			if (!sv->bind.family)
				continue;
			memcpy(v[k].addr, sv->bind.addr, 16);
			v[k].port = sv->port;
			v[k].kind = 1;
			v[k].a = g;
			v[k++].b = s;
		}
	qsort(v, n, sizeof(*v), claim_cmp);
	for (size_t i = 1, first = 0; i < n; i++) {
		if (memcmp(v[i].addr, v[first].addr, 16) || v[i].port != v[first].port) {
			first = i;
			continue;
		}
		if (v[i].kind != 1)
			continue;
		struct sl_gateway *gw = &m->gateways[v[i].a];
		struct sl_gateway_server *sv = &gw->servers[v[i].b];
		const struct claim *f = &v[first];
		char ip[INET6_ADDRSTRLEN];
		ip_str(&sv->bind, ip, sizeof(ip));
		if (f->kind == 0)
			sl_diag_add(c->d, SL_SEV_ERROR, PL_E_GWVIP, sv->bind_pos,
				    "gateway %s/%s: bind %s port %u is already the address and port of "
				    "ServiceEntry %s/%s", gw->ns, gw->name, ip, sv->port,
				    c->se[f->a].t.ns, c->se[f->a].t.name);
		else
			sl_diag_add(c->d, SL_SEV_ERROR, PL_E_GWVIP, sv->bind_pos,
				    "gateway %s/%s: bind %s port %u is already served by gateway %s/%s "
				    "(server at line %d)", gw->ns, gw->name, ip, sv->port,
				    m->gateways[f->a].ns, m->gateways[f->a].name,
				    m->gateways[f->a].servers[f->b].pos.line);
		sv->bind.family = 0;	/* not programmed; no further messages */
	}
	free(v);
	return 0;
}

/* What a route needs at a gateway beyond a mesh route: no sourceLabels
 * (at a gateway Istio does not match them against the client; Sluice
 * refuses rather than guess) and a destination port the service has:
 * destination.port, else the service's only port, else the server port
 * (Istio's rule for destinations without a port). */
static int check_route(struct pl_ctx *c, struct sl_model *m, const struct pl_vs *vs,
		       const struct pl_route *pr, const struct sl_gateway *gw,
		       const struct sl_gateway_server *sv)
{
	const struct sl_route *r = &pr->r;

	for (size_t i = 0; i < r->nmatches; i++) {
		const struct sl_match *mt = &r->matches[i];
		if (mt->port && mt->port != sv->port)
			continue;
		if (mt->has_source_labels)
			sl_diag_add(c->d, SL_SEV_ERROR, PL_E_UNSUP,
				    pr->src_pos ? pr->src_pos[i] : mt->pos,
				    "sourceLabels in a tcp route serving gateway %s/%s port %u are not "
				    "supported yet (a gateway's client has no workload labels)",
				    gw->ns, gw->name, sv->port);
	}
	for (size_t i = 0; i < pr->ndests; i++)
		if (!pr->dests[i].port &&	/* with a port: checked in resolve */
		    pl_dest_port_ok(c, m, vs, &pr->dests[i], gw, sv) < 0)
			return -ENOMEM;
	return 0;
}

int pl_dest_port_ok(struct pl_ctx *c, const struct sl_model *m, const struct pl_vs *vs,
		    const struct pl_dest *d, const struct sl_gateway *gw,
		    const struct sl_gateway_server *sv)
{
	char *fq = pl_fqdn(c->a, d->host ? d->host : "", vs->vh.ns);
	int si = fq ? sl_model_find_service(m, fq) : -1;

	if (!fq)
		return -ENOMEM;
	if (si < 0)
		return 1;	/* reported by resolve */
	const struct sl_service *s = &m->services[si];
	bool on = s->nports == 1;
	for (size_t p = 0; !on && p < s->nports; p++)
		on = s->ports[p].number == sv->port;
	if (on)
		return 1;
	sl_diag_add(c->d, SL_SEV_ERROR, PL_E_DPORT, d->host_pos,
		    "destination %s has no port and the service has %zu ports, none of them "
		    "gateway %s/%s's %sserver port %u: give destination.port", fq, s->nports,
		    gw->ns, gw->name, sl_gw_server_is_passthrough(sv) ? "passthrough " : "",
		    sv->port);
	return 0;
}

/* Pick the bound VirtualService serving server sv of gateway gw (index g).
 * Two candidates is an error: Istio would merge them in creation order,
 * which Sluice does not have. None is a warning: not programmed. */
static int pick_vhost(struct pl_ctx *c, struct sl_model *m, struct sl_gateway *gw,
		      struct sl_gateway_server *sv)
{
	char ip[INET6_ADDRSTRLEN];

	ip_str(&sv->bind, ip, sizeof(ip));
	for (size_t i = 0; i < gw->nvhosts; i++) {
		size_t vi = gw->vhosts[i];
		const struct sl_vhost *vh = &m->vhosts[vi];
		if (!vhost_on_server(vh, sv) || !vhost_tcp_for(vh, sv->port))
			continue;
		const struct pl_vs *vs = &c->vs[vi];
		size_t first = 0;
		while (!route_serves_port(&vh->tcp[first], sv->port))
			first++;
		if (sv->tcp_vhost >= 0) {
			const struct sl_vhost *o = &m->vhosts[sv->tcp_vhost];
			sl_diag_add(c->d, SL_SEV_ERROR, PL_E_GWTCPDUP, vh->tcp[first].pos,
				    "VirtualServices %s/%s and %s/%s both give tcp routes for gateway "
				    "%s/%s server %s port %u; Istio would merge them unpredictably: keep "
				    "them in one VirtualService, or set match.port to different servers",
				    o->ns, o->name, vh->ns, vh->name, gw->ns, gw->name, ip, sv->port);
			continue;
		}
		sv->tcp_vhost = (int)vi;
		/* the first route for this port takes every connection (it
		 * has no sourceLabels, or is refused): only it is used */
		if (check_route(c, m, vs, &vs->tcp[first], gw, sv))
			return -ENOMEM;
	}
	if (sv->tcp_vhost < 0)
		sl_diag_add(c->d, SL_SEV_WARNING, PL_W_GWNOROUTE, sv->pos,
			    "gateway %s/%s TCP server %s port %u has no tcp route (no bound "
			    "VirtualService with hosts of this server and a tcp route for port %u): "
			    "not programmed, connections to it are not steered",
			    gw->ns, gw->name, ip, sv->port, sv->port);
	return 0;
}

int pl_resolve_gateway_tcp(struct pl_ctx *c, struct sl_model *m)
{
	if (check_claims(c, m))
		return -ENOMEM;
	for (size_t g = 0; g < m->ngateways; g++) {
		struct sl_gateway *gw = &m->gateways[g];
		for (size_t s = 0; s < gw->nservers; s++) {
			struct sl_gateway_server *sv = &gw->servers[s];
			if (sv->proto != SL_PROTO_TCP || !sv->bind.family)
				continue;
			if (pick_vhost(c, m, gw, sv))
				return -ENOMEM;
		}
	}
	return 0;
}
