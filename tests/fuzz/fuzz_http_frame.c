/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Differential libFuzzer target: what sluice-http forwards must parse, by a
 * lenient backend, as exactly the requests sluice-http parsed. The client
 * bytes (pipelined requests) go through the strict request parser
 * (hx_head_feed, then the body); for each request the upstream bytes are
 * built as the proxy builds them — the request line, host, our own framing
 * header, the headers through hx_copy_headers, the body through
 * hx_body_frame/hx_body_end — and parsed again by llhttp with every lenient
 * flag on. One complete message, every byte used, and the same method,
 * target and body, or abort(): a finding. A request the strict parser
 * refuses stops the connection, and the bytes already built for it must not
 * form a complete message for the lenient parser either.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/hx.h"
#include "http/buf.h"

struct seen {
	struct hx_buf url, body;
	int messages;
};

struct fwd {
	struct hx_buf *up;	/* upstream bytes */
	struct hx_buf *body;	/* the body as parsed */
	bool chunked;
};

static void on_client_body(void *ctx, const char *at, size_t len)
{
	struct fwd *f = ctx;

	hx_body_frame(f->up, f->chunked, at, len);
	hx_buf_put(f->body, at, len);
}

static int l_url(llhttp_t *p, const char *at, size_t len)
{
	return hx_buf_put(&((struct seen *)p->data)->url, at, len);
}

static int l_body(llhttp_t *p, const char *at, size_t len)
{
	return hx_buf_put(&((struct seen *)p->data)->body, at, len);
}

static int l_done(llhttp_t *p)
{
	((struct seen *)p->data)->messages++;
	return 0;
}

static const llhttp_settings_t lenient_settings = {
	.on_url = l_url,
	.on_body = l_body,
	.on_message_complete = l_done,
};

/* The backend's view of up: a lenient parser over all of it. */
static enum llhttp_errno backend_parse(const struct hx_buf *up, struct seen *s, uint8_t *method)
{
	llhttp_t p;
	enum llhttp_errno e;

	llhttp_init(&p, HTTP_REQUEST, &lenient_settings);
	llhttp_set_lenient_headers(&p, 1);
	llhttp_set_lenient_chunked_length(&p, 1);
	llhttp_set_lenient_keep_alive(&p, 1);
	llhttp_set_lenient_transfer_encoding(&p, 1);
	p.data = s;
	e = llhttp_execute(&p, up->p ? up->p : "", up->len);
	*method = p.method;
	return e;
}

static void check_one(const char *base, const struct hx_head *h, const llhttp_t *cp,
		      const struct hx_buf *up, const struct hx_buf *body, bool complete)
{
	struct seen s = { 0 };
	uint8_t method;
	enum llhttp_errno e = backend_parse(up, &s, &method);

	if (!complete) {
		/* a refused request: the backend must not see a whole one */
		if (s.messages != 0)
			abort();
	} else if (e != HPE_OK || s.messages != 1 || method != cp->method ||
		   s.url.len != h->url.len || memcmp(s.url.p, base + h->url.off, h->url.len) ||
		   s.body.len != body->len || (body->len && memcmp(s.body.p, body->p, body->len))) {
		abort();
	}
	hx_buf_free(&s.url);
	hx_buf_free(&s.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t off = 0;
	int n;

	for (n = 0; n < 8 && off < size; n++) {
		struct hx_buf up = { 0 }, body = { 0 };
		struct fwd f = { .up = &up, .body = &body };
		const char *base = buf + off;
		size_t len = size - off, used;
		struct hx_head h;
		enum llhttp_errno e;
		llhttp_t p;
		int host, r;

		llhttp_init(&p, HTTP_REQUEST, &hx_req_settings);
		hx_head_reset(&h);
		h.on_body = NULL;
		r = hx_head_feed(&p, &h, base, 0, len);
		if (r != 1)
			break;	/* refused or incomplete: nothing was forwarded */
		f.chunked = (p.flags & F_CHUNKED) != 0;
		hx_buf_puts(&up, llhttp_method_name(p.method));
		hx_buf_put(&up, " ", 1);
		hx_buf_put(&up, base + h.url.off, h.url.len);
		hx_buf_puts(&up, " HTTP/1.1\r\nhost: ");
		host = hx_head_find(&h, base, "host", 0);
		if (host >= 0)
			hx_buf_put(&up, base + h.hdrs[host].value.off, h.hdrs[host].value.len);
		hx_buf_puts(&up, "\r\n");
		if (f.chunked)
			hx_buf_puts(&up, "transfer-encoding: chunked\r\n");
		hx_copy_headers(&up, &h, base, NULL, true);
		hx_buf_put(&up, "\r\n", 2);
		used = h.head_len;
		/* a body is due unless neither framing says so (as the proxy
		 * decides in start_request) */
		if ((p.flags & F_CHUNKED) ||
		    ((p.flags & F_CONTENT_LENGTH) && p.content_length > 0)) {
			h.on_body = on_client_body;
			h.body_ctx = &f;
			h.base = base;
			e = llhttp_execute(&p, base + h.head_len, len - h.head_len);
			if (!(e == HPE_PAUSED && h.msg_done)) {
				/* refused mid-body, or the body is still due */
				check_one(base, &h, &p, &up, &body, false);
				hx_buf_free(&up);
				hx_buf_free(&body);
				break;
			}
			used = (size_t)(llhttp_get_error_pos(&p) - base);
		}
		hx_body_end(&up, f.chunked);
		check_one(base, &h, &p, &up, &body, true);
		hx_buf_free(&up);
		hx_buf_free(&body);
		off += used;
	}
	return 0;
}
