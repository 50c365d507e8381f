/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Istio's standard metric labels from the model (include/sluice/labels.h).
 * The rules follow Istio's own: app and version are the workload's `app` and
 * `version` labels; the canonical service and revision are the
 * service.istio.io/canonical-name and -revision labels, else the
 * app.kubernetes.io/name and /version ones,
 * else app / version (else the workload name / "latest"); a Kubernetes-form
 * host (NAME.NS.svc.DOMAIN) gives the service name and namespace, any other
 * host is its own name in the ServiceEntry's namespace.
 */
#include <string.h>

#include "sluice/labels.h"

static const char unknown[] = "unknown";

static const char *label(const struct sl_labels *ls, const char *key)
{
	size_t i;

	for (i = 0; ls && i < ls->n; i++)
		if (!strcmp(ls->v[i].key, key))
			return ls->v[i].value;
	return NULL;
}

static const char *first_of(const struct sl_labels *ls, const char *a, const char *b,
			    const char *c)
{
	const char *v = label(ls, a);

	if (!v)
		v = label(ls, b);
	if (!v)
		v = label(ls, c);
	return v;
}

static void from_labels(const struct sl_labels *ls, const char *workload, struct sl_peer *p)
{
	const char *v;

	p->app = label(ls, "app");
	p->version = label(ls, "version");
	v = first_of(ls, "service.istio.io/canonical-name", "app.kubernetes.io/name", "app");
	p->canonical_service = v ? v : workload;
	v = first_of(ls, "service.istio.io/canonical-revision", "app.kubernetes.io/version",
		     "version");
	p->canonical_revision = v ? v : "latest";
	if (!p->app)
		p->app = unknown;
	if (!p->version)
		p->version = unknown;
}

static void peer_unknown(struct sl_peer *p)
{
	p->workload = p->ns = p->app = p->version = unknown;
	p->canonical_service = p->canonical_revision = unknown;
}

void sl_peer_of_workload(const struct sl_model *m, int workload, struct sl_peer *p)
{
	const struct sl_workload *w;

	peer_unknown(p);
	if (!m || workload < 0 || (size_t)workload >= m->nworkloads)
		return;
	w = &m->workloads[workload];
	p->workload = w->name;
	p->ns = w->ns;
	from_labels(&w->labels, w->name, p);
}

void sl_peer_of_endpoint(const struct sl_model *m, const struct sl_endpoint *ep,
			 struct sl_peer *p)
{
	peer_unknown(p);
	if (!ep)
		return;
	if (m && ep->workload >= 0 && (size_t)ep->workload < m->nworkloads) {
		p->workload = m->workloads[ep->workload].name;
		p->ns = m->workloads[ep->workload].ns;
	}
	from_labels(&ep->labels, p->workload, p);
}

int sl_service_endpoint_at(const struct sl_service *s, const uint8_t addr[16], uint16_t port)
{
	size_t i, j;
	int any = -1;

	for (i = 0; s && i < s->nendpoints; i++) {
		const struct sl_endpoint *ep = &s->endpoints[i];

		if (!ep->ip.family || memcmp(ep->ip.addr, addr, 16))
			continue;
		if (!port)
			return (int)i;
		for (j = 0; j < ep->nports; j++)
			if (ep->ports[j].number == port)
				return (int)i;
		if (any < 0)
			any = (int)i;	/* port not listed: the service port's */
	}
	return any;
}

void sl_prom_escape(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		fputc(*s, f);
	}
}

static void kv(FILE *f, const char *k, const char *v)
{
	fprintf(f, ",%s=\"", k);
	sl_prom_escape(f, v && *v ? v : unknown);
	fputc('"', f);
}

/* NAME.NS.svc.DOMAIN -> NAME and NS; else the host and the entry's ns. */
static void service_name_ns(const struct sl_service *s, char *name, size_t nlen, char *ns,
			    size_t nslen)
{
	const char *dot = strchr(s->host, '.'), *dot2 = dot ? strchr(dot + 1, '.') : NULL;

	if (dot && dot2 && !strncmp(dot2, ".svc.", 5)) {
		snprintf(name, nlen, "%.*s", (int)(dot - s->host), s->host);
		snprintf(ns, nslen, "%.*s", (int)(dot2 - dot - 1), dot + 1);
		return;
	}
	snprintf(name, nlen, "%s", s->host);
	snprintf(ns, nslen, "%s", s->ns ? s->ns : unknown);
}

const char *sl_istio_security(const char *reporter)
{
	/* Sluice terminates no mTLS: plaintext is "none" where the server
	 * side reports, and the client side cannot know */
	return !strcmp(reporter, "destination") ? "none" : unknown;
}

void sl_istio_labels_write(FILE *f, const struct sl_istio_labels *l)
{
	char name[256] = "unknown", ns[256] = "unknown";

	if (l->svc)
		service_name_ns(l->svc, name, sizeof(name), ns, sizeof(ns));
	fputs("source_workload=\"", f);
	sl_prom_escape(f, l->src.workload);
	fputc('"', f);
	kv(f, "source_workload_namespace", l->src.ns);
	kv(f, "source_principal", unknown);
	kv(f, "source_app", l->src.app);
	kv(f, "source_version", l->src.version);
	kv(f, "source_canonical_service", l->src.canonical_service);
	kv(f, "source_canonical_revision", l->src.canonical_revision);
	kv(f, "source_cluster", unknown);
	kv(f, "destination_workload", l->dst.workload);
	kv(f, "destination_workload_namespace", l->dst.ns);
	kv(f, "destination_principal", unknown);
	kv(f, "destination_app", l->dst.app);
	kv(f, "destination_version", l->dst_version ? l->dst_version : l->dst.version);
	kv(f, "destination_service", l->svc ? l->svc->host : unknown);
	kv(f, "destination_service_name", name);
	kv(f, "destination_service_namespace", ns);
	kv(f, "destination_canonical_service", l->dst.canonical_service);
	kv(f, "destination_canonical_revision", l->dst.canonical_revision);
	kv(f, "destination_cluster", unknown);
	kv(f, "request_protocol", l->protocol);
	if (l->response_code)
		fprintf(f, ",response_code=\"%d\"", l->response_code);
	kv(f, "response_flags", l->response_flags ? l->response_flags : "-");
	if (l->has_grpc)
		fprintf(f, ",grpc_response_status=\"%d\"", l->grpc_status);
}

char *sl_istio_labels_text(const struct sl_istio_labels *l)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	sl_istio_labels_write(f, l);
	fclose(f);
	return text;
}
