/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connection counters of sluice-http, one table per worker (struct
 * hx_metrics, metrics_int.h): TLS passthrough connections (passthru.c) per
 * (gateway, SNI host, service, subset), and rejections by reason (Sluice's
 * names); the same connections per destination endpoint (service, subset,
 * address, port), which sluiced reads (hx_metrics_pt_endpoints_json) to add
 * them to its istio_tcp_* series next to the kernel-steered connections;
 * HTTP/2 connections, streams and GOAWAYs (h2.c). metrics.c dumps them with
 * the request metrics.
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
void hx_metrics_h2_dump(struct hx_metrics **mxs, size_t n, FILE *f)
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
int hx_metrics_pt_dump(struct hx_metrics **mxs, size_t n, FILE *f)
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
