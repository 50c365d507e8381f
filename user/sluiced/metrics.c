// SPDX-License-Identifier: Apache-2.0
/*
 * --metrics ADDR:PORT: Prometheus text exposition. Istio's TCP metric names
 * with destination_service / destination_version (the subset), summed over
 * the backends of each subset from the kernel's per-backend counters, plus
 * sluiced's own gauges, plus whatever sluice-http serves on its metrics
 * unix socket (istio_requests_total, ...), appended verbatim.
 *
 * Direction, as Istio defines it for TCP: received bytes are the client's
 * request bytes (client -> backend), sent bytes the response bytes.
 *
 * The request head is parsed with llhttp for its path: /healthz answers
 * 200 while the daemon's loop runs (liveness), /readyz 200 once the start's
 * restore and policy-dir load are done and the data plane is live
 * (sluiced_live), else 503 with the reason (readiness); any other path gets
 * the exposition (scrapers ask for /metrics).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <llhttp.h>

#include "sluiced.h"
#include "stats_names.h"

static void helper_metrics(const struct sluiced *d, FILE *f);

int sluiced_helper_listen_failure(const struct sluiced *d, char *why, size_t len)
{
	static const char key[] = "sluice_http_listener_failed{listener=\"";
	char *text = NULL, *p, *q, *e;
	size_t tlen = 0;
	FILE *f = open_memstream(&text, &tlen);
	int found = 0;

	if (!f)
		return 0;
	helper_metrics(d, f);
	fclose(f);
	/* sluice-http's own line: listener="ADDR:PORT",error="TEXT" */
	p = text ? strstr(text, key) : NULL;
	if (p) {
		p += sizeof(key) - 1;
		q = strstr(p, "\",error=\"");
		e = q ? strchr(q + 9, '"') : NULL;
		if (q && e) {
			snprintf(why, len, "sluice-http cannot listen on %.*s: %.*s", (int)(q - p), p,
				 (int)(e - (q + 9)), q + 9);
			found = 1;
		}
	}
	free(text);
	return found;
}

int sluiced_metrics_open(struct sluiced *d)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	char host[128], *colon;
	socklen_t slen;
	int fd, one = 1, port;

	snprintf(host, sizeof(host), "%s", d->o.metrics);
	colon = strrchr(host, ':');
	if (!colon || !colon[1])
		return -EINVAL;
	*colon = '\0';
	port = atoi(colon + 1);
	if (port <= 0 || port > 65535)
		return -EINVAL;
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		host[strlen(host) - 1] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		slen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		slen = sizeof(*s6);
	} else {
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, slen) < 0 || listen(fd, 16) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	d->metrics_fd = fd;
	return 0;
}

static void label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

struct agg {
	char svc[256], sub[64];
	struct sluice_stats v;
};

static int cmp_agg(const void *a, const void *b)
{
	const struct agg *x = a, *y = b;
	int c = strcmp(x->svc, y->svc);

	return c ? c : strcmp(x->sub, y->sub);
}

static void metric_family(FILE *f, const char *name, const char *help, const struct agg *a,
			  size_t n, int which)
{
	size_t i;

	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (i = 0; i < n; i++) {
		const struct sluice_stats *v = &a[i].v;
		/* the kernel counts on the client's socket: what it sent is
		 * the request (Istio's received bytes), what it received the
		 * response (Istio's sent bytes) */
		uint64_t val = which == 0 ? v->opened : which == 1 ? v->closed :
			       which == 2 ? v->bytes_sent : v->bytes_received;

		fprintf(f, "%s{reporter=\"source\",destination_service=\"", name);
		label_value(f, a[i].svc);
		fputs("\",destination_version=\"", f);
		label_value(f, a[i].sub[0] ? a[i].sub : "unknown");
		fprintf(f, "\"} %llu\n", (unsigned long long)val);
	}
}

/* Per (service, subset) sums of the kernel counters. */
static void tcp_metrics(struct sluiced *d, FILE *f)
{
	struct sl_dp_stat *st = NULL;
	struct stat_names sn;
	struct agg *a = NULL;
	size_t n = 0, na = 0, i;

	if (!d->dp || sl_dp_stats(d->dp, &st, &n))
		return;
	if (stat_names_init(&sn, d->model)) {
		free(st);
		return;
	}
	a = calloc(n ? n : 1, sizeof(*a));
	for (i = 0; a && i < n; i++) {
		stat_names_get(&sn, &st[i].key, a[i].svc, sizeof(a[i].svc), a[i].sub, sizeof(a[i].sub));
		a[i].v = st[i].val;
	}
	if (a) {
		qsort(a, n, sizeof(*a), cmp_agg);
		for (i = 0; i < n; i++) {
			if (na && !cmp_agg(&a[na - 1], &a[i])) {
				a[na - 1].v.opened += a[i].v.opened;
				a[na - 1].v.closed += a[i].v.closed;
				a[na - 1].v.bytes_sent += a[i].v.bytes_sent;
				a[na - 1].v.bytes_received += a[i].v.bytes_received;
			} else {
				a[na++] = a[i];
			}
		}
		metric_family(f, "istio_tcp_connections_opened_total",
			      "TCP connections opened (steered at connect).", a, na, 0);
		metric_family(f, "istio_tcp_connections_closed_total", "TCP connections closed.", a,
			      na, 1);
		metric_family(f, "istio_tcp_received_bytes_total",
			      "Request bytes, client to backend, counted at close.", a, na, 2);
		metric_family(f, "istio_tcp_sent_bytes_total",
			      "Response bytes, backend to client, counted at close.", a, na, 3);
	}
	free(a);
	free(st);
	stat_names_free(&sn);
}

/* The helper's exposition, read from its unix socket (bounded: 1 s). */
static void helper_metrics(const struct sluiced *d, FILE *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 1 };
	char buf[16384];
	ssize_t r;
	int fd;

	if (d->helper.state != HELPER_RUNNING)
		return;
	sluiced_helper_metrics_path(d, sa.sun_path, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		while ((r = read(fd, buf, sizeof(buf))) > 0)
			fwrite(buf, 1, (size_t)r, f);
	}
	close(fd);
}

static void exposition(struct sluiced *d, FILE *f)
{
	uint64_t c[__SLUICE_CNT_MAX];
	char nb[32];
	int i;

	tcp_metrics(d, f);
	fprintf(f, "# HELP sluice_generation The live policy generation.\n"
		   "# TYPE sluice_generation gauge\nsluice_generation %u\n",
		d->dp ? sl_dp_generation(d->dp) : 0);
	fprintf(f, "# HELP sluice_applies_total Applies that became live.\n"
		   "# TYPE sluice_applies_total counter\nsluice_applies_total %llu\n",
		(unsigned long long)d->applies);
	fprintf(f, "# HELP sluice_apply_refused_total Applies refused as invalid.\n"
		   "# TYPE sluice_apply_refused_total counter\nsluice_apply_refused_total %llu\n",
		(unsigned long long)d->refused);
	if (d->dp && sl_dp_counters(d->dp, c) == 0) {
		fputs("# HELP sluice_datapath_events_total Data-path events by kind.\n"
		      "# TYPE sluice_datapath_events_total counter\n", f);
		for (i = 0; i < __SLUICE_CNT_MAX; i++)
			fprintf(f, "sluice_datapath_events_total{event=\"%s\"} %llu\n",
				sluiced_counter_name(i, nb, sizeof(nb)), (unsigned long long)c[i]);
	}
	helper_metrics(d, f);
}

struct probe_req {
	char path[64];
	size_t len;
	bool done;
};

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	struct probe_req *r = p->data;

	if (r->len + len < sizeof(r->path)) {
		memcpy(r->path + r->len, at, len);
		r->len += len;
		r->path[r->len] = '\0';
	}
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	((struct probe_req *)p->data)->done = true;
	return HPE_PAUSED;
}

static const llhttp_settings_t probe_settings = {
	.on_url = on_url,
	.on_headers_complete = on_headers_complete,
};

static void serve(struct sluiced *d, int fd)
{
	struct timeval tv = { .tv_sec = 2 };
	char req[8192], hdr[256], *body = NULL, why[256];
	const char *status = "200 OK", *ctype = "text/plain; version=0.0.4";
	struct probe_req pr = { 0 };
	size_t got = 0, blen = 0;
	llhttp_t parser;
	FILE *f;
	int n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (got < sizeof(req) - 1) {
		ssize_t r = read(fd, req + got, sizeof(req) - 1 - got);

		if (r <= 0)
			return;
		got += (size_t)r;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	llhttp_init(&parser, HTTP_REQUEST, &probe_settings);
	parser.data = &pr;
	llhttp_execute(&parser, req, got);
	f = open_memstream(&body, &blen);
	if (!f)
		return;
	if (!pr.done) {
		status = "400 Bad Request";
		ctype = "text/plain";
		fputs("bad request\n", f);
	} else if (!strcmp(pr.path, "/healthz")) {
		ctype = "text/plain";
		fputs("ok\n", f);
	} else if (!strcmp(pr.path, "/readyz")) {
		ctype = "text/plain";
		if (!d->synced) {
			status = "503 Service Unavailable";
			fputs("not ready: the first load is not done\n", f);
		} else if (!sluiced_live(d, why, sizeof(why))) {
			status = "503 Service Unavailable";
			fprintf(f, "not ready: %s\n", why);
		} else {
			fputs("ready\n", f);
		}
	} else {
		exposition(d, f);
	}
	fclose(f);
	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, ctype, blen);
	if (write(fd, hdr, (size_t)n) == n && blen)
		(void)!write(fd, body, blen);
	free(body);
}

void sluiced_metrics_handle(struct sluiced *d)
{
	for (;;) {
		int fd = accept4(d->metrics_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			return;
		serve(d, fd);
		close(fd);
	}
}
