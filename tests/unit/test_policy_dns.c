// SPDX-License-Identifier: Apache-2.0
/*
 * DNS ServiceEntries from YAML to L4 entries: a DNS entry without endpoints
 * resolves its own host (one endpoint, hostEndpoint); the addresses the name
 * resolves to are registered under REGISTRY_ONLY, and routed like VIPs when
 * a VirtualService routes the host; names are checked (sl_dns_name_valid).
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
#include <sys/socket.h>
#include <cmocka.h>

#include "sluice/compile_l4.h"
#include "sluice/dataplane.h"
#include "sluice/model.h"

#define SE_API                                                                   \
	"apiVersion: networking.istio.io/v1\n"                                    \
	"kind: ServiceEntry\n"                                                    \
	"metadata: {name: api, namespace: forum}\n"                               \
	"spec:\n"                                                                 \
	"  hosts: [api.example.test]\n"                                           \
	"  ports: [{number: 443, name: tls, protocol: TLS}]\n"                    \
	"  resolution: DNS\n"
#define MESH_RO                                                                  \
	"---\n"                                                                   \
	"apiVersion: sluice.io/v1alpha1\n"                                        \
	"kind: MeshConfig\n"                                                      \
	"spec: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}\n"
#define VS_API                                                                   \
	"---\n"                                                                   \
	"apiVersion: networking.istio.io/v1\n"                                    \
	"kind: VirtualService\n"                                                  \
	"metadata: {name: api, namespace: forum}\n"                               \
	"spec:\n"                                                                 \
	"  hosts: [api.example.test]\n"                                           \
	"  tcp: [{route: [{destination: {host: api.example.test}}]}]\n"

static size_t fake_dns(const char *name, const struct sl_ip **out, void *arg)
{
	static struct sl_ip ips[2];

	(void)arg;
	memset(ips, 0, sizeof(ips));
	for (int i = 0; i < 2; i++) {
		ips[i].family = AF_INET;
		ips[i].addr[10] = ips[i].addr[11] = 0xff;
		ips[i].addr[12] = 203;
		ips[i].addr[15] = (uint8_t)(10 + i);	/* 203.0.0.10, .11 */
	}
	*out = ips;
	return strcmp(name, "api.example.test") ? 0 : 2;
}

static struct sl_model *load(const char *yaml)
{
	struct sl_diags d;
	struct sl_model *m = NULL;

	sl_diags_init(&d);
	if (sl_model_load_buf("t.yaml", yaml, strlen(yaml), &d, &m))
		sl_diags_print(&d, stderr);
	sl_diags_free(&d);
	assert_non_null(m);
	return m;
}

/* sluice_svc entries at 203.0.0.x port 443: how many, and how many of them
 * are PASSTHROUGH (registered, not steered). */
static void count(const struct sl_l4_gen *g, size_t *n, size_t *pass)
{
	*n = *pass = 0;
	for (size_t i = 0; i < g->nsvcs; i++)
		if (g->svcs[i].k.addr[12] == 203 && ntohs(g->svcs[i].k.port) == 443) {
			(*n)++;
			*pass += !!(g->svcs[i].v.flags & SLUICE_SVC_PASSTHROUGH);
		}
}

static void test_host_endpoint(void **state)
{
	struct sl_l4_opts o = { .dns_lookup = fake_dns };
	char err[SL_DP_ERRLEN] = "";
	struct sl_l4_gen g;
	struct sl_model *m;
	size_t n, pass, i, b203 = 0;

	(void)state;
	m = load(SE_API MESH_RO);
	assert_int_equal(m->nservices, 1);
	assert_int_equal(m->services[0].nendpoints, 1);
	assert_true(m->services[0].endpoints[0].dns_name);
	assert_true(m->services[0].endpoints[0].host_endpoint);
	assert_string_equal(m->services[0].endpoints[0].address, "api.example.test");
	/* REGISTRY_ONLY: the resolved addresses are registered, not steered */
	assert_int_equal(sl_compile_l4(m, &o, 1, &g, err), 0);
	count(&g, &n, &pass);
	assert_int_equal(n, 2);
	assert_int_equal(pass, 2);
	sl_l4_gen_free(&g);
	/* offline: nothing to register yet */
	assert_int_equal(sl_compile_l4(m, NULL, 1, &g, err), 0);
	count(&g, &n, &pass);
	assert_int_equal(n, 0);
	sl_l4_gen_free(&g);
	sl_model_free(m);

	/* routed by a VirtualService: the addresses are routed like VIPs, to
	 * backends that are the same addresses */
	m = load(SE_API VS_API);
	assert_int_equal(sl_compile_l4(m, &o, 1, &g, err), 0);
	count(&g, &n, &pass);
	assert_int_equal(n, 2);
	assert_int_equal(pass, 0);
	for (i = 0; i < g.nbackends; i++)
		b203 += g.backends[i].v.addr[12] == 203;
	assert_int_equal(b203, 2);
	sl_l4_gen_free(&g);
	sl_model_free(m);

	/* ALLOW_ANY, not routed: nothing needs the addresses */
	m = load(SE_API);
	assert_int_equal(sl_compile_l4(m, &o, 1, &g, err), 0);
	count(&g, &n, &pass);
	assert_int_equal(n, 0);
	sl_l4_gen_free(&g);
	sl_model_free(m);
}

static void test_names(void **state)
{
	static const char *const good[] = { "api.example.com", "a", "x-1.b2.c", "api.example.com.",
					    "EXAMPLE.org" };
	static const char *const bad[] = { "", "-a.com", "a-.com", "a..com", ".a.com", "a_b.com",
					   "a b.com", "a.com/x" };
	char longlabel[80];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!sl_dns_name_valid(good[i]))
			fail_msg("%s refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sl_dns_name_valid(bad[i]))
			fail_msg("%s accepted", bad[i]);
	memset(longlabel, 'a', 64);
	strcpy(longlabel + 64, ".com");
	assert_false(sl_dns_name_valid(longlabel));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_endpoint),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
