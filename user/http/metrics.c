/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request metrics, one table per worker (a mutex each, uncontended except
 * while a dump reads it): istio_requests_total and the
 * istio_request_duration_milliseconds histogram, labelled by
 * destination_service (FQDN), destination_version (subset, "unknown" for the
 * whole service or no route) and response_code. Label strings are copied, so
 * counters survive reloads.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http/hx.h"

static const double hx_buckets[] = {
	0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
	300000, 600000, 1800000, 3600000,
};
#define NBUCKETS (sizeof(hx_buckets) / sizeof(hx_buckets[0]))

struct hx_series {
	char *svc, *ver;
	int code;
	uint64_t count;
	double sum;
	uint64_t buckets[NBUCKETS];	/* per bucket, not cumulative */
};

struct hx_metrics {
	pthread_mutex_t mu;
	struct hx_series *v;
	size_t n, cap;
	size_t last;		/* cache of the last hit */
	uint64_t rejected[__HX_REJ_MAX];	/* atomic adds by the worker */
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
		free(mx->v[i].svc);
		free(mx->v[i].ver);
	}
	free(mx->v);
	pthread_mutex_destroy(&mx->mu);
	free(mx);
}

static bool series_is(const struct hx_series *s, const char *svc, const char *ver, int code)
{
	return s->code == code && strcmp(s->svc, svc) == 0 && strcmp(s->ver, ver) == 0;
}

void hx_metrics_record(struct hx_metrics *mx, const char *svc, const char *ver, int code,
		       double ms)
{
	struct hx_series *s = NULL;
	size_t i;

	if (!svc)
		svc = "unknown";
	if (!ver)
		ver = "unknown";
	pthread_mutex_lock(&mx->mu);
	if (mx->last < mx->n && series_is(&mx->v[mx->last], svc, ver, code))
		s = &mx->v[mx->last];
	for (i = 0; !s && i < mx->n; i++)
		if (series_is(&mx->v[i], svc, ver, code)) {
			s = &mx->v[i];
			mx->last = i;
		}
	if (!s) {
		if (mx->n == mx->cap) {
			size_t nc = mx->cap ? mx->cap * 2 : 16;
			struct hx_series *nv = realloc(mx->v, nc * sizeof(*nv));

			if (!nv)
				goto out;
			mx->v = nv;
			mx->cap = nc;
		}
		s = &mx->v[mx->n];
		memset(s, 0, sizeof(*s));
		s->svc = strdup(svc);
		s->ver = strdup(ver);
		s->code = code;
		if (!s->svc || !s->ver) {
			free(s->svc);
			free(s->ver);
			goto out;
		}
		mx->last = mx->n++;
	}
	s->count++;
	s->sum += ms;
	/* one bucket per request (the first that holds it); the dump makes
	 * them cumulative */
	for (i = 0; i < NBUCKETS; i++)
		if (ms <= hx_buckets[i]) {
			s->buckets[i]++;
			break;
		}
out:
	pthread_mutex_unlock(&mx->mu);
}

/* Merge every worker's series (same labels add up) and print them. */
int hx_metrics_dump(struct hx_metrics **mxs, size_t n, FILE *f)
{
	struct hx_series *all = NULL;
	size_t na = 0, cap = 0, w, i, j, b;
	int err = 0;

	for (w = 0; w < n; w++) {
		pthread_mutex_lock(&mxs[w]->mu);
		for (i = 0; i < mxs[w]->n; i++) {
			const struct hx_series *s = &mxs[w]->v[i];

			for (j = 0; j < na; j++)
				if (series_is(&all[j], s->svc, s->ver, s->code))
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
				all[na] = *s;	/* strings borrowed until unlock... */
				all[na].svc = strdup(s->svc);
				all[na].ver = strdup(s->ver);
				na++;
				continue;
			}
			all[j].count += s->count;
			all[j].sum += s->sum;
			for (b = 0; b < NBUCKETS; b++)
				all[j].buckets[b] += s->buckets[b];
		}
		pthread_mutex_unlock(&mxs[w]->mu);
	}
	{
		static const char *const why[__HX_REJ_MAX] = { "max-conns", "header-timeout",
							       "not-steered" };
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
	fprintf(f, "# HELP sluice_http_listener_failed Listeners that could not bind (1 each).\n"
		   "# TYPE sluice_http_listener_failed gauge\n");
	pthread_mutex_lock(&listen_mu);
	for (i = 0; i < HX_LISTEN_FAILS; i++)
		if (listen_fails[i].where[0])
			fprintf(f, "sluice_http_listener_failed{listener=\"%s\",error=\"%s\"} 1\n",
				listen_fails[i].where, strerror(listen_fails[i].err));
	pthread_mutex_unlock(&listen_mu);
	fprintf(f, "# HELP istio_requests_total Requests handled by sluice-http.\n"
		   "# TYPE istio_requests_total counter\n");
	for (i = 0; i < na; i++)
		fprintf(f, "istio_requests_total{reporter=\"sluice-http\",destination_service=\"%s\","
			   "destination_version=\"%s\",response_code=\"%d\"} %llu\n",
			all[i].svc ? all[i].svc : "", all[i].ver ? all[i].ver : "", all[i].code,
			(unsigned long long)all[i].count);
	fprintf(f, "# HELP istio_request_duration_milliseconds Request duration in ms.\n"
		   "# TYPE istio_request_duration_milliseconds histogram\n");
	for (i = 0; i < na; i++) {
		const char *sv = all[i].svc ? all[i].svc : "", *vr = all[i].ver ? all[i].ver : "";
		uint64_t cum = 0;

		for (b = 0; b < NBUCKETS; b++) {
			cum += all[i].buckets[b];
			fprintf(f, "istio_request_duration_milliseconds_bucket{reporter=\"sluice-http\","
				   "destination_service=\"%s\",destination_version=\"%s\","
				   "response_code=\"%d\",le=\"%g\"} %llu\n",
				sv, vr, all[i].code, hx_buckets[b], (unsigned long long)cum);
		}
		fprintf(f, "istio_request_duration_milliseconds_bucket{reporter=\"sluice-http\","
			   "destination_service=\"%s\",destination_version=\"%s\","
			   "response_code=\"%d\",le=\"+Inf\"} %llu\n",
			sv, vr, all[i].code, (unsigned long long)all[i].count);
		fprintf(f, "istio_request_duration_milliseconds_sum{reporter=\"sluice-http\","
			   "destination_service=\"%s\",destination_version=\"%s\","
			   "response_code=\"%d\"} %.3f\n", sv, vr, all[i].code, all[i].sum);
		fprintf(f, "istio_request_duration_milliseconds_count{reporter=\"sluice-http\","
			   "destination_service=\"%s\",destination_version=\"%s\","
			   "response_code=\"%d\"} %llu\n",
			sv, vr, all[i].code, (unsigned long long)all[i].count);
	}
out:
	for (i = 0; i < na; i++) {
		free(all[i].svc);
		free(all[i].ver);
	}
	free(all);
	return err;
}
