/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One worker: an epoll loop over its own SO_REUSEPORT listeners, client and
 * upstream connections. It follows the published snapshot between events
 * (a counter compare per loop turn) and reconciles its listeners with the
 * snapshot's Gateway servers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "http/h2.h"
#include "http/passthru.h"
#include "http/proxy.h"
#include "http/reqlog.h"

#define HX_TICK_MS	10
/* Non-blocking polls after a busy turn before sleeping in epoll_wait
 * (about 0.3 us each), set by SLUICE_HTTP_SPIN; off by default: measured,
 * it bought nothing on an idle core and lost CPU share on a busy one. */
static int hx_spin_polls;
#define HX_MAX_LISTENERS 64

struct hx_worker *hx_worker_new(int id)
{
	struct hx_worker *w = calloc(1, sizeof(*w));
	struct epoll_event ev;

	if (!w)
		return NULL;
	w->id = id;
	w->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)id << 32) ^ hx_now_ms();
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->wake_kind = HX_K_WAKE;
	w->mx = hx_metrics_new();
	w->ls = calloc(HX_MAX_LISTENERS, sizeof(*w->ls));
	if (w->ep < 0 || w->wake_fd < 0 || !w->mx || !w->ls)
		return NULL;
	ev.events = EPOLLIN;
	ev.data.ptr = &w->wake_kind;
	epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake_fd, &ev);
	return w;
}

struct hx_metrics *hx_worker_metrics(struct hx_worker *w)
{
	return w->mx;
}

void hx_worker_wake(struct hx_worker *w)
{
	uint64_t one = 1;

	if (write(w->wake_fd, &one, sizeof(one)) < 0) {
		/* counter full: the worker is awake anyway */
	}
}

static int listen_on(const char *addr, uint16_t port)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	struct sockaddr *sa;
	socklen_t sl;
	int fd, one = 1, fam;

	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	if (inet_pton(AF_INET, addr, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		s4.sin_port = htons(port);
		sa = (struct sockaddr *)&s4;
		sl = sizeof(s4);
		fam = AF_INET;
	} else if (inet_pton(AF_INET6, addr, &s6.sin6_addr) == 1) {
		s6.sin6_family = AF_INET6;
		s6.sin6_port = htons(port);
		sa = (struct sockaddr *)&s6;
		sl = sizeof(s6);
		fam = AF_INET6;
	} else {
		return -EINVAL;
	}
	fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, sa, sl) < 0 || listen(fd, 4096) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void add_listener(struct hx_worker *w, uint16_t port, bool gateway, bool tls,
			 const char *addr)
{
	struct epoll_event ev;
	struct hx_listener *l;
	size_t i;
	int fd;

	for (i = 0; i < w->nls; i++)
		if (w->ls[i].port == port && w->ls[i].gateway == gateway && w->ls[i].tls == tls) {
			w->ls[i].keep = true;
			return;
		}
	if (w->nls >= HX_MAX_LISTENERS)
		return;
	fd = listen_on(addr, port);
	hx_listen_result(addr, port, fd < 0 ? -fd : 0);
	if (fd < 0) {
		fprintf(stderr, "sluice-http: worker %d: listen %s:%u: %s\n", w->id, addr, port,
			strerror(-fd));
		return;
	}
	l = &w->ls[w->nls++];
	l->kind = HX_K_LISTENER;
	l->fd = fd;
	l->port = port;
	l->gateway = gateway;
	l->tls = tls;
	l->keep = true;
	ev.events = EPOLLIN;
	ev.data.ptr = l;
	epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Listeners wanted by the snapshot: the mesh one and one per Gateway HTTP
 * server port (a TLS one for HTTPS servers: policy_tls.c makes every server
 * of a port agree) or TLS passthrough port (its accepts go to passthru.c).
 * Others are closed. Listener slots never move while
 * their fds are in epoll: a closed slot is refilled from the end after
 * removal. */
static void reconcile_listeners(struct hx_worker *w)
{
	const struct sl_model *m = w->snap ? w->snap->m : NULL;
	size_t i, g, s;

	for (i = 0; i < w->nls; i++)
		w->ls[i].keep = false;
	if (hx_cfg.mesh_addr)
		add_listener(w, hx_cfg.mesh_port, false, false, hx_cfg.mesh_addr);
	for (g = 0; m && g < m->ngateways; g++)
		for (s = 0; s < m->gateways[g].nservers; s++) {
			const struct sl_gateway_server *sv = &m->gateways[g].servers[s];

			if (sl_gw_server_is_http(sv) || sl_gw_server_is_passthrough(sv))
				add_listener(w, sv->port, true, sv->tls.mode == SL_TLS_SIMPLE,
					     hx_cfg.gateway_addr);
		}
	for (i = 0; i < w->nls;) {
		if (w->ls[i].keep) {
			i++;
			continue;
		}
		epoll_ctl(w->ep, EPOLL_CTL_DEL, w->ls[i].fd, NULL);
		close(w->ls[i].fd);
		if (i != w->nls - 1) {
			struct epoll_event ev;

			epoll_ctl(w->ep, EPOLL_CTL_DEL, w->ls[w->nls - 1].fd, NULL);
			w->ls[i] = w->ls[w->nls - 1];
			ev.events = EPOLLIN;
			ev.data.ptr = &w->ls[i];
			epoll_ctl(w->ep, EPOLL_CTL_ADD, w->ls[i].fd, &ev);
		}
		w->nls--;
	}
}

static void follow_snapshot(struct hx_worker *w)
{
	uint64_t g = hx_snap_gen();
	struct hx_snap *s;

	if (g == w->snap_gen)
		return;
	s = hx_snap_get();
	w->snap_gen = g;
	hx_snap_put(w->snap);
	w->snap = s;
	reconcile_listeners(w);
}

static void v4mapped(const struct sockaddr_storage *ss, uint8_t out[16], uint16_t *port)
{
	memset(out, 0, 16);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		out[10] = out[11] = 0xff;
		memcpy(out + 12, &s4->sin_addr, 4);
		*port = ntohs(s4->sin_port);
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		memcpy(out, &s6->sin6_addr, 16);
		*port = ntohs(s6->sin6_port);
	}
}

static void on_accept(struct hx_worker *w, struct hx_listener *l)
{
	int k;

	for (k = 0; k < 64; k++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct epoll_event ev;
		struct hx_cli *c;
		int fd, one = 1;

		fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (w->nclis >= hx_cfg.max_conns || !w->snap) {
			close(fd);	/* connection limit */
			hx_metrics_reject(hx_worker_metrics(w), HX_REJ_MAX_CONNS);
			continue;
		}
		if (l->gateway && hx_pt_port(w->snap->m, l->port)) {
			hx_pt_accept(w, fd, l->port);	/* TLS passthrough */
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->kind = HX_K_CLIENT;
		c->fd = fd;
		c->w = w;
		c->gateway = l->gateway;
		c->entry_port = l->port;
		c->workload = -1;
		c->svc = c->subset = c->ep = -1;
		c->last_active = w->now;
		c->head_start = w->now;
		v4mapped(&ss, c->peer, &c->peer_port);
		if (!l->gateway && hx_cfg.origdst_fd >= 0) {
			uint32_t wl;

			/* the mesh listener serves what the connect hook sent
			 * here, nothing else: without an origdst entry the
			 * peer dialled the listener itself (a local user
			 * outside the steered cgroup, or anyone who can reach
			 * a node address given to --http-listen) */
			if (hx_origdst_lookup(hx_cfg.origdst_fd, c->peer, c->peer_port, c->vip,
					      &c->vip_port, &wl) != 0) {
				hx_metrics_reject(hx_worker_metrics(w), HX_REJ_NOT_STEERED);
				close(fd);
				free(c);
				continue;
			}
			{
				c->has_orig = true;
				/* by id, not position: this snapshot may
				 * be a generation older or newer than the
				 * one that tagged the connection */
				if (wl != SLUICE_NO_WORKLOAD && w->snap)
					c->workload = sl_l4_workload_index(w->snap->wids,
									   w->snap->m->nworkloads, wl);
			}
		}
		if (l->tls) {
			/* the listener follows the snapshot: its port is an
			 * HTTPS one there; the contexts stay with c */
			c->ssl = hx_tls_accept(w->snap->tls, l->port, fd, w->now);
			if (!c->ssl) {
				hx_metrics_reject(hx_worker_metrics(w), HX_REJ_TLS_HANDSHAKE);
				close(fd);
				free(c);
				continue;
			}
			c->tls = w->snap->tls;
			hx_tls_ref(c->tls);
		}
		hx_cli_link(w, c);
		ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
		ev.data.ptr = c;
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			hx_cli_close(c);
			continue;
		}
	}
}

static void on_client(struct hx_cli *c, uint32_t ev)
{
	if (ev & (EPOLLERR | EPOLLHUP)) {
		hx_cli_close(c);
		return;
	}
	if (ev & EPOLLOUT) {
		hx_cli_flush(c);
		if (c->closing && c->out.len == 0) {
			hx_cli_close(c);
			return;
		}
	}
	if (ev & (EPOLLIN | EPOLLRDHUP)) {
		c->rd_blocked = false;
		c->tls_want_write = false;
		hx_cli_pump(c);
	} else if ((ev & EPOLLOUT) && c->tls_want_write && c->kind == HX_K_CLIENT) {
		/* a TLS handshake or read was waiting for room to write */
		c->tls_want_write = false;
		c->rd_blocked = false;
		hx_cli_pump(c);
	}
}

/* Deadlines: slow heads (408), idle keep-alive, fault delays, upstream
 * time-outs. */
static void tick(struct hx_worker *w)
{
	struct hx_cli *c, *next;

	for (c = w->clis; c; c = next) {
		next = c->next;
		if (c->closing)
			continue;
		if (c->ssl && !c->tls_done) {
			if (w->now - c->head_start >= hx_cfg.tls_handshake_timeout_ms) {
				hx_metrics_reject(hx_worker_metrics(w), HX_REJ_TLS_HANDSHAKE);
				c->closing = true;
				hx_cli_close(c);
			}
			continue;
		}
		if (c->state == CS_H2) {
			int why = hx_h2_tick(c, w->now);

			if (why == 2)
				hx_metrics_reject(hx_worker_metrics(w), HX_REJ_HEADER_TIMEOUT);
			if (why)
				hx_cli_close(c);
			continue;
		}
		if (c->state == CS_HEAD) {
			/* a connection that never sent a byte has the header
			 * time-out from accept, not the idle one: silent
			 * sockets cannot hold the --max-conns slots */
			if (c->in.len == 0 && !c->served &&
			    w->now - c->head_start >= hx_cfg.header_timeout_ms) {
				hx_metrics_reject(hx_worker_metrics(w), HX_REJ_HEADER_TIMEOUT);
				c->closing = true;
				hx_cli_close(c);
				continue;
			}
			if (c->in.len > 0 && w->now - c->head_start >= hx_cfg.header_timeout_ms) {
				if (!c->served)
					hx_metrics_reject(hx_worker_metrics(w), HX_REJ_HEADER_TIMEOUT);
				c->close_after = true;
				hx_cli_local_reply(c, 408, "x-sluice-reason", "header-timeout");
				hx_cli_flush(c);
				c->closing = true;
				if (c->out.len == 0)
					hx_cli_close(c);
			} else if (c->in.len == 0 && c->out.len == 0 &&
				   w->now - c->last_active >= hx_cfg.idle_timeout_ms) {
				hx_cli_close(c);
			}
			continue;
		}
		if (c->state == CS_BODY && w->now - c->last_active >= hx_cfg.idle_timeout_ms) {
			/* a body trickling slower than the idle time-out */
			c->closing = true;
			hx_cli_close(c);
			continue;
		}
		if (!c->deadline || w->now < c->deadline)
			continue;
		if (c->state == CS_DELAY) {
			c->deadline = 0;
			c->state = c->body_done ? CS_WAIT : CS_BODY;
			if (hx_up_dispatch(c) == 0 && c->state == CS_BODY)
				hx_cli_pump(c);
			continue;
		}
		hx_up_timeout(c);
	}
}

void *hx_worker_run(void *arg)
{
	struct hx_worker *w = arg;
	struct epoll_event evs[256];
	uint64_t last_tick = 0, last_reap = 0;
	int n, i, spin_left = 0;

	w->now = hx_now_ms();
	if (getenv("SLUICE_HTTP_SPIN"))
		hx_spin_polls = atoi(getenv("SLUICE_HTTP_SPIN"));
	follow_snapshot(w);
	while (!hx_stop) {
		/* One epoll_wait per turn: a poll first and a sleep after it
		 * cost two syscalls whenever the poll came back empty. */
		n = epoll_wait(w->ep, evs, 256, spin_left > 0 ? 0 :
				w->nclis || hx_pt_active() ? HX_TICK_MS : 1000);
		if (n == 0 && spin_left > 0) {
			/* Busy for a moment after activity: the next event is
			 * usually microseconds away, and sleeping costs a wakeup
			 * on both sides. Bounded by SLUICE_HTTP_SPIN polls. */
			spin_left--;
			continue;
		}
		spin_left = n > 0 ? hx_spin_polls : 0;
		w->now = hx_now_ms();
		w->in_batch = true;	/* sends wait for hx_flush_batch */
		for (i = 0; i < n; i++) {
			int kind = *(int *)evs[i].data.ptr;

			switch (kind) {
			case HX_K_LISTENER:
				on_accept(w, evs[i].data.ptr);
				break;
			case HX_K_CLIENT:
				on_client(evs[i].data.ptr, evs[i].events);
				break;
			case HX_K_UPSTREAM:
				hx_up_event(evs[i].data.ptr, evs[i].events);
				break;
			case HX_K_PASSTHRU:
				hx_pt_event(evs[i].data.ptr, evs[i].events);
				break;
			case HX_K_WAKE: {
				uint64_t v;

				if (read(w->wake_fd, &v, sizeof(v)) < 0) {
					/* spurious */
				}
				break;
			}
			default:
				break;	/* HX_K_DEAD: closed earlier in this batch */
			}
		}
		hx_flush_batch(w);
		if (w->alog_len)
			hx_alog_flush(w);
		hx_reap_dead(w);
		follow_snapshot(w);
		if (w->now - last_tick >= HX_TICK_MS) {
			last_tick = w->now;
			tick(w);
			hx_mirror_tick(w);
			hx_pt_tick(w);
		}
		if (w->now - last_reap >= 1000) {
			last_reap = w->now;
			hx_pool_reap(w);
		}
		hx_reap_dead(w);
	}
	return NULL;
}
