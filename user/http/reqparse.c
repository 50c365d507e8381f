/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict HTTP/1.x head parsing on llhttp, built with LLHTTP_STRICT_MODE (the
 * Makefile; tests/unit/test_http_strict_parser.c checks it): llhttp refuses
 * Content-Length with Transfer-Encoding, duplicate Content-Length, bad or
 * overlong chunk sizes, anything but CRLF after chunk data, unknown transfer
 * codings, control bytes in the request-target and bad trailer names. On top
 * of it we refuse what it lets through and a smuggler or a confused backend
 * could use: obs-fold continuation lines, whitespace or non-token bytes in
 * header names, a fragment ('#') in the request-target, two Host headers,
 * an HTTP/1.1 request without Host (RFC 9112 3.2), HTTP/0.9 request lines
 * and non-HTTP (RTSP, ICE) methods. Heads are kept as
 * offsets into the connection's own buffer, never copied.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "http/hx.h"

static struct hx_head *head_of(llhttp_t *p)
{
	return p->data;
}

static void span_extend(struct hx_span *s, const struct hx_head *h, const char *at, size_t len,
			bool fresh)
{
	if (fresh) {
		s->off = (uint32_t)(at - h->base);
		s->len = (uint32_t)len;
	} else {
		s->len += (uint32_t)len;
	}
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	struct hx_head *h = head_of(p);

	span_extend(&h->url, h, at, len, h->url.len == 0);
	if (h->url.len > HX_URI_MAX) {
		h->err_status = 414;
		return -1;
	}
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct hx_head *h = head_of(p);

	if (h->on_body)
		h->on_body(h->body_ctx, at, len);
	return 0;
}

/* A chunk size past INT64_MAX: llhttp takes any that fits 64 bits, but a
 * backend reading it as a signed number would see a negative size. */
static int on_chunk_header(llhttp_t *p)
{
	return p->content_length > (uint64_t)INT64_MAX ? -1 : 0;
}

static int on_status(llhttp_t *p, const char *at, size_t len)
{
	struct hx_head *h = head_of(p);

	span_extend(&h->status, h, at, len, h->status.len == 0);
	return 0;
}

static int on_hfield(llhttp_t *p, const char *at, size_t len)
{
	struct hx_head *h = head_of(p);
	bool fresh = h->last_cb != 1;

	if (fresh) {
		if (h->nhdrs >= HX_MAX_HEADERS) {
			h->err_status = 431;
			return -1;
		}
		h->nhdrs++;
		h->hdrs[h->nhdrs - 1].value.len = 0;
		h->hdrs[h->nhdrs - 1].value.off = 0;
	}
	span_extend(&h->hdrs[h->nhdrs - 1].name, h, at, len, fresh);
	h->last_cb = 1;
	return 0;
}

static int on_hvalue(llhttp_t *p, const char *at, size_t len)
{
	struct hx_head *h = head_of(p);
	bool fresh = h->last_cb != 2;

	if (h->nhdrs == 0)
		return -1;
	span_extend(&h->hdrs[h->nhdrs - 1].value, h, at, len, fresh);
	h->last_cb = 2;
	return 0;
}

/* RFC 9110 token characters, as a table: the check runs over every byte of
 * every header name of every request and response. */
static const bool hx_tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

/* HTTP methods only: llhttp's request parser also takes the RTSP and ICE
 * ones (SETUP, PLAY, SOURCE, ...), which an HTTP backend would not. */
static bool http_method(uint8_t m)
{
	switch (m) {
#define HX_METHOD(num, name, string) case num:
	HTTP_METHOD_MAP(HX_METHOD)
#undef HX_METHOD
		return true;
	default:
		return false;
	}
}

/* Refuse what strict llhttp still accepts: obs-fold and bad header names.
 * Line starts are found with memchr, not byte by byte. */
static int head_validate(llhttp_t *parser, struct hx_head *h, size_t head_len)
{
	const char *b = h->base, *p = b + 1, *end = b + head_len;
	uint32_t k, nhost = 0;
	size_t i;

	while (p + 1 < end && (p = memchr(p, '\n', (size_t)(end - 1 - p))) != NULL) {
		if (p[1] == ' ' || p[1] == '\t')
			return -1;
		p++;
	}
	for (k = 0; k < h->nhdrs; k++) {
		const struct hx_span *n = &h->hdrs[k].name;

		if (n->len == 0)
			return -1;
		for (i = 0; i < n->len; i++)
			if (!hx_tchar[(unsigned char)b[n->off + i]])
				return -1;
		if (n->len == 4 && strncasecmp(b + n->off, "host", 4) == 0)
			nhost++;
		/* an empty Transfer-Encoding: llhttp sets no framing from it,
		 * a backend might */
		if (n->len == 17 && strncasecmp(b + n->off, "transfer-encoding", 17) == 0) {
			const struct hx_span *v = &h->hdrs[k].value;

			for (i = 0; i < v->len; i++)
				if (b[v->off + i] != ' ' && b[v->off + i] != '\t')
					break;
			if (i == v->len)
				return -1;
		}
	}
	if (parser->type != HTTP_REQUEST)
		return 0;
	/* HTTP/1.x only: llhttp reads a request line without a version as
	 * HTTP/0.9, which the upstream request would silently turn into 1.1 */
	if (parser->http_major != 1 || !http_method(parser->method))
		return -1;
	/* the request-target never carries a fragment (RFC 9112 3.2) */
	if (memchr(b + h->url.off, '#', h->url.len))
		return -1;
	/* one Host: two could route by one and reach the backend with the
	 * other; HTTP/1.1 requires it (HTTP/1.0 may omit it) */
	if (nhost > 1 || (nhost == 0 && parser->http_major == 1 && parser->http_minor >= 1))
		return -1;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct hx_head *h = head_of(p);

	h->done = true;
	/* A response to HEAD has no body whatever its headers say; llhttp
	 * clears its flags at message begin, so the caller's wish is kept in
	 * the head and applied here. */
	if (h->skip_body)
		p->flags |= F_SKIPBODY;
	/* 1xx, 204 and 304 never have a body, whatever Content-Length says
	 * (RFC 9110 6.4.1): relaying one would desynchronise the client */
	if (p->type == HTTP_RESPONSE &&
	    (p->status_code < 200 || p->status_code == 204 || p->status_code == 304))
		p->flags |= F_SKIPBODY;
	return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *p)
{
	head_of(p)->msg_done = true;
	return HPE_PAUSED;
}

const llhttp_settings_t hx_req_settings = {
	.on_url = on_url,
	.on_body = on_body,
	.on_chunk_header = on_chunk_header,
	.on_header_field = on_hfield,
	.on_header_value = on_hvalue,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

const llhttp_settings_t hx_resp_settings = {
	.on_status = on_status,
	.on_body = on_body,	/* h2.c takes response bodies through it */
	.on_header_field = on_hfield,
	.on_header_value = on_hvalue,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

void hx_head_reset(struct hx_head *h)
{
	h->url.off = h->url.len = 0;
	h->status.off = h->status.len = 0;
	h->nhdrs = 0;
	h->head_len = 0;
	h->err_status = 0;
	h->last_cb = 0;
	h->done = false;
	h->msg_done = false;
	h->skip_body = false;
}

/*
 * Contract: see hx.h. On -1 the parser is dead: the connection answers
 * err_status (400 by default) and closes. A head longer than HX_HEAD_MAX is
 * 414 while still in the request-target, 431 after it.
 */
int hx_head_feed(llhttp_t *p, struct hx_head *h, const char *buf, size_t from, size_t len)
{
	enum llhttp_errno e;
	const char *pos;

	h->base = buf;
	p->data = h;
	e = llhttp_execute(p, buf + from, len - from);
	if (e == HPE_OK) {
		if (len > HX_HEAD_MAX) {
			h->err_status = h->nhdrs == 0 && p->type == HTTP_REQUEST ? 414 : 431;
			return -1;
		}
		return 0;
	}
	if (e != HPE_PAUSED || !h->done) {
		if (!h->err_status)
			h->err_status = 400;
		return -1;
	}
	pos = llhttp_get_error_pos(p);
	h->head_len = (uint32_t)(pos - buf);
	if (h->head_len > HX_HEAD_MAX) {
		h->err_status = 431;
		return -1;
	}
	if (head_validate(p, h, h->head_len) < 0) {
		h->err_status = 400;
		return -1;
	}
	llhttp_resume(p);
	return 1;
}

int hx_head_find(const struct hx_head *h, const char *buf, const char *lname, int from)
{
	size_t n = strlen(lname);
	uint32_t i;

	for (i = (uint32_t)from; i < h->nhdrs; i++)
		if (h->hdrs[i].name.len == n &&
		    strncasecmp(buf + h->hdrs[i].name.off, lname, n) == 0)
			return (int)i;
	return -1;
}

/* ---- the router's view of a head --------------------------------------- */

void hx_reqview_build(const llhttp_t *p, const struct hx_head *h, const char *b,
		      struct hx_reqview *rv, struct hx_hv *hv, const char **host, size_t *hlen)
{
	const char *url = b + h->url.off, *q, *colon, *auth = NULL;
	size_t ulen = h->url.len, alen = 0;
	uint32_t i;

	memset(rv, 0, sizeof(*rv));
	rv->method = llhttp_method_name((llhttp_method_t)p->method);
	rv->method_len = strlen(rv->method);
	/* absolute-form (http://authority/path): the authority is the target
	 * and wins over Host (RFC 9112 3.2.2); the path goes up origin-form */
	if (ulen > 7 && (strncasecmp(url, "http://", 7) == 0 ||
			 (ulen > 8 && strncasecmp(url, "https://", 8) == 0))) {
		size_t skip = url[4] == ':' ? 7 : 8;
		const char *a = url + skip, *e = url + ulen, *slash;

		slash = a;
		while (slash < e && *slash != '/' && *slash != '?')
			slash++;
		auth = a;
		alen = (size_t)(slash - a);
		ulen = (size_t)(e - slash);
		url = slash;
	}
	q = memchr(url, '?', ulen);
	rv->path = ulen && url[0] == '/' ? url : "/";
	rv->path_len = ulen && url[0] == '/' ? (q ? (size_t)(q - url) : ulen) : 1;
	if (q) {
		rv->query = q + 1;
		rv->query_len = (size_t)(url + ulen - q - 1);
	}
	for (i = 0; i < h->nhdrs; i++) {
		hv[i].name = b + h->hdrs[i].name.off;
		hv[i].nlen = h->hdrs[i].name.len;
		hv[i].value = b + h->hdrs[i].value.off;
		hv[i].vlen = h->hdrs[i].value.len;
		if (hv[i].nlen == 4 && strncasecmp(hv[i].name, "host", 4) == 0 && !rv->authority) {
			rv->authority = hv[i].value;
			rv->authority_len = hv[i].vlen;
		}
	}
	if (auth && alen) {
		rv->authority = auth;
		rv->authority_len = alen;
	}
	rv->hdrs = hv;
	rv->nhdrs = h->nhdrs;
	*host = rv->authority ? rv->authority : "";
	*hlen = rv->authority_len;
	/* strip a :port (not inside an IPv6 literal) */
	colon = *hlen ? memrchr(*host, ':', *hlen) : NULL;
	if (colon && !memchr(colon, ']', (size_t)(*host + *hlen - colon)))
		*hlen = (size_t)(colon - *host);
}
