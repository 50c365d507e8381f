/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Byte buffers, reason phrases and the header copy that rebuilds a head for
 * the other side (hop-by-hop headers dropped, the route's header operations
 * applied). Shared by the client (proxy.c) and upstream (upstream.c) sides.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/buf.h"

/* ---- buffers ------------------------------------------------------------ */

int hx_buf_reserve(struct hx_buf *b, uint32_t more)
{
	uint32_t need = b->len + more, nc;
	char *np;

	if (need <= b->cap)
		return 0;
	nc = b->cap ? b->cap : 4096;
	while (nc < need)
		nc *= 2;
	np = realloc(b->p, nc);
	if (!np)
		return -ENOMEM;
	b->p = np;
	b->cap = nc;
	return 0;
}

void hx_buf_compact(struct hx_buf *b)
{
	if (b->off == 0)
		return;
	if (b->off < b->len)
		memmove(b->p, b->p + b->off, b->len - b->off);
	b->len -= b->off;
	b->off = 0;
}

void hx_buf_free(struct hx_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

const char *hx_reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 421: return "Misdirected Request";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Status";
	}
}

/* ---- headers ------------------------------------------------------------- */

/* Hop-by-hop headers, by length first: this runs on every header line of
 * every request and response. */
static bool is_hop_by_hop(const char *n, uint32_t l)
{
	switch (l) {
	case 2:
		return strncasecmp(n, "te", 2) == 0;
	case 6:
		return strncasecmp(n, "expect", 6) == 0;
	case 7:
		return strncasecmp(n, "upgrade", 7) == 0;
	case 10:
		return strncasecmp(n, "connection", 10) == 0 ||
		       strncasecmp(n, "keep-alive", 10) == 0;
	case 16:
		return strncasecmp(n, "proxy-connection", 16) == 0;
	default:
		return false;
	}
}

static bool in_remove(const struct sl_header_ops *ops, const char *n, uint32_t l)
{
	size_t i;

	for (i = 0; i < ops->nremove; i++)
		if (strlen(ops->remove[i]) == l && strncasecmp(ops->remove[i], n, l) == 0)
			return true;
	for (i = 0; i < ops->nset; i++)
		if (strlen(ops->set[i].key) == l && strncasecmp(ops->set[i].key, n, l) == 0)
			return true;
	return false;
}

/* Header i of h is named in a Connection header of h: hop-by-hop for this
 * message only (RFC 9110 7.6.1), never forwarded. */
static bool conn_listed(const struct hx_head *h, const char *base, const char *n, uint32_t l,
			const uint32_t *conn, uint32_t nconn)
{
	uint32_t j;

	for (j = 0; j < nconn; j++) {
		const char *v = base + h->hdrs[conn[j]].value.off;
		const char *e = v + h->hdrs[conn[j]].value.len;

		while (v < e) {
			const char *t, *te;

			while (v < e && (*v == ' ' || *v == '\t' || *v == ','))
				v++;
			t = v;
			while (v < e && *v != ',')
				v++;
			te = v;
			while (te > t && (te[-1] == ' ' || te[-1] == '\t'))
				te--;
			if ((uint32_t)(te - t) == l && strncasecmp(t, n, l) == 0)
				return true;
		}
	}
	return false;
}

/* Copy header lines from a head into out, without hop-by-hop headers (the
 * fixed set and those its Connection headers name) and those the route
 * removes or sets, then the route's set/add headers. A request's Host and
 * Transfer-Encoding are left out too: the proxy writes its own (the Host it
 * routed by, the framing it re-frames the body in). */
void hx_copy_headers(struct hx_buf *out, const struct hx_head *h, const char *base,
		     const struct sl_header_ops *ops, bool request)
{
	uint32_t i, need, conn[8], nconn = 0;
	bool ops_rm = ops != NULL;
	size_t k;

	if (ops && ops->nremove == 0 && ops->nset == 0)
		ops_rm = false;
	/* room for every line at once: the copies below cannot fail */
	for (i = 0, need = 0; i < h->nhdrs; i++) {
		need += h->hdrs[i].name.len + h->hdrs[i].value.len + 4;
		if (h->hdrs[i].name.len == 10 && nconn < 8 &&
		    strncasecmp(base + h->hdrs[i].name.off, "connection", 10) == 0)
			conn[nconn++] = i;
	}
	if (hx_buf_reserve(out, need) < 0)
		return;
	for (i = 0; i < h->nhdrs; i++) {
		const char *n = base + h->hdrs[i].name.off;
		uint32_t l = h->hdrs[i].name.len, vl = h->hdrs[i].value.len;
		char *d;

		if (is_hop_by_hop(n, l))
			continue;
		if (request && ((l == 4 && strncasecmp(n, "host", 4) == 0) ||
				(l == 17 && strncasecmp(n, "transfer-encoding", 17) == 0)))
			continue;
		/* Content-Length frames the message we forward: a Connection
		 * header naming it (a known desync trick) does not remove it */
		if (nconn && !(l == 14 && strncasecmp(n, "content-length", 14) == 0) &&
		    conn_listed(h, base, n, l, conn, nconn))
			continue;
		if (ops_rm && in_remove(ops, n, l))
			continue;
		d = out->p + out->len;
		memcpy(d, n, l);
		d[l] = ':';
		d[l + 1] = ' ';
		memcpy(d + l + 2, base + h->hdrs[i].value.off, vl);
		d[l + 2 + vl] = '\r';
		d[l + 3 + vl] = '\n';
		out->len += l + vl + 4;
	}
	if (!ops)
		return;
	for (k = 0; k < ops->nset; k++) {
		hx_buf_puts(out, ops->set[k].key);
		hx_buf_put(out, ": ", 2);
		hx_buf_puts(out, ops->set[k].value ? ops->set[k].value : "");
		hx_buf_put(out, "\r\n", 2);
	}
	for (k = 0; k < ops->nadd; k++) {
		hx_buf_puts(out, ops->add[k].key);
		hx_buf_put(out, ": ", 2);
		hx_buf_puts(out, ops->add[k].value ? ops->add[k].value : "");
		hx_buf_put(out, "\r\n", 2);
	}
}

void hx_body_frame(struct hx_buf *out, bool chunked, const char *at, size_t len)
{
	char size[24];
	int n;

	if (!chunked) {
		hx_buf_put(out, at, len);
		return;
	}
	if (len == 0)
		return;		/* a zero-size chunk would end the body */
	n = snprintf(size, sizeof(size), "%zx\r\n", len);
	hx_buf_put(out, size, (size_t)n);
	hx_buf_put(out, at, len);
	hx_buf_put(out, "\r\n", 2);
}

void hx_body_end(struct hx_buf *out, bool chunked)
{
	if (chunked)
		hx_buf_put(out, "0\r\n\r\n", 5);
}
