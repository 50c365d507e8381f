// SPDX-License-Identifier: Apache-2.0
/*
 * --metrics ADDR:PORT: Prometheus text exposition. Istio's TCP metrics with
 * Istio's standard labels (include/sluice/labels.h) from the kernel's
 * per-(client workload, backend) counters (sluice_traffic) and sluice-http's
 * per-endpoint counts of the TLS passthrough connections it relays (its own
 * sockets, which the kernel does not count), plus sluiced's
 * own gauges, plus whatever sluice-http serves on its metrics unix socket
 * (istio_requests_total, ...), appended verbatim.
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
#include <yaml.h>

#include "sluice/compile_l4.h"
#include "sluice/labels.h"
#include "sluice/yaml_map.h"
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

/* One series of the Istio TCP metrics: its labels (after reporter) and
 * the counters of every sluice_traffic entry that renders to them. */
struct tcp_series {
	char *labels;
	struct sluice_traffic v;
};

static int cmp_series(const void *a, const void *b)
{
	return strcmp(((const struct tcp_series *)a)->labels, ((const struct tcp_series *)b)->labels);
}

/* The labels of one sluice_traffic entry, "reporter=..." cut off. */
static char *traffic_labels(const struct stat_names *sn, const uint32_t *wids,
			    const struct sluice_traffic_key *k)
{
	const struct sl_model *m = sn->m;
	struct sl_istio_labels l = { .protocol = "tcp" };
	char svc[256], sub[64];
	int si, ep;

	si = m ? stat_names_service(sn, k->stats.svc_sid) : -1;
	sl_peer_of_workload(m, m ? sl_l4_workload_index(wids, m->nworkloads, k->src_wid) : -1,
			    &l.src);
	if (si >= 0) {
		l.svc = &m->services[si];
		ep = sl_service_endpoint_at(l.svc, k->stats.addr, ntohs(k->stats.port));
		sl_peer_of_endpoint(m, ep >= 0 ? &l.svc->endpoints[ep] : NULL, &l.dst);
		stat_names_get(sn, &k->stats, svc, sizeof(svc), sub, sizeof(sub));
		if (sub[0])
			l.dst_version = sub;
	} else {
		sl_peer_of_endpoint(m, NULL, &l.dst);
	}
	return sl_istio_labels_text(&l);
}

static void tcp_family(FILE *f, const char *name, const char *help, const struct tcp_series *a,
		       size_t n, int which)
{
	static const char *const reporters[] = { "source", "destination" };
	size_t i, r;

	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	/* Sluice is the one observer of each connection: it reports it as
	 * Istio's client-side and server-side proxies both would, so that
	 * queries filtering on either reporter see it (docs/metrics.md) */
	for (r = 0; r < 2; r++)
		for (i = 0; i < n; i++) {
			const struct sluice_traffic *v = &a[i].v;
			/* the kernel counts on the client's socket: what it
			 * sent is the request (Istio's received bytes) */
			uint64_t val = which == 0 ? v->opened : which == 1 ? v->closed :
				       which == 2 ? v->bytes_sent : v->bytes_received;

			fprintf(f, "%s{reporter=\"%s\",%s,connection_security_policy=\"%s\"} %llu\n",
				name, reporters[r], a[i].labels, sl_istio_security(reporters[r]),
				(unsigned long long)val);
		}
}

static int helper_json(const struct sluiced *d, const char *req, yaml_document_t *doc);

/* sluice-http's TLS passthrough relays, per destination endpoint
 * (hx_metrics_pt_endpoints_json in user/http/hx.h), appended to *a as
 * series labelled as the kernel's: the endpoint found in the model by
 * address and port, the subset as destination_version, an unknown source
 * (the client reached the gateway from outside the mesh, as sluice-http's
 * istio_requests_total labels gateway requests). The relay's bytes_sent
 * are client to backend, as sluice_traffic's. */
static void passthrough_series(const struct sluiced *d, struct tcp_series **a, size_t *na)
{
	const struct sl_model *m = d->model;
	yaml_document_t doc;
	yaml_node_t *root;
	yaml_node_item_t *it;
	size_t cnt;

	if (helper_json(d, "endpoints\n", &doc))
		return;
	root = yaml_document_get_root_node(&doc);
	if (!root || root->type != YAML_SEQUENCE_NODE)
		goto out;
	cnt = (size_t)(root->data.sequence.items.top - root->data.sequence.items.start);
	if (cnt) {
		struct tcp_series *nv = realloc(*a, (*na + cnt) * sizeof(*nv));

		if (!nv)
			goto out;
		*a = nv;
	}
	for (it = root->data.sequence.items.start; it < root->data.sequence.items.top; it++) {
		yaml_node_t *e = yaml_document_get_node(&doc, *it);
		struct sl_istio_labels l = { .protocol = "tcp" };
		const char *host, *sub, *addr;
		uint8_t ip[16] = { 0 };
		int ep = -1, si;

		if (!e || e->type != YAML_MAPPING_NODE)
			continue;
		host = sl_yaml_str(&doc, e, "service") ?: "";
		sub = sl_yaml_str(&doc, e, "subset") ?: "";
		addr = sl_yaml_str(&doc, e, "address") ?: "";
		if (inet_pton(AF_INET, addr, &ip[12]) == 1)
			ip[10] = ip[11] = 0xff;
		else if (inet_pton(AF_INET6, addr, ip) != 1)
			continue;
		sl_peer_of_workload(m, -1, &l.src);
		if (m && host[0] && (si = sl_model_find_service(m, host)) >= 0)
			l.svc = &m->services[si];
		if (l.svc) {
			ep = sl_service_endpoint_at(l.svc, ip,
						    (uint16_t)sl_yaml_u64(&doc, e, "port"));
			if (sub[0])
				l.dst_version = sub;
		}
		sl_peer_of_endpoint(m, ep >= 0 ? &l.svc->endpoints[ep] : NULL, &l.dst);
		(*a)[*na].labels = sl_istio_labels_text(&l);
		if (!(*a)[*na].labels)
			continue;
		(*a)[*na].v = (struct sluice_traffic){
			.opened = sl_yaml_u64(&doc, e, "connections_opened"),
			.closed = sl_yaml_u64(&doc, e, "connections_closed"),
			.bytes_sent = sl_yaml_u64(&doc, e, "bytes_sent"),
			.bytes_received = sl_yaml_u64(&doc, e, "bytes_received"),
		};
		(*na)++;
	}
out:
	yaml_document_delete(&doc);
}

/* The Istio TCP metrics from sluice_traffic, live connections' bytes
 * reported first, and from sluice-http's passthrough relays; entries with
 * equal labels add up. */
static void tcp_metrics(struct sluiced *d, FILE *f)
{
	struct sl_dp_traffic *t = NULL;
	struct tcp_series *a = NULL;
	struct stat_names sn;
	uint32_t *wids = NULL;
	size_t n = 0, na = 0, i;

	if (!d->dp)
		return;
	sl_dp_report_bytes(d->dp);
	if (sl_dp_traffic(d->dp, &t, &n))
		return;
	if (stat_names_init(&sn, d->model)) {
		free(t);
		return;
	}
	if (d->model && sl_l4_workload_ids(d->model, &wids))
		goto cleanup;
	a = calloc(n ? n : 1, sizeof(*a));
	for (i = 0; a && i < n; i++) {
		a[na].labels = traffic_labels(&sn, wids, &t[i].key);
		if (!a[na].labels)
			continue;
		a[na++].v = t[i].val;
	}
	if (!a)
		goto cleanup;
	passthrough_series(d, &a, &na);
	qsort(a, na, sizeof(*a), cmp_series);
	n = na;
	na = 0;
	for (i = 0; i < n; i++) {
		if (na && !cmp_series(&a[na - 1], &a[i])) {
			a[na - 1].v.opened += a[i].v.opened;
			a[na - 1].v.closed += a[i].v.closed;
			a[na - 1].v.bytes_sent += a[i].v.bytes_sent;
			a[na - 1].v.bytes_received += a[i].v.bytes_received;
			free(a[i].labels);
		} else {
			a[na++] = a[i];
		}
	}
	tcp_family(f, "istio_tcp_connections_opened_total",
		   "TCP connections opened (steered at connect).", a, na, 0);
	tcp_family(f, "istio_tcp_connections_closed_total", "TCP connections closed.", a, na, 1);
	tcp_family(f, "istio_tcp_received_bytes_total",
		   "Request bytes, client to backend, while connections live and at close.", a,
		   na, 2);
	tcp_family(f, "istio_tcp_sent_bytes_total",
		   "Response bytes, backend to client, while connections live and at close.", a,
		   na, 3);
	for (i = 0; i < na; i++)
		free(a[i].labels);
cleanup:
	free(a);
	free(wids);
	free(t);
	stat_names_free(&sn);
}

/* Ask sluice-http's metrics socket (request "json" or "prometheus") and
 * copy its answer to f (bounded: 1 s). */
static void helper_fetch(const struct sluiced *d, const char *req, FILE *f)
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
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req)) {
		shutdown(fd, SHUT_WR);
		while ((r = read(fd, buf, sizeof(buf))) > 0)
			fwrite(buf, 1, (size_t)r, f);
	}
	close(fd);
}

/* The helper's JSON answer to req, read with libyaml into *doc (the
 * caller deletes it); -ENOENT when the helper answered nothing (not
 * running), -EBADMSG, -ENOMEM. */
static int helper_json(const struct sluiced *d, const char *req, yaml_document_t *doc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc;

	if (!f)
		return -ENOMEM;
	helper_fetch(d, req, f);
	fclose(f);
	rc = !len ? -ENOENT : sl_yaml_load(text, len, doc) ? -EBADMSG : 0;
	free(text);
	return rc;
}

/* The helper's exposition. */
static void helper_metrics(const struct sluiced *d, FILE *f)
{
	helper_fetch(d, "prometheus\n", f);
}

int sluiced_helper_counts(const struct sluiced *d, struct sluiced_http_count **out, size_t *n)
{
	struct sluiced_http_count *v = NULL;
	yaml_document_t doc;
	yaml_node_t *root;
	yaml_node_item_t *it;
	size_t k = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = helper_json(d, "json\n", &doc);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	root = yaml_document_get_root_node(&doc);
	if (root->type == YAML_SEQUENCE_NODE) {
		size_t cnt = (size_t)(root->data.sequence.items.top - root->data.sequence.items.start);

		v = calloc(cnt ? cnt : 1, sizeof(*v));
		for (it = root->data.sequence.items.start; v && it < root->data.sequence.items.top; it++) {
			yaml_node_t *m = yaml_document_get_node(&doc, *it);

			if (!m || m->type != YAML_MAPPING_NODE)
				continue;
			snprintf(v[k].service, sizeof(v[k].service), "%s", sl_yaml_str(&doc, m, "service") ?: "");
			snprintf(v[k].subset, sizeof(v[k].subset), "%s", sl_yaml_str(&doc, m, "subset") ?: "");
			v[k].requests = sl_yaml_u64(&doc, m, "requests");
			v[k].errors = sl_yaml_u64(&doc, m, "errors");
			v[k].request_bytes = sl_yaml_u64(&doc, m, "request_bytes");
			v[k].response_bytes = sl_yaml_u64(&doc, m, "response_bytes");
			v[k].conns_opened = sl_yaml_u64(&doc, m, "connections_opened");
			v[k].conns_closed = sl_yaml_u64(&doc, m, "connections_closed");
			v[k].bytes_sent = sl_yaml_u64(&doc, m, "bytes_sent");
			v[k].bytes_received = sl_yaml_u64(&doc, m, "bytes_received");
			k++;
		}
	}
	yaml_document_delete(&doc);
	*out = v;
	*n = v ? k : 0;
	return v || root->type != YAML_SEQUENCE_NODE ? 0 : -ENOMEM;
}

static void exposition(struct sluiced *d, FILE *f)
{
	uint64_t c[__SLUICE_CNT_MAX];
	char nb[32];
	int i;

	tcp_metrics(d, f);
	sluiced_outlier_metrics(d, f);
	fprintf(f, "# HELP sluice_generation The live policy generation.\n"
		   "# TYPE sluice_generation gauge\nsluice_generation %u\n",
		d->dp ? sl_dp_generation(d->dp) : 0);
	fprintf(f, "# HELP sluice_applies_total Applies that became live.\n"
		   "# TYPE sluice_applies_total counter\nsluice_applies_total %llu\n",
		(unsigned long long)d->applies);
	fprintf(f, "# HELP sluice_applies_incremental_total Of the applies, those that rewrote "
		   "only changed endpoints in the live generation.\n"
		   "# TYPE sluice_applies_incremental_total counter\n"
		   "sluice_applies_incremental_total %llu\n", (unsigned long long)d->incr_applies);
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
