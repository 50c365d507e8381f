/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Routing: which VirtualService, which http[] route, which destination, which
 * endpoint. Pure functions over the model and a request view, so the unit
 * tests and the fuzzer drive them without sockets.
 *
 * Subset choice by hash: when the destination service's DestinationRule
 * has a consistentHash load balancer and the request carries the key, the
 * key's hash is the draw point on the route's cumulative weights (so one
 * user always lands on one subset while many users split by the weights),
 * and a second, independent hash picks the endpoint inside the subset by
 * rendezvous (highest random weight) hashing: adding or ejecting one
 * endpoint only moves the users of that endpoint.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "http/hx.h"

/* ---- string matching ---------------------------------------------------- */

static __thread pcre2_match_data *tls_md;

bool hx_strmatch(const struct sl_strmatch *sm, const char *s, size_t len)
{
	size_t vl;
	int rc;

	switch (sm->kind) {
	case SL_STR_EXACT:
		vl = strlen(sm->value);
		if (vl != len)
			return false;
		return sm->ignore_case ? strncasecmp(sm->value, s, len) == 0 :
					 memcmp(sm->value, s, len) == 0;
	case SL_STR_PREFIX:
		vl = strlen(sm->value);
		if (vl > len)
			return false;
		return sm->ignore_case ? strncasecmp(sm->value, s, vl) == 0 :
					 memcmp(sm->value, s, vl) == 0;
	case SL_STR_REGEX:
		if (!sm->re)
			return false;
		if (!tls_md) {
			tls_md = pcre2_match_data_create(4, NULL);
			if (!tls_md)
				return false;
		}
		/* Istio regexes are full matches (RE2 semantics): the front-end
		 * compiles them anchored at both ends (and JIT-compiles them);
		 * match-time anchoring options would force the interpreter. */
		rc = pcre2_match(sm->re, (PCRE2_SPTR)s, len, 0, 0, tls_md, NULL);
		return rc >= 0;
	default:
		return true;	/* unset: presence only */
	}
}

const struct hx_hv *hx_rv_header(const struct hx_reqview *rv, const char *lname)
{
	size_t n = strlen(lname), i;

	for (i = 0; i < rv->nhdrs; i++)
		if (rv->hdrs[i].nlen == n && strncasecmp(rv->hdrs[i].name, lname, n) == 0)
			return &rv->hdrs[i];
	return NULL;
}

/* Istio host patterns: "*" any, "*.suffix" any name ending in ".suffix",
 * else exact; case-insensitive. host has its port already stripped. */
bool hx_host_match(const char *pattern, const char *host, size_t hlen)
{
	size_t pl = strlen(pattern);

	if (strcmp(pattern, "*") == 0)
		return true;
	if (pl >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		if (hlen < pl)	/* needs at least one char before the suffix */
			return false;
		return strncasecmp(host + hlen - (pl - 1), pattern + 1, pl - 1) == 0;
	}
	return pl == hlen && strncasecmp(pattern, host, hlen) == 0;
}

static const char *query_find(const struct hx_reqview *rv, const char *name, size_t *vlen)
{
	const char *q = rv->query, *end;
	size_t nl = strlen(name);

	if (!q)
		return NULL;	/* no query string (and NULL + 0 is undefined) */
	end = q + rv->query_len;
	while (q && q < end) {	/* q becomes NULL after the last pair */
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *e = amp ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(e - q));
		const char *ne = eq ? eq : e;

		if ((size_t)(ne - q) == nl && memcmp(q, name, nl) == 0) {
			*vlen = eq ? (size_t)(e - eq - 1) : 0;
			return eq ? eq + 1 : e;
		}
		q = amp ? amp + 1 : NULL;
	}
	return NULL;
}

static bool kv_header(const struct sl_kv_match *kv, const struct hx_reqview *rv)
{
	const struct hx_hv *h = hx_rv_header(rv, kv->name);

	if (!h)
		return false;
	return hx_strmatch(&kv->m, h->value, h->vlen);
}

static bool in_list(const size_t *v, size_t n, size_t x)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* All set fields of one HTTPMatchRequest must hold. */
bool hx_match_eval(const struct sl_match *mt, const struct hx_reqview *rv)
{
	size_t i, vl;
	const char *v;

	if (mt->ngateways) {
		const char *ctx = rv->gateway ? rv->gateway : "mesh";
		bool hit = false;

		for (i = 0; i < mt->ngateways && !hit; i++)
			hit = strcmp(mt->gateways[i], ctx) == 0;
		if (!hit)
			return false;
	}
	if (mt->uri.kind && !hx_strmatch(&mt->uri, rv->path, rv->path_len))
		return false;
	if (mt->method.kind && !hx_strmatch(&mt->method, rv->method, rv->method_len))
		return false;
	if (mt->authority.kind && !hx_strmatch(&mt->authority, rv->authority, rv->authority_len))
		return false;
	if (mt->scheme.kind && !hx_strmatch(&mt->scheme, "http", 4))
		return false;
	if (mt->port && mt->port != rv->port)
		return false;
	for (i = 0; i < mt->nheaders; i++)
		if (!kv_header(&mt->headers[i], rv))
			return false;
	for (i = 0; i < mt->nwithout_headers; i++)
		if (kv_header(&mt->without_headers[i], rv))
			return false;
	for (i = 0; i < mt->nquery; i++) {
		v = query_find(rv, mt->query[i].name, &vl);
		if (!v || !hx_strmatch(&mt->query[i].m, v, vl))
			return false;
	}
	if (mt->has_source_labels &&
	    (rv->workload < 0 ||
	     !in_list(mt->source_workloads, mt->nsource_workloads, (size_t)rv->workload)))
		return false;
	return true;
}

int hx_route_match(const struct sl_vhost *vh, const struct hx_reqview *rv)
{
	size_t r, k;

	for (r = 0; r < vh->nhttp; r++) {
		const struct sl_route *rt = &vh->http[r];

		if (rt->nmatches == 0)
			return (int)r;
		for (k = 0; k < rt->nmatches; k++)
			if (hx_match_eval(&rt->matches[k], rv))
				return (int)r;
	}
	return -1;
}

/* ---- entry points -------------------------------------------------------- */

static bool gw_serves(const struct sl_gateway *g, uint16_t port, const char *host, size_t hl)
{
	size_t s, h;

	for (s = 0; s < g->nservers; s++) {
		const struct sl_gateway_server *sv = &g->servers[s];

		if (sv->port != port || !sl_gw_server_is_http(sv))
			continue;
		for (h = 0; h < sv->nhosts; h++)
			if (hx_host_match(sv->hosts[h], host, hl))
				return true;
	}
	return false;
}

const struct sl_gateway_server *hx_gateway_server(const struct sl_model *m, uint16_t port,
						 const char *host, size_t hlen)
{
	for (size_t g = 0; g < m->ngateways; g++)
		for (size_t s = 0; s < m->gateways[g].nservers; s++) {
			const struct sl_gateway_server *sv = &m->gateways[g].servers[s];

			if (sv->port != port || !sl_gw_server_is_http(sv))
				continue;
			for (size_t h = 0; h < sv->nhosts; h++)
				if (hx_host_match(sv->hosts[h], host, hlen))
					return sv;
		}
	return NULL;
}

/* "ns/name" into buf, truncated to fit (snprintf's result, without its
 * cost on every request). */
static void gw_name(char *buf, size_t len, const struct sl_gateway *gw)
{
	const char *ns = gw->ns ? gw->ns : "", *nm = gw->name ? gw->name : "";
	size_t a = strlen(ns), b = strlen(nm), o = 0;

	if (a > len - 1)
		a = len - 1;
	memcpy(buf, ns, a);
	o = a;
	if (o < len - 1)
		buf[o++] = '/';
	if (b > len - 1 - o)
		b = len - 1 - o;
	memcpy(buf + o, nm, b);
	buf[o + b] = 0;
}

/* Gateways listening on `port` whose server hosts admit `host`, in model
 * order; the first bound VirtualService with a matching host wins. */
int hx_vhost_for_gateway(const struct sl_model *m, uint16_t port, const char *host,
			 size_t hlen, const char **gw_name_out, char *gwbuf, size_t gwbuflen)
{
	size_t g, i, h;

	for (g = 0; g < m->ngateways; g++) {
		const struct sl_gateway *gw = &m->gateways[g];

		if (!gw_serves(gw, port, host, hlen))
			continue;
		for (i = 0; i < gw->nvhosts; i++) {
			const struct sl_vhost *vh = &m->vhosts[gw->vhosts[i]];

			for (h = 0; h < vh->nhosts; h++) {
				if (!hx_host_match(vh->hosts[h], host, hlen))
					continue;
				if (gwbuf && gwbuflen) {
					gw_name(gwbuf, gwbuflen, gw);
					*gw_name_out = gwbuf;
				}
				return (int)gw->vhosts[i];
			}
		}
	}
	return -1;
}

/* Standalone mesh routing by Host: a VirtualService bound to the mesh whose
 * host is the Host value, or whose FQDN starts with "<Host>." (short names
 * as Kubernetes DNS search paths would resolve them). */
int hx_vhost_for_mesh_host(const struct sl_model *m, const char *host, size_t hlen)
{
	size_t v, h;

	if (hlen == 0)
		return -1;
	for (v = 0; v < m->nvhosts; v++) {
		const struct sl_vhost *vh = &m->vhosts[v];

		if (!vh->mesh)
			continue;
		for (h = 0; h < vh->nhosts; h++) {
			const char *p = vh->hosts[h];
			size_t pl = strlen(p);

			if (hx_host_match(p, host, hlen))
				return (int)v;
			if (pl > hlen && p[hlen] == '.' && strncasecmp(p, host, hlen) == 0)
				return (int)v;
		}
	}
	return -1;
}

int hx_service_for_vip(const struct sl_model *m, const uint8_t ip[16], uint16_t port)
{
	size_t s, i, p;

	for (s = 0; s < m->nservices; s++) {
		const struct sl_service *sv = &m->services[s];

		for (i = 0; i < sv->nvips; i++) {
			if (memcmp(sv->vips[i].addr, ip, 16) != 0)
				continue;
			for (p = 0; p < sv->nports; p++)
				if (sv->ports[p].number == port)
					return (int)s;
		}
	}
	return -1;
}

/* ---- hashing and weighted choice ---------------------------------------- */

/* 64-bit FNV-1a, then a murmur finaliser for avalanche. */
uint64_t hx_hash64(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *c = p;
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static const char *cookie_find(const struct hx_hv *h, const char *name, size_t *vlen)
{
	const char *c = h->value, *end = h->value + h->vlen;
	size_t nl = strlen(name);

	while (c < end) {
		const char *semi, *e, *eq;

		while (c < end && (*c == ' ' || *c == '\t'))
			c++;
		semi = memchr(c, ';', (size_t)(end - c));
		e = semi ? semi : end;
		eq = memchr(c, '=', (size_t)(e - c));
		if (eq && (size_t)(eq - c) == nl && memcmp(c, name, nl) == 0) {
			*vlen = (size_t)(e - eq - 1);
			return eq + 1;
		}
		if (!semi)
			break;
		c = semi + 1;
	}
	return NULL;
}

bool hx_hash_request(const struct sl_lb *lb, const struct hx_reqview *rv, uint64_t *out)
{
	const struct hx_hv *h;
	const char *v = NULL;
	size_t vl = 0;

	if (lb->kind != SL_LB_CONSISTENT_HASH)
		return false;
	switch (lb->hash) {
	case SL_HASH_HEADER:
		h = lb->hash_key ? hx_rv_header(rv, lb->hash_key) : NULL;
		if (h) {
			v = h->value;
			vl = h->vlen;
		}
		break;
	case SL_HASH_COOKIE:
		h = hx_rv_header(rv, "cookie");
		if (h && lb->hash_key)
			v = cookie_find(h, lb->hash_key, &vl);
		break;
	case SL_HASH_QUERY_PARAM:
		if (lb->hash_key)
			v = query_find(rv, lb->hash_key, &vl);
		break;
	case SL_HASH_SOURCE_IP:
		/* on the mesh path every local client comes from the node's
		 * address: its workload (when known) tells them apart */
		*out = hx_hash64(rv->src_ip, 16, rv->workload >= 0 ? (uint64_t)rv->workload + 1 : 0);
		return true;
	default:
		break;
	}
	if (!v)
		return false;
	*out = hx_hash64(v, vl, 0);
	return true;
}

static uint64_t dest_weight(const struct sl_route *r, size_t i, int mode)
{
	if (mode == 0)
		return r->dests[i].weight;
	if (mode == 1)
		return r->dests[i].weight_raw;
	return 1;
}

/* Weights: the normalised ones; if the front-end left them all 0 while raw
 * ones exist, the raw ones; if both are all 0 the route takes no traffic
 * (weight 0 means none) unless no weight was written at all (equal split). */
int hx_pick_dest(const struct sl_route *r, uint64_t pt)
{
	uint64_t total = 0, acc = 0, x;
	int mode;
	size_t i;

	if (r->ndests == 0)
		return -1;
	if (r->ndests == 1)
		return r->dests[0].weight || r->dests[0].weight_raw || r->weight_raw_total == 0 ? 0 : -1;
	for (mode = 0; mode < 3 && total == 0; mode++) {
		if (mode == 2 && r->weight_raw_total != 0)
			return -1;
		for (i = 0, total = 0; i < r->ndests; i++)
			total += dest_weight(r, i, mode);
		if (total)
			break;
	}
	if (total == 0)
		return -1;
	/* Map pt onto [0, total) with a multiply-shift: unbiased enough for
	 * totals far below 2^32 and the same pt gives the same answer. */
	x = (uint64_t)(((unsigned __int128)pt * total) >> 64);
	for (i = 0; i < r->ndests; i++) {
		acc += dest_weight(r, i, mode);
		if (x < acc)
			return (int)i;
	}
	return (int)r->ndests - 1;
}

/* ---- endpoints ------------------------------------------------------------ */

const struct sl_traffic_policy *hx_policy(const struct sl_model *m, size_t svc, int subset)
{
	const struct sl_service *s = &m->services[svc];

	if (subset >= 0 && (size_t)subset < s->nsubsets)
		return &s->subsets[subset].tp;
	return &s->tp;
}

static size_t subset_size(const struct sl_service *s, int subset)
{
	return subset >= 0 ? s->subsets[subset].nendpoints : s->nendpoints;
}

static size_t subset_ep(const struct sl_service *s, int subset, size_t i)
{
	return subset >= 0 ? s->subsets[subset].endpoints[i] : i;
}

static bool ep_ejected(struct hx_ep_state *e, uint64_t now)
{
	return __atomic_load_n(&e->ejected_until_ms, __ATOMIC_RELAXED) > now;
}

/*
 * Contract: see hx.h. Endpoint weights count for ROUND_ROBIN and RANDOM
 * (a cursor or random draw over the cumulative weights of the healthy
 * endpoints); LEAST_REQUEST is power-of-two choices on requests in flight.
 */
int hx_pick_endpoint(const struct sl_model *m, struct hx_svc_state *st, size_t svc,
		     int subset, bool has_hash, uint64_t hash, uint64_t rnd, uint64_t now_ms)
{
	const struct sl_service *s = &m->services[svc];
	const struct sl_traffic_policy *tp = hx_policy(m, svc, subset);
	struct hx_svc_state *ss = &st[svc];
	size_t n = subset_size(s, subset), i, best = (size_t)-1, healthy = 0;
	uint64_t total = 0, pt, acc = 0, bestscore = 0;
	int slot = subset >= 0 ? subset : (int)s->nsubsets;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		size_t e = subset_ep(s, subset, i);

		if (ep_ejected(&ss->eps[e], now_ms))
			continue;
		healthy++;
		total += s->endpoints[e].weight ? s->endpoints[e].weight : 1;
		if (has_hash) {
			uint64_t sc = hx_hash64(&e, sizeof(e), hash);

			if (best == (size_t)-1 || sc > bestscore) {
				bestscore = sc;
				best = e;
			}
		}
	}
	if (healthy == 0)
		return -1;
	if (has_hash)
		return (int)best;
	if (tp->lb.kind == SL_LB_LEAST_REQUEST && healthy > 1) {
		size_t a = (size_t)-1, b = (size_t)-1, k = 0, ia = rnd % healthy,
		       ib = (rnd >> 32) % healthy;

		for (i = 0; i < n; i++) {
			size_t e = subset_ep(s, subset, i);

			if (ep_ejected(&ss->eps[e], now_ms))
				continue;
			if (k == ia)
				a = e;
			if (k == ib)
				b = e;
			k++;
		}
		return __atomic_load_n(&ss->eps[a].active, __ATOMIC_RELAXED) <=
		       __atomic_load_n(&ss->eps[b].active, __ATOMIC_RELAXED) ? (int)a : (int)b;
	}
	if (tp->lb.kind == SL_LB_RANDOM)
		pt = rnd % total;
	else
		pt = __atomic_fetch_add(&ss->subsets[slot].rr, 1, __ATOMIC_RELAXED) % total;
	for (i = 0; i < n; i++) {
		size_t e = subset_ep(s, subset, i);

		if (ep_ejected(&ss->eps[e], now_ms))
			continue;
		acc += s->endpoints[e].weight ? s->endpoints[e].weight : 1;
		if (pt < acc)
			return (int)e;
	}
	return -1;
}

/*
 * Outlier detection (Envoy semantics, simplified): consecutive 5xx (any
 * 5xx, connect failures and timeouts count) or consecutive gateway errors
 * (502/503/504, connect failures, timeouts) reaching the threshold eject
 * the endpoint for baseEjectionTime x times-ejected, unless that would put
 * more than maxEjectionPercent of the subset out (at least one may go).
 * Defaults when outlierDetection is set without thresholds: 5 consecutive
 * 5xx, 30 s, 10%.
 */
void hx_outlier_report(const struct sl_model *m, struct hx_svc_state *st, size_t svc,
		       int subset, int ep, int status, uint64_t now_ms)
{
	const struct sl_service *s = &m->services[svc];
	const struct sl_outlier *o = &hx_policy(m, svc, subset)->outlier;
	struct hx_ep_state *e = &st[svc].eps[ep];
	uint32_t c5 = o->consecutive_5xx, cg = o->consecutive_gw, n5 = 0, ng = 0;
	bool gw = status == 0 || status == 502 || status == 503 || status == 504;
	bool x5 = status == 0 || status >= 500;

	if (!o->set)
		return;
	if (!c5 && !cg)
		c5 = 5;
	if (!x5) {
		__atomic_store_n(&e->consec_5xx, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&e->consec_gw, 0, __ATOMIC_RELAXED);
		return;
	}
	n5 = __atomic_add_fetch(&e->consec_5xx, 1, __ATOMIC_RELAXED);
	if (gw)
		ng = __atomic_add_fetch(&e->consec_gw, 1, __ATOMIC_RELAXED);
	if ((c5 && n5 >= c5) || (cg && ng >= cg)) {
		size_t n = subset_size(s, subset), i, out = 0, maxout;
		uint32_t pct = o->max_ejection_pct ? o->max_ejection_pct : 10;
		uint64_t base = o->base_ejection_ms ? o->base_ejection_ms : 30000;
		uint32_t times;

		for (i = 0; i < n; i++)
			out += ep_ejected(&st[svc].eps[subset_ep(s, subset, i)], now_ms);
		maxout = n * pct / 100;
		if (maxout == 0)
			maxout = 1;
		if (out >= maxout)
			return;
		times = __atomic_add_fetch(&e->nejections, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&e->ejected_until_ms, now_ms + base * (times > 10 ? 10 : times),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&e->consec_5xx, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&e->consec_gw, 0, __ATOMIC_RELAXED);
		/* sluiced logs the helper's stderr; metrics count it too */
		fprintf(stderr, "sluice-http: outlierDetection: ejected endpoint %s of %s for %llu s "
			"(%u consecutive %s; ejected %u time%s)\n",
			s->endpoints[ep].address ? s->endpoints[ep].address : "?", s->host,
			(unsigned long long)(base * (times > 10 ? 10 : times) / 1000),
			c5 && n5 >= c5 ? c5 : cg, c5 && n5 >= c5 ? "5xx" : "gateway errors", times,
			times == 1 ? "" : "s");
	}
}

uint16_t hx_service_port(const struct sl_service *s, uint16_t dest_port, uint16_t entry_port)
{
	size_t i;

	if (dest_port)
		return dest_port;
	for (i = 0; i < s->nports; i++)
		if (s->ports[i].number == entry_port)
			return entry_port;
	for (i = 0; i < s->nports; i++)
		if (sl_proto_is_http(s->ports[i].proto))
			return s->ports[i].number;
	return s->nports ? s->ports[0].number : entry_port;
}

bool hx_port_h2(const struct sl_service *s, uint16_t svc_port)
{
	for (size_t i = 0; i < s->nports; i++)
		if (s->ports[i].number == svc_port)
			return s->ports[i].proto == SL_PROTO_HTTP2 || s->ports[i].proto == SL_PROTO_GRPC;
	return false;
}

uint16_t hx_endpoint_port(const struct sl_service *s, const struct sl_endpoint *e,
			  uint16_t svc_port)
{
	const struct sl_port *sp = NULL;
	size_t i;

	for (i = 0; i < s->nports; i++)
		if (s->ports[i].number == svc_port)
			sp = &s->ports[i];
	if (sp && sp->name)
		for (i = 0; i < e->nports; i++)
			if (e->ports[i].name && strcmp(e->ports[i].name, sp->name) == 0)
				return e->ports[i].number;
	if (sp && sp->target_port)
		return sp->target_port;
	return svc_port;
}

/* ---- a request's verdict ------------------------------------------------ */

static bool draw_ppm(uint64_t *rng, uint32_t ppm)
{
	if (ppm == 0)
		return false;
	if (ppm >= 1000000)
		return true;
	return hx_rand_next(rng) % 1000000 < ppm;
}

static void verdict_reply(struct hx_verdict *v, int code, const char *reason)
{
	v->act = HX_ACT_REPLY;
	v->code = code;
	v->reason = reason;
}

/* The VirtualService and route for the request: a gateway's by port and
 * host, a mesh connection's by the VIP it dialled, else by Host. */
static void pick_route(const struct hx_snap *snap, const struct hx_entry *e,
		       struct hx_reqview *rv, const char *host, size_t hlen, struct hx_verdict *v)
{
	const struct sl_model *m = snap->m;
	const char *gw = NULL;
	int vi = -1, svc = -1, ri;
	size_t k;

	if (e->gateway) {
		vi = hx_vhost_for_gateway(m, e->port, host, hlen, &gw, v->gw, sizeof(v->gw));
	} else if (e->has_orig) {
		svc = hx_service_for_vip(m, e->vip, e->vip_port);
		if (svc >= 0)
			vi = m->services[svc].vhost;
	} else {
		vi = hx_vhost_for_mesh_host(m, host, hlen);
	}
	rv->gateway = gw;
	if (vi >= 0) {
		const struct sl_vhost *vh = &m->vhosts[vi];

		ri = hx_route_match(vh, rv);
		if (ri >= 0) {
			v->rt = &vh->http[ri];
			v->route_idx = ri;
			for (k = 0; k < v->rt->nmatches && !v->hit; k++)
				if (hx_match_eval(&v->rt->matches[k], rv))
					v->hit = &v->rt->matches[k];
		}
	} else if (svc >= 0) {
		/* no mesh VirtualService (sluice_svc sends such a service here
		 * when its DestinationRule asks for HTTP outlierDetection) */
		v->rt = &snap->svc[svc].dflt;
	}
	if (!v->rt && svc >= 0)
		v->svc = svc;
}

/* The draw point on the route's weights: the first destination's hash key
 * when its load balancer hashes and the request has the key (or a cookie is
 * minted for it), else a random draw. */
static uint64_t dest_point(const struct sl_model *m, const struct hx_reqview *rv,
			   uint64_t *rng, struct hx_verdict *v, uint64_t *hash)
{
	const struct sl_route *rt = v->rt;
	const struct sl_service *s0;
	const struct sl_lb *lb;

	*hash = 0;
	if (!rt->ndests)
		return hx_rand_next(rng);
	s0 = &m->services[rt->dests[0].service];
	lb = &s0->tp.lb;
	if (lb->kind != SL_LB_CONSISTENT_HASH && rt->dests[0].subset >= 0)
		lb = &s0->subsets[rt->dests[0].subset].tp.lb;
	if (hx_hash_request(lb, rv, hash))
		return *hash;
	if (lb->kind == SL_LB_CONSISTENT_HASH && lb->hash == SL_HASH_COOKIE && lb->hash_key &&
	    lb->cookie_ttl_ms) {
		/* Envoy's behaviour: no cookie yet and a ttl -> mint one, hash
		 * it, and hand it to the client with the response */
		char val[24];

		snprintf(val, sizeof(val), "%016llx", (unsigned long long)hx_rand_next(rng));
		*hash = hx_hash64(val, strlen(val), 0);
		snprintf(v->set_cookie, sizeof(v->set_cookie),
			 "set-cookie: %.40s=%s; Max-Age=%u; Path=%.40s; HttpOnly\r\n",
			 lb->hash_key, val, lb->cookie_ttl_ms / 1000,
			 lb->cookie_path ? lb->cookie_path : "/");
		return *hash;
	}
	return hx_rand_next(rng);
}

void hx_route_request(const struct hx_snap *snap, const struct hx_entry *e,
		      struct hx_reqview *rv, const char *host, size_t hlen, uint64_t *rng,
		      struct hx_verdict *v)
{
	const struct sl_model *m = snap->m;
	const struct sl_route *rt;
	const struct sl_lb *elb;
	uint64_t hash, pt, eh;
	int di;

	memset(v, 0, offsetof(struct hx_verdict, set_cookie));
	v->set_cookie[0] = v->gw[0] = 0;
	v->svc = v->subset = -1;
	if (e->gateway && !e->tls) {
		const struct sl_gateway_server *sv = hx_gateway_server(m, e->port, host, hlen);

		if (sv && sv->tls.https_redirect) {
			v->act = HX_ACT_HTTPS_REDIRECT;
			return;
		}
	}
	pick_route(snap, e, rv, host, hlen, v);
	rt = v->rt;
	if (!rt) {
		verdict_reply(v, 503, "no-route");
		return;
	}
	if (rt->has_redirect) {
		v->act = HX_ACT_REDIRECT;
		return;
	}
	if (draw_ppm(rng, rt->fault.abort_ppm)) {
		v->act = HX_ACT_ABORT;
		v->code = rt->fault.abort_status ? (int)rt->fault.abort_status : 503;
		v->grpc = (int)rt->fault.abort_grpc;
		if (rt->ndests)
			v->svc = (int)rt->dests[0].service;
		return;
	}
	pt = dest_point(m, rv, rng, v, &hash);
	di = hx_pick_dest(rt, pt);
	if (di < 0) {
		verdict_reply(v, 503, "no-healthy-upstream");
		return;
	}
	v->act = HX_ACT_FORWARD;
	v->svc = (int)rt->dests[di].service;
	v->subset = rt->dests[di].subset;
	v->dest_port = hx_service_port(&m->services[v->svc], rt->dests[di].port, rv->port);
	/* the endpoint: by the destination's own hash key when it has one,
	 * by a minted cookie's hash, else by the load balancer */
	v->hash = hx_hash64(&hash, sizeof(hash), 0x5eed);
	elb = &hx_policy(m, (size_t)v->svc, v->subset)->lb;
	if (hx_hash_request(elb, rv, &eh)) {
		v->has_hash = true;
		v->hash = eh;
	} else if (v->set_cookie[0] && elb->kind == SL_LB_CONSISTENT_HASH) {
		v->has_hash = true;
		v->hash = hash;
	}
	v->mirror = rt->has_mirror && draw_ppm(rng, rt->mirror_ppm);
	if (draw_ppm(rng, rt->fault.delay_ppm) && rt->fault.delay_ms)
		v->delay_ms = rt->fault.delay_ms;
}
