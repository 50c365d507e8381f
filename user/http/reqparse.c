/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict HTTP/1.x head parsing on llhttp. llhttp (no lenient flags) already
 * refuses Content-Length with Transfer-Encoding, duplicate Content-Length,
 * bad chunk sizes and unknown transfer codings; on top of it we refuse what it
 * lets through and a smuggler could use: obs-fold continuation lines and
 * whitespace or non-token bytes in header names. Heads are kept as offsets
 * into the connection's own buffer, never copied.
 */
#include <errno.h>
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

/* Refuse what strict llhttp still accepts: obs-fold and bad header names.
 * Line starts are found with memchr, not byte by byte. */
static int head_validate(struct hx_head *h, size_t head_len)
{
	const char *b = h->base, *p = b + 1, *end = b + head_len;
	size_t i;
	uint32_t k;

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
	}
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
	.on_header_field = on_hfield,
	.on_header_value = on_hvalue,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

const llhttp_settings_t hx_resp_settings = {
	.on_status = on_status,
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
	if (head_validate(h, h->head_len) < 0) {
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
