/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The request path's entry points between its files: client connections
 * (proxy.c), answers made here (reply.c), upstream requests (upstream.c),
 * upstream connections and their pool (pool.c), HTTP/2 upstreams
 * (upstream_h2.c) and mirror copies (mirror.c). The objects they act on are in conn.h.
 */
#ifndef SLUICE_HTTP_PROXY_H
#define SLUICE_HTTP_PROXY_H

#include "http/conn.h"

/* proxy.c */
/* A new client c of worker w (kind, fd, peer set by the caller): its
 * parsers started and c on the worker's list, where hx_cli_close takes it
 * off. */
void hx_cli_link(struct hx_worker *w, struct hx_cli *c);
void hx_cli_close(struct hx_cli *c);
void hx_cli_flush(struct hx_cli *c);
void hx_cli_flush_soon(struct hx_cli *c);
void hx_cli_local_reply(struct hx_cli *c, int code, const char *hname, const char *hval);
void hx_cli_request_done(struct hx_cli *c);
void hx_cli_pump(struct hx_cli *c);
/* The batch's end: queued client output and upstream requests go out. */
void hx_flush_batch(struct hx_worker *w);

/* reply.c: answers made here. hx_cli_reply writes one (code, extra header
 * lines) without finishing the request; the others finish it. */
void hx_cli_reply(struct hx_cli *c, int code, const char *extra);
void hx_cli_redirect(struct hx_cli *c, const struct hx_reqview *rv, const char *host, size_t hlen);
void hx_cli_https_redirect(struct hx_cli *c, const struct hx_reqview *rv, const char *host,
			   size_t hlen);
void hx_cli_grpc_abort(struct hx_cli *c, int code);

/* upstream.c */
int hx_up_dispatch(struct hx_cli *c);	/* pick endpoint, connect, send */
void hx_up_event(struct hx_up *u, uint32_t ev);
void hx_up_send(struct hx_up *u);
void hx_up_send_soon(struct hx_up *u);
void hx_up_resume_read(struct hx_up *u);
void hx_up_timeout(struct hx_cli *c);

/* pool.c */
void hx_up_release(struct hx_up *u, bool reusable);
void hx_pool_reap(struct hx_worker *w);
void hx_reap_dead(struct hx_worker *w);
/* A non-blocking TCP socket for an upstream at addr (v4-mapped or IPv6)
 * port, its address in ss and sl: TCP_NODELAY, and SLUICE_HELPER_MARK so the
 * connect hook never steers it back here; the fd or -errno. */
int hx_up_socket(const uint8_t addr[16], uint16_t port, struct sockaddr_storage *ss, socklen_t *sl);
/* connectionPool.tcp.tcpKeepalive on a new upstream connection, as the
 * kernel sets it for L4-steered sockets (bpf/sockops.bpf.c pool_connect). */
void hx_up_keepalive(int fd, const struct sl_conn_pool *p);
/* A pooled connection to addr:port (speaking HTTP/2 when h2), or a new one
 * with connect() under way. */
struct hx_up *hx_up_get(struct hx_worker *w, const uint8_t addr[16], uint16_t port, bool h2,
			int *err);
/* An event on a connection idle in the pool: closed, unless it is an
 * HTTP/2 one that only sent connection frames. */
void hx_pool_idle_event(struct hx_up *u, uint32_t ev);

/* upstream_h2.c: HTTP/2 on an upstream connection, HTTP/1.1 to the rest of
 * the request path. new: the session of a new connection (0, -ENOMEM);
 * begin: a new try on it; send: the try's request bytes (c->rq from
 * rq.off) as frames, 0 or -1 when the connection is broken; recv: read and
 * write the response into u->in as HTTP/1.1: the bytes added, 0 at the
 * stream's or the connection's end, -1 with errno EAGAIN when drained. */
int hx_uh2_new(struct hx_up *u);
void hx_uh2_free(struct hx_up *u);
void hx_uh2_begin(struct hx_up *u);
int hx_uh2_send(struct hx_up *u);
ssize_t hx_uh2_recv(struct hx_up *u);
/* An idle pooled connection is readable: its frames (PING, SETTINGS,
 * WINDOW_UPDATE) are answered; -1 when it is to be closed (closed by the
 * peer, GOAWAY, or bytes that are not such frames). */
int hx_uh2_idle(struct hx_up *u);

/* mirror.c */
void hx_mirror_start(struct hx_cli *c);	/* copy the complete request to the mirror */
void hx_mirror_tick(struct hx_worker *w);
void hx_mirror_event(struct hx_up *u, uint32_t ev);

#endif /* SLUICE_HTTP_PROXY_H */
