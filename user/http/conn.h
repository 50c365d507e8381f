/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-worker loop's objects: listeners, client connections, upstream
 * connections and their pools, and the worker that owns them all. Shared by
 * the files of the request path (worker.c drives them; proxy.c, upstream.c,
 * mirror.c, accesslog.c, trace.c act on them) and their tests.
 *
 * A client connection carries at most one request in flight (HTTP/1.1
 * pipelined requests wait in its input buffer); an HTTP/2 connection's
 * streams are each a client of their own (h2.h). The request's upstream
 * bytes (rebuilt head + raw, llhttp-validated body) go to one upstream
 * connection taken from the worker's per-endpoint pool; they are kept
 * whole while they fit HX_REPLAY_MAX so a retry can resend them.
 */
#ifndef SLUICE_HTTP_CONN_H
#define SLUICE_HTTP_CONN_H

#include <pthread.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "http/buf.h"
#include "http/hx.h"
#include "http/tls.h"

#define HX_OUT_HIGH	(256 * 1024)	/* stop reading upstream above this */

enum hx_kind { HX_K_DEAD = 0, HX_K_LISTENER = 1, HX_K_CLIENT, HX_K_UPSTREAM, HX_K_WAKE,
	       HX_K_PASSTHRU /* TLS passthrough ends (passthru.c) */ };

/* send/recv without glibc's cancellation-point wrappers, which cost two
 * atomic read-modify-writes per call in a multi-threaded process (about 1%
 * of the worker's profile); workers are never cancelled. */
static inline ssize_t hx_send(int fd, const void *p, size_t n)
{
	return syscall(SYS_sendto, fd, p, n, MSG_NOSIGNAL, NULL, 0);
}

static inline ssize_t hx_recv(int fd, void *p, size_t n)
{
	return syscall(SYS_recvfrom, fd, p, n, 0, NULL, NULL);
}

struct hx_listener {
	int kind;
	int fd;
	uint16_t port;
	bool gateway;
	bool tls;		/* gateway HTTPS: connections start with a handshake */
	bool keep;		/* mark during reconcile */
};

enum hx_cstate {
	CS_HEAD = 0,		/* waiting for a request head */
	CS_DELAY,		/* fault delay running */
	CS_BODY,		/* request dispatched, body still arriving */
	CS_WAIT,		/* request complete, waiting for / relaying response */
	CS_H2,			/* an HTTP/2 connection: its streams carry the requests (h2.c) */
};

struct hx_up;
struct hx_worker;
struct hx_h2;
struct hx_h2s;
struct hx_uh2;

struct hx_cli {
	int kind;
	int fd;
	struct hx_worker *w;
	struct hx_cli *prev, *next;
	struct hx_cli *dead_next;
	llhttp_t parser;
	struct hx_head head;
	struct hx_buf in;	/* request head at in.p[0..) */
	struct hx_buf out;	/* to the client */
	enum hx_cstate state;
	bool gateway, close_after, rd_blocked, eof, closing, in_pump;
	uint16_t entry_port;
	uint8_t peer[16];
	uint16_t peer_port;
	int workload;
	bool has_orig;
	uint8_t vip[16];
	uint16_t vip_port;
	uint64_t deadline;	/* 0 = none */
	uint64_t last_active;
	/* gateway HTTPS (tls.c): every client byte goes through ssl once set;
	 * tls holds the contexts ssl's callbacks point into */
	SSL *ssl;
	struct hx_tls *tls;
	bool tls_done;		/* handshake complete */
	bool tls_want_write;	/* a handshake or read waits for EPOLLOUT */
	/* HTTP/2 (h2.c): h2 on a connection that speaks it; h2s on a stream
	 * client, which has no socket (fd -1) and carries one request */
	struct hx_h2 *h2;
	struct hx_h2s *h2s;

	/* the request in flight */
	struct hx_snap *snap;
	const struct sl_route *rt;
	int svc, subset, ep;
	struct hx_up *up;
	struct hx_buf rq;	/* upstream request bytes; rq.off = sent */
	bool replayable, body_done, resp_started, is_head, idempotent, http10, counted;
	bool expect_continue;
	bool rechunk;		/* chunked request: the body goes up re-chunked */
	bool served;		/* a request was answered: idle, not header, time-out */
	struct hx_buf trailers;	/* the response's trailers from an HTTP/2 upstream
				 * (upstream_h2.c), "name: value\r\n" lines */
	bool flush_queued;	/* on w->flush_q: output sent at the batch's end */
	struct hx_cli *flush_next;
	bool mirror_pending;	/* mirror once the whole request is in */
	uint32_t tries_left, reuse_retry;
	bool retry_counted;	/* holds a connectionPool maxRetries slot */
	uint64_t t_start, req_deadline, try_deadline, delay_until;
	int status;		/* final status, for metrics */
	const char *resp_flags;	/* Envoy's response flags (static), NULL = "-" */
	uint64_t rx_bytes;	/* request head and body read from the client */
	uint64_t tx_bytes;	/* response head and body queued to the client */
	/* access log (accesslog.c), allocated when the log is on (HX_ALOG_REQ
	 * bytes): "[START] \"REQUEST\"" NUL the request's quoted user-agent,
	 * x-request-id and authority; NULL or "" = nothing to log */
	char *alog;
	size_t alog_req;	/* offset of that NUL */
	struct hx_trace_req *tr;	/* trace.c, allocated when first traced */
	const struct sl_match *hit;	/* the route's condition that matched, NULL = none */
	int route_idx;		/* c->rt's position in its VirtualService's http[] */
	uint16_t dest_port;	/* service port of the chosen destination */
	bool has_hash;		/* endpoint by rendezvous hash */
	uint64_t hash;
	uint64_t head_start;	/* first byte of the head being read */
	char set_cookie[160];	/* generated consistentHash cookie, "" = none */
};

struct hx_pool {
	uint8_t addr[16];
	uint16_t port;
	bool h2;		/* HTTP/2 connections (upstream_h2.c) */
	struct hx_up *idle;
	uint32_t nidle;
};

struct hx_up {
	int kind;
	int fd;
	struct hx_worker *w;
	struct hx_cli *cli;	/* NULL when idle in the pool */
	struct hx_pool *pool;
	struct hx_up *next_idle;
	struct hx_up *dead_next;
	llhttp_t parser;
	struct hx_head head;
	struct hx_buf in;
	bool connected, reused, rd_blocked;
	bool send_queued;	/* on w->send_q: request sent at the batch's end */
	struct hx_up *send_next;
	bool mirror;		/* fire-and-forget copy: no client */
	struct hx_buf mout;	/* mirror: the request copy to send */
	struct hx_up *mprev, *mnext;	/* worker's live mirrors */
	uint64_t mdeadline;
	uint64_t idle_since;
	uint32_t idle_limit_ms;	/* connectionPool idleTimeout, else 60 s */
	uint32_t nreqs;		/* exchanges done (maxRequestsPerConnection) */
	struct hx_uh2 *h2;	/* HTTP/2 to this upstream (upstream_h2.c), else NULL */
};

struct hx_worker {
	int id;
	int ep;
	int wake_fd;
	int wake_kind;
	struct hx_listener *ls;
	size_t nls;
	struct hx_snap *snap;
	uint64_t snap_gen;
	struct hx_metrics *mx;
	struct hx_cli *clis;
	struct hx_cli *dead_clis;	/* freed after the event batch */
	struct hx_up *mirrors;		/* live mirror connections */
	uint32_t nmirrors;
	struct hx_up *dead_ups;
	uint32_t nclis;
	struct hx_pool **pools;
	size_t npools;
	uint64_t rng;
	uint64_t now;
	bool in_batch;			/* handling an epoll_wait batch */
	size_t alog_len;		/* access log lines waiting in alog */
	uint64_t trace_sec;		/* trace rate window (trace.c) */
	uint32_t trace_count;
	char alog[32768];
	/* sends waiting for the batch's end, first queued first sent */
	struct hx_cli *flush_q, **flush_qt;	/* clients with output */
	struct hx_up *send_q, **send_qt;	/* upstreams with a request */
	pthread_t thr;
};

/* The worker's xorshift draw (proxy.c). */
uint64_t hx_rand(struct hx_worker *w);

#endif /* SLUICE_HTTP_CONN_H */
