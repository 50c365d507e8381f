// SPDX-License-Identifier: Apache-2.0
/*
 * Sidecar egress scopes from YAML to L4 entries: the host forms of
 * sl_egress_allows, which Sidecar scopes a workload (workloadSelector, then
 * the namespace's, then the root default), the errors of the loader, and
 * what sl_compile_l4 writes: one scope id per distinct set of hidden
 * services, sluice_svc.scope_hidden, sluice_client.scope and default_scope.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "sluice/compile_l4.h"
#include "sluice/dataplane.h"
#include "sluice/model.h"
#include "unit/policy_load_util.h"

#define SE(name, ns, vip, ep)                                                    \
	"---\n"                                                                   \
	"apiVersion: networking.istio.io/v1\n"                                    \
	"kind: ServiceEntry\n"                                                    \
	"metadata: {name: " name ", namespace: " ns "}\n"                         \
	"spec:\n"                                                                 \
	"  hosts: [" name "." ns ".svc.cluster.local]\n"                          \
	"  addresses: [" vip "]\n"                                                \
	"  ports: [{number: 9000, name: tcp, protocol: TCP}]\n"                   \
	"  resolution: STATIC\n"                                                  \
	"  endpoints: [{address: " ep "}]\n"

#define SC(name, ns, extra, hosts)                                               \
	"---\n"                                                                   \
	"apiVersion: networking.istio.io/v1\n"                                    \
	"kind: Sidecar\n"                                                         \
	"metadata: {name: " name ", namespace: " ns "}\n"                         \
	"spec:\n" extra                                                           \
	"  egress: [{hosts: " hosts "}]\n"

#define WE(name, ns, labels)                                                     \
	"---\n"                                                                   \
	"apiVersion: networking.istio.io/v1\n"                                    \
	"kind: WorkloadEntry\n"                                                   \
	"metadata:\n"                                                             \
	"  name: " name "\n"                                                      \
	"  namespace: " ns "\n"                                                   \
	"  annotations: {sluice.io/cgroup: t/" name "}\n"                         \
	"spec: {address: 10.9.9.9, labels: " labels "}\n"

/* Services: orders (prod), catalog (apis), sandbox (dev), ledger (fin). */
#define SERVICES                                                                 \
	SE("orders", "prod", "198.18.9.1", "10.1.0.1")                            \
	SE("catalog", "apis", "198.18.9.2", "10.1.0.1")                           \
	SE("sandbox", "dev", "198.18.9.3", "10.1.0.3")                            \
	SE("ledger", "fin", "198.18.9.4", "10.1.0.4")

#define MESH_RO                                                                  \
	"---\n"                                                                   \
	"apiVersion: sluice.io/v1alpha1\n"                                        \
	"kind: MeshConfig\n"                                                      \
	"metadata: {name: mesh}\n"                                                \
	"spec: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}\n"

static const struct sl_service *svc(const struct sl_model *m, const char *host)
{
	int i = sl_model_find_service(m, host);

	assert_true(i >= 0);
	return &m->services[i];
}

static void test_host_forms(void **state)
{
	struct sl_service orders = { .host = "orders.prod.svc.cluster.local", .ns = "prod" };
	struct sl_service api = { .host = "api.example.com", .ns = "egress" };
	char *h[1];
	struct sl_sidecar sc = { .name = "default", .ns = "prod", .egress_hosts = h,
				 .negress_hosts = 1 };
	static const struct {
		const char *host, *client_ns;
		bool orders, api;
	} cases[] = {
		{ "*/*", "prod", true, true },
		{ "./*", "prod", true, false },
		{ "./*", "egress", false, true },	/* root default: the client's ns */
		{ "./*", NULL, true, false },		/* no workload: the Sidecar's ns */
		{ "~/*", "prod", false, false },
		{ "prod/*", "egress", true, false },
		{ "egress/*", "prod", false, true },
		{ "*/api.example.com", "prod", false, true },
		{ "*/API.example.com", "prod", false, true },
		{ "*/*.example.com", "prod", false, true },
		{ "*/*.com", "prod", false, true },
		{ "*/example.com", "prod", false, false },
		{ "prod/api.example.com", "prod", false, false },
		{ "pro/*", "prod", false, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		h[0] = (char *)cases[i].host;
		if (sl_egress_allows(&sc, cases[i].client_ns, &orders) != cases[i].orders ||
		    sl_egress_allows(&sc, cases[i].client_ns, &api) != cases[i].api)
			fail_msg("egress host %s (client ns %s)", cases[i].host,
				 cases[i].client_ns ? cases[i].client_ns : "none");
	}
	sc.negress_hosts = 0;	/* no egress listener: everything */
	assert_true(sl_egress_allows(&sc, "prod", &api));
}

static void test_precedence(void **state)
{
	struct sl_diags d;
	struct sl_model *m;

	(void)state;
	assert_int_equal(load(SERVICES
			      SC("default", "istio-system", "", "['./*', 'dev/*']")
			      SC("default", "prod", "", "['prod/*']")
			      SC("canary", "prod", "  workloadSelector: {labels: {track: canary}}\n",
				 "['*/*']")
			      WE("web", "prod", "{app: web}")
			      WE("web-canary", "prod", "{app: web, track: canary}")
			      WE("bookkeeper", "fin", "{app: books}"),
			      &d, &m), 0);
	assert_int_equal(m->nsidecars, 3);
	assert_int_equal(m->nworkloads, 3);
	for (size_t i = 0; i < m->nworkloads; i++) {
		const struct sl_workload *w = &m->workloads[i];
		const struct sl_sidecar *sc = sl_sidecar_of(m, w);

		assert_non_null(sc);
		if (!strcmp(w->name, "web-canary"))
			assert_string_equal(sc->name, "canary");
		else if (!strcmp(w->name, "web"))
			assert_string_equal(sc->ns, "prod"), assert_string_equal(sc->name, "default");
		else
			assert_string_equal(sc->ns, "istio-system");	/* root default */
	}
	assert_true(m->default_sidecar >= 0);
	assert_string_equal(m->sidecars[m->default_sidecar].ns, "istio-system");
	/* the root default for fin: fin and dev */
	const struct sl_sidecar *root = &m->sidecars[m->default_sidecar];
	assert_true(sl_egress_allows(root, "fin", svc(m, "ledger.fin.svc.cluster.local")));
	assert_true(sl_egress_allows(root, "fin", svc(m, "sandbox.dev.svc.cluster.local")));
	assert_false(sl_egress_allows(root, "fin", svc(m, "orders.prod.svc.cluster.local")));
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error(SERVICES SC("a", "prod", "", "['./*']") SC("b", "prod", "", "['*/*']"),
		     "SL0121");
	expect_error(SERVICES
		     SC("a", "prod", "  workloadSelector: {labels: {app: web}}\n", "['./*']")
		     SC("b", "prod", "  workloadSelector: {labels: {track: canary}}\n", "['*/*']")
		     WE("web-canary", "prod", "{app: web, track: canary}"),
		     "SL0121");
	expect_error(SC("a", "prod", "", "['prod']"), "SL0210");
	expect_error(SC("a", "prod", "", "['/x']"), "SL0210");
	expect_error(SC("a", "prod", "", "['prod-*/*']"), "SL0210");
	expect_error(SC("a", "prod", "", "['*/api.*.com']"), "SL0210");
	expect_error(SC("a", "prod", "", "['*/*x.com']"), "SL0210");
	/* per-namespace outboundTrafficPolicy stays refused */
	expect_error("apiVersion: networking.istio.io/v1\nkind: Sidecar\n"
		     "metadata: {name: a, namespace: prod}\n"
		     "spec: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}\n", "SL0007");
}

static uint64_t fake_cgroup(const char *rel, void *arg)
{
	(void)arg;
	return 1000 + (uint64_t)strlen(rel);	/* t/web: 1005, t/bookkeeper: 1012 */
}

static const struct sl_l4_svc *entry(const struct sl_l4_gen *g, const char *ip)
{
	uint8_t a[16] = { [10] = 0xff, [11] = 0xff };

	assert_int_equal(inet_pton(AF_INET, ip, a + 12), 1);
	for (size_t i = 0; i < g->nsvcs; i++)
		if (!memcmp(g->svcs[i].k.addr, a, 16))
			return &g->svcs[i];
	fail_msg("no sluice_svc entry for %s", ip);
	return NULL;
}

static uint32_t client_scope(const struct sl_l4_gen *g, uint64_t cgroup_id)
{
	for (size_t i = 0; i < g->ncgroups; i++)
		if (g->cgroups[i].k.cgroup_id == cgroup_id)
			return g->cgroups[i].v.scope;
	fail_msg("no sluice_cgroup entry for %llu", (unsigned long long)cgroup_id);
	return 0;
}

static bool hidden(const struct sl_l4_gen *g, const char *ip, uint32_t scope)
{
	return entry(g, ip)->v.scope_hidden >> scope & 1;
}

static void test_compile(void **state)
{
	struct sl_l4_opts o = { .cgroup_id = fake_cgroup };
	char err[SL_DP_ERRLEN] = "";
	struct sl_l4_gen g;
	struct sl_diags d;
	struct sl_model *m;

	(void)state;
	/* web (prod): prod + apis; bookkeeper (fin): root default fin + dev;
	 * api-client (apis): its own Sidecar, the same set as web's */
	assert_int_equal(load(SERVICES MESH_RO
			      SC("default", "istio-system", "", "['./*', 'dev/*']")
			      SC("default", "prod", "", "['prod/*', 'apis/*']")
			      SC("default", "apis", "", "['./*', 'prod/orders.prod.svc.cluster.local']")
			      WE("web", "prod", "{app: web}")
			      WE("bookkeeper", "fin", "{app: books}")
			      WE("apiclient", "apis", "{app: api}"),
			      &d, &m), 0);
	assert_int_equal(sl_compile_l4(m, &o, 7, &g, err), 0);
	assert_true(g.cfg.flags & SLUICE_CFG_EGRESS_SCOPES);

	uint32_t web = client_scope(&g, 1005), books = client_scope(&g, 1012),
		 api = client_scope(&g, 1011);
	assert_true(web >= 1 && web <= SLUICE_MAX_SCOPES);
	assert_true(books >= 1 && books <= SLUICE_MAX_SCOPES);
	assert_int_not_equal(web, books);
	assert_int_equal(api, web);	/* the same services hidden: one scope */
	/* no workload: the root default with "." = istio-system: dev only */
	uint32_t none = g.cfg.default_scope;
	assert_true(none >= 1 && none != web && none != books);

	assert_false(hidden(&g, "198.18.9.1", web));
	assert_false(hidden(&g, "198.18.9.2", web));
	assert_true(hidden(&g, "198.18.9.3", web));
	assert_true(hidden(&g, "198.18.9.4", web));
	assert_true(hidden(&g, "198.18.9.1", books));
	assert_true(hidden(&g, "198.18.9.2", books));
	assert_false(hidden(&g, "198.18.9.3", books));
	assert_false(hidden(&g, "198.18.9.4", books));
	assert_true(hidden(&g, "198.18.9.1", none));
	assert_false(hidden(&g, "198.18.9.3", none));
	assert_true(hidden(&g, "198.18.9.4", none));
	/* REGISTRY_ONLY endpoint registrations carry their service's bits;
	 * 10.1.0.1 (orders and catalog) is hidden only where both are */
	assert_true(hidden(&g, "10.1.0.4", web));
	assert_false(hidden(&g, "10.1.0.4", books));
	assert_false(hidden(&g, "10.1.0.1", web));
	assert_true(hidden(&g, "10.1.0.1", books));
	sl_l4_gen_free(&g);
	sl_model_free(m);
	sl_diags_free(&d);

	/* no Sidecar, or one without egress hosts: nothing scoped */
	assert_int_equal(load(SERVICES WE("web", "prod", "{app: web}"), &d, &m), 0);
	assert_int_equal(sl_compile_l4(m, &o, 8, &g, err), 0);
	assert_false(g.cfg.flags & SLUICE_CFG_EGRESS_SCOPES);
	assert_int_equal(client_scope(&g, 1005), 0);
	assert_int_equal(entry(&g, "198.18.9.1")->v.scope_hidden, 0);
	sl_l4_gen_free(&g);
	sl_model_free(m);
	sl_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_forms),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_compile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
