/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the L4 compiler: compile_l4.c (the full compile: services,
 * routes, gateways), compile_subset.c (backends, subsets, inline copies),
 * compile_client.c (workload cgroups, Sidecar scopes) and compile_delta.c
 * (an endpoint change as a delta of the live generation) share the compile
 * context and the builders below.
 */
#ifndef SLUICE_COMPILE_INT_H
#define SLUICE_COMPILE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/compile_l4.h"

enum { CAP_SVC, CAP_ROUTE, CAP_SRC, CAP_CG, CAP_SUBSET, CAP_BACKEND, CAP_POOL, CAP_FAULT,
       CAP_ORIGIN };

/* Per-service cache of compiled (service, subset, port) -> subset id. */
struct subset_memo {
	size_t svc;
	int subset;
	uint16_t port;
	int64_t id;		/* -1 = no endpoints */
};

struct cctx {
	const struct sl_model *m;
	const struct sl_l4_opts *o;
	struct sl_l4_gen *g;
	char *err;
	struct subset_memo *memo;
	size_t nmemo, capmemo;
	uint32_t *wids;		/* sl_l4_workload_ids, by workload index */
	uint8_t *wl_scope;	/* egress scope by workload index (compile_scopes) */
	uint64_t *svc_hidden;	/* sluice_svc.scope_hidden by service index */
	int kubelet_layouts;	/* pod_cgroup: 1 systemd, 2 cgroupfs; -1 = not looked */
	bool gw_ports;		/* compiling a gateway server: Istio's port rule */
};

__attribute__((format(printf, 3, 4)))
int cl4_fail(struct cctx *c, int rc, const char *fmt, ...);	/* message in c->err */
/* Make room for one more element of size sz in *arr (n used, *cap slots). */
int cl4_grow(void **arr, size_t *cap, size_t n, size_t sz);
/* Append to c->g the backends of (service ds, subset k or -1, destination
 * port); their number in *n. 0 or a negative errno (message in c->err). */
int cl4_build_backends(struct cctx *c, size_t ds, int k, uint16_t port, size_t *n);
/* A subset entry's inline copies of its first backends (b: its first
 * backend, n of them available). */
void cl4_fill_inline(struct sluice_subset *sv, const struct sl_l4_backend *b, size_t n);
/* The backend port of endpoint ep (or none) for the service's port. */
uint16_t cl4_target_port(const struct sl_service *s, const struct sl_endpoint *ep, uint16_t port);
/* The addresses of endpoint ep now (its IP, or what its DNS name resolves
 * to); their number, *out pointing at them. */
size_t cl4_ep_addrs(const struct cctx *c, const struct sl_endpoint *ep, const struct sl_ip **out);
/* The subset id for (service ds, subset k or -1, destination port), built on
 * first use: the id, -1 when it has no endpoints, or a negative errno. */
int64_t cl4_subset_for(struct cctx *c, size_t ds, int k, uint16_t port);
/* The inline copies of a compiled generation (routes, subsets, backends). */
void cl4_inline_copies(struct sl_l4_gen *g);
/* Sidecar egress scopes of the local clients: c->wl_scope, c->svc_hidden. */
int cl4_compile_scopes(struct cctx *c);
/* The sluice_cgroup entries of the local workloads. */
int cl4_compile_workloads(struct cctx *c);

#endif /* SLUICE_COMPILE_INT_H */
