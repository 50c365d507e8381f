/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-http: the L7 helper. Started by sluiced as
 *   sluice-http --policy PATH --mesh-listen 127.0.0.1:15001 --bpffs DIR
 *               --metrics-socket PATH [--workers N]
 * or alone with --gateway-addr ADDR and/or --no-mesh.
 *
 * The main thread owns signals and the metrics socket: SIGHUP reloads the
 * policy (a bad one is refused, the old one kept), SIGTERM/SIGINT stop.
 * Workers do all the proxying (worker.c).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "http/conn.h"
#include "http/reqlog.h"
#include "sluice/ctl.h"

#define HX_MAX_WORKERS 64

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-http --policy PATH [--policy PATH...] [options]\n"
		"  --mesh-listen ADDR:PORT   mesh listener (default " SL_HELPER_DEFAULT_LISTEN ")\n"
		"  --no-mesh                 no mesh listener\n"
		"  --gateway-addr ADDR       address of Gateway listeners (default 0.0.0.0)\n"
		"  --bpffs DIR               pin root holding sluice_origdst (default /sys/fs/bpf/sluice)\n"
		"  --metrics-socket PATH     unix socket: one connection = one Prometheus dump\n"
		"  --workers N               worker threads (default 1)\n"
		"  --max-conns N             client connections per worker (default 10000)\n"
		"  --header-timeout-ms MS    time to receive a request head (default 10000)\n"
		"  --idle-timeout-ms MS      keep-alive idle time-out (default 60000)\n"
		"  --tls-handshake-timeout-ms MS  gateway HTTPS handshake, and TLS passthrough\n"
		"                            ClientHello, time-out (default 10000)\n"
		"  --access-log PATH         one line per request to PATH (- = stderr; off by default)\n"
		"  --credentials-dir DIR     Gateway credentialName Secrets: DIR/NS/NAME/tls.crt,\n"
		"                            tls.key, ca.crt (sluiced --kubernetes keeps them; without\n"
		"                            it such servers are refused)\n");
}

static int split_hostport(const char *s, char **host, uint16_t *port)
{
	const char *c = strrchr(s, ':');
	char *end;
	long p;

	if (!c)
		return -EINVAL;
	p = strtol(c + 1, &end, 10);
	if (*end || p <= 0 || p > 65535)
		return -EINVAL;
	*host = strndup(s[0] == '[' ? s + 1 : s, (size_t)(c - s) - (s[0] == '[' ? 2 : 0));
	*port = (uint16_t)p;
	return *host ? 0 : -ENOMEM;
}

static int metrics_listen(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* One connection, one answer, then the socket is closed. A peer that
 * writes "json" first gets the per-(service, subset) request counts as JSON
 * (sluiced's stats and top), one that writes "endpoints" the TLS
 * passthrough counts per destination endpoint (sluiced's istio_tcp_*); any
 * other request, a half-close or 100 ms of silence gets the Prometheus
 * dump. */
static void metrics_serve(int lfd, struct hx_worker **ws, size_t nw)
{
	struct hx_metrics *mxs[HX_MAX_WORKERS];
	struct timeval tv = {.tv_sec = 2};
	struct pollfd pf;
	char *buf = NULL, req[16] = "";
	size_t len = 0, i, off = 0;
	ssize_t r;
	FILE *f;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pf = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&pf, 1, 100) == 1 && (r = recv(fd, req, sizeof(req) - 1, MSG_DONTWAIT)) > 0)
		req[r] = '\0';
	for (i = 0; i < nw; i++)
		mxs[i] = hx_worker_metrics(ws[i]);
	f = open_memstream(&buf, &len);
	if (f) {
		if (!strncmp(req, "json", 4))
			hx_metrics_counts_json(mxs, nw, f);
		else if (!strncmp(req, "endpoints", 9))
			hx_metrics_pt_endpoints_json(mxs, nw, f);
		else
			hx_metrics_dump(mxs, nw, f);
		fclose(f);
		while (off < len) {
			ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);

			if (n <= 0)
				break;
			off += (size_t)n;
		}
	}
	free(buf);
	shutdown(fd, SHUT_WR);
	close(fd);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"mesh-listen", required_argument, NULL, 'm'},
		{"no-mesh", no_argument, NULL, 'N'},
		{"gateway-addr", required_argument, NULL, 'g'},
		{"bpffs", required_argument, NULL, 'b'},
		{"metrics-socket", required_argument, NULL, 's'},
		{"workers", required_argument, NULL, 'w'},
		{"max-conns", required_argument, NULL, 'c'},
		{"header-timeout-ms", required_argument, NULL, 'H'},
		{"idle-timeout-ms", required_argument, NULL, 'I'},
		{"tls-handshake-timeout-ms", required_argument, NULL, 'T'},
		{"access-log", required_argument, NULL, 'A'},
		{"credentials-dir", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *paths[64], *bpffs = "/sys/fs/bpf/sluice", *msock = NULL;
	const char *mesh = SL_HELPER_DEFAULT_LISTEN;
	struct hx_worker *ws[HX_MAX_WORKERS];
	struct hx_snap *snap;
	size_t npaths = 0, nw = 1, i;
	struct pollfd pfd[2];
	sigset_t mask;
	int o, err, sfd, mfd = -1;
	bool no_mesh = false;

	hx_cfg.gateway_addr = "0.0.0.0";
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'p':
			if (npaths < 64)
				paths[npaths++] = optarg;
			break;
		case 'm': mesh = optarg; break;
		case 'N': no_mesh = true; break;
		case 'g': hx_cfg.gateway_addr = optarg; break;
		case 'b': bpffs = optarg; break;
		case 's': msock = optarg; break;
		case 'w': nw = strtoul(optarg, NULL, 10); break;
		case 'c': hx_cfg.max_conns = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'H': hx_cfg.header_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'I': hx_cfg.idle_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'C': hx_cfg.credentials_dir = optarg; break;
		case 'T': hx_cfg.tls_handshake_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'A':
			err = hx_alog_open(optarg);
			if (err) {
				fprintf(stderr, "sluice-http: --access-log %s: %s\n", optarg,
					strerror(-err));
				return 1;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (npaths == 0 || nw == 0 || nw > HX_MAX_WORKERS || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!no_mesh) {
		char *h;

		if (split_hostport(mesh, &h, &hx_cfg.mesh_port) < 0) {
			fprintf(stderr, "sluice-http: bad --mesh-listen %s\n", mesh);
			return 2;
		}
		hx_cfg.mesh_addr = h;
		hx_cfg.origdst_fd = hx_origdst_open(bpffs);
		if (hx_cfg.origdst_fd < 0)
			fprintf(stderr, "sluice-http: %s/sluice_origdst not available (%s): mesh "
				"requests are routed by their Host header\n", bpffs,
				strerror(-hx_cfg.origdst_fd));
	}
	hx_trace_open(bpffs);
	err = hx_snap_load(paths, npaths, &snap);
	if (err < 0) {
		fprintf(stderr, "sluice-http: policy refused: %s\n", strerror(-err));
		return 1;
	}
	hx_snap_publish(snap);

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);	/* inherited by the workers */
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (msock) {
		mfd = metrics_listen(msock);
		if (mfd < 0) {
			fprintf(stderr, "sluice-http: metrics socket %s: %s\n", msock, strerror(-mfd));
			return 1;
		}
	}
	for (i = 0; i < nw; i++) {
		ws[i] = hx_worker_new((int)i);
		if (!ws[i] || pthread_create(&ws[i]->thr, NULL, hx_worker_run, ws[i]) != 0) {
			fprintf(stderr, "sluice-http: cannot start worker %zu\n", i);
			return 1;
		}
	}
	fprintf(stderr, "sluice-http: %zu worker(s), mesh %s, gateway address %s\n", nw,
		no_mesh ? "off" : mesh, hx_cfg.gateway_addr);

	while (!hx_stop) {
		struct signalfd_siginfo si;

		pfd[0].fd = sfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = mfd;
		pfd[1].events = POLLIN;
		if (poll(pfd, mfd >= 0 ? 2 : 1, -1) < 0)
			continue;
		if (mfd >= 0 && (pfd[1].revents & POLLIN))
			metrics_serve(mfd, ws, nw);
		if (!(pfd[0].revents & POLLIN) || read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGHUP) {
			hx_trace_open(bpffs);
	err = hx_snap_load(paths, npaths, &snap);
			if (err < 0) {
				fprintf(stderr, "sluice-http: reload refused (%s); keeping the "
					"current policy\n", strerror(-err));
				continue;
			}
			hx_snap_publish(snap);
			for (i = 0; i < nw; i++)
				hx_worker_wake(ws[i]);
			fprintf(stderr, "sluice-http: policy reloaded\n");
		} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			hx_stop = 1;
		}
	}
	for (i = 0; i < nw; i++)
		hx_worker_wake(ws[i]);
	for (i = 0; i < nw; i++)
		pthread_join(ws[i]->thr, NULL);
	if (msock)
		unlink(msock);
	return 0;
}
