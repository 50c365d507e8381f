// SPDX-License-Identifier: Apache-2.0
/*
 * Every diagnostic code of the policy front-end is produced by a policy
 * that exists for it, with the right severity, and errors fail the load
 * while warnings alone do not. Also checks the two tables themselves.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sluice/model.h"
#include "lib/policy_int.h"

#define HDR(kind) "apiVersion: networking.istio.io/v1\nkind: " kind "\n"
#define SE HDR("ServiceEntry") "metadata: {name: s, namespace: t}\n"                 \
	"spec: {hosts: [s], addresses: [10.9.0.10], ports: [{number: 80, name: http}],\n" \
	"       resolution: STATIC, endpoints: [{address: 10.9.0.1, labels: {v: one}},\n" \
	"       {address: 10.9.0.2, labels: {v: two}}]}\n---\n"
#define DR HDR("DestinationRule") "metadata: {name: s, namespace: t}\n"              \
	"spec: {host: s, subsets: [{name: one, labels: {v: one}}, {name: two, labels: {v: two}}]}\n---\n"
#define VS(body) HDR("VirtualService") "metadata: {name: s, namespace: t}\nspec:\n  hosts: [s]\n" body
#define ROUTE "  http:\n  - route: [{destination: {host: s, subset: one}}]\n"
#define TCPR(w1, w2) "  tcp:\n  - route:\n    - {destination: {host: s, subset: one}, weight: " w1 "}\n" \
	"    - {destination: {host: s, subset: two}, weight: " w2 "}\n"
#define BOMB "    l0: &a [x, x, x, x, x, x, x, x, x, x]\n"                 \
	"    l1: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"                   \
	"    l2: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"                   \
	"    l3: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"                   \
	"    l4: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"                   \
	"    l5: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"                   \
	"    l6: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"                   \
	"    l7: [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"

/* Gateway TCP servers: a TCP service s and a gateway g serving port 9000 */
#define SET HDR("ServiceEntry") "metadata: {name: s, namespace: t}\n"                \
	"spec: {hosts: [s], ports: [{number: 9000, name: tcp, protocol: TCP}],\n"      \
	"       resolution: STATIC, endpoints: [{address: 10.9.0.1}]}\n---\n"
#define GWT(bind) HDR("Gateway") "metadata: {name: g, namespace: t}\n"              \
	"spec: {servers: [{port: {number: 9000, name: tcp, protocol: TCP}, " bind "hosts: ['*']}]}\n---\n"
#define GWVS(name, host) HDR("VirtualService") "metadata: {name: " name ", namespace: t}\n" \
	"spec:\n  hosts: [" host "]\n  gateways: [g]\n  tcp:\n  - route: [{destination: {host: s}}]\n"

struct code_case {
	const char *code;
	int line;		/* expected line of the diagnostic, 0 = any */
	const char *yaml;
};

static const struct code_case cases[] = {
	{ PL_E_YAML, 3, "a: b\nc: [d\n" },
	{ PL_E_APIVER, 1, "apiVersion: networking.istio.io/v9\nkind: Gateway\nmetadata: {name: g}\nspec: {}\n" },
	{ PL_E_KIND, 2, HDR("AuthorizationPolicy") "metadata: {name: a}\nspec: {}\n" },
	{ PL_E_REQUIRED, 4, HDR("WorkloadEntry") "metadata: {name: w}\nspec: {labels: {a: b}}\n" },
	{ PL_E_TYPE, 4, HDR("WorkloadEntry") "metadata: {name: w}\nspec: {address: [1, 2]}\n" },
	{ PL_W_UNKNOWN, 4, HDR("WorkloadEntry") "metadata: {name: w}\nspec: {address: 10.0.0.1, colour: blue}\n" },
	{ PL_E_UNSUP, 18, SE DR VS("  tls: []\n" ROUTE) },
	{ PL_W_IGNORED, 18, SE DR VS("  exportTo: ['.']\n" ROUTE) },
	{ PL_E_IO, 0, NULL },		/* sl_model_load of a missing path */
	{ PL_E_DUPOBJ, 14, SE DR "---\n" HDR("DestinationRule") "metadata: {name: s, namespace: t}\nspec: {host: s}\n" },
	{ PL_E_DUPKEY, 4, HDR("WorkloadEntry") "metadata: {name: w}\nspec: {address: 10.0.0.1, address: 10.0.0.2}\n" },
	{ PL_E_LIMIT, 0, HDR("Gateway") "metadata: {name: g}\nspec:\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n  junk:\n" BOMB },
	{ PL_W_NOFILES, 0, NULL },	/* an empty directory */
	{ PL_E_HOST, 19, SE DR VS("  http:\n  - route: [{destination: {host: nope}}]\n") },
	{ PL_E_SUBSET, 19, SE DR VS("  http:\n  - route: [{destination: {host: s, subset: three}}]\n") },
	{ PL_E_DPORT, 19, SE DR VS("  http:\n  - route: [{destination: {host: s, port: {number: 81}}}]\n") },
	{ PL_W_EMPTYSUB, 11, SE HDR("DestinationRule") "metadata: {name: s, namespace: t}\nspec: {host: s, subsets: [{name: x, labels: {v: zzz}}]}\n" },
	{ PL_W_SHADOW, 20, SE DR VS("  http:\n  - route: [{destination: {host: s, subset: one}}]\n"
				   "  - match: [{uri: {prefix: /}}]\n    route: [{destination: {host: s, subset: two}}]\n") },
	{ PL_E_DUPVS, 25, SE DR VS(ROUTE) "---\n" HDR("VirtualService") "metadata: {name: s2, namespace: t}\nspec:\n  hosts: [s.t.svc.cluster.local]\n" ROUTE },
	{ PL_E_DUPSUBSET, 11, SE HDR("DestinationRule") "metadata: {name: s, namespace: t}\nspec: {host: s, subsets: [{name: a}, {name: a}]}\n" },
	{ PL_E_GATEWAY, 18, SE DR HDR("VirtualService") "metadata: {name: s, namespace: t}\nspec:\n  hosts: [a.example.com]\n  gateways: [t/nogw]\n" ROUTE },
	{ PL_W_NOSOURCE, 19, SE DR VS("  http:\n  - match: [{sourceLabels: {app: ghost}}]\n    route: [{destination: {host: s, subset: one}}]\n") },
	{ PL_E_DUPHOST, 11, SE HDR("ServiceEntry") "metadata: {name: s2, namespace: t}\nspec: {hosts: [s.t.svc.cluster.local], ports: [{number: 80, name: http}]}\n" },
	{ PL_E_DUPDR, 16, SE DR HDR("DestinationRule") "metadata: {name: s2, namespace: t}\nspec: {host: s}\n" },
	{ PL_W_GWHOST, 22, SE DR HDR("Gateway") "metadata: {name: g, namespace: t}\nspec: {servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]}\n---\n"
			      HDR("VirtualService") "metadata: {name: s, namespace: t}\nspec:\n  hosts: [s, www.example.com]\n  gateways: [g, mesh]\n" ROUTE },
	{ PL_E_DUPMESH, 8, "apiVersion: sluice.io/v1alpha1\nkind: MeshConfig\nspec: {outboundTrafficPolicy: {mode: ALLOW_ANY}}\n---\n"
			   HDR("Sidecar") "metadata: {name: d, namespace: istio-system}\nspec: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}\n" },
	{ PL_E_DUPVIP, 8, SE HDR("ServiceEntry") "metadata: {name: s2, namespace: t}\nspec: {hosts: [s2], addresses: [10.9.0.10], ports: [{number: 80, name: http}]}\n" },
	{ PL_W_HTTPTCP, 10, HDR("ServiceEntry") "metadata: {name: s, namespace: t}\n"
			     "spec: {hosts: [s], addresses: [10.9.0.10], ports: [{number: 80, name: tcp, protocol: TCP}]}\n---\n"
			     VS("  http:\n  - route: [{destination: {host: s}}]\n") },
	{ PL_W_GWNOHOST, 22, SE DR HDR("Gateway") "metadata: {name: g, namespace: t}\nspec: {servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*.example.com']}]}\n---\n"
			      HDR("VirtualService") "metadata: {name: s, namespace: t}\nspec:\n  hosts: [www.example.org]\n  gateways: [g]\n" ROUTE },
	{ PL_E_DURATION, 20, SE DR VS(ROUTE "    timeout: 3 seconds\n") },
	{ PL_E_PERCENT, 20, SE DR VS(ROUTE "    fault: {delay: {fixedDelay: 1s, percent: 101}}\n") },
	{ PL_E_WEIGHT, 21, SE DR VS(TCPR("50", "-50")) },
	{ PL_E_ZEROW, 19, SE DR VS(TCPR("0", "0")) },
	{ PL_E_REGEX, 19, SE DR VS("  http:\n  - match: [{uri: {regex: '(?<'}}]\n    route: [{destination: {host: s}}]\n") },
	{ PL_E_IP, 4, HDR("WorkloadEntry") "metadata: {name: w}\nspec: {address: 10.0.0.256}\n" },
	{ PL_E_PORT, 4, HDR("WorkloadEntry") "metadata: {name: w}\nspec: {address: 10.0.0.1, ports: {http: 0}}\n" },
	{ PL_E_CGROUP, 3, HDR("WorkloadEntry") "metadata: {name: w, annotations: {sluice.io/cgroup: ../x}}\nspec: {address: 10.0.0.1}\n" },
	{ PL_E_ENUM, 4, HDR("ServiceEntry") "metadata: {name: s}\nspec: {hosts: [s], ports: [{number: 1, name: a}], location: MESH_OUTSIDE}\n" },
	{ PL_E_VALUE, 4, HDR("Sidecar") "metadata: {name: s}\nspec: {egress: [{hosts: [no-slash]}]}\n" },
	{ PL_E_GWBIND, 10, SET GWT("") },
	{ PL_E_BINDIP, 10, SET GWT("bind: gw.example.com, ") },
	{ PL_W_GWNOROUTE, 10, SET GWT("bind: 10.9.9.9, ") },
	{ PL_I_SKIPPED, 2, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: t}\nspec: {replicas: 1}\n" },
	{ PL_W_K8S, 4, "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: t}\nspec: {type: NodePort, clusterIP: 10.96.0.9,\n"
		       "       ports: [{name: http, port: 80, nodePort: 30080}]}\n" },
	{ PL_W_PTNOROUTE, 6, HDR("Gateway") "metadata: {name: g, namespace: t}\nspec:\n  servers:\n"
			     "  - port: {number: 443, name: tls, protocol: TLS}\n    hosts: ['*']\n"
			     "    tls: {mode: PASSTHROUGH}\n" },
	{ PL_E_DUPSIDECAR, 6, HDR("Sidecar") "metadata: {name: a, namespace: t}\nspec: {egress: [{hosts: ['./*']}]}\n---\n"
			      HDR("Sidecar") "metadata: {name: b, namespace: t}\nspec: {egress: [{hosts: ['*/*']}]}\n" },
	{ PL_E_GWTCPDUP, 28, SET GWT("bind: 10.9.9.9, ") GWVS("a", "a.example.com") "---\n" GWVS("b", "b.example.com") },
	{ PL_E_GWVIP, 10, HDR("ServiceEntry") "metadata: {name: s, namespace: t}\n"
			  "spec: {hosts: [s], addresses: [10.9.9.9], ports: [{number: 9000, name: tcp, protocol: TCP}],\n"
			  "       resolution: STATIC, endpoints: [{address: 10.9.0.1}]}\n---\n"
			  GWT("bind: 10.9.9.9, ") GWVS("a", "a.example.com") },
	{ PL_E_CONFLICT, 11, SE HDR("DestinationRule") "metadata: {name: s, namespace: t}\n"
			     "spec: {host: s, trafficPolicy: {loadBalancer: {simple: RANDOM, consistentHash: {useSourceIp: true}}}}\n" },
};

static void run_case(const struct code_case *k)
{
	struct sl_diags d;
	struct sl_model *m = NULL;
	int r;
	sl_diags_init(&d);
	if (k->yaml) {
		r = sl_model_load_buf("c.yaml", k->yaml, strlen(k->yaml), &d, &m);
	} else if (!strcmp(k->code, PL_W_NOFILES)) {
		char dir[] = "/tmp/sluice-empty-XXXXXX";
		assert_non_null(mkdtemp(dir));
		const char *paths[] = { dir };
		r = sl_model_load(paths, 1, &d, &m);
		rmdir(dir);
	} else {
		const char *paths[] = { "/nonexistent/sluice/policy.yaml" };
		r = sl_model_load(paths, 1, &d, &m);
	}
	const struct pl_code *pc = NULL;
	for (size_t i = 0; i < pl_ncodes; i++)
		if (!strcmp(pl_codes[i].code, k->code))
			pc = &pl_codes[i];
	assert_non_null(pc);
	const struct sl_diag *hit = NULL;
	for (size_t i = 0; i < d.n; i++)
		if (!strcmp(d.v[i].code, k->code) && !hit)
			hit = &d.v[i];
	if (!hit || (k->line && hit->pos.line != k->line)) {
		sl_diags_print(&d, stderr);
		fail_msg("%s: expected at line %d", k->code, k->line);
	}
	assert_int_equal(hit->sev, pc->sev);
	if (pc->sev == SL_SEV_ERROR) {
		assert_int_not_equal(r, 0);
		assert_null(m);
	} else {
		/* a warning alone never fails the load */
		if (d.nerrors) {
			sl_diags_print(&d, stderr);
			fail_msg("%s: unexpected errors", k->code);
		}
		assert_int_equal(r, 0);
		assert_non_null(m);
	}
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_every_code(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	/* every code in the table has a case */
	for (size_t i = 0; i < pl_ncodes; i++) {
		bool found = false;
		for (size_t j = 0; j < sizeof(cases) / sizeof(cases[0]); j++)
			found |= !strcmp(cases[j].code, pl_codes[i].code);
		if (!found)
			fail_msg("code %s has no test case", pl_codes[i].code);
	}
}

static void test_tables_sorted_unique(void **state)
{
	(void)state;
	for (size_t i = 1; i < pl_nfields; i++) {
		int c = strcmp(pl_fields[i - 1].msg, pl_fields[i].msg);
		if (!c)
			c = strcmp(pl_fields[i - 1].field, pl_fields[i].field);
		if (c >= 0)
			fail_msg("pl_fields not sorted at %s.%s", pl_fields[i].msg, pl_fields[i].field);
	}
	for (size_t i = 0; i < pl_nfields; i++)
		assert_ptr_equal(pl_field_find(pl_fields[i].msg, pl_fields[i].field), &pl_fields[i]);
	assert_null(pl_field_find("HTTPRoute", "nosuch"));
	for (size_t i = 1; i < pl_ncodes; i++)
		assert_true(strcmp(pl_codes[i - 1].code, pl_codes[i].code) < 0);
}

/* The fields the L7 helper enforces must be accepted; the ones nobody
 * enforces must be rejected. */
static void test_support_decisions(void **state)
{
	(void)state;
	static const char *const sup[][2] = {
		{ "HTTPMatchRequest", "uri" }, { "HTTPMatchRequest", "headers" },
		{ "HTTPMatchRequest", "method" }, { "HTTPMatchRequest", "queryParams" },
		{ "HTTPMatchRequest", "sourceLabels" }, { "HTTPMatchRequest", "withoutHeaders" },
		{ "HTTPMatchRequest", "authority" }, { "HTTPMatchRequest", "ignoreUriCase" },
		{ "HTTPRoute", "timeout" }, { "HTTPRoute", "retries" }, { "HTTPRoute", "fault" },
		{ "HTTPRoute", "rewrite" }, { "HTTPRoute", "redirect" }, { "HTTPRoute", "headers" },
		{ "HTTPRoute", "mirror" }, { "HTTPRoute", "mirrorPercentage" },
		{ "ConsistentHash", "maglev" }, { "OutlierDetection", "maxEjectionPercent" },
		{ "Server", "tls" }, { "GatewayPort", "protocol=HTTPS" },
		{ "ServerTLSSettings", "mode" }, { "ServerTLSSettings", "httpsRedirect" },
		{ "ServerTLSSettings", "mode=MUTUAL" }, { "ServerTLSSettings", "caCertificates" },
		{ "ServerTLSSettings", "mode=PASSTHROUGH" }, { "GatewayPort", "protocol=TLS" },
		{ "VirtualService", "tls" }, { "TLSMatchAttributes", "sniHosts" },
		{ "TLSMatchAttributes", "port" }, { "TLSRoute", "route" },
	};
	static const char *const unsup[][2] = {
		{ "TrafficPolicy", "tls" }, { "HTTPRoute", "corsPolicy" }, { "HTTPRoute", "delegate" },
		{ "HTTPMatchRequest", "sourceNamespace" }, { "L4MatchAttributes", "destinationSubnets" },
		{ "L4MatchAttributes", "sourceSubnet" }, { "LoadBalancer", "localityLbSetting" },
		{ "LoadBalancer", "simple=PASSTHROUGH" }, { "TrafficPolicy", "portLevelSettings" },
		{ "TrafficPolicy", "tunnel" }, { "TLSMatchAttributes", "sourceLabels" },
		{ "TLSMatchAttributes", "destinationSubnets" }, { "TLSMatchAttributes", "sourceNamespace" },
		{ "ServerTLSSettings", "mode=AUTO_PASSTHROUGH" }, { "ServerTLSSettings", "mode=ISTIO_MUTUAL" },
		{ "ServerTLSSettings", "credentialNames" }, { "ServerTLSSettings", "caCrl" },
	};
	for (size_t i = 0; i < sizeof(sup) / sizeof(sup[0]); i++) {
		const struct pl_field *f = pl_field_find(sup[i][0], sup[i][1]);
		assert_non_null(f);
		assert_int_equal(f->sup, PL_SUPPORTED);
	}
	for (size_t i = 0; i < sizeof(unsup) / sizeof(unsup[0]); i++) {
		const struct pl_field *f = pl_field_find(unsup[i][0], unsup[i][1]);
		assert_non_null(f);
		assert_int_equal(f->sup, PL_UNSUPPORTED);
	}
}

/* Many errors in one load are all reported, in file order. */
static void test_all_errors_reported(void **state)
{
	(void)state;
	const char *y = SE DR VS("  http:\n  - route: [{destination: {host: s, subset: three}}]\n"
				 "  - route: [{destination: {host: s, subset: four}}]\n");
	struct sl_diags d;
	struct sl_model *m = NULL;
	sl_diags_init(&d);
	assert_int_equal(sl_model_load_buf("e.yaml", y, strlen(y), &d, &m), -EINVAL);
	assert_int_equal(d.nerrors, 2);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	sl_diags_print(&d, f);
	fclose(f);
	assert_non_null(strstr(buf, "e.yaml:19:45: error[SL0102]: subset \"three\""));
	assert_true(strstr(buf, "\"three\"") < strstr(buf, "\"four\""));
	free(buf);
	sl_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code),
		cmocka_unit_test(test_tables_sorted_unique),
		cmocka_unit_test(test_support_decisions),
		cmocka_unit_test(test_all_errors_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
