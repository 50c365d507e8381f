/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A worker's metrics table, shared by metrics.c (requests, the dump) and
 * metrics_conn.c (TLS passthrough and HTTP/2 connection counters).
 */
#ifndef SLUICE_HTTP_METRICS_INT_H
#define SLUICE_HTTP_METRICS_INT_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "http/hx.h"

struct hx_series;

/* The per-worker cache from a request's indices to its series. */
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

/* metrics_conn.c: the connection families of a dump, summed over workers */
void hx_metrics_h2_dump(struct hx_metrics **mxs, size_t n, FILE *f);
int hx_metrics_pt_dump(struct hx_metrics **mxs, size_t n, FILE *f);

#endif /* SLUICE_HTTP_METRICS_INT_H */
