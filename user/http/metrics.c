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
 * Counters of connections (TLS passthrough, HTTP/2) are in metrics_conn.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/metrics_int.h"
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
	hx_metrics_h2_dump(mxs, n, f);
	if (hx_metrics_pt_dump(mxs, n, f))
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

