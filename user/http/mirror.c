/* SPDX-License-Identifier: Apache-2.0 */
/*
 * VirtualService mirror: a fire-and-forget copy of a complete request to
 * the mirror destination, Host suffixed "-shadow" as Istio does. The copy
 * rides a pooled upstream connection of its own; the response is parsed
 * only to know when the exchange ended (then the connection is pooled
 * again) and dropped. Mirrors never touch the client connection.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "http/proxy.h"

#define HX_MIRROR_MAX		256	/* live mirror connections per worker */
#define HX_MIRROR_TIMEOUT_MS	10000

static void mirror_unlink(struct hx_up *u)
{
	struct hx_worker *w = u->w;

	if (u->mprev)
		u->mprev->mnext = u->mnext;
	else
		w->mirrors = u->mnext;
	if (u->mnext)
		u->mnext->mprev = u->mprev;
	u->mprev = u->mnext = NULL;
	u->mirror = false;
	w->nmirrors--;
	hx_buf_free(&u->mout);
}

static void mirror_end(struct hx_up *u, bool reusable)
{
	mirror_unlink(u);
	hx_up_release(u, reusable);
}

static void mirror_send(struct hx_up *u)
{
	while (u->connected && u->mout.off < u->mout.len) {
		ssize_t n = send(u->fd, u->mout.p + u->mout.off, u->mout.len - u->mout.off,
				 MSG_NOSIGNAL);

		if (n < 0)
			return;
		u->mout.off += (uint32_t)n;
	}
}

/* Read and drop the mirror's response; its connection goes back to the
 * pool when the exchange ended cleanly. */
void hx_mirror_event(struct hx_up *u, uint32_t ev)
{
	if (!u->connected && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err ||
		    (ev & (EPOLLERR | EPOLLHUP))) {
			mirror_end(u, false);
			return;
		}
		u->connected = true;
	}
	mirror_send(u);
	for (;;) {
		char buf[16384];
		ssize_t n = recv(u->fd, buf, sizeof(buf), 0);
		enum llhttp_errno e;

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			mirror_end(u, false);
			return;
		}
		if (n < 0)
			return;
		/* the head is not kept: spans would point into buf */
		u->head.base = buf;
		e = llhttp_execute(&u->parser, buf, (size_t)n);
		while (e == HPE_PAUSED && !u->head.msg_done) {
			const char *pos = llhttp_get_error_pos(&u->parser);

			llhttp_resume(&u->parser);
			u->head.nhdrs = 0;
			e = llhttp_execute(&u->parser, pos, (size_t)(buf + n - pos));
		}
		if (e == HPE_PAUSED && u->head.msg_done) {
			const char *pos = llhttp_get_error_pos(&u->parser);

			mirror_end(u, pos == buf + n && llhttp_should_keep_alive(&u->parser) &&
					      u->mout.off == u->mout.len);
			return;
		}
		if (e != HPE_OK) {
			mirror_end(u, false);
			return;
		}
		u->head.nhdrs = 0;
	}
}

/*
 * Contract: the client's request is complete and all its bytes are in
 * c->rq. Send a copy, Host suffixed "-shadow" as Istio does, to the mirror
 * destination; the response is read and dropped. Best effort: skipped when
 * the worker already has HX_MIRROR_MAX mirrors in flight or no endpoint.
 */
void hx_mirror_start(struct hx_cli *c)
{
	struct hx_worker *w = c->w;
	const struct sl_model *m = c->snap->m;
	const struct sl_dest *d = &c->rt->mirror;
	const struct sl_service *s = &m->services[d->service];
	char *host, *eol, *colon;
	struct hx_up *u;
	int ep, err;
	size_t at;

	c->mirror_pending = false;
	if (w->nmirrors >= HX_MIRROR_MAX || c->rq.len < 16)
		return;
	ep = hx_pick_endpoint(m, c->snap->svc, d->service, d->subset, false, 0, hx_rand(w), w->now);
	if (ep < 0)
		return;
	u = hx_up_get(w, s->endpoints[ep].ip.addr,
		   hx_endpoint_port(s, &s->endpoints[ep], hx_service_port(s, d->port, c->dest_port)),
		   false, &err);	/* mirrors to HTTP2/GRPC ports are refused (compile_l4.c) */
	if (!u)
		return;
	/* our rebuilt head always has "host: " as its first header line */
	host = memmem(c->rq.p, c->rq.len, "\r\nhost: ", 8);
	eol = host ? memmem(host + 8, c->rq.len - (size_t)(host + 8 - c->rq.p), "\r\n", 2) : NULL;
	if (!eol) {
		hx_up_release(u, true);
		return;
	}
	colon = memchr(host + 8, ':', (size_t)(eol - host - 8));
	at = (size_t)((colon ? colon : eol) - c->rq.p);
	memset(&u->mout, 0, sizeof(u->mout));
	if (hx_buf_put(&u->mout, c->rq.p, at) < 0 || hx_buf_puts(&u->mout, "-shadow") < 0 ||
	    hx_buf_put(&u->mout, c->rq.p + at, c->rq.len - at) < 0) {
		hx_buf_free(&u->mout);
		hx_up_release(u, false);
		return;
	}
	u->mirror = true;
	u->cli = NULL;
	u->mdeadline = w->now + HX_MIRROR_TIMEOUT_MS;
	u->mnext = w->mirrors;
	u->mprev = NULL;
	if (w->mirrors)
		w->mirrors->mprev = u;
	w->mirrors = u;
	w->nmirrors++;
	llhttp_init(&u->parser, HTTP_RESPONSE, &hx_resp_settings);
	hx_head_reset(&u->head);
	u->parser.data = &u->head;
	u->head.skip_body = c->is_head;
	mirror_send(u);
}

void hx_mirror_tick(struct hx_worker *w)
{
	struct hx_up *u, *next;

	for (u = w->mirrors; u; u = next) {
		next = u->mnext;
		if (w->now >= u->mdeadline)
			mirror_end(u, false);
	}
}
