/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-http's pure pieces on models loaded from YAML buffers: route
 * matching in order (uri/headers/cookie/method/query/withoutHeaders/port/
 * sourceLabels), host patterns, gateway and mesh entry lookups, weighted and
 * hashed destination choice, endpoint load balancing with outlier ejection,
 * the strict head parser (limits, smuggling shapes, split feeding) and a
 * request's whole verdict (hx_route_request).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http/hx.h"

static const char policy[] =
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: ServiceEntry\n"
	"metadata: {name: fc, namespace: w}\n"
	"spec:\n"
	"  hosts: [fc.w.svc.cluster.local]\n"
	"  addresses: [198.18.0.20]\n"
	"  ports: [{number: 80, name: http, protocol: HTTP}]\n"
	"  resolution: STATIC\n"
	"  endpoints:\n"
	"  - {address: 10.0.0.1, ports: {http: 8081}, labels: {version: v1}}\n"
	"  - {address: 10.0.0.2, ports: {http: 8082}, labels: {version: v1}}\n"
	"  - {address: 10.0.0.3, ports: {http: 8083}, labels: {version: v2}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: DestinationRule\n"
	"metadata: {name: fc, namespace: w}\n"
	"spec:\n"
	"  host: fc\n"
	"  trafficPolicy:\n"
	"    loadBalancer: {consistentHash: {httpHeaderName: x-user}}\n"
	"    outlierDetection: {consecutive5xxErrors: 2, baseEjectionTime: 10s, maxEjectionPercent: 50}\n"
	"  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n"
	"---\n"
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: VirtualService\n"
	"metadata: {name: fc, namespace: w}\n"
	"spec:\n"
	"  hosts: [fc]\n"
	"  http:\n"
	"  - match: [{headers: {User-Agent: {regex: \".*Chrome.*\"}}}]\n"
	"    route: [{destination: {host: fc, subset: v2}}]\n"
	"  - match: [{headers: {cookie: {regex: \"^(.*?;)?(user=tester)(;.*)?$\"}}}]\n"
	"    route: [{destination: {host: fc, subset: v2}}]\n"
	"  - match: [{uri: {prefix: /api/}, method: {exact: POST}}]\n"
	"    route: [{destination: {host: fc, subset: v2}}]\n"
	"  - match: [{queryParams: {beta: {exact: \"1\"}}}]\n"
	"    route: [{destination: {host: fc, subset: v2}}]\n"
	"  - match: [{uri: {exact: /nohdr}, withoutHeaders: {x-skip: {}}}]\n"
	"    route: [{destination: {host: fc, subset: v2}}]\n"
	"  - route:\n"
	"    - {destination: {host: fc, subset: v1}, weight: 90}\n"
	"    - {destination: {host: fc, subset: v2}, weight: 10}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: Gateway\n"
	"metadata: {name: gw, namespace: w}\n"
	"spec:\n"
	"  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: [\"*.example.io\"]}]\n"
	"---\n"
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: VirtualService\n"
	"metadata: {name: fc-gw, namespace: w}\n"
	"spec:\n"
	"  hosts: [fc.example.io]\n"
	"  gateways: [gw]\n"
	"  http: [{route: [{destination: {host: fc, subset: v1}}]}]\n";

static struct sl_model *load(void)
{
	struct sl_diags d;
	struct sl_model *m = NULL;
	int err;

	sl_diags_init(&d);
	err = sl_model_load_buf("t.yaml", policy, sizeof(policy) - 1, &d, &m);
	if (err)
		sl_diags_print(&d, stderr);
	sl_diags_free(&d);
	assert_int_equal(err, 0);
	assert_non_null(m);
	return m;
}

static void rv_init(struct hx_reqview *rv, const char *method, const char *path,
		    struct hx_hv *hv, size_t nh)
{
	const char *q = strchr(path, '?');

	memset(rv, 0, sizeof(*rv));
	rv->method = method;
	rv->method_len = strlen(method);
	rv->path = path;
	rv->path_len = q ? (size_t)(q - path) : strlen(path);
	rv->query = q ? q + 1 : NULL;
	rv->query_len = q ? strlen(q + 1) : 0;
	rv->hdrs = hv;
	rv->nhdrs = nh;
	rv->port = 80;
	rv->workload = -1;
}

static struct hx_hv hdr(const char *n, const char *v)
{
	struct hx_hv h = {n, v, (uint32_t)strlen(n), (uint32_t)strlen(v)};

	return h;
}

static int route_of(const struct sl_model *m, const char *method, const char *path,
		    struct hx_hv *hv, size_t nh)
{
	struct hx_reqview rv;
	int vi = hx_vhost_for_mesh_host(m, "fc", 2);

	assert_true(vi >= 0);
	rv_init(&rv, method, path, hv, nh);
	return hx_route_match(&m->vhosts[vi], &rv);
}

static void test_match_order(void **state)
{
	struct sl_model *m = load();
	struct hx_hv h[2];

	(void)state;
	h[0] = hdr("user-agent", "Mozilla/5.0 Chrome/120");
	assert_int_equal(route_of(m, "GET", "/", h, 1), 0);
	h[0] = hdr("User-Agent", "Mozilla/5.0 Firefox/121");	/* name case-insensitive */
	assert_int_equal(route_of(m, "GET", "/", h, 1), 5);
	h[0] = hdr("Cookie", "user=tester");
	assert_int_equal(route_of(m, "GET", "/", h, 1), 1);
	h[0] = hdr("cookie", "a=b;user=tester;c=d");
	assert_int_equal(route_of(m, "GET", "/", h, 1), 1);
	h[0] = hdr("cookie", "user=testers");
	assert_int_equal(route_of(m, "GET", "/", h, 1), 5);
	assert_int_equal(route_of(m, "POST", "/api/x", NULL, 0), 2);
	assert_int_equal(route_of(m, "GET", "/api/x", NULL, 0), 5);
	assert_int_equal(route_of(m, "GET", "/p?a=2&beta=1", NULL, 0), 3);
	assert_int_equal(route_of(m, "GET", "/p?beta=10", NULL, 0), 5);
	assert_int_equal(route_of(m, "GET", "/nohdr", NULL, 0), 4);
	h[0] = hdr("x-skip", "");
	assert_int_equal(route_of(m, "GET", "/nohdr", h, 1), 5);
	sl_model_free(m);
}

static void test_hosts(void **state)
{
	struct sl_model *m = load();
	const char *gw = NULL;
	char buf[64];
	uint8_t vip[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 20};

	(void)state;
	assert_true(hx_host_match("*", "x", 1));
	assert_true(hx_host_match("*.example.io", "a.example.io", 12));
	assert_false(hx_host_match("*.example.io", "example.io", 10));
	assert_true(hx_host_match("FC.example.io", "fc.EXAMPLE.io", 13));
	assert_false(hx_host_match("fc.example.io", "fc.example.iox", 14));
	assert_true(hx_vhost_for_gateway(m, 8080, "fc.example.io", 13, &gw, buf, sizeof(buf)) >= 0);
	assert_string_equal(gw, "w/gw");
	assert_int_equal(hx_vhost_for_gateway(m, 8081, "fc.example.io", 13, &gw, buf, sizeof(buf)), -1);
	assert_int_equal(hx_vhost_for_gateway(m, 8080, "zz.example.io", 13, &gw, buf, sizeof(buf)), -1);
	assert_true(hx_vhost_for_mesh_host(m, "fc.w.svc.cluster.local", 22) >= 0);
	assert_int_equal(hx_vhost_for_mesh_host(m, "f", 1), -1);
	assert_true(hx_service_for_vip(m, vip, 80) >= 0);
	assert_int_equal(hx_service_for_vip(m, vip, 81), -1);
	sl_model_free(m);
}

/* The last route is 90/10: uniform points split 90/10 exactly; the same point
 * always gives the same answer. */
static void test_weights(void **state)
{
	struct sl_model *m = load();
	int vi = hx_vhost_for_mesh_host(m, "fc", 2), n2 = 0, i;
	const struct sl_route *r = &m->vhosts[vi].http[5];

	(void)state;
	for (i = 0; i < 10000; i++) {
		uint64_t pt = (uint64_t)i * (UINT64_MAX / 10000);

		n2 += hx_pick_dest(r, pt) == 1;
		assert_int_equal(hx_pick_dest(r, pt), hx_pick_dest(r, pt));
	}
	assert_in_range(n2, 999, 1001);
	sl_model_free(m);
}

static void test_hash_and_endpoints(void **state)
{
	struct sl_model *m = load();
	struct hx_snap *s = hx_snap_new(m, true, 1);
	const struct sl_service *sv = &m->services[0];
	struct hx_reqview rv;
	struct hx_hv h[1];
	uint64_t a, b;
	int e1, e2, i, v1 = -1;

	(void)state;
	assert_non_null(s);
	for (i = 0; i < (int)sv->nsubsets; i++)
		if (strcmp(sv->subsets[i].name, "v1") == 0)
			v1 = i;
	assert_true(v1 >= 0);
	h[0] = hdr("X-User", "alice");
	rv_init(&rv, "GET", "/", h, 1);
	assert_true(hx_hash_request(&sv->tp.lb, &rv, &a));
	assert_true(hx_hash_request(&sv->tp.lb, &rv, &b));
	assert_true(a == b);
	rv.nhdrs = 0;
	assert_false(hx_hash_request(&sv->tp.lb, &rv, &a));

	/* rendezvous: the same key picks the same endpoint */
	e1 = hx_pick_endpoint(m, s->svc, 0, v1, true, 42, 0, 1000);
	e2 = hx_pick_endpoint(m, s->svc, 0, v1, true, 42, 7, 1000);
	assert_int_equal(e1, e2);
	/* two 5xx eject it (consecutive5xxErrors 2), the key moves to the other */
	hx_outlier_report(m, s->svc, 0, v1, e1, 503, 1000);
	assert_int_equal(hx_pick_endpoint(m, s->svc, 0, v1, true, 42, 0, 1000), e1);
	hx_outlier_report(m, s->svc, 0, v1, e1, 500, 1000);
	e2 = hx_pick_endpoint(m, s->svc, 0, v1, true, 42, 0, 1001);
	assert_true(e2 >= 0 && e2 != e1);
	/* maxEjectionPercent 50 of 2: the second endpoint cannot go too */
	hx_outlier_report(m, s->svc, 0, v1, e2, 500, 1002);
	hx_outlier_report(m, s->svc, 0, v1, e2, 500, 1002);
	assert_int_equal(hx_pick_endpoint(m, s->svc, 0, v1, false, 0, 0, 1003), e2);
	/* after baseEjectionTime the first is back */
	assert_true(hx_pick_endpoint(m, s->svc, 0, v1, true, 42, 0, 1000 + 10001) == e1);
	/* a success resets the count */
	hx_outlier_report(m, s->svc, 0, v1, e2, 200, 1004);
	assert_int_equal(s->svc[0].eps[e2].consec_5xx, 0);
	hx_snap_put(s);
}

static int feed_all(const char *req, size_t step, int *status)
{
	struct hx_head h;
	llhttp_t p;
	size_t len = strlen(req), have = 0;
	int r = 0;

	llhttp_init(&p, HTTP_REQUEST, &hx_req_settings);
	hx_head_reset(&h);
	while (have < len) {
		size_t n = have + step > len ? len : have + step;

		r = hx_head_feed(&p, &h, req, have, n);
		have = n;
		if (r != 0)
			break;
	}
	*status = h.err_status;
	if (r == 1) {
		int hi = hx_head_find(&h, req, "host", 0);

		assert_true(hi >= 0);
		assert_int_equal(h.hdrs[hi].value.len, 4);
		assert_memory_equal(req + h.hdrs[hi].value.off, "a.io", 4);
		assert_memory_equal(req + h.url.off, "/x?y=1", 6);
	}
	return r;
}

static void test_head_parser(void **state)
{
	static const char ok[] = "GET /x?y=1 HTTP/1.1\r\nHost: a.io\r\nX-A: 1\r\n\r\n";
	static const char *const bad[] = {
		"POST / HTTP/1.1\r\nHost: a.io\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a.io\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.io\r\nX: a\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a.io\r\n\r\n",
		"GET / HTTP/1.1\nHost: a.io\n\n",
		"GET / HTTP/9.9\r\nHost: a.io\r\n\r\n",
	};
	char *big;
	size_t i, step;
	int st;

	(void)state;
	for (step = 1; step < sizeof(ok); step += 7)
		assert_int_equal(feed_all(ok, step, &st), 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(feed_all(bad[i], 1000, &st), -1);
		assert_int_equal(st, 400);
	}
	big = malloc(HX_HEAD_MAX + 200);
	assert_non_null(big);
	strcpy(big, "GET /");
	memset(big + 5, 'a', HX_URI_MAX + 10);
	strcpy(big + 5 + HX_URI_MAX + 10, " HTTP/1.1\r\n\r\n");
	assert_int_equal(feed_all(big, 512, &st), -1);
	assert_int_equal(st, 414);
	strcpy(big, "GET / HTTP/1.1\r\nX: ");
	memset(big + 19, 'b', HX_HEAD_MAX);
	strcpy(big + 19 + HX_HEAD_MAX, "\r\n\r\n");
	assert_int_equal(feed_all(big, 4096, &st), -1);
	assert_int_equal(st, 431);
	free(big);
}

/* The whole decision for a request, without a connection: entry, route,
 * destination, endpoint hash; the draws come from the caller's state. */
static void test_verdict(void **state)
{
	struct sl_model *m = load();
	struct hx_snap *snap = hx_snap_new(m, false, 1);
	struct hx_entry mesh = {.port = 80}, gw = {.port = 8080, .gateway = true};
	struct hx_entry orig = {.port = 15001, .has_orig = true, .vip_port = 80,
				.vip = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 20}};
	struct hx_verdict v, v2;
	struct hx_reqview rv;
	struct hx_hv h[1];
	uint64_t rng = 42, rng2 = 7;
	int i, n2 = 0;

	(void)state;
	assert_non_null(snap);
	h[0] = hdr("user-agent", "Chrome/120");
	rv_init(&rv, "GET", "/", h, 1);
	hx_route_request(snap, &mesh, &rv, "fc", 2, &rng, &v);
	assert_int_equal(v.act, HX_ACT_FORWARD);
	assert_int_equal(v.route_idx, 0);
	assert_non_null(v.hit);
	assert_int_equal(v.subset, 1);
	assert_int_equal(v.dest_port, 80);
	assert_false(v.has_hash);
	assert_null(rv.gateway);

	/* a hash key picks the same destination and endpoint hash whatever
	 * the draws */
	h[0] = hdr("x-user", "alice");
	rv_init(&rv, "GET", "/", h, 1);
	hx_route_request(snap, &mesh, &rv, "fc", 2, &rng, &v);
	hx_route_request(snap, &mesh, &rv, "fc", 2, &rng2, &v2);
	assert_int_equal(v.act, HX_ACT_FORWARD);
	assert_true(v.has_hash);
	assert_int_equal(v.route_idx, 5);
	assert_int_equal(v.subset, v2.subset);
	assert_true(v.hash == v2.hash);

	/* the default route's 90/10 over random draws */
	rv_init(&rv, "GET", "/", NULL, 0);
	for (i = 0; i < 2000; i++) {
		hx_route_request(snap, &mesh, &rv, "fc", 2, &rng, &v);
		assert_int_equal(v.act, HX_ACT_FORWARD);
		n2 += v.subset == 1;
	}
	assert_in_range(n2, 120, 290);

	/* no VirtualService for the host: answered, no route */
	hx_route_request(snap, &mesh, &rv, "nope", 4, &rng, &v);
	assert_int_equal(v.act, HX_ACT_REPLY);
	assert_int_equal(v.code, 503);
	assert_string_equal(v.reason, "no-route");
	assert_null(v.rt);

	/* a gateway entry routes by port and host and names the gateway */
	hx_route_request(snap, &gw, &rv, "fc.example.io", 13, &rng, &v);
	assert_int_equal(v.act, HX_ACT_FORWARD);
	assert_int_equal(v.subset, 0);
	assert_string_equal(rv.gateway, "w/gw");
	gw.port = 8081;
	hx_route_request(snap, &gw, &rv, "fc.example.io", 13, &rng, &v);
	assert_int_equal(v.act, HX_ACT_REPLY);

	/* a mesh connection whose VIP is known routes by the VIP, not Host */
	hx_route_request(snap, &orig, &rv, "whatever", 8, &rng, &v);
	assert_int_equal(v.act, HX_ACT_FORWARD);
	assert_int_equal(v.route_idx, 5);
	hx_snap_put(snap);
	sl_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_order),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_hash_and_endpoints),
		cmocka_unit_test(test_head_parser),
		cmocka_unit_test(test_verdict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
