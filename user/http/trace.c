/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-http's part of `sluicectl trace`: while the trace is on (the
 * deadline in the pinned sluice_trace_cfg, which sluicectl trace keeps a few
 * seconds ahead), each answered request becomes one struct
 * sluice_trace_http_rec pushed to the pinned sluice_trace_http queue: the
 * route, why it matched (which conditions, the first header or query
 * parameter), subset, endpoint and status. When nobody traces, the cost is
 * one load from the mapped switch per request; the sampling and the rate
 * limit of the switch apply as in the kernel (bpf/lib/trace.h), per worker.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "http/reqlog.h"
#include "sluice/compile_l4.h"
#include "sluice/dataplane.h"

static struct sluice_trace_cfg *cfg;	/* mapped sluice_trace_cfg; NULL = no trace */
static int queue_fd = -1;

void hx_trace_open(const char *bpffs)
{
	char path[1024];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "%s/sluice_trace_cfg", bpffs);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);	/* the mapping keeps the map */
	if (p == MAP_FAILED)
		return;
	snprintf(path, sizeof(path), "%s/sluice_trace_http", bpffs);
	queue_fd = bpf_obj_get(path);
	if (queue_fd < 0) {
		munmap(p, (size_t)sysconf(_SC_PAGESIZE));
		return;
	}
	cfg = p;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool hx_trace_on(struct hx_worker *w)
{
	uint64_t until;

	if (!cfg)
		return false;
	until = __atomic_load_n(&cfg->until_ns, __ATOMIC_ACQUIRE);
	/* the deadline is in ns, the worker's clock in ms: same clock */
	return until && until / 1000000u > w->now;
}

/* The match flags of condition mt, and the first header or query name. */
static uint16_t match_flags(const struct sl_match *mt, char *detail, size_t len)
{
	uint16_t f = 0;

	if (!mt)
		return 0;
	if (mt->uri.kind)
		f |= SLUICE_TM_URI;
	if (mt->method.kind)
		f |= SLUICE_TM_METHOD;
	if (mt->authority.kind)
		f |= SLUICE_TM_AUTHORITY;
	if (mt->scheme.kind)
		f |= SLUICE_TM_SCHEME;
	if (mt->port)
		f |= SLUICE_TM_PORT;
	if (mt->has_source_labels)
		f |= SLUICE_TM_SOURCE;
	if (mt->ngateways)
		f |= SLUICE_TM_GATEWAY;
	if (mt->nwithout_headers)
		f |= SLUICE_TM_WITHOUT_HEADERS;
	if (mt->nquery) {
		f |= SLUICE_TM_QUERY;
		snprintf(detail, len, "%s", mt->query[0].name);
	}
	if (mt->nheaders) {
		f |= SLUICE_TM_HEADERS;
		snprintf(detail, len, "%s", mt->headers[0].name);
	}
	return f;
}

void hx_trace_begin(struct hx_cli *c, const struct hx_reqview *rv)
{
	struct hx_trace_req *t = c->tr;

	if (!t) {
		t = c->tr = calloc(1, sizeof(*t));
		if (!t)
			return;
	}
	t->on = true;
	t->ts_ns = mono_ns();
	snprintf(t->method, sizeof(t->method), "%.*s", (int)rv->method_len, rv->method);
	snprintf(t->path, sizeof(t->path), "%.*s", (int)rv->path_len, rv->path);
}

void hx_trace_end(struct hx_cli *c)
{
	struct hx_trace_req *t = c->tr;
	struct hx_worker *w = c->w;
	const struct sl_model *m = c->snap->m;
	const struct sl_service *s = c->svc >= 0 ? &m->services[c->svc] : NULL;
	struct sluice_trace_http_rec r = { 0 };
	uint32_t sample = cfg->sample > 1 ? cfg->sample : 1;

	t->on = false;
	/* sampling and the rate limit, per worker */
	if (sample > 1 && hx_rand(w) % sample)
		return;
	if (w->now / 1000u != w->trace_sec) {
		w->trace_sec = w->now / 1000u;
		w->trace_count = 0;
	}
	if (cfg->max_per_sec && ++w->trace_count > cfg->max_per_sec) {
		__atomic_fetch_add(&cfg->dropped, 1, __ATOMIC_RELAXED);
		return;
	}
	r.d.ts_ns = t->ts_ns;
	r.d.layer = SLUICE_TL_HTTP;
	r.d.proto = 6;
	r.d.gen = (uint32_t)c->snap->gen;
	r.d.workload_id = c->workload >= 0 && c->snap->wids ? c->snap->wids[c->workload] :
			  SLUICE_NO_WORKLOAD;
	if (c->has_orig) {
		memcpy(r.d.vip, c->vip, 16);
		r.d.vip_port = htons(c->vip_port);
	} else {
		r.d.vip_port = htons(c->entry_port);
	}
	r.status = (uint16_t)c->status;
	snprintf(r.method, sizeof(r.method), "%s", t->method);
	snprintf(r.path, sizeof(r.path), "%s", t->path);
	if (s) {
		r.d.svc_sid = sl_dp_sid(s->host);
		if (c->subset >= 0)
			r.d.subset_sid = sl_dp_sid(s->subsets[c->subset].name);
	}
	r.d.route_idx = (uint16_t)c->route_idx;
	if (!c->rt) {
		r.d.verdict = SLUICE_TV_REFUSE;
		r.d.why = SLUICE_WHY_HTTP_NO_ROUTE;
	} else if (c->rt->has_redirect) {
		r.d.verdict = SLUICE_TV_REFUSE;
		r.d.why = SLUICE_WHY_HTTP_REDIRECT;
	} else if (c->resp_flags && !strcmp(c->resp_flags, "FI")) {
		r.d.verdict = SLUICE_TV_REFUSE;
		r.d.why = SLUICE_WHY_HTTP_FAULT;
	} else {
		r.d.verdict = c->ep >= 0 ? SLUICE_TV_STEER : SLUICE_TV_REFUSE;
		r.d.why = c->has_hash ? SLUICE_WHY_HTTP_HASH :
			  c->hit ? SLUICE_WHY_HTTP_MATCH : SLUICE_WHY_HTTP_DEFAULT;
		r.match = match_flags(c->hit, r.detail, sizeof(r.detail));
	}
	if (s && c->ep >= 0) {
		memcpy(r.d.backend, s->endpoints[c->ep].ip.addr, 16);
		r.d.backend_port = htons(hx_endpoint_port(s, &s->endpoints[c->ep], c->dest_port));
	}
	/* a full queue (nobody reading fast enough) loses the record */
	if (bpf_map_update_elem(queue_fd, NULL, &r, BPF_ANY))
		__atomic_fetch_add(&cfg->dropped, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&cfg->written, 1, __ATOMIC_RELAXED);
}
