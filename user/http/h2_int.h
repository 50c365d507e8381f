/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What h2.c (the session, requests) and h2_resp.c (responses) share: a
 * connection's and a stream's state, and the helpers each calls in the other.
 */
#ifndef SLUICE_HTTP_H2_INT_H
#define SLUICE_HTTP_H2_INT_H

#include <nghttp2/nghttp2.h>

#include "http/h2.h"
#include "http/proxy.h"

#define HX_H2_BODY_HIGH		65536	/* response bytes a stream holds unsent */
#define HX_H2_RESET_BURST	200	/* nghttp2's stream reset rate limit: burst, */
#define HX_H2_RESET_RATE	50	/* then resets per second, before GOAWAY */

struct hx_h2s {
	struct hx_h2 *h;
	int32_t id;
	struct hx_h2s *prev, *next;
	struct hx_cli *cli;	/* the stream client; NULL before the head and after */
	uint64_t t_open;	/* when its HEADERS began */
	bool started;		/* its head was complete */
	/* the request, as it arrives */
	struct hx_buf hdrs;	/* "name: value\r\n" lines */
	struct hx_buf cookie;	/* cookie values joined with "; " */
	struct hx_buf pseudo;	/* :method, :path, :authority values, NUL-ended */
	int32_t method, path, authority, host;	/* offsets in pseudo / hdrs, -1 = none */
	uint32_t host_len;
	bool too_big;		/* the head outgrew HX_HEAD_MAX */
	bool has_cl;		/* content-length sent */
	bool chunked;		/* the body goes in as chunks */
	bool req_end;		/* END_STREAM seen */
	uint64_t unconsumed;	/* payload bytes not yet given back to the windows */
	/* the response, as the stream client writes it */
	llhttp_t rp;
	struct hx_head rh;
	struct hx_buf rbuf;	/* the response head being parsed */
	uint32_t rbuf_seen;	/* of it, bytes the parser has had */
	struct hx_buf body;	/* DATA to send; body.off = sent */
	struct hx_buf trailers;	/* from an HTTP/2 upstream: sent after the DATA */
	bool head_done, resp_eof, deferred, want_pull, closed;
};

struct hx_h2 {
	nghttp2_session *sess;
	struct hx_cli *c;
	struct hx_h2s *streams;
	unsigned nstreams;
	uint64_t quiet_since;	/* the last stream's end (idle time-out) */
	bool in_recv, in_fill, pull_pending;
};

/* h2.c */
/* The connection has frames to write: flush it, unless nghttp2 is calling
 * us (hx_h2_recv and hx_h2_fill flush when it returns). */
void hx_h2_kick(struct hx_h2 *h);
/* Detach stream client c from its stream without touching the session. */
void hx_h2_unlink_cli(struct hx_cli *c);
/* Give the windows back for what the stream's client has taken in. */
void hx_h2_stream_consume(struct hx_h2s *s);

/* h2_resp.c */
/* A new response message in s->rbuf from its start. */
void hx_h2_resp_reset(struct hx_h2s *s, bool is_head);

#endif /* SLUICE_HTTP_H2_INT_H */
