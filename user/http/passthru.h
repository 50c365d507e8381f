/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS passthrough (passthru.c): Gateway servers with tls.mode PASSTHROUGH.
 * A connection on such a port is read until its ClientHello is whole
 * (clienthello.c), routed by the SNI name through the bound VirtualServices'
 * tls routes, and relayed unopened to the chosen endpoint, both ways, with
 * half-closes passed on. The proxy holds no key.
 */
#ifndef SLUICE_HTTP_PASSTHRU_H
#define SLUICE_HTTP_PASSTHRU_H

#include "http/proxy.h"

#define HX_PT_BUF	16384		/* relay buffer per direction */
#define HX_PT_IDLE_MS	3600000		/* a relay with no byte either way for 1 h is closed */
#define HX_PT_CONNECT_MS 10000		/* upstream connect, unless connectionPool.tcp.connectTimeout */

/* Where a passthrough connection goes: the gateway whose server admitted
 * the name, the VirtualService, its tls route and the sniHosts entry that
 * matched. */
struct hx_pt_pick {
	const struct sl_gateway *gw;
	const struct sl_vhost *vh;
	const struct sl_route *rt;
	const char *sni_host;
};

/* Is port a passthrough port of m (some Gateway server on it has tls.mode
 * PASSTHROUGH)? policy_tls.c keeps such ports free of HTTP servers. */
bool hx_pt_port(const struct sl_model *m, uint16_t port);

/* Route a connection to gateway port `port` whose ClientHello named sni
 * (len bytes, lower-case): the Gateways in model order whose passthrough
 * servers on the port admit the name (their hosts: "*", "*.suffix",
 * exact), their bound VirtualServices in order, the first tls route with a
 * match whose port is absent or this one and whose sniHosts admit the name.
 * 0 and *out, or -ENOENT. Pure: unit tests drive it without sockets. */
int hx_pt_route(const struct sl_model *m, uint16_t port, const char *sni, size_t len,
		struct hx_pt_pick *out);

/* The worker's side (worker.c): a connection accepted on a passthrough
 * port (the worker owns fd from here); an epoll event for one of its ends
 * (data.ptr, kind HX_K_PASSTHRU); and, between event batches, deadlines,
 * byte counts and freeing the connections closed in the batch. */
void hx_pt_accept(struct hx_worker *w, int fd, uint16_t port);
void hx_pt_event(void *end, uint32_t ev);
void hx_pt_tick(struct hx_worker *w);
/* Has this worker thread passthrough connections (their deadlines need
 * hx_pt_tick as often as the HTTP connections' need theirs)? */
bool hx_pt_active(void);

#endif /* SLUICE_HTTP_PASSTHRU_H */
