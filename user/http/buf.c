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

#include "http/proxy.h"

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

/* Copy header lines from a head into out, without hop-by-hop headers and
 * those the route removes or sets, then the route's set/add headers. */
void hx_copy_headers(struct hx_buf *out, const struct hx_head *h, const char *base,
		     const struct sl_header_ops *ops, bool skip_host)
{
	bool ops_rm = ops != NULL;
	uint32_t i, need;
	size_t k;

	if (ops && ops->nremove == 0 && ops->nset == 0)
		ops_rm = false;
	/* room for every line at once: the copies below cannot fail */
	for (i = 0, need = 0; i < h->nhdrs; i++)
		need += h->hdrs[i].name.len + h->hdrs[i].value.len + 4;
	if (hx_buf_reserve(out, need) < 0)
		return;
	for (i = 0; i < h->nhdrs; i++) {
		const char *n = base + h->hdrs[i].name.off;
		uint32_t l = h->hdrs[i].name.len, vl = h->hdrs[i].value.len;
		char *d;

		if (is_hop_by_hop(n, l))
			continue;
		if (skip_host && l == 4 && strncasecmp(n, "host", 4) == 0)
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
