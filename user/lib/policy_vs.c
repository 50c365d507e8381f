// SPDX-License-Identifier: Apache-2.0
/*
 * VirtualService parser: hosts, gateways, http[], tcp[] and tls[] routes with
 * their matches (regexes compiled once with PCRE2 here, errors at the
 * regex's own line/column), destinations as written (resolved later),
 * timeouts, retries, faults, rewrites, redirects, header operations and
 * mirrors.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pcre2.h>

#include "lib/policy_int.h"

static void re_free(void *p)
{
	pcre2_code_free(p);
}

static void lower(char *s)
{
	for (; s && *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* StringMatch: exactly one of exact, prefix, regex. Returns 0 for an empty
 * map (presence-only for headers), 1 when set, -1 on error. */
int pl_parse_strmatch(struct pl_ctx *c, yaml_node_t *n, struct sl_strmatch *m, bool icase)
{
	memset(m, 0, sizeof(*m));
	if (pl_is_null(n))
		return 0;
	if (!pl_check_map(c, n, "StringMatch", "string match"))
		return -1;
	static const char *const keys[] = { "exact", "prefix", "regex" };
	int set = 0;
	yaml_node_t *vn = NULL;
	for (int i = 0; i < 3; i++) {
		char *v = NULL;
		yaml_node_t *kn;
		int r = pl_str(c, n, keys[i], &v, &kn);
		if (r < 0)
			return -1;
		if (!kn)
			continue;
		if (set++) {
			pl_err(c, PL_E_CONFLICT, kn, "a string match takes one of exact, prefix, regex");
			return -1;
		}
		m->kind = (enum sl_str_kind)(SL_STR_EXACT + i);
		m->value = v ? v : sl_arena_strdup(c->a, "");
		vn = kn;
	}
	m->ignore_case = icase;
	if (!set)
		return 0;
	if (m->kind == SL_STR_REGEX) {
		int err;
		PCRE2_SIZE off;
		uint32_t opts = PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOLLAR_ENDONLY |
				(icase ? PCRE2_CASELESS : 0);
		pcre2_code *re = pcre2_compile((PCRE2_SPTR)m->value, PCRE2_ZERO_TERMINATED, opts,
					       &err, &off, NULL);
		if (!re) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(err, msg, sizeof(msg));
			pl_err(c, PL_E_REGEX, vn, "invalid regex \"%s\": %s at offset %zu", m->value,
			       (const char *)msg, (size_t)off);
			return -1;
		}
		pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);	/* best effort */
		if (sl_arena_defer(c->a, re_free, re))
			return -1;
		m->re = re;
	}
	return 1;
}

static int parse_kv_matches(struct pl_ctx *c, yaml_node_t *map, const char *key,
			    struct sl_kv_match **out, size_t *n, bool lower_names)
{
	yaml_node_t *l;
	size_t k;
	int found = pl_map_at(c, map, key, "must be a map of name to string match", &l, &k);
	if (found <= 0)
		return found;
	struct sl_kv_match *v = sl_arena_calloc(c->a, k ? k : 1, sizeof(*v));
	if (!v)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < k; i++) {
		yaml_node_pair_t *p = &l->data.mapping.pairs.start[i];
		const char *name = pl_scalar(pl_node(c, p->key));
		if (!name || !*name) {
			pl_err(c, PL_E_TYPE, pl_node(c, p->key), "%s keys must be names", key);
			rc = -1;
			continue;
		}
		v[i].name = sl_arena_strdup(c->a, name);
		if (lower_names)
			lower(v[i].name);
		if (pl_parse_strmatch(c, pl_node(c, p->value), &v[i].m, false) < 0)
			rc = -1;
	}
	*out = v;
	*n = k;
	return rc;
}

static int parse_match(struct pl_ctx *c, yaml_node_t *n, struct sl_match *m, bool http,
		       struct sl_pos *src_pos)
{
	if (!pl_check_map(c, n, http ? "HTTPMatchRequest" : "L4MatchAttributes", "match"))
		return -1;
	m->pos = pl_pos(c, n);
	int rc = 0;
	if (http) {
		bool icase = false;
		if (pl_str(c, n, "name", &m->name, NULL) < 0 ||
		    pl_bool(c, n, "ignoreUriCase", &icase) < 0)
			rc = -1;
		struct { const char *key; struct sl_strmatch *sm; bool ic; } sm[] = {
			{ "uri", &m->uri, icase },
			{ "method", &m->method, false },
			{ "authority", &m->authority, false },
			{ "scheme", &m->scheme, false },
		};
		for (size_t i = 0; i < sizeof(sm) / sizeof(sm[0]); i++) {
			yaml_node_t *sn = pl_get(c, n, sm[i].key);
			if (!sn)
				continue;
			int r = pl_parse_strmatch(c, sn, sm[i].sm, sm[i].ic);
			if (r == 0) {
				pl_err(c, PL_E_REQUIRED, sn, "%s needs one of exact, prefix, regex",
				       sm[i].key);
				rc = -1;
			} else if (r < 0) {
				rc = -1;
			}
		}
		if (parse_kv_matches(c, n, "headers", &m->headers, &m->nheaders, true) < 0 ||
		    parse_kv_matches(c, n, "withoutHeaders", &m->without_headers,
				     &m->nwithout_headers, true) < 0 ||
		    parse_kv_matches(c, n, "queryParams", &m->query, &m->nquery, false) < 0)
			rc = -1;
	}
	if (pl_port(c, n, "port", &m->port) < 0)
		rc = -1;
	yaml_node_t *sl = pl_get(c, n, "sourceLabels");
	if (sl) {
		*src_pos = pl_pos(c, sl);
		int r = pl_labels(c, n, "sourceLabels", &m->source_labels);
		if (r < 0)
			rc = -1;
		m->has_source_labels = r > 0 && m->source_labels.n > 0;
	}
	return rc;
}

/* A weight as written: non-negative integer up to UINT32_MAX. */
static int parse_weight(struct pl_ctx *c, yaml_node_t *n, uint32_t *w)
{
	const char *s = pl_scalar(n);
	if (!s) {
		pl_err(c, PL_E_WEIGHT, n, "weight must be a non-negative integer");
		return -1;
	}
	const char *why = NULL;
	char *end;
	errno = 0;
	if (s[0] == '-')
		why = "is negative";
	else if (strpbrk(s, ".eE"))
		why = "is not an integer";
	unsigned long long v = 0;
	if (!why) {
		v = strtoull(s, &end, 10);
		if (!*s || *end || s[0] == '+' || s[0] == ' ')
			why = "is not an integer";
		else if (errno || v > UINT32_MAX)
			why = "is too large (max 4294967295)";
	}
	if (why) {
		pl_err(c, PL_E_WEIGHT, n, "weight \"%s\" %s", s, why);
		return -1;
	}
	*w = (uint32_t)v;
	return 0;
}

static int parse_destination(struct pl_ctx *c, yaml_node_t *n, struct pl_dest *d)
{
	if (!pl_check_map(c, n, "Destination", "destination"))
		return -1;
	int rc = 0;
	yaml_node_t *hn, *sn;
	if (pl_req_str(c, n, "host", &d->host, &hn) < 0)
		rc = -1;
	d->host_pos = pl_pos(c, hn ? hn : n);
	if (pl_str(c, n, "subset", &d->subset, &sn) < 0)
		rc = -1;
	d->subset_pos = pl_pos(c, sn ? sn : n);
	yaml_node_t *pn = pl_get(c, n, "port");
	if (pn && pl_check_map(c, pn, "PortSelector", "destination.port")) {
		d->port_pos = pl_pos(c, pn);
		yaml_node_t *num = pl_get(c, pn, "number");
		if (num)
			d->port_pos = pl_pos(c, num);
		if (pl_port(c, pn, "number", &d->port) < 0)
			rc = -1;
	} else if (pn) {
		rc = -1;
	}
	return rc;
}

static int parse_route_dests(struct pl_ctx *c, yaml_node_t *rn, struct pl_route *pr, bool http)
{
	if (rn->type != YAML_SEQUENCE_NODE) {
		pl_err(c, PL_E_TYPE, rn, "route must be a list of destinations");
		return -1;
	}
	pr->ndests = pl_seq_len(rn);
	pr->dests = sl_arena_calloc(c->tmp, pr->ndests + 1, sizeof(*pr->dests));	/* raw */
	if (!pr->dests)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < pr->ndests; i++) {
		yaml_node_t *e = pl_seq_at(c, rn, i);
		struct pl_dest *d = &pr->dests[i];
		if (!pl_check_map(c, e, http ? "HTTPRouteDestination" : "RouteDestination",
				  "route destination")) {
			rc = -1;
			continue;
		}
		d->pos = pl_pos(c, e);
		yaml_node_t *dn = pl_get(c, e, "destination");
		if (!dn) {
			pl_err(c, PL_E_REQUIRED, e, "missing required field \"destination\"");
			rc = -1;
		} else if (parse_destination(c, dn, d) < 0) {
			rc = -1;
		}
		yaml_node_t *wn = pl_get(c, e, "weight");
		if (wn && !pl_is_null(wn)) {
			d->has_weight = true;
			d->weight_pos = pl_pos(c, wn);
			if (parse_weight(c, wn, &d->weight) < 0)
				rc = -1;
		}
	}
	return rc;
}

static int parse_header_ops(struct pl_ctx *c, yaml_node_t *n, struct sl_header_ops *h)
{
	if (!pl_check_map(c, n, "HeaderOperations", "header operations"))
		return -1;
	int rc = 0;
	struct sl_labels set = { 0 }, add = { 0 };
	if (pl_labels(c, n, "set", &set) < 0 || pl_labels(c, n, "add", &add) < 0)
		rc = -1;
	h->set = set.v;
	h->nset = set.n;
	h->add = add.v;
	h->nadd = add.n;
	for (size_t i = 0; i < h->nset; i++)
		lower(h->set[i].key);
	for (size_t i = 0; i < h->nadd; i++)
		lower(h->add[i].key);
	if (pl_strlist(c, n, "remove", &h->remove, NULL, &h->nremove) < 0)
		rc = -1;
	for (size_t i = 0; i < h->nremove; i++)
		lower(h->remove[i]);
	return rc;
}

/* delay/abort: percentage {value} or the legacy integer percent; 100%
 * when neither is given. */
static int parse_fault_pct(struct pl_ctx *c, yaml_node_t *n, uint32_t *ppm)
{
	yaml_node_t *pn = pl_get(c, n, "percentage");
	yaml_node_t *ln = pl_get(c, n, "percent");
	*ppm = 1000000;
	if (pn && ln) {
		pl_err(c, PL_E_CONFLICT, ln, "percent and percentage exclude each other");
		return -1;
	}
	if (pn)
		return pl_percent(c, pn, ppm) < 0 ? -1 : 0;
	if (ln) {
		uint32_t v;
		const char *s = pl_scalar(ln);
		char *end;
		long x = s ? strtol(s, &end, 10) : -1;
		if (!s || !*s || *end || x < 0 || x > 100) {
			pl_err(c, PL_E_PERCENT, ln, "percent must be an integer 0..100");
			return -1;
		}
		v = (uint32_t)x;
		*ppm = v * 10000;
	}
	return 0;
}

/* gRPC status codes by name, as Istio's fault.abort.grpcStatus takes them. */
static const char *const grpc_codes[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
};

static int parse_fault(struct pl_ctx *c, yaml_node_t *n, struct sl_route *r)
{
	if (!pl_check_map(c, n, "HTTPFaultInjection", "fault"))
		return -1;
	int rc = 0;
	yaml_node_t *d = pl_get(c, n, "delay");
	if (d && pl_check_map(c, d, "Delay", "fault.delay")) {
		int x = pl_duration(c, d, "fixedDelay", &r->fault.delay_ms);
		if (x == 0)
			pl_err(c, PL_E_REQUIRED, d, "missing required field \"fixedDelay\"");
		if (x <= 0 || parse_fault_pct(c, d, &r->fault.delay_ppm) < 0)
			rc = -1;
	}
	yaml_node_t *a = pl_get(c, n, "abort");
	if (a && pl_check_map(c, a, "Abort", "fault.abort")) {
		yaml_node_t *sn = pl_get(c, a, "httpStatus"), *gn = pl_get(c, a, "grpcStatus");
		int x = sn || !gn ? pl_u32(c, a, "httpStatus", 999, &r->fault.abort_status) : 1;
		char *g = NULL;

		if (gn && sn) {
			pl_err(c, PL_E_CONFLICT, gn, "fault.abort takes httpStatus or grpcStatus, not both");
			x = -1;
		} else if (gn && pl_str(c, a, "grpcStatus", &g, NULL) > 0) {
			size_t k;

			for (k = 0; k < sizeof(grpc_codes) / sizeof(grpc_codes[0]); k++)
				if (!strcmp(g, grpc_codes[k]))
					break;
			if (k == sizeof(grpc_codes) / sizeof(grpc_codes[0]) || k == 0) {
				pl_err(c, PL_E_VALUE, gn, "grpcStatus \"%s\" is not a gRPC error code "
				       "name (CANCELLED, UNAVAILABLE, ...)", g);
				x = -1;
			} else {
				r->fault.abort_grpc = (uint32_t)k;
				r->fault.abort_status = 200;	/* gRPC answers are HTTP 200 */
			}
		} else if (gn) {
			x = -1;
		}
		if (x == 0)
			pl_err(c, PL_E_REQUIRED, a, "missing required field \"httpStatus\"");
		else if (x > 0 && (r->fault.abort_status < 200 || r->fault.abort_status > 599)) {
			pl_err(c, PL_E_VALUE, sn, "httpStatus %u is not in 200..599",
			       r->fault.abort_status);
			x = -1;
		}
		if (x <= 0 || parse_fault_pct(c, a, &r->fault.abort_ppm) < 0)
			rc = -1;
	}
	return rc;
}

static const struct { const char *name; uint32_t bit; } retry_names[] = {
	{ "5xx", SL_RETRY_5XX },
	{ "gateway-error", SL_RETRY_GATEWAY_ERROR },
	{ "connect-failure", SL_RETRY_CONNECT_FAILURE },
	{ "reset", SL_RETRY_RESET },
	{ "refused-stream", SL_RETRY_REFUSED_STREAM },
	{ "retriable-4xx", SL_RETRY_RETRIABLE_4XX },
	{ "non-idempotent", SL_RETRY_NON_IDEMPOTENT },
	{ "cancelled", SL_RETRY_GRPC_CANCELLED },
	{ "deadline-exceeded", SL_RETRY_GRPC_DEADLINE_EXCEEDED },
	{ "resource-exhausted", SL_RETRY_GRPC_RESOURCE_EXHAUSTED },
	{ "internal", SL_RETRY_GRPC_INTERNAL },
	{ "unavailable", SL_RETRY_GRPC_UNAVAILABLE },
};


static int parse_retries(struct pl_ctx *c, yaml_node_t *n, struct sl_route *r)
{
	if (!pl_check_map(c, n, "HTTPRetry", "retries"))
		return -1;
	int rc = 0;
	r->retries.set = true;
	r->retries.retry_on = SL_RETRY_CONNECT_FAILURE | SL_RETRY_REFUSED_STREAM;
	if (pl_u32(c, n, "attempts", 100, &r->retries.attempts) < 0 ||
	    pl_duration(c, n, "perTryTimeout", &r->retries.per_try_timeout_ms) < 0)
		rc = -1;
	char *on = NULL;
	yaml_node_t *on_n;
	if (pl_str(c, n, "retryOn", &on, &on_n) > 0) {
		r->retries.retry_on = 0;
		char *save = NULL;
		for (char *t = strtok_r(on, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			while (*t == ' ')
				t++;
			size_t l = strlen(t);
			while (l && t[l - 1] == ' ')
				t[--l] = '\0';
			size_t i;
			for (i = 0; i < sizeof(retry_names) / sizeof(retry_names[0]); i++)
				if (!strcmp(retry_names[i].name, t))
					break;
			if (i == sizeof(retry_names) / sizeof(retry_names[0])) {
				pl_err(c, PL_E_UNSUP, on_n,
				       "retryOn \"%s\" is not supported yet (supported: 5xx, gateway-error, "
				       "connect-failure, reset, refused-stream, retriable-4xx, non-idempotent, "
				       "cancelled, deadline-exceeded, resource-exhausted, internal, "
				       "unavailable)",
				       t);
				rc = -1;
				continue;
			}
			r->retries.retry_on |= retry_names[i].bit;
		}
	}
	return rc;
}

static int parse_http_extras(struct pl_ctx *c, yaml_node_t *n, struct pl_route *pr)
{
	struct sl_route *r = &pr->r;
	int rc = 0;
	if (pl_duration(c, n, "timeout", &r->timeout_ms) < 0)
		rc = -1;
	yaml_node_t *x;
	if ((x = pl_get(c, n, "retries")) && parse_retries(c, x, r) < 0)
		rc = -1;
	if ((x = pl_get(c, n, "fault")) && parse_fault(c, x, r) < 0)
		rc = -1;
	if ((x = pl_get(c, n, "rewrite"))) {
		if (!pl_check_map(c, x, "HTTPRewrite", "rewrite") ||
		    pl_str(c, x, "uri", &r->rewrite.uri, NULL) < 0 ||
		    pl_str(c, x, "authority", &r->rewrite.authority, NULL) < 0)
			rc = -1;
	}
	if ((x = pl_get(c, n, "redirect"))) {
		r->has_redirect = true;
		r->redirect.code = 301;
		yaml_node_t *cn = pl_get(c, x, "redirectCode");
		if (!pl_check_map(c, x, "HTTPRedirect", "redirect") ||
		    pl_str(c, x, "uri", &r->redirect.uri, NULL) < 0 ||
		    pl_str(c, x, "authority", &r->redirect.authority, NULL) < 0 ||
		    pl_u32(c, x, "redirectCode", 999, &r->redirect.code) < 0) {
			rc = -1;
		} else if (r->redirect.code != 301 && r->redirect.code != 302 &&
			   r->redirect.code != 303 && r->redirect.code != 307 &&
			   r->redirect.code != 308) {
			pl_err(c, PL_E_VALUE, cn, "redirectCode %u: want 301, 302, 303, 307 or 308",
			       r->redirect.code);
			rc = -1;
		}
		if (pl_get(c, n, "rewrite")) {
			pl_err(c, PL_E_CONFLICT, x, "redirect and rewrite exclude each other");
			rc = -1;
		}
	}
	if ((x = pl_get(c, n, "headers"))) {
		yaml_node_t *q, *s;
		if (!pl_check_map(c, x, "Headers", "headers"))
			rc = -1;
		else {
			if ((q = pl_get(c, x, "request")) && parse_header_ops(c, q, &r->req_headers) < 0)
				rc = -1;
			if ((s = pl_get(c, x, "response")) && parse_header_ops(c, s, &r->resp_headers) < 0)
				rc = -1;
		}
	}
	if ((x = pl_get(c, n, "mirror"))) {
		pr->has_mirror = true;
		pr->mirror.pos = pl_pos(c, x);
		r->mirror_ppm = 1000000;
		if (parse_destination(c, x, &pr->mirror) < 0)
			rc = -1;
	}
	yaml_node_t *mp = pl_get(c, n, "mirrorPercentage");
	yaml_node_t *ml = pl_get(c, n, "mirrorPercent");
	if ((mp || ml) && !pr->has_mirror) {
		pl_err(c, PL_E_REQUIRED, mp ? mp : ml, "mirror percentage without mirror");
		rc = -1;
	} else if (mp && ml) {
		pl_err(c, PL_E_CONFLICT, ml, "mirrorPercent and mirrorPercentage exclude each other");
		rc = -1;
	} else if (mp) {
		if (pl_percent(c, mp, &r->mirror_ppm) < 0)
			rc = -1;
	} else if (ml) {
		uint32_t v = 0;
		if (pl_u32(c, n, "mirrorPercent", 100, &v) < 0)
			rc = -1;
		r->mirror_ppm = v * 10000;
	}
	return rc;
}

static int parse_route(struct pl_ctx *c, yaml_node_t *n, struct pl_route *pr, bool http)
{
	struct sl_route *r = &pr->r;
	if (!pl_check_map(c, n, http ? "HTTPRoute" : "TCPRoute", http ? "http route" : "tcp route"))
		return -1;
	r->pos = pl_pos(c, n);
	r->hash = pl_hash(c, n);
	int rc = 0;
	if (http && pl_str(c, n, "name", &r->name, NULL) < 0)
		rc = -1;
	yaml_node_t *mn = pl_get(c, n, "match");
	if (mn && !pl_is_null(mn)) {
		if (mn->type != YAML_SEQUENCE_NODE) {
			pl_err(c, PL_E_TYPE, mn, "match must be a list");
			rc = -1;
		} else {
			r->nmatches = pl_seq_len(mn);
			r->matches = sl_arena_calloc(c->a, r->nmatches + 1, sizeof(*r->matches));
			pr->src_pos = sl_arena_calloc(c->tmp, r->nmatches + 1, sizeof(*pr->src_pos));
			if (!r->matches || !pr->src_pos)
				return -1;
			for (size_t i = 0; i < r->nmatches; i++)
				if (parse_match(c, pl_seq_at(c, mn, i), &r->matches[i], http,
						&pr->src_pos[i]) < 0)
					rc = -1;
		}
	}
	yaml_node_t *rn = pl_get(c, n, "route");
	if (rn && !pl_is_null(rn) && parse_route_dests(c, rn, pr, http) < 0)
		rc = -1;
	if (http && parse_http_extras(c, n, pr) < 0)
		rc = -1;
	if (r->has_redirect && pr->ndests) {
		pl_err(c, PL_E_CONFLICT, rn, "route and redirect exclude each other");
		rc = -1;
	} else if (!r->has_redirect && pr->ndests == 0) {
		pl_err(c, PL_E_REQUIRED, rn ? rn : n, "a route needs at least one destination%s",
		       http ? " (or a redirect)" : "");
		rc = -1;
	}
	return rc;
}

static int parse_routes(struct pl_ctx *c, yaml_node_t *spec, const char *key, bool http,
			struct pl_route **out, struct sl_route **rout, size_t *n)
{
	yaml_node_t *l = pl_get(c, spec, key);
	if (!l || pl_is_null(l))
		return 0;
	if (l->type != YAML_SEQUENCE_NODE) {
		pl_err(c, PL_E_TYPE, l, "%s must be a list of routes", key);
		return -1;
	}
	*n = pl_seq_len(l);
	/* the routes as parsed are raw (resolve_routes copies each into the
	 * model's): the scratch arena's, as their destination lists */
	*out = sl_arena_calloc(c->tmp, *n + 1, sizeof(**out));
	*rout = sl_arena_calloc(c->a, *n ? *n : 1, sizeof(**rout));
	if (!*out || !*rout)
		return -ENOMEM;
	for (size_t i = 0; i < *n; i++)
		parse_route(c, pl_seq_at(c, l, i), &(*out)[i], http);
	return 0;
}

/* Istio's host.Name.SubsetOf, case-insensitive: is every name sni admits
 * also admitted by host ("*" and "*.suffix" wildcards on either side)? */
static bool sni_subset_of(const char *sni, const char *host)
{
	size_t sl = strlen(sni), hl = strlen(host);

	if (sni[0] == '*') {
		if (host[0] != '*')
			return false;
		return sl >= hl && !strcasecmp(sni + sl - (hl - 1), host + 1);
	}
	if (host[0] == '*')
		return sl >= hl - 1 && !strcasecmp(sni + sl - (hl - 1), host + 1);
	return !strcasecmp(sni, host);
}

/* One TLSMatchAttributes: sniHosts (required, each a host name or
 * wildcard within the VirtualService's hosts) and port; the fields not
 * enforced are refused by their pl_fields rows. */
static int parse_tls_match(struct pl_ctx *c, yaml_node_t *n, struct sl_match *m,
			   const struct sl_vhost *vh)
{
	struct sl_pos *pos = NULL;
	int rc = 0;

	if (!pl_check_map(c, n, "TLSMatchAttributes", "tls match"))
		return -1;
	m->pos = pl_pos(c, n);
	if (pl_port(c, n, "port", &m->port) < 0)
		rc = -1;
	int r = pl_strlist(c, n, "sniHosts", &m->sni_hosts, &pos, &m->nsni_hosts);
	if (r == 0 || (r > 0 && m->nsni_hosts == 0)) {
		pl_err(c, PL_E_REQUIRED, n, "missing required field \"sniHosts\" (the ClientHello "
		       "server names this match routes)");
		return -1;
	}
	if (r < 0)
		return -1;
	for (size_t i = 0; i < m->nsni_hosts; i++) {
		char *h = m->sni_hosts[i];
		const char *base = h;
		bool covered = false;

		lower(h);
		if (h[0] == '*')
			base = h[1] == '.' ? h + 2 : NULL;
		if (strcmp(h, "*") && (!base || !sl_dns_name_valid(base))) {
			sl_diag_add(c->d, SL_SEV_ERROR, PL_E_VALUE, pos[i],
				    "sniHosts[%zu] \"%s\" is not a host name (a DNS name, \"*.\" and a "
				    "DNS name, or \"*\")", i, h);
			rc = -1;
			continue;
		}
		for (size_t j = 0; j < vh->nhosts && !covered; j++)
			covered = sni_subset_of(h, vh->hosts[j]);
		if (!covered) {
			sl_diag_add(c->d, SL_SEV_ERROR, PL_E_VALUE, pos[i],
				    "sniHosts[%zu] \"%s\" is not within the VirtualService's hosts (Istio "
				    "requires every SNI host to be one of hosts or under a wildcard host)",
				    i, h);
			rc = -1;
		}
	}
	return rc;
}

/* One TLSRoute: match (required: Istio routes TLS by SNI only) and route. */
static int parse_tls_route(struct pl_ctx *c, yaml_node_t *n, struct pl_route *pr,
			   const struct sl_vhost *vh)
{
	struct sl_route *r = &pr->r;
	int rc = 0;

	if (!pl_check_map(c, n, "TLSRoute", "tls route"))
		return -1;
	r->pos = pl_pos(c, n);
	r->hash = pl_hash(c, n);
	yaml_node_t *mn = pl_get(c, n, "match");
	if (!mn || pl_is_null(mn) || (mn->type == YAML_SEQUENCE_NODE && pl_seq_len(mn) == 0)) {
		pl_err(c, PL_E_REQUIRED, mn ? mn : n, "a tls route needs a match with sniHosts");
		rc = -1;
	} else if (mn->type != YAML_SEQUENCE_NODE) {
		pl_err(c, PL_E_TYPE, mn, "match must be a list");
		rc = -1;
	} else {
		r->nmatches = pl_seq_len(mn);
		r->matches = sl_arena_calloc(c->a, r->nmatches + 1, sizeof(*r->matches));
		if (!r->matches)
			return -ENOMEM;
		for (size_t i = 0; i < r->nmatches; i++)
			if (parse_tls_match(c, pl_seq_at(c, mn, i), &r->matches[i], vh) < 0)
				rc = -1;
	}
	yaml_node_t *rn = pl_get(c, n, "route");
	if (rn && !pl_is_null(rn) && parse_route_dests(c, rn, pr, false) < 0)
		rc = -1;
	if (pr->ndests == 0) {
		pl_err(c, PL_E_REQUIRED, rn ? rn : n, "a route needs at least one destination");
		rc = -1;
	}
	return rc;
}

/* tls[]: routes of passthrough Gateway servers. Sluice relays TLS by SNI at
 * its gateway listeners only, so a VirtualService carrying tls routes
 * must not be bound to the mesh. */
static int parse_tls_routes(struct pl_ctx *c, yaml_node_t *spec, struct pl_vs *vs)
{
	struct sl_vhost *vh = &vs->vh;
	yaml_node_t *l = pl_get(c, spec, "tls");
	bool mesh = vh->ngateways == 0;

	if (!l || pl_is_null(l))
		return 0;
	if (l->type != YAML_SEQUENCE_NODE) {
		pl_err(c, PL_E_TYPE, l, "tls must be a list of routes");
		return -1;
	}
	for (size_t i = 0; i < vh->ngateways; i++)
		mesh |= !strcmp(vh->gateways[i], "mesh");
	if (mesh)
		pl_err(c, PL_E_UNSUP, l, "tls routes for the mesh are not supported yet: they serve "
		       "Gateway servers with tls.mode PASSTHROUGH (give gateways:, without mesh)");
	vh->ntls = pl_seq_len(l);
	vs->tls = sl_arena_calloc(c->a, vh->ntls + 1, sizeof(*vs->tls));
	vh->tls = sl_arena_calloc(c->a, vh->ntls + 1, sizeof(*vh->tls));
	if (!vs->tls || !vh->tls)
		return -ENOMEM;
	for (size_t i = 0; i < vh->ntls; i++)
		if (parse_tls_route(c, pl_seq_at(c, l, i), &vs->tls[i], vh) == -ENOMEM)
			return -ENOMEM;
	return 0;
}

/* errnos a TCP fault may return from connect(): what a client meets when
 * a real peer or network fails */
static const struct {
	const char *name;
	int err;
} fault_errnos[] = {
	{ "ECONNREFUSED", ECONNREFUSED }, { "ECONNRESET", ECONNRESET },
	{ "ETIMEDOUT", ETIMEDOUT },	  { "EHOSTUNREACH", EHOSTUNREACH },
	{ "ENETUNREACH", ENETUNREACH },	  { "ECONNABORTED", ECONNABORTED },
	{ "EACCES", EACCES },		  { "EPERM", EPERM },
};

/* "12.5%" or "12.5": 0..100 with at most 4 decimals, as parts per million. */
static bool parse_share(const char *s, uint32_t *ppm)
{
	uint64_t whole = 0, frac = 0, scale = 10000;
	const char *p = s;
	int nd = 0;

	if (!isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p) && whole <= 100)
		whole = whole * 10 + (uint64_t)(*p++ - '0');
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p) && nd < 4) {
			scale /= 10;
			frac += (uint64_t)(*p++ - '0') * scale;
			nd++;
		}
		if (!nd)
			return false;
	}
	if (*p == '%')
		p++;
	if (*p || whole > 100 || (whole == 100 && frac))
		return false;
	*ppm = (uint32_t)(whole * 10000 + frac);
	return true;
}

/* sluice.io/tcp-fault-abort: "SHARE%" of the new connections the tcp routes
 * take fail at connect() with sluice.io/tcp-fault-errno (ECONNREFUSED). */
static void parse_tcp_fault(struct pl_ctx *c, yaml_node_t *meta, struct sl_vhost *vh,
			    yaml_node_t *spec)
{
	yaml_node_t *ann = pl_get(c, meta, "annotations");
	yaml_node_t *ab = pl_get(c, ann, "sluice.io/tcp-fault-abort");
	yaml_node_t *en = pl_get(c, ann, "sluice.io/tcp-fault-errno");
	yaml_node_t *dl = pl_get(c, ann, "sluice.io/tcp-fault-delay");
	const char *s;

	if (dl && !pl_is_null(dl))
		pl_err(c, PL_E_UNSUP, dl, "sluice.io/tcp-fault-delay is not supported: a connect() "
		       "hook cannot wait (delay HTTP requests with the route's fault.delay)");
	if (!ab || pl_is_null(ab)) {
		if (en && !pl_is_null(en))
			pl_err(c, PL_E_REQUIRED, en, "sluice.io/tcp-fault-errno needs "
			       "sluice.io/tcp-fault-abort (the share of connections to refuse)");
		return;
	}
	if (!(s = pl_scalar(ab)) || !parse_share(s, &vh->tcp_fault_ppm)) {
		pl_err(c, PL_E_PERCENT, ab, "sluice.io/tcp-fault-abort \"%s\": want a share of "
		       "connections from 0%% to 100%% (e.g. \"10%%\", \"0.5%%\")", s ? s : "");
		return;
	}
	vh->tcp_fault_pos = pl_pos(c, ab);
	vh->tcp_fault_errno = ECONNREFUSED;
	if (en && !pl_is_null(en)) {
		size_t i, n = sizeof(fault_errnos) / sizeof(fault_errnos[0]);

		s = pl_scalar(en);
		for (i = 0; s && i < n; i++)
			if (!strcmp(s, fault_errnos[i].name))
				break;
		if (!s || i == n)
			pl_err(c, PL_E_ENUM, en, "sluice.io/tcp-fault-errno \"%s\": want ECONNREFUSED, "
			       "ECONNRESET, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, ECONNABORTED, "
			       "EACCES or EPERM", s ? s : "");
		else
			vh->tcp_fault_errno = fault_errnos[i].err;
	}
	if (!pl_get(c, spec, "tcp"))
		pl_err(c, PL_E_CONFLICT, ab, "sluice.io/tcp-fault-abort applies to tcp routes and "
		       "VirtualService %s has none (HTTP routes take Istio's fault.abort)", vh->name);
}

int pl_parse_virtual_service(struct pl_ctx *c, yaml_node_t *spec, yaml_node_t *meta,
			     const char *name, const char *ns, struct sl_pos pos)
{
	if (!pl_check_map(c, spec, "VirtualService", "VirtualService spec"))
		return 0;
	if (pl_grow((void **)&c->vs, &c->cvs, c->nvs, sizeof(*c->vs)))
		return -ENOMEM;
	struct pl_vs *vs = &c->vs[c->nvs++];
	struct sl_vhost *vh = &vs->vh;
	vh->name = sl_arena_strdup(c->a, name);
	vh->ns = sl_arena_strdup(c->a, ns);
	vh->pos = pos;
	if (!vh->name || !vh->ns)
		return -ENOMEM;
	int r = pl_strlist(c, spec, "hosts", &vh->hosts, &vs->host_pos, &vh->nhosts);
	if (r == 0 || (r > 0 && vh->nhosts == 0))
		pl_err(c, PL_E_REQUIRED, spec, "missing required field \"hosts\"");
	pl_strlist(c, spec, "gateways", &vh->gateways, &vs->gw_pos, &vh->ngateways);
	if (parse_routes(c, spec, "http", true, &vs->http, &vh->http, &vh->nhttp) == -ENOMEM ||
	    parse_routes(c, spec, "tcp", false, &vs->tcp, &vh->tcp, &vh->ntcp) == -ENOMEM ||
	    parse_tls_routes(c, spec, vs) == -ENOMEM)
		return -ENOMEM;
	if (!pl_get(c, spec, "http") && !pl_get(c, spec, "tcp") && !pl_get(c, spec, "tls"))
		pl_err(c, PL_E_REQUIRED, spec, "a VirtualService needs http, tcp or tls routes");
	else
		parse_tcp_fault(c, meta, vh, spec);
	return 0;
}
