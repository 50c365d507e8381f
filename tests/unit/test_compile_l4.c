/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L4 compiler on hand-built models (no YAML, no kernel): weights, empty
 * subsets, no endpoints, sourceLabels, the helper redirect, REGISTRY_ONLY
 * registrations and the refusals of what the socket data plane cannot do.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "sluice/compile_l4.h"
#include "sluice/dataplane.h"

/* A two-version service like S1: VIP 198.18.0.10:9000, v1 = 198.18.1.1,
 * v2 = 198.18.1.2, one VirtualService route with weights w1/w2. */
struct fixture {
	struct sl_model m;
	struct sl_service svc;
	struct sl_port port;
	struct sl_ip vip;
	struct sl_endpoint eps[2];
	struct sl_subset subsets[2];
	size_t v1_eps[1], v2_eps[1];
	struct sl_vhost vh;
	struct sl_route routes[2];
	struct sl_dest dests[2], dflt;
	struct sl_match match;
	size_t src_wl[1];
	struct sl_workload wl;
	char err[SL_DP_ERRLEN];
};

static void ip4(struct sl_ip *ip, const char *s)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = AF_INET;
	ip->addr[10] = ip->addr[11] = 0xff;
	inet_pton(AF_INET, s, ip->addr + 12);
}

static void fx_init(struct fixture *f, uint32_t w1, uint32_t w2)
{
	memset(f, 0, sizeof(*f));
	f->port = (struct sl_port){ .number = 9000, .name = "tcp", .proto = SL_PROTO_TCP };
	ip4(&f->vip, "198.18.0.10");
	ip4(&f->eps[0].ip, "198.18.1.1");
	ip4(&f->eps[1].ip, "198.18.1.2");
	f->eps[0].weight = f->eps[1].weight = 1;
	f->eps[0].workload = f->eps[1].workload = -1;
	f->v1_eps[0] = 0;
	f->v2_eps[0] = 1;
	f->subsets[0] = (struct sl_subset){ .name = "v1", .endpoints = f->v1_eps, .nendpoints = 1 };
	f->subsets[1] = (struct sl_subset){ .name = "v2", .endpoints = f->v2_eps, .nendpoints = 1 };
	f->svc = (struct sl_service){
		.host = "tcp-echo.weather.svc.cluster.local", .name = "tcp-echo", .ns = "weather",
		.vips = &f->vip, .nvips = 1, .ports = &f->port, .nports = 1,
		.resolution = SL_RES_STATIC, .endpoints = f->eps, .nendpoints = 2,
		.subsets = f->subsets, .nsubsets = 2, .vhost = 0,
	};
	f->dests[0] = (struct sl_dest){ .service = 0, .subset = 0, .weight_raw = w1 };
	f->dests[1] = (struct sl_dest){ .service = 0, .subset = 1, .weight_raw = w2 };
	f->routes[0] = (struct sl_route){ .dests = f->dests, .ndests = 2,
					  .weight_raw_total = (uint64_t)w1 + w2 };
	f->vh = (struct sl_vhost){ .name = "tcp-echo", .ns = "weather", .mesh = true,
				   .tcp = f->routes, .ntcp = 1 };
	f->m = (struct sl_model){ .services = &f->svc, .nservices = 1, .vhosts = &f->vh,
				  .nvhosts = 1 };
}

static uint8_t *vip_addr(struct fixture *f)
{
	return f->vip.addr;
}

/* The data-plane id of workload i of m. */
static uint32_t want_wid(const struct sl_model *m, size_t i)
{
	uint32_t *ids = NULL, id;

	assert_int_equal(sl_l4_workload_ids(m, &ids), 0);
	id = ids[i];
	free(ids);
	return id;
}

static void test_s1_weights(void **state)
{
	struct fixture f;
	struct sl_l4_gen g;
	const struct sluice_svc *s;
	const struct sluice_route *r;
	const struct sluice_subset *sub;
	const struct sluice_backend *be;

	(void)state;
	fx_init(&f, 80, 20);
	assert_int_equal(sl_compile_l4(&f.m, NULL, 7, &g, f.err), 0);
	assert_int_equal(g.gen, 7);
	s = sl_l4_find_svc(&g, vip_addr(&f), 9000, IPPROTO_TCP);
	assert_non_null(s);
	/* the only route is also copied into the entry (no route lookup),
	 * and with <= 2 destinations their subsets too (no subset lookup) */
	assert_int_equal(s->flags, SLUICE_SVC_ROUTE_INLINE | SLUICE_SVC_SUBSET_INLINE);
	assert_int_equal(s->nroutes, 1);
	assert_int_equal(s->svc_sid, sl_dp_sid("tcp-echo.weather.svc.cluster.local"));
	r = sl_l4_find_route(&g, s->route_first);
	assert_non_null(r);
	assert_memory_equal(&s->route, r, sizeof(*r));
	assert_int_equal(r->ndests, 2);
	assert_int_equal(r->dests[0].cum_weight, 80);
	assert_int_equal(r->dests[1].cum_weight, 100);
	assert_int_equal(r->total, 100);
	sub = sl_l4_find_subset(&g, r->dests[1].subset_id);
	assert_non_null(sub);
	assert_int_equal(sub->nbackends, 1);
	assert_int_equal(sub->subset_sid, sl_dp_sid("v2"));
	assert_int_equal(sub->lb, SLUICE_LB_ROUND_ROBIN);
	be = sl_l4_find_backend(&g, sub->backend_first);
	assert_non_null(be);
	assert_memory_equal(be->addr, f.eps[1].ip.addr, 16);
	assert_int_equal(ntohs(be->port), 9000);
	/* a subset this small carries its backends inline */
	assert_memory_equal(&sub->inl[0], be, sizeof(*be));
	/* the service's copies are the subsets in dests[] order */
	assert_memory_equal(&s->sub[1], sub, sizeof(*sub));
	assert_memory_equal(&s->sub[0], sl_l4_find_subset(&g, r->dests[0].subset_id),
			    sizeof(*sub));
	for (size_t i = 0; i < g.nsvcs; i++)
		assert_int_equal(g.svcs[i].k.gen, 7);
	sl_l4_gen_free(&g);
}

static void test_edges_exact(void **state)
{
	struct fixture f;
	struct sl_l4_gen g;
	const struct sluice_route *r;

	(void)state;
	fx_init(&f, 0, 100);
	assert_int_equal(sl_compile_l4(&f.m, NULL, 1, &g, f.err), 0);
	r = sl_l4_find_route(&g, sl_l4_find_svc(&g, vip_addr(&f), 9000, IPPROTO_TCP)->route_first);
	assert_int_equal(r->ndests, 1);		/* weight 0: never drawn */
	assert_int_equal(sl_l4_find_subset(&g, r->dests[0].subset_id)->subset_sid, sl_dp_sid("v2"));
	sl_l4_gen_free(&g);

	fx_init(&f, 1, 9999);
	assert_int_equal(sl_compile_l4(&f.m, NULL, 1, &g, f.err), 0);
	r = sl_l4_find_route(&g, sl_l4_find_svc(&g, vip_addr(&f), 9000, IPPROTO_TCP)->route_first);
	assert_int_equal(r->ndests, 2);
	assert_int_equal(r->dests[0].cum_weight, 1);
	assert_int_equal(r->total, 10000);
	sl_l4_gen_free(&g);
}

static void test_empty_subset_skipped(void **state)
{
	struct fixture f;
	struct sl_l4_gen g;
	const struct sluice_route *r;

	(void)state;
	fx_init(&f, 50, 50);
	f.subsets[1].nendpoints = 0;
	assert_int_equal(sl_compile_l4(&f.m, NULL, 1, &g, f.err), 0);
	r = sl_l4_find_route(&g, sl_l4_find_svc(&g, vip_addr(&f), 9000, IPPROTO_TCP)->route_first);
	assert_int_equal(r->ndests, 1);
	assert_int_equal(r->total, 50);
	assert_int_equal(r->flags & SLUICE_ROUTE_NO_ENDPOINTS, 0);
	sl_l4_gen_free(&g);
}

static void test_no_endpoints_refused(void **state)
{
	struct fixture f;
	struct sl_l4_gen g;
	const struct sluice_svc *s;

	(void)state;
	fx_init(&f, 50, 50);
	f.svc.nendpoints = 0;
	f.subsets[0].nendpoints = f.subsets[1].nendpoints = 0;
	assert_int_equal(sl_compile_l4(&f.m, NULL, 1, &g, f.err), 0);
	s = sl_l4_find_svc(&g, vip_addr(&f), 9000, IPPROTO_TCP);
	assert_non_null(s);
	assert_true(s->flags & SLUICE_SVC_NO_ENDPOINTS);
	sl_l4_gen_free(&g);
}

static uint64_t fake_cgroup(const char *rel, void *arg)
{
	(void)arg;
	return strcmp(rel, "frontend-v2") ? 0 : 4242;
}

static void test_source_labels(void **state)
{
	struct sl_l4_opts o = { .cgroup_id = fake_cgroup };
	struct fixture f;
	struct sl_l4_gen g;
	const struct sluice_svc *s;
	const struct sluice_route *r0, *r1;

	(void)state;
	fx_init(&f, 0, 100);
	/* route 0: sourceLabels {version: v2} -> v2; route 1: -> v1 */
	f.wl = (struct sl_workload){ .name = "frontend-v2", .ns = "weather", .cgroup = "frontend-v2" };
	f.m.workloads = &f.wl;
	f.m.nworkloads = 1;
	f.src_wl[0] = 0;
	f.match = (struct sl_match){ .has_source_labels = true, .source_workloads = f.src_wl,
				     .nsource_workloads = 1 };
	f.routes[0] = (struct sl_route){ .matches = &f.match, .nmatches = 1, .dests = &f.dests[1],
					 .ndests = 1, .weight_raw_total = 100 };
	f.dflt = (struct sl_dest){ .service = 0, .subset = 0, .weight_raw = 1 };
	f.routes[1] = (struct sl_route){ .dests = &f.dflt, .ndests = 1, .weight_raw_total = 1 };
	f.vh.ntcp = 2;
	assert_int_equal(sl_compile_l4(&f.m, &o, 3, &g, f.err), 0);
	assert_true(g.cfg.flags & SLUICE_CFG_SOURCE_ROUTES);
	assert_int_equal(g.ncgroups, 1);
	assert_int_equal(g.cgroups[0].k.cgroup_id, 4242);
	assert_int_equal(g.cgroups[0].v.workload_id, want_wid(&f.m, 0));
	s = sl_l4_find_svc(&g, vip_addr(&f), 9000, IPPROTO_TCP);
	assert_int_equal(s->nroutes, 2);
	/* two routes: neither the route nor its subsets are inline */
	assert_false(s->flags & (SLUICE_SVC_ROUTE_INLINE | SLUICE_SVC_SUBSET_INLINE));
	r0 = sl_l4_find_route(&g, s->route_first);
	r1 = sl_l4_find_route(&g, s->route_first + 1);
	assert_true(r0->flags & SLUICE_ROUTE_SOURCE);
	assert_false(r1->flags & SLUICE_ROUTE_SOURCE);
	assert_int_equal(g.nsrcs, 1);
	assert_int_equal(g.srcs[0].route_id, s->route_first);
	assert_int_equal(g.srcs[0].workload_id, want_wid(&f.m, 0));
	sl_l4_gen_free(&g);
}

/* Workload ids are stable across applies that add, drop or reorder
 * workloads (sluice-http may hold the previous generation's model while
 * sluice_origdst already carries ids of the next), unique, never 0 or
 * SLUICE_NO_WORKLOAD, and found again by sl_l4_workload_index. */
static void test_workload_ids_stable(void **state)
{
	struct sl_workload a[3] = {
		{ .name = "frontend-v1", .ns = "weather" },
		{ .name = "frontend-v2", .ns = "weather" },
		{ .name = "frontend-v1", .ns = "shop" },
	};
	struct sl_workload b[2] = { a[1], a[0] };	/* reordered, one gone */
	struct sl_model ma = { .workloads = a, .nworkloads = 3 };
	struct sl_model mb = { .workloads = b, .nworkloads = 2 };
	struct sl_workload *many;
	struct sl_model mm = { 0 };
	uint32_t *ia = NULL, *ib = NULL, *im = NULL;
	char names[2000][16];
	size_t i, j;

	(void)state;
	assert_int_equal(sl_l4_workload_ids(&ma, &ia), 0);
	assert_int_equal(sl_l4_workload_ids(&mb, &ib), 0);
	assert_int_equal(ib[0], ia[1]);
	assert_int_equal(ib[1], ia[0]);
	assert_int_not_equal(ia[0], ia[2]);	/* same name, other namespace */
	assert_int_equal(sl_l4_workload_index(ia, 3, ib[0]), 1);
	assert_int_equal(sl_l4_workload_index(ib, 2, ia[2]), -1);
	assert_int_equal(sl_l4_workload_index(ia, 3, SLUICE_NO_WORKLOAD), -1);
	/* 2,000 workloads: all ids distinct and valid */
	many = calloc(2000, sizeof(*many));
	assert_non_null(many);
	for (i = 0; i < 2000; i++) {
		snprintf(names[i], sizeof(names[i]), "wl-%zu", i);
		many[i] = (struct sl_workload){ .name = names[i], .ns = "ns" };
	}
	mm.workloads = many;
	mm.nworkloads = 2000;
	assert_int_equal(sl_l4_workload_ids(&mm, &im), 0);
	for (i = 0; i < 2000; i++) {
		assert_true(im[i] != 0 && im[i] != SLUICE_NO_WORKLOAD);
		for (j = 0; j < i; j++)
			assert_int_not_equal(im[i], im[j]);
	}
	free(im);
	free(many);
	free(ia);
	free(ib);
}

static void test_http_helper(void **state)
{
	struct sl_l4_opts o = { .helper_port = 15001 };
	struct fixture f;
	struct sl_l4_gen g;
	struct sl_kv_match hm = { .name = "user-agent",
				  .m = { .kind = SL_STR_PREFIX, .value = "Chrome" } };
	const struct sluice_svc *s;

	(void)state;
	fx_init(&f, 50, 50);
	f.port.proto = SL_PROTO_HTTP;
	f.match = (struct sl_match){ .headers = &hm, .nheaders = 1 };
	f.routes[0].matches = &f.match;
	f.routes[0].nmatches = 1;
	f.vh.http = f.routes;
	f.vh.nhttp = 1;
	f.vh.tcp = NULL;
	f.vh.ntcp = 0;
	assert_int_equal(sl_compile_l4(&f.m, &o, 1, &g, f.err), 0);
	s = sl_l4_find_svc(&g, vip_addr(&f), 9000, IPPROTO_TCP);
	assert_true(s->flags & SLUICE_SVC_HTTP);
	assert_int_equal(ntohs(g.cfg.helper_port), 15001);
	sl_l4_gen_free(&g);

	/* without the helper a header match cannot be enforced: refused */
	assert_int_equal(sl_compile_l4(&f.m, NULL, 1, &g, f.err), -ENOTSUP);
	assert_non_null(strstr(f.err, "sluice-http"));

	/* a GRPC port is the helper's too (it speaks HTTP/2 upstream there) */
	f.port.proto = SL_PROTO_GRPC;
	assert_int_equal(sl_compile_l4(&f.m, &o, 1, &g, f.err), 0);
	s = sl_l4_find_svc(&g, vip_addr(&f), 9000, IPPROTO_TCP);
	assert_true(s->flags & SLUICE_SVC_HTTP);
	sl_l4_gen_free(&g);
}

static void test_refusals(void **state)
{
	struct fixture f;
	struct sl_l4_gen g;

	(void)state;
	fx_init(&f, 50, 50);
	f.subsets[1].tp.lb.kind = SL_LB_CONSISTENT_HASH;
	assert_int_equal(sl_compile_l4(&f.m, NULL, 1, &g, f.err), -ENOTSUP);
	assert_non_null(strstr(f.err, "consistentHash"));

	/* useSourceIp is the one key the L4 path can hash: Maglev subsets
	 * (table size kept for sl_compile_maglev) and a hashing route */
	fx_init(&f, 50, 50);
	f.subsets[1].tp.lb.kind = SL_LB_CONSISTENT_HASH;
	f.subsets[1].tp.lb.hash = SL_HASH_SOURCE_IP;
	f.subsets[1].tp.lb.maglev_size = 251;
	assert_int_equal(sl_compile_l4(&f.m, NULL, 1, &g, f.err), 0);
	{
		size_t i, nmaglev = 0;

		for (i = 0; i < g.nsubsets; i++) {
			if (g.subsets[i].v.lb != SLUICE_LB_MAGLEV)
				continue;
			nmaglev++;
			assert_int_equal(g.subsets[i].v.maglev_size, 251);
		}
		assert_int_equal(nmaglev, 1);
		for (i = 0; i < g.nroutes; i++)
			assert_true(g.routes[i].v.flags & SLUICE_ROUTE_HASH);
	}
	sl_l4_gen_free(&g);
	fx_init(&f, 50, 50);
	f.subsets[1].tp.lb.kind = SL_LB_CONSISTENT_HASH;
	f.subsets[1].tp.lb.hash = SL_HASH_HEADER;
	f.subsets[1].tp.lb.hash_key = "x-user";
	assert_int_equal(sl_compile_l4(&f.m, NULL, 1, &g, f.err), -ENOTSUP);
	assert_non_null(strstr(f.err, "HTTP attribute"));
}

/* v1.example resolves to two addresses, anything else to none. */
static size_t fake_dns(const char *name, const struct sl_ip **out, void *arg)
{
	static struct sl_ip two[2];

	(void)arg;
	ip4(&two[0], "198.18.7.1");
	ip4(&two[1], "198.18.7.2");
	*out = two;
	return strcmp(name, "v1.example") ? 0 : 2;
}

/* A DNS-named endpoint: one backend per address its name resolves to
 * (sl_l4_opts.dns_lookup), also registered under REGISTRY_ONLY; offline
 * (no lookup) it has none and its subset is left out. */
static void test_dns_endpoints(void **state)
{
	struct sl_l4_opts o = { .dns_lookup = fake_dns };
	struct fixture f;
	struct sl_l4_gen g;
	size_t i, v1 = 0, reg = 0;

	(void)state;
	fx_init(&f, 50, 50);
	f.eps[0].ip.family = 0;
	f.eps[0].dns_name = true;
	f.eps[0].address = "v1.example";
	f.m.outbound = SL_OUTBOUND_REGISTRY_ONLY;
	assert_int_equal(sl_compile_l4(&f.m, &o, 1, &g, f.err), 0);
	for (i = 0; i < g.nbackends; i++)
		v1 += g.backends[i].v.addr[12] == 198 && g.backends[i].v.addr[14] == 7;
	assert_int_equal(v1, 2);
	for (i = 0; i < g.nsvcs; i++)
		reg += g.svcs[i].k.addr[12] == 198 && g.svcs[i].k.addr[14] == 7 &&
		       (g.svcs[i].v.flags & SLUICE_SVC_PASSTHROUGH);
	assert_int_equal(reg, 2);
	sl_l4_gen_free(&g);

	/* offline: the name has no address; v1 is empty and left out */
	assert_int_equal(sl_compile_l4(&f.m, NULL, 1, &g, f.err), 0);
	for (i = 0; i < g.nbackends; i++)
		assert_false(g.backends[i].v.addr[14] == 7);
	sl_l4_gen_free(&g);
}

/* connectionPool.tcp and outlierDetection become one sluice_pool entry per
 * (service, subset), flagged on the subset, with sluice-http's defaults. */
static void test_pool(void **state)
{
	struct fixture f;
	struct sl_l4_gen g;
	size_t i, flagged = 0;

	(void)state;
	fx_init(&f, 50, 50);
	f.subsets[0].tp.pool.tcp_max_connections = 100;
	f.subsets[0].tp.pool.tcp_connect_timeout_ms = 30;
	f.subsets[0].tp.pool.tcp_keepalive = true;
	f.subsets[0].tp.pool.ka_time_s = 7200;
	f.subsets[0].tp.pool.ka_interval_s = 75;
	f.subsets[1].tp.outlier.set = true;
	f.subsets[1].tp.outlier.consecutive_5xx = 7;
	f.subsets[1].tp.outlier.consecutive_gw = 3;
	assert_int_equal(sl_compile_l4(&f.m, NULL, 1, &g, f.err), 0);
	assert_int_equal(g.npools, 2);
	for (i = 0; i < g.nsubsets; i++) {
		const struct sluice_subset *v = &g.subsets[i].v;

		if (!(v->flags & SLUICE_SUBSET_F_POOL))
			continue;
		flagged++;
		assert_int_equal(!!(v->flags & SLUICE_SUBSET_F_OUTLIER),
				 v->subset_sid == sl_dp_sid("v2"));
	}
	assert_true(flagged >= 2);
	for (i = 0; i < g.npools; i++) {
		const struct sl_l4_pool *q = &g.pools[i];

		assert_int_equal(q->k.gen, 1);
		if (q->k.subset_sid == sl_dp_sid("v1")) {
			assert_int_equal(q->v.max_conns, 100);
			assert_int_equal(q->v.connect_timeout_ms, 30);
			assert_int_equal(q->v.keepalive, 1);
			assert_int_equal(q->v.ka_time_s, 7200);
			assert_int_equal(q->v.ka_intvl_s, 75);
			assert_int_equal(q->v.od_consecutive, 0);
		} else {
			assert_int_equal(q->k.subset_sid, sl_dp_sid("v2"));
			/* a failed connect is both kinds of error: the lower wins */
			assert_int_equal(q->v.od_consecutive, 3);
			assert_int_equal(q->v.od_base_ms, 30000);
			assert_int_equal(q->v.od_max_ejected, 1);
			assert_int_equal(q->v.max_conns, 0);
		}
	}
	sl_l4_gen_free(&g);
}

static void test_registry_only(void **state)
{
	struct fixture f;
	struct sl_l4_gen g;
	const struct sluice_svc *s;

	(void)state;
	fx_init(&f, 80, 20);
	f.m.outbound = SL_OUTBOUND_REGISTRY_ONLY;
	assert_int_equal(sl_compile_l4(&f.m, NULL, 1, &g, f.err), 0);
	assert_true(g.cfg.flags & SLUICE_CFG_REGISTRY_ONLY);
	s = sl_l4_find_svc(&g, f.eps[0].ip.addr, 9000, IPPROTO_TCP);
	assert_non_null(s);
	assert_true(s->flags & SLUICE_SVC_PASSTHROUGH);
	assert_int_equal(g.nsvcs, 3);	/* VIP + two endpoints */
	sl_l4_gen_free(&g);
}

static void test_vip_conflict(void **state)
{
	struct fixture f;
	struct sl_service two[2];
	struct sl_l4_gen g;

	(void)state;
	fx_init(&f, 80, 20);
	two[0] = f.svc;
	two[1] = f.svc;
	two[1].host = "other.weather.svc.cluster.local";
	two[1].vhost = -1;
	f.m.services = two;
	f.m.nservices = 2;
	assert_int_equal(sl_compile_l4(&f.m, NULL, 1, &g, f.err), -EINVAL);
	assert_non_null(strstr(f.err, "claimed by two services"));
}

static void test_no_vs_default_route(void **state)
{
	struct fixture f;
	struct sl_l4_gen g;
	const struct sluice_svc *s;
	const struct sluice_route *r;

	(void)state;
	fx_init(&f, 80, 20);
	f.svc.vhost = -1;
	f.svc.tp.lb.kind = SL_LB_LEAST_REQUEST;
	assert_int_equal(sl_compile_l4(&f.m, NULL, 1, &g, f.err), 0);
	s = sl_l4_find_svc(&g, vip_addr(&f), 9000, IPPROTO_TCP);
	assert_int_equal(s->nroutes, 1);
	r = sl_l4_find_route(&g, s->route_first);
	assert_int_equal(r->ndests, 1);
	assert_int_equal(sl_l4_find_subset(&g, r->dests[0].subset_id)->nbackends, 2);
	assert_int_equal(sl_l4_find_subset(&g, r->dests[0].subset_id)->lb, SLUICE_LB_LEAST_REQUEST);
	assert_int_equal(sl_l4_find_subset(&g, r->dests[0].subset_id)->subset_sid, 0);
	sl_l4_gen_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s1_weights),
		cmocka_unit_test(test_edges_exact),
		cmocka_unit_test(test_empty_subset_skipped),
		cmocka_unit_test(test_no_endpoints_refused),
		cmocka_unit_test(test_source_labels),
		cmocka_unit_test(test_workload_ids_stable),
		cmocka_unit_test(test_http_helper),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_dns_endpoints),
		cmocka_unit_test(test_pool),
		cmocka_unit_test(test_registry_only),
		cmocka_unit_test(test_vip_conflict),
		cmocka_unit_test(test_no_vs_default_route),
	};

	return cmocka_run_group_tests_name("compile_l4", tests, NULL, NULL);
}
