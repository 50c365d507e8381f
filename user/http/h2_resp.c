/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 from clients, the responses (h2.c has the session and the
 * requests): a stream client's HTTP/1.1 output is parsed back with the
 * response parser and sent as the stream's HEADERS (names lower-cased,
 * connection headers dropped; ending the stream when there is no body, as
 * a gRPC trailers-only answer), DATA (at most HX_H2_BODY_HIGH held unsent)
 * and trailers kept from an HTTP/2 upstream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/h2_int.h"

/* ---- responses -------------------------------------------------------------- */

static void resp_body(void *ctx, const char *at, size_t len)
{
	struct hx_h2s *s = ctx;

	hx_buf_put(&s->body, at, len);
}

/* The kept "name: value\r\n" lines as the stream's trailers. */
static int submit_trailers(struct hx_h2s *s)
{
	nghttp2_nv nv[HX_MAX_HEADERS];
	size_t nnv = 0;
	char *p = s->trailers.p, *end = p + s->trailers.len;

	while (p < end && nnv < HX_MAX_HEADERS) {
		char *eol = memchr(p, '\r', (size_t)(end - p)), *colon;

		if (!eol)
			break;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon && colon + 2 <= eol)
			nv[nnv++] = (nghttp2_nv){ (uint8_t *)p, (uint8_t *)colon + 2,
						  (size_t)(colon - p), (size_t)(eol - colon - 2),
						  NGHTTP2_NV_FLAG_NONE };
		p = eol + 2;
	}
	return nghttp2_submit_trailer(s->h->sess, s->id, nv, nnv);
}

static ssize_t data_read(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t len,
			 uint32_t *dflags, nghttp2_data_source *src, void *ud)
{
	struct hx_h2s *s = src->ptr;
	size_t have = s->body.len - s->body.off, n = have < len ? have : len;

	(void)sess;
	(void)id;
	(void)ud;
	if (n) {
		memcpy(buf, s->body.p + s->body.off, n);
		s->body.off += (uint32_t)n;
		if (s->body.off == s->body.len)
			s->body.off = s->body.len = 0;
		else if (s->body.off > 32768)
			hx_buf_compact(&s->body);
	}
	if (s->cli && s->cli->out.len > s->cli->out.off) {
		/* room again: take more of the client's output after this
		 * send (h2_fill) */
		s->want_pull = true;
		s->h->pull_pending = true;
	}
	if (s->body.len == s->body.off && s->resp_eof) {
		*dflags |= NGHTTP2_DATA_FLAG_EOF;
		if (s->trailers.len && submit_trailers(s) == 0)
			*dflags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;	/* they end it */
		return (ssize_t)n;
	}
	if (!n) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

static bool conn_header(const char *n, uint32_t l)
{
	static const char *const drop[] = { "connection", "keep-alive", "proxy-connection",
					    "transfer-encoding", "upgrade" };
	size_t i;

	for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (strlen(drop[i]) == l && !strncasecmp(n, drop[i], l))
			return true;
	return false;
}

void hx_h2_head_nv(const struct hx_head *h, const char *base,
		   bool (*drop)(const char *n, uint32_t l), nghttp2_nv *nv, size_t *nnv, char *lname)
{
	size_t at = 0;
	uint32_t k, i;

	for (k = 0; k < h->nhdrs; k++) {
		const char *n = base + h->hdrs[k].name.off;
		uint32_t l = h->hdrs[k].name.len;

		if (drop(n, l) || at + l > HX_HEAD_MAX)
			continue;
		for (i = 0; i < l; i++)	/* HTTP/2 field names are lower case */
			lname[at + i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] + 32 : n[i]);
		nv[(*nnv)++] = (nghttp2_nv){ (uint8_t *)lname + at, (uint8_t *)base + h->hdrs[k].value.off,
					     l, h->hdrs[k].value.len, NGHTTP2_NV_FLAG_NONE };
		at += l;
	}
}

/* The response head in s->rbuf is complete: submit it (an interim 1xx as
 * non-final HEADERS), ending the stream when no_body. */
static void submit_head(struct hx_h2s *s, bool no_body)
{
	const struct hx_head *rh = &s->rh;
	int st = s->rp.status_code;
	nghttp2_nv nv[HX_MAX_HEADERS + 1];
	char status[8], lname[HX_HEAD_MAX];
	size_t nnv = 0;
	nghttp2_data_provider dp = { .source.ptr = s, .read_callback = data_read };

	snprintf(status, sizeof(status), "%03d", st);
	nv[nnv++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status, 7, 3,
				  NGHTTP2_NV_FLAG_NONE };
	hx_h2_head_nv(rh, s->rbuf.p, conn_header, nv, &nnv, lname);
	if (st < 200)
		nghttp2_submit_headers(s->h->sess, NGHTTP2_FLAG_NONE, s->id, NULL, nv, nnv, NULL);
	else
		nghttp2_submit_response(s->h->sess, s->id, nv, nnv, no_body ? NULL : &dp);
}

/* Parse body bytes; false on a response the proxy made wrong (reset). */
static bool feed_resp_body(struct hx_h2s *s, const char *p, size_t n)
{
	enum llhttp_errno e;

	if (s->resp_eof)
		return true;	/* after the message: nothing valid */
	s->rh.base = p;
	e = llhttp_execute(&s->rp, p, n);
	if (e == HPE_PAUSED && s->rh.msg_done) {
		s->resp_eof = true;
		llhttp_resume(&s->rp);
		if (s->cli && s->cli->trailers.len)	/* upstream_h2.c kept them */
			hx_buf_put(&s->trailers, s->cli->trailers.p, s->cli->trailers.len);
		return true;
	}
	return e == HPE_OK;
}

/* A new response message in s->rbuf from its start. */
void hx_h2_resp_reset(struct hx_h2s *s, bool is_head)
{
	llhttp_init(&s->rp, HTTP_RESPONSE, &hx_resp_settings);
	hx_head_reset(&s->rh);
	s->rh.skip_body = is_head;
	s->rh.on_body = resp_body;
	s->rh.body_ctx = s;
	s->rbuf_seen = 0;
}

/* Parse what s->rbuf holds of the response head: submit interim heads and
 * the final one (with the body bytes that came with it). False on a head
 * the proxy made wrong. */
static bool take_head(struct hx_h2s *s, bool is_head)
{
	uint32_t rest;

	for (;;) {
		int r = hx_head_feed(&s->rp, &s->rh, s->rbuf.p, s->rbuf_seen, s->rbuf.len);

		s->rbuf_seen = s->rbuf.len;
		if (r <= 0)
			return r == 0;
		rest = s->rbuf.len - s->rh.head_len;
		if (s->rp.status_code >= 200)
			break;
		/* interim: sent as it is; what follows its head is the next */
		submit_head(s, true);
		memmove(s->rbuf.p, s->rbuf.p + s->rh.head_len, rest);
		s->rbuf.len = rest;
		hx_h2_resp_reset(s, is_head);
	}
	s->head_done = true;
	/* body bytes that came with the head (a body-less response completes
	 * on an empty feed), then the head: without DATA when the answer has
	 * no body, so a gRPC trailers-only answer ends with its HEADERS */
	if (!feed_resp_body(s, s->rbuf.p + s->rh.head_len, rest))
		return false;
	submit_head(s, is_head || (s->resp_eof && s->body.len == s->body.off));
	hx_buf_free(&s->rbuf);
	return true;
}

void hx_h2s_pull(struct hx_cli *c)
{
	struct hx_h2s *s = c->h2s;
	struct hx_buf *o = &c->out;
	bool bad = false;

	if (!s) {
		o->off = o->len = 0;	/* the stream is gone: nobody to tell */
		return;
	}
	s->want_pull = false;
	while (o->off < o->len && s->body.len - s->body.off < HX_H2_BODY_HIGH && !bad) {
		uint32_t n = o->len - o->off;

		if (!s->head_done) {
			if (n > HX_HEAD_MAX)
				n = HX_HEAD_MAX;
			if (s->rbuf.len + n > 2 * HX_HEAD_MAX) {
				bad = true;
				break;
			}
			hx_buf_put(&s->rbuf, o->p + o->off, n);
			o->off += n;
			s->rh.skip_body = c->is_head;	/* known once the request started */
			bad = !take_head(s, c->is_head);
			continue;
		}
		bad = !feed_resp_body(s, o->p + o->off, n);
		o->off += n;
	}
	if (o->off == o->len)
		o->off = o->len = 0;
	if (bad && !s->closed) {
		nghttp2_submit_rst_stream(s->h->sess, NGHTTP2_FLAG_NONE, s->id,
					  NGHTTP2_INTERNAL_ERROR);
		o->off = o->len = 0;
	}
	if (s->deferred && (s->body.len > s->body.off || s->resp_eof)) {
		s->deferred = false;
		nghttp2_session_resume_data(s->h->sess, s->id);
	}
	hx_h2_kick(s->h);
}

void hx_h2s_detach(struct hx_cli *c)
{
	struct hx_h2s *s = c->h2s;

	if (!s)
		return;
	if (c->out.len > c->out.off)
		hx_h2s_pull(c);	/* what the client was given last */
	hx_h2_unlink_cli(c);
	if (s->closed)
		return;
	hx_h2_stream_consume(s);
	if (!s->resp_eof && s->head_done && llhttp_finish(&s->rp) == HPE_OK && s->rh.msg_done)
		s->resp_eof = true;	/* a body that ran to the connection's end */
	if (!s->resp_eof) {
		nghttp2_submit_rst_stream(s->h->sess, NGHTTP2_FLAG_NONE, s->id,
					  NGHTTP2_INTERNAL_ERROR);
	} else if (s->deferred) {
		s->deferred = false;
		nghttp2_session_resume_data(s->h->sess, s->id);
	}
	if (s->unconsumed) {
		nghttp2_session_consume(s->h->sess, s->id, s->unconsumed);
		s->unconsumed = 0;
	}
	hx_h2_kick(s->h);
}

