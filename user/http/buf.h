/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Byte buffers and the message pieces built in them (buf.c): the growable
 * buffer both sides of a proxied exchange read into and write from, reason
 * phrases, the header copy that rebuilds a head for the other side, and a
 * request body in our own framing. No sockets here.
 */
#ifndef SLUICE_HTTP_BUF_H
#define SLUICE_HTTP_BUF_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "http/hx.h"

struct hx_buf {
	char *p;
	uint32_t len, cap;
	uint32_t off;		/* bytes already sent / consumed */
};

int hx_buf_reserve(struct hx_buf *b, uint32_t more);

/* Append n bytes; inline: a request's heads are built from many small
 * pieces, and the room is almost always there already. */
static inline int hx_buf_put(struct hx_buf *b, const void *d, size_t n)
{
	if (n == 0)
		return 0;
	if (b->len + n > b->cap && hx_buf_reserve(b, (uint32_t)n) < 0)
		return -ENOMEM;
	memcpy(b->p + b->len, d, n);
	b->len += (uint32_t)n;
	return 0;
}

static inline int hx_buf_puts(struct hx_buf *b, const char *s)
{
	return hx_buf_put(b, s, strlen(s));
}
void hx_buf_compact(struct hx_buf *b);
void hx_buf_free(struct hx_buf *b);

const char *hx_reason(int code);
/* The headers of head h (offsets into base) onto out, hop-by-hop headers
 * dropped and ops applied; request = true also leaves out Host and
 * Transfer-Encoding (the proxy writes its own). */
void hx_copy_headers(struct hx_buf *out, const struct hx_head *h, const char *base,
		     const struct sl_header_ops *ops, bool request);
/* A request body as it goes upstream: the payload llhttp parsed, in our own
 * framing, never the client's bytes — the same bytes for a Content-Length
 * body, one chunk per piece (no extensions, no trailers) for a chunked one;
 * hx_body_end closes a chunked body. */
void hx_body_frame(struct hx_buf *out, bool chunked, const char *at, size_t len);
void hx_body_end(struct hx_buf *out, bool chunked);

#endif /* SLUICE_HTTP_BUF_H */
