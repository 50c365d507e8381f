// SPDX-License-Identifier: Apache-2.0
/*
 * Match helpers of the compiled model, shared by sluice-http, the map
 * compiler and the tests: string matches (exact, prefix, anchored PCRE2
 * regex), label selectors and protocol names.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <strings.h>
#include <ctype.h>
#include <string.h>

#include <pcre2.h>

#include "sluice/model.h"

bool sl_proto_is_http(enum sl_proto p)
{
	return p == SL_PROTO_HTTP || p == SL_PROTO_HTTP2 || p == SL_PROTO_GRPC;
}

bool sl_gw_server_is_http(const struct sl_gateway_server *sv)
{
	return sl_proto_is_http(sv->proto) ||
	       (sv->proto == SL_PROTO_HTTPS && sv->tls.mode == SL_TLS_SIMPLE);
}

bool sl_gw_server_is_passthrough(const struct sl_gateway_server *sv)
{
	return (sv->proto == SL_PROTO_HTTPS || sv->proto == SL_PROTO_TLS) &&
	       sv->tls.mode == SL_TLS_PASSTHROUGH;
}

const char *sl_proto_name(enum sl_proto p)
{
	static const char *const names[] = {
		"TCP", "HTTP", "HTTP2", "GRPC", "HTTPS", "TLS", "UDP", "MONGO", "REDIS", "MYSQL",
	};
	return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "UNKNOWN";
}

/* s need not be NUL-terminated. Kind 0 (presence only) matches anything;
 * the caller decides presence. A regex must match the whole string. */
bool sl_strmatch_eval(const struct sl_strmatch *sm, const char *s, size_t len)
{
	size_t vl;
	switch (sm->kind) {
	case SL_STR_EXACT:
		vl = strlen(sm->value);
		if (vl != len)
			return false;
		return sm->ignore_case ? strncasecmp(sm->value, s, len) == 0
				       : memcmp(sm->value, s, len) == 0;
	case SL_STR_PREFIX:
		vl = strlen(sm->value);
		if (vl > len)
			return false;
		return sm->ignore_case ? strncasecmp(sm->value, s, vl) == 0
				       : memcmp(sm->value, s, vl) == 0;
	case SL_STR_REGEX: {
		if (!sm->re)
			return false;
		pcre2_match_data *md = pcre2_match_data_create(1, NULL);
		if (!md)
			return false;
		int rc = pcre2_match(sm->re, (PCRE2_SPTR)(s ? s : ""), len, 0, 0, md, NULL);
		pcre2_match_data_free(md);
		return rc >= 0;
	}
	default:
		return true;
	}
}

/* Every selector label present with the same value; both sorted by key.
 * An empty selector selects everything (Kubernetes semantics). */
bool sl_labels_select(const struct sl_labels *selector, const struct sl_labels *labels)
{
	size_t j = 0;
	for (size_t i = 0; i < selector->n; i++) {
		const struct sl_label *want = &selector->v[i];
		while (j < labels->n && strcmp(labels->v[j].key, want->key) < 0)
			j++;
		if (j == labels->n || strcmp(labels->v[j].key, want->key) ||
		    strcmp(labels->v[j].value, want->value))
			return false;
	}
	return true;
}

bool sl_host_named(const char *host, const char *name)
{
	size_t n = strlen(name);

	return !strncmp(host, name, n) && (host[n] == '\0' || host[n] == '.');
}

bool sl_host_pattern_match(const char *pat, const char *host)
{
	if (!strcmp(pat, "*") || !strcasecmp(pat, host))
		return true;
	if (pat[0] == '*' && pat[1] == '.') {
		size_t pl = strlen(pat + 1), hl = strlen(host);
		return hl > pl && !strcasecmp(host + hl - pl, pat + 1);
	}
	return false;
}

bool sl_egress_allows(const struct sl_sidecar *sc, const char *client_ns,
		      const struct sl_service *s)
{
	if (!sc->negress_hosts)
		return true;
	for (size_t i = 0; i < sc->negress_hosts; i++) {
		const char *h = sc->egress_hosts[i], *slash = strchr(h, '/');
		size_t nl;

		if (!slash)
			continue;	/* refused by the loader */
		nl = (size_t)(slash - h);
		if (nl == 1 && h[0] == '~')
			continue;
		if (nl == 1 && h[0] == '.') {
			const char *ns = client_ns ? client_ns : sc->ns;
			if (!s->ns || strcmp(ns, s->ns))
				continue;
		} else if (!(nl == 1 && h[0] == '*') &&
			   (!s->ns || strlen(s->ns) != nl || strncmp(h, s->ns, nl))) {
			continue;
		}
		if (sl_host_pattern_match(slash + 1, s->host))
			return true;
	}
	return false;
}

const struct sl_sidecar *sl_sidecar_of(const struct sl_model *m, const struct sl_workload *w)
{
	if (w && w->sidecar >= 0 && (size_t)w->sidecar < m->nsidecars)
		return &m->sidecars[w->sidecar];
	if (m->default_sidecar >= 0 && (size_t)m->default_sidecar < m->nsidecars)
		return &m->sidecars[m->default_sidecar];
	return NULL;
}

bool sl_port_wants_helper(const struct sl_model *m, const struct sl_service *s,
			  const struct sl_port *p)
{
	const struct sl_vhost *vh = NULL;
	bool outlier = s->tp.outlier.set;

	if (!sl_proto_is_http(p->proto))
		return false;
	if (s->vhost >= 0 && (size_t)s->vhost < m->nvhosts && m->vhosts[s->vhost].mesh)
		vh = &m->vhosts[s->vhost];
	if (vh)
		return vh->nhttp > 0;
	for (size_t k = 0; k < s->nsubsets && !outlier; k++)
		outlier = s->subsets[k].tp.outlier.set;
	return outlier && s->nendpoints > 0;
}

bool sl_dns_name_valid(const char *name)
{
	size_t len = strlen(name), label = 0;
	char prev = '.';

	if (!len || len > 253)
		return false;
	for (const char *p = name; *p; prev = *p++) {
		if (*p == '.') {
			if (prev == '.' || prev == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && !(*p == '-' && prev != '.'))
			return false;
		if (++label > 63)
			return false;
	}
	return prev != '-';
}
