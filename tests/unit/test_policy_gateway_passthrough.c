// SPDX-License-Identifier: Apache-2.0
/*
 * Gateway TLS passthrough in the front-end (user/lib/policy_tls.c,
 * policy_vs.c) and its routing in sluice-http (hx_pt_route,
 * user/http/passthru.c): a TLS or HTTPS server with tls.mode PASSTHROUGH
 * and a VirtualService's tls routes load as written, with sniHosts,
 * ports and normalised weights; what is not enforced is refused at its
 * line:col (sniHosts outside the hosts, missing sniHosts or match, the
 * TLSMatchAttributes fields not enforced, certificate fields on a
 * passthrough server, other modes, mesh-bound tls routes, a port shared
 * with an HTTP server, a destination without a usable port). The router
 * takes exact and "*." names, the server's hosts, match ports and route
 * order as Istio does.
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

#include "http/passthru.h"
#include "unit/policy_load_util.h"

/* lines 1-17 */
#define SE                                                                      \
	"apiVersion: networking.istio.io/v1\n"                                  \
	"kind: ServiceEntry\n"                                                  \
	"metadata: {name: web, namespace: edge}\n"                              \
	"spec:\n"                                                               \
	"  hosts: [web.edge.svc.cluster.local]\n"                               \
	"  ports: [{number: 443, name: tls, protocol: TLS}]\n"                  \
	"  resolution: STATIC\n"                                                \
	"  endpoints:\n"                                                        \
	"  - {address: 198.18.0.1, labels: {v: a}}\n"                           \
	"  - {address: 198.18.0.2, labels: {v: b}}\n"                           \
	"---\n"                                                                 \
	"apiVersion: networking.istio.io/v1\n"                                  \
	"kind: DestinationRule\n"                                               \
	"metadata: {name: web, namespace: edge}\n"                              \
	"spec:\n"                                                               \
	"  host: web.edge.svc.cluster.local\n"                                  \
	"  subsets: [{name: a, labels: {v: a}}, {name: b, labels: {v: b}}]\n"

/* lines 18-26: the server is on line 24 */
#define GW(proto, tls)                                                          \
	"---\n"                                                                 \
	"apiVersion: networking.istio.io/v1\n"                                  \
	"kind: Gateway\n"                                                       \
	"metadata: {name: gw, namespace: edge}\n"                               \
	"spec:\n"                                                               \
	"  servers:\n"                                                          \
	"  - port: {number: 443, name: tls, protocol: " proto "}\n"             \
	"    hosts: ['*.example']\n"                                            \
	"    tls: " tls "\n"

/* lines 27-33: tls routes from line 34 */
#define VS(hosts, gws)                                                          \
	"---\n"                                                                 \
	"apiVersion: networking.istio.io/v1\n"                                  \
	"kind: VirtualService\n"                                                \
	"metadata: {name: sni, namespace: edge}\n"                              \
	"spec:\n"                                                               \
	"  hosts: " hosts "\n"                                                  \
	"  gateways: " gws "\n"                                                 \
	"  tls:\n"

#define DEST(sub, w) "{destination: {host: web.edge.svc.cluster.local, subset: " sub "}, weight: " w "}"

static const char good[] =
	SE GW("TLS", "{mode: PASSTHROUGH}") VS("['*.example']", "[gw]")
	"  - match: [{port: 443, sniHosts: [a.example]}]\n"
	"    route: [" DEST("a", "1") "]\n"
	"  - match: [{sniHosts: ['*.b.example', B.Example]}]\n"
	"    route: [" DEST("a", "80") ", " DEST("b", "20") "]\n"
	"  - match: [{port: 8443, sniHosts: ['*.example']}]\n"
	"    route: [" DEST("b", "1") "]\n";

static void test_loads_as_written(void **state)
{
	struct sl_diags d;
	struct sl_model *m;

	(void)state;
	if (load(good, &d, &m))
		sl_diags_print(&d, stderr);
	assert_non_null(m);
	assert_int_equal(d.nerrors, 0);
	const struct sl_gateway_server *sv = &m->gateways[0].servers[0];
	assert_int_equal(sv->proto, SL_PROTO_TLS);
	assert_int_equal(sv->tls.mode, SL_TLS_PASSTHROUGH);
	assert_true(sl_gw_server_is_passthrough(sv));
	assert_false(sl_gw_server_is_http(sv));
	const struct sl_vhost *vh = &m->vhosts[0];
	assert_int_equal(vh->ntls, 3);
	assert_int_equal(vh->nhttp + vh->ntcp, 0);
	assert_int_equal(vh->tls[0].matches[0].port, 443);
	assert_int_equal(vh->tls[1].matches[0].nsni_hosts, 2);
	assert_string_equal(vh->tls[1].matches[0].sni_hosts[0], "*.b.example");
	assert_string_equal(vh->tls[1].matches[0].sni_hosts[1], "b.example");	/* lower-cased */
	assert_int_equal(vh->tls[1].ndests, 2);
	assert_int_equal(vh->tls[1].dests[0].weight, 800000);
	assert_int_equal(vh->tls[1].dests[1].weight, 200000);
	assert_int_equal(vh->tls[1].dests[1].subset, 1);
	assert_int_equal(m->gateways[0].nvhosts, 1);

	/* the dump says so */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(sl_model_dump_json(m, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\"mode\": \"PASSTHROUGH\""));
	assert_non_null(strstr(buf, "\"sniHosts\""));
	assert_non_null(strstr(buf, "\"*.b.example\""));
	free(buf);
	sl_model_free(m);
	sl_diags_free(&d);

	/* protocol HTTPS with PASSTHROUGH, as Istio's own example writes it */
	assert_int_equal(load(SE GW("HTTPS", "{mode: PASSTHROUGH}") VS("[a.example]", "[gw]")
			      "  - match: [{sniHosts: [a.example]}]\n"
			      "    route: [{destination: {host: web.edge.svc.cluster.local}}]\n", &d, &m), 0);
	assert_true(sl_gw_server_is_passthrough(&m->gateways[0].servers[0]));
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_router(void **state)
{
	struct sl_diags d;
	struct sl_model *m;
	struct hx_pt_pick p;

	(void)state;
	assert_int_equal(load(good, &d, &m), 0);
	assert_true(hx_pt_port(m, 443));
	assert_false(hx_pt_port(m, 80));
	assert_int_equal(hx_pt_route(m, 443, "a.example", 9, &p), 0);
	assert_ptr_equal(p.rt, &m->vhosts[0].tls[0]);
	assert_string_equal(p.sni_host, "a.example");
	assert_string_equal(p.gw->name, "gw");
	/* "*.b.example" covers any depth below b.example, not b.example itself */
	assert_int_equal(hx_pt_route(m, 443, "x.y.b.example", 13, &p), 0);
	assert_string_equal(p.sni_host, "*.b.example");
	assert_int_equal(hx_pt_route(m, 443, "b.example", 9, &p), 0);
	assert_string_equal(p.sni_host, "b.example");
	/* the third route is for port 8443 only: nothing else covers c.example on 443 */
	assert_int_equal(hx_pt_route(m, 443, "c.example", 9, &p), -ENOENT);
	/* outside the server's hosts, no name, another port */
	assert_int_equal(hx_pt_route(m, 443, "a.other", 7, &p), -ENOENT);
	assert_int_equal(hx_pt_route(m, 443, NULL, 0, &p), -ENOENT);
	assert_int_equal(hx_pt_route(m, 80, "a.example", 9, &p), -ENOENT);
	/* the name is compared by its length, not a terminator */
	assert_int_equal(hx_pt_route(m, 443, "a.exampleZZ", 9, &p), 0);
	/* the weighted pick over the route is the HTTP routes' */
	assert_int_equal(hx_pt_route(m, 443, "q.b.example", 11, &p), 0);
	size_t na = 0;
	for (uint64_t i = 0; i < 1000; i++)
		na += hx_pick_dest(p.rt, i * (UINT64_MAX / 1000)) == 0;
	assert_in_range(na, 799, 801);
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_refused(void **state)
{
	(void)state;
	/* sniHosts outside the VirtualService hosts (Istio's rule) */
	refused_at(SE GW("TLS", "{mode: PASSTHROUGH}") VS("[a.example, '*.b.example']", "[gw]")
		   "  - match: [{sniHosts: [a.example, c.example]}]\n"
		   "    route: [" DEST("a", "1") "]\n",
		   "SL0210", 35, 36, "\"c.example\" is not within the VirtualService's hosts");
	refused_at(SE GW("TLS", "{mode: PASSTHROUGH}") VS("['*.b.example']", "[gw]")
		   "  - match: [{sniHosts: ['*.example']}]\n"
		   "    route: [" DEST("a", "1") "]\n",
		   "SL0210", 35, 25, "not within");
	refused_at(SE GW("TLS", "{mode: PASSTHROUGH}") VS("['*.example']", "[gw]")
		   "  - match: [{sniHosts: ['a.*.example']}]\n"
		   "    route: [" DEST("a", "1") "]\n",
		   "SL0210", 35, 25, "is not a host name");
	/* sniHosts and match are required */
	refused_at(SE GW("TLS", "{mode: PASSTHROUGH}") VS("['*.example']", "[gw]")
		   "  - match: [{port: 443}]\n"
		   "    route: [" DEST("a", "1") "]\n",
		   "SL0004", 35, 13, "sniHosts");
	refused_at(SE GW("TLS", "{mode: PASSTHROUGH}") VS("['*.example']", "[gw]")
		   "  - route: [" DEST("a", "1") "]\n",
		   "SL0004", 35, 5, "needs a match with sniHosts");
	/* TLSMatchAttributes fields not enforced */
	refused_at(SE GW("TLS", "{mode: PASSTHROUGH}") VS("['*.example']", "[gw]")
		   "  - match: [{sniHosts: [a.example], destinationSubnets: [10.0.0.0/8]}]\n"
		   "    route: [" DEST("a", "1") "]\n",
		   "SL0007", 35, 37, "destinationSubnets is not supported");
	refused_at(SE GW("TLS", "{mode: PASSTHROUGH}") VS("['*.example']", "[gw]")
		   "  - match: [{sniHosts: [a.example], sourceLabels: {app: x}}]\n"
		   "    route: [" DEST("a", "1") "]\n",
		   "SL0007", 35, 37, "sourceLabels is not supported");
	refused_at(SE GW("TLS", "{mode: PASSTHROUGH}") VS("['*.example']", "[gw]")
		   "  - match: [{sniHosts: [a.example], sourceNamespace: x}]\n"
		   "    route: [" DEST("a", "1") "]\n",
		   "SL0007", 35, 37, "sourceNamespace is not supported");
	/* tls routes for the mesh */
	refused_at(SE GW("TLS", "{mode: PASSTHROUGH}") VS("['*.example']", "[gw, mesh]")
		   "  - match: [{sniHosts: [a.example]}]\n"
		   "    route: [" DEST("a", "1") "]\n",
		   "SL0007", 35, 3, "tls routes for the mesh");
	/* a passthrough server does not terminate: no certificate fields */
	refused_at(SE GW("TLS", "{mode: PASSTHROUGH, serverCertificate: /c, privateKey: /k}"),
		   "SL0211", 26, 49, "serverCertificate does not apply to tls.mode PASSTHROUGH");
	refused_at(SE GW("HTTPS", "{mode: PASSTHROUGH, minProtocolVersion: TLSV1_3}"),
		   "SL0211", 26, 50, "minProtocolVersion does not apply");
	/* other modes stay refused; a TLS server needs tls; SIMPLE is for HTTPS */
	refused_at(SE GW("TLS", "{mode: AUTO_PASSTHROUGH}"), "SL0007", 26, 17, "AUTO_PASSTHROUGH");
	refused_at(SE GW("TLS", "{mode: ISTIO_MUTUAL}"), "SL0007", 26, 17, "ISTIO_MUTUAL");
	refused_at(SE GW("TLS", "{mode: SIMPLE, serverCertificate: /c, privateKey: /k}"),
		   "SL0007", 26, 17, "on a protocol TLS server is not supported yet");
	refused_at(SE GW("TLS", "null"), "SL0004", 24, 5, "a TLS server needs \"tls\"");
	/* one port, one kind of listener */
	refused_at(SE GW("TLS", "{mode: PASSTHROUGH}")
		   "  - port: {number: 443, name: http, protocol: HTTP}\n    hosts: [x.example]\n",
		   "SL0211", 27, 5, "either all relayed by SNI");
	/* a destination without port on a service with two ports, neither 443 */
	refused_at("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		   "metadata: {name: two, namespace: edge}\nspec:\n"
		   "  hosts: [two.edge.svc.cluster.local]\n"
		   "  ports: [{number: 8443, name: tls-a, protocol: TLS}, {number: 9443, name: tls-b, protocol: TLS}]\n"
		   "  resolution: STATIC\n  endpoints: [{address: 198.18.0.3}]\n"
		   GW("TLS", "{mode: PASSTHROUGH}") VS("['*.example']", "[gw]")
		   "  - match: [{sniHosts: [a.example]}]\n"
		   "    route: [{destination: {host: two.edge.svc.cluster.local}}]\n",
		   "SL0103", 27, 34, "give destination.port");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loads_as_written),
		cmocka_unit_test(test_router),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
