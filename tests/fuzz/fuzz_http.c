/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target on sluice-http's request path without the network: the
 * strict head parser fed in chunks of a size the input chooses, then the
 * body through llhttp to message end, then routing of the parsed head
 * against a fixed policy (mesh by Host, gateway by port+Host), destination
 * and endpoint choice. Any crash, sanitizer report or leak is a finding.
 * Input: byte 0 = chunk size (1..256), the rest = bytes from the client.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
	"  - {address: 10.0.0.2, ports: {http: 8082}, labels: {version: v2}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: DestinationRule\n"
	"metadata: {name: fc, namespace: w}\n"
	"spec:\n"
	"  host: fc\n"
	"  trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: user, ttl: 10s}}}}\n"
	"  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n"
	"---\n"
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: VirtualService\n"
	"metadata: {name: fc, namespace: w}\n"
	"spec:\n"
	"  hosts: [fc]\n"
	"  gateways: [mesh, gw]\n"
	"  http:\n"
	"  - match: [{headers: {User-Agent: {regex: \".*Chrome.*\"}}}]\n"
	"    route: [{destination: {host: fc, subset: v2}}]\n"
	"  - match: [{headers: {cookie: {regex: \"^(.*?;)?(user=tester)(;.*)?$\"}}}]\n"
	"    route: [{destination: {host: fc, subset: v2}}]\n"
	"  - match: [{uri: {regex: \"/api/v[0-9]+/.*\"}, method: {exact: POST}}]\n"
	"    route: [{destination: {host: fc, subset: v2}}]\n"
	"  - match: [{queryParams: {beta: {exact: \"1\"}}, withoutHeaders: {x-no: {}}}]\n"
	"    route: [{destination: {host: fc, subset: v2}}]\n"
	"  - route:\n"
	"    - {destination: {host: fc, subset: v1}, weight: 90}\n"
	"    - {destination: {host: fc, subset: v2}, weight: 10}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: Gateway\n"
	"metadata: {name: gw, namespace: w}\n"
	"spec:\n"
	"  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: [\"*\"]}]\n";

static struct hx_snap *snap;

static void setup(void)
{
	struct sl_diags d;
	struct sl_model *m = NULL;

	sl_diags_init(&d);
	if (sl_model_load_buf("fuzz.yaml", policy, sizeof(policy) - 1, &d, &m) != 0)
		abort();
	sl_diags_free(&d);
	snap = hx_snap_new(m, true, 1);
	if (!snap)
		abort();
}

/* The production decision on the parsed head, once as a mesh request by
 * Host and once as a gateway request on port 8080, then the endpoint. */
static void route(const char *buf, const struct hx_head *h, const llhttp_t *p)
{
	static uint64_t rng = 1;
	struct hx_entry entries[2] = {{.port = 80}, {.port = 8080, .gateway = true}};
	struct hx_hv hv[HX_MAX_HEADERS];
	struct hx_reqview rv;
	struct hx_verdict v;
	const struct sl_model *m = snap->m;
	const char *host;
	size_t hl, k;
	int ep;

	for (k = 0; k < 2; k++) {
		hx_reqview_build(p, h, buf, &rv, hv, &host, &hl);
		rv.port = entries[k].port;
		rv.workload = (int)(h->nhdrs % 2) - 1;
		hx_route_request(snap, &entries[k], &rv, host, hl, &rng, &v);
		if (v.act != HX_ACT_FORWARD)
			continue;
		ep = hx_pick_endpoint(m, snap->svc, (size_t)v.svc, v.subset, v.has_hash, v.hash, 7,
				      1000);
		if (ep >= 0)
			hx_outlier_report(m, snap->svc, (size_t)v.svc, v.subset, ep, 503, 1000);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hx_head h = {0};	/* on_body unset: the body is only parsed */
	llhttp_t p;
	size_t step, have = 0;
	char *buf;
	int r = 0;

	if (!snap)
		setup();
	if (size < 1)
		return 0;
	step = (size_t)data[0] + 1;
	data++;
	size--;
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	llhttp_init(&p, HTTP_REQUEST, &hx_req_settings);
	hx_head_reset(&h);
	while (have < size) {
		size_t n = have + step > size ? size : have + step;

		r = hx_head_feed(&p, &h, buf, have, n);
		have = n;
		if (r != 0)
			break;
	}
	if (r == 1) {
		size_t off = h.head_len;

		route(buf, &h, &p);
		/* the body, as the proxy streams it */
		while (off < size && !h.msg_done) {
			enum llhttp_errno e = llhttp_execute(&p, buf + off, size - off);

			if (e == HPE_PAUSED && h.msg_done)
				break;
			if (e != HPE_OK)
				break;
			off = size;
		}
	}
	free(buf);
	return 0;
}
