/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Istio's standard metric labels, filled from the model: one writer for
 * sluiced's TCP metrics (user/sluiced/metrics.c) and sluice-http's request
 * metrics (user/http/metrics.c), so that both speak the label set Kiali,
 * Istio's dashboards and Flagger select on. How each value is found, and
 * which cannot be known, is in docs/metrics.md.
 */
#ifndef SLUICE_LABELS_H
#define SLUICE_LABELS_H

#include <stdint.h>
#include <stdio.h>

#include "sluice/model.h"

/* One side of a connection or request, as Istio labels it. Strings point
 * into the model (or are "unknown"); valid while the model lives. */
struct sl_peer {
	const char *workload, *ns, *app, *version;
	const char *canonical_service, *canonical_revision;
};

/* The client: workload index into m->workloads, -1 = unknown. */
void sl_peer_of_workload(const struct sl_model *m, int workload, struct sl_peer *p);

/* The server: endpoint ep of service s (NULL = unknown). A WorkloadEntry
 * endpoint names its workload; an inline ServiceEntry endpoint has none. */
void sl_peer_of_endpoint(const struct sl_model *m, const struct sl_endpoint *ep,
			 struct sl_peer *p);

/* The endpoint of s at addr (16 bytes, v4-mapped for IPv4) and port (host
 * order; 0 = any port), or -1. */
int sl_service_endpoint_at(const struct sl_service *s, const uint8_t addr[16], uint16_t port);

/* Everything but `reporter` and `connection_security_policy`, which
 * depend on the reporter, in one record. */
struct sl_istio_labels {
	struct sl_peer src, dst;
	const struct sl_service *svc;	/* NULL = unknown */
	const char *dst_version;	/* the subset; NULL = dst's version label */
	const char *protocol;		/* "tcp", "http" */
	int response_code;		/* 0 = not a request metric: no label */
	const char *response_flags;	/* NULL = "-" */
	bool has_grpc;			/* a gRPC answer: grpc_response_status */
	int grpc_status;
};

/* Write l as Prometheus labels, comma-separated, without braces, reporter
 * and connection_security_policy. Values are escaped. A series is then
 *   NAME{reporter="R",<labels>,connection_security_policy="<sl_istio_security(R)>"}
 * for R = "source" and "destination". */
void sl_istio_labels_write(FILE *f, const struct sl_istio_labels *l);
const char *sl_istio_security(const char *reporter);
/* The same as a malloc'd string (NULL when out of memory). */
char *sl_istio_labels_text(const struct sl_istio_labels *l);

/* A Prometheus label value with \, " and newline escaped. */
void sl_prom_escape(FILE *f, const char *s);

#endif /* SLUICE_LABELS_H */
