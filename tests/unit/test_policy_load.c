// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the policy front-end: every kind parses into the model,
 * every resolution rule (short names, default namespace, subsets ->
 * endpoints, workloadSelector, sourceLabels -> workloads, gateways,
 * weights), the match helpers and the canonical dump.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "sluice/model.h"
#include "lib/policy_int.h"

static struct sl_model *load_ok(const char *yaml, struct sl_diags *d)
{
	struct sl_model *m = NULL;
	sl_diags_init(d);
	int r = sl_model_load_buf("t.yaml", yaml, strlen(yaml), d, &m);
	if (r) {
		sl_diags_print(d, stderr);
		fail_msg("load failed: %d", r);
	}
	assert_non_null(m);
	return m;
}

#define SE_TCP_ECHO                                                              \
	"apiVersion: networking.istio.io/v1beta1\n"                               \
	"kind: ServiceEntry\n"                                                    \
	"metadata: {name: tcp-echo, namespace: weather}\n"                        \
	"spec:\n"                                                                 \
	"  hosts: [tcp-echo]\n"                                                   \
	"  addresses: [198.18.0.10, 'fd00::10']\n"                                \
	"  ports: [{number: 9000, name: tcp, protocol: TCP}, {number: 80, name: http-web}]\n" \
	"  resolution: STATIC\n"                                                  \
	"  location: MESH_INTERNAL\n"                                             \
	"  endpoints:\n"                                                          \
	"  - {address: 198.18.1.1, ports: {tcp: 9001}, labels: {app: e, version: v1}}\n" \
	"  - {address: 198.18.1.2, labels: {app: e, version: v2}, weight: 5}\n"   \
	"  - {address: 198.18.1.3, labels: {app: e, version: v2}}\n"

#define DR_TCP_ECHO                                                              \
	"---\n"                                                                   \
	"apiVersion: networking.istio.io/v1beta1\n"                               \
	"kind: DestinationRule\n"                                                 \
	"metadata: {name: tcp-echo, namespace: weather}\n"                        \
	"spec:\n"                                                                 \
	"  host: tcp-echo.weather.svc.cluster.local\n"                            \
	"  trafficPolicy:\n"                                                      \
	"    loadBalancer: {simple: LEAST_CONN}\n"                                \
	"    connectionPool: {tcp: {maxConnections: 100, connectTimeout: 250ms}}\n" \
	"  subsets:\n"                                                            \
	"  - {name: v1, labels: {version: v1}}\n"                                 \
	"  - name: v2\n"                                                          \
	"    labels: {version: v2}\n"                                             \
	"    trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true}},\n" \
	"                    connectionPool: {http: {maxRetries: 3}}}\n"

static void test_service_entry(void **state)
{
	(void)state;
	struct sl_diags d;
	struct sl_model *m = load_ok(SE_TCP_ECHO, &d);
	assert_int_equal(m->nservices, 1);
	struct sl_service *s = &m->services[0];
	assert_string_equal(s->host, "tcp-echo.weather.svc.cluster.local");
	assert_string_equal(s->ns, "weather");
	assert_int_equal(s->nvips, 2);
	assert_int_equal(s->vips[0].family, AF_INET);
	static const uint8_t v4[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 10 };
	assert_memory_equal(s->vips[0].addr, v4, 16);
	assert_int_equal(s->vips[1].family, AF_INET6);
	assert_int_equal(s->vips[1].addr[0], 0xfd);
	assert_int_equal(s->nports, 2);
	assert_int_equal(s->ports[0].proto, SL_PROTO_TCP);
	assert_int_equal(s->ports[1].proto, SL_PROTO_HTTP);	/* from the name "http-web" */
	assert_int_equal(s->resolution, SL_RES_STATIC);
	assert_int_equal(s->location, SL_LOC_MESH_INTERNAL);
	assert_int_equal(s->nendpoints, 3);
	assert_int_equal(s->endpoints[0].weight, 1);	/* unset -> 1 */
	assert_int_equal(s->endpoints[1].weight, 5);
	assert_int_equal(s->endpoints[0].nports, 1);
	assert_int_equal(s->endpoints[0].ports[0].number, 9001);
	assert_int_equal(s->endpoints[0].workload, -1);
	assert_int_equal(s->vhost, -1);
	assert_null(s->dr_name);
	assert_int_equal(sl_model_find_service(m, "tcp-echo.weather.svc.cluster.local"), 0);
	assert_int_equal(sl_model_find_service(m, "tcp-echo"), -1);
	assert_int_equal(m->nobjects, 1);
	assert_string_equal(m->objects[0].kind, "ServiceEntry");
	assert_int_equal(m->objects[0].pos.line, 1);
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_destination_rule_subsets(void **state)
{
	(void)state;
	struct sl_diags d;
	struct sl_model *m = load_ok(SE_TCP_ECHO DR_TCP_ECHO, &d);
	struct sl_service *s = &m->services[0];
	assert_string_equal(s->dr_name, "weather/tcp-echo");
	assert_int_equal(s->tp.lb.kind, SL_LB_LEAST_REQUEST);	/* LEAST_CONN alias */
	assert_int_equal(s->tp.pool.tcp_connect_timeout_ms, 250);
	assert_int_equal(s->nsubsets, 2);
	assert_string_equal(s->subsets[0].name, "v1");
	assert_int_equal(s->subsets[0].nendpoints, 1);
	assert_int_equal(s->subsets[0].endpoints[0], 0);
	assert_int_equal(s->subsets[1].nendpoints, 2);
	assert_int_equal(s->subsets[1].endpoints[0], 1);
	assert_int_equal(s->subsets[1].endpoints[1], 2);
	/* subset policy over rule policy, field by field */
	assert_int_equal(s->subsets[0].tp.lb.kind, SL_LB_LEAST_REQUEST);
	assert_int_equal(s->subsets[1].tp.lb.kind, SL_LB_CONSISTENT_HASH);
	assert_int_equal(s->subsets[1].tp.lb.hash, SL_HASH_SOURCE_IP);
	assert_int_equal(s->subsets[1].tp.pool.max_retries, 3);
	assert_int_equal(s->subsets[1].tp.pool.tcp_max_connections, 100);
	sl_model_free(m);
	sl_diags_free(&d);
}

static const char *vs_tcp(const char *route)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf), SE_TCP_ECHO DR_TCP_ECHO
		 "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		 "metadata: {name: tcp-echo, namespace: weather}\n"
		 "spec:\n  hosts: [tcp-echo]\n  tcp:\n  - route:\n%s", route);
	return buf;
}

static void check_weights(const char *route, size_t n, const uint32_t *raw, const uint32_t *norm)
{
	struct sl_diags d;
	struct sl_model *m = load_ok(vs_tcp(route), &d);
	assert_int_equal(m->nvhosts, 1);
	struct sl_route *r = &m->vhosts[0].tcp[0];
	assert_int_equal(r->ndests, n);
	uint64_t total = 0, sum = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(r->dests[i].weight_raw, raw[i]);
		assert_int_equal(r->dests[i].weight, norm[i]);
		total += r->dests[i].weight_raw;
		sum += r->dests[i].weight;
	}
	assert_int_equal(r->weight_raw_total, total);
	assert_int_equal(sum, SL_WEIGHT_TOTAL);
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_weights(void **state)
{
	(void)state;
	check_weights("    - {destination: {host: tcp-echo, subset: v1}, weight: 80}\n"
		      "    - {destination: {host: tcp-echo, subset: v2}, weight: 20}\n",
		      2, (uint32_t[]){ 80, 20 }, (uint32_t[]){ 800000, 200000 });
	/* not summing to 100, 0.01% expressible */
	check_weights("    - {destination: {host: tcp-echo, subset: v1}, weight: 9999}\n"
		      "    - {destination: {host: tcp-echo, subset: v2}, weight: 1}\n",
		      2, (uint32_t[]){ 9999, 1 }, (uint32_t[]){ 999900, 100 });
	/* 0 means no traffic, the other edge gets all */
	check_weights("    - {destination: {host: tcp-echo, subset: v1}, weight: 0}\n"
		      "    - {destination: {host: tcp-echo, subset: v2}, weight: 100}\n",
		      2, (uint32_t[]){ 0, 100 }, (uint32_t[]){ 0, 1000000 });
	/* all missing: equal split, remainder by largest remainder then order */
	check_weights("    - {destination: {host: tcp-echo, subset: v1}}\n"
		      "    - {destination: {host: tcp-echo, subset: v2}}\n"
		      "    - {destination: {host: tcp-echo}}\n",
		      3, (uint32_t[]){ 1, 1, 1 }, (uint32_t[]){ 333334, 333333, 333333 });
	check_weights("    - {destination: {host: tcp-echo, subset: v1}, weight: 1}\n"
		      "    - {destination: {host: tcp-echo, subset: v2}, weight: 2}\n",
		      2, (uint32_t[]){ 1, 2 }, (uint32_t[]){ 333333, 666667 });
	check_weights("    - {destination: {host: tcp-echo, subset: v1}, weight: 4294967295}\n"
		      "    - {destination: {host: tcp-echo, subset: v2}, weight: 4294967295}\n",
		      2, (uint32_t[]){ 4294967295u, 4294967295u }, (uint32_t[]){ 500000, 500000 });
}

static void test_destination_resolution(void **state)
{
	(void)state;
	struct sl_diags d;
	struct sl_model *m = load_ok(vs_tcp(
		"    - {destination: {host: tcp-echo.weather.svc.cluster.local, subset: v2, port: {number: 80}}}\n"), &d);
	struct sl_dest *de = &m->vhosts[0].tcp[0].dests[0];
	assert_int_equal(de->service, 0);
	assert_int_equal(de->subset, 1);
	assert_int_equal(de->port, 80);
	assert_int_equal(m->services[0].vhost, 0);
	assert_true(m->vhosts[0].mesh);
	assert_int_equal(m->vhosts[0].ngateways, 1);
	assert_string_equal(m->vhosts[0].gateways[0], "mesh");
	assert_string_equal(m->vhosts[0].hosts[0], "tcp-echo.weather.svc.cluster.local");
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_default_namespace_and_short_names(void **state)
{
	(void)state;
	struct sl_diags d;
	struct sl_model *m = load_ok(
		"apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {name: a}\n"
		"spec: {hosts: [catalog, ext.example.com], addresses: [10.0.0.1], ports: [{number: 1, name: tcp}]}\n",
		&d);
	assert_int_equal(m->nservices, 2);
	assert_string_equal(m->services[0].host, "catalog.default.svc.cluster.local");
	assert_string_equal(m->services[0].ns, "default");
	assert_string_equal(m->services[1].host, "ext.example.com");	/* dotted: kept */
	assert_int_equal(m->services[0].location, SL_LOC_MESH_EXTERNAL);	/* Istio default */
	assert_int_equal(m->services[0].resolution, SL_RES_NONE);
	char *f = pl_fqdn(m->arena, "reviews", "bookinfo");
	assert_string_equal(f, "reviews.bookinfo.svc.cluster.local");
	sl_model_free(m);
	sl_diags_free(&d);
}

#define WORKLOADS                                                                 \
	"apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"                  \
	"metadata: {name: fe-v1, namespace: gray, annotations: {sluice.io/cgroup: demo/fe-v1}}\n" \
	"spec: {address: 10.4.0.1, labels: {app: fe, version: v1}, ports: {http: 8080}, weight: 2}\n" \
	"---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"              \
	"metadata: {name: fe-v2, namespace: gray, annotations: {sluice.io/cgroup: demo/fe-v2}}\n" \
	"spec: {address: 10.4.0.2, labels: {app: fe, version: v2}}\n"                \
	"---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"              \
	"metadata: {name: fe-v3, namespace: other}\n"                                \
	"spec: {address: 10.4.0.3, labels: {app: fe, version: v2}}\n"                \
	"---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"               \
	"metadata: {name: fe, namespace: gray}\n"                                    \
	"spec: {hosts: [fe], addresses: [10.4.0.10], ports: [{number: 80, name: http}],\n" \
	"       resolution: STATIC, workloadSelector: {labels: {app: fe}}}\n"         \
	"---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"               \
	"metadata: {name: fc, namespace: gray}\n"                                    \
	"spec: {hosts: [fc], addresses: [10.4.0.20], ports: [{number: 80, name: http}],\n" \
	"       resolution: STATIC, endpoints: [{address: 10.4.1.1, labels: {version: v1}},\n" \
	"                                     {address: 10.4.1.2, labels: {version: v2}}]}\n" \
	"---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"            \
	"metadata: {name: fc, namespace: gray}\n"                                    \
	"spec: {host: fc, subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]}\n" \
	"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"             \
	"metadata: {name: fc, namespace: gray}\n"                                    \
	"spec:\n  hosts: [fc]\n  http:\n"                                            \
	"  - match: [{sourceLabels: {version: v2}}]\n"                               \
	"    route: [{destination: {host: fc, subset: v2}}]\n"                       \
	"  - route: [{destination: {host: fc, subset: v1}}]\n"                       \
	"  tcp:\n  - match: [{sourceLabels: {app: fe}, port: 80}]\n"                  \
	"    route: [{destination: {host: fc, subset: v1}}]\n"

static void test_workloads_and_source_labels(void **state)
{
	(void)state;
	struct sl_diags d;
	struct sl_model *m = load_ok(WORKLOADS, &d);
	assert_int_equal(d.nwarnings, 0);
	assert_int_equal(m->nworkloads, 3);
	/* sorted by namespace/name */
	assert_string_equal(m->workloads[0].name, "fe-v1");
	assert_string_equal(m->workloads[0].cgroup, "demo/fe-v1");
	assert_int_equal(m->workloads[0].weight, 2);
	assert_int_equal(m->workloads[0].nports, 1);
	assert_string_equal(m->workloads[2].name, "fe-v3");
	assert_null(m->workloads[2].cgroup);
	/* workloadSelector: same namespace only */
	int fe = sl_model_find_service(m, "fe.gray.svc.cluster.local");
	assert_true(fe >= 0);
	assert_int_equal(m->services[fe].nendpoints, 2);
	assert_int_equal(m->services[fe].endpoints[0].workload, 0);
	assert_int_equal(m->services[fe].endpoints[1].workload, 1);
	assert_int_equal(m->services[fe].endpoints[0].weight, 2);
	/* sourceLabels: local clients (with a cgroup) whose labels match */
	struct sl_vhost *vh = &m->vhosts[0];
	assert_int_equal(vh->nhttp, 2);
	struct sl_match *mt = &vh->http[0].matches[0];
	assert_true(mt->has_source_labels);
	assert_int_equal(mt->nsource_workloads, 1);
	assert_int_equal(mt->source_workloads[0], 1);
	mt = &vh->tcp[0].matches[0];
	assert_int_equal(mt->nsource_workloads, 2);
	assert_int_equal(mt->port, 80);
	sl_model_free(m);
	sl_diags_free(&d);
}

#define GATEWAY_VS                                                                \
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"                   \
	"metadata: {name: catalog, namespace: ii}\n"                                 \
	"spec: {hosts: [catalog], addresses: [10.5.0.10], ports: [{number: 80, name: http, protocol: HTTP}],\n" \
	"       resolution: STATIC, endpoints: [{address: 10.5.0.1, labels: {version: v1}}]}\n" \
	"---\napiVersion: networking.istio.io/v1\nkind: Gateway\n"                    \
	"metadata: {name: gw, namespace: ii}\n"                                      \
	"spec: {servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ['ii/catalog.ii.io', '*']}]}\n" \
	"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"             \
	"metadata: {name: from-gw, namespace: ii}\n"                                 \
	"spec:\n  hosts: [catalog.ii.io]\n  gateways: [gw]\n  http:\n"                \
	"  - match: [{headers: {X-Cohort: {exact: internal}}, uri: {prefix: /a}, ignoreUriCase: true}]\n" \
	"    route: [{destination: {host: catalog}}]\n"                              \
	"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"             \
	"metadata: {name: both, namespace: ii}\n"                                    \
	"spec:\n  hosts: [catalog, other.ii.io]\n  gateways: [ii/gw, mesh]\n  http:\n" \
	"  - route: [{destination: {host: catalog}}]\n"

static void test_gateway_binding(void **state)
{
	(void)state;
	struct sl_diags d;
	struct sl_model *m = load_ok(GATEWAY_VS, &d);
	assert_int_equal(m->ngateways, 1);
	struct sl_gateway *g = &m->gateways[0];
	assert_int_equal(g->nservers, 1);
	assert_int_equal(g->servers[0].port, 8080);
	assert_int_equal(g->servers[0].proto, SL_PROTO_HTTP);
	assert_string_equal(g->servers[0].hosts[0], "catalog.ii.io");	/* "ns/" stripped */
	assert_int_equal(g->nvhosts, 2);
	/* vhosts sorted by ns/name: both, from-gw */
	assert_string_equal(m->vhosts[g->vhosts[0]].name, "both");
	assert_string_equal(m->vhosts[g->vhosts[1]].name, "from-gw");
	struct sl_vhost *gwvs = &m->vhosts[1];
	assert_false(gwvs->mesh);
	assert_string_equal(gwvs->gateways[0], "ii/gw");
	struct sl_match *mt = &gwvs->http[0].matches[0];
	assert_string_equal(mt->headers[0].name, "x-cohort");	/* lower-cased */
	assert_true(mt->uri.ignore_case);
	struct sl_vhost *both = &m->vhosts[0];
	assert_true(both->mesh);
	assert_int_equal(m->services[0].vhost, 0);
	/* other.ii.io is not in the registry: a warning, gateway-only */
	assert_int_equal(d.nwarnings, 1);
	assert_string_equal(d.v[0].code, PL_W_GWHOST);
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_sidecar_and_meshconfig(void **state)
{
	(void)state;
	struct sl_diags d;
	struct sl_model *m = load_ok(
		"apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default, namespace: istio-system}\n"
		"spec:\n  egress: [{hosts: ['*/*']}]\n  outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n",
		&d);
	assert_int_equal(m->nsidecars, 1);
	assert_int_equal(m->sidecars[0].negress_hosts, 1);
	assert_true(m->sidecars[0].outbound_set);
	assert_int_equal(m->outbound, SL_OUTBOUND_REGISTRY_ONLY);
	sl_model_free(m);
	sl_diags_free(&d);
	m = load_ok("apiVersion: sluice.io/v1alpha1\nkind: MeshConfig\nspec: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}\n", &d);
	assert_int_equal(m->outbound, SL_OUTBOUND_REGISTRY_ONLY);
	sl_model_free(m);
	sl_diags_free(&d);
	m = load_ok("", &d);
	assert_int_equal(m->outbound, SL_OUTBOUND_ALLOW_ANY);
	assert_int_equal(m->nservices, 0);
	sl_model_free(m);
	sl_diags_free(&d);
}

#define HTTP_ROUTE                                                                 \
	"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"             \
	"metadata: {name: tcp-echo, namespace: weather}\n"                           \
	"spec:\n  hosts: [tcp-echo]\n  http:\n"                                      \
	"  - name: main\n"                                                           \
	"    match:\n"                                                               \
	"    - {method: {exact: GET}, queryParams: {q: {regex: '[0-9]+'}}, withoutHeaders: {x-skip: {}},\n" \
	"       authority: {prefix: api.}}\n"                                        \
	"    route: [{destination: {host: tcp-echo, subset: v1}}]\n"                 \
	"    timeout: 1.5s\n"                                                        \
	"    retries: {attempts: 3, perTryTimeout: 200ms, retryOn: '5xx, reset,non-idempotent'}\n" \
	"    fault: {delay: {fixedDelay: 1m, percentage: {value: 0.5}}, abort: {httpStatus: 503, percent: 10}}\n" \
	"    rewrite: {uri: /v2, authority: new.host}\n"                             \
	"    headers: {request: {set: {X-A: '1'}, add: {x-b: '2'}, remove: [X-C]}, response: {remove: [server]}}\n" \
	"    mirror: {host: tcp-echo, subset: v2, port: {number: 80}}\n"             \
	"    mirrorPercentage: {value: 12.5}\n"                                      \
	"  - redirect: {uri: /moved, authority: b, redirectCode: 307}\n"

static void test_http_route_fields(void **state)
{
	(void)state;
	struct sl_diags d;
	struct sl_model *m = load_ok(SE_TCP_ECHO DR_TCP_ECHO HTTP_ROUTE, &d);
	struct sl_route *r = &m->vhosts[0].http[0];
	assert_string_equal(r->name, "main");
	assert_int_equal(r->timeout_ms, 1500);
	assert_true(r->retries.set);
	assert_int_equal(r->retries.attempts, 3);
	assert_int_equal(r->retries.per_try_timeout_ms, 200);
	assert_int_equal(r->retries.retry_on, SL_RETRY_5XX | SL_RETRY_RESET | SL_RETRY_NON_IDEMPOTENT);
	assert_int_equal(r->fault.delay_ms, 60000);
	assert_int_equal(r->fault.delay_ppm, 5000);
	assert_int_equal(r->fault.abort_status, 503);
	assert_int_equal(r->fault.abort_ppm, 100000);
	assert_string_equal(r->rewrite.uri, "/v2");
	assert_string_equal(r->rewrite.authority, "new.host");
	assert_int_equal(r->req_headers.nset, 1);
	assert_string_equal(r->req_headers.set[0].key, "x-a");
	assert_string_equal(r->req_headers.add[0].value, "2");
	assert_string_equal(r->req_headers.remove[0], "x-c");
	assert_int_equal(r->resp_headers.nremove, 1);
	assert_true(r->has_mirror);
	assert_int_equal(r->mirror.subset, 1);
	assert_int_equal(r->mirror.port, 80);
	assert_int_equal(r->mirror_ppm, 125000);
	struct sl_match *mt = &r->matches[0];
	assert_int_equal(mt->method.kind, SL_STR_EXACT);
	assert_int_equal(mt->authority.kind, SL_STR_PREFIX);
	assert_int_equal(mt->nquery, 1);
	assert_non_null(mt->query[0].m.re);
	assert_int_equal(mt->nwithout_headers, 1);
	assert_int_equal(mt->without_headers[0].m.kind, 0);	/* presence */
	struct sl_route *rd = &m->vhosts[0].http[1];
	assert_true(rd->has_redirect);
	assert_int_equal(rd->redirect.code, 307);
	assert_int_equal(rd->ndests, 0);
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_strmatch_eval(void **state)
{
	(void)state;
	struct sl_diags d;
	struct sl_model *m = load_ok(SE_TCP_ECHO DR_TCP_ECHO
		"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		"metadata: {name: tcp-echo, namespace: weather}\n"
		"spec:\n  hosts: [tcp-echo]\n  http:\n"
		"  - match: [{headers: {user-agent: {regex: '.*Chrome.*'}}, uri: {exact: /Api}, ignoreUriCase: true}]\n"
		"    route: [{destination: {host: tcp-echo, subset: v2}}]\n"
		"  - match: [{uri: {regex: '/a|/b'}}, {uri: {prefix: /p}}]\n"
		"    route: [{destination: {host: tcp-echo, subset: v1}}]\n", &d);
	const struct sl_match *m0 = &m->vhosts[0].http[0].matches[0];
	const struct sl_strmatch *ua = &m0->headers[0].m;
	assert_true(sl_strmatch_eval(ua, "Mozilla Chrome/120", 18));
	assert_false(sl_strmatch_eval(ua, "Mozilla Firefox/1", 17));
	assert_true(sl_strmatch_eval(ua, "Chrome XYZ", 6));	/* length-bounded */
	assert_true(sl_strmatch_eval(&m0->uri, "/api", 4));	/* ignoreUriCase */
	assert_false(sl_strmatch_eval(&m0->uri, "/apis", 5));
	const struct sl_route *r1 = &m->vhosts[0].http[1];
	/* regex is anchored at both ends, alternation included */
	assert_true(sl_strmatch_eval(&r1->matches[0].uri, "/a", 2));
	assert_true(sl_strmatch_eval(&r1->matches[0].uri, "/b", 2));
	assert_false(sl_strmatch_eval(&r1->matches[0].uri, "/ab", 3));
	assert_false(sl_strmatch_eval(&r1->matches[0].uri, "x/a", 3));
	assert_true(sl_strmatch_eval(&r1->matches[1].uri, "/p/x", 4));
	assert_false(sl_strmatch_eval(&r1->matches[1].uri, "/P", 2));
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_labels_select(void **state)
{
	(void)state;
	struct sl_label a[] = { { "app", "x" }, { "version", "v1" } };
	struct sl_label b[] = { { "version", "v1" } };
	struct sl_label c[] = { { "version", "v2" } };
	struct sl_labels la = { a, 2 }, lb = { b, 1 }, lc = { c, 1 }, none = { NULL, 0 };
	assert_true(sl_labels_select(&lb, &la));
	assert_false(sl_labels_select(&lc, &la));
	assert_false(sl_labels_select(&la, &lb));
	assert_true(sl_labels_select(&none, &la));
	assert_false(sl_labels_select(&lb, &none));
}

static void test_proto_helpers(void **state)
{
	(void)state;
	assert_true(sl_proto_is_http(SL_PROTO_HTTP));
	assert_true(sl_proto_is_http(SL_PROTO_HTTP2));
	assert_true(sl_proto_is_http(SL_PROTO_GRPC));
	assert_false(sl_proto_is_http(SL_PROTO_TCP));
	assert_false(sl_proto_is_http(SL_PROTO_HTTPS));
	assert_string_equal(sl_proto_name(SL_PROTO_MYSQL), "MYSQL");
	assert_string_equal(sl_proto_name((enum sl_proto)99), "UNKNOWN");
}

static void test_durations(void **state)
{
	(void)state;
	uint32_t ms = 0;
	assert_int_equal(pl_parse_duration_ms("1s", &ms), 0);
	assert_int_equal(ms, 1000);
	assert_int_equal(pl_parse_duration_ms("1m30s", &ms), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(pl_parse_duration_ms("0.25s", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(pl_parse_duration_ms("2h", &ms), 0);
	assert_int_equal(ms, 7200000);
	assert_int_equal(pl_parse_duration_ms("1500us", &ms), 0);
	assert_int_equal(ms, 2);
	assert_true(pl_parse_duration_ms("10", &ms) < 0);
	assert_true(pl_parse_duration_ms("", &ms) < 0);
	assert_true(pl_parse_duration_ms("-1s", &ms) < 0);
	assert_true(pl_parse_duration_ms("100ns", &ms) < 0);	/* under 1ms */
	assert_true(pl_parse_duration_ms("2000h", &ms) < 0);	/* over ~49 days */
	assert_true(pl_parse_duration_ms("1 s", &ms) < 0);
}

static char *dump(const struct sl_model *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(sl_model_dump_json(m, f), 0);
	fclose(f);
	return buf;
}

static void test_dump_canonical(void **state)
{
	(void)state;
	/* the same objects in another document order dump identically */
	struct sl_diags d1, d2;
	struct sl_model *a = load_ok(SE_TCP_ECHO DR_TCP_ECHO HTTP_ROUTE, &d1);
	struct sl_model *b = load_ok(SE_TCP_ECHO HTTP_ROUTE DR_TCP_ECHO, &d2);
	char *ja = dump(a), *jb = dump(b);
	assert_string_equal(ja, jb);
	assert_non_null(strstr(ja, "\"weight\": 1000000"));
	for (size_t i = 0; i < a->nobjects; i++)
		assert_true(a->objects[i].hash == b->objects[i].hash);
	free(ja);
	free(jb);
	sl_model_free(a);
	sl_model_free(b);
	sl_diags_free(&d1);
	sl_diags_free(&d2);
}

static void test_hash_changes(void **state)
{
	(void)state;
	struct sl_diags d1, d2;
	struct sl_model *a = load_ok(vs_tcp("    - {destination: {host: tcp-echo, subset: v1}, weight: 80}\n"
					    "    - {destination: {host: tcp-echo, subset: v2}, weight: 20}\n"), &d1);
	struct sl_model *b = load_ok(vs_tcp("    - {destination: {host: tcp-echo, subset: v1}, weight: 50}\n"
					    "    - {destination: {host: tcp-echo, subset: v2}, weight: 50}\n"), &d2);
	assert_int_equal(a->nobjects, 3);
	/* objects sorted by kind: DestinationRule, ServiceEntry, VirtualService */
	assert_true(a->objects[0].hash == b->objects[0].hash);
	assert_true(a->objects[1].hash == b->objects[1].hash);
	assert_string_equal(a->objects[2].kind, "VirtualService");
	assert_true(a->objects[2].hash != b->objects[2].hash);
	assert_true(a->vhosts[0].tcp[0].hash != b->vhosts[0].tcp[0].hash);
	sl_model_free(a);
	sl_model_free(b);
	sl_diags_free(&d1);
	sl_diags_free(&d2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_service_entry),
		cmocka_unit_test(test_destination_rule_subsets),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_destination_resolution),
		cmocka_unit_test(test_default_namespace_and_short_names),
		cmocka_unit_test(test_workloads_and_source_labels),
		cmocka_unit_test(test_gateway_binding),
		cmocka_unit_test(test_sidecar_and_meshconfig),
		cmocka_unit_test(test_http_route_fields),
		cmocka_unit_test(test_strmatch_eval),
		cmocka_unit_test(test_labels_select),
		cmocka_unit_test(test_proto_helpers),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_dump_canonical),
		cmocka_unit_test(test_hash_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
