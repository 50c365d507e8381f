/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS termination of Gateway HTTPS servers (tls.c): the snapshot's TLS
 * contexts, and non-blocking handshake/read/write for the worker's loop.
 */
#ifndef SLUICE_HTTP_TLS_H
#define SLUICE_HTTP_TLS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "http/hx.h"

#define HX_TLS_CHECK_MS	1000	/* certificate files stat()ed at most this often */

struct hx_tls;

/* The TLS contexts of every tls.mode SIMPLE server of m (with copies of
 * what they need of m: they may outlive it): 0 and *out (NULL when m has
 * none), or -EINVAL when a certificate or key does not load (printed),
 * -ENOMEM. Refcounted, starts at 1. */
int hx_tls_build(const struct sl_model *m, struct hx_tls **out);
void hx_tls_ref(struct hx_tls *t);
void hx_tls_put(struct hx_tls *t);
bool hx_tls_port_has(const struct hx_tls *t, uint16_t port);

/* A server-side SSL on fd for gateway port `port`, on the port's first
 * server's certificate until SNI picks another; NULL when the port has no
 * HTTPS server or on failure. The caller holds a reference on t for the
 * SSL's lifetime (the servername callback points into it). */
SSL *hx_tls_accept(struct hx_tls *t, uint16_t port, int fd, uint64_t now_ms);

/* After the handshake: may a request for host (hlen bytes, port stripped)
 * be served on this connection? When the client sent SNI, only the hosts of
 * the server its name picked (as Istio scopes an HTTPS server's routes to
 * that server); without SNI, any host of the port. Either way, not a host
 * that as an SNI name would pick another server checking client
 * certificates (MUTUAL, OPTIONAL_MUTUAL): that check did not run here. */
bool hx_tls_host_ok(SSL *ssl, const char *host, size_t hlen);

/* After the handshake: did ALPN pick h2 (h2.c)? */
bool hx_tls_alpn_h2(SSL *ssl);

/* 1 done, 0 waiting for the socket (*want_write set when for writing),
 * -1 failed (the connection is to be closed). */
int hx_tls_handshake(SSL *ssl, bool *want_write);
/* As recv/send: bytes, 0 = peer closed (read), -1 with errno EAGAIN
 * while waiting for the socket (*want_write when a read needs a write),
 * other errno on failure. */
ssize_t hx_tls_read(SSL *ssl, void *p, size_t n, bool *want_write);
ssize_t hx_tls_write(SSL *ssl, const void *p, size_t n);
/* close_notify when the handshake was done, then free. */
void hx_tls_free(SSL *ssl, bool handshake_done);

#endif /* SLUICE_HTTP_TLS_H */
