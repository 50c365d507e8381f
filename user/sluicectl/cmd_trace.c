// SPDX-License-Identifier: Apache-2.0
/*
 * sluicectl trace: the connect hook's decisions, live, one line each: who
 * connected (pid, cgroup, workload), to which VIP, what was decided (steer,
 * refuse, pass, hand to sluice-http), the route, subset and backend, and
 * why (weight draw, sourceLabels route, sticky hash, REGISTRY_ONLY, ...);
 * and sluice-http's request decisions: method and path, the route and the
 * conditions that matched it (the header or query parameter), subset,
 * endpoint and status.
 *
 * The connect records come from the pinned sluice_trace ring buffer
 * (bpf/lib/trace.h), the HTTP ones from the pinned sluice_trace_http queue
 * (user/http/trace.c);
 * the switch is sluice_trace_cfg, mapped here and refreshed while reading: a
 * deadline a few seconds ahead, cleared at exit, so a killed reader turns
 * the trace off by itself. Names come from the daemon's applied snapshot,
 * loaded with the policy front-end, and ids are matched through the same
 * functions the compiler uses (sl_dp_sid, sl_l4_workload_ids). The pin root
 * is the one the daemon reports in `status -o json`. One reader at a time:
 * two would split the records between them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sluice/compile_l4.h"
#include "sluice/ctl.h"
#include "sluice/dataplane.h"
#include "sluice/diag.h"
#include "sluice/maps.h"
#include "sluice/model.h"
#include "sluicectl/cmds.h"

#define TRACE_LEASE_NS	(3ull * 1000000000ull)	/* deadline ahead of now */
#define TRACE_RATE	2000u			/* records per second, all CPUs */

static const char *const verdict_names[] = { "pass", "steer", "helper", "refuse" };
static const char *const why_names[__SLUICE_WHY_MAX] = {
	[SLUICE_WHY_NOT_SERVICE] = "not-in-registry",
	[SLUICE_WHY_REGISTRY_ONLY] = "registry-only",
	[SLUICE_WHY_PASSTHROUGH] = "passthrough",
	[SLUICE_WHY_NO_ENDPOINTS] = "no-endpoints",
	[SLUICE_WHY_HTTP_ROUTES] = "http-routes",
	[SLUICE_WHY_WEIGHT] = "weight",
	[SLUICE_WHY_SOURCE_LABELS] = "source-labels",
	[SLUICE_WHY_HASH] = "consistent-hash",
	[SLUICE_WHY_FAIL_OPEN] = "fail-open",
	[SLUICE_WHY_POOL_OVERFLOW] = "pool-overflow",
	[SLUICE_WHY_EJECTED] = "ejected",
	[SLUICE_WHY_EGRESS_SCOPE] = "egress-scope",
	[SLUICE_WHY_TCP_FAULT] = "tcp-fault",
	[SLUICE_WHY_HTTP_MATCH] = "http-match",
	[SLUICE_WHY_HTTP_DEFAULT] = "http-default-route",
	[SLUICE_WHY_HTTP_HASH] = "http-consistent-hash",
	[SLUICE_WHY_HTTP_NO_ROUTE] = "http-no-route",
	[SLUICE_WHY_HTTP_FAULT] = "http-fault-abort",
	[SLUICE_WHY_HTTP_REDIRECT] = "http-redirect",
};

/* every reason has a name (a new one without fails to build) */
_Static_assert(SLUICE_WHY_HTTP_REDIRECT + 1 == __SLUICE_WHY_MAX,
	       "why_names covers enum sluice_trace_why");

static const char *const lb_names[] = { "round-robin", "random", "least-request", "maglev" };

static const char *lb_name(uint8_t lb)
{
	return lb < sizeof(lb_names) / sizeof(lb_names[0]) ? lb_names[lb] : "unknown";
}

/* enum sluice_trace_match, in bit order */
static const char *const match_names[] = { "uri", "headers", "method", "queryParams",
					   "sourceLabels", "authority", "port", "gateways",
					   "scheme", "withoutHeaders" };

struct tracer {
	const struct ctl_opts *o;
	struct sl_model *m;		/* the applied state, for names; may be NULL */
	uint32_t *wids;			/* sl_l4_workload_ids(m) */
	uint32_t *sids;			/* sl_dp_sid of each service's host, once */
	int64_t mono_to_real_ns;	/* add to bpf_ktime_get_ns() for wall time */
	unsigned long seen, shown;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The daemon's pin root, from `status -o json`. */
static int daemon_bpffs(const struct ctl_opts *o, char **out)
{
	struct sl_ctl_resp resp;
	int err = ctl_fetch(o, "trace", "status", "json", &resp);

	if (err)
		return err;
	/* a status that is not live still names the pin root */
	*out = resp.status == SL_CTL_OK || resp.status == SL_CTL_NOT_LIVE ?
	       ctl_json_top_scalar(resp.body, resp.len, "bpffs") : NULL;
	sl_ctl_resp_free(&resp);
	if (!*out) {
		fprintf(stderr, "sluicectl: trace: the daemon did not report its pin root\n");
		return CTL_INVALID;
	}
	return CTL_OK;
}

/* The applied model, for names; a daemon without a policy gives none. */
static void load_names(struct tracer *t)
{
	struct sl_diags dg = { 0 };
	char *yaml = NULL;
	size_t len = 0;

	if (sl_ctl_fetch_snapshot(t->o->socket ? t->o->socket : SL_CTL_DEFAULT_SOCKET, &yaml,
				  &len) || !len) {
		free(yaml);
		return;
	}
	if (sl_model_load_buf("<applied state>", yaml, len, &dg, &t->m))
		t->m = NULL;
	sl_diags_free(&dg);
	free(yaml);
	if (t->m && sl_l4_workload_ids(t->m, &t->wids)) {
		sl_model_free(t->m);
		t->m = NULL;
		return;
	}
	t->sids = t->m ? calloc(t->m->nservices ? t->m->nservices : 1, sizeof(*t->sids)) : NULL;
	for (size_t i = 0; t->sids && i < t->m->nservices; i++)
		t->sids[i] = sl_dp_sid(t->m->services[i].host);
	if (t->m && !t->sids) {
		free(t->wids);
		t->wids = NULL;
		sl_model_free(t->m);
		t->m = NULL;
	}
}

static const struct sl_service *find_svc(const struct tracer *t, uint32_t sid)
{
	for (size_t i = 0; t->m && i < t->m->nservices; i++)
		if (t->sids[i] == sid)
			return &t->m->services[i];
	return NULL;
}

static const char *subset_name(const struct sl_service *s, uint32_t sid)
{
	for (size_t i = 0; s && i < s->nsubsets; i++)
		if (sl_dp_sid(s->subsets[i].name) == sid)
			return s->subsets[i].name;
	return NULL;
}

static const struct sl_workload *find_workload(const struct tracer *t, uint32_t wid)
{
	int i;

	if (!t->m || wid == SLUICE_NO_WORKLOAD)
		return NULL;
	i = sl_l4_workload_index(t->wids, t->m->nworkloads, wid);
	return i < 0 ? NULL : &t->m->workloads[i];
}

/* "10.1.0.2:9000" or "[fd00::2]:9000" */
static void fmt_addr(char *buf, size_t len, const uint8_t a[16], uint16_t port_be)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char ip[INET6_ADDRSTRLEN];

	if (!memcmp(a, mapped, 12)) {
		inet_ntop(AF_INET, a + 12, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(port_be));
	} else {
		inet_ntop(AF_INET6, a, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(port_be));
	}
}

/* --service S: the FQDN, or its first label(s) ("tcp-echo", "tcp-echo.weather"). */
static bool service_matches(const char *want, const struct sl_service *s)
{
	return !want || (s && sl_host_named(s->host, want));
}

/* --workload W: "namespace/name" or "name". */
static bool workload_matches(const char *want, const struct sl_workload *w)
{
	const char *slash;

	if (!want)
		return true;
	if (!w)
		return false;
	slash = strchr(want, '/');
	if (!slash)
		return !strcmp(w->name, want);
	return strlen(w->ns) == (size_t)(slash - want) && !strncmp(w->ns, want, slash - want) &&
	       !strcmp(w->name, slash + 1);
}

/* A JSON string, or null for NULL. */
static void json_or_null(const char *s)
{
	if (s)
		sl_json_str(stdout, s);
	else
		fputs("null", stdout);
}

/* "ns/name" of w as a JSON string, or null. */
static void json_workload(const struct sl_workload *w)
{
	char wl[512];

	if (w)
		snprintf(wl, sizeof(wl), "%s/%s", w->ns, w->name);
	json_or_null(w ? wl : NULL);
}

static void print_json(const struct sluice_trace_rec *r, uint64_t real_ns, const char *vip,
		       const char *be, const struct sl_service *s, const char *sub,
		       const struct sl_workload *w)
{
	char wl[512];

	printf("{\"time_ns\":%llu,\"layer\":\"%s\",\"pid\":%u,\"cgroup_id\":%llu,",
	       (unsigned long long)real_ns, r->layer == SLUICE_TL_XDP ? "xdp" : "connect", r->pid,
	       (unsigned long long)r->cgroup_id);
	if (r->layer == SLUICE_TL_XDP) {
		fmt_addr(wl, sizeof(wl), r->client, r->client_port);
		printf("\"client\":");
		sl_json_str(stdout, wl);
		printf(",");
	}
	printf("\"workload\":");
	json_workload(w);
	printf(",\"destination\":");
	sl_json_str(stdout, vip);
	printf(",\"protocol\":\"%s\",\"generation\":%u,\"verdict\":\"%s\",\"why\":\"%s\"",
	       r->proto == 17 ? "udp" : "tcp", r->gen, verdict_names[r->verdict & 3],
	       r->why < __SLUICE_WHY_MAX ? why_names[r->why] : "unknown");
	if (r->verdict == SLUICE_TV_REFUSE)
		printf(",\"errno\":%d", -r->err);
	printf(",\"service\":");
	json_or_null(s ? s->host : NULL);
	if (r->verdict == SLUICE_TV_STEER) {
		printf(",\"route\":%u,\"subset\":", r->route_idx);
		json_or_null(sub);
		printf(",\"backend\":");
		sl_json_str(stdout, be);
		printf(",\"lb\":\"%s\"", lb_name(r->lb));
	}
	printf("}\n");
}

/* "HH:MM:SS.micros " of a wall-clock time in ns, local time. */
static void print_time(uint64_t real_ns)
{
	time_t sec = (time_t)(real_ns / 1000000000ull);
	struct tm tm;
	char ts[32];

	localtime_r(&sec, &tm);
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	printf("%s.%06llu ", ts, (unsigned long long)(real_ns % 1000000000ull) / 1000);
}

static void print_line(const struct sluice_trace_rec *r, uint64_t real_ns, const char *vip,
		       const char *be, const struct sl_service *s, const char *sub,
		       const struct sl_workload *w)
{
	print_time(real_ns);
	if (r->layer == SLUICE_TL_XDP) {
		char client[64];

		fmt_addr(client, sizeof(client), r->client, r->client_port);
		printf("xdp %s", client);
	} else if (w) {
		printf("pid %u %s/%s", r->pid, w->ns, w->name);
	} else {
		printf("pid %u cgroup %llu", r->pid, (unsigned long long)r->cgroup_id);
	}
	printf(" -> %s", vip);
	if (s)
		printf(" (%s)", s->host);
	printf(": %s", verdict_names[r->verdict & 3]);
	if (r->verdict == SLUICE_TV_STEER) {
		printf(" route #%u subset %s -> %s (%s)", r->route_idx, sub ? sub : "-", be,
		       lb_name(r->lb));
	} else if (r->verdict == SLUICE_TV_REFUSE) {
		printf(" (%s)", strerror(-r->err));
	}
	printf(" [%s]\n", r->why < __SLUICE_WHY_MAX ? why_names[r->why] : "unknown");
}

static void match_text(char *buf, size_t len, uint16_t match, const char *detail)
{
	size_t i, w = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(match_names) / sizeof(match_names[0]) && w < len; i++)
		if (match & (1u << i))
			w += (size_t)snprintf(buf + w, len - w, "%s%s", w ? "," : "", match_names[i]);
	if (detail[0] && w < len)
		snprintf(buf + w, len - w, " %s", detail);
}

/* The name of http route idx of the VirtualService serving s (mesh). */
static const char *http_route_name(const struct tracer *t, const struct sl_service *s, uint16_t idx)
{
	const struct sl_vhost *vh;

	if (!t->m || !s || s->vhost < 0 || (size_t)s->vhost >= t->m->nvhosts)
		return NULL;
	vh = &t->m->vhosts[s->vhost];
	return idx < vh->nhttp ? vh->http[idx].name : NULL;
}

static void on_http(struct tracer *t, const struct sluice_trace_http_rec *h)
{
	const struct sluice_trace_rec *r = &h->d;
	const struct sl_service *s = r->svc_sid ? find_svc(t, r->svc_sid) : NULL;
	const struct sl_workload *w = find_workload(t, r->workload_id);
	const char *sub = subset_name(s, r->subset_sid), *rname = http_route_name(t, s, r->route_idx);
	uint64_t real_ns = r->ts_ns + t->mono_to_real_ns;
	char vip[64], be[64] = "", m[160], path[sizeof(h->path) + 1], det[sizeof(h->detail) + 1];
	const char *why = r->why < __SLUICE_WHY_MAX ? why_names[r->why] : "unknown";

	t->seen++;
	if (t->o->count && t->shown >= t->o->count)
		return;
	if (!service_matches(t->o->service, s) || !workload_matches(t->o->workload, w))
		return;
	/* the record's strings are NUL-terminated by the writer; not trusted */
	snprintf(path, sizeof(path), "%.*s", (int)sizeof(h->path), h->path);
	snprintf(det, sizeof(det), "%.*s", (int)sizeof(h->detail), h->detail);
	fmt_addr(vip, sizeof(vip), r->vip, r->vip_port);
	if (r->verdict == SLUICE_TV_STEER)
		fmt_addr(be, sizeof(be), r->backend, r->backend_port);
	match_text(m, sizeof(m), h->match, det);
	if (t->o->output == CTL_OUT_JSON) {
		printf("{\"time_ns\":%llu,\"layer\":\"http\",\"workload\":",
		       (unsigned long long)real_ns);
		json_workload(w);
		printf(",\"destination\":");
		sl_json_str(stdout, vip);
		printf(",\"method\":");
		sl_json_str(stdout, h->method[7] ? "" : h->method);
		printf(",\"path\":");
		sl_json_str(stdout, path);
		printf(",\"status\":%u,\"verdict\":\"%s\",\"why\":\"%s\",\"match\":[", h->status,
		       verdict_names[r->verdict & 3], why);
		for (size_t i = 0, k = 0; i < sizeof(match_names) / sizeof(match_names[0]); i++)
			if (h->match & (1u << i))
				printf("%s\"%s\"", k++ ? "," : "", match_names[i]);
		printf("],\"matched\":");
		sl_json_str(stdout, det);
		printf(",\"service\":");
		json_or_null(s ? s->host : NULL);
		printf(",\"route\":%u,\"route_name\":", r->route_idx);
		json_or_null(rname);
		printf(",\"subset\":");
		json_or_null(sub);
		printf(",\"backend\":");
		json_or_null(be[0] ? be : NULL);
		printf("}\n");
	} else {
		print_time(real_ns);
		printf("http ");
		if (w)
			printf("%s/%s", w->ns, w->name);
		else
			printf("-");
		printf(" -> %s %s %.*s", s ? s->host : vip, h->method[7] ? "" : h->method,
		       (int)strlen(path), path);
		printf(": %s", verdict_names[r->verdict & 3]);
		if (r->verdict == SLUICE_TV_STEER || r->why == SLUICE_WHY_HTTP_FAULT)
			printf(" route #%u%s%s%s subset %s%s%s", r->route_idx, rname ? " \"" : "",
			       rname ? rname : "", rname ? "\"" : "", sub ? sub : "-", be[0] ? " -> " : "",
			       be);
		printf(" %u [%s%s%s]\n", h->status, why, m[0] ? ": " : "", m);
	}
	fflush(stdout);
	t->shown++;
	if (t->o->count && t->shown >= t->o->count)
		stop = 1;
}

/* Pop every waiting HTTP record. */
static void drain_http(struct tracer *t, int qfd)
{
	struct sluice_trace_http_rec h;

	while (qfd >= 0 && !bpf_map_lookup_and_delete_elem(qfd, NULL, &h))
		on_http(t, &h);
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct tracer *t = ctx;
	const struct sluice_trace_rec *r = data;
	const struct sl_service *s;
	const struct sl_workload *w;
	char vip[64], be[64] = "";

	if (size < sizeof(*r))
		return 0;
	t->seen++;
	/* --count reached: the rest of this batch is read, not shown */
	if (t->o->count && t->shown >= t->o->count)
		return 0;
	s = r->svc_sid ? find_svc(t, r->svc_sid) : NULL;
	w = find_workload(t, r->workload_id);
	fmt_addr(vip, sizeof(vip), r->vip, r->vip_port);
	if (!s && t->m) {
		/* refusals and hand-offs carry no sid: find the service by VIP */
		for (size_t i = 0; !s && i < t->m->nservices; i++)
			for (size_t j = 0; j < t->m->services[i].nvips; j++)
				if (!memcmp(t->m->services[i].vips[j].addr, r->vip, 16))
					s = &t->m->services[i];
	}
	if (!service_matches(t->o->service, s) || !workload_matches(t->o->workload, w))
		return 0;
	if (r->verdict == SLUICE_TV_STEER)
		fmt_addr(be, sizeof(be), r->backend, r->backend_port);
	if (t->o->output == CTL_OUT_JSON)
		print_json(r, r->ts_ns + t->mono_to_real_ns, vip, be, s,
			   subset_name(s, r->subset_sid), w);
	else
		print_line(r, r->ts_ns + t->mono_to_real_ns, vip, be, s,
			   subset_name(s, r->subset_sid), w);
	fflush(stdout);
	t->shown++;
	if (t->o->count && t->shown >= t->o->count)
		stop = 1;
	return 0;
}

int cmd_trace(const struct ctl_opts *o)
{
	struct tracer t = { .o = o };
	struct sluice_trace_cfg *cfg = MAP_FAILED;
	struct ring_buffer *rb = NULL;
	int rc, cfg_fd = -1, rb_fd = -1, http_fd = -1;
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t next_lease = 0;
	char *root = NULL;

	if (o->output == CTL_OUT_YAML) {
		fprintf(stderr, "sluicectl: trace: -o yaml is not supported (table or json lines)\n");
		return CTL_USAGE;
	}
	rc = daemon_bpffs(o, &root);
	if (rc)
		return rc;
	cfg_fd = sl_map_open_pinned(root, SL_MAP_TRACE_CFG);
	rb_fd = sl_map_open_pinned(root, SL_MAP_TRACE);
	if (cfg_fd < 0 || rb_fd < 0) {
		fprintf(stderr, "sluicectl: trace: %s/sluice_trace%s: %s (is the data plane loaded "
			"by this version of sluiced? trace needs root)\n", root,
			cfg_fd < 0 ? "_cfg" : "", strerror(errno));
		rc = ctl_exit_of_call(-errno);
		goto out;
	}
	cfg = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED,
		   cfg_fd, 0);
	if (cfg == MAP_FAILED) {
		fprintf(stderr, "sluicectl: trace: map %s/sluice_trace_cfg: %s\n", root,
			strerror(errno));
		rc = CTL_INVALID;
		goto out;
	}
	/* absent from the pins of an older sluiced: connect() records only */
	http_fd = sl_map_open_pinned(root, SL_MAP_TRACE_HTTP);
	load_names(&t);
	rb = ring_buffer__new(rb_fd, on_record, &t, NULL);
	if (!rb) {
		fprintf(stderr, "sluicectl: trace: ring buffer: %s\n", strerror(errno));
		rc = CTL_INVALID;
		goto out;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	t.mono_to_real_ns = (int64_t)clock_ns(CLOCK_REALTIME) - (int64_t)clock_ns(CLOCK_MONOTONIC);
	/* stale records of an earlier reader that died are not this trace's */
	ring_buffer__consume(rb);
	{
		struct sluice_trace_http_rec h;

		while (http_fd >= 0 && !bpf_map_lookup_and_delete_elem(http_fd, NULL, &h))
			;
	}
	t.seen = 0;
	cfg->sample = 1;
	cfg->max_per_sec = TRACE_RATE;
	fprintf(stderr, "sluicectl: tracing connect()%s decisions under %s (Ctrl-C stops)\n",
		http_fd >= 0 ? " and HTTP" : "", root);
	rc = CTL_OK;
	while (!stop) {
		uint64_t now = clock_ns(CLOCK_MONOTONIC);

		if (now >= next_lease) {
			__atomic_store_n(&cfg->until_ns, now + TRACE_LEASE_NS, __ATOMIC_RELEASE);
			next_lease = now + TRACE_LEASE_NS / 3;
		}
		struct timespec nap = { 0, 100 * 1000000L };
		int n;

		/* the programs write without wakeups: drain on a clock */
		nanosleep(&nap, NULL);
		n = ring_buffer__consume(rb);
		drain_http(&t, http_fd);
		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "sluicectl: trace: ring buffer: %s\n", strerror(-n));
			rc = CTL_INVALID;
			break;
		}
	}
	__atomic_store_n(&cfg->until_ns, 0, __ATOMIC_RELEASE);
	ring_buffer__consume(rb);
	drain_http(&t, http_fd);
	fprintf(stderr, "sluicectl: trace: %lu shown of %lu read; %llu dropped in the kernel "
		"(rate limit %u/s or ring full) since the data plane loaded\n", t.shown, t.seen,
		(unsigned long long)cfg->dropped, TRACE_RATE);
out:
	ring_buffer__free(rb);
	if (cfg != MAP_FAILED)
		munmap(cfg, (size_t)sysconf(_SC_PAGESIZE));
	if (cfg_fd >= 0)
		close(cfg_fd);
	if (rb_fd >= 0)
		close(rb_fd);
	if (http_fd >= 0)
		close(http_fd);
	free(t.wids);
	free(t.sids);
	sl_model_free(t.m);
	free(root);
	return rc;
}
