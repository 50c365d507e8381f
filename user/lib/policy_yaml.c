// SPDX-License-Identifier: Apache-2.0
/*
 * YAML node helpers for the policy front-end: positions, typed getters that
 * report wrong types and bad values at the node's own line/column, the
 * schema check of a mapping's keys against the support table, and the
 * canonical subtree hash used by diff.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/policy_int.h"

int pl_grow(void **v, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 8;
	while (ncap <= n)
		ncap *= 2;
	void *p = realloc(*v, ncap * sz);
	if (!p)
		return -ENOMEM;
	memset((char *)p + *cap * sz, 0, (ncap - *cap) * sz);
	*v = p;
	*cap = ncap;
	return 0;
}

struct sl_pos pl_pos(const struct pl_ctx *c, const yaml_node_t *n)
{
	struct sl_pos p = { .file = c->file, .line = 0, .col = 0 };
	if (n) {
		p.line = (int)n->start_mark.line + 1;
		p.col = (int)n->start_mark.column + 1;
	}
	return p;
}

yaml_node_t *pl_node(const struct pl_ctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

const char *pl_scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A plain "~", "null", "" or absent value. */
bool pl_is_null(const yaml_node_t *n)
{
	if (!n)
		return true;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = (const char *)n->data.scalar.value;
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

static void pl_vdiag(struct pl_ctx *c, enum sl_severity sev, const char *code,
		     const yaml_node_t *n, const char *fmt, va_list ap)
{
	char buf[1024];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	sl_diag_add(c->d, sev, code, pl_pos(c, n), "%s", buf);
}

void pl_err(struct pl_ctx *c, const char *code, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pl_vdiag(c, SL_SEV_ERROR, code, n, fmt, ap);
	va_end(ap);
}

void pl_warn(struct pl_ctx *c, const char *code, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pl_vdiag(c, SL_SEV_WARNING, code, n, fmt, ap);
	va_end(ap);
}

void pl_info(struct pl_ctx *c, const char *code, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pl_vdiag(c, SL_SEV_INFO, code, n, fmt, ap);
	va_end(ap);
}

bool pl_visit(struct pl_ctx *c)
{
	if (c->budget > 0) {
		c->budget--;
		return true;
	}
	if (!c->over_budget) {
		c->over_budget = true;
		struct sl_pos p = { .file = c->file, .line = 1, .col = 1 };
		sl_diag_add(c->d, SL_SEV_ERROR, PL_E_LIMIT, p,
			    "document too complex (aliases expand beyond the node budget)");
	}
	return false;
}

yaml_node_t *pl_get(struct pl_ctx *c, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		const char *k = pl_scalar(pl_node(c, p->key));
		if (k && !strcmp(k, key))
			return pl_node(c, p->value);
	}
	return NULL;
}

size_t pl_seq_len(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SEQUENCE_NODE)
		return 0;
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

yaml_node_t *pl_seq_at(struct pl_ctx *c, yaml_node_t *n, size_t i)
{
	return pl_node(c, n->data.sequence.items.start[i]);
}

/* The schema check every parser calls on each mapping it reads. Keys are
 * looked up in pl_fields under msg; what names the object in messages. */
bool pl_check_map(struct pl_ctx *c, yaml_node_t *n, const char *msg, const char *what)
{
	if (!n || n->type != YAML_MAPPING_NODE) {
		pl_err(c, PL_E_TYPE, n, "%s must be a map", what);
		return false;
	}
	if (!pl_visit(c))
		return false;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = pl_node(c, p->key);
		const char *k = pl_scalar(kn);
		if (!k) {
			pl_err(c, PL_E_TYPE, kn, "keys of %s must be strings", what);
			continue;
		}
		for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
			const char *k2 = pl_scalar(pl_node(c, q->key));
			if (k2 && !strcmp(k, k2)) {
				pl_err(c, PL_E_DUPKEY, kn, "duplicate key \"%s\" in %s", k, what);
				break;
			}
		}
		const struct pl_field *f = pl_field_find(msg, k);
		if (!f)
			pl_warn(c, PL_W_UNKNOWN, kn, "unknown field \"%s\" in %s", k, what);
		else if (f->sup == PL_UNSUPPORTED)
			pl_err(c, PL_E_UNSUP, kn, "%s.%s is not supported yet%s%s", what, k,
			       f->why ? ": " : "", f->why ? f->why : "");
		else if (f->sup == PL_IGNORED)
			pl_warn(c, PL_W_IGNORED, kn, "%s.%s is ignored: %s", what, k,
				f->why ? f->why : "no effect in Sluice");
	}
	return true;
}

int pl_str(struct pl_ctx *c, yaml_node_t *map, const char *key, char **out, yaml_node_t **node)
{
	yaml_node_t *n = pl_get(c, map, key);
	if (node)
		*node = n;
	if (!n || pl_is_null(n))
		return 0;
	const char *s = pl_scalar(n);
	if (!s) {
		pl_err(c, PL_E_TYPE, n, "%s must be a string", key);
		return -1;
	}
	*out = sl_arena_strdup(c->a, s);
	return *out ? 1 : -1;
}

int pl_req_str(struct pl_ctx *c, yaml_node_t *map, const char *key, char **out, yaml_node_t **node)
{
	int r = pl_str(c, map, key, out, node);
	if (r == 0) {
		pl_err(c, PL_E_REQUIRED, map, "missing required field \"%s\"", key);
		return -1;
	}
	if (r > 0 && !**out) {
		pl_err(c, PL_E_VALUE, node ? *node : map, "%s must not be empty", key);
		return -1;
	}
	return r;
}

/* Strict unsigned decimal: no sign, no fraction, no exponent. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	if (!*s)
		return -EINVAL;
	uint64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*p - '0');
		if (v > (max - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int pl_u32(struct pl_ctx *c, yaml_node_t *map, const char *key, uint32_t max, uint32_t *out)
{
	yaml_node_t *n = pl_get(c, map, key);
	if (!n || pl_is_null(n))
		return 0;
	const char *s = pl_scalar(n);
	if (!s) {
		pl_err(c, PL_E_TYPE, n, "%s must be an integer", key);
		return -1;
	}
	uint64_t v = 0;
	if (parse_u64(s, max, &v)) {
		pl_err(c, PL_E_VALUE, n, "%s must be an integer in 0..%u, not \"%s\"", key, max, s);
		return -1;
	}
	*out = (uint32_t)v;
	return 1;
}

int pl_port(struct pl_ctx *c, yaml_node_t *map, const char *key, uint16_t *out)
{
	yaml_node_t *n = pl_get(c, map, key);
	if (!n || pl_is_null(n))
		return 0;
	const char *s = pl_scalar(n);
	if (!s) {
		pl_err(c, PL_E_TYPE, n, "%s must be a port number", key);
		return -1;
	}
	uint64_t v = 0;
	const char *digits = s[0] == '-' || s[0] == '+' ? s + 1 : s;
	int r = parse_u64(digits, UINT32_MAX, &v);
	if (r == -EINVAL) {
		pl_err(c, PL_E_TYPE, n, "%s must be a port number, not \"%s\"", key, s);
		return -1;
	}
	if (r || s[0] == '-' || v < 1 || v > 65535) {
		pl_err(c, PL_E_PORT, n, "port %s is out of range 1..65535", s);
		return -1;
	}
	*out = (uint16_t)v;
	return 1;
}

int pl_bool(struct pl_ctx *c, yaml_node_t *map, const char *key, bool *out)
{
	yaml_node_t *n = pl_get(c, map, key);
	if (!n || pl_is_null(n))
		return 0;
	const char *s = pl_scalar(n);
	if (s && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))) {
		*out = true;
		return 1;
	}
	if (s && (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))) {
		*out = false;
		return 1;
	}
	pl_err(c, PL_E_TYPE, n, "%s must be true or false", key);
	return -1;
}

/* Go/Istio durations: one or more <number><unit>, units h m s ms us ns,
 * e.g. "1.5s", "100ms", "1m30s". At least 1ms, at most ~49 days. */
int pl_parse_duration_ms(const char *s, uint32_t *ms)
{
	double total = 0;
	const char *p = s;
	if (!*p)
		return -EINVAL;
	while (*p) {
		char *end;
		if (!((*p >= '0' && *p <= '9') || *p == '.'))
			return -EINVAL;
		errno = 0;
		double v = strtod(p, &end);
		if (end == p || errno)
			return -EINVAL;
		p = end;
		double mul;
		if (!strncmp(p, "ms", 2)) {
			mul = 1;
			p += 2;
		} else if (!strncmp(p, "us", 2)) {
			mul = 1e-3;
			p += 2;
		} else if (!strncmp(p, "ns", 2)) {
			mul = 1e-6;
			p += 2;
		} else if (*p == 'h') {
			mul = 3600e3;
			p++;
		} else if (*p == 'm') {
			mul = 60e3;
			p++;
		} else if (*p == 's') {
			mul = 1e3;
			p++;
		} else {
			return -EINVAL;
		}
		total += v * mul;
	}
	if (!isfinite(total) || total < 1 || total > (double)UINT32_MAX)
		return -ERANGE;
	*ms = (uint32_t)(total + 0.5);
	return 0;
}

int pl_duration(struct pl_ctx *c, yaml_node_t *map, const char *key, uint32_t *ms)
{
	yaml_node_t *n = pl_get(c, map, key);
	if (!n || pl_is_null(n))
		return 0;
	const char *s = pl_scalar(n);
	if (!s) {
		pl_err(c, PL_E_TYPE, n, "%s must be a duration string", key);
		return -1;
	}
	if (pl_parse_duration_ms(s, ms)) {
		pl_err(c, PL_E_DURATION, n,
		       "bad duration \"%s\" for %s: want e.g. \"1.5s\", \"100ms\", \"1m\" (1ms .. 49d)",
		       s, key);
		return -1;
	}
	return 1;
}

/* A Percent message {value: 0..100 (double)} -> parts per million. */
int pl_percent(struct pl_ctx *c, yaml_node_t *n, uint32_t *ppm)
{
	if (!pl_check_map(c, n, "Percent", "percentage"))
		return -1;
	yaml_node_t *v = pl_get(c, n, "value");
	const char *s = pl_scalar(v);
	if (!v || pl_is_null(v)) {
		*ppm = 0;
		return 1;
	}
	char *end;
	double d = s ? strtod(s, &end) : NAN;
	if (!s || !*s || *end || !isfinite(d) || d < 0 || d > 100) {
		pl_err(c, PL_E_PERCENT, v, "bad percentage \"%s\": want a number 0..100",
		       s ? s : "(not a scalar)");
		return -1;
	}
	*ppm = (uint32_t)(d * 10000.0 + 0.5);
	return 1;
}

int pl_strlist(struct pl_ctx *c, yaml_node_t *map, const char *key, char ***out,
	       struct sl_pos **pos, size_t *n)
{
	yaml_node_t *l = pl_get(c, map, key);
	if (!l || pl_is_null(l))
		return 0;
	if (l->type != YAML_SEQUENCE_NODE) {
		pl_err(c, PL_E_TYPE, l, "%s must be a list of strings", key);
		return -1;
	}
	size_t k = pl_seq_len(l);
	char **v = sl_arena_calloc(c->a, k ? k : 1, sizeof(*v));
	struct sl_pos *ps = pos ? sl_arena_calloc(c->a, k ? k : 1, sizeof(*ps)) : NULL;
	if (!v || (pos && !ps))
		return -1;
	int rc = 1;
	for (size_t i = 0; i < k; i++) {
		yaml_node_t *e = pl_seq_at(c, l, i);
		const char *s = pl_scalar(e);
		if (!s || !*s) {
			pl_err(c, s ? PL_E_VALUE : PL_E_TYPE, e, "%s[%zu] must be a non-empty string",
			       key, i);
			rc = -1;
			s = "";
		}
		v[i] = sl_arena_strdup(c->a, s);
		if (ps)
			ps[i] = pl_pos(c, e);
	}
	*out = v;
	if (pos)
		*pos = ps;
	*n = k;
	return rc;
}

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sl_label *)a)->key, ((const struct sl_label *)b)->key);
}

int pl_map_at(struct pl_ctx *c, yaml_node_t *map, const char *key, const char *what,
	      yaml_node_t **node, size_t *npairs)
{
	yaml_node_t *l = pl_get(c, map, key);
	if (!l || pl_is_null(l))
		return 0;
	if (l->type != YAML_MAPPING_NODE) {
		pl_err(c, PL_E_TYPE, l, "%s %s", key, what);
		return -1;
	}
	if (!pl_visit(c))
		return -1;
	*node = l;
	*npairs = (size_t)(l->data.mapping.pairs.top - l->data.mapping.pairs.start);
	return 1;
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

char *pl_intern(struct pl_ctx *c, const char *s)
{
	size_t i;

	if (c->nintern * 2 >= c->cintern) {
		size_t cap = c->cintern ? c->cintern * 2 : 256;
		char **v = calloc(cap, sizeof(*v));

		if (!v)
			return NULL;
		for (size_t j = 0; j < c->cintern; j++) {
			if (!c->intern[j])
				continue;
			for (i = str_hash(c->intern[j]) & (cap - 1); v[i]; i = (i + 1) & (cap - 1))
				;
			v[i] = c->intern[j];
		}
		free(c->intern);
		c->intern = v;
		c->cintern = cap;
	}
	for (i = str_hash(s) & (c->cintern - 1); c->intern[i]; i = (i + 1) & (c->cintern - 1))
		if (!strcmp(c->intern[i], s))
			return c->intern[i];
	if (!(c->intern[i] = sl_arena_strdup(c->a, s)))
		return NULL;
	c->nintern++;
	return c->intern[i];
}

static uint64_t lset_hash(const struct sl_label *v, size_t n)
{
	uint64_t h = 1469598103934665603ull ^ n;

	for (size_t i = 0; i < n; i++)
		h = ((h ^ (uintptr_t)v[i].key) * 1099511628211ull ^ (uintptr_t)v[i].value) *
		    1099511628211ull;
	return h ^ (h >> 29);
}

/* The model's copy of label set v (n labels of interned strings, sorted),
 * one per distinct set of this load; v itself is scratch. Open addressing,
 * like pl_intern. */
static struct sl_label *lset_intern(struct pl_ctx *c, const struct sl_label *v, size_t n)
{
	struct sl_label *copy;
	size_t i;

	if (c->nlsets * 2 >= c->clsets) {
		size_t cap = c->clsets ? c->clsets * 2 : 256;
		struct sl_labels *t = calloc(cap, sizeof(*t));

		if (!t)
			return NULL;
		for (size_t j = 0; j < c->clsets; j++) {
			if (!c->lsets[j].v)
				continue;
			for (i = lset_hash(c->lsets[j].v, c->lsets[j].n) & (cap - 1); t[i].v;
			     i = (i + 1) & (cap - 1))
				;
			t[i] = c->lsets[j];
		}
		free(c->lsets);
		c->lsets = t;
		c->clsets = cap;
	}
	for (i = lset_hash(v, n) & (c->clsets - 1); c->lsets[i].v; i = (i + 1) & (c->clsets - 1))
		if (c->lsets[i].n == n && !memcmp(c->lsets[i].v, v, n * sizeof(*v)))
			return c->lsets[i].v;
	if (!(copy = sl_arena_calloc(c->a, n ? n : 1, sizeof(*copy))))
		return NULL;
	memcpy(copy, v, n * sizeof(*v));
	c->lsets[i] = (struct sl_labels){ copy, n };
	c->nlsets++;
	return copy;
}

int pl_labels(struct pl_ctx *c, yaml_node_t *map, const char *key, struct sl_labels *out)
{
	yaml_node_t *l;
	size_t k;
	memset(out, 0, sizeof(*out));
	int found = pl_map_at(c, map, key, "must be a map of strings", &l, &k);
	if (found <= 0)
		return found;
	/* built in the scratch arena; the model keeps one copy per set */
	struct sl_label *v = sl_arena_calloc(c->tmp, k ? k : 1, sizeof(*v));
	if (!v)
		return -1;
	int rc = 1;
	for (size_t i = 0; i < k; i++) {
		yaml_node_pair_t *p = &l->data.mapping.pairs.start[i];
		yaml_node_t *kn = pl_node(c, p->key), *vn = pl_node(c, p->value);
		const char *ks = pl_scalar(kn), *vs = pl_scalar(vn);
		if (!ks || !*ks || !vs) {
			pl_err(c, PL_E_TYPE, ks && *ks ? vn : kn,
			       "%s must map non-empty names to strings", key);
			rc = -1;
			ks = ks ? ks : "";
			vs = vs ? vs : "";
		}
		/* interned: 50,000 Pods carry a handful of keys and values */
		v[i].key = pl_intern(c, ks);
		v[i].value = pl_intern(c, pl_is_null(vn) ? "" : vs);
		if (!v[i].key || !v[i].value)
			return -1;
	}
	qsort(v, k, sizeof(*v), label_cmp);
	for (size_t i = 1; i < k; i++) {
		if (!strcmp(v[i].key, v[i - 1].key)) {
			pl_err(c, PL_E_DUPKEY, l, "duplicate key \"%s\" in %s", v[i].key, key);
			rc = -1;
		}
	}
	if (!(v = lset_intern(c, v, k)))
		return -1;
	out->v = v;
	out->n = k;
	return rc;
}

int pl_ip(struct pl_ctx *c, yaml_node_t *n, struct sl_ip *ip)
{
	const char *s = pl_scalar(n);
	memset(ip, 0, sizeof(*ip));
	if (!s) {
		pl_err(c, PL_E_TYPE, n, "address must be a string");
		return -1;
	}
	if (strchr(s, '/')) {
		pl_err(c, PL_E_UNSUP, n, "CIDR address \"%s\" is not supported yet (use single addresses)", s);
		return -1;
	}
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, s, &a4) == 1) {
		ip->family = AF_INET;
		ip->addr[10] = 0xff;
		ip->addr[11] = 0xff;
		memcpy(&ip->addr[12], &a4, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6) == 1) {
		ip->family = AF_INET6;
		memcpy(ip->addr, &a6, 16);
		return 0;
	}
	pl_err(c, PL_E_IP, n, "bad IP address \"%s\"", s);
	return -1;
}

int pl_named_ports(struct pl_ctx *c, yaml_node_t *map, const char *key,
		   struct sl_named_port **out, size_t *n)
{
	yaml_node_t *l;
	size_t k;
	int found = pl_map_at(c, map, key, "must map port names to numbers", &l, &k);
	if (found <= 0)
		return found;
	struct sl_named_port *v = sl_arena_calloc(c->a, k ? k : 1, sizeof(*v));
	if (!v)
		return -1;
	int rc = 1;
	for (size_t i = 0; i < k; i++) {
		yaml_node_pair_t *p = &l->data.mapping.pairs.start[i];
		const char *name = pl_scalar(pl_node(c, p->key));
		if (!name || !*name) {
			pl_err(c, PL_E_TYPE, pl_node(c, p->key), "%s keys must be port names", key);
			rc = -1;
			continue;
		}
		v[i].name = sl_arena_strdup(c->a, name);
		if (pl_port(c, l, name, &v[i].number) < 0)
			rc = -1;
	}
	*out = v;
	*n = k;
	return rc;
}

int pl_enum(struct pl_ctx *c, yaml_node_t *map, const char *key, const char *msg,
	    const char *const *names, int *out)
{
	yaml_node_t *n = pl_get(c, map, key);
	if (!n || pl_is_null(n))
		return 0;
	const char *s = pl_scalar(n);
	if (!s) {
		pl_err(c, PL_E_TYPE, n, "%s must be a string", key);
		return -1;
	}
	char row[128];
	snprintf(row, sizeof(row), "%s=%s", key, s);
	const struct pl_field *f = pl_field_find(msg, row);
	if (f && f->sup == PL_UNSUPPORTED) {
		pl_err(c, PL_E_UNSUP, n, "%s: %s is not supported yet", key, s);
		return -1;
	}
	char allowed[512] = "";
	for (int i = 0; names[i]; i++) {
		if (!strcmp(names[i], s)) {
			*out = i;
			return 1;
		}
		size_t l = strlen(allowed);
		snprintf(allowed + l, sizeof(allowed) - l, "%s%s", i ? ", " : "", names[i]);
	}
	pl_err(c, PL_E_ENUM, n, "%s: unknown value \"%s\" (allowed: %s)", key, s, allowed);
	return -1;
}

/* ---- canonical hash --------------------------------------------------- */
#define FNV_OFF 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= FNV_PRIME;
	}
	return h;
}

struct hash_pair {
	const char *key;
	yaml_node_t *val;
};

static int hash_pair_cmp(const void *a, const void *b)
{
	return strcmp(((const struct hash_pair *)a)->key, ((const struct hash_pair *)b)->key);
}

static uint64_t hash_node(struct pl_ctx *c, yaml_node_t *n, uint64_t h, int depth)
{
	if (!n || depth > 64 || !pl_visit(c))
		return fnv(h, "!", 1);
	switch (n->type) {
	case YAML_SCALAR_NODE:
		h = fnv(h, "s", 1);
		h = fnv(h, &n->data.scalar.length, sizeof(n->data.scalar.length));
		return fnv(h, n->data.scalar.value, n->data.scalar.length);
	case YAML_SEQUENCE_NODE:
		h = fnv(h, "[", 1);
		for (size_t i = 0; i < pl_seq_len(n); i++)
			h = hash_node(c, pl_seq_at(c, n, i), h, depth + 1);
		return fnv(h, "]", 1);
	case YAML_MAPPING_NODE: {
		size_t k = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
		struct hash_pair *v = calloc(k ? k : 1, sizeof(*v));
		if (!v)
			return fnv(h, "!", 1);
		for (size_t i = 0; i < k; i++) {
			yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
			const char *ks = pl_scalar(pl_node(c, p->key));
			v[i].key = ks ? ks : "";
			v[i].val = pl_node(c, p->value);
		}
		qsort(v, k, sizeof(*v), hash_pair_cmp);
		h = fnv(h, "{", 1);
		for (size_t i = 0; i < k; i++) {
			h = fnv(h, v[i].key, strlen(v[i].key) + 1);
			h = hash_node(c, v[i].val, h, depth + 1);
		}
		free(v);
		return fnv(h, "}", 1);
	}
	default:
		return fnv(h, "?", 1);
	}
}

uint64_t pl_hash(struct pl_ctx *c, yaml_node_t *n)
{
	return hash_node(c, n, FNV_OFF, 0);
}
