// SPDX-License-Identifier: Apache-2.0
/*
 * Canonical JSON dump of a compiled model (docs/compiled-model.md): stable
 * ordering (the model's own sorted order), indices resolved to names where
 * a reader needs them, no source positions, so two loads of the same
 * policy from different paths dump byte-identical output.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sluice/model.h"

#define J_MAXDEPTH 32

struct jw {
	FILE *f;
	int depth;
	bool first[J_MAXDEPTH];
	bool after_key;
};

static void j_indent(struct jw *w)
{
	fputc('\n', w->f);
	for (int i = 0; i < w->depth; i++)
		fputs("  ", w->f);
}

/* Separator before a value: comma unless first in its container. */
static void j_pre(struct jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth > 0) {
		if (!w->first[w->depth])
			fputc(',', w->f);
		w->first[w->depth] = false;
		j_indent(w);
	}
}

static void j_rawstr(struct jw *w, const char *s)
{
	fputc('"', w->f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(w->f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", w->f);
		else if (*p == '\t')
			fputs("\\t", w->f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(w->f, "\\u%04x", *p);
		else
			fputc(*p, w->f);
	}
	fputc('"', w->f);
}

static void j_open(struct jw *w, char ch)
{
	j_pre(w);
	fputc(ch, w->f);
	if (w->depth + 1 < J_MAXDEPTH)
		w->depth++;
	w->first[w->depth] = true;
}

static void j_close(struct jw *w, char ch)
{
	bool empty = w->first[w->depth];
	w->depth--;
	if (!empty)
		j_indent(w);
	fputc(ch, w->f);
}

static void j_key(struct jw *w, const char *k)
{
	j_pre(w);
	j_rawstr(w, k);
	fputs(": ", w->f);
	w->after_key = true;
}

static void j_str(struct jw *w, const char *s)
{
	j_pre(w);
	if (s)
		j_rawstr(w, s);
	else
		fputs("null", w->f);
}

static void j_u64(struct jw *w, uint64_t v)
{
	j_pre(w);
	fprintf(w->f, "%" PRIu64, v);
}

static void j_i64(struct jw *w, int64_t v)
{
	j_pre(w);
	fprintf(w->f, "%" PRId64, v);
}

static void j_bool(struct jw *w, bool b)
{
	j_pre(w);
	fputs(b ? "true" : "false", w->f);
}

static void kv_str(struct jw *w, const char *k, const char *v)
{
	j_key(w, k);
	j_str(w, v);
}

static void kv_u64(struct jw *w, const char *k, uint64_t v)
{
	j_key(w, k);
	j_u64(w, v);
}

static void kv_bool(struct jw *w, const char *k, bool v)
{
	j_key(w, k);
	j_bool(w, v);
}

static void j_ip(struct jw *w, const struct sl_ip *ip)
{
	char buf[INET6_ADDRSTRLEN];
	if (ip->family == AF_INET)
		inet_ntop(AF_INET, &ip->addr[12], buf, sizeof(buf));
	else if (ip->family == AF_INET6)
		inet_ntop(AF_INET6, ip->addr, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "?");
	j_str(w, buf);
}

static void j_labels(struct jw *w, const char *k, const struct sl_labels *l)
{
	j_key(w, k);
	j_open(w, '{');
	for (size_t i = 0; i < l->n; i++)
		kv_str(w, l->v[i].key, l->v[i].value);
	j_close(w, '}');
}

static void j_named_ports(struct jw *w, const struct sl_named_port *p, size_t n)
{
	j_key(w, "ports");
	j_open(w, '{');
	for (size_t i = 0; i < n; i++)
		if (p[i].name)
			kv_u64(w, p[i].name, p[i].number);
	j_close(w, '}');
}

static void j_idx(struct jw *w, const char *k, const size_t *v, size_t n)
{
	j_key(w, k);
	j_open(w, '[');
	for (size_t i = 0; i < n; i++)
		j_u64(w, v[i]);
	j_close(w, ']');
}

static void j_strs(struct jw *w, const char *k, char *const *v, size_t n)
{
	j_key(w, k);
	j_open(w, '[');
	for (size_t i = 0; i < n; i++)
		j_str(w, v[i]);
	j_close(w, ']');
}

static const char *const lb_names[] = {
	"UNSET", "ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "PASSTHROUGH", "CONSISTENT_HASH",
};
static const char *const hash_names[] = {
	"NONE", "HEADER", "COOKIE", "SOURCE_IP", "QUERY_PARAM",
};

static void j_tp(struct jw *w, const struct sl_traffic_policy *tp)
{
	j_key(w, "trafficPolicy");
	j_open(w, '{');
	j_key(w, "loadBalancer");
	j_open(w, '{');
	kv_str(w, "kind", lb_names[tp->lb.kind]);
	if (tp->lb.kind == SL_LB_CONSISTENT_HASH) {
		kv_str(w, "hash", hash_names[tp->lb.hash]);
		kv_str(w, "key", tp->lb.hash_key);
		kv_str(w, "cookiePath", tp->lb.cookie_path);
		kv_u64(w, "cookieTtlMs", tp->lb.cookie_ttl_ms);
		kv_u64(w, "maglevTableSize", tp->lb.maglev_size);
	}
	j_close(w, '}');
	j_key(w, "connectionPool");
	j_open(w, '{');
	kv_u64(w, "tcpMaxConnections", tp->pool.tcp_max_connections);
	kv_u64(w, "tcpConnectTimeoutMs", tp->pool.tcp_connect_timeout_ms);
	if (tp->pool.tcp_keepalive) {
		j_key(w, "tcpKeepalive");
		j_open(w, '{');
		kv_u64(w, "timeS", tp->pool.ka_time_s);
		kv_u64(w, "intervalS", tp->pool.ka_interval_s);
		kv_u64(w, "probes", tp->pool.ka_probes);
		j_close(w, '}');
	}
	kv_u64(w, "http1MaxPendingRequests", tp->pool.http1_max_pending);
	kv_u64(w, "http2MaxRequests", tp->pool.http2_max_requests);
	kv_u64(w, "maxConcurrentStreams", tp->pool.max_concurrent_streams);
	kv_u64(w, "maxRequestsPerConnection", tp->pool.max_requests_per_conn);
	kv_u64(w, "maxRetries", tp->pool.max_retries);
	kv_u64(w, "idleTimeoutMs", tp->pool.idle_timeout_ms);
	j_close(w, '}');
	j_key(w, "outlierDetection");
	if (!tp->outlier.set) {
		j_str(w, NULL);
	} else {
		j_open(w, '{');
		kv_u64(w, "consecutive5xxErrors", tp->outlier.consecutive_5xx);
		kv_u64(w, "consecutiveGatewayErrors", tp->outlier.consecutive_gw);
		kv_u64(w, "intervalMs", tp->outlier.interval_ms);
		kv_u64(w, "baseEjectionTimeMs", tp->outlier.base_ejection_ms);
		kv_u64(w, "maxEjectionPercent", tp->outlier.max_ejection_pct);
		j_close(w, '}');
	}
	j_close(w, '}');
}

static void j_service(struct jw *w, const struct sl_model *m, const struct sl_service *s)
{
	j_open(w, '{');
	kv_str(w, "host", s->host);
	kv_str(w, "name", s->name);
	kv_str(w, "namespace", s->ns);
	j_key(w, "addresses");
	j_open(w, '[');
	for (size_t i = 0; i < s->nvips; i++)
		j_ip(w, &s->vips[i]);
	j_close(w, ']');
	j_key(w, "ports");
	j_open(w, '[');
	for (size_t i = 0; i < s->nports; i++) {
		j_open(w, '{');
		kv_u64(w, "number", s->ports[i].number);
		kv_str(w, "name", s->ports[i].name);
		kv_str(w, "protocol", sl_proto_name(s->ports[i].proto));
		kv_u64(w, "targetPort", s->ports[i].target_port);
		j_close(w, '}');
	}
	j_close(w, ']');
	static const char *const res[] = { "NONE", "STATIC", "DNS" };
	kv_str(w, "resolution", res[s->resolution]);
	kv_str(w, "location", s->location == SL_LOC_MESH_EXTERNAL ? "MESH_EXTERNAL" : "MESH_INTERNAL");
	j_key(w, "endpoints");
	j_open(w, '[');
	for (size_t i = 0; i < s->nendpoints; i++) {
		const struct sl_endpoint *e = &s->endpoints[i];
		j_open(w, '{');
		j_key(w, "address");
		if (e->dns_name)
			j_str(w, NULL);
		else
			j_ip(w, &e->ip);
		/* a host name to resolve (address null); hostEndpoint: the
		 * service's own host, not a written endpoint */
		kv_str(w, "dnsName", e->dns_name ? e->address : NULL);
		kv_bool(w, "hostEndpoint", e->host_endpoint);
		j_labels(w, "labels", &e->labels);
		j_named_ports(w, e->ports, e->nports);
		kv_u64(w, "weight", e->weight);
		j_key(w, "workload");
		if (e->workload >= 0) {
			const struct sl_workload *wl = &m->workloads[e->workload];
			char buf[512];
			snprintf(buf, sizeof(buf), "%s/%s", wl->ns, wl->name);
			j_str(w, buf);
		} else {
			j_str(w, NULL);
		}
		j_close(w, '}');
	}
	j_close(w, ']');
	kv_str(w, "destinationRule", s->dr_name);
	j_tp(w, &s->tp);
	j_key(w, "subsets");
	j_open(w, '[');
	for (size_t i = 0; i < s->nsubsets; i++) {
		const struct sl_subset *sub = &s->subsets[i];
		j_open(w, '{');
		kv_str(w, "name", sub->name);
		j_labels(w, "labels", &sub->labels);
		j_idx(w, "endpoints", sub->endpoints, sub->nendpoints);
		j_tp(w, &sub->tp);
		j_close(w, '}');
	}
	j_close(w, ']');
	j_key(w, "virtualService");
	if (s->vhost >= 0) {
		char buf[512];
		snprintf(buf, sizeof(buf), "%s/%s", m->vhosts[s->vhost].ns, m->vhosts[s->vhost].name);
		j_str(w, buf);
	} else {
		j_str(w, NULL);
	}
	j_close(w, '}');
}

static const char *const str_kinds[] = { "none", "exact", "prefix", "regex" };

static void j_strmatch(struct jw *w, const char *k, const struct sl_strmatch *sm)
{
	j_key(w, k);
	j_open(w, '{');
	kv_str(w, "kind", str_kinds[sm->kind]);
	if (sm->kind)
		kv_str(w, "value", sm->value);
	if (sm->ignore_case)
		kv_bool(w, "ignoreCase", true);
	j_close(w, '}');
}

static void j_kv_matches(struct jw *w, const char *k, const struct sl_kv_match *v, size_t n)
{
	j_key(w, k);
	j_open(w, '[');
	for (size_t i = 0; i < n; i++) {
		j_open(w, '{');
		kv_str(w, "name", v[i].name);
		j_strmatch(w, "match", &v[i].m);
		j_close(w, '}');
	}
	j_close(w, ']');
}

static void j_dest(struct jw *w, const struct sl_model *m, const struct sl_dest *d, bool weights)
{
	const struct sl_service *s = &m->services[d->service];
	j_open(w, '{');
	kv_str(w, "host", s->host);
	kv_str(w, "subset", d->subset >= 0 ? s->subsets[d->subset].name : NULL);
	kv_u64(w, "port", d->port);
	if (weights) {
		kv_u64(w, "weightRaw", d->weight_raw);
		kv_u64(w, "weight", d->weight);
	}
	j_close(w, '}');
}

static void j_header_ops(struct jw *w, const char *k, const struct sl_header_ops *h)
{
	j_key(w, k);
	j_open(w, '{');
	j_key(w, "set");
	j_open(w, '{');
	for (size_t i = 0; i < h->nset; i++)
		kv_str(w, h->set[i].key, h->set[i].value);
	j_close(w, '}');
	j_key(w, "add");
	j_open(w, '{');
	for (size_t i = 0; i < h->nadd; i++)
		kv_str(w, h->add[i].key, h->add[i].value);
	j_close(w, '}');
	j_strs(w, "remove", h->remove, h->nremove);
	j_close(w, '}');
}

static void j_route(struct jw *w, const struct sl_model *m, const struct sl_route *r, bool http)
{
	j_open(w, '{');
	kv_str(w, "name", r->name);
	j_key(w, "match");
	j_open(w, '[');
	for (size_t i = 0; i < r->nmatches; i++) {
		const struct sl_match *mt = &r->matches[i];
		j_open(w, '{');
		if (http) {
			kv_str(w, "name", mt->name);
			j_strmatch(w, "uri", &mt->uri);
			j_strmatch(w, "method", &mt->method);
			j_strmatch(w, "authority", &mt->authority);
			j_strmatch(w, "scheme", &mt->scheme);
			j_kv_matches(w, "headers", mt->headers, mt->nheaders);
			j_kv_matches(w, "withoutHeaders", mt->without_headers, mt->nwithout_headers);
			j_kv_matches(w, "queryParams", mt->query, mt->nquery);
		}
		kv_u64(w, "port", mt->port);
		if (mt->nsni_hosts)	/* tls routes */
			j_strs(w, "sniHosts", mt->sni_hosts, mt->nsni_hosts);
		if (mt->has_source_labels) {
			j_labels(w, "sourceLabels", &mt->source_labels);
			j_idx(w, "sourceWorkloads", mt->source_workloads, mt->nsource_workloads);
		}
		j_close(w, '}');
	}
	j_close(w, ']');
	j_key(w, "route");
	j_open(w, '[');
	for (size_t i = 0; i < r->ndests; i++)
		j_dest(w, m, &r->dests[i], true);
	j_close(w, ']');
	kv_u64(w, "weightRawTotal", r->weight_raw_total);
	if (http) {
		kv_u64(w, "timeoutMs", r->timeout_ms);
		j_key(w, "retries");
		if (r->retries.set) {
			j_open(w, '{');
			kv_u64(w, "attempts", r->retries.attempts);
			kv_u64(w, "perTryTimeoutMs", r->retries.per_try_timeout_ms);
			kv_u64(w, "retryOn", r->retries.retry_on);
			j_close(w, '}');
		} else {
			j_str(w, NULL);
		}
		j_key(w, "fault");
		j_open(w, '{');
		kv_u64(w, "delayMs", r->fault.delay_ms);
		kv_u64(w, "delayPpm", r->fault.delay_ppm);
		kv_u64(w, "abortStatus", r->fault.abort_status);
		kv_u64(w, "abortPpm", r->fault.abort_ppm);
		j_close(w, '}');
		j_key(w, "rewrite");
		j_open(w, '{');
		kv_str(w, "uri", r->rewrite.uri);
		kv_str(w, "authority", r->rewrite.authority);
		j_close(w, '}');
		j_key(w, "redirect");
		if (r->has_redirect) {
			j_open(w, '{');
			kv_str(w, "uri", r->redirect.uri);
			kv_str(w, "authority", r->redirect.authority);
			kv_u64(w, "code", r->redirect.code);
			j_close(w, '}');
		} else {
			j_str(w, NULL);
		}
		j_header_ops(w, "requestHeaders", &r->req_headers);
		j_header_ops(w, "responseHeaders", &r->resp_headers);
		j_key(w, "mirror");
		if (r->has_mirror)
			j_dest(w, m, &r->mirror, false);
		else
			j_str(w, NULL);
		kv_u64(w, "mirrorPpm", r->has_mirror ? r->mirror_ppm : 0);
	}
	j_close(w, '}');
}

static void j_vhost(struct jw *w, const struct sl_model *m, const struct sl_vhost *v)
{
	j_open(w, '{');
	kv_str(w, "name", v->name);
	kv_str(w, "namespace", v->ns);
	j_strs(w, "hosts", v->hosts, v->nhosts);
	j_strs(w, "gateways", v->gateways, v->ngateways);
	kv_bool(w, "mesh", v->mesh);
	j_key(w, "http");
	j_open(w, '[');
	for (size_t i = 0; i < v->nhttp; i++)
		j_route(w, m, &v->http[i], true);
	j_close(w, ']');
	j_key(w, "tcp");
	j_open(w, '[');
	for (size_t i = 0; i < v->ntcp; i++)
		j_route(w, m, &v->tcp[i], false);
	j_close(w, ']');
	j_key(w, "tls");
	j_open(w, '[');
	for (size_t i = 0; i < v->ntls; i++)
		j_route(w, m, &v->tls[i], false);
	j_close(w, ']');
	j_key(w, "tcpFault");
	if (v->tcp_fault_ppm) {
		j_open(w, '{');
		kv_u64(w, "abortPerMillion", v->tcp_fault_ppm);
		kv_u64(w, "errno", (uint64_t)v->tcp_fault_errno);
		j_close(w, '}');
	} else {
		j_str(w, NULL);
	}
	j_close(w, '}');
}

int sl_model_dump_json(const struct sl_model *m, FILE *f)
{
	struct jw w = { .f = f };
	j_open(&w, '{');
	kv_str(&w, "outboundTrafficPolicy",
	       m->outbound == SL_OUTBOUND_REGISTRY_ONLY ? "REGISTRY_ONLY" : "ALLOW_ANY");
	j_key(&w, "services");
	j_open(&w, '[');
	for (size_t i = 0; i < m->nservices; i++)
		j_service(&w, m, &m->services[i]);
	j_close(&w, ']');
	j_key(&w, "virtualServices");
	j_open(&w, '[');
	for (size_t i = 0; i < m->nvhosts; i++)
		j_vhost(&w, m, &m->vhosts[i]);
	j_close(&w, ']');
	j_key(&w, "workloads");
	j_open(&w, '[');
	for (size_t i = 0; i < m->nworkloads; i++) {
		const struct sl_workload *wl = &m->workloads[i];
		j_open(&w, '{');
		kv_str(&w, "name", wl->name);
		kv_str(&w, "namespace", wl->ns);
		j_key(&w, "address");
		j_ip(&w, &wl->ip);
		j_labels(&w, "labels", &wl->labels);
		j_named_ports(&w, wl->ports, wl->nports);
		kv_u64(&w, "weight", wl->weight);
		kv_str(&w, "cgroup", wl->cgroup);
		kv_str(&w, "podUid", wl->pod_uid);
		const struct sl_sidecar *sc = sl_sidecar_of(m, wl);
		char scn[512];
		if (sc)
			snprintf(scn, sizeof(scn), "%s/%s", sc->ns, sc->name);
		kv_str(&w, "sidecar", sc ? scn : NULL);
		j_close(&w, '}');
	}
	j_close(&w, ']');
	j_key(&w, "gateways");
	j_open(&w, '[');
	for (size_t i = 0; i < m->ngateways; i++) {
		const struct sl_gateway *g = &m->gateways[i];
		j_open(&w, '{');
		kv_str(&w, "name", g->name);
		kv_str(&w, "namespace", g->ns);
		j_key(&w, "servers");
		j_open(&w, '[');
		for (size_t s = 0; s < g->nservers; s++) {
			j_open(&w, '{');
			kv_u64(&w, "port", g->servers[s].port);
			kv_str(&w, "portName", g->servers[s].port_name);
			kv_str(&w, "protocol", sl_proto_name(g->servers[s].proto));
			j_strs(&w, "hosts", g->servers[s].hosts, g->servers[s].nhosts);
			/* TCP servers: the VIP and the VirtualService whose tcp
			 * routes serve it (null when none) */
			j_key(&w, "bind");
			if (g->servers[s].bind.family)
				j_ip(&w, &g->servers[s].bind);
			else
				j_str(&w, NULL);
			const struct sl_gateway_server *sv = &g->servers[s];
			char vbuf[512];
			bool tv = sv->bind.family && sv->tcp_vhost >= 0 &&
				  (size_t)sv->tcp_vhost < m->nvhosts;
			if (tv)
				snprintf(vbuf, sizeof(vbuf), "%s/%s", m->vhosts[sv->tcp_vhost].ns,
					 m->vhosts[sv->tcp_vhost].name);
			kv_str(&w, "tcpVirtualService", tv ? vbuf : NULL);
			/* Server.tls as enforced (policy_tls.c), null when none */
			j_key(&w, "tls");
			if (sv->tls.mode == SL_TLS_NONE && !sv->tls.https_redirect) {
				j_str(&w, NULL);
			} else {
				const struct sl_server_tls *t = &sv->tls;
				j_open(&w, '{');
				kv_str(&w, "mode", t->mode == SL_TLS_PASSTHROUGH ? "PASSTHROUGH" :
					t->mode != SL_TLS_SIMPLE ? NULL :
					t->client_auth == SL_CLIENT_AUTH_REQUIRE ? "MUTUAL" :
					t->client_auth == SL_CLIENT_AUTH_OPTIONAL ? "OPTIONAL_MUTUAL" :
					"SIMPLE");
				if (t->credential)
					kv_str(&w, "credentialName", t->credential);
				kv_str(&w, "serverCertificate", t->cert_file);
				kv_str(&w, "privateKey", t->key_file);
				if (t->client_auth != SL_CLIENT_AUTH_NONE) {
					kv_str(&w, "caCertificates", t->ca_file);
					j_strs(&w, "subjectAltNames", t->sans, t->nsans);
				}
				kv_str(&w, "minProtocolVersion", t->min_version == SL_TLS_V12 ? "TLSV1_2" :
					t->min_version == SL_TLS_V13 ? "TLSV1_3" : NULL);
				kv_str(&w, "maxProtocolVersion", t->max_version == SL_TLS_V12 ? "TLSV1_2" :
					t->max_version == SL_TLS_V13 ? "TLSV1_3" : NULL);
				kv_str(&w, "cipherSuites", t->ciphers);
				kv_bool(&w, "httpsRedirect", t->https_redirect);
				j_close(&w, '}');
			}
			j_close(&w, '}');
		}
		j_close(&w, ']');
		j_key(&w, "virtualServices");
		j_open(&w, '[');
		for (size_t v = 0; v < g->nvhosts; v++) {
			char buf[512];
			const struct sl_vhost *vh = &m->vhosts[g->vhosts[v]];
			snprintf(buf, sizeof(buf), "%s/%s", vh->ns, vh->name);
			j_str(&w, buf);
		}
		j_close(&w, ']');
		j_close(&w, '}');
	}
	j_close(&w, ']');
	j_key(&w, "sidecars");
	j_open(&w, '[');
	for (size_t i = 0; i < m->nsidecars; i++) {
		const struct sl_sidecar *s = &m->sidecars[i];
		j_open(&w, '{');
		kv_str(&w, "name", s->name);
		kv_str(&w, "namespace", s->ns);
		j_strs(&w, "egressHosts", s->egress_hosts, s->negress_hosts);
		if (s->has_selector)
			j_labels(&w, "workloadSelector", &s->selector);
		else
			kv_str(&w, "workloadSelector", NULL);
		kv_str(&w, "outboundTrafficPolicy", !s->outbound_set ? NULL :
			   s->outbound == SL_OUTBOUND_REGISTRY_ONLY ? "REGISTRY_ONLY" : "ALLOW_ANY");
		j_close(&w, '}');
	}
	j_close(&w, ']');
	j_key(&w, "objects");
	j_open(&w, '[');
	for (size_t i = 0; i < m->nobjects; i++) {
		const struct sl_object *o = &m->objects[i];
		char h[24];
		snprintf(h, sizeof(h), "%016" PRIx64, o->hash);
		j_open(&w, '{');
		kv_str(&w, "kind", o->kind);
		kv_str(&w, "namespace", o->ns);
		kv_str(&w, "name", o->name);
		kv_str(&w, "hash", h);
		j_close(&w, '}');
	}
	j_close(&w, ']');
	j_close(&w, '}');
	fputc('\n', f);
	(void)j_i64;
	return ferror(f) ? -EIO : 0;
}
