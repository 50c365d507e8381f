/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request metrics, one table per worker (a mutex each, uncontended except
 * while a dump reads it): istio_requests_total and the histograms
 * istio_request_duration_milliseconds, istio_request_bytes and
 * istio_response_bytes, with Istio's standard labels
 * (include/sluice/labels.h) from the snapshot's model: the client's
 * workload, the destination service, subset and endpoint, response code and
 * flags. A series is its rendered label text, so counters survive reloads;
 * a small per-worker cache maps (snapshot, client, service, subset,
 * endpoint, code, flags) to the series without rendering again.
 *
 * TLS passthrough connections (passthru.c) have their own counters:
 * connections and bytes per (gateway, SNI host, service, subset), and
 * rejections by reason (Sluice's names). The same connections are also
 * counted per destination endpoint (service, subset, address, port), which
 * sluiced reads (hx_metrics_pt_endpoints_json) to add them to its
 * istio_tcp_* series next to the kernel-steered connections.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/hx.h"
#include "sluice/ctl.h"
#include "sluice/labels.h"

static const double hx_buckets[] = {
	0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
	300000, 600000, 1800000, 3600000,
};
#define NBUCKETS (sizeof(hx_buckets) / sizeof(hx_buckets[0]))

/* Istio's byte-size buckets: powers of ten, 1 B to 100 MB. */
static const double hx_size_buckets[] = { 1, 10, 100, 1000, 10000, 100000, 1000000,
					  10000000, 100000000 };
#define NSIZE (sizeof(hx_size_buckets) / sizeof(hx_size_buckets[0]))

struct hx_series {
	char *labels;		/* every label but reporter */
	char *svc, *subset;	/* for hx_metrics_counts_json ("" = unknown) */
	int code;
	uint64_t count;
	double sum;
	uint64_t buckets[NBUCKETS];	/* per bucket, not cumulative */
	uint64_t req_sum, resp_sum;
	uint64_t req_buckets[NSIZE], resp_buckets[NSIZE];
};

#define HX_SERIES_CACHE 64

struct hx_series_ref {
	uint64_t gen;		/* snapshot generation; 0 = empty slot */
	int workload, svc, subset, ep, code, grpc;	/* grpc: -1 = not gRPC */
	const char *flags;
	size_t idx;
};

/* A TLS passthrough series: connections of one (gateway, sni host,
 * service, subset). */
struct hx_pt_series {
	char *labels;
	uint64_t opened, closed, rx, tx;
};

/* TLS passthrough connections to one destination endpoint: the address
 * and port the relay connected to, with the route's service and subset. */
struct hx_pt_ep {
	char *svc, *subset;	/* "" = unknown / whole service */
	uint8_t addr[16];	/* v4-mapped for IPv4 */
	uint16_t port;		/* host order */
	uint64_t opened, closed, rx, tx;
};

struct hx_metrics {
	pthread_mutex_t mu;
	struct hx_series *v;
	size_t n, cap;
	struct hx_pt_series *pt;	/* under mu */
	size_t npt, cappt;
	struct hx_pt_ep *pte;		/* under mu */
	size_t npte, cappte;
	uint64_t pt_rejected[__HX_PT_REJ_MAX];	/* atomic adds by the worker */
	struct hx_series_ref cache[HX_SERIES_CACHE];
	uint64_t rejected[__HX_REJ_MAX];	/* atomic adds by the worker */
	uint64_t h2[__HX_H2_MAX];		/* atomic adds by the worker */
	uint64_t h2_goaway[HX_H2_ERR_MAX + 1];	/* the last one: unknown codes */
};

static int pt_grow(struct hx_metrics *mx)
{
	size_t nc = mx->cappt ? mx->cappt * 2 : 8;
	struct hx_pt_series *nv = realloc(mx->pt, nc * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	mx->pt = nv;
	mx->cappt = nc;
	return 0;
}

/* Listeners whose last bind failed, by "addr:port" (workers bind the same
 * ones with SO_REUSEPORT: one record each). */
#define HX_LISTEN_FAILS 32
static struct {
	char where[64];
	int err;
} listen_fails[HX_LISTEN_FAILS];
static pthread_mutex_t listen_mu = PTHREAD_MUTEX_INITIALIZER;

void hx_listen_result(const char *addr, uint16_t port, int err)
{
	char where[64];
	int i, free_slot = -1;

	snprintf(where, sizeof(where), "%s:%u", addr, port);
	pthread_mutex_lock(&listen_mu);
	for (i = 0; i < HX_LISTEN_FAILS; i++) {
		if (!strcmp(listen_fails[i].where, where)) {
			listen_fails[i].err = err;
			if (!err)
				listen_fails[i].where[0] = '\0';
			goto out;
		}
		if (!listen_fails[i].where[0] && free_slot < 0)
			free_slot = i;
	}
	if (err && free_slot >= 0) {
		snprintf(listen_fails[free_slot].where, sizeof(listen_fails[free_slot].where), "%s",
			 where);
		listen_fails[free_slot].err = err;
	}
out:
	pthread_mutex_unlock(&listen_mu);
}

void hx_metrics_reject(struct hx_metrics *mx, enum hx_reject why)
{
	if (mx && why < __HX_REJ_MAX)
		__atomic_add_fetch(&mx->rejected[why], 1, __ATOMIC_RELAXED);
}

void hx_metrics_pt_reject(struct hx_metrics *mx, enum hx_pt_reject why)
{
	if (mx && why < __HX_PT_REJ_MAX)
		__atomic_add_fetch(&mx->pt_rejected[why], 1, __ATOMIC_RELAXED);
}

void hx_metrics_h2(struct hx_metrics *mx, enum hx_h2_count what)
{
	if (mx && what < __HX_H2_MAX)
		__atomic_add_fetch(&mx->h2[what], 1, __ATOMIC_RELAXED);
}

void hx_metrics_h2_goaway(struct hx_metrics *mx, uint32_t error_code)
{
	if (mx)
		__atomic_add_fetch(&mx->h2_goaway[error_code < HX_H2_ERR_MAX ? error_code :
						   HX_H2_ERR_MAX], 1, __ATOMIC_RELAXED);
}

/* The HTTP/2 families, summed over the workers. */
static void h2_dump(struct hx_metrics **mxs, size_t n, FILE *f)
{
	static const struct {
		const char *name, *help;
	} fam[__HX_H2_MAX] = {
		{ "sluice_http_h2_connections_total",
		  "Client connections that spoke HTTP/2 (h2c prior knowledge or ALPN h2)." },
		{ "sluice_http_h2_streams_total", "HTTP/2 streams opened by clients (requests)." },
		{ "sluice_http_h2_streams_refused_total",
		  "HTTP/2 streams refused (REFUSED_STREAM): the worker was at --max-conns." },
		{ "sluice_http_h2_streams_reset_total",
		  "HTTP/2 streams the client reset before their response ended." },
	};
	static const char *const code[HX_H2_ERR_MAX + 1] = {
		"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
		"SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
		"CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
		"INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED", "unknown",
	};
	uint64_t v[__HX_H2_MAX] = { 0 }, g[HX_H2_ERR_MAX + 1] = { 0 };
	size_t w, b;

	for (w = 0; w < n; w++) {
		for (b = 0; b < __HX_H2_MAX; b++)
			v[b] += __atomic_load_n(&mxs[w]->h2[b], __ATOMIC_RELAXED);
		for (b = 0; b <= HX_H2_ERR_MAX; b++)
			g[b] += __atomic_load_n(&mxs[w]->h2_goaway[b], __ATOMIC_RELAXED);
	}
	for (b = 0; b < __HX_H2_MAX; b++)
		fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", fam[b].name, fam[b].help,
			fam[b].name, fam[b].name, (unsigned long long)v[b]);
	fprintf(f, "# HELP sluice_http_h2_goaway_sent_total HTTP/2 connections ended by a GOAWAY "
		   "sent, by error code (ENHANCE_YOUR_CALM: a flood such as rapid resets).\n"
		   "# TYPE sluice_http_h2_goaway_sent_total counter\n");
	for (b = 0; b <= HX_H2_ERR_MAX; b++)
		if (g[b] || b <= 1)
			fprintf(f, "sluice_http_h2_goaway_sent_total{error=\"%s\"} %llu\n", code[b],
				(unsigned long long)g[b]);
}

int hx_metrics_pt_series(struct hx_metrics *mx, const struct sl_model *m,
			 const struct sl_gateway *gw, const char *sni_host, int svc, int subset)
{
	const struct sl_service *s = svc >= 0 && (size_t)svc < m->nservices ? &m->services[svc] : NULL;
	const char *ver = s && subset >= 0 && (size_t)subset < s->nsubsets ?
			  s->subsets[subset].name : "unknown";
	char *labels = NULL;
	size_t i;
	int idx = -1;

	if (asprintf(&labels, "gateway=\"%s/%s\",sni_host=\"%s\",destination_service=\"%s\","
		     "destination_version=\"%s\"", gw->ns, gw->name, sni_host,
		     s ? s->host : "unknown", ver) < 0)
		return -1;
	pthread_mutex_lock(&mx->mu);
	for (i = 0; i < mx->npt; i++)
		if (!strcmp(mx->pt[i].labels, labels))
			break;
	if (i < mx->npt) {
		free(labels);
		idx = (int)i;
	} else if (mx->npt < mx->cappt || !pt_grow(mx)) {
		mx->pt[mx->npt] = (struct hx_pt_series){ .labels = labels };
		idx = (int)mx->npt++;
	} else {
		free(labels);
	}
	pthread_mutex_unlock(&mx->mu);
	return idx;
}

int hx_metrics_pt_endpoint(struct hx_metrics *mx, const struct sl_model *m, int svc, int subset,
			   const uint8_t addr[16], uint16_t port)
{
	const struct sl_service *s = svc >= 0 && (size_t)svc < m->nservices ? &m->services[svc] : NULL;
	const char *host = s ? s->host : "";
	const char *sub = s && subset >= 0 && (size_t)subset < s->nsubsets ?
			  s->subsets[subset].name : "";
	size_t i;
	int idx = -1;

	pthread_mutex_lock(&mx->mu);
	for (i = 0; i < mx->npte; i++) {
		const struct hx_pt_ep *e = &mx->pte[i];

		if (e->port == port && !memcmp(e->addr, addr, 16) && !strcmp(e->svc, host) &&
		    !strcmp(e->subset, sub)) {
			idx = (int)i;
			goto out;
		}
	}
	if (mx->npte == mx->cappte) {
		size_t nc = mx->cappte ? mx->cappte * 2 : 8;
		struct hx_pt_ep *nv = realloc(mx->pte, nc * sizeof(*nv));

		if (!nv)
			goto out;
		mx->pte = nv;
		mx->cappte = nc;
	}
	{
		struct hx_pt_ep e = { .svc = strdup(host), .subset = strdup(sub), .port = port };

		memcpy(e.addr, addr, 16);
		if (e.svc && e.subset) {
			mx->pte[mx->npte] = e;
			idx = (int)mx->npte++;
		} else {
			free(e.svc);
			free(e.subset);
		}
	}
out:
	pthread_mutex_unlock(&mx->mu);
	return idx;
}

void hx_metrics_pt_add(struct hx_metrics *mx, int series, int ep_series, uint64_t opened,
		       uint64_t closed, uint64_t rx_bytes, uint64_t tx_bytes)
{
	if (series < 0 && ep_series < 0)
		return;
	pthread_mutex_lock(&mx->mu);
	if (series >= 0 && (size_t)series < mx->npt) {
		mx->pt[series].opened += opened;
		mx->pt[series].closed += closed;
		mx->pt[series].rx += rx_bytes;
		mx->pt[series].tx += tx_bytes;
	}
	if (ep_series >= 0 && (size_t)ep_series < mx->npte) {
		mx->pte[ep_series].opened += opened;
		mx->pte[ep_series].closed += closed;
		mx->pte[ep_series].rx += rx_bytes;
		mx->pte[ep_series].tx += tx_bytes;
	}
	pthread_mutex_unlock(&mx->mu);
}

/* The passthrough families: every worker's series merged by labels, then
 * the rejections by reason. */
static int pt_dump(struct hx_metrics **mxs, size_t n, FILE *f)
{
	static const char *const why[__HX_PT_REJ_MAX] = {
		"no-sni", "no-route", "bad-client-hello", "client-hello-timeout",
		"client-hello-incomplete", "no-healthy-upstream", "upstream-connect-failure",
		"overflow", "max-conns",
	};
	static const struct {
		const char *name, *help;
	} fam[4] = {
		{ "sluice_http_passthrough_connections_opened_total",
		  "TLS passthrough connections relayed (upstream connected), by SNI route." },
		{ "sluice_http_passthrough_connections_closed_total",
		  "TLS passthrough connections closed after relaying." },
		{ "sluice_http_passthrough_received_bytes_total",
		  "TLS passthrough bytes from the client to the backend (ClientHello included)." },
		{ "sluice_http_passthrough_sent_bytes_total",
		  "TLS passthrough bytes from the backend to the client." },
	};
	struct hx_pt_series *all = NULL;
	uint64_t r[__HX_PT_REJ_MAX] = { 0 };
	size_t na = 0, w, i, j;
	int err = 0;

	for (w = 0; w < n && !err; w++) {
		pthread_mutex_lock(&mxs[w]->mu);
		for (i = 0; i < mxs[w]->npt && !err; i++) {
			const struct hx_pt_series *s = &mxs[w]->pt[i];

			for (j = 0; j < na; j++)
				if (!strcmp(all[j].labels, s->labels))
					break;
			if (j == na) {
				struct hx_pt_series *nv = realloc(all, (na + 1) * sizeof(*nv));

				if (!nv) {
					err = -ENOMEM;
					break;
				}
				all = nv;
				all[na++] = (struct hx_pt_series){ .labels = s->labels };
			}
			all[j].opened += s->opened;
			all[j].closed += s->closed;
			all[j].rx += s->rx;
			all[j].tx += s->tx;
		}
		/* the label strings are borrowed past the unlock: a series
		 * is never freed before hx_metrics_free (only its table array
		 * moves when it grows) */
		pthread_mutex_unlock(&mxs[w]->mu);
	}
	for (size_t k = 0; k < 4 && !err; k++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", fam[k].name, fam[k].help, fam[k].name);
		for (j = 0; j < na; j++)
			fprintf(f, "%s{%s} %llu\n", fam[k].name, all[j].labels,
				(unsigned long long)(k == 0 ? all[j].opened : k == 1 ? all[j].closed :
						     k == 2 ? all[j].rx : all[j].tx));
	}
	free(all);
	for (w = 0; w < n; w++)
		for (i = 0; i < __HX_PT_REJ_MAX; i++)
			r[i] += __atomic_load_n(&mxs[w]->pt_rejected[i], __ATOMIC_RELAXED);
	fprintf(f, "# HELP sluice_http_passthrough_rejected_total TLS passthrough client "
		   "connections closed without relaying, by reason.\n"
		   "# TYPE sluice_http_passthrough_rejected_total counter\n");
	for (i = 0; i < __HX_PT_REJ_MAX; i++)
		fprintf(f, "sluice_http_passthrough_rejected_total{reason=\"%s\"} %llu\n", why[i],
			(unsigned long long)r[i]);
	return err;
}

struct hx_metrics *hx_metrics_new(void)
{
	struct hx_metrics *mx = calloc(1, sizeof(*mx));

	if (mx)
		pthread_mutex_init(&mx->mu, NULL);
	return mx;
}

void hx_metrics_free(struct hx_metrics *mx)
{
	size_t i;

	if (!mx)
		return;
	for (i = 0; i < mx->n; i++) {
		free(mx->v[i].labels);
		free(mx->v[i].svc);
		free(mx->v[i].subset);
	}
	free(mx->v);
	for (i = 0; i < mx->npt; i++)
		free(mx->pt[i].labels);
	free(mx->pt);
	for (i = 0; i < mx->npte; i++) {
		free(mx->pte[i].svc);
		free(mx->pte[i].subset);
	}
	free(mx->pte);
	pthread_mutex_destroy(&mx->mu);
	free(mx);
}

/* The label text of r (after reporter); NULL when out of memory. */
static char *render(const struct hx_req_metric *r)
{
	const struct sl_model *m = r->snap ? r->snap->m : NULL;
	struct sl_istio_labels l = { .protocol = r->has_grpc ? "grpc" : "http",
				     .response_code = r->code, .response_flags = r->flags,
				     .has_grpc = r->has_grpc, .grpc_status = r->grpc };
	const struct sl_service *s = NULL;

	if (m && r->svc >= 0 && (size_t)r->svc < m->nservices)
		s = &m->services[r->svc];
	sl_peer_of_workload(m, r->workload, &l.src);
	sl_peer_of_endpoint(m, s && r->ep >= 0 && (size_t)r->ep < s->nendpoints ?
			    &s->endpoints[r->ep] : NULL, &l.dst);
	l.svc = s;
	if (s && r->subset >= 0 && (size_t)r->subset < s->nsubsets)
		l.dst_version = s->subsets[r->subset].name;
	return sl_istio_labels_text(&l);
}

static size_t bucket_of(const double *b, size_t n, double v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v <= b[i])
			break;
	return i;	/* n: beyond the last, counted in +Inf only */
}

/* The series for r: from the cache, else found or added by its labels. */
static struct hx_series *series_for(struct hx_metrics *mx, const struct hx_req_metric *r)
{
	uint64_t gen = r->snap ? r->snap->gen + 1 : 1;
	size_t h = ((size_t)r->svc * 31u + (size_t)r->subset * 7u + (size_t)r->ep * 13u +
		    (size_t)r->code + (size_t)r->workload * 17u) % HX_SERIES_CACHE, i;
	struct hx_series_ref *c = &mx->cache[h];
	struct hx_series *s;
	char *labels;

	if (c->gen == gen && c->workload == r->workload && c->svc == r->svc &&
	    c->subset == r->subset && c->ep == r->ep && c->code == r->code && c->flags == r->flags &&
	    c->grpc == (r->has_grpc ? r->grpc : -1))
		return &mx->v[c->idx];
	labels = render(r);
	if (!labels)
		return NULL;
	for (i = 0; i < mx->n; i++)
		if (!strcmp(mx->v[i].labels, labels))
			break;
	if (i < mx->n) {
		free(labels);
	} else {
		if (mx->n == mx->cap) {
			size_t nc = mx->cap ? mx->cap * 2 : 16;
			struct hx_series *nv = realloc(mx->v, nc * sizeof(*nv));

			if (!nv) {
				free(labels);
				return NULL;
			}
			mx->v = nv;
			mx->cap = nc;
		}
		s = &mx->v[mx->n];
		memset(s, 0, sizeof(*s));
		s->labels = labels;
		s->code = r->code;
		s->svc = strdup(r->snap && r->svc >= 0 ? r->snap->m->services[r->svc].host : "");
		s->subset = strdup(r->snap && r->svc >= 0 && r->subset >= 0 ?
				   r->snap->m->services[r->svc].subsets[r->subset].name : "");
		if (!s->svc || !s->subset) {
			free(s->svc);
			free(s->subset);
			free(labels);
			return NULL;
		}
		mx->n++;
	}
	*c = (struct hx_series_ref){ .gen = gen, .workload = r->workload, .svc = r->svc,
				     .subset = r->subset, .ep = r->ep, .code = r->code,
				     .grpc = r->has_grpc ? r->grpc : -1, .flags = r->flags, .idx = i };
	return &mx->v[i];
}

void hx_metrics_record(struct hx_metrics *mx, const struct hx_req_metric *r)
{
	struct hx_series *s;
	size_t b;

	pthread_mutex_lock(&mx->mu);
	s = series_for(mx, r);
	if (s) {
		s->count++;
		s->sum += r->ms;
		/* one bucket per request (the first that holds it); the dump
		 * makes them cumulative */
		b = bucket_of(hx_buckets, NBUCKETS, r->ms);
		if (b < NBUCKETS)
			s->buckets[b]++;
		s->req_sum += r->req_bytes;
		b = bucket_of(hx_size_buckets, NSIZE, (double)r->req_bytes);
		if (b < NSIZE)
			s->req_buckets[b]++;
		s->resp_sum += r->resp_bytes;
		b = bucket_of(hx_size_buckets, NSIZE, (double)r->resp_bytes);
		if (b < NSIZE)
			s->resp_buckets[b]++;
	}
	pthread_mutex_unlock(&mx->mu);
}

/* One series' labels: reporter, the rest, connection_security_policy. */
static void series_labels(FILE *f, const char *reporter, const char *labels)
{
	fprintf(f, "reporter=\"%s\",%s,connection_security_policy=\"%s\"", reporter, labels,
		sl_istio_security(reporter));
}

static void histogram(FILE *f, const char *name, const char *help, const struct hx_series *all,
		      size_t na, int which)
{
	static const char *const reporters[] = { "source", "destination" };
	const double *bounds = which ? hx_size_buckets : hx_buckets;
	size_t nb = which ? NSIZE : NBUCKETS, i, r, b;

	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (r = 0; r < 2; r++)
		for (i = 0; i < na; i++) {
			const struct hx_series *s = &all[i];
			const uint64_t *bk = which == 0 ? s->buckets :
					     which == 1 ? s->req_buckets : s->resp_buckets;
			uint64_t cum = 0;

			for (b = 0; b <= nb; b++) {
				cum += b < nb ? bk[b] : 0;
				fprintf(f, "%s_bucket{", name);
				series_labels(f, reporters[r], s->labels);
				if (b < nb)
					fprintf(f, ",le=\"%g\"} %llu\n", bounds[b],
						(unsigned long long)cum);
				else
					fprintf(f, ",le=\"+Inf\"} %llu\n", (unsigned long long)s->count);
			}
			fprintf(f, "%s_sum{", name);
			series_labels(f, reporters[r], s->labels);
			if (which == 0)
				fprintf(f, "} %.3f\n", s->sum);
			else
				fprintf(f, "} %llu\n", (unsigned long long)(which == 1 ? s->req_sum :
									    s->resp_sum));
			fprintf(f, "%s_count{", name);
			series_labels(f, reporters[r], s->labels);
			fprintf(f, "} %llu\n", (unsigned long long)s->count);
		}
}

/* Merge every worker's series (same labels add up) and print them. */
/* outlierDetection of the live snapshot: per endpoint ever ejected, the
 * times (since the policy was loaded) and whether it is out now. */
static void outliers(FILE *f)
{
	struct hx_snap *s = hx_snap_get();
	uint64_t now = hx_now_ms();
	size_t i, e;

	fprintf(f, "# HELP sluice_http_outlier_ejections_total Endpoints ejected by "
		   "outlierDetection since the policy was loaded.\n"
		   "# TYPE sluice_http_outlier_ejections_total counter\n"
		   "# HELP sluice_http_outlier_ejected Endpoints out now (1 each).\n"
		   "# TYPE sluice_http_outlier_ejected gauge\n");
	for (i = 0; s && i < s->m->nservices; i++) {
		const struct sl_service *sv = &s->m->services[i];

		for (e = 0; e < sv->nendpoints; e++) {
			const struct hx_ep_state *st = &s->svc[i].eps[e];
			uint32_t n = __atomic_load_n(&st->nejections, __ATOMIC_RELAXED);

			if (!n)
				continue;
			fprintf(f, "sluice_http_outlier_ejections_total{destination_service=\"%s\","
				   "endpoint=\"%s\"} %u\n", sv->host,
				sv->endpoints[e].address ? sv->endpoints[e].address : "", n);
			fprintf(f, "sluice_http_outlier_ejected{destination_service=\"%s\","
				   "endpoint=\"%s\"} %d\n", sv->host,
				sv->endpoints[e].address ? sv->endpoints[e].address : "",
				__atomic_load_n(&st->ejected_until_ms, __ATOMIC_RELAXED) > now);
		}
	}
	if (s)
		hx_snap_put(s);
}

int hx_metrics_dump(struct hx_metrics **mxs, size_t n, FILE *f)
{
	static const char *const reporters[] = { "source", "destination" };
	struct hx_series *all = NULL;
	size_t na = 0, cap = 0, w, i, j, b;
	int err = 0;

	for (w = 0; w < n; w++) {
		pthread_mutex_lock(&mxs[w]->mu);
		for (i = 0; i < mxs[w]->n; i++) {
			const struct hx_series *s = &mxs[w]->v[i];

			for (j = 0; j < na; j++)
				if (!strcmp(all[j].labels, s->labels))
					break;
			if (j == na) {
				if (na == cap) {
					size_t nc = cap ? cap * 2 : 16;
					struct hx_series *nv = realloc(all, nc * sizeof(*nv));

					if (!nv) {
						err = -ENOMEM;
						pthread_mutex_unlock(&mxs[w]->mu);
						goto out;
					}
					all = nv;
					cap = nc;
				}
				all[na] = *s;
				all[na].labels = strdup(s->labels);
				if (!all[na].labels) {
					err = -ENOMEM;
					pthread_mutex_unlock(&mxs[w]->mu);
					goto out;
				}
				na++;
				continue;
			}
			all[j].count += s->count;
			all[j].sum += s->sum;
			all[j].req_sum += s->req_sum;
			all[j].resp_sum += s->resp_sum;
			for (b = 0; b < NBUCKETS; b++)
				all[j].buckets[b] += s->buckets[b];
			for (b = 0; b < NSIZE; b++) {
				all[j].req_buckets[b] += s->req_buckets[b];
				all[j].resp_buckets[b] += s->resp_buckets[b];
			}
		}
		pthread_mutex_unlock(&mxs[w]->mu);
	}
	{
		static const char *const why[__HX_REJ_MAX] = { "max-conns", "header-timeout",
							       "not-steered", "tls-handshake" };
		uint64_t r[__HX_REJ_MAX] = { 0 };

		for (w = 0; w < n; w++)
			for (b = 0; b < __HX_REJ_MAX; b++)
				r[b] += __atomic_load_n(&mxs[w]->rejected[b], __ATOMIC_RELAXED);
		fprintf(f, "# HELP sluice_http_connections_rejected_total Client connections "
			   "closed before a request: over --max-conns, or no complete head within "
			   "the header time-out of accept.\n"
			   "# TYPE sluice_http_connections_rejected_total counter\n");
		for (b = 0; b < __HX_REJ_MAX; b++)
			fprintf(f, "sluice_http_connections_rejected_total{reason=\"%s\"} %llu\n",
				why[b], (unsigned long long)r[b]);
	}
	outliers(f);
	h2_dump(mxs, n, f);
	if (pt_dump(mxs, n, f))
		err = -ENOMEM;
	fprintf(f, "# HELP sluice_http_listener_failed Listeners that could not bind (1 each).\n"
		   "# TYPE sluice_http_listener_failed gauge\n");
	pthread_mutex_lock(&listen_mu);
	for (i = 0; i < HX_LISTEN_FAILS; i++)
		if (listen_fails[i].where[0])
			fprintf(f, "sluice_http_listener_failed{listener=\"%s\",error=\"%s\"} 1\n",
				listen_fails[i].where, strerror(listen_fails[i].err));
	pthread_mutex_unlock(&listen_mu);
	/* Sluice is the one observer of each request: it reports it as
	 * Istio's client-side and server-side proxies both would
	 * (docs/metrics.md) */
	fprintf(f, "# HELP istio_requests_total Requests handled by sluice-http.\n"
		   "# TYPE istio_requests_total counter\n");
	for (j = 0; j < 2; j++)
		for (i = 0; i < na; i++)
		{
			fputs("istio_requests_total{", f);
			series_labels(f, reporters[j], all[i].labels);
			fprintf(f, "} %llu\n", (unsigned long long)all[i].count);
		}
	histogram(f, "istio_request_duration_milliseconds", "Request duration in ms.", all, na, 0);
	histogram(f, "istio_request_bytes", "Request size in bytes (head and body).", all, na, 1);
	histogram(f, "istio_response_bytes", "Response size in bytes (head and body).", all, na, 2);
out:
	for (i = 0; i < na; i++)
		free(all[i].labels);
	free(all);
	return err;
}

struct count {
	const char *svc, *subset;
	uint64_t requests, errors, req_bytes, resp_bytes;
	uint64_t opened, closed, sent, received;	/* TLS passthrough connections */
};

/* The entry of (svc, subset) in *c (added when absent); NULL when out of
 * memory. */
static struct count *count_of(struct count **c, size_t *n, const char *svc, const char *subset)
{
	struct count *nc;
	size_t j;

	for (j = 0; j < *n; j++)
		if (!strcmp((*c)[j].svc, svc) && !strcmp((*c)[j].subset, subset))
			return &(*c)[j];
	nc = realloc(*c, (*n + 1) * sizeof(**c));
	if (!nc)
		return NULL;
	*c = nc;
	nc[*n] = (struct count){ .svc = svc, .subset = subset };
	return &nc[(*n)++];
}

int hx_metrics_counts_json(struct hx_metrics **mxs, size_t n, FILE *f)
{
	struct count *c = NULL, *e;
	size_t nc_n = 0, w, i, j;

	/* the workers' tables stay locked while the strings are borrowed */
	for (w = 0; w < n; w++)
		pthread_mutex_lock(&mxs[w]->mu);
	for (w = 0; w < n; w++) {
		for (i = 0; i < mxs[w]->n; i++) {
			const struct hx_series *s = &mxs[w]->v[i];

			if (!(e = count_of(&c, &nc_n, s->svc, s->subset)))
				continue;
			e->requests += s->count;
			e->errors += s->code >= 500 ? s->count : 0;
			e->req_bytes += s->req_sum;
			e->resp_bytes += s->resp_sum;
		}
		/* passthrough: the per-endpoint entries summed by (service, subset) */
		for (i = 0; i < mxs[w]->npte; i++) {
			const struct hx_pt_ep *s = &mxs[w]->pte[i];

			if (!(e = count_of(&c, &nc_n, s->svc, s->subset)))
				continue;
			e->opened += s->opened;
			e->closed += s->closed;
			e->sent += s->rx;
			e->received += s->tx;
		}
	}
	fputc('[', f);
	for (j = 0; j < nc_n; j++) {
		fprintf(f, "%s{\"service\": ", j ? ", " : "");
		sl_json_str(f, c[j].svc);
		fputs(", \"subset\": ", f);
		sl_json_str(f, c[j].subset);
		fprintf(f, ", \"requests\": %llu, \"errors\": %llu, \"request_bytes\": %llu, "
			   "\"response_bytes\": %llu, \"connections_opened\": %llu, "
			   "\"connections_closed\": %llu, \"bytes_sent\": %llu, \"bytes_received\": %llu}",
			(unsigned long long)c[j].requests, (unsigned long long)c[j].errors,
			(unsigned long long)c[j].req_bytes, (unsigned long long)c[j].resp_bytes,
			(unsigned long long)c[j].opened, (unsigned long long)c[j].closed,
			(unsigned long long)c[j].sent, (unsigned long long)c[j].received);
	}
	fputs("]\n", f);
	for (w = 0; w < n; w++)
		pthread_mutex_unlock(&mxs[w]->mu);
	free(c);
	return 0;
}

int hx_metrics_pt_endpoints_json(struct hx_metrics **mxs, size_t n, FILE *f)
{
	struct hx_pt_ep *all = NULL;
	size_t na = 0, w, i, j;
	int err = 0;

	/* every worker's entries merged by key; the workers' tables stay
	 * locked while the strings are borrowed */
	for (w = 0; w < n; w++)
		pthread_mutex_lock(&mxs[w]->mu);
	for (w = 0; w < n && !err; w++)
		for (i = 0; i < mxs[w]->npte; i++) {
			const struct hx_pt_ep *e = &mxs[w]->pte[i];

			for (j = 0; j < na; j++)
				if (all[j].port == e->port && !memcmp(all[j].addr, e->addr, 16) &&
				    !strcmp(all[j].svc, e->svc) && !strcmp(all[j].subset, e->subset))
					break;
			if (j == na) {
				struct hx_pt_ep *nv = realloc(all, (na + 1) * sizeof(*nv));

				if (!nv) {
					err = -ENOMEM;
					break;
				}
				all = nv;
				all[na] = *e;
				all[na].opened = all[na].closed = all[na].rx = all[na].tx = 0;
				na++;
			}
			all[j].opened += e->opened;
			all[j].closed += e->closed;
			all[j].rx += e->rx;
			all[j].tx += e->tx;
		}
	fputc('[', f);
	for (j = 0; j < na && !err; j++) {
		char a[INET6_ADDRSTRLEN] = "";
		bool v4 = IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)all[j].addr);

		inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? &all[j].addr[12] : all[j].addr, a, sizeof(a));
		fprintf(f, "%s{\"service\": ", j ? ", " : "");
		sl_json_str(f, all[j].svc);
		fputs(", \"subset\": ", f);
		sl_json_str(f, all[j].subset);
		fprintf(f, ", \"address\": \"%s\", \"port\": %u, \"connections_opened\": %llu, "
			   "\"connections_closed\": %llu, \"bytes_sent\": %llu, \"bytes_received\": %llu}",
			a, all[j].port, (unsigned long long)all[j].opened,
			(unsigned long long)all[j].closed, (unsigned long long)all[j].rx,
			(unsigned long long)all[j].tx);
	}
	fputs("]\n", f);
	for (w = 0; w < n; w++)
		pthread_mutex_unlock(&mxs[w]->mu);
	free(all);
	return err;
}
