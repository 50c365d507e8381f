/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared harness of the kernel data-plane tests (tests/bpf/test_dp_*.c):
 * TAP output (tap.h), TCP backends as threads of the test process on 127.0.1.x
 * (outside the test cgroup, so never steered themselves; each answers
 * "<tag>\n" at accept, then echoes "<tag>:<data>"), a test cgroup tree below
 * the cgroup v2 root, a private pin root, client processes forked into a
 * cgroup, and a cleanup that removes everything also on failure or signal.
 * Included by one test file each; every function is static.
 */
#ifndef SLUICE_TEST_DP_HARNESS_H
#define SLUICE_TEST_DP_HARNESS_H
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include "sluice/dataplane.h"
#include "sluice/maps.h"
#include "policy_text.h"
#include "sluice/model.h"
#include "tap.h"

#define NBE 3			/* backends: v1, v2, v1b (second v1 endpoint) */
#define VIP "127.100.0.10"	/* tcp-echo */
#define VIP_SRC "127.100.0.11"	/* forecast: sourceLabels */
#define VIP_EMPTY "127.100.0.12"	/* a service with no endpoints */
#define VPORT 9000
#define TAG_UNKNOWN (-100000)	/* not an errno */

static const char *const be_addr[NBE] = { "127.0.1.1", "127.0.1.2", "127.0.1.3" };
static const char *const be_tag[NBE] = { "v1", "v2", "v1b" };

struct backend {
	int lfd;
	uint16_t port;
	pthread_t th;
};

static struct backend be[NBE];
static volatile int stopping;
static char cg_root[512], cg_parent[1024], cg_client[1100], cg_wl1[1100], cg_wl2[1100];
static char bpffs[256], cg_rel_wl1[256], cg_rel_wl2[256];
static struct sl_dp *dp;
static pid_t kids[8];
static uint16_t conn_port = VPORT;	/* port one_conn() connects to */

/* ---- backends -------------------------------------------------------- */

static inline void *backend_main(void *arg)
{
	struct backend *b = arg;
	struct pollfd pf[256];
	int n = 1, i, tagi = (int)(b - be);
	char buf[512], out[600];

	pf[0] = (struct pollfd){ .fd = b->lfd, .events = POLLIN };
	while (!stopping) {
		if (poll(pf, (nfds_t)n, 100) <= 0)
			continue;
		if (pf[0].revents & POLLIN) {
			int c = accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0) {
				snprintf(out, sizeof(out), "%s\n", be_tag[tagi]);
				if (write(c, out, strlen(out)) < 0 || n == 256)
					close(c);
				else
					pf[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
			}
		}
		for (i = 1; i < n; i++) {
			ssize_t r;

			if (!pf[i].revents)
				continue;
			r = read(pf[i].fd, buf, sizeof(buf) - 1);
			if (r <= 0) {
				close(pf[i].fd);
				pf[i--] = pf[--n];
				continue;
			}
			buf[r] = 0;
			snprintf(out, sizeof(out), "%s:%s", be_tag[tagi], buf);
			if (write(pf[i].fd, out, strlen(out)) < 0) {
				close(pf[i].fd);
				pf[i--] = pf[--n];
			}
		}
	}
	for (i = 1; i < n; i++)
		close(pf[i].fd);
	return NULL;
}

static inline int backend_start(int i)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);
	int one = 1;

	inet_pton(AF_INET, be_addr[i], &a.sin_addr);
	be[i].lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(be[i].lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (be[i].lfd < 0 || bind(be[i].lfd, (void *)&a, sizeof(a)) || listen(be[i].lfd, 4096) ||
	    getsockname(be[i].lfd, (void *)&a, &l))
		return -errno;
	be[i].port = ntohs(a.sin_port);
	return pthread_create(&be[i].th, NULL, backend_main, &be[i]) ? -EAGAIN : 0;
}

/* ---- setup / teardown -------------------------------------------------- */

static inline void cleanup(void)
{
	char err[SL_DP_ERRLEN] = "";
	size_t i;

	for (i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
	if (dp) {
		sl_dp_close(dp);
		dp = NULL;
	}
	if (bpffs[0] && sl_dp_reset(bpffs, err))
		fprintf(stderr, "cleanup: reset %s: %s\n", bpffs, err);
	if (cg_wl1[0])
		rmdir(cg_wl1);
	if (cg_wl2[0])
		rmdir(cg_wl2);
	if (cg_client[0])
		rmdir(cg_client);
	if (cg_parent[0])
		rmdir(cg_parent);
	cg_parent[0] = cg_client[0] = cg_wl1[0] = cg_wl2[0] = 0;
}

static inline void on_signal(int sig)
{
	(void)sig;
	cleanup();
	_exit(130);
}

static inline int find_cgroup2(void)
{
	return sl_cgroup2_root(cg_root, sizeof(cg_root), NULL);
}

static inline int setup(void)
{
	int i, rc, id = (int)getpid();

	if ((rc = find_cgroup2()))
		return rc;
	snprintf(cg_parent, sizeof(cg_parent), "%s/sluice-test-%d", cg_root, id);
	if (mkdir(cg_parent, 0755))
		return -errno;
	snprintf(cg_client, sizeof(cg_client), "%s/client", cg_parent);
	snprintf(cg_wl1, sizeof(cg_wl1), "%s/wl-v1", cg_parent);
	snprintf(cg_wl2, sizeof(cg_wl2), "%s/wl-v2", cg_parent);
	snprintf(cg_rel_wl1, sizeof(cg_rel_wl1), "sluice-test-%d/wl-v1", id);
	snprintf(cg_rel_wl2, sizeof(cg_rel_wl2), "sluice-test-%d/wl-v2", id);
	if (mkdir(cg_client, 0755) || mkdir(cg_wl1, 0755) || mkdir(cg_wl2, 0755))
		return -errno;
	snprintf(bpffs, sizeof(bpffs), "/sys/fs/bpf/sluice-test-%d", id);
	for (i = 0; i < NBE; i++)
		if ((rc = backend_start(i)))
			return rc;
	return 0;
}

/* The start of every test program (after its root check): cleanup() at
 * exit and on SIGINT/SIGTERM, SIGPIPE ignored, setup(), and o pointed at
 * the test's pin root and cgroup. Returns 0, or -errno after a "Bail out!"
 * line. */
static inline int dp_start(struct sl_dp_opts *o)
{
	int rc;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	atexit(cleanup);
	rc = setup();
	if (rc) {
		printf("Bail out! setup: %s\n", strerror(-rc));
		return rc;
	}
	o->bpffs = bpffs;
	o->cgroup = cg_parent;
	return 0;
}

/* The end of every test program, after its own sl_dp_reset check: nothing
 * left for cleanup() to reset, and the backends stop. */
static inline void dp_stop(void)
{
	bpffs[0] = 0;
	stopping = 1;
	for (int i = 0; i < NBE; i++)
		pthread_join(be[i].th, NULL);
}

/* ---- policy ------------------------------------------------------------ */

/* The tcp-echo ServiceEntry (VIP:9000) up to its endpoints: a test appends
 * its "  - {address: ...}" lines and the rest of its policy. */
#define TCP_ECHO_SE                                         \
	"apiVersion: networking.istio.io/v1beta1\n"         \
	"kind: ServiceEntry\n"                               \
	"metadata: {name: tcp-echo, namespace: t}\n"         \
	"spec:\n"                                            \
	"  hosts: [tcp-echo.t.svc.cluster.local]\n"          \
	"  addresses: [" VIP "]\n"                           \
	"  ports: [{number: 9000, name: tcp, protocol: TCP}]\n" \
	"  resolution: STATIC\n"                             \
	"  endpoints:\n"


/* ---- clients ----------------------------------------------------------- */

struct tally {
	int n[NBE];		/* per backend tag */
	int other, fail, first_errno, peer_vip, peer_not_vip, done;
};

/* Connections that reached subset v1 of tcp-echo (endpoints v1 and v1b). */
static inline int V1(const struct tally *t)
{
	return t->n[0] + t->n[2];
}

static inline int tag_index(const char *line)
{
	for (int i = 0; i < NBE; i++)
		if (!strcmp(line, be_tag[i]))
			return i;
	return TAG_UNKNOWN;
}

/* One connection: connect, read the tag line; returns the backend index,
 * TAG_UNKNOWN for an unknown answer, or -errno (connect refused, ...). */
static inline int one_conn(const char *vip, int keep, int *fd_out, int *peer_is_vip)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(conn_port) }, p;
	socklen_t pl = sizeof(p);
	char line[64];
	size_t got = 0;
	int fd, rc;

	inet_pton(AF_INET, vip, &a.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (void *)&a, sizeof(a))) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (peer_is_vip)
		*peer_is_vip = !getpeername(fd, (void *)&p, &pl) && p.sin_addr.s_addr == a.sin_addr.s_addr &&
			       p.sin_port == a.sin_port;
	while (got < sizeof(line) - 1) {
		ssize_t r = read(fd, line + got, 1);

		if (r <= 0)
			break;
		if (line[got] == '\n')
			break;
		got++;
	}
	line[got] = 0;
	rc = tag_index(line);
	if (keep && fd_out)
		*fd_out = fd;
	else
		close(fd);
	return rc;
}

static inline void join_cgroup(const char *cg)
{
	char path[1200], pid[32];
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, pid, strlen(pid)) < 0)
		_exit(97);
	close(fd);
}

/* Fork a client into cgroup cg making n connections to vip (or, when
 * n < 0, until a byte arrives on stop_fd, at most 200000). */
static inline int clients_start(const char *cg, const char *vip, int n, int stop_fd, int *rfd)
{
	int p[2], slot = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	while (slot < 7 && kids[slot])
		slot++;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct tally c = { 0 };
		struct pollfd pf = { .fd = stop_fd, .events = POLLIN };

		close(p[0]);
		alarm(120);	/* a stuck client must not hang the suite */
		join_cgroup(cg);
		for (int i = 0; n < 0 ? i < 200000 : i < n; i++) {
			int isvip = 0, b;

			if (n < 0 && poll(&pf, 1, 0) > 0)
				break;
			b = one_conn(vip, 0, NULL, &isvip);
			if (b >= 0)
				c.n[b]++;
			else if (b == TAG_UNKNOWN)
				c.other++;
			else if (!c.fail++)
				c.first_errno = -b;
			if (b >= 0 && isvip)
				c.peer_vip++;
			else if (b >= 0)
				c.peer_not_vip++;
			c.done++;
		}
		if (write(p[1], &c, sizeof(c)) < 0)
			_exit(98);
		_exit(0);
	}
	kids[slot] = pid;
	close(p[1]);
	*rfd = p[0];
	return slot;
}

static inline int clients_wait(int slot, int rfd, struct tally *t)
{
	ssize_t r;

	memset(t, 0, sizeof(*t));
	r = read(rfd, t, sizeof(*t));
	close(rfd);
	waitpid(kids[slot], NULL, 0);
	kids[slot] = 0;
	return r == (ssize_t)sizeof(*t) ? 0 : -EIO;
}

static inline int run_clients(const char *cg, const char *vip, int n, struct tally *t)
{
	int rfd, slot = clients_start(cg, vip, n, -1, &rfd);

	if (slot < 0)
		return slot;
	return clients_wait(slot, rfd, t);
}

/* A client holding one connection open across a policy change: reports
 * the backend it got, waits for `go`, then sends "ping" and reports the
 * echo (which names the backend that answered). */
struct held {
	int slot, rfd, wfd;
};

static inline int held_start(struct held *h)
{
	int up[2], down[2];
	pid_t pid;

	if (pipe2(up, O_CLOEXEC) || pipe2(down, O_CLOEXEC))
		return -errno;
	h->slot = 0;
	while (h->slot < 7 && kids[h->slot])
		h->slot++;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char reply[64] = "", go;
		int fd = -1, b;
		ssize_t r;

		close(up[0]);
		close(down[1]);
		alarm(120);
		join_cgroup(cg_client);
		b = one_conn(VIP, 1, &fd, NULL);
		if (write(up[1], &b, sizeof(b)) < 0 || read(down[0], &go, 1) != 1)
			_exit(98);
		if (b >= 0 && write(fd, "ping", 4) == 4) {
			r = read(fd, reply, sizeof(reply) - 1);
			reply[r > 0 ? r : 0] = 0;
		}
		if (write(up[1], reply, sizeof(reply)) < 0)
			_exit(98);
		_exit(0);
	}
	kids[h->slot] = pid;
	close(up[1]);
	close(down[0]);
	h->rfd = up[0];
	h->wfd = down[1];
	return 0;
}

static inline int wait_stats_settle(uint64_t *opened, uint64_t *established, uint64_t *closed,
			     int64_t *active)
{
	struct sl_dp_stat *st = NULL;
	size_t n, i;
	int tries;

	for (tries = 0; tries < 100; tries++) {
		*opened = *established = *closed = 0;
		*active = 0;
		if (sl_dp_stats(dp, &st, &n))
			return -EIO;
		for (i = 0; i < n; i++) {
			*opened += st[i].val.opened;
			*established += st[i].val.established;
			*closed += st[i].val.closed;
			*active += st[i].val.active;
		}
		free(st);
		st = NULL;
		if (*active == 0 && *closed == *established)
			return 0;
		usleep(50 * 1000);	/* bounded poll: 5 s */
	}
	return -ETIMEDOUT;
}

static inline int prog_count(const char *cg)
{
	static const enum bpf_attach_type types[] = {
		BPF_CGROUP_INET4_CONNECT, BPF_CGROUP_INET6_CONNECT, BPF_CGROUP_INET4_GETPEERNAME,
		BPF_CGROUP_INET6_GETPEERNAME, BPF_CGROUP_UDP4_RECVMSG, BPF_CGROUP_UDP6_RECVMSG,
		BPF_CGROUP_SOCK_OPS,
	};
	int fd = open(cg, O_RDONLY | O_DIRECTORY), total = 0;

	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		__u32 cnt = 0;

		if (!bpf_prog_query(fd, types[i], 0, NULL, NULL, &cnt))
			total += (int)cnt;
	}
	close(fd);
	return total;
}

/* ---- the tests ---------------------------------------------------------- */

/* Pearson chi-square of observed counts against expected shares. */
static inline double chi2(const int *obs, const double *share, int k, int n)
{
	double x = 0;

	for (int i = 0; i < k; i++) {
		double e = share[i] * n;

		x += (obs[i] - e) * (obs[i] - e) / e;
	}
	return x;
}


#endif /* SLUICE_TEST_DP_HARNESS_H */
