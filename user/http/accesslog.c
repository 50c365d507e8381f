/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The optional access log (--access-log PATH, off by default): one line per
 * request answered, in Envoy's default shape with Sluice's routing added:
 *
 *   [START] "METHOD PATH PROTOCOL" CODE FLAGS RX TX DURATION "USER-AGENT"
 *   "X-REQUEST-ID" "AUTHORITY" "UPSTREAM" SERVICE SUBSET ROUTE SOURCE
 *
 * START is the UTC time the head was complete; RX/TX the request and
 * response bytes (head and body); DURATION ms; UPSTREAM the endpoint
 * address, "-" for a local answer. Request-controlled text is quoted with
 * every byte outside printable ASCII, '"' and '\' written as \xHH, so no
 * request can break or forge a line.
 *
 * The request half is captured when the request starts (its head is not
 * kept), the rest when it ends; lines collect in the worker's buffer and go
 * out in one write() per event-loop turn (hx_alog_flush), to a descriptor
 * opened O_APPEND, so the workers' lines never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http/reqlog.h"

static int alog_fd = -1;

int hx_alog_open(const char *path)
{
	alog_fd = !strcmp(path, "-") ? dup(STDERR_FILENO) :
		  open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	return alog_fd < 0 ? -errno : 0;
}

bool hx_alog_on(void)
{
	return alog_fd >= 0;
}

/* Append s[0..n) quoted to buf (at most cap - 1 bytes in all). */
static size_t quoted(char *buf, size_t at, size_t cap, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	if (at + 1 >= cap)
		return at;
	buf[at++] = '"';
	for (i = 0; s && i < n && at + 6 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
			buf[at++] = '\\';
			buf[at++] = 'x';
			buf[at++] = hex[ch >> 4];
			buf[at++] = hex[ch & 15];
		} else {
			buf[at++] = (char)ch;
		}
	}
	if (!s || !n)
		buf[at++] = '-';
	buf[at++] = '"';
	buf[at] = '\0';
	return at;
}

void hx_alog_begin(struct hx_cli *c, const struct hx_reqview *rv, const char *host, size_t hlen)
{
	const struct hx_hv *ua = hx_rv_header(rv, "user-agent"),
			 *rid = hx_rv_header(rv, "x-request-id");
	size_t cap = HX_ALOG_REQ, at;
	struct timespec ts;
	struct tm tm;
	char req[512];
	char *b;
	int n;

	if (!c->alog)
		c->alog = malloc(HX_ALOG_REQ);
	b = c->alog;
	if (!b)
		return;	/* this request goes unlogged */
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(b, cap, "[%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ] ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000);
	at = n > 0 && (size_t)n < cap ? (size_t)n : 0;
	/* "METHOD PATH PROTOCOL" as one quoted field */
	n = snprintf(req, sizeof(req), "%.*s %.*s HTTP/%s", (int)rv->method_len, rv->method,
		     (int)(rv->path_len + (rv->query_len ? rv->query_len + 1 : 0)), rv->path,
		     c->h2s ? "2" : c->parser.http_minor == 0 ? "1.0" : "1.1");
	at = quoted(b, at, cap, req, n > 0 ? strnlen(req, sizeof(req)) : 0);
	c->alog_req = at;
	/* the trailing request fields, kept after a NUL for hx_alog_end */
	if (at + 2 < cap) {
		at++;
		at = quoted(b, at, cap, ua ? ua->value : NULL, ua ? ua->vlen : 0);
		if (at + 1 < cap)
			b[at++] = ' ';
		at = quoted(b, at, cap, rid ? rid->value : NULL, rid ? rid->vlen : 0);
		if (at + 1 < cap)
			b[at++] = ' ';
		at = quoted(b, at, cap, host, hlen);
	}
}

void hx_alog_end(struct hx_cli *c)
{
	struct hx_worker *w = c->w;
	const struct sl_model *m = c->snap ? c->snap->m : NULL;
	const struct sl_service *s = m && c->svc >= 0 ? &m->services[c->svc] : NULL;
	const char *sub = s && c->subset >= 0 ? s->subsets[c->subset].name : "-";
	char line[2048], up[80] = "-";
	int n;

	if (!c->alog || !c->alog[0])
		return;
	/* the endpoint chosen, also when the try failed (UF, UT, ...) */
	if (s && c->ep >= 0)
		snprintf(up, sizeof(up), "%s:%u", s->endpoints[c->ep].address,
			 hx_endpoint_port(s, &s->endpoints[c->ep], c->dest_port));
	n = snprintf(line, sizeof(line), "%s %d %s %llu %llu %llu %s \"%s\" %s %s %s %s\n",
		     c->alog, c->status, c->resp_flags ? c->resp_flags : "-",
		     (unsigned long long)c->rx_bytes, (unsigned long long)c->tx_bytes,
		     (unsigned long long)(w->now - c->t_start), c->alog + c->alog_req + 1, up,
		     s ? s->host : "-", sub, c->rt && c->rt->name ? c->rt->name : "-",
		     c->workload >= 0 && m ? m->workloads[c->workload].name : "-");
	c->alog[0] = '\0';
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (w->alog_len + (size_t)n > sizeof(w->alog))
		hx_alog_flush(w);
	memcpy(w->alog + w->alog_len, line, (size_t)n);
	w->alog_len += (size_t)n;
}

void hx_alog_flush(struct hx_worker *w)
{
	size_t off = 0;

	while (off < w->alog_len) {
		ssize_t r = write(alog_fd, w->alog + off, w->alog_len - off);

		if (r <= 0)
			break;	/* a full disk loses log lines, never requests */
		off += (size_t)r;
	}
	w->alog_len = 0;
}
