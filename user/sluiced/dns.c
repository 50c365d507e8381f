/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DNS names of `resolution: DNS` ServiceEntries (their endpoints' names, or
 * their hosts when they have no endpoints), resolved with c-ares (A and
 * AAAA, /etc/hosts first, as getaddrinfo does). The live generation holds
 * the last good addresses of every name; a changed answer compiles the same
 * model again into a new generation (atomic, as every apply). TTLs decide
 * the next query, clamped to [1 s, --dns-refresh]; an answer without a TTL
 * (/etc/hosts) is asked again after --dns-refresh. A failed query keeps the
 * last good addresses and is retried sooner; `sluicectl status` shows each
 * name, its addresses and its last error. c-ares' sockets join the daemon's
 * epoll set through its socket-state callback.
 */
#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "sluiced/sluiced.h"
#include "sluiced/view.h"

#define DNS_RETRY_MS	5000u	/* after a failure, at most this long to the next try */
#define DNS_MIN_MS	1000u	/* floor of a TTL */
#define DNS_MAX_ADDRS	64	/* addresses kept per name */
#define DNS_FIRST_WAIT_MS 1500u	/* an apply waits this long for new names */

struct dns_name {
	char *name;
	struct sl_ip *ips;		/* last good answer, sorted; NULL = none yet */
	size_t nips;
	uint64_t next_ms;		/* next query due */
	uint64_t ok_ms;			/* last answer, 0 = never */
	uint32_t ttl_s;			/* of the last answer, 0 = none given */
	char err[96];			/* last failure, "" = the last query answered */
	bool pending;			/* a query is out (the callback owns a ref) */
	bool used;			/* the live model names it */
	struct sluiced *d;
};

static int ares_ready = -1;

static void sock_state(void *arg, ares_socket_t fd, int readable, int writable)
{
	struct sluiced *d = arg;
	struct epoll_event ev = { .data.fd = fd };

	ev.events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
	if (!readable && !writable) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
		for (size_t i = 0; i < d->dns.nfds; i++)
			if (d->dns.fds[i] == fd)
				d->dns.fds[i] = d->dns.fds[--d->dns.nfds];
		return;
	}
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 && d->dns.nfds < SLUICED_DNS_FDS)
		d->dns.fds[d->dns.nfds++] = fd;
}

static int init_channel(struct sluiced *d)
{
	struct ares_options o = { .sock_state_cb = sock_state, .sock_state_cb_data = d,
				  .timeout = 2000, .tries = 2 };
	int rc;

	if (d->dns.channel)
		return 0;
	if (ares_ready < 0)
		ares_ready = ares_library_init(ARES_LIB_INIT_ALL);
	if (ares_ready != ARES_SUCCESS)
		return -ENOMEM;
	rc = ares_init_options((ares_channel *)&d->dns.channel, &o,
			       ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		sluiced_err("dns: cannot start the resolver: %s", ares_strerror(rc));
		d->dns.channel = NULL;
		return -EIO;
	}
	return 0;
}

static int ip_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sl_ip));
}

/* The addresses of an answer, v4-mapped, sorted and unique; the smallest
 * TTL. */
static size_t answer_ips(const struct ares_addrinfo *ai, struct sl_ip *out, uint32_t *ttl)
{
	size_t n = 0, i, o = 0;

	*ttl = 0;
	for (const struct ares_addrinfo_node *p = ai ? ai->nodes : NULL; p && n < DNS_MAX_ADDRS;
	     p = p->ai_next) {
		struct sl_ip ip = { 0 };

		if (p->ai_family == AF_INET) {
			ip.family = AF_INET;
			ip.addr[10] = ip.addr[11] = 0xff;
			memcpy(ip.addr + 12, &((const struct sockaddr_in *)p->ai_addr)->sin_addr, 4);
		} else if (p->ai_family == AF_INET6) {
			ip.family = AF_INET6;
			memcpy(ip.addr, &((const struct sockaddr_in6 *)p->ai_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		out[n++] = ip;
		if (p->ai_ttl > 0 && (!*ttl || (uint32_t)p->ai_ttl < *ttl))
			*ttl = (uint32_t)p->ai_ttl;
	}
	qsort(out, n, sizeof(*out), ip_cmp);
	for (i = 0; i < n; i++)
		if (!o || ip_cmp(&out[o - 1], &out[i]))
			out[o++] = out[i];
	return o;
}

static void ips_text(const struct sl_ip *ips, size_t n, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off + 2 < len; i++) {
		char a[INET6_ADDRSTRLEN];

		view_addr(ips[i].addr, a, sizeof(a));
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", a);
	}
}

static void free_name(struct dns_name *e)
{
	free(e->name);
	free(e->ips);
	free(e);
}

static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct dns_name *e = arg;
	struct sluiced *d = e->d;
	struct sl_ip ips[DNS_MAX_ADDRS];
	uint64_t now = sluiced_now_ms(), wait;
	char text[512];
	uint32_t ttl = 0;
	size_t n = 0;

	(void)timeouts;
	e->pending = false;
	if (status == ARES_EDESTRUCTION || !e->used) {
		/* the daemon is stopping, or the policy dropped the name */
		if (ai)
			ares_freeaddrinfo(ai);
		free_name(e);
		return;
	}
	if (status == ARES_SUCCESS)
		n = answer_ips(ai, ips, &ttl);
	if (ai)
		ares_freeaddrinfo(ai);
	if (status != ARES_SUCCESS || n == 0) {
		snprintf(e->err, sizeof(e->err), "%s",
			 status == ARES_SUCCESS ? "no address" : ares_strerror(status));
		wait = d->o.dns_refresh_ms < DNS_RETRY_MS ? d->o.dns_refresh_ms : DNS_RETRY_MS;
		e->next_ms = now + wait;
		d->dns.failures++;
		sluiced_warn("dns: %s: %s; %s (next try in %llu s)", e->name, e->err,
			     e->nips ? "keeping the last good addresses" : "no address yet",
			     (unsigned long long)(wait / 1000));
		return;
	}
	e->err[0] = '\0';
	e->ok_ms = now;
	e->ttl_s = ttl;
	wait = ttl ? (uint64_t)ttl * 1000 : d->o.dns_refresh_ms;
	if (wait > d->o.dns_refresh_ms)
		wait = d->o.dns_refresh_ms;
	if (wait < DNS_MIN_MS)
		wait = DNS_MIN_MS;
	e->next_ms = now + wait;
	if (n == e->nips && !memcmp(ips, e->ips, n * sizeof(*ips)))
		return;
	struct sl_ip *copy = malloc(n * sizeof(*copy));

	if (!copy) {
		snprintf(e->err, sizeof(e->err), "out of memory");
		return;
	}
	memcpy(copy, ips, n * sizeof(*copy));
	free(e->ips);
	e->ips = copy;
	e->nips = n;
	ips_text(ips, n, text, sizeof(text));
	sluiced_log("dns: %s resolves to %s%s", e->name, text, ttl ? "" : " (no TTL)");
	d->dns.changed = true;
}

static struct dns_name *find(struct sluiced *d, const char *name)
{
	for (size_t i = 0; i < d->dns.n; i++)
		if (!strcmp(d->dns.v[i]->name, name))
			return d->dns.v[i];
	return NULL;
}

size_t sluiced_dns_lookup(const char *name, const struct sl_ip **out, void *arg)
{
	struct dns_name *e = find(arg, name);

	*out = e ? e->ips : NULL;
	return e ? e->nips : 0;
}

/* Mark the names m uses, adding new ones (asked at the next tick). */
static void add_names(struct sluiced *d, const struct sl_model *m)
{
	size_t i, e;

	for (i = 0; m && i < m->nservices; i++)
		for (e = 0; e < m->services[i].nendpoints; e++) {
			const struct sl_endpoint *ep = &m->services[i].endpoints[e];
			struct dns_name *n;

			if (!ep->dns_name)
				continue;
			n = find(d, ep->address);
			if (!n) {
				struct dns_name **v = realloc(d->dns.v, (d->dns.n + 1) * sizeof(*v));

				n = calloc(1, sizeof(*n));
				if (v)
					d->dns.v = v;
				if (!v || !n || !(n->name = strdup(ep->address))) {
					free(n);
					sluiced_err("dns: out of memory for %s", ep->address);
					continue;
				}
				n->d = d;
				d->dns.v[d->dns.n++] = n;
				if (!init_channel(d))
					d->dns.wake = true;
			}
			n->used = true;
		}
}

/* Keep exactly the names the live model uses. */
void sluiced_dns_sync(struct sluiced *d)
{
	size_t i, o = 0;

	for (i = 0; i < d->dns.n; i++)
		d->dns.v[i]->used = false;
	add_names(d, d->model);
	for (i = 0; i < d->dns.n; i++) {
		struct dns_name *n = d->dns.v[i];

		if (n->used)
			d->dns.v[o++] = n;
		else if (!n->pending)
			free_name(n);	/* a pending one is freed by its callback */
	}
	d->dns.n = o;
}

/* Send the queries that are due. */
static void sluiced_dns_query(struct sluiced *d)
{
	uint64_t now = sluiced_now_ms();

	for (size_t i = 0; i < d->dns.n; i++) {
		struct dns_name *e = d->dns.v[i];
		struct ares_addrinfo_hints h = { .ai_family = AF_UNSPEC,
						 .ai_flags = ARES_AI_NOSORT };

		if (e->pending || e->next_ms > now)
			continue;
		e->pending = true;
		d->dns.queries++;
		ares_getaddrinfo(d->dns.channel, e->name, NULL, &h, on_answer, e);
	}
}

/* Ask for the names that are due; after the answers, compile the live
 * model again when an address changed. */
void sluiced_dns_tick(struct sluiced *d)
{
	char err[SL_DP_ERRLEN] = "";
	uint32_t gen = 0;
	int rc;

	d->dns.wake = false;
	if (!d->dns.channel)
		return;
	ares_process_fd(d->dns.channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);	/* time-outs */
	sluiced_dns_query(d);
	if (!d->dns.changed || !d->model || !d->dp)
		return;
	d->dns.changed = false;
	rc = sl_dp_apply(d->dp, d->model, &gen, err);
	if (rc) {
		/* the live generation keeps the previous addresses */
		sluiced_warn("dns: addresses changed but the data plane refused them: %s (%s); "
			     "generation %u stays live", err, strerror(-rc), sl_dp_generation(d->dp));
		d->dns.changed = true;	/* tried again with the next tick */
		return;
	}
	d->dns.applies++;
	sluiced_stats_gc_schedule(d);
	sluiced_log("dns: generation %u carries the new addresses", gen);
}

/* Before m is compiled: its names that never had an answer are asked now,
 * waiting at most DNS_FIRST_WAIT_MS for them (the apply's client waits
 * anyway; a name without an answer then has no address yet). */
void sluiced_dns_prepare(struct sluiced *d, const struct sl_model *m)
{
	uint64_t deadline = sluiced_now_ms() + DNS_FIRST_WAIT_MS, now;
	bool waiting = true;

	add_names(d, m);
	if (!d->dns.channel)
		return;
	for (size_t i = 0; i < d->dns.n; i++)
		if (!d->dns.v[i]->ok_ms && !d->dns.v[i]->err[0])
			d->dns.v[i]->next_ms = 0;
	sluiced_dns_query(d);
	while (waiting && (now = sluiced_now_ms()) < deadline) {
		struct pollfd p[SLUICED_DNS_FDS];
		struct timeval tv, max = { .tv_sec = 0, .tv_usec = (suseconds_t)((deadline - now) * 1000) };
		struct timeval *tvp = ares_timeout(d->dns.channel, &max, &tv);
		size_t n = d->dns.nfds;

		for (size_t i = 0; i < n; i++)
			p[i] = (struct pollfd){ .fd = d->dns.fds[i], .events = POLLIN };
		if (poll(p, n, (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000)) < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < n; i++)
			if (p[i].revents)
				ares_process_fd(d->dns.channel, p[i].fd, ARES_SOCKET_BAD);
		ares_process_fd(d->dns.channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
		waiting = false;
		for (size_t i = 0; i < d->dns.n; i++)
			waiting |= d->dns.v[i]->pending && !d->dns.v[i]->ok_ms;
	}
	d->dns.changed = false;	/* the apply compiles what is known now */
}

void sluiced_dns_event(struct sluiced *d, int fd, uint32_t events)
{
	if (!d->dns.channel)
		return;
	ares_process_fd(d->dns.channel, (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ? fd
										 : ARES_SOCKET_BAD,
			(events & EPOLLOUT) ? fd : ARES_SOCKET_BAD);
}

bool sluiced_dns_owns(const struct sluiced *d, int fd)
{
	for (size_t i = 0; i < d->dns.nfds; i++)
		if (d->dns.fds[i] == fd)
			return true;
	return false;
}

/* ms until the next due query or c-ares time-out; UINT64_MAX = none. */
uint64_t sluiced_dns_next_ms(struct sluiced *d)
{
	uint64_t now = sluiced_now_ms(), t = UINT64_MAX;
	struct timeval tv, *tvp;

	if (d->dns.wake || d->dns.changed)
		return 0;
	for (size_t i = 0; i < d->dns.n; i++)
		if (!d->dns.v[i]->pending)
			t = d->dns.v[i]->next_ms <= now ? 0
				: (d->dns.v[i]->next_ms - now < t ? d->dns.v[i]->next_ms - now : t);
	if (d->dns.channel && (tvp = ares_timeout(d->dns.channel, NULL, &tv))) {
		uint64_t ms = (uint64_t)tvp->tv_sec * 1000 + (uint64_t)tvp->tv_usec / 1000;
		t = ms < t ? ms : t;
	}
	return t;
}

void sluiced_dns_status(struct sluiced *d, struct vrec *r)
{
	uint64_t now = sluiced_now_ms();
	struct vfield *list = vf_list(r, "dns");

	for (size_t i = 0; i < d->dns.n; i++) {
		const struct dns_name *e = d->dns.v[i];
		struct vrec *it = vf_item(list);
		char text[512];

		ips_text(e->ips, e->nips, text, sizeof(text));
		vf_add(list, "%s -> %s%s%s", e->name, e->nips ? text : "(no address yet)",
		       e->err[0] ? "; last query failed: " : "", e->err);
		vf_str(it, "name", "%s", e->name);
		vf_str(it, "addresses", "%s", e->nips ? text : "(none yet)");
		vf_bool(it, "resolved", e->nips > 0);
		vf_num(it, "ttl_s", e->ttl_s);
		vf_num(it, "age_s", e->ok_ms ? (now - e->ok_ms) / 1000 : 0);
		vf_str(it, "error", "%s", e->err[0] ? e->err : "-");
	}
}

void sluiced_dns_free(struct sluiced *d)
{
	for (size_t i = 0; i < d->dns.n; i++) {
		if (d->dns.v[i]->pending)
			d->dns.v[i]->used = false;	/* its callback frees it */
		else
			free_name(d->dns.v[i]);
	}
	if (d->dns.channel)
		ares_destroy(d->dns.channel);	/* runs the pending callbacks */
	d->dns.channel = NULL;
	free(d->dns.v);
	d->dns.v = NULL;
	d->dns.n = 0;
	if (ares_ready == ARES_SUCCESS)
		ares_library_cleanup();
	ares_ready = -1;
}
