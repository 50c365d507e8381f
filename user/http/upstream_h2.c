/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 to upstreams (prior knowledge, cleartext) on nghttp2, for service
 * ports whose protocol is HTTP2 or GRPC (appProtocol http2, grpc,
 * kubernetes.io/h2c, or the port name's prefix). The request path above
 * stays HTTP/1.1 (upstream.c): the request bytes the proxy built for the
 * try (c->rq) are parsed back and submitted as a stream, and the stream's
 * response is written into the connection's input (u->in) as an HTTP/1.1
 * message, chunked, which upstream.c then parses, retries and relays as
 * any other. Response trailers (gRPC's grpc-status) do not fit that
 * message: they are kept on the client (c->trailers) for h2.c to send as
 * the stream's trailers, and for the metrics.
 *
 * One stream at a time per connection; a connection goes back to the pool
 * between requests like an HTTP/1.1 one, and while idle its connection
 * frames are answered (hx_uh2_idle).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "http/h2.h"
#include "http/proxy.h"

#define HX_UH2_BODY_HIGH	65536	/* request body taken ahead of the stream window */

struct hx_uh2 {
	nghttp2_session *sess;
	struct hx_up *u;
	struct hx_buf out;	/* frames not yet written */
	/* the request of the current try */
	llhttp_t qp;
	struct hx_head qh;
	struct hx_buf body;	/* request payload not yet in DATA */
	int32_t sid;		/* 0 = not submitted */
	bool head_done, req_eof, deferred;
	/* its response */
	bool resp_head, resp_chunked, resp_end, reset;
	int status;
};

/* The request payload as llhttp parsed it, for DATA. */
static void body_cb(void *ctx, const char *at, size_t len)
{
	struct hx_uh2 *h = ctx;

	hx_buf_put(&h->body, at, len);
}

static ssize_t req_data(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t len,
			uint32_t *dflags, nghttp2_data_source *src, void *ud)
{
	struct hx_uh2 *h = src->ptr;
	size_t have = h->body.len - h->body.off, n = have < len ? have : len;

	(void)sess;
	(void)id;
	(void)ud;
	memcpy(buf, h->body.p + h->body.off, n);
	h->body.off += (uint32_t)n;
	if (h->body.off == h->body.len)
		h->body.off = h->body.len = 0;
	if (h->body.len == h->body.off && h->req_eof) {
		*dflags |= NGHTTP2_DATA_FLAG_EOF;
		return (ssize_t)n;
	}
	if (!n) {
		h->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

/* ---- responses: HTTP/2 in, HTTP/1.1 into u->in ---------------------------- */

static bool is_conn_header(const uint8_t *n, size_t l)
{
	return (l == 14 && !memcmp(n, "content-length", 14)) ||	/* re-framed */
	       (l == 17 && !memcmp(n, "transfer-encoding", 17)) ||
	       (l == 10 && !memcmp(n, "connection", 10));
}

static int on_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
		     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct hx_uh2 *h = ud;
	struct hx_up *u = h->u;

	(void)sess;
	(void)flags;
	if (f->hd.stream_id != h->sid || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (h->resp_head) {
		/* trailers: kept for the client (h2.c sends them on) */
		if (u->cli && nlen && name[0] != ':') {
			hx_buf_put(&u->cli->trailers, name, nlen);
			hx_buf_put(&u->cli->trailers, ": ", 2);
			hx_buf_put(&u->cli->trailers, value, vlen);
			hx_buf_put(&u->cli->trailers, "\r\n", 2);
		}
		return 0;
	}
	if (nlen == 7 && !memcmp(name, ":status", 7)) {
		char line[32];

		h->status = vlen == 3 ? atoi((const char *)value) : 0;
		if (h->status < 100 || h->status > 999)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		hx_buf_put(&u->in, line, (size_t)snprintf(line, sizeof(line), "HTTP/1.1 %03d %s\r\n",
							   h->status, hx_reason(h->status)));
		return 0;
	}
	if ((nlen && name[0] == ':') || is_conn_header(name, nlen))
		return 0;
	hx_buf_put(&u->in, name, nlen);
	hx_buf_put(&u->in, ": ", 2);
	hx_buf_put(&u->in, value, vlen);
	hx_buf_put(&u->in, "\r\n", 2);
	return 0;
}

static int on_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct hx_uh2 *h = ud;
	struct hx_up *u = h->u;
	bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;

	(void)sess;
	if (f->hd.stream_id != h->sid || !h->sid)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && !h->resp_head) {
		if (h->status < 200) {
			hx_buf_put(&u->in, "\r\n", 2);	/* interim: the next head follows */
			return 0;
		}
		h->resp_head = true;
		if (end) {
			hx_buf_puts(&u->in, "content-length: 0\r\n\r\n");
			h->resp_end = true;
		} else {
			hx_buf_puts(&u->in, "transfer-encoding: chunked\r\n\r\n");
			h->resp_chunked = true;
		}
		return 0;
	}
	if (end && h->resp_chunked && !h->resp_end) {
		hx_buf_puts(&u->in, "0\r\n\r\n");	/* trailers, or the last DATA */
		h->resp_end = true;
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *ud)
{
	struct hx_uh2 *h = ud;
	char sz[24];

	(void)sess;
	(void)flags;
	if (id != h->sid || !h->resp_chunked || !len)
		return 0;
	hx_buf_put(&h->u->in, sz, (size_t)snprintf(sz, sizeof(sz), "%zx\r\n", len));
	hx_buf_put(&h->u->in, data, len);
	hx_buf_put(&h->u->in, "\r\n", 2);
	return 0;
}

static int on_stream_close(nghttp2_session *sess, int32_t id, uint32_t err, void *ud)
{
	struct hx_uh2 *h = ud;

	(void)sess;
	if (id == h->sid && (err != NGHTTP2_NO_ERROR || !h->resp_end))
		h->reset = true;	/* read as the connection's end (upstream.c) */
	return 0;
}

/* ---- the connection ------------------------------------------------------- */

int hx_uh2_new(struct hx_up *u)
{
	nghttp2_session_callbacks *cb;
	struct hx_uh2 *h = calloc(1, sizeof(*h));
	nghttp2_settings_entry set[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, HX_HEAD_MAX },
	};
	int r;

	if (!h || nghttp2_session_callbacks_new(&cb) != 0) {
		free(h);
		return -ENOMEM;
	}
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	r = nghttp2_session_client_new(&h->sess, cb, h);
	nghttp2_session_callbacks_del(cb);
	if (r != 0) {
		free(h);
		return -ENOMEM;
	}
	nghttp2_submit_settings(h->sess, NGHTTP2_FLAG_NONE, set, sizeof(set) / sizeof(set[0]));
	h->u = u;
	u->h2 = h;
	return 0;
}

void hx_uh2_free(struct hx_up *u)
{
	struct hx_uh2 *h = u->h2;

	if (!h)
		return;
	nghttp2_session_del(h->sess);
	hx_buf_free(&h->out);
	hx_buf_free(&h->body);
	free(h);
	u->h2 = NULL;
}

void hx_uh2_begin(struct hx_up *u)
{
	struct hx_uh2 *h = u->h2;

	llhttp_init(&h->qp, HTTP_REQUEST, &hx_req_settings);
	hx_head_reset(&h->qh);
	h->qh.on_body = body_cb;
	h->qh.body_ctx = h;
	h->body.len = h->body.off = 0;
	h->sid = 0;
	h->head_done = h->req_eof = h->deferred = false;
	h->resp_head = h->resp_chunked = h->resp_end = h->reset = false;
	h->status = 0;
}

/* Frames made by the session onto the socket; -1 on a broken connection. */
static int flush_frames(struct hx_uh2 *h)
{
	for (;;) {
		while (h->out.off < h->out.len) {
			ssize_t n = hx_send(h->u->fd, h->out.p + h->out.off, h->out.len - h->out.off);

			if (n < 0)
				return errno == EAGAIN || errno == EINTR ? 0 : -1;
			h->out.off += (uint32_t)n;
		}
		h->out.off = h->out.len = 0;
		{
			const uint8_t *data;
			ssize_t n = nghttp2_session_mem_send(h->sess, &data);

			if (n < 0)
				return -1;
			if (n == 0)
				return 0;
			hx_buf_put(&h->out, data, (size_t)n);
		}
	}
}

/* A request field HTTP/2 carries otherwise or not at all: host (it is
 * :authority), te (added as trailers), the framing and connection. */
static bool req_drop(const char *n, uint32_t l)
{
	return is_conn_header((const uint8_t *)n, l) || (l == 2 && !strncasecmp(n, "te", 2)) ||
	       (l == 4 && !strncasecmp(n, "host", 4));
}

/* The request head in c->rq is complete: submit it as a stream. */
static int submit(struct hx_uh2 *h, struct hx_cli *c)
{
	const struct hx_head *q = &h->qh;
	const char *b = c->rq.p;
	nghttp2_nv nv[HX_MAX_HEADERS + 5];
	char lname[HX_HEAD_MAX];
	const char *method = llhttp_method_name((llhttp_method_t)h->qp.method);
	size_t nnv = 0;
	nghttp2_data_provider dp = { .source.ptr = h, .read_callback = req_data };
	int host = hx_head_find(q, b, "host", 0);

	nv[nnv++] = (nghttp2_nv){ (uint8_t *)":method", (uint8_t *)method, 7, strlen(method),
				  NGHTTP2_NV_FLAG_NONE };
	nv[nnv++] = (nghttp2_nv){ (uint8_t *)":scheme", (uint8_t *)"http", 7, 4,
				  NGHTTP2_NV_FLAG_NONE };
	nv[nnv++] = (nghttp2_nv){ (uint8_t *)":path", (uint8_t *)b + q->url.off, 5, q->url.len,
				  NGHTTP2_NV_FLAG_NONE };
	if (host >= 0)
		nv[nnv++] = (nghttp2_nv){ (uint8_t *)":authority", (uint8_t *)b + q->hdrs[host].value.off,
					  10, q->hdrs[host].value.len, NGHTTP2_NV_FLAG_NONE };
	/* gRPC servers want it; it means nothing to others */
	nv[nnv++] = (nghttp2_nv){ (uint8_t *)"te", (uint8_t *)"trailers", 2, 8, NGHTTP2_NV_FLAG_NONE };
	hx_h2_head_nv(q, b, req_drop, nv, &nnv, lname);
	h->sid = nghttp2_submit_request(h->sess, NULL, nv, nnv,
					h->req_eof && h->body.len == h->body.off ? NULL : &dp, NULL);
	return h->sid > 0 ? 0 : -1;
}

int hx_uh2_send(struct hx_up *u)
{
	struct hx_uh2 *h = u->h2;
	struct hx_cli *c = u->cli;

	if (c && !h->req_eof && c->rq.off < c->rq.len && h->body.len - h->body.off < HX_UH2_BODY_HIGH) {
		const char *p = c->rq.p + c->rq.off;
		size_t n = c->rq.len - c->rq.off;

		if (!h->head_done) {
			/* the proxy writes a try's head whole before its body */
			int r = hx_head_feed(&h->qp, &h->qh, c->rq.p, 0, c->rq.len);

			if (r <= 0)
				return -1;
			h->head_done = true;
			p = c->rq.p + h->qh.head_len;
			n = c->rq.len - h->qh.head_len;
			if (!(h->qp.flags & (F_CHUNKED | F_CONTENT_LENGTH)) || h->qp.content_length == 0)
				h->req_eof = !(h->qp.flags & F_CHUNKED);
		}
		if (n && !h->req_eof) {
			enum llhttp_errno e;

			h->qh.base = p;
			e = llhttp_execute(&h->qp, p, n);
			if (e == HPE_PAUSED && h->qh.msg_done)
				h->req_eof = true;
			else if (e != HPE_OK)
				return -1;
		}
		c->rq.off = c->rq.len;
		if (!h->sid && submit(h, c) < 0)
			return -1;
		if (h->deferred && (h->body.len > h->body.off || h->req_eof)) {
			h->deferred = false;
			nghttp2_session_resume_data(h->sess, h->sid);
		}
	}
	return flush_frames(h);
}

/* One read from the upstream into the session, its answers (SETTINGS and
 * PING acknowledgements, WINDOW_UPDATE) written: 1 = bytes taken, 0 =
 * drained, -1 = closed or broken. */
static int read_frames(struct hx_uh2 *h)
{
	char buf[16384];
	ssize_t n = hx_recv(h->u->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0 || nghttp2_session_mem_recv(h->sess, (const uint8_t *)buf, (size_t)n) < 0 ||
	    flush_frames(h) < 0)
		return -1;
	return 1;
}

int hx_uh2_idle(struct hx_up *u)
{
	struct hx_uh2 *h = u->h2;
	uint32_t before = u->in.len;
	int r;

	while ((r = read_frames(h)) > 0)
		;
	/* frames for no stream of ours leave nothing to parse; anything
	 * else, or a GOAWAY, ends the connection */
	if (r < 0 || u->in.len != before || !nghttp2_session_want_read(h->sess))
		return -1;
	return 0;
}

ssize_t hx_uh2_recv(struct hx_up *u)
{
	struct hx_uh2 *h = u->h2;
	uint32_t before = u->in.len;
	int r;

	while ((r = read_frames(h)) > 0 && !h->reset && u->in.len == before)
		;
	if (u->in.len > before)
		return (ssize_t)(u->in.len - before);
	if (r < 0 || h->reset)
		return 0;	/* closed, or the stream ended without a whole response */
	errno = EAGAIN;
	return -1;
}
