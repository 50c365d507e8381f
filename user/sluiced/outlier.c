/* SPDX-License-Identifier: Apache-2.0 */
/*
 * outlierDetection and connectionPool at L4 as the operator sees them: the
 * kernel ejects backends and refuses connects over maxConnections by
 * itself (sockops, connect4/6); sluiced logs each ejection and
 * re-admission it finds in sluice_eject (polled from the loop, at most once
 * a second, only while the live policy has outlierDetection) and exports
 * ejections and overflows on /metrics.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluiced/sluiced.h"
#include "sluiced/stats_names.h"
#include "sluiced/view.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* bpf_ktime_get_ns's clock */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool model_has_outlier(const struct sl_model *m)
{
	for (size_t i = 0; m && i < m->nservices; i++) {
		const struct sl_service *s = &m->services[i];

		if (s->tp.outlier.set)
			return true;
		for (size_t k = 0; k < s->nsubsets; k++)
			if (s->subsets[k].tp.outlier.set)
				return true;
	}
	return false;
}

static bool same_key(const struct sluice_stats_key *a, const struct sluice_stats_key *b)
{
	return !memcmp(a, b, sizeof(*a));
}

static void describe(const struct stat_names *sn, const struct sluice_stats_key *k, char *buf,
		     size_t len)
{
	char svc[256], sub[64], be[64];

	stat_names_get(sn, k, svc, sizeof(svc), sub, sizeof(sub));
	view_addr_port(k->addr, ntohs(k->port), be, sizeof(be));
	snprintf(buf, len, "%s of %s%s%s", be, svc, sub[0] ? " subset " : "", sub);
}

void sluiced_outlier_tick(struct sluiced *d)
{
	struct sluiced_outliers *o = &d->outliers;
	uint64_t now_ms = sluiced_now_ms(), now;
	struct sl_dp_eject *e = NULL;
	struct stat_names sn;
	size_t n = 0, i, j;
	char what[400];

	if (!d->dp || now_ms < o->next_ms || (!model_has_outlier(d->model) && !o->n))
		return;
	o->next_ms = now_ms + 1000;
	if (sl_dp_ejects(d->dp, &e, &n) || stat_names_init(&sn, d->model)) {
		free(e);
		return;
	}
	now = mono_ns();
	/* re-admitted: logged as out, and now past its deadline (or gone) */
	for (i = 0; i < o->n;) {
		bool out = false;

		for (j = 0; j < n && !out; j++)
			out = same_key(&e[j].key, &o->v[i].key) && e[j].val.until_ns > now;
		if (out) {
			i++;
			continue;
		}
		describe(&sn, &o->v[i].key, what, sizeof(what));
		sluiced_log("outlierDetection: %s admitted again (L4)", what);
		o->v[i] = o->v[--o->n];
	}
	for (j = 0; j < n; j++) {
		if (e[j].val.until_ns <= now)
			continue;
		for (i = 0; i < o->n && !same_key(&o->v[i].key, &e[j].key); i++)
			;
		if (i < o->n && o->v[i].times == e[j].val.times)
			continue;	/* already logged */
		if (i == o->n) {
			struct sluiced_ejected *v = realloc(o->v, (o->n + 1) * sizeof(*v));

			if (!v)
				break;
			o->v = v;
			o->v[o->n++].key = e[j].key;
		}
		o->v[i].times = e[j].val.times;
		describe(&sn, &e[j].key, what, sizeof(what));
		sluiced_warn("outlierDetection: ejected %s at L4 for %llu s (failed connects; ejected "
			     "%u time%s)", what, (unsigned long long)((e[j].val.until_ns - now) / 1000000000ull + 1),
			     e[j].val.times, e[j].val.times == 1 ? "" : "s");
	}
	stat_names_free(&sn);
	free(e);
}

/* Per subset with connectionPool or outlierDetection at L4: overflows and
 * ejections (sluice_pool_use); per backend out now: 1. */
void sluiced_outlier_metrics(struct sluiced *d, FILE *f)
{
	const struct sl_model *m = d->model;
	struct sl_dp_eject *e = NULL;
	struct stat_names sn;
	uint64_t now = mono_ns();
	size_t n = 0, i, k;

	if (!d->dp || !m)
		return;
	fputs("# HELP sluice_pool_overflow_total connect()s refused by connectionPool.tcp "
	      "maxConnections (Envoy's UO), per subset.\n"
	      "# TYPE sluice_pool_overflow_total counter\n"
	      "# HELP sluice_outlier_ejections_total Backends ejected by outlierDetection at L4 "
	      "(failed connects), per subset.\n"
	      "# TYPE sluice_outlier_ejections_total counter\n", f);
	for (i = 0; i < m->nservices; i++) {
		const struct sl_service *s = &m->services[i];

		for (k = 0; k <= s->nsubsets; k++) {
			const struct sl_traffic_policy *tp = k < s->nsubsets ? &s->subsets[k].tp : &s->tp;
			const char *sub = k < s->nsubsets ? s->subsets[k].name : "";
			struct sluice_pool_use pu;

			if (!tp->outlier.set && !tp->pool.tcp_max_connections)
				continue;
			sl_dp_pool_use(d->dp, sl_dp_sid(s->host), sub[0] ? sl_dp_sid(sub) : 0, &pu);
			fprintf(f, "sluice_pool_overflow_total{destination_service=\"%s\","
				   "destination_subset=\"%s\"} %llu\n", s->host, sub,
				(unsigned long long)pu.overflow);
			fprintf(f, "sluice_outlier_ejections_total{destination_service=\"%s\","
				   "destination_subset=\"%s\"} %llu\n", s->host, sub,
				(unsigned long long)pu.ejections);
		}
	}
	if (sl_dp_ejects(d->dp, &e, &n) || stat_names_init(&sn, m)) {
		free(e);
		return;
	}
	fputs("# HELP sluice_outlier_ejected Backends out now by outlierDetection at L4 (1 each).\n"
	      "# TYPE sluice_outlier_ejected gauge\n", f);
	for (i = 0; i < n; i++) {
		char svc[256], sub[64], be[64];

		if (e[i].val.until_ns <= now)
			continue;
		stat_names_get(&sn, &e[i].key, svc, sizeof(svc), sub, sizeof(sub));
		view_addr_port(e[i].key.addr, ntohs(e[i].key.port), be, sizeof(be));
		fprintf(f, "sluice_outlier_ejected{destination_service=\"%s\",destination_subset=\"%s\","
			   "endpoint=\"%s\"} 1\n", svc, sub, be);
	}
	stat_names_free(&sn);
	free(e);
}

void sluiced_outlier_free(struct sluiced *d)
{
	free(d->outliers.v);
	memset(&d->outliers, 0, sizeof(d->outliers));
}
