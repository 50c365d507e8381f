// SPDX-License-Identifier: Apache-2.0
/*
 * sluiced — the node agent. Opens (or re-adopts) the kernel data plane,
 * takes the desired state back from its state dir, loads and watches the
 * policy directory, serves the control socket and, when asked, Prometheus
 * metrics; supervises sluice-http while the policy has HTTP routes.
 * SIGTERM/SIGINT end the process and leave the data plane running (pinned
 * links); `sluicectl reset` removes it. See docs/operations.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>


#include "sluiced.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluiced [options]\n"
		"  --policy-dir DIR     load and watch *.yaml here (default %s)\n"
		"  --cgroup PATH        cgroup v2 dir for the socket hooks (default: the cgroup2 root)\n"
		"  --bpffs DIR          pin root (default %s)\n"
		"  --socket PATH        control socket (default %s)\n"
		"  --state-dir DIR      applied snapshot and helper files (default %s)\n"
		"  --metrics ADDR:PORT  Prometheus text endpoint (off by default)\n"
		"  --xdp IFACE[:k=v...][,IFACE...]  north-south XDP/TC interfaces; options\n"
		"                       mode=auto|native|generic|tc, ct-size=N, ct6-size=N, ct-*-timeout=S\n"
		"                       (see docs/xdp.md)\n"
		"  --no-http-helper     do not run sluice-http (policies with http routes are refused)\n"
		"  --http-listen A:P    sluice-http mesh listener, where HTTP services are sent\n"
		"                       (default %s; use a node address for clients in other netns)\n"
		"  --http-gateway-addr ADDR  address sluice-http binds Gateway HTTP servers on\n"
		"                       (default 0.0.0.0: every node address)\n"
		"  --stats-gc-interval S  age out stats of removed backends after 2 idle passes\n"
		"                       S seconds apart (default %d)\n"
		"  --kubelet-cgroup-root PATH  where kubelet's pod cgroups are, relative to the\n"
		"                       cgroup v2 root (default: the root); Pods are found there by UID\n"
		"  --kubernetes         read Services, EndpointSlices, Pods and the Istio kinds\n"
		"                       from the API server (in a pod: its service account)\n"
		"  --kube-apiserver URL[,URL]  the API server (default: KUBERNETES_SERVICE_HOST)\n"
		"  --node-name NAME     this node (default: $NODE_NAME): Pods of other nodes are\n"
		"                       endpoints only, not clients\n"
		"  --kubeconfig PATH    server, CA and token from a kubeconfig (outside a pod)\n"
		"  --dns-refresh S      resolve `resolution: DNS` names again at least every S\n"
		"                       seconds, and this often when an answer has no TTL (default %d)\n"
		"  --log-level LEVEL    debug, info (default), warn or error\n"
		"  --log-format FORMAT  text (default) or json: one JSON object per line\n"
		"  --http-access-log PATH  sluice-http writes one line per request to PATH\n"
		"                       (- = its stderr; off by default; docs/operations.md)\n"
		"  --version, --help\n",
		SLUICED_DEFAULT_POLICY_DIR, SLUICE_PIN_ROOT, SL_CTL_DEFAULT_SOCKET,
		SLUICED_DEFAULT_STATE_DIR, SLUICED_HELPER_LISTEN, SLUICED_STATS_GC_S,
		SLUICED_DNS_REFRESH_S);
}

/* "A.B.C.D:PORT" -> v4-mapped address and host-order port. IPv4 only: the
 * helper's listener address is what connect4/6 rewrite HTTP services to. */
static int parse_listen(const char *s, uint8_t addr[16], uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	char host[INET_ADDRSTRLEN];
	struct in_addr a4;
	char *end;
	unsigned long p;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (inet_pton(AF_INET, host, &a4) != 1)
		return -EINVAL;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p == 0 || p > 65535)
		return -EINVAL;
	memset(addr, 0, 16);
	addr[10] = 0xff;
	addr[11] = 0xff;
	memcpy(&addr[12], &a4, 4);
	*port = (uint16_t)p;
	return 0;
}

/* A flag's "1".."86400" seconds, as ms. */
static int parse_secs(const char *flag, const char *s, uint64_t *ms)
{
	unsigned long secs;
	char *end;

	errno = 0;
	secs = strtoul(s, &end, 10);
	if (errno || *end || end == s || secs == 0 || secs > 86400) {
		fprintf(stderr, "sluiced: %s %s: expected 1..86400 seconds\n", flag, s);
		return -EINVAL;
	}
	*ms = secs * 1000ull;
	return 0;
}

static int parse_opts(struct sluiced *d, int argc, char **argv)
{
	enum { O_POLICY = 256, O_CGROUP, O_BPFFS, O_SOCKET, O_STATE, O_METRICS, O_XDP, O_NOHTTP,
	       O_HTTP_LISTEN, O_STATS_GC, O_VERSION, O_HELP, O_GW_ADDR, O_LOG_LEVEL, O_LOG_FORMAT,
	       O_ACCESS_LOG, O_DNS_REFRESH, O_KUBELET_ROOT, O_KUBE, O_KUBE_API, O_KUBECONFIG,
	       O_NODE_NAME };
	static const struct option lo[] = {
		{ "policy-dir", required_argument, NULL, O_POLICY },
		{ "cgroup", required_argument, NULL, O_CGROUP },
		{ "bpffs", required_argument, NULL, O_BPFFS },
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "metrics", required_argument, NULL, O_METRICS },
		{ "xdp", required_argument, NULL, O_XDP },
		{ "no-http-helper", no_argument, NULL, O_NOHTTP },
		{ "http-listen", required_argument, NULL, O_HTTP_LISTEN },
		{ "http-gateway-addr", required_argument, NULL, O_GW_ADDR },
		{ "stats-gc-interval", required_argument, NULL, O_STATS_GC },
		{ "log-level", required_argument, NULL, O_LOG_LEVEL },
		{ "log-format", required_argument, NULL, O_LOG_FORMAT },
		{ "http-access-log", required_argument, NULL, O_ACCESS_LOG },
		{ "dns-refresh", required_argument, NULL, O_DNS_REFRESH },
		{ "kubelet-cgroup-root", required_argument, NULL, O_KUBELET_ROOT },
		{ "kubernetes", no_argument, NULL, O_KUBE },
		{ "kube-apiserver", required_argument, NULL, O_KUBE_API },
		{ "kubeconfig", required_argument, NULL, O_KUBECONFIG },
		{ "node-name", required_argument, NULL, O_NODE_NAME },
		{ "version", no_argument, NULL, O_VERSION },
		{ "help", no_argument, NULL, O_HELP },
		{ 0 },
	};
	struct sluiced_opts *o = &d->o;
	enum sluiced_log_level level = SL_LOG_INFO;
	bool json = false;
	char self[PATH_MAX];
	ssize_t n;
	int c;

	o->stats_gc_ms = SLUICED_STATS_GC_S * 1000ull;
	o->dns_refresh_ms = SLUICED_DNS_REFRESH_S * 1000ull;
	o->policy_dir = SLUICED_DEFAULT_POLICY_DIR;
	o->bpffs = SLUICE_PIN_ROOT;
	o->socket = SL_CTL_DEFAULT_SOCKET;
	o->state_dir = SLUICED_DEFAULT_STATE_DIR;
	o->http_listen = SLUICED_HELPER_LISTEN;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_POLICY: o->policy_dir = optarg; break;
		case O_CGROUP: o->cgroup = optarg; break;
		case O_BPFFS: o->bpffs = optarg; break;
		case O_SOCKET: o->socket = optarg; break;
		case O_STATE: o->state_dir = optarg; break;
		case O_METRICS: o->metrics = optarg; break;
		case O_XDP: o->xdp = optarg; break;
		case O_NOHTTP: o->no_http_helper = true; break;
		case O_HTTP_LISTEN: o->http_listen = optarg; break;
		case O_GW_ADDR: o->gateway_addr = optarg; break;
		case O_ACCESS_LOG: o->http_access_log = optarg; break;
		case O_STATS_GC:
			if (parse_secs("--stats-gc-interval", optarg, &o->stats_gc_ms))
				return -EINVAL;
			break;
		case O_KUBE: o->kubernetes = true; break;
		case O_KUBE_API: o->kube_apiserver = optarg; break;
		case O_KUBECONFIG: o->kubeconfig = optarg; break;
		case O_NODE_NAME: o->node_name = optarg; break;
		case O_KUBELET_ROOT:
			o->kubelet_root = optarg;
			if (optarg[0] == '/' || strstr(optarg, "..")) {
				fprintf(stderr, "sluiced: --kubelet-cgroup-root %s: a path relative to "
					"the cgroup v2 root, without '..'\n", optarg);
				return -EINVAL;
			}
			break;
		case O_DNS_REFRESH:
			if (parse_secs("--dns-refresh", optarg, &o->dns_refresh_ms))
				return -EINVAL;
			break;
		case O_LOG_LEVEL:
			if (sluiced_log_level_parse(optarg, &level)) {
				fprintf(stderr, "sluiced: --log-level %s: expected debug, info, warn or "
					"error\n", optarg);
				return -EINVAL;
			}
			break;
		case O_LOG_FORMAT:
			if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
				fprintf(stderr, "sluiced: --log-format %s: expected text or json\n",
					optarg);
				return -EINVAL;
			}
			json = !strcmp(optarg, "json");
			break;
		case O_VERSION:
			printf("sluiced %s\n", SLUICE_VERSION);
			exit(0);
		case 'h':
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	sluiced_log_setup(level, json);
	if (!o->node_name || !o->node_name[0])	/* a DaemonSet's downward API */
		o->node_name = getenv("NODE_NAME");
	if (parse_listen(o->http_listen, o->helper_addr, &o->helper_port)) {
		fprintf(stderr, "sluiced: --http-listen %s: expected IPv4 ADDR:PORT\n",
			o->http_listen);
		return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "sluiced: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->cgroup) {
		char err[SL_DP_ERRLEN];

		if (sl_cgroup2_root(o->cgroup_buf, sizeof(o->cgroup_buf), err)) {
			fprintf(stderr, "sluiced: %s; or name one with --cgroup\n", err);
			return -ENOENT;
		}
		o->cgroup = o->cgroup_buf;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		snprintf(o->self_dir, sizeof(o->self_dir), "%s", dirname(self));
	}
	return 0;
}

static void ep_add(struct sluiced *d, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (fd >= 0)
		epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void on_signal(struct sluiced *d)
{
	struct signalfd_siginfo si;

	while (read(d->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			sluiced_log("signal %d: exiting; the data plane keeps running (pinned)",
				    (int)si.ssi_signo);
			d->stop = true;
			break;
		case SIGHUP:
			sluiced_log("SIGHUP: reloading %s", d->o.policy_dir);
			d->reload_at_ms = sluiced_now_ms();
			break;
		default:
			break;
		}
	}
}

/* Deadlines (debounce, helper backoff, re-watching a vanished policy dir)
 * are polled from the loop: at most 1 s apart. */
static int next_timeout(struct sluiced *d)
{
	uint64_t now = sluiced_now_ms(), t = now + 1000;

	if (d->reload_at_ms && d->reload_at_ms < t)
		t = d->reload_at_ms;
	if (d->helper.state == HELPER_BACKOFF && d->helper.restart_at_ms < t)
		t = d->helper.restart_at_ms;
	if (d->stats_gc_at_ms && d->stats_gc_at_ms < t)
		t = d->stats_gc_at_ms;
	if (d->state_due_ms && d->state_due_ms < t)
		t = d->state_due_ms;
	if (d->state_job && now + 100 < t)
		t = now + 100;	/* reap the background write */
	uint64_t dns = sluiced_dns_next_ms(d), kube = sluiced_kube_next_ms(d);
	if (dns != UINT64_MAX && now + dns < t)
		t = now + dns;
	if (kube != UINT64_MAX && now + kube < t)
		t = now + kube;
	return t <= now ? 0 : (int)(t - now);
}

static void stats_gc(struct sluiced *d)
{
	size_t deleted = 0, pending = 0;
	int rc;

	d->stats_gc_at_ms = 0;
	if (!d->dp)
		return;
	rc = sl_dp_stats_gc(d->dp, &deleted, &pending);
	if (rc) {
		sluiced_warn("stats: ageing failed: %s", strerror(-rc));
		return;
	}
	d->stats_aged += deleted;
	if (deleted)
		sluiced_log("stats: aged out %zu entries of removed backends (%zu more idle, "
			    "checked again in %llu s)", deleted, pending,
			    (unsigned long long)(d->o.stats_gc_ms / 1000));
	if (pending)
		sluiced_stats_gc_schedule(d);
}

static void housekeeping(struct sluiced *d)
{
	uint64_t now = sluiced_now_ms();
	struct stat st;

	if (d->ino_wd < 0 && stat(d->o.policy_dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	    sluiced_watch_open(d) == 0) {
		sluiced_log("policy-dir: watching %s again", d->o.policy_dir);
		d->reload_at_ms = now;
	}
	if (d->reload_at_ms && now >= d->reload_at_ms) {
		d->reload_at_ms = 0;
		sluiced_load_policy_dir(d, false);
	}
	sluiced_helper_tick(d);
	sluiced_dns_tick(d);
	sluiced_kube_tick(d);
	/* after a delta's map writes (its change is live): the old backends */
	if (d->dp)
		sl_dp_delta_reap(d->dp);
	sluiced_state_tick(d, false);
	sluiced_outlier_tick(d);
	if (d->stats_gc_at_ms && now >= d->stats_gc_at_ms)
		stats_gc(d);
}

static int run(struct sluiced *d)
{
	struct epoll_event evs[8];
	int n, i;

	while (!d->stop) {
		n = epoll_wait(d->epfd, evs, 8, next_timeout(d));
		if (n < 0 && errno != EINTR)
			return -errno;
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == d->sig_fd)
				on_signal(d);
			else if (fd == d->ctl_fd)
				sluiced_server_handle(d);
			else if (fd == d->ino_fd)
				sluiced_watch_event(d);
			else if (fd == d->metrics_fd)
				sluiced_metrics_handle(d);
			else if (fd == d->helper.pidfd)
				sluiced_helper_exited(d);
			else if (sluiced_kube_owns(d, fd))
				sluiced_kube_event(d);
			else if (sluiced_dns_owns(d, fd))
				sluiced_dns_event(d, fd, evs[i].events);
		}
		housekeeping(d);
	}
	return 0;
}

static int setup(struct sluiced *d)
{
	char err[SL_DP_ERRLEN] = "";
	sigset_t mask;
	int rc;

	rc = sl_cgroup2_check(d->o.cgroup, err);
	if (rc) {
		sluiced_err("--cgroup: %s", err);
		return rc;
	}
	rc = sluiced_mkdir_p(d->o.state_dir, 0700);
	/* private also when it existed: it holds the policy and the helper's
	 * metrics socket */
	if (!rc && chmod(d->o.state_dir, 0700) < 0)
		rc = -errno;
	if (rc) {
		sluiced_err("--state-dir %s: %s", d->o.state_dir, strerror(-rc));
		return rc;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->sig_fd < 0 || d->epfd < 0)
		return -errno;
	ep_add(d, d->sig_fd);

	/* Refuse a second daemon before touching the data plane. */
	rc = sluiced_server_open(d);
	if (rc) {
		sluiced_err("control socket %s: %s", d->o.socket, strerror(-rc));
		return rc;
	}
	ep_add(d, d->ctl_fd);
	sluiced_helper_init(d);
	/* what this kernel offers, before anything needs it: a failure below
	 * is then explained by the feature it lacks */
	d->nkernel = sl_dp_probe(d->kernel, SL_DP_NFEATURES);
	for (size_t k = 0; k < d->nkernel; k++) {
		if (d->kernel[k].present)
			sluiced_debug("kernel: %s: yes (Linux %s+)", d->kernel[k].name,
				    d->kernel[k].since);
		else
			sluiced_warn("kernel: %s: NO (needs Linux %s): %s", d->kernel[k].name,
				    d->kernel[k].since, d->kernel[k].without);
	}
	rc = sluiced_dp_ensure(d, err);
	if (rc) {
		sluiced_err("data plane: %s (%s)", err, strerror(-rc));
		return rc;
	}
	sluiced_stats_gc_schedule(d);	/* what a previous daemon left to age */
	sluiced_log("data plane open: bpffs %s, cgroup %s, generation %u", d->o.bpffs,
		    d->o.cgroup, sl_dp_generation(d->dp));
	{
		const struct sl_dp_hook *h;
		size_t nh = sl_dp_hooks(d->dp, &h), i;

		for (i = 0; i < nh; i++) {
			if (h[i].attached)
				sluiced_log("hook %s: attached", h[i].name);
			else
				sluiced_warn("hook %s: NOT attached: %s", h[i].name, h[i].why);
		}
		if (sl_dp_report_bytes_error(d->dp))
			sluiced_warn("byte reporter not loaded (%s): TCP bytes count when "
				    "connections close", strerror(sl_dp_report_bytes_error(d->dp)));
	}
	if (d->o.xdp) {
		/* north-south XDP (user/sluiced/xdp.c) */
		for (size_t k = 0; k < d->nkernel; k++)
			if (!d->kernel[k].present && !strncmp(d->kernel[k].name, "TCX", 3)) {
				/* one feature degrades, not the daemon: the socket
				 * hooks steer local clients; status says why */
				sluiced_err("--xdp %s: north-south not available: %s needs Linux %s",
					    d->o.xdp, d->kernel[k].name, d->kernel[k].since);
				goto no_xdp;
			}
		rc = sluiced_xdp_setup(d->o.xdp, d->o.bpffs, d->dp, err);
		if (rc) {
			sluiced_err("--xdp %s: %s (%s)", d->o.xdp, err, strerror(-rc));
			return rc;
		}
	}
no_xdp:
	sluiced_restore(d);
	if (sluiced_mkdir_p(d->o.policy_dir, 0755) == 0 && sluiced_watch_open(d) == 0)
		sluiced_log("policy-dir: watching %s", d->o.policy_dir);
	ep_add(d, d->ino_fd);
	sluiced_load_policy_dir(d, true);
	d->synced = true;
	if (d->o.kubernetes) {
		char kerr[512] = "";

		rc = sluiced_kube_start(d, kerr, sizeof(kerr));
		if (rc) {
			sluiced_err("--kubernetes: %s", kerr[0] ? kerr : strerror(-rc));
			return rc;
		}
	}
	if (d->o.metrics) {
		rc = sluiced_metrics_open(d);
		if (rc) {
			sluiced_err("--metrics %s: %s", d->o.metrics, strerror(-rc));
			return rc;
		}
		ep_add(d, d->metrics_fd);
		sluiced_log("metrics on http://%s/metrics", d->o.metrics);
	}
	sluiced_log("ready: control socket %s, generation %u, source %s", d->o.socket,
		    sl_dp_generation(d->dp), sluiced_source_name(d->source));
	return 0;
}

int main(int argc, char **argv)
{
	struct sluiced d = {
		.ctl_fd = -1, .ctl_client_fd = -1, .ino_fd = -1, .sig_fd = -1, .metrics_fd = -1, .epfd = -1,
		.ino_wd = -1,
	};
	int rc;

	d.helper.pidfd = -1;
	d.started_ms = sluiced_now_ms();
	/* Two malloc arenas, not glibc's 8 per core: each Kubernetes watch
	 * thread would otherwise get its own, where the objects it keeps sit
	 * among the freed pages of the JSON it parsed (docs/benchmarks.md:
	 * ~20 MB of RSS at 10,000 services). The threads allocate little
	 * after their first list, so they hardly contend. */
	mallopt(M_ARENA_MAX, 2);
	/* Freed memory at the top of a heap is kept up to 32 MB, not 128 KB:
	 * a list page's JSON tree (~6 MB for 500 EndpointSlices) is freed and
	 * the next page's allocated in the same place, and giving it back to
	 * the kernel every time costs a page fault per page touched again and
	 * a TLB flush on every CPU. After a list (kube_watch.c do_list) and a
	 * whole apply, malloc_trim gives back what is free, so RSS still
	 * follows what is held. */
	mallopt(M_TRIM_THRESHOLD, 32 << 20);
	if (parse_opts(&d, argc, argv))
		return 2;
	rc = setup(&d);
	if (!rc)
		rc = run(&d);
	if (d.ctl_fd >= 0) {
		close(d.ctl_fd);
		unlink(d.o.socket);
	}
	sluiced_kube_stop(&d);
	sluiced_state_tick(&d, true);	/* an incremental apply's state file, if due */
	sluiced_dns_free(&d);
	sluiced_outlier_free(&d);
	sluiced_dp_close(&d);
	sluiced_state_free(&d);
	return rc ? 1 : 0;
}
