// SPDX-License-Identifier: Apache-2.0
/*
 * TCP fault injection from the sluice.io/tcp-fault-* annotations to L4
 * entries: the share's forms (parts per million), the errno names, the
 * FAULT flag and one sluice_fault entry per route of the VirtualService
 * (none for the service's fallback route), and the refusals.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sluice/compile_l4.h"
#include "sluice/dataplane.h"
#include "sluice/model.h"
#include "unit/policy_load_util.h"

#define SE                                                                       \
	"apiVersion: networking.istio.io/v1\n"                                    \
	"kind: ServiceEntry\n"                                                    \
	"metadata: {name: echo, namespace: t}\n"                                  \
	"spec:\n"                                                                 \
	"  hosts: [echo.t.svc.cluster.local]\n"                                   \
	"  addresses: [198.18.0.10]\n"                                            \
	"  ports: [{number: 9000, name: tcp, protocol: TCP}]\n"                   \
	"  resolution: STATIC\n"                                                  \
	"  endpoints: [{address: 10.1.0.1, labels: {v: one}}, {address: 10.1.0.2}]\n"

#define VS(ann, routes)                                                          \
	"---\n"                                                                   \
	"apiVersion: networking.istio.io/v1\n"                                    \
	"kind: VirtualService\n"                                                  \
	"metadata: {name: echo, namespace: t, annotations: {" ann "}}\n"          \
	"spec:\n"                                                                 \
	"  hosts: [echo.t.svc.cluster.local]\n" routes

/* a sourceLabels route (the workload matches) and no catch-all: the
 * compiler adds the service's fallback route */
#define SRC_ONLY                                                                 \
	"  tcp: [{match: [{sourceLabels: {app: c}}],\n"                           \
	"         route: [{destination: {host: echo.t.svc.cluster.local}}]}]\n"   \
	"---\n"                                                                   \
	"apiVersion: networking.istio.io/v1\n"                                    \
	"kind: WorkloadEntry\n"                                                   \
	"metadata: {name: c, namespace: t, annotations: {sluice.io/cgroup: t/c}}\n" \
	"spec: {address: 10.9.9.9, labels: {app: c}}\n"

static void expect_share(const char *share, uint32_t ppm)
{
	char yaml[2048];
	struct sl_diags d;
	struct sl_model *m;

	snprintf(yaml, sizeof(yaml), "%s" VS("sluice.io/tcp-fault-abort: '%s'",
	 "  tcp: [{route: [{destination: {host: echo.t.svc.cluster.local}}]}]\n"), SE, share);
	if (load(yaml, &d, &m)) {
		sl_diags_print(&d, stderr);
		fail_msg("share %s refused", share);
	}
	assert_int_equal(m->vhosts[0].tcp_fault_ppm, ppm);
	assert_int_equal(m->vhosts[0].tcp_fault_errno, ECONNREFUSED);
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_shares(void **state)
{
	(void)state;
	expect_share("5%", 50000);
	expect_share("5", 50000);
	expect_share("0.05%", 500);
	expect_share("12.3456%", 123456);
	expect_share("100%", 1000000);
	expect_share("0%", 0);
	static const char *const bad[] = { "101%", "100.1%", "-5%", ".5%", "5 %", "5%%",
					   "1.23456%", "five", "", "5.%" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char yaml[2048];
		snprintf(yaml, sizeof(yaml), "%s" VS("sluice.io/tcp-fault-abort: '%s'",
		 "  tcp: [{route: [{destination: {host: echo.t.svc.cluster.local}}]}]\n"), SE, bad[i]);
		expect_error(yaml, "SL0202");
	}
}

static void test_refusals(void **state)
{
	(void)state;
	expect_error(SE VS("sluice.io/tcp-fault-abort: 5%, sluice.io/tcp-fault-errno: ENOENT",
			   "  tcp: [{route: [{destination: {host: echo.t.svc.cluster.local}}]}]\n"),
		     "SL0209");
	expect_error(SE VS("sluice.io/tcp-fault-errno: ECONNRESET",
			   "  tcp: [{route: [{destination: {host: echo.t.svc.cluster.local}}]}]\n"),
		     "SL0004");
	expect_error(SE VS("sluice.io/tcp-fault-abort: 5%, sluice.io/tcp-fault-delay: 1s",
			   "  tcp: [{route: [{destination: {host: echo.t.svc.cluster.local}}]}]\n"),
		     "SL0007");
	expect_error(SE VS("sluice.io/tcp-fault-abort: 5%",
			   "  http: [{route: [{destination: {host: echo.t.svc.cluster.local}}]}]\n"),
		     "SL0211");
}

static uint64_t fake_cgroup(const char *rel, void *arg)
{
	(void)rel;
	(void)arg;
	return 77;
}

static void test_compile(void **state)
{
	struct sl_l4_opts o = { .cgroup_id = fake_cgroup };
	char err[SL_DP_ERRLEN] = "";
	struct sl_l4_gen g;
	struct sl_diags d;
	struct sl_model *m;
	size_t i, nflagged = 0;

	(void)state;
	assert_int_equal(load(SE VS("sluice.io/tcp-fault-abort: 2.5%, sluice.io/tcp-fault-errno: ETIMEDOUT",
				    SRC_ONLY), &d, &m), 0);
	assert_int_equal(sl_compile_l4(m, &o, 3, &g, err), 0);
	assert_int_equal(g.nroutes, 2);	/* the sourceLabels route + the fallback */
	assert_int_equal(g.nfaults, 1);
	for (i = 0; i < g.nroutes; i++) {
		if (!(g.routes[i].v.flags & SLUICE_ROUTE_FAULT))
			continue;
		nflagged++;
		assert_true(g.routes[i].v.flags & SLUICE_ROUTE_SOURCE);
		assert_int_equal(g.faults[0].k.gen, 3);
		assert_int_equal(g.faults[0].k.route_id, g.routes[i].k.route_id);
	}
	assert_int_equal(nflagged, 1);
	assert_int_equal(g.faults[0].v.abort_ppm, 25000);
	assert_int_equal(g.faults[0].v.err, ETIMEDOUT);
	sl_l4_gen_free(&g);
	sl_model_free(m);
	sl_diags_free(&d);

	/* 0% is no fault: no flag, no entry */
	assert_int_equal(load(SE VS("sluice.io/tcp-fault-abort: 0%",
				    "  tcp: [{route: [{destination: {host: echo.t.svc.cluster.local}}]}]\n"),
			      &d, &m), 0);
	assert_int_equal(sl_compile_l4(m, &o, 4, &g, err), 0);
	assert_int_equal(g.nfaults, 0);
	for (i = 0; i < g.nroutes; i++)
		assert_false(g.routes[i].v.flags & SLUICE_ROUTE_FAULT);
	sl_l4_gen_free(&g);
	sl_model_free(m);
	sl_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shares),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_compile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
