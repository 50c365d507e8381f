// SPDX-License-Identifier: Apache-2.0
/*
 * Gateway TCP servers from YAML to L4 entries: a server with protocol TCP
 * and bind becomes a sluice_svc entry at (bind, port) routed by the tcp
 * routes of the VirtualService bound to the gateway; every error and the
 * warning of policy_gateway.c with its code; HTTP gateway servers unchanged.
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
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "sluice/compile_l4.h"
#include "sluice/dataplane.h"
#include "sluice/model.h"
#include "unit/policy_load_util.h"

#define SE_ECHO                                                                  \
	"apiVersion: networking.istio.io/v1\n"                                    \
	"kind: ServiceEntry\n"                                                    \
	"metadata: {name: echo, namespace: edge}\n"                               \
	"spec:\n"                                                                 \
	"  hosts: [echo]\n"                                                       \
	"  ports: [{number: 7000, name: tcp, protocol: TCP}]\n"                   \
	"  resolution: STATIC\n"                                                  \
	"  endpoints:\n"                                                          \
	"  - {address: 10.11.1.2, labels: {version: v1}}\n"                       \
	"  - {address: 10.11.2.2, labels: {version: v2}}\n"                       \
	"---\n"                                                                   \
	"apiVersion: networking.istio.io/v1\n"                                    \
	"kind: DestinationRule\n"                                                 \
	"metadata: {name: echo, namespace: edge}\n"                               \
	"spec:\n"                                                                 \
	"  host: echo\n"                                                          \
	"  subsets:\n"                                                            \
	"  - {name: v1, labels: {version: v1}}\n"                                 \
	"  - {name: v2, labels: {version: v2}}\n"

#define GW(bind, port)                                                           \
	"---\n"                                                                   \
	"apiVersion: networking.istio.io/v1\n"                                    \
	"kind: Gateway\n"                                                         \
	"metadata: {name: g, namespace: edge}\n"                                  \
	"spec:\n"                                                                 \
	"  servers:\n"                                                            \
	"  - port: {number: " port ", name: tcp, protocol: TCP}\n"                \
	"    bind: '" bind "'\n"                                                  \
	"    hosts: ['*']\n"                                                      \
	"  - port: {number: 80, name: http, protocol: HTTP}\n"                    \
	"    hosts: ['*']\n"

#define VS(name, gws, route)                                                     \
	"---\n"                                                                   \
	"apiVersion: networking.istio.io/v1\n"                                    \
	"kind: VirtualService\n"                                                  \
	"metadata: {name: " name ", namespace: edge}\n"                           \
	"spec:\n"                                                                 \
	"  hosts: ['*']\n"                                                        \
	"  gateways: " gws "\n"                                                   \
	"  tcp:\n" route

#define SPLIT_8020                                                               \
	"  - match: [{port: 9000}]\n"                                             \
	"    route:\n"                                                            \
	"    - {destination: {host: echo, subset: v1}, weight: 80}\n"             \
	"    - {destination: {host: echo, subset: v2}, weight: 20}\n"

static void v4(uint8_t a[16], const char *s)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	assert_int_equal(inet_pton(AF_INET, s, a + 12), 1);
}

static void test_parse_and_bind(void **state)
{
	struct sl_diags d;
	struct sl_model *m;

	(void)state;
	assert_int_equal(load(SE_ECHO GW("198.18.0.10", "9000") VS("a", "[g]", SPLIT_8020), &d, &m), 0);
	assert_int_equal(d.nwarnings, 0);
	assert_int_equal(m->ngateways, 1);
	const struct sl_gateway_server *tcp = &m->gateways[0].servers[0];
	const struct sl_gateway_server *http = &m->gateways[0].servers[1];
	uint8_t vip[16];
	v4(vip, "198.18.0.10");
	assert_int_equal(tcp->proto, SL_PROTO_TCP);
	assert_int_equal(tcp->bind.family, AF_INET);
	assert_memory_equal(tcp->bind.addr, vip, 16);
	assert_string_equal(tcp->bind_address, "198.18.0.10");
	assert_int_equal(tcp->tcp_vhost, 0);
	assert_string_equal(m->vhosts[0].name, "a");
	assert_int_equal(http->proto, SL_PROTO_HTTP);
	assert_int_equal(http->bind.family, 0);
	assert_int_equal(http->tcp_vhost, -1);
	sl_model_free(m);
	sl_diags_free(&d);

	/* IPv6 and v4-mapped literals */
	assert_int_equal(load(SE_ECHO GW("fd00::10", "9000") VS("a", "[edge/g]", SPLIT_8020), &d, &m), 0);
	assert_int_equal(m->gateways[0].servers[0].bind.family, AF_INET6);
	assert_int_equal(m->gateways[0].servers[0].bind.addr[0], 0xfd);
	sl_model_free(m);
	sl_diags_free(&d);
	assert_int_equal(load(SE_ECHO GW("::ffff:198.18.0.10", "9000") VS("a", "[g]", SPLIT_8020),
			      &d, &m), 0);
	assert_int_equal(m->gateways[0].servers[0].bind.family, AF_INET);
	assert_memory_equal(m->gateways[0].servers[0].bind.addr, vip, 16);
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_errors(void **state)
{
	(void)state;
	/* bind missing (SL0117) */
	expect_error("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\n"
		     "spec:\n  servers:\n  - port: {number: 9000, name: tcp, protocol: TCP}\n"
		     "    hosts: ['*']\n", "SL0117");
	/* not an IP literal (SL0212) */
	expect_error(SE_ECHO GW("lb.example.com", "9000"), "SL0212");
	expect_error(SE_ECHO GW("198.18.0.0/24", "9000"), "SL0212");
	expect_error(SE_ECHO GW("unix://@gw", "9000"), "SL0212");
	expect_error(SE_ECHO GW("0.0.0.0", "9000"), "SL0212");
	expect_error(SE_ECHO GW("::", "9000"), "SL0212");
	expect_error(SE_ECHO GW("239.1.1.1", "9000"), "SL0212");
	expect_error(SE_ECHO GW("ff02::1", "9000"), "SL0212");
	/* bind on an HTTP server: not supported yet */
	expect_error("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\n"
		     "spec:\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n"
		     "    bind: 198.18.0.10\n    hosts: ['*']\n", "SL0007");
	/* two VirtualServices route the server (SL0118), whatever the form */
	expect_error(SE_ECHO GW("198.18.0.10", "9000") VS("a", "[g]", SPLIT_8020)
		     VS("b", "[edge/g]", "  - route: [{destination: {host: echo}}]\n"), "SL0118");
	/* the server's bind:port taken by a ServiceEntry address (SL0119) */
	expect_error(SE_ECHO GW("198.18.0.10", "7000") VS("a", "[g]", SPLIT_8020)
		     "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		     "metadata: {name: other, namespace: edge}\nspec:\n  hosts: [other]\n"
		     "  addresses: [198.18.0.10]\n  ports: [{number: 7000, name: tcp}]\n",
		     "SL0119");
	/* sourceLabels at the gateway, match.gateways: not supported yet */
	expect_error(SE_ECHO GW("198.18.0.10", "9000")
		     VS("a", "[g]", "  - match: [{sourceLabels: {app: x}}]\n"
				    "    route: [{destination: {host: echo}}]\n"), "SL0007");
	expect_error(SE_ECHO GW("198.18.0.10", "9000")
		     VS("a", "[g]", "  - match: [{gateways: [g]}]\n"
				    "    route: [{destination: {host: echo}}]\n"), "SL0007");
}

/* Only VirtualServices with hosts of the server and a route for its port
 * count; none is a warning and the server is not programmed. */
static void test_selection_and_warning(void **state)
{
	struct sl_diags d;
	struct sl_model *m;
	struct sl_l4_gen g;
	char err[SL_DP_ERRLEN];
	uint8_t vip[16];

	(void)state;
	v4(vip, "198.18.0.10");
	/* b routes port 9001 only: not ambiguous with a */
	assert_int_equal(load(SE_ECHO GW("198.18.0.10", "9000") VS("a", "[g]", SPLIT_8020)
			      VS("b", "[g]", "  - match: [{port: 9001}]\n"
					     "    route: [{destination: {host: echo}}]\n"), &d, &m), 0);
	assert_int_equal(m->gateways[0].servers[0].tcp_vhost, 0);
	sl_model_free(m);
	sl_diags_free(&d);

	/* a VS bound elsewhere (mesh) and one for port 9001: nothing serves 9000 */
	assert_int_equal(load(SE_ECHO GW("198.18.0.10", "9000")
			      VS("b", "[g]", "  - match: [{port: 9001}]\n"
					     "    route: [{destination: {host: echo}}]\n"), &d, &m), 0);
	assert_int_equal(ncode(&d, "SL0120"), 1);
	assert_int_equal(d.nerrors, 0);
	assert_int_equal(m->gateways[0].servers[0].tcp_vhost, -1);
	assert_int_equal(sl_compile_l4(m, NULL, 1, &g, err), 0);
	assert_null(sl_l4_find_svc(&g, vip, 9000, IPPROTO_TCP));
	sl_l4_gen_free(&g);
	sl_model_free(m);
	sl_diags_free(&d);

	/* VS hosts that the server's hosts do not admit: not for this server */
	const char *y = SE_ECHO
		"---\napiVersion: networking.istio.io/v1\nkind: Gateway\n"
		"metadata: {name: g, namespace: edge}\nspec:\n  servers:\n"
		"  - port: {number: 9000, name: tcp, protocol: TCP}\n"
		"    bind: 198.18.0.10\n    hosts: ['db.example.com']\n"
		"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		"metadata: {name: a, namespace: edge}\nspec:\n  hosts: ['*.example.com']\n"
		"  gateways: [g]\n  tcp:\n" SPLIT_8020
		"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		"metadata: {name: b, namespace: edge}\nspec:\n  hosts: ['web.other.org']\n"
		"  gateways: [g]\n  tcp:\n  - route: [{destination: {host: echo}}]\n";
	assert_int_equal(load(y, &d, &m), 0);
	assert_int_equal(m->gateways[0].servers[0].tcp_vhost, 0);	/* a: pattern over host */
	assert_int_equal(ncode(&d, "SL0118"), 0);
	sl_model_free(m);
	sl_diags_free(&d);
}

/* The compiled entry at the VIP: the 80/20 route, the backends at the
 * service's only port (7000, not the server's 9000), both subsets. */
static void test_compile(void **state)
{
	struct sl_diags d;
	struct sl_model *m;
	struct sl_l4_gen g;
	char err[SL_DP_ERRLEN];
	uint8_t vip[16], b1[16], b2[16];

	(void)state;
	v4(vip, "198.18.0.10");
	v4(b1, "10.11.1.2");
	v4(b2, "10.11.2.2");
	assert_int_equal(load(SE_ECHO GW("198.18.0.10", "9000") VS("a", "[g]", SPLIT_8020), &d, &m), 0);
	assert_int_equal(sl_compile_l4(m, NULL, 5, &g, err), 0);
	/* the service has no address of its own: the gateway entry is the only one */
	assert_int_equal(g.nsvcs, 1);
	const struct sluice_svc *sv = sl_l4_find_svc(&g, vip, 9000, IPPROTO_TCP);
	assert_non_null(sv);
	assert_int_equal(g.svcs[0].k.gen, 5);
	assert_false(sv->flags & (SLUICE_SVC_HTTP | SLUICE_SVC_PASSTHROUGH | SLUICE_SVC_NO_ENDPOINTS));
	assert_int_equal(sv->nroutes, 1);
	const struct sluice_route *r = sl_l4_find_route(&g, sv->route_first);
	assert_non_null(r);
	assert_int_equal(r->port, 9000);
	assert_int_equal(r->ndests, 2);
	assert_int_equal(r->total, 100);
	assert_int_equal(r->dests[0].cum_weight, 80);
	assert_int_equal(r->dests[1].cum_weight, 100);
	const struct sluice_subset *s1 = sl_l4_find_subset(&g, r->dests[0].subset_id);
	const struct sluice_subset *s2 = sl_l4_find_subset(&g, r->dests[1].subset_id);
	assert_non_null(s1);
	assert_non_null(s2);
	assert_int_equal(s1->nbackends, 1);
	const struct sluice_backend *be1 = sl_l4_find_backend(&g, s1->backend_first);
	const struct sluice_backend *be2 = sl_l4_find_backend(&g, s2->backend_first);
	assert_memory_equal(be1->addr, b1, 16);
	assert_memory_equal(be2->addr, b2, 16);
	assert_int_equal(ntohs(be1->port), 7000);
	assert_int_equal(ntohs(be2->port), 7000);
	/* the HTTP server of the same gateway is sluice-http's: no entry */
	assert_null(sl_l4_find_svc(&g, vip, 80, IPPROTO_TCP));
	sl_l4_gen_free(&g);
	sl_model_free(m);
	sl_diags_free(&d);
}

/* A VirtualService bound to the mesh and the gateway: the mesh service and
 * the gateway VIP both get the routes; destination.port wins. */
static void test_mesh_and_gateway(void **state)
{
	struct sl_diags d;
	struct sl_model *m;
	struct sl_l4_gen g;
	char err[SL_DP_ERRLEN];
	uint8_t vip[16], svip[16];
	const char *y =
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: echo, namespace: edge}\nspec:\n  hosts: [echo]\n"
		"  addresses: [198.18.0.20]\n"
		"  ports: [{number: 7000, name: tcp}, {number: 7001, name: tcp-b}]\n"
		"  resolution: STATIC\n  endpoints: [{address: 10.11.1.2}]\n"
		GW("198.18.0.10", "9000")
		"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		"metadata: {name: a, namespace: edge}\nspec:\n  hosts: [echo]\n"
		"  gateways: [g, mesh]\n  tcp:\n"
		"  - route: [{destination: {host: echo, port: {number: 7001}}}]\n";

	(void)state;
	v4(vip, "198.18.0.10");
	v4(svip, "198.18.0.20");
	assert_int_equal(load(y, &d, &m), 0);
	assert_int_equal(sl_compile_l4(m, NULL, 1, &g, err), 0);
	const struct sluice_svc *gw = sl_l4_find_svc(&g, vip, 9000, IPPROTO_TCP);
	const struct sluice_svc *ms = sl_l4_find_svc(&g, svip, 7000, IPPROTO_TCP);
	assert_non_null(gw);
	assert_non_null(ms);
	const struct sluice_route *r = sl_l4_find_route(&g, gw->route_first);
	const struct sluice_subset *s = sl_l4_find_subset(&g, r->dests[0].subset_id);
	assert_int_equal(ntohs(sl_l4_find_backend(&g, s->backend_first)->port), 7001);
	sl_l4_gen_free(&g);
	sl_model_free(m);
	sl_diags_free(&d);
}

/* The canonical dump says where the server listens and what routes it. */
static void test_dump(void **state)
{
	struct sl_diags d;
	struct sl_model *m;
	char *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(load(SE_ECHO GW("198.18.0.10", "9000") VS("a", "[g]", SPLIT_8020), &d, &m), 0);
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(sl_model_dump_json(m, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\"bind\": \"198.18.0.10\""));
	assert_non_null(strstr(buf, "\"tcpVirtualService\": \"edge/a\""));
	assert_non_null(strstr(buf, "\"bind\": null"));
	free(buf);
	sl_model_free(m);
	sl_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_bind),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_selection_and_warning),
		cmocka_unit_test(test_compile),
		cmocka_unit_test(test_mesh_and_gateway),
		cmocka_unit_test(test_dump),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
