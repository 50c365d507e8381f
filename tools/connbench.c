// SPDX-License-Identifier: Apache-2.0
/*
 * connbench: the TCP echo backend and the connection load generator used by
 * the daemon tests, `make demo` and bench/bench_l4.sh.
 *
 *   connbench serve ADDR:PORT PREFIX
 *       echo server: every chunk received is answered with "PREFIX chunk".
 *       epoll, one thread; exits on SIGTERM.
 *
 *   connbench client ADDR:PORT [options]
 *       sequential connect + "hello\n" + read reply + close, per thread.
 *       -n N          connections in total (default 1000)
 *       -d SECONDS    run for a duration instead of a count
 *       -c THREADS    concurrent clients (default 1)
 *       --rate R      at most R connections per second in total
 *       --spread N    pick the target among N consecutive IPv4 addresses
 *       --linger0     close with RST (no TIME_WAIT: long benchmarks)
 *       --until WORD  connect until a reply starts with WORD; with
 *                     --after CMD, run CMD first and time from its return
 *       --hold MS     keep one connection for MS, pinging every 20 ms;
 *                     fails if the replying backend changes
 *   SIGTERM ends a load early; the summary is still printed.
 *   Output (stdout, one line): key=value pairs, then "words w1=N w2=N".
 *   Exit 0 when every connection succeeded (or the --until word came).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORDS 8
#define WORD_LEN 16

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64], *colon;

	snprintf(host, sizeof(host), "%s", s);
	colon = strrchr(host, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

/* ---- server ---- */

static volatile sig_atomic_t stop_flag;

static void on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int serve(const char *addr, const char *prefix)
{
	struct sockaddr_in sa;
	struct epoll_event ev, evs[64];
	size_t plen = strlen(prefix);
	int lfd, ep, one = 1, i, n;
	char buf[4096 + 64];

	if (parse_addr(addr, &sa) || plen > 32) {
		fprintf(stderr, "connbench serve: bad address or prefix\n");
		return 2;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
		fprintf(stderr, "connbench serve %s: %s\n", addr, strerror(errno));
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	memcpy(buf, prefix, plen);
	buf[plen] = ' ';
	while (!stop_flag) {
		n = epoll_wait(ep, evs, 64, 200);
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					ev.events = EPOLLIN;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			for (;;) {
				ssize_t r = read(fd, buf + plen + 1, 4096);

				if (r > 0) {
					if (write(fd, buf, plen + 1 + (size_t)r) < 0)
						break;
					continue;
				}
				if (r == 0 || errno != EAGAIN) {
					epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
					close(fd);
				}
				break;
			}
		}
	}
	close(lfd);
	return 0;
}

/* ---- client ---- */

struct cfg {
	struct sockaddr_in target;
	uint32_t spread;
	uint64_t total;		/* connections in total, 0 = by duration */
	double duration_s;
	int threads;
	double rate;
	bool linger0;
	const char *until;
	const char *after;
	int hold_ms;
};

struct words {
	char w[MAX_WORDS][WORD_LEN];
	uint64_t n[MAX_WORDS];
	uint64_t other;
};

struct worker {
	pthread_t th;
	const struct cfg *c;
	int id;
	uint64_t ok, fail;
	uint32_t *lat_us;	/* connect latencies */
	size_t nlat, caplat;
	struct words words;
	char err[128];
	unsigned int seed;
};

static uint64_t g_next;		/* connections handed out (atomic) */
static uint64_t g_start_ns, g_end_ns;

static void count_word(struct words *w, const char *reply)
{
	char word[WORD_LEN];
	size_t i = 0, k;

	while (reply[i] && reply[i] != ' ' && reply[i] != '\n' && i < WORD_LEN - 1) {
		word[i] = reply[i];
		i++;
	}
	word[i] = '\0';
	for (k = 0; k < MAX_WORDS; k++) {
		if (!w->w[k][0]) {
			memcpy(w->w[k], word, i + 1);
			w->n[k] = 1;
			return;
		}
		if (!strcmp(w->w[k], word)) {
			w->n[k]++;
			return;
		}
	}
	w->other++;
}

/* One connection: connect (timed), "hello\n", read the reply (bounded by
 * a 5 s receive timeout), close. Reply's first word in *word. */
static int one_conn(const struct cfg *c, unsigned int *seed, uint32_t *lat_us, char *reply,
		    size_t rlen, char *err, size_t errlen)
{
	struct sockaddr_in sa = c->target;
	struct timeval tv = { .tv_sec = 5 };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	uint64_t t0;
	ssize_t r;
	int fd, rc = 0;

	if (c->spread > 1)
		sa.sin_addr.s_addr = htonl(ntohl(sa.sin_addr.s_addr) + (uint32_t)(rand_r(seed) % c->spread));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	t0 = now_ns();
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "connect: %s", strerror(errno));
		rc = -1;
		goto out;
	}
	*lat_us = (uint32_t)((now_ns() - t0) / 1000);
	if (write(fd, "hello\n", 6) != 6) {
		snprintf(err, errlen, "write: %s", strerror(errno));
		rc = -1;
		goto out;
	}
	r = read(fd, reply, rlen - 1);
	if (r <= 0) {
		snprintf(err, errlen, "read: %s", r ? strerror(errno) : "connection closed");
		rc = -1;
		goto out;
	}
	reply[r] = '\0';
out:
	if (c->linger0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return rc;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	const struct cfg *c = w->c;
	double per_thread_gap = c->rate > 0 ? (double)c->threads / c->rate : 0;
	uint64_t next_at = now_ns();
	char reply[256];

	for (;;) {
		uint32_t lat = 0;
		char err[128];

		if (stop_flag)
			break;
		if (c->total) {
			if (__atomic_fetch_add(&g_next, 1, __ATOMIC_RELAXED) >= c->total)
				break;
		} else if (now_ns() >= g_end_ns) {
			break;
		}
		if (per_thread_gap > 0) {
			uint64_t now = now_ns();

			if (now < next_at) {
				struct timespec ts = { .tv_sec = (time_t)((next_at - now) / 1000000000ull),
						       .tv_nsec = (long)((next_at - now) % 1000000000ull) };

				nanosleep(&ts, NULL);
			}
			next_at += (uint64_t)(per_thread_gap * 1e9);
		}
		if (one_conn(c, &w->seed, &lat, reply, sizeof(reply), err, sizeof(err))) {
			w->fail++;
			if (!w->err[0])
				snprintf(w->err, sizeof(w->err), "%s", err);
			continue;
		}
		w->ok++;
		count_word(&w->words, reply);
		if (w->nlat == w->caplat) {
			size_t nc = w->caplat ? w->caplat * 2 : 4096;
			uint32_t *nl = realloc(w->lat_us, nc * sizeof(*nl));

			if (!nl)
				continue;
			w->lat_us = nl;
			w->caplat = nc;
		}
		w->lat_us[w->nlat++] = lat;
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int run_load(const struct cfg *c)
{
	struct worker *w = calloc((size_t)c->threads, sizeof(*w));
	struct words all = { 0 };
	uint64_t ok = 0, fail = 0, t1;
	uint32_t *lat = NULL;
	size_t nlat = 0, i, k, j;
	const char *err = NULL;
	double secs;

	if (!w)
		return 1;
	g_start_ns = now_ns();
	g_end_ns = g_start_ns + (uint64_t)(c->duration_s * 1e9);
	for (i = 0; i < (size_t)c->threads; i++) {
		w[i].c = c;
		w[i].id = (int)i;
		w[i].seed = (unsigned int)(now_ns() ^ (i * 2654435761u));
		pthread_create(&w[i].th, NULL, worker_run, &w[i]);
	}
	for (i = 0; i < (size_t)c->threads; i++)
		pthread_join(w[i].th, NULL);
	t1 = now_ns();
	for (i = 0; i < (size_t)c->threads; i++)
		nlat += w[i].nlat;
	lat = malloc((nlat ? nlat : 1) * sizeof(*lat));
	nlat = 0;
	for (i = 0; i < (size_t)c->threads; i++) {
		ok += w[i].ok;
		fail += w[i].fail;
		if (w[i].err[0] && !err)
			err = w[i].err;
		if (lat)
			for (k = 0; k < w[i].nlat; k++)
				lat[nlat++] = w[i].lat_us[k];
		for (k = 0; k < MAX_WORDS && w[i].words.w[k][0]; k++) {
			for (j = 0; j < MAX_WORDS; j++) {
				if (!all.w[j][0])
					memcpy(all.w[j], w[i].words.w[k], WORD_LEN);
				if (!strcmp(all.w[j], w[i].words.w[k])) {
					all.n[j] += w[i].words.n[k];
					break;
				}
			}
		}
		all.other += w[i].words.other;
	}
	if (lat && nlat)
		qsort(lat, nlat, sizeof(*lat), cmp_u32);
	secs = (double)(t1 - g_start_ns) / 1e9;
	printf("conns=%llu ok=%llu fail=%llu secs=%.3f rate=%.1f p50_us=%u p99_us=%u words",
	       (unsigned long long)(ok + fail), (unsigned long long)ok, (unsigned long long)fail,
	       secs, (double)ok / secs, nlat ? lat[nlat / 2] : 0,
	       nlat ? lat[(size_t)((double)nlat * 0.99)] : 0);
	for (j = 0; j < MAX_WORDS && all.w[j][0]; j++)
		printf(" %s=%llu", all.w[j], (unsigned long long)all.n[j]);
	printf("\n");
	if (err)
		fprintf(stderr, "connbench: first error: %s\n", err);
	for (i = 0; i < (size_t)c->threads; i++)
		free(w[i].lat_us);
	free(w);
	free(lat);
	return fail ? 1 : 0;
}

/* Run `after` (if any), then connect until a reply's first word is
 * c->until; reports the time from the command's return to that reply. */
static int run_until(const struct cfg *c)
{
	uint64_t t0, t;
	unsigned int seed = 1;
	char reply[256], err[128] = "";
	uint32_t lat;
	size_t wl = strlen(c->until);
	int tries = 0, fails = 0, rc;

	if (c->after) {
		rc = system(c->after);
		if (rc != 0) {
			fprintf(stderr, "connbench: --after command failed (%d)\n", rc);
			return 1;
		}
	}
	t0 = now_ns();
	for (;;) {
		t = now_ns();
		if (t - t0 > 10ull * 1000000000ull) {
			printf("until_us=-1 tries=%d fail=%d\n", tries, fails);
			return 1;
		}
		tries++;
		if (one_conn(c, &seed, &lat, reply, sizeof(reply), err, sizeof(err))) {
			fails++;
			continue;
		}
		if (!strncmp(reply, c->until, wl) && (reply[wl] == ' ' || reply[wl] == '\0'))
			break;
	}
	printf("until_us=%.1f tries=%d fail=%d\n", (double)(now_ns() - t0) / 1000.0, tries, fails);
	return fails ? 1 : 0;
}

/* One long connection, pinged every 20 ms; the first word must not change. */
static int run_hold(const struct cfg *c)
{
	struct sockaddr_in sa = c->target;
	char first[256] = "", buf[256];
	uint64_t end;
	int fd, pings = 0, changes = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		printf("hold pings=0 changes=0 error=%s\n", strerror(errno));
		return 1;
	}
	printf("hold connected\n");
	fflush(stdout);
	end = now_ns() + (uint64_t)c->hold_ms * 1000000ull;
	while (now_ns() < end) {
		ssize_t r;
		char *sp;

		if (write(fd, "ping\n", 5) != 5 || (r = read(fd, buf, sizeof(buf) - 1)) <= 0) {
			printf("hold pings=%d changes=%d error=connection lost\n", pings, changes);
			close(fd);
			return 1;
		}
		buf[r] = '\0';
		sp = strchr(buf, ' ');
		if (sp)
			*sp = '\0';
		if (!first[0])
			snprintf(first, sizeof(first), "%s", buf);
		else if (strcmp(first, buf))
			changes++;
		pings++;
		usleep(20000);
	}
	close(fd);
	printf("hold pings=%d changes=%d word=%s\n", pings, changes, first);
	return changes ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: connbench serve ADDR:PORT PREFIX\n"
			"       connbench client ADDR:PORT [-n N|-d SEC] [-c THREADS] [--rate R]\n"
			"                 [--spread N] [--linger0] [--until WORD [--after CMD]] [--hold MS]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct cfg c = { .total = 1000, .threads = 1, .spread = 1 };
	int i;

	if (argc >= 4 && !strcmp(argv[1], "serve"))
		return serve(argv[2], argv[3]);
	if (argc < 3 || strcmp(argv[1], "client") || parse_addr(argv[2], &c.target))
		return usage();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);	/* stop early, still print the summary */
	for (i = 3; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--linger0")) {
			c.linger0 = true;
			continue;
		}
		if (!v)
			return usage();
		i++;
		if (!strcmp(a, "-n"))
			c.total = strtoull(v, NULL, 10);
		else if (!strcmp(a, "-d")) {
			c.duration_s = atof(v);
			c.total = 0;
		} else if (!strcmp(a, "-c"))
			c.threads = atoi(v);
		else if (!strcmp(a, "--rate"))
			c.rate = atof(v);
		else if (!strcmp(a, "--spread"))
			c.spread = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--until"))
			c.until = v;
		else if (!strcmp(a, "--after"))
			c.after = v;
		else if (!strcmp(a, "--hold"))
			c.hold_ms = atoi(v);
		else
			return usage();
	}
	if (c.threads < 1 || c.threads > 256 || c.spread < 1)
		return usage();
	if (c.hold_ms > 0)
		return run_hold(&c);
	if (c.until)
		return run_until(&c);
	return run_load(&c);
}
