/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy snapshots. A snapshot is the model plus the runtime state that goes
 * with its indices (round-robin cursors, requests in flight, outlier
 * ejections). Reload builds a new snapshot beside the live one and publishes
 * it with one pointer swap under a mutex; every request takes a reference on
 * the snapshot current when its head completed and drops it when it ends, so
 * requests in flight finish on the policy they started on, and the old model
 * is freed by whoever drops the last reference.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "http/tls.h"

static pthread_mutex_t snap_mu = PTHREAD_MUTEX_INITIALIZER;
static struct hx_snap *snap_cur;
static uint64_t snap_gen_ctr;

struct hx_snap *hx_snap_new(struct sl_model *m, bool owns_model, uint64_t gen)
{
	struct hx_snap *s = calloc(1, sizeof(*s));
	size_t i;

	if (!s)
		return NULL;
	s->m = m;
	s->owns_model = owns_model;
	s->gen = gen;
	s->refs = 1;
	s->svc = calloc(m->nservices ? m->nservices : 1, sizeof(*s->svc));
	if (!s->svc || sl_l4_workload_ids(m, &s->wids))
		goto fail;
	for (i = 0; i < m->nservices; i++) {
		const struct sl_service *sv = &m->services[i];

		s->svc[i].eps = calloc(sv->nendpoints ? sv->nendpoints : 1, sizeof(struct hx_ep_state));
		s->svc[i].subsets = calloc(sv->nsubsets + 1, sizeof(struct hx_subset_state));
		if (!s->svc[i].eps || !s->svc[i].subsets)
			goto fail;
		/* an endpoint named by DNS has no address here (sluiced
		 * resolves it for the L4 data plane only, and refuses HTTP
		 * routes to it): never picked */
		for (size_t e = 0; e < sv->nendpoints; e++)
			if (sv->endpoints[e].dns_name)
				s->svc[i].eps[e].ejected_until_ms = UINT64_MAX;
		s->svc[i].dflt_dest = (struct sl_dest){ .service = i, .subset = -1, .weight_raw = 1,
							.weight = SL_WEIGHT_TOTAL, .pos = sv->pos };
		s->svc[i].dflt = (struct sl_route){ .dests = &s->svc[i].dflt_dest, .ndests = 1,
						    .weight_raw_total = 1, .pos = sv->pos };
	}
	return s;
fail:
	s->owns_model = false;
	hx_snap_put(s);
	return NULL;
}

void hx_snap_ref(struct hx_snap *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

void hx_snap_put(struct hx_snap *s)
{
	size_t i;

	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (s->svc)
		for (i = 0; i < s->m->nservices; i++) {
			free(s->svc[i].eps);
			free(s->svc[i].subsets);
		}
	free(s->svc);
	free(s->wids);
	hx_tls_put(s->tls);
	if (s->owns_model)
		sl_model_free(s->m);
	free(s);
}

struct hx_snap *hx_snap_get(void)
{
	struct hx_snap *s;

	pthread_mutex_lock(&snap_mu);
	s = snap_cur;
	if (s)
		hx_snap_ref(s);
	pthread_mutex_unlock(&snap_mu);
	return s;
}

void hx_snap_publish(struct hx_snap *s)
{
	struct hx_snap *old;

	pthread_mutex_lock(&snap_mu);
	old = snap_cur;
	snap_cur = s;
	__atomic_add_fetch(&snap_gen_ctr, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&snap_mu);
	hx_snap_put(old);
}

uint64_t hx_snap_gen(void)
{
	return __atomic_load_n(&snap_gen_ctr, __ATOMIC_ACQUIRE);
}

/* Say what this helper will not do with an accepted policy: HTTP/2 and
 * gRPC ports are served as HTTP/1.1 only; gateway servers of other
 * protocols (TCP: the kernel's) get no listener here. */
static void warn_unsupported(const struct sl_model *m)
{
	size_t i, j;

	for (i = 0; i < m->nservices; i++) {
		const struct sl_service *s = &m->services[i];

		if (s->vhost < 0)
			continue;
		for (j = 0; j < s->nports; j++)
			if (s->ports[j].proto == SL_PROTO_HTTP2 || s->ports[j].proto == SL_PROTO_GRPC)
				fprintf(stderr, "sluice-http: warning: %s port %u is %s: served as "
					"HTTP/1.1 only (HTTP/2 and gRPC are not supported yet)\n",
					s->host, s->ports[j].number, sl_proto_name(s->ports[j].proto));
	}
	for (i = 0; i < m->ngateways; i++)
		for (j = 0; j < m->gateways[i].nservers; j++) {
			const struct sl_gateway_server *sv = &m->gateways[i].servers[j];

			if (!sl_gw_server_is_http(sv) && !sl_gw_server_is_passthrough(sv))
				fprintf(stderr, "sluice-http: warning: gateway %s/%s port %u (%s): no "
					"listener (only HTTP, HTTPS and TLS passthrough gateway "
					"servers are served)\n",
					m->gateways[i].ns, m->gateways[i].name, sv->port,
					sl_proto_name(sv->proto));
		}
}

/* Load and check; the model is refused (and the caller keeps the old one)
 * on any error diagnostic. */
int hx_snap_load(const char *const *paths, size_t n, struct hx_snap **out)
{
	struct sl_diags d;
	struct sl_model *m = NULL;
	int err;

	*out = NULL;
	sl_diags_init(&d);
	err = sl_model_load(paths, n, &d, &m);
	/* credentialName servers: the files of their Secrets, in the
	 * directory sluiced keeps them (the paths it checked at apply) */
	if (!err && m && sl_model_bind_credentials(m, hx_cfg.credentials_dir, &d) < 0) {
		sl_model_free(m);
		m = NULL;
		err = -EINVAL;
	}
	if (d.n)
		sl_diags_print(&d, stderr);
	sl_diags_free(&d);
	if (err < 0 || !m)
		return err < 0 ? err : -EINVAL;
	warn_unsupported(m);
	*out = hx_snap_new(m, true, hx_snap_gen() + 1);
	if (!*out) {
		sl_model_free(m);
		return -ENOMEM;
	}
	/* the HTTPS servers' certificates load now, or the policy is refused */
	err = hx_tls_build(m, &(*out)->tls);
	if (err < 0) {
		hx_snap_put(*out);
		*out = NULL;
		return err;
	}
	return 0;
}
