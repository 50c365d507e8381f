/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upstream side: endpoint choice, the response relay, retries and
 * time-outs (the per-worker connection pool: pool.c; HTTP/2 upstreams:
 * upstream_h2.c).
 *
 * Retries (VirtualService retries): none unless configured. A try is retried
 * while attempts remain, the route timeout has not passed, no response byte
 * went to the client, the request bytes were all kept (HX_REPLAY_MAX), the
 * method is idempotent or retryOn has `non-idempotent`, and the failure is
 * in retryOn: `connect-failure` (refused/unreachable/connect timeout),
 * `reset` (closed before a response head), `5xx` (any 5xx, resets, connect
 * failures and per-try time-outs), `gateway-error` (502/503/504, resets,
 * connect failures, per-try time-outs), `retriable-4xx` (409). retryOn empty
 * means Istio's default: connect-failure, refused-stream and 503. Each retry
 * picks an endpoint again inside the same subset.
 *
 * Independently of retries, a request sent on a pooled keep-alive connection
 * that the backend had already closed (reset before any response byte) is
 * resent once on a fresh connection when the method is idempotent: that
 * race is ours, not the user's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "http/proxy.h"
#include "sluice/abi.h"

#define HX_CONNECT_TIMEOUT_MS	10000

enum fail_kind { FAIL_CONNECT, FAIL_RESET, FAIL_TIMEOUT };

static void finish(struct hx_cli *c)
{
	hx_cli_request_done(c);
	hx_cli_pump(c);		/* may free c */
}

static void reply(struct hx_cli *c, int code, const char *reason)
{
	hx_cli_local_reply(c, code, "x-sluice-reason", reason);
	hx_cli_pump(c);		/* may free c */
}

/* ---- dispatch ---------------------------------------------------------------- */

static void set_deadline(struct hx_cli *c, uint64_t connect_dl)
{
	uint64_t d = 0;

	if (c->req_deadline)
		d = c->req_deadline;
	if (c->try_deadline && (!d || c->try_deadline < d))
		d = c->try_deadline;
	if (connect_dl && (!d || connect_dl < d))
		d = connect_dl;
	c->deadline = d;
}

static uint32_t pool_limit(const struct sl_conn_pool *p)
{
	uint32_t lim = 0, l2;

	if (p->http2_max_requests)
		lim = p->http2_max_requests;
	if (p->tcp_max_connections || p->http1_max_pending) {
		l2 = (p->tcp_max_connections ? p->tcp_max_connections : 1024) +
		     (p->http1_max_pending ? p->http1_max_pending : 1024);
		if (!lim || l2 < lim)
			lim = l2;
	}
	return lim;
}

static void try_failed(struct hx_cli *c, enum fail_kind kind);

/*
 * Contract: start (or restart, on retry) the current request's try. On a
 * local answer (overflow, no healthy endpoint, failure without retry) the
 * request is finished here and -1 returned; the client may then be gone.
 */
int hx_up_dispatch(struct hx_cli *c)
{
	struct hx_worker *w = c->w;
	const struct sl_model *m = c->snap->m;
	const struct sl_service *s = &m->services[c->svc];
	const struct sl_traffic_policy *tp = hx_policy(m, (size_t)c->svc, c->subset);
	struct hx_svc_state *ss = &c->snap->svc[c->svc];
	int slot = c->subset >= 0 ? c->subset : (int)s->nsubsets, ep, err;
	const struct sl_endpoint *e;
	uint16_t port;
	struct hx_up *u;

	if (!c->counted) {
		uint32_t lim = pool_limit(&tp->pool);
		int32_t act = __atomic_add_fetch(&ss->subsets[slot].active, 1, __ATOMIC_RELAXED);

		if (lim && (uint32_t)act > lim) {
			__atomic_sub_fetch(&ss->subsets[slot].active, 1, __ATOMIC_RELAXED);
			hx_cli_local_reply(c, 503, "x-sluice-overflow", "1");
			if (!c->closing)
				hx_cli_pump(c);
			return -1;
		}
		c->counted = true;
		c->ep = -1;
		c->req_deadline = c->rt->timeout_ms ? w->now + c->rt->timeout_ms : 0;
	}
	ep = hx_pick_endpoint(m, c->snap->svc, (size_t)c->svc, c->subset, c->has_hash, c->hash,
			      hx_rand(w), w->now);
	if (ep < 0) {
		reply(c, 503, "no-healthy-upstream");
		return -1;
	}
	if (c->ep >= 0)
		__atomic_sub_fetch(&ss->eps[c->ep].active, 1, __ATOMIC_RELAXED);
	c->ep = ep;
	__atomic_add_fetch(&ss->eps[ep].active, 1, __ATOMIC_RELAXED);
	e = &s->endpoints[ep];
	port = hx_endpoint_port(s, e, c->dest_port);
	c->try_deadline = c->rt->retries.per_try_timeout_ms ?
			  w->now + c->rt->retries.per_try_timeout_ms : 0;
	u = hx_up_get(w, e->ip.addr, port, hx_port_h2(s, c->dest_port), &err);
	if (!u) {
		try_failed(c, FAIL_CONNECT);
		return -1;
	}
	if (!u->reused)
		hx_up_keepalive(u->fd, &tp->pool);
	u->cli = c;
	c->up = u;
	if (u->h2)
		hx_uh2_begin(u);
	c->trailers.len = 0;
	llhttp_init(&u->parser, HTTP_RESPONSE, &hx_resp_settings);
	hx_head_reset(&u->head);
	u->head.skip_body = c->is_head;
	u->in.len = u->in.off = 0;
	c->rq.off = 0;
	set_deadline(c, u->connected ? 0 :
		     w->now + (tp->pool.tcp_connect_timeout_ms ? tp->pool.tcp_connect_timeout_ms :
			       HX_CONNECT_TIMEOUT_MS));
	if (u->connected)
		hx_up_send_soon(u);
	return 0;
}

/* Send what the request has for the upstream. Sent bytes are dropped only
 * once the request is no longer replayable. */
void hx_up_send(struct hx_up *u)
{
	struct hx_cli *c = u->cli;

	if (!c || !u->connected)
		return;
	if (u->h2) {
		if (hx_uh2_send(u) < 0)
			shutdown(u->fd, SHUT_RDWR);	/* the read side reports the reset */
		if (!c->replayable && c->rq.off == c->rq.len)
			c->rq.off = c->rq.len = 0;
		return;
	}
	while (c->rq.off < c->rq.len) {
		ssize_t n = hx_send(u->fd, c->rq.p + c->rq.off, c->rq.len - c->rq.off);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return;	/* the read side reports the reset */
		}
		c->rq.off += (uint32_t)n;
	}
	if (!c->replayable && c->rq.off == c->rq.len)
		c->rq.off = c->rq.len = 0;
}

/* hx_up_send, at the end of the event batch when inside one (see
 * hx_cli_flush_soon). */
void hx_up_send_soon(struct hx_up *u)
{
	struct hx_worker *w = u->w;

	if (!w->in_batch) {
		hx_up_send(u);
		return;
	}
	if (!u->send_queued) {
		u->send_queued = true;
		u->send_next = NULL;
		*(w->send_q ? w->send_qt : &w->send_q) = u;
		w->send_qt = &u->send_next;
	}
}

static uint32_t retry_bits(const struct sl_route *rt)
{
	uint32_t b = rt->retries.retry_on;

	if (!b)
		b = SL_RETRY_CONNECT_FAILURE | SL_RETRY_REFUSED_STREAM;
	return b;
}

/* May this request try again? connectionPool.http.maxRetries bounds the
 * retries in flight for the subset (Envoy's retry circuit breaker). A gRPC
 * status retryOn names retries any method (gRPC calls are POSTs; the
 * server refused the call before answering it). */
static bool may_retry(struct hx_cli *c, bool any_method)
{
	const struct sl_conn_pool *cp = &hx_policy(c->snap->m, (size_t)c->svc, c->subset)->pool;
	struct hx_svc_state *ss = &c->snap->svc[c->svc];
	int slot = c->subset >= 0 ? c->subset : (int)c->snap->m->services[c->svc].nsubsets;

	if (!c->replayable || c->resp_started || c->tries_left == 0)
		return false;
	if (c->req_deadline && c->w->now >= c->req_deadline)
		return false;
	if (!c->idempotent && !any_method && !(retry_bits(c->rt) & SL_RETRY_NON_IDEMPOTENT))
		return false;
	if (cp->max_retries && !c->retry_counted) {
		if (__atomic_add_fetch(&ss->subsets[slot].retries, 1, __ATOMIC_RELAXED) >
		    (int32_t)cp->max_retries) {
			__atomic_sub_fetch(&ss->subsets[slot].retries, 1, __ATOMIC_RELAXED);
			return false;
		}
		c->retry_counted = true;
	}
	return true;
}

static bool status_retryable(struct hx_cli *c, int st)
{
	uint32_t b = retry_bits(c->rt);

	if (!c->rt->retries.retry_on && st == 503)
		return true;
	if ((b & SL_RETRY_5XX) && st >= 500)
		return true;
	if ((b & SL_RETRY_GATEWAY_ERROR) && (st == 502 || st == 503 || st == 504))
		return true;
	if ((b & SL_RETRY_RETRIABLE_4XX) && st == 409)
		return true;
	return false;
}

/* A trailers-only gRPC answer (its grpc-status in the head) with a status
 * retryOn names. */
static bool grpc_retryable(struct hx_cli *c, const struct hx_up *u)
{
	static const struct { int code; uint32_t bit; } codes[] = {
		{ 1, SL_RETRY_GRPC_CANCELLED },		{ 4, SL_RETRY_GRPC_DEADLINE_EXCEEDED },
		{ 8, SL_RETRY_GRPC_RESOURCE_EXHAUSTED },	{ 13, SL_RETRY_GRPC_INTERNAL },
		{ 14, SL_RETRY_GRPC_UNAVAILABLE },
	};
	const uint32_t any = SL_RETRY_GRPC_CANCELLED | SL_RETRY_GRPC_DEADLINE_EXCEEDED |
			     SL_RETRY_GRPC_RESOURCE_EXHAUSTED | SL_RETRY_GRPC_INTERNAL |
			     SL_RETRY_GRPC_UNAVAILABLE;
	uint32_t b = retry_bits(c->rt);
	int k = b & any ? hx_head_find(&u->head, u->in.p, "grpc-status", 0) : -1, st;
	size_t i;

	if (k < 0)
		return false;
	st = atoi(u->in.p + u->head.hdrs[k].value.off);
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == st && (b & codes[i].bit))
			return true;
	return false;
}

static void drop_up(struct hx_cli *c)
{
	if (c->up) {
		c->up->cli = NULL;
		hx_up_release(c->up, false);
		c->up = NULL;
	}
}

/* A try ended without a response head. Retry when allowed, else answer. */
static void try_failed(struct hx_cli *c, enum fail_kind kind)
{
	uint32_t b = retry_bits(c->rt), want;
	bool reused = c->up && c->up->reused;

	drop_up(c);
	if (kind == FAIL_RESET && reused && c->reuse_retry && c->replayable && c->idempotent &&
	    !c->resp_started) {
		c->reuse_retry = 0;
		hx_up_dispatch(c);
		return;
	}
	hx_outlier_report(c->snap->m, c->snap->svc, (size_t)c->svc, c->subset, c->ep, 0,
			  c->w->now);
	want = SL_RETRY_5XX | SL_RETRY_GATEWAY_ERROR;
	if (kind == FAIL_CONNECT)
		want |= SL_RETRY_CONNECT_FAILURE;
	if (kind == FAIL_RESET)
		want |= SL_RETRY_RESET;
	if ((b & want) && may_retry(c, false)) {
		c->tries_left--;
		hx_up_dispatch(c);
		return;
	}
	if (kind == FAIL_TIMEOUT)
		reply(c, 504, "upstream-timeout");
	else if (kind == FAIL_CONNECT)
		reply(c, 502, "upstream-connect-failure");
	else
		reply(c, 502, "upstream-reset");
}

/* A client deadline passed while its request is with an upstream. */
void hx_up_timeout(struct hx_cli *c)
{
	uint64_t now = c->w->now;

	if (c->resp_started) {
		c->deadline = 0;
		return;
	}
	if (c->req_deadline && now >= c->req_deadline) {
		drop_up(c);
		hx_outlier_report(c->snap->m, c->snap->svc, (size_t)c->svc, c->subset, c->ep, 0,
				  now);
		c->close_after = c->close_after || !c->body_done;
		reply(c, 504, "upstream-timeout");
		return;
	}
	if (c->try_deadline && now >= c->try_deadline) {
		try_failed(c, FAIL_TIMEOUT);
		return;
	}
	if (c->up && !c->up->connected) {
		try_failed(c, FAIL_CONNECT);
		return;
	}
	set_deadline(c, 0);
}

/* ---- response ------------------------------------------------------------------ */

/* The response head is in: retry it away, or relay it. Returns false when
 * the try was abandoned (c may be gone). */
static bool on_resp_head(struct hx_up *u)
{
	struct hx_cli *c = u->cli;
	struct hx_buf *o = &c->out;
	int st = u->parser.status_code;
	uint32_t before;
	char line[64];

	hx_outlier_report(c->snap->m, c->snap->svc, (size_t)c->svc, c->subset, c->ep, st,
			  c->w->now);
	if ((status_retryable(c, st) && may_retry(c, false)) ||
	    (grpc_retryable(c, u) && may_retry(c, true))) {
		c->tries_left--;
		drop_up(c);
		hx_up_dispatch(c);
		return false;
	}
	if (!c->is_head && st != 204 && st != 304 &&
	    !(u->parser.flags & (F_CHUNKED | F_CONTENT_LENGTH)))
		c->close_after = true;	/* body ends at upstream EOF */
	if (!c->body_done)
		c->close_after = true;
	/* llhttp gives 100..999; no printf per response */
	before = o->len;
	memcpy(line, "HTTP/1.1 000 ", 13);
	line[9] = (char)('0' + st / 100 % 10);
	line[10] = (char)('0' + st / 10 % 10);
	line[11] = (char)('0' + st % 10);
	hx_buf_put(o, line, 13);
	hx_buf_put(o, u->in.p + u->head.status.off, u->head.status.len);
	hx_buf_put(o, "\r\n", 2);
	hx_copy_headers(o, &u->head, u->in.p, &c->rt->resp_headers, false);
	if (c->set_cookie[0])
		hx_buf_puts(o, c->set_cookie);
	if (c->close_after)
		hx_buf_puts(o, "connection: close\r\n");
	else if (c->http10)
		hx_buf_puts(o, "connection: keep-alive\r\n");
	hx_buf_put(o, "\r\n", 2);
	/* the head as sent (the buffer only grows while it is written) */
	c->tx_bytes += o->len - before;
	c->resp_started = true;
	c->status = st;
	c->deadline = 0;
	u->in.off = u->head.head_len;
	return true;
}

static void on_resp_complete(struct hx_up *u)
{
	struct hx_cli *c = u->cli;
	const struct sl_conn_pool *cp = &hx_policy(c->snap->m, (size_t)c->svc, c->subset)->pool;
	/* an HTTP/1.0 request went up as 1.0: the backend will close even if
	 * its answer does not say so */
	bool reuse = llhttp_should_keep_alive(&u->parser) && u->in.off == u->in.len &&
		     c->body_done && c->rq.off == c->rq.len && !c->http10;

	u->nreqs++;
	if (cp->max_requests_per_conn && u->nreqs >= cp->max_requests_per_conn)
		reuse = false;
	u->idle_limit_ms = cp->idle_timeout_ms ? cp->idle_timeout_ms : 60000;

	c->up = NULL;
	hx_up_release(u, reuse);
	finish(c);
}

/* Relay body bytes from u->in to the client, raw, as llhttp delimits them. */
static int relay_body(struct hx_up *u)
{
	struct hx_cli *c = u->cli;
	const char *start = u->in.p + u->in.off;
	size_t n = u->in.len - u->in.off, used;
	enum llhttp_errno e;

	/* n may be 0: a body-less response (HEAD, 204, 304, Content-Length:
	 * 0) completes when llhttp runs past its head, with no byte to feed */
	u->head.base = u->in.p;
	e = llhttp_execute(&u->parser, start, n);
	if (e == HPE_OK) {
		used = n;
	} else if (e == HPE_PAUSED && u->head.msg_done) {
		used = (size_t)(llhttp_get_error_pos(&u->parser) - start);
		llhttp_resume(&u->parser);
	} else {
		return -EBADMSG;
	}
	hx_buf_put(&c->out, start, used);
	c->tx_bytes += used;
	u->in.off += (uint32_t)used;
	return u->head.msg_done ? 1 : 0;
}

/* Read and relay until the socket is drained, the client is full or the
 * response ends; every exit leaves c alive or freed, never half-done. */
static void up_readable(struct hx_up *u, bool hup)
{
	struct hx_cli *c = u->cli;
	bool eof = false, drained = false;
	int r;

	for (;;) {
		if (!u->head.done && u->in.len > u->in.off) {
			r = hx_head_feed(&u->parser, &u->head, u->in.p, u->in.off, u->in.len);
			u->in.off = u->in.len;
			if (r < 0) {
				if (u->reused && c->reuse_retry && c->idempotent && c->replayable) {
					/* stale bytes on a pooled connection (a broken
					 * backend's extra body): resend on a fresh one */
					try_failed(c, FAIL_RESET);
					return;
				}
				drop_up(c);
				reply(c, 502, "bad-upstream-response");
				return;
			}
			if (r == 1 && u->parser.status_code < 200) {
				/* 1xx interim: drop it, parse what follows */
				u->in.off = u->head.head_len;
				hx_buf_compact(&u->in);
				llhttp_init(&u->parser, HTTP_RESPONSE, &hx_resp_settings);
				hx_head_reset(&u->head);
				u->head.skip_body = c->is_head;
				continue;
			}
			if (r == 1 && !on_resp_head(u))
				return;
		}
		if (u->head.done) {
			r = relay_body(u);
			if (r < 0) {
				c->close_after = true;
				c->closing = true;
				drop_up(c);
				hx_cli_pump(c);
				return;
			}
			if (r == 1) {
				on_resp_complete(u);
				return;
			}
		}
		if (eof) {
			if (!u->head.done) {
				try_failed(c, FAIL_RESET);
			} else if (llhttp_finish(&u->parser) == HPE_OK && u->head.msg_done) {
				c->close_after = true;
				on_resp_complete(u);
			} else {
				c->closing = true;
				drop_up(c);
				hx_cli_pump(c);
			}
			return;
		}
		if (drained) {
			/* more of this response is due: ACK now, so a backend
			 * that wrote it in pieces is not held by Nagle against
			 * our delayed ACK (40 ms per response) */
			int one = 1;

			setsockopt(u->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
			hx_cli_flush(c);
			return;
		}
		if (c->out.len - c->out.off >= HX_OUT_HIGH) {
			hx_cli_flush(c);
			if (c->out.len - c->out.off >= HX_OUT_HIGH) {
				u->rd_blocked = true;
				return;
			}
		}
		if (u->head.done && u->in.off > 0)
			hx_buf_compact(&u->in);
		if (hx_buf_reserve(&u->in, 16384) < 0) {
			eof = true;
			continue;
		}
		{
			uint32_t room = u->in.cap - u->in.len;
			ssize_t n;

			if (u->h2) {
				/* the response comes as HTTP/1.1 into u->in */
				n = hx_uh2_recv(u);
				if (n > 0)
					drained = false;
				else if (n == 0)
					eof = true;
				else
					drained = true;
				continue;
			}
			n = hx_recv(u->fd, u->in.p + u->in.len, room);
			if (n > 0) {
				u->in.len += (uint32_t)n;
				drained = (uint32_t)n < room && !hup;
			} else if (n == 0) {
				eof = true;
			} else if (errno == EAGAIN || errno == EINTR) {
				drained = true;
			} else {
				eof = true;
			}
		}
	}
}

void hx_up_resume_read(struct hx_up *u)
{
	u->rd_blocked = false;
	if (u->cli)
		up_readable(u, false);
}

void hx_up_event(struct hx_up *u, uint32_t ev)
{
	struct hx_cli *c = u->cli;

	if (u->mirror) {
		hx_mirror_event(u, ev);
		return;
	}
	if (!c) {
		hx_pool_idle_event(u, ev);
		return;
	}
	if (!u->connected && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err ||
		    (ev & (EPOLLERR | EPOLLHUP))) {
			try_failed(c, FAIL_CONNECT);
			return;
		}
		u->connected = true;
		set_deadline(c, 0);
	}
	if (ev & EPOLLOUT) {
		hx_up_send(u);
		if (c->state == CS_BODY && c->rq.len - c->rq.off < HX_REPLAY_MAX) {
			hx_cli_pump(c);	/* may close c and release u (freed after the batch) */
			if (u->kind == HX_K_DEAD || u->cli != c || c->kind == HX_K_DEAD)
				return;
		}
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		if (u->rd_blocked)
			return;
		up_readable(u, (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
	}
}
