/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 from clients (h2.c), on nghttp2: a client connection that opens
 * with the HTTP/2 preface (h2c prior knowledge) or picks "h2" by ALPN on a
 * Gateway HTTPS server is driven by an nghttp2 server session. Each of its
 * streams becomes a stream client: a struct hx_cli without a socket whose
 * input is the stream's request rewritten as an HTTP/1.1 message and whose
 * output, an HTTP/1.1 response, goes back as the stream's HEADERS and DATA.
 * Routing, retries, time-outs, faults, header operations, metrics and the
 * access log then act on every stream exactly as on an HTTP/1.1 request
 * (proxy.c, upstream.c); only the framing differs.
 */
#ifndef SLUICE_HTTP_H2_H
#define SLUICE_HTTP_H2_H

#include <stdbool.h>
#include <stddef.h>

#include <nghttp2/nghttp2.h>

#include "http/conn.h"

#define HX_H2_MAX_STREAMS	100	/* SETTINGS_MAX_CONCURRENT_STREAMS */

/* Bytes of the client connection's first read: 1 = the HTTP/2 client
 * preface, 0 = a prefix of it (read more), -1 = not HTTP/2. */
int hx_h2_sniff(const char *p, size_t n);

/* Switch client connection c to HTTP/2; the bytes in c->in (the preface
 * onwards, or nothing after an ALPN handshake) are fed next. 0 or -ENOMEM. */
int hx_h2_start(struct hx_cli *c);
/* Feed c->in to the session (all of it is consumed). -1 when the
 * connection is to close (a fatal protocol error). */
int hx_h2_recv(struct hx_cli *c);
/* The session's frames waiting to be written, into c->out (up to
 * HX_OUT_HIGH bytes pending); the bytes added. Sets c->closing once the
 * session is done. */
size_t hx_h2_fill(struct hx_cli *c);
/* An HTTP/2 connection is going away: its stream clients are closed. */
void hx_h2_free(struct hx_cli *c);
/* The deadlines of an HTTP/2 connection at now: 1 = idle (no stream for
 * --idle-timeout-ms; frames such as PING do not keep it), 2 = a stream's
 * header block not complete within --header-timeout-ms (a HEADERS whose
 * CONTINUATION never comes holds a stream), 0 = neither. */
int hx_h2_tick(struct hx_cli *c, uint64_t now);

/* A stream client's HTTP/1.1 output (c->out) into its stream, as far as
 * the stream's buffer takes it. */
void hx_h2s_pull(struct hx_cli *c);
/* A stream client is closing: its stream ends (the response complete) or
 * is reset. */
void hx_h2s_detach(struct hx_cli *c);

/* The fields of head h (spans into base) appended to nv at *nnv (room for
 * h->nhdrs more), names lower-cased into lname (HX_HEAD_MAX bytes, alive
 * until submitted), those drop names left out (h2_resp.c; upstream_h2.c). */
void hx_h2_head_nv(const struct hx_head *h, const char *base,
		   bool (*drop)(const char *n, uint32_t l), nghttp2_nv *nv, size_t *nnv, char *lname);

/* The TLS session a client's requests came over: its own, or its HTTP/2
 * connection's for a stream client; NULL for plain ones. */
SSL *hx_cli_tls(const struct hx_cli *c);

#endif /* SLUICE_HTTP_H2_H */
