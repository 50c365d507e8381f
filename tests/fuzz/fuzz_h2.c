/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target on HTTP/2 from clients (user/http/h2.c) through the
 * production path: a client connection of a real worker, on one end of a
 * socketpair, is pumped (hx_cli_pump) as the input's bytes arrive on the
 * other end, after the client preface: the preface sniff, the nghttp2
 * session and its callbacks, each stream's request rewritten as HTTP/1.1,
 * the strict parser, routing, the local answers (fault abort, redirect, no
 * route, bad request) parsed back into HEADERS and DATA, flow control and
 * the stream clients' lifetimes. The policy has no route that goes
 * upstream, so nothing connects anywhere. Any crash, sanitizer report or
 * leak is a finding. Input: byte 0 = chunk size (1..256), the rest = the
 * client's frames.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "http/h2.h"
#include "http/proxy.h"

static const char policy[] =
	"apiVersion: networking.istio.io/v1\n"
	"kind: ServiceEntry\n"
	"metadata: {name: fc, namespace: w}\n"
	"spec:\n"
	"  hosts: [fc.w.svc.cluster.local]\n"
	"  ports: [{number: 80, name: http, protocol: HTTP}]\n"
	"  resolution: STATIC\n"
	"  endpoints: [{address: 10.0.0.1, ports: {http: 8081}}]\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: Gateway\n"
	"metadata: {name: gw, namespace: w}\n"
	"spec:\n"
	"  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: [\"*\"]}]\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: VirtualService\n"
	"metadata: {name: fc, namespace: w}\n"
	"spec:\n"
	"  hosts: [a.example]\n"
	"  gateways: [gw]\n"
	"  http:\n"
	"  - match: [{uri: {prefix: /r}}]\n"
	"    redirect: {uri: /moved, authority: b.example}\n"
	"  - match: [{headers: {x-v: {regex: \"^[0-9]+$\"}}}]\n"
	"    headers: {response: {add: {x-route: one}}}\n"
	"    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}\n"
	"    route: [{destination: {host: fc.w.svc.cluster.local}}]\n"
	"  - fault: {abort: {httpStatus: 503, percentage: {value: 100}}}\n"
	"    route: [{destination: {host: fc.w.svc.cluster.local}}]\n";

static struct hx_worker *w;

static void setup(void)
{
	struct sl_diags d;
	struct sl_model *m = NULL;

	sl_diags_init(&d);
	if (sl_model_load_buf("fuzz.yaml", policy, sizeof(policy) - 1, &d, &m) != 0)
		abort();
	sl_diags_free(&d);
	w = hx_worker_new(0);
	if (!w)
		abort();
	w->snap = hx_snap_new(m, true, 1);
	if (!w->snap)
		abort();
	w->now = 1000;
	hx_cfg.max_conns = 64;
	hx_cfg.header_timeout_ms = hx_cfg.idle_timeout_ms = 10000;
}

/* What the proxy wrote to the client: read and dropped. */
static void drain(int fd)
{
	char buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	struct hx_cli *c;
	size_t step, at = 0;
	int sp[2];

	if (!w)
		setup();
	if (size < 1)
		return 0;
	step = (size_t)data[0] + 1;
	data++;
	size--;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->kind = HX_K_CLIENT;
	c->fd = sp[0];
	c->w = w;
	c->gateway = true;
	c->entry_port = 8080;
	c->workload = -1;
	c->svc = c->subset = c->ep = -1;
	hx_cli_link(w, c);
	if (write(sp[1], preface, sizeof(preface) - 1) < 0)
		abort();
	while (at < size && c->kind != HX_K_DEAD) {
		size_t n = size - at < step ? size - at : step;
		ssize_t wr = write(sp[1], data + at, n);

		if (wr <= 0)
			break;
		at += (size_t)wr;
		c->rd_blocked = false;
		hx_cli_pump(c);
		drain(sp[1]);
	}
	if (c->kind != HX_K_DEAD)
		hx_cli_close(c);
	hx_reap_dead(w);
	close(sp[1]);
	return 0;
}
