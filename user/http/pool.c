/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Upstream connections and the per-worker pool: per endpoint address:port
 * (and HTTP/2 or not), idle connections kept up to HX_POOL_IDLE_MAX and
 * their connectionPool idle time-out; new connections made non-blocking,
 * marked so the connect hook never steers them back (SLUICE_HELPER_MARK);
 * closed connections and clients freed after the event batch.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "http/proxy.h"
#include "sluice/abi.h"

#define HX_POOL_IDLE_MAX	512

static struct hx_pool *pool_find(struct hx_worker *w, const uint8_t addr[16], uint16_t port,
				  bool h2)
{
	struct hx_pool *np, **nv;
	size_t i;

	for (i = 0; i < w->npools; i++)
		if (w->pools[i]->port == port && w->pools[i]->h2 == h2 &&
		    memcmp(w->pools[i]->addr, addr, 16) == 0)
			return w->pools[i];
	if (w->npools >= 4096)
		return NULL;	/* pathological: connections go unpooled */
	nv = realloc(w->pools, (w->npools + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	w->pools = nv;
	np = calloc(1, sizeof(*np));
	if (!np)
		return NULL;
	memcpy(np->addr, addr, 16);
	np->port = port;
	np->h2 = h2;
	w->pools[w->npools++] = np;
	return np;
}

static void up_free(struct hx_up *u)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
	hx_buf_free(&u->in);
	hx_uh2_free(u);
	u->kind = HX_K_DEAD;
	u->dead_next = u->w->dead_ups;
	u->w->dead_ups = u;
}

void hx_reap_dead(struct hx_worker *w)
{
	while (w->dead_ups) {
		struct hx_up *u = w->dead_ups;

		w->dead_ups = u->dead_next;
		free(u);
	}
	while (w->dead_clis) {
		struct hx_cli *c = w->dead_clis;

		w->dead_clis = c->dead_next;
		free(c);
	}
}

static void pool_unlink(struct hx_up *u)
{
	struct hx_up **pp;

	if (!u->pool)
		return;
	for (pp = &u->pool->idle; *pp; pp = &(*pp)->next_idle)
		if (*pp == u) {
			*pp = u->next_idle;
			u->pool->nidle--;
			break;
		}
}

/* Done with an upstream connection: back to the idle list when the last
 * exchange left it clean, else closed. */
void hx_up_release(struct hx_up *u, bool reusable)
{
	struct hx_pool *p;

	u->cli = NULL;
	p = u->pool;
	if (!reusable || !p || p->nidle >= HX_POOL_IDLE_MAX || u->in.len != u->in.off) {
		up_free(u);
		return;
	}
	u->in.len = u->in.off = 0;
	u->idle_since = u->w->now;
	u->next_idle = p->idle;
	u->rd_blocked = false;
	p->idle = u;
	p->nidle++;
}

/* Idle connections older than a minute go. */
void hx_pool_reap(struct hx_worker *w)
{
	size_t i;

	for (i = 0; i < w->npools; i++) {
		struct hx_up **pp = &w->pools[i]->idle;

		while (*pp) {
			struct hx_up *u = *pp;

			if (w->now - u->idle_since > u->idle_limit_ms) {
				*pp = u->next_idle;
				w->pools[i]->nidle--;
				up_free(u);
			} else {
				pp = &u->next_idle;
			}
		}
	}
}

static void sockaddr_of(const uint8_t a[16], uint16_t port, struct sockaddr_storage *ss,
			socklen_t *len)
{
	static const uint8_t v4m[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(ss, 0, sizeof(*ss));
	if (memcmp(a, v4m, 12) == 0) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, a + 12, 4);
		*len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a, 16);
		*len = sizeof(*s6);
	}
}

void hx_up_keepalive(int fd, const struct sl_conn_pool *p)
{
	int on = 1, v;

	if (!p->tcp_keepalive)
		return;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	if ((v = (int)p->ka_time_s))
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v));
	if ((v = (int)p->ka_interval_s))
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof(v));
	if ((v = (int)p->ka_probes))
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof(v));
}

int hx_up_socket(const uint8_t addr[16], uint16_t port, struct sockaddr_storage *ss, socklen_t *sl)
{
	int fd, one = 1, mark = SLUICE_HELPER_MARK;

	sockaddr_of(addr, port, ss, sl);
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* never steered back to us by the connect hook; needs CAP_NET_ADMIN */
	setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
	return fd;
}

/* A pooled connection, or a new one with its connect() under way. */
struct hx_up *hx_up_get(struct hx_worker *w, const uint8_t addr[16], uint16_t port, bool h2,
			int *err)
{
	struct hx_pool *p = pool_find(w, addr, port, h2);
	struct sockaddr_storage ss;
	struct epoll_event ev;
	socklen_t sl;
	struct hx_up *u;

	*err = 0;
	if (p && p->idle) {
		u = p->idle;
		p->idle = u->next_idle;
		p->nidle--;
		u->next_idle = NULL;
		u->reused = true;
		return u;
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		*err = -ENOMEM;
		return NULL;
	}
	u->kind = HX_K_UPSTREAM;
	u->w = w;
	u->pool = p;
	u->idle_limit_ms = 60000;
	u->fd = hx_up_socket(addr, port, &ss, &sl);
	if (u->fd < 0) {
		*err = u->fd;
		free(u);
		return NULL;
	}
	if (h2 && (*err = hx_uh2_new(u)) < 0) {
		up_free(u);
		return NULL;
	}
	if (connect(u->fd, (struct sockaddr *)&ss, sl) == 0) {
		u->connected = true;
	} else if (errno != EINPROGRESS) {
		*err = -errno;
		up_free(u);
		return NULL;
	}
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = u;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, u->fd, &ev) < 0) {
		*err = -errno;
		up_free(u);
		return NULL;
	}
	return u;
}

void hx_pool_idle_event(struct hx_up *u, uint32_t ev)
{
	/* any event means the backend closed or spoke out of turn; either way
	 * the connection is not reusable (an HTTP/2 one may send connection
	 * frames between requests) */
	if (u->h2 && !(ev & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) && hx_uh2_idle(u) == 0)
		return;
	pool_unlink(u);
	up_free(u);
}
