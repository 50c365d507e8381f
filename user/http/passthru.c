/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS passthrough (contract in passthru.h).
 *
 * One struct hx_pt per client connection, with two ends registered in the
 * worker's epoll (edge-triggered, kind HX_K_PASSTHRU): the client and, once
 * routed, the upstream. Its life:
 *
 *   HELLO    client bytes are read into the client-to-upstream buffer and
 *            parsed (hx_ch_parse) whenever they reach the parser's `need`;
 *            nothing is sent anywhere. A complete ClientHello with a server
 *            name is routed; no name, no route, malformed bytes, the client
 *            closing, or the hello not whole within --tls-handshake-timeout-ms
 *            close the connection, counted by reason.
 *   CONNECT  the route's weighted destination (hx_pick_dest) and an endpoint
 *            of it (hx_pick_endpoint: subsets, load balancer, ejections) are
 *            the same choices as for an HTTP request; one non-blocking
 *            connect, bounded by connectionPool.tcp.connectTimeout (else
 *            HX_PT_CONNECT_MS). connectionPool.tcp.maxConnections bounds the
 *            subset's relayed connections. A failed connect is reported to
 *            outlierDetection.
 *   RELAY    the bytes read so far (the ClientHello and anything after it)
 *            go first, then both directions are copied through one buffer
 *            each: a side's end of stream becomes shutdown(SHUT_WR) on the
 *            other once its buffer is out (half-close); the connection
 *            ends when both directions have, or at once (RST both ways) on
 *            an error; idle for HX_PT_IDLE_MS, it is closed.
 *
 * The snapshot current when the hello completed is held until the end, so
 * its indices (service, subset, endpoint) stay valid for the in-flight
 * counters. Closed connections are freed between event batches
 * (hx_pt_tick): an event for them may still be in the batch, and their
 * ends' kind is HX_K_DEAD by then.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "http/clienthello.h"
#include "http/passthru.h"
#include "sluice/abi.h"

#define BYTES_FLUSH_MS	1000	/* bytes of live relays reach the metrics this often */

enum pt_state { PT_HELLO, PT_CONNECT, PT_RELAY };

struct hx_pt;

struct pt_end {
	int kind;		/* HX_K_PASSTHRU, HX_K_DEAD once closed: first member */
	int fd;
	struct hx_pt *pt;
	bool eof;		/* read side saw end of stream */
	bool shut;		/* write side shut down (the other side's eof passed on) */
};

/* bytes [off, len) of b wait to be written */
struct pt_dir {
	uint32_t off, len;
	uint64_t moved;		/* written, not yet counted in the metrics */
};

struct hx_pt {
	struct pt_end cli, up;
	struct hx_worker *w;
	struct hx_pt *prev, *next;
	enum pt_state state;
	uint16_t port;
	uint32_t need;		/* HELLO: parse once c2u holds this much */
	uint64_t deadline;	/* HELLO, CONNECT */
	uint64_t last_active, last_flush;
	struct hx_snap *snap;	/* from routing on */
	const struct sl_route *rt;
	int di, svc, subset, ep;
	bool counted;		/* holds a subset slot (and ep's, when ep >= 0) */
	bool opened;		/* counted as opened: closing counts as closed */
	int series;		/* metrics series, -1 = none */
	int ep_series;		/* per-endpoint metrics entry, -1 = none */
	struct pt_dir c2u, u2c;
	/* bytes only below each pt_dir's len are ever read (not cleared) */
	uint8_t c2u_b[HX_CH_RAW_MAX];	/* holds a whole ClientHello's records */
	uint8_t u2c_b[HX_PT_BUF];
};

/* Per worker thread: its live connections and those closed in the current
 * batch (the worker is one thread; passthru.c is its only user of these). */
static __thread struct hx_pt *pt_live, *pt_dead;
static __thread uint32_t pt_n;
static __thread struct hx_ch *pt_ch;	/* parser scratch, 16 KB */

/* ---- routing ------------------------------------------------------------- */

bool hx_pt_port(const struct sl_model *m, uint16_t port)
{
	for (size_t g = 0; m && g < m->ngateways; g++)
		for (size_t s = 0; s < m->gateways[g].nservers; s++)
			if (m->gateways[g].servers[s].port == port &&
			    sl_gw_server_is_passthrough(&m->gateways[g].servers[s]))
				return true;
	return false;
}

static bool server_admits(const struct sl_gateway *gw, uint16_t port, const char *sni, size_t len)
{
	for (size_t s = 0; s < gw->nservers; s++) {
		const struct sl_gateway_server *sv = &gw->servers[s];

		if (sv->port != port || !sl_gw_server_is_passthrough(sv))
			continue;
		for (size_t h = 0; h < sv->nhosts; h++)
			if (hx_host_match(sv->hosts[h], sni, len))
				return true;
	}
	return false;
}

int hx_pt_route(const struct sl_model *m, uint16_t port, const char *sni, size_t len,
		struct hx_pt_pick *out)
{
	if (!sni || !len)
		return -ENOENT;
	for (size_t g = 0; g < m->ngateways; g++) {
		const struct sl_gateway *gw = &m->gateways[g];

		if (!server_admits(gw, port, sni, len))
			continue;
		for (size_t v = 0; v < gw->nvhosts; v++) {
			const struct sl_vhost *vh = &m->vhosts[gw->vhosts[v]];

			for (size_t r = 0; r < vh->ntls; r++)
				for (size_t k = 0; k < vh->tls[r].nmatches; k++) {
					const struct sl_match *mt = &vh->tls[r].matches[k];

					if (mt->port && mt->port != port)
						continue;
					for (size_t h = 0; h < mt->nsni_hosts; h++) {
						if (!hx_host_match(mt->sni_hosts[h], sni, len))
							continue;
						*out = (struct hx_pt_pick){ .gw = gw, .vh = vh,
									    .rt = &vh->tls[r],
									    .sni_host = mt->sni_hosts[h] };
						return 0;
					}
				}
		}
	}
	return -ENOENT;
}

/* ---- life and death ------------------------------------------------------- */

static void flush_bytes(struct hx_pt *p)
{
	if (p->c2u.moved || p->u2c.moved)
		hx_metrics_pt_add(hx_worker_metrics(p->w), p->series, p->ep_series, 0, 0,
				  p->c2u.moved, p->u2c.moved);
	p->c2u.moved = p->u2c.moved = 0;
	p->last_flush = p->w->now;
}

static void end_close(struct hx_pt *p, struct pt_end *e, bool rst)
{
	if (e->fd < 0)
		return;
	if (rst) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(e->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	epoll_ctl(p->w->ep, EPOLL_CTL_DEL, e->fd, NULL);
	close(e->fd);
	e->fd = -1;
}

/* Close both ends (with RST when rst), give back the slots, count; the
 * memory goes at the next hx_pt_tick. */
static void pt_close(struct hx_pt *p, bool rst)
{
	if (p->cli.kind == HX_K_DEAD)
		return;
	end_close(p, &p->cli, rst);
	end_close(p, &p->up, rst);
	flush_bytes(p);
	if (p->opened)
		hx_metrics_pt_add(hx_worker_metrics(p->w), p->series, p->ep_series, 0, 1, 0, 0);
	if (p->counted) {
		struct hx_svc_state *ss = &p->snap->svc[p->svc];
		int slot = p->subset >= 0 ? p->subset : (int)p->snap->m->services[p->svc].nsubsets;

		__atomic_sub_fetch(&ss->subsets[slot].active, 1, __ATOMIC_RELAXED);
		if (p->ep >= 0)
			__atomic_sub_fetch(&ss->eps[p->ep].active, 1, __ATOMIC_RELAXED);
	}
	hx_snap_put(p->snap);
	p->snap = NULL;
	if (p->prev)
		p->prev->next = p->next;
	else
		pt_live = p->next;
	if (p->next)
		p->next->prev = p->prev;
	pt_n--;
	p->cli.kind = p->up.kind = HX_K_DEAD;
	p->next = pt_dead;
	pt_dead = p;
}

static void reject(struct hx_pt *p, enum hx_pt_reject why)
{
	hx_metrics_pt_reject(hx_worker_metrics(p->w), why);
	pt_close(p, false);
}

void hx_pt_accept(struct hx_worker *w, int fd, uint16_t port)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };
	struct hx_pt *p;
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (pt_n >= hx_cfg.max_conns || !(p = malloc(sizeof(*p)))) {
		hx_metrics_pt_reject(hx_worker_metrics(w), HX_PT_REJ_MAX_CONNS);
		close(fd);
		return;
	}
	/* the two 16-20 KB buffers are not cleared: their pages are touched
	 * (and count in RSS) only as bytes arrive. 1,000 connections that
	 * send nothing: 4.3 KB each, 8.3 KB with calloc on a fresh heap, and
	 * calloc clears all 37 KB of a reused one */
	memset(p, 0, offsetof(struct hx_pt, c2u_b));
	p->cli = (struct pt_end){ .kind = HX_K_PASSTHRU, .fd = fd, .pt = p };
	p->up = (struct pt_end){ .kind = HX_K_PASSTHRU, .fd = -1, .pt = p };
	p->w = w;
	p->port = port;
	p->state = PT_HELLO;
	p->need = 1;
	p->deadline = w->now + hx_cfg.tls_handshake_timeout_ms;
	p->last_active = p->last_flush = w->now;
	p->svc = p->subset = p->ep = -1;
	p->series = p->ep_series = -1;
	p->next = pt_live;
	if (pt_live)
		pt_live->prev = p;
	pt_live = p;
	pt_n++;
	ev.data.ptr = &p->cli;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		pt_close(p, false);
}

/* ---- upstream --------------------------------------------------------------- */

static void pump(struct hx_pt *p);

static void connect_failed(struct hx_pt *p)
{
	if (p->ep >= 0)
		hx_outlier_report(p->snap->m, p->snap->svc, (size_t)p->svc, p->subset, p->ep, 0,
				  p->w->now);
	reject(p, HX_PT_REJ_CONNECT);
}

static void connect_done(struct hx_pt *p)
{
	int err = 0;
	socklen_t l = sizeof(err);

	if (getsockopt(p->up.fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return;
	if (err) {
		connect_failed(p);
		return;
	}
	hx_outlier_report(p->snap->m, p->snap->svc, (size_t)p->svc, p->subset, p->ep, 200,
			  p->w->now);
	p->state = PT_RELAY;
	p->deadline = 0;
	p->opened = true;
	p->last_active = p->w->now;
	hx_metrics_pt_add(hx_worker_metrics(p->w), p->series, p->ep_series, 1, 0, 0, 0);
	pump(p);
}

/* Endpoint, socket, connect (the destination is chosen). */
static void connect_up(struct hx_pt *p)
{
	const struct sl_model *m = p->snap->m;
	const struct sl_service *s = &m->services[p->svc];
	const struct sl_conn_pool *pool = &hx_policy(m, (size_t)p->svc, p->subset)->pool;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };
	struct sockaddr_storage ss;
	socklen_t sl;
	int ep;
	uint16_t port;

	ep = hx_pick_endpoint(m, p->snap->svc, (size_t)p->svc, p->subset, false, 0,
			      hx_rand(p->w), p->w->now);
	if (ep < 0) {
		reject(p, HX_PT_REJ_NO_HEALTHY);
		return;
	}
	p->ep = ep;
	__atomic_add_fetch(&p->snap->svc[p->svc].eps[ep].active, 1, __ATOMIC_RELAXED);
	port = hx_endpoint_port(s, &s->endpoints[ep],
				hx_service_port(s, p->rt->dests[p->di].port, p->port));
	p->ep_series = hx_metrics_pt_endpoint(hx_worker_metrics(p->w), m, p->svc, p->subset,
					      s->endpoints[ep].ip.addr, port);
	p->up.fd = hx_up_socket(s->endpoints[ep].ip.addr, port, &ss, &sl);
	if (p->up.fd < 0) {
		p->up.fd = -1;
		connect_failed(p);
		return;
	}
	hx_up_keepalive(p->up.fd, pool);
	ev.data.ptr = &p->up;
	if (epoll_ctl(p->w->ep, EPOLL_CTL_ADD, p->up.fd, &ev) < 0) {
		connect_failed(p);
		return;
	}
	p->state = PT_CONNECT;
	p->deadline = p->w->now +
		      (pool->tcp_connect_timeout_ms ? pool->tcp_connect_timeout_ms : HX_PT_CONNECT_MS);
	if (connect(p->up.fd, (struct sockaddr *)&ss, sl) == 0)
		connect_done(p);
	else if (errno != EINPROGRESS)
		connect_failed(p);
}

/* The hello is whole and names sni: route, choose, connect. */
static void route(struct hx_pt *p, const struct hx_ch *ch)
{
	struct hx_worker *w = p->w;
	struct hx_pt_pick pick;
	const struct sl_traffic_policy *tp;
	struct hx_svc_state *ss;
	int32_t act;
	int slot;

	if (!w->snap || hx_pt_route(w->snap->m, p->port, ch->sni, ch->sni_len, &pick) < 0) {
		reject(p, HX_PT_REJ_NO_ROUTE);
		return;
	}
	p->snap = w->snap;
	hx_snap_ref(p->snap);
	p->rt = pick.rt;
	p->di = hx_pick_dest(p->rt, hx_rand(w));
	if (p->di < 0) {
		reject(p, HX_PT_REJ_NO_HEALTHY);
		return;
	}
	p->svc = (int)p->rt->dests[p->di].service;
	p->subset = p->rt->dests[p->di].subset;
	p->series = hx_metrics_pt_series(hx_worker_metrics(w), p->snap->m, pick.gw, pick.sni_host,
					 p->svc, p->subset);
	tp = hx_policy(p->snap->m, (size_t)p->svc, p->subset);
	ss = &p->snap->svc[p->svc];
	slot = p->subset >= 0 ? p->subset : (int)p->snap->m->services[p->svc].nsubsets;
	act = __atomic_add_fetch(&ss->subsets[slot].active, 1, __ATOMIC_RELAXED);
	p->counted = true;
	if (tp->pool.tcp_max_connections && (uint32_t)act > tp->pool.tcp_max_connections) {
		reject(p, HX_PT_REJ_OVERFLOW);
		return;
	}
	connect_up(p);
}

/* ---- the ClientHello ---------------------------------------------------------- */

static void hello_read(struct hx_pt *p)
{
	int rc;

	while (!p->cli.eof && p->c2u.len < sizeof(p->c2u_b)) {
		ssize_t n = hx_recv(p->cli.fd, p->c2u_b + p->c2u.len, sizeof(p->c2u_b) - p->c2u.len);

		if (n > 0) {
			p->c2u.len += (uint32_t)n;
		} else if (n == 0) {
			p->cli.eof = true;	/* passed on once relaying, if the hello is whole */
		} else if (errno == EAGAIN || errno == EINTR) {
			break;
		} else {
			reject(p, HX_PT_REJ_HELLO_CLOSED);
			return;
		}
	}
	if (p->c2u.len < p->need && !p->cli.eof)
		return;
	if (!pt_ch && !(pt_ch = malloc(sizeof(*pt_ch)))) {
		pt_close(p, false);
		return;
	}
	rc = hx_ch_parse(p->c2u_b, p->c2u.len, pt_ch);
	if (rc == HX_CH_MORE && !p->cli.eof) {
		p->need = (uint32_t)pt_ch->need;	/* <= HX_CH_RAW_MAX, the buffer's size */
		return;
	}
	if (rc == HX_CH_MORE)
		reject(p, HX_PT_REJ_HELLO_CLOSED);
	else if (rc != HX_CH_OK)
		reject(p, HX_PT_REJ_BAD_HELLO);
	else if (!pt_ch->has_sni)
		reject(p, HX_PT_REJ_NO_SNI);
	else
		route(p, pt_ch);
}

/* ---- relay -------------------------------------------------------------------- */

/* Move what src has sent towards dst through d (buffer b of cap bytes):
 * write what waits, read when there is room, pass an end of stream on.
 * -1 on a socket error (the connection is to be reset). */
static int dir_move(struct pt_end *src, struct pt_end *dst, struct pt_dir *d, uint8_t *b,
		    uint32_t cap, bool *progress)
{
	ssize_t n;

	while (d->off < d->len) {
		n = hx_send(dst->fd, b + d->off, d->len - d->off);
		if (n > 0) {
			d->off += (uint32_t)n;
			d->moved += (uint64_t)n;
			*progress = true;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			break;
		} else {
			return -1;
		}
	}
	if (d->off == d->len) {
		d->off = d->len = 0;
	} else if (d->len == cap && d->off) {
		memmove(b, b + d->off, d->len - d->off);
		d->len -= d->off;
		d->off = 0;
	}
	if (!src->eof && d->len < cap) {
		n = hx_recv(src->fd, b + d->len, cap - d->len);
		if (n > 0) {
			d->len += (uint32_t)n;
			*progress = true;
		} else if (n == 0) {
			src->eof = true;
			*progress = true;
		} else if (errno != EAGAIN && errno != EINTR) {
			return -1;
		}
	}
	if (src->eof && d->off == d->len && !dst->shut) {
		shutdown(dst->fd, SHUT_WR);
		dst->shut = true;
	}
	return 0;
}

static void pump(struct hx_pt *p)
{
	bool progress, any = false;

	do {
		progress = false;
		if (dir_move(&p->cli, &p->up, &p->c2u, p->c2u_b, sizeof(p->c2u_b), &progress) < 0 ||
		    dir_move(&p->up, &p->cli, &p->u2c, p->u2c_b, sizeof(p->u2c_b), &progress) < 0) {
			pt_close(p, true);
			return;
		}
		any |= progress;
	} while (progress);
	if (any)
		p->last_active = p->w->now;
	if (p->cli.shut && p->up.shut)
		pt_close(p, false);	/* both ways ended and delivered */
}

void hx_pt_event(void *ptr, uint32_t ev)
{
	struct pt_end *e = ptr;
	struct hx_pt *p = e->pt;

	switch (p->state) {
	case PT_HELLO:
		if (e == &p->cli)
			hello_read(p);
		break;
	case PT_CONNECT:
		if (e == &p->up && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			connect_done(p);
		/* client bytes wait in the socket: the relay reads on */
		break;
	case PT_RELAY:
		if (ev & EPOLLERR)
			pt_close(p, true);
		else
			pump(p);
		break;
	}
}

bool hx_pt_active(void)
{
	return pt_live != NULL;
}

void hx_pt_tick(struct hx_worker *w)
{
	struct hx_pt *p, *next;

	while (pt_dead) {
		p = pt_dead;
		pt_dead = p->next;
		free(p);
	}
	for (p = pt_live; p; p = next) {
		next = p->next;
		if (p->state == PT_HELLO && w->now >= p->deadline) {
			reject(p, HX_PT_REJ_HELLO_TIMEOUT);
		} else if (p->state == PT_CONNECT && w->now >= p->deadline) {
			connect_failed(p);
		} else if (p->state == PT_RELAY) {
			if (w->now - p->last_active >= HX_PT_IDLE_MS)
				pt_close(p, false);
			else if (w->now - p->last_flush >= BYTES_FLUSH_MS)
				flush_bytes(p);
		}
	}
}
