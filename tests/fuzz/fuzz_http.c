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

static void route(const char *buf, const struct hx_head *h, const llhttp_t *p)
{
	struct hx_hv hv[HX_MAX_HEADERS];
	struct hx_reqview rv;
	const struct sl_model *m = snap->m;
	const char *url = buf + h->url.off, *q, *host = "", *gw = NULL;
	size_t hl = 0;
	char gwb[64];
	uint32_t i;
	uint64_t hash = 0;
	int vi, ri, di, ep;
	bool hh;

	memset(&rv, 0, sizeof(rv));
	rv.method = llhttp_method_name(p->method);
	rv.method_len = strlen(rv.method);
	q = memchr(url, '?', h->url.len);
	rv.path = url;
	rv.path_len = q ? (size_t)(q - url) : h->url.len;
	if (q) {
		rv.query = q + 1;
		rv.query_len = h->url.len - rv.path_len - 1;
	}
	for (i = 0; i < h->nhdrs; i++) {
		hv[i].name = buf + h->hdrs[i].name.off;
		hv[i].nlen = h->hdrs[i].name.len;
		hv[i].value = buf + h->hdrs[i].value.off;
		hv[i].vlen = h->hdrs[i].value.len;
		if (hv[i].nlen == 4 && !strncasecmp(hv[i].name, "host", 4) && !rv.authority) {
			rv.authority = host = hv[i].value;
			rv.authority_len = hl = hv[i].vlen;
		}
	}
	rv.hdrs = hv;
	rv.nhdrs = h->nhdrs;
	rv.port = 80;
	rv.workload = (int)(h->nhdrs % 2) - 1;
	vi = hx_vhost_for_mesh_host(m, host, hl);
	if (vi < 0)
		vi = hx_vhost_for_gateway(m, 8080, host, hl, &gw, gwb, sizeof(gwb));
	if (vi < 0)
		return;
	rv.gateway = gw;
	ri = hx_route_match(&m->vhosts[vi], &rv);
	if (ri < 0)
		return;
	hh = hx_hash_request(&m->services[0].tp.lb, &rv, &hash);
	di = hx_pick_dest(&m->vhosts[vi].http[ri], hh ? hash : 12345);
	if (di < 0)
		return;
	ep = hx_pick_endpoint(m, snap->svc, m->vhosts[vi].http[ri].dests[di].service,
			      m->vhosts[vi].http[ri].dests[di].subset, hh, hash, 7, 1000);
	if (ep >= 0)
		hx_outlier_report(m, snap->svc, m->vhosts[vi].http[ri].dests[di].service,
				  m->vhosts[vi].http[ri].dests[di].subset, ep, 503, 1000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hx_head h;
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
