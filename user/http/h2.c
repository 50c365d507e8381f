/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 from clients on nghttp2 (h2.h). The session is fed from the
 * connection's input buffer and writes into its output buffer
 * (nghttp2_session_mem_recv / mem_send), so TLS, reading, writing and
 * flushing stay those of proxy.c.
 *
 * A stream's request is rewritten as HTTP/1.1 into its stream client's
 * input: "METHOD PATH HTTP/1.1", host from :authority (else host), the
 * cookie headers joined, the other headers as they came (nghttp2 has
 * checked names, values, pseudo-headers and connection-specific headers),
 * and the body as it came when content-length was sent, else chunked. The
 * strict HTTP/1.1 parser then checks it like any request. Its response is
 * parsed back from the stream client's output with the response parser and
 * sent as HEADERS (names lower-cased, connection headers dropped) and DATA.
 *
 * Flow control: the stream and connection windows are given back only as
 * the stream client consumes what was written to its input, and a stream's
 * unsent response is bounded (HX_H2_BODY_HIGH) before its client's output
 * is taken, so a client that does not read holds the upstream back as an
 * HTTP/1.1 one does. Rapid resets (CVE-2023-44487) are limited by nghttp2's
 * reset rate limit, CONTINUATION floods by its continuation limit.
 *
 * This file: the session and the requests; h2_resp.c: the responses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "http/h2_int.h"


static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

int hx_h2_sniff(const char *p, size_t n)
{
	size_t k = sizeof(h2_preface) - 1;

	if (memcmp(p, h2_preface, n < k ? n : k) != 0)
		return -1;
	return n >= k ? 1 : 0;
}

SSL *hx_cli_tls(const struct hx_cli *c)
{
	if (c->h2s && c->h2s->h)
		return c->h2s->h->c->ssl;
	return c->ssl;
}

int hx_h2_tick(struct hx_cli *c, uint64_t now)
{
	const struct hx_h2 *h = c->h2;
	const struct hx_h2s *s;

	if (!h)
		return 0;
	if (!h->nstreams)
		return now - h->quiet_since >= hx_cfg.idle_timeout_ms ? 1 : 0;
	for (s = h->streams; s; s = s->next)
		if (!s->started && now - s->t_open >= hx_cfg.header_timeout_ms)
			return 2;
	return 0;
}

/* The connection has frames to write: flush it, unless nghttp2 is calling
 * us (h2_recv and h2_fill flush when it returns). */
void hx_h2_kick(struct hx_h2 *h)
{
	if (!h->in_recv && !h->in_fill)
		hx_cli_flush_soon(h->c);
}

/* ---- requests --------------------------------------------------------------- */

static struct hx_h2s *stream_new(struct hx_h2 *h, int32_t id)
{
	struct hx_h2s *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->h = h;
	s->id = id;
	s->t_open = h->c->w->now;
	s->method = s->path = s->authority = s->host = -1;
	s->next = h->streams;
	if (h->streams)
		h->streams->prev = s;
	h->streams = s;
	h->nstreams++;
	return s;
}

static void stream_free(struct hx_h2s *s)
{
	struct hx_h2 *h = s->h;

	if (s->prev)
		s->prev->next = s->next;
	else
		h->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (--h->nstreams == 0)
		h->quiet_since = h->c->w->now;
	hx_buf_free(&s->hdrs);
	hx_buf_free(&s->cookie);
	hx_buf_free(&s->pseudo);
	hx_buf_free(&s->rbuf);
	hx_buf_free(&s->body);
	hx_buf_free(&s->trailers);
	free(s);
}

static int on_begin_headers(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct hx_h2 *h = ud;
	struct hx_h2s *s;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	/* a stream is a request in flight: it counts against --max-conns
	 * as an HTTP/1.1 connection does */
	if (h->c->w->nclis >= hx_cfg.max_conns) {
		nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, f->hd.stream_id,
					  NGHTTP2_REFUSED_STREAM);
		hx_metrics_h2(h->c->w->mx, HX_H2_REFUSED);
		return 0;
	}
	hx_metrics_h2(h->c->w->mx, HX_H2_STREAMS);
	s = stream_new(h, f->hd.stream_id);
	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	nghttp2_session_set_stream_user_data(sess, f->hd.stream_id, s);
	return 0;
}

static int32_t put_pseudo(struct hx_h2s *s, const uint8_t *v, size_t n)
{
	int32_t at = (int32_t)s->pseudo.len;

	hx_buf_put(&s->pseudo, v, n);
	hx_buf_put(&s->pseudo, "", 1);
	return at;
}

static int on_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
		     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct hx_h2s *s = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);

	(void)flags;
	(void)ud;
	if (!s || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;	/* refused stream, or trailers: not forwarded */
	if (s->hdrs.len + s->cookie.len + s->pseudo.len + nlen + vlen + 4 > HX_HEAD_MAX) {
		s->too_big = true;
		return 0;
	}
	if (nlen && name[0] == ':') {
		if (nlen == 7 && !memcmp(name, ":method", 7))
			s->method = put_pseudo(s, value, vlen);
		else if (nlen == 5 && !memcmp(name, ":path", 5))
			s->path = put_pseudo(s, value, vlen);
		else if (nlen == 10 && !memcmp(name, ":authority", 10))
			s->authority = put_pseudo(s, value, vlen);
		return 0;	/* :scheme, :protocol: nothing to carry */
	}
	if (nlen == 6 && !memcmp(name, "cookie", 6)) {
		/* RFC 9113 8.2.3: split cookies are joined for HTTP/1.1 */
		if (s->cookie.len)
			hx_buf_put(&s->cookie, "; ", 2);
		hx_buf_put(&s->cookie, value, vlen);
		return 0;
	}
	if (nlen == 14 && !memcmp(name, "content-length", 14))
		s->has_cl = true;
	if (nlen == 4 && !memcmp(name, "host", 4)) {
		s->host = (int32_t)s->hdrs.len + 6;
		s->host_len = (uint32_t)vlen;
	}
	hx_buf_put(&s->hdrs, name, nlen);
	hx_buf_put(&s->hdrs, ": ", 2);
	hx_buf_put(&s->hdrs, value, vlen);
	hx_buf_put(&s->hdrs, "\r\n", 2);
	return 0;
}

/* Give the windows back for what the stream client has taken in: of the
 * payload written to its input, at least all but what is still there. */
void hx_h2_stream_consume(struct hx_h2s *s)
{
	struct hx_cli *c = s->cli;
	uint64_t left = c ? c->in.len - c->in.off : 0, give;

	if (!s->unconsumed)
		return;
	give = s->unconsumed > left ? s->unconsumed - left : 0;
	if (!give)
		return;
	nghttp2_session_consume(s->h->sess, s->id, give);
	s->unconsumed -= give;
}

/* Run the stream client on what its input has; it may close (and detach). */
static void stream_pump(struct hx_h2s *s)
{
	struct hx_cli *c = s->cli;

	c->last_active = c->w->now;
	hx_cli_pump(c);
	hx_h2_stream_consume(s);
}

/* A local answer on a stream that never got a client. */
static void stream_reply(struct hx_h2s *s, int code)
{
	char st[8];
	nghttp2_nv nv[] = {
		{ (uint8_t *)":status", (uint8_t *)st, 7, 3, NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)"x-sluice-reason", (uint8_t *)"bad-request", 15, 11,
		  NGHTTP2_NV_FLAG_NONE },
	};

	snprintf(st, sizeof(st), "%03d", code);
	nghttp2_submit_response(s->h->sess, s->id, nv, 2, NULL);
}

/* The request's head is complete: make its stream client and start it. */
static int stream_start(struct hx_h2s *s, bool end)
{
	struct hx_cli *pc = s->h->c, *c;
	struct hx_worker *w = pc->w;
	struct hx_buf *in;

	s->started = true;
	if (s->too_big || s->method < 0 ||
	    (s->path < 0 && strcmp(s->pseudo.p + s->method, "CONNECT"))) {
		stream_reply(s, s->too_big ? 431 : 400);
		return 0;
	}
	if (s->authority < 0 && s->host < 0) {
		stream_reply(s, 400);	/* HTTP/1.1 requires a host */
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	c->kind = HX_K_CLIENT;
	c->fd = -1;
	c->w = w;
	c->h2s = s;
	c->gateway = pc->gateway;
	c->entry_port = pc->entry_port;
	memcpy(c->peer, pc->peer, 16);
	c->peer_port = pc->peer_port;
	c->workload = pc->workload;
	c->has_orig = pc->has_orig;
	memcpy(c->vip, pc->vip, 16);
	c->vip_port = pc->vip_port;
	c->svc = c->subset = c->ep = -1;
	c->last_active = c->head_start = w->now;
	c->close_after = true;	/* one request per stream */
	c->rd_blocked = true;	/* no socket: input comes from the stream */
	hx_cli_link(w, c);
	s->cli = c;
	hx_h2_resp_reset(s, false);

	in = &c->in;
	hx_buf_puts(in, s->pseudo.p + s->method);
	hx_buf_put(in, " ", 1);
	hx_buf_puts(in, s->path >= 0 ? s->pseudo.p + s->path : "/");
	hx_buf_puts(in, " HTTP/1.1\r\n");
	if (s->authority >= 0) {
		hx_buf_puts(in, "host: ");
		hx_buf_puts(in, s->pseudo.p + s->authority);
		hx_buf_put(in, "\r\n", 2);
		if (s->host >= 0) {
			/* both: :authority wins (RFC 9113 8.3.1), the host
			 * line is dropped */
			size_t at = (size_t)s->host - 6, to = (size_t)s->host + s->host_len + 2;

			hx_buf_put(in, s->hdrs.p, at);
			hx_buf_put(in, s->hdrs.p + to, s->hdrs.len - to);
		} else {
			hx_buf_put(in, s->hdrs.p, s->hdrs.len);
		}
	} else {
		hx_buf_put(in, s->hdrs.p, s->hdrs.len);
	}
	if (s->cookie.len) {
		hx_buf_puts(in, "cookie: ");
		hx_buf_put(in, s->cookie.p, s->cookie.len);
		hx_buf_put(in, "\r\n", 2);
	}
	/* a body without content-length goes in chunked; nghttp2 checks the
	 * DATA against a content-length the client sent */
	if (!end && !s->has_cl) {
		hx_buf_puts(in, "transfer-encoding: chunked\r\n");
		s->chunked = true;
	}
	hx_buf_put(in, "\r\n", 2);
	hx_buf_free(&s->hdrs);
	hx_buf_free(&s->cookie);
	hx_buf_free(&s->pseudo);
	s->req_end = end;
	stream_pump(s);
	return 0;
}

static void stream_end(struct hx_h2s *s)
{
	if (s->req_end)
		return;
	s->req_end = true;
	if (s->cli && s->chunked) {
		hx_buf_puts(&s->cli->in, "0\r\n\r\n");
		stream_pump(s);
	}
}

static int on_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct hx_h2s *s = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;

	(void)ud;
	if (!s)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS) {
		if (f->headers.cat == NGHTTP2_HCAT_REQUEST)
			return stream_start(s, end);
		if (end)
			stream_end(s);	/* trailers close the request */
	} else if (f->hd.type == NGHTTP2_DATA && end) {
		stream_end(s);
	} else if (f->hd.type == NGHTTP2_RST_STREAM) {
		hx_metrics_h2(s->h->c->w->mx, HX_H2_RESET);	/* before the response's end */
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *ud)
{
	struct hx_h2s *s = nghttp2_session_get_stream_user_data(sess, id);
	struct hx_cli *c = s ? s->cli : NULL;

	(void)flags;
	(void)ud;
	if (!c) {
		nghttp2_session_consume(sess, id, len);	/* nobody reads it */
		return 0;
	}
	if (s->chunked) {
		char sz[24];

		hx_buf_put(&c->in, sz, (size_t)snprintf(sz, sizeof(sz), "%zx\r\n", len));
		hx_buf_put(&c->in, data, len);
		hx_buf_put(&c->in, "\r\n", 2);
	} else {
		hx_buf_put(&c->in, data, len);
	}
	s->unconsumed += len;
	stream_pump(s);
	return 0;
}

/* Detach stream client c from its stream without touching the session. */
void hx_h2_unlink_cli(struct hx_cli *c)
{
	struct hx_h2s *s = c->h2s;

	c->h2s = NULL;
	if (s)
		s->cli = NULL;
}

static int on_stream_close(nghttp2_session *sess, int32_t id, uint32_t err, void *ud)
{
	struct hx_h2s *s = nghttp2_session_get_stream_user_data(sess, id);

	(void)err;
	(void)ud;
	if (!s)
		return 0;
	s->closed = true;
	if (s->cli) {
		struct hx_cli *c = s->cli;

		/* reset by the client, or done: the request goes with it */
		hx_h2_unlink_cli(c);
		c->closing = true;
		hx_cli_close(c);
	}
	nghttp2_session_set_stream_user_data(sess, id, NULL);
	stream_free(s);
	return 0;
}

/* ---- the connection ------------------------------------------------------- */

static int on_frame_send(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct hx_h2 *h = ud;

	(void)sess;
	if (f->hd.type == NGHTTP2_GOAWAY)
		hx_metrics_h2_goaway(h->c->w->mx, f->goaway.error_code);
	return 0;
}

int hx_h2_start(struct hx_cli *c)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	struct hx_h2 *h = calloc(1, sizeof(*h));
	nghttp2_settings_entry set[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, HX_H2_MAX_STREAMS },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, HX_HEAD_MAX },
	};
	int r;

	if (!h)
		return -ENOMEM;
	if (nghttp2_session_callbacks_new(&cb) != 0) {
		free(h);
		return -ENOMEM;
	}
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cb);
		free(h);
		return -ENOMEM;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_stream_reset_rate_limit(opt, HX_H2_RESET_BURST, HX_H2_RESET_RATE);
	r = nghttp2_session_server_new2(&h->sess, cb, h, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	if (r != 0) {
		free(h);
		return -ENOMEM;
	}
	nghttp2_submit_settings(h->sess, NGHTTP2_FLAG_NONE, set, sizeof(set) / sizeof(set[0]));
	h->c = c;
	h->quiet_since = c->w->now;
	c->h2 = h;
	c->state = CS_H2;
	hx_metrics_h2(c->w->mx, HX_H2_CONNS);
	c->in.off = 0;
	return 0;
}

/* Streams whose buffer made room while frames were sent take more of
 * their client's output; a client that has given all it had and is done
 * closes. */
static void pull_streams(struct hx_h2 *h)
{
	struct hx_h2s *s, *next;

	h->pull_pending = false;
	for (s = h->streams; s; s = next) {
		struct hx_cli *c = s->cli;

		next = s->next;
		if (!s->want_pull || !c)
			continue;
		hx_cli_flush(c);
		if ((c->closing || (c->close_after && c->state == CS_HEAD)) && c->out.len == 0)
			hx_cli_close(c);
	}
}

size_t hx_h2_fill(struct hx_cli *c)
{
	struct hx_h2 *h = c->h2;
	size_t made = 0;

	if (!h || h->in_recv || h->in_fill)
		return 0;
	h->in_fill = true;
	while (c->out.len - c->out.off < HX_OUT_HIGH) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(h->sess, &data);

		if (n < 0) {
			c->closing = true;
			break;
		}
		if (n == 0) {
			if (!h->pull_pending)
				break;
			pull_streams(h);
			continue;
		}
		hx_buf_put(&c->out, data, (size_t)n);
		made += (size_t)n;
	}
	h->in_fill = false;
	if (!nghttp2_session_want_read(h->sess) && !nghttp2_session_want_write(h->sess))
		c->closing = true;	/* GOAWAY exchanged, or a fatal error */
	return made;
}

int hx_h2_recv(struct hx_cli *c)
{
	struct hx_h2 *h = c->h2;
	ssize_t n;

	h->in_recv = true;
	n = nghttp2_session_mem_recv(h->sess, (const uint8_t *)c->in.p + c->in.off,
				     c->in.len - c->in.off);
	h->in_recv = false;
	c->in.off = c->in.len = 0;
	if (n < 0)
		return -1;
	return 0;
}

void hx_h2_free(struct hx_cli *c)
{
	struct hx_h2 *h = c->h2;

	if (!h)
		return;
	while (h->streams) {
		struct hx_h2s *s = h->streams;
		struct hx_cli *sc = s->cli;

		if (sc) {
			hx_h2_unlink_cli(sc);
			sc->closing = true;
			hx_cli_close(sc);
		}
		stream_free(s);
	}
	nghttp2_session_del(h->sess);
	free(h);
	c->h2 = NULL;
}
