// SPDX-License-Identifier: Apache-2.0
/*
 * Supervision of sluice-http, the L7 helper. It runs only while the policy
 * has HTTP routes (mesh services with http routes, or Gateway servers
 * speaking HTTP, or TLS passthrough Gateway servers); it reads the same snapshot file sluiced applied and
 * reloads it on SIGHUP after every apply. If it dies it is restarted with
 * an exponential backoff (0.2, 0.4, 0.8 s, then every 1 s: HTTP routes wait
 * for it, so a long pause would fail every request in it). There
 * is no silent fallback to L4 while it is down: the data plane refuses to
 * compile http routes without the helper (their matches would be ignored),
 * so the routes wait for the helper; status and the log say so. Without the
 * binary (or with --no-http-helper) the data plane is opened without the
 * helper listener and a policy with http routes is refused at apply.
 *
 * The helper outlives sluiced (like the pinned programs): its pid is kept in
 * <state>/http.pid and a restarted daemon adopts it instead of starting a
 * second one. Exit is watched through a pidfd, for children and adoptees
 * alike. `sluicectl reset` stops it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sluiced.h"

#define HELPER_MIN_LIFE_MS	2000	/* shorter runs count as failures */
#define HELPER_MAX_FAILS	5
#define HELPER_BACKOFF_MAX_MS	1000	/* a crash loop costs at most ~1 s of HTTP routes per crash */

const char *sluiced_helper_state_name(enum helper_state s)
{
	static const char *const n[] = { "disabled", "idle", "running", "backoff" };

	return (unsigned int)s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

void sluiced_helper_metrics_path(const struct sluiced *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/http-metrics.sock", d->o.state_dir);
}

static void pidfile_path(const struct sluiced *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/http.pid", d->o.state_dir);
}

bool sluiced_model_needs_helper(const struct sl_model *m)
{
	size_t i, j;

	if (!m)
		return false;
	for (i = 0; i < m->nservices; i++) {
		const struct sl_service *s = &m->services[i];

		for (j = 0; j < s->nports; j++)
			if (sl_port_wants_helper(m, s, &s->ports[j]))
				return true;
	}
	for (i = 0; i < m->ngateways; i++)
		for (j = 0; j < m->gateways[i].nservers; j++)
			if (sl_gw_server_is_http(&m->gateways[i].servers[j]) ||
			    sl_gw_server_is_passthrough(&m->gateways[i].servers[j]))
				return true;
	return false;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void watch_pid(struct sluiced *d, pid_t pid, bool child)
{
	struct sluiced_helper *h = &d->helper;
	struct epoll_event ev = { .events = EPOLLIN };

	h->pid = pid;
	h->child = child;
	h->pidfd = pidfd_open_(pid);
	if (h->pidfd >= 0) {
		ev.data.fd = h->pidfd;
		epoll_ctl(d->epfd, EPOLL_CTL_ADD, h->pidfd, &ev);
	}
	h->state = HELPER_RUNNING;
}

static void write_pidfile(const struct sluiced *d, pid_t pid)
{
	char path[PATH_MAX];
	FILE *f;

	pidfile_path(d, path, sizeof(path));
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%d\n", (int)pid);
		fclose(f);
	}
}

/* Is pid a running sluice-http at our path? (Guards against a recycled
 * pid in a stale pidfile.) */
static bool is_our_helper(const struct sluiced *d, pid_t pid)
{
	char link[64], exe[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	return !strcmp(exe, d->helper.path);
}

void sluiced_helper_init(struct sluiced *d)
{
	struct sluiced_helper *h = &d->helper;
	char path[PATH_MAX];
	FILE *f;
	int pid = 0;

	h->pidfd = -1;
	if (snprintf(h->path, sizeof(h->path), "%s/sluice-http", d->o.self_dir) >= (int)sizeof(h->path))
		h->path[0] = '\0';
	if (d->o.no_http_helper) {
		h->state = HELPER_DISABLED;
		snprintf(h->why, sizeof(h->why), "--no-http-helper");
		return;
	}
	if (access(h->path, X_OK) < 0) {
		h->state = HELPER_DISABLED;
		snprintf(h->why, sizeof(h->why), "sluice-http not found next to sluiced: http routes are refused");
		sluiced_warn("helper: %s", h->why);
		return;
	}
	h->state = HELPER_IDLE;
	pidfile_path(d, path, sizeof(path));
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%d", &pid) == 1 && pid > 1 && is_our_helper(d, pid)) {
			watch_pid(d, pid, false);
			sluiced_log("helper: adopted running sluice-http pid %d", pid);
		}
		fclose(f);
	}
}

static void spawn(struct sluiced *d)
{
	struct sluiced_helper *h = &d->helper;
	char snap[PATH_MAX], msock[PATH_MAX], cred[PATH_MAX], listen[64];
	pid_t pid;

	sluiced_snapshot_path(d, snap, sizeof(snap));
	sluiced_helper_metrics_path(d, msock, sizeof(msock));
	if (!sluiced_credentials_dir(d, cred, sizeof(cred)))
		cred[0] = '\0';
	snprintf(listen, sizeof(listen), "%s", d->o.http_listen);
	pid = fork();
	if (pid < 0) {
		snprintf(h->why, sizeof(h->why), "fork: %s", strerror(errno));
		h->state = HELPER_BACKOFF;
		h->restart_at_ms = sluiced_now_ms() + 1000;
		return;
	}
	if (pid == 0) {
		sigset_t all;

		/* The daemon blocks its signals for signalfd: undo that. */
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		setpgid(0, 0);
		const char *argv[24];
		size_t n = 0;

		argv[n++] = h->path;
		argv[n++] = "--policy";
		argv[n++] = snap;
		argv[n++] = "--mesh-listen";
		argv[n++] = listen;
		argv[n++] = "--bpffs";
		argv[n++] = d->o.bpffs;
		argv[n++] = "--metrics-socket";
		argv[n++] = msock;
		argv[n++] = "--gateway-addr";
		argv[n++] = d->o.gateway_addr ? d->o.gateway_addr : "0.0.0.0";
		if (d->o.http_access_log) {
			argv[n++] = "--access-log";
			argv[n++] = d->o.http_access_log;
		}
		if (cred[0]) {	/* the Secrets of credentialName servers */
			argv[n++] = "--credentials-dir";
			argv[n++] = cred;
		}
		argv[n] = NULL;
		execv(h->path, (char *const *)argv);
		_exit(127);
	}
	h->started_ms = sluiced_now_ms();
	watch_pid(d, pid, true);
	write_pidfile(d, pid);
	sluiced_log("helper: started %s pid %d (mesh listener %s)", h->path, (int)pid, listen);
}

void sluiced_helper_sync(struct sluiced *d)
{
	struct sluiced_helper *h = &d->helper;
	bool need = sluiced_model_needs_helper(d->model);

	switch (h->state) {
	case HELPER_RUNNING:
		if (need) {
			kill(h->pid, SIGHUP);
		} else {
			sluiced_log("helper: policy has no HTTP routes; stopping pid %d", (int)h->pid);
			sluiced_helper_stop(d);
			h->state = HELPER_IDLE;
		}
		break;
	case HELPER_IDLE:
		if (need)
			spawn(d);
		break;
	default:
		break;
	}
}

void sluiced_helper_stop(struct sluiced *d)
{
	struct sluiced_helper *h = &d->helper;
	char path[PATH_MAX];
	int i;

	if (h->state != HELPER_RUNNING)
		return;
	kill(h->pid, SIGTERM);
	/* Bounded wait (2 s) so a reset returns promptly and leaves no helper. */
	for (i = 0; i < 40 && kill(h->pid, 0) == 0; i++) {
		if (h->child && waitpid(h->pid, NULL, WNOHANG) == h->pid)
			break;
		usleep(50000);
	}
	if (kill(h->pid, 0) == 0) {
		kill(h->pid, SIGKILL);
		if (h->child)
			waitpid(h->pid, NULL, 0);
	}
	if (h->pidfd >= 0) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, h->pidfd, NULL);
		close(h->pidfd);
		h->pidfd = -1;
	}
	pidfile_path(d, path, sizeof(path));
	unlink(path);
	h->state = HELPER_IDLE;
	h->pid = 0;
}

void sluiced_helper_exited(struct sluiced *d)
{
	struct sluiced_helper *h = &d->helper;
	uint64_t now = sluiced_now_ms(), backoff;
	int status = 0;

	if (h->pidfd >= 0) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, h->pidfd, NULL);
		close(h->pidfd);
		h->pidfd = -1;
	}
	if (h->child && waitpid(h->pid, &status, WNOHANG) == h->pid) {
		if (WIFEXITED(status))
			snprintf(h->why, sizeof(h->why), "pid %d exited with status %d", (int)h->pid,
				 WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			snprintf(h->why, sizeof(h->why), "pid %d killed by signal %d", (int)h->pid,
				 WTERMSIG(status));
	} else {
		snprintf(h->why, sizeof(h->why), "pid %d exited", (int)h->pid);
	}
	sluiced_warn("helper: %s", h->why);
	h->fails = now - h->started_ms < HELPER_MIN_LIFE_MS ? h->fails + 1 : 0;
	backoff = 200ull << (h->fails < 6 ? h->fails : 6);
	if (backoff > HELPER_BACKOFF_MAX_MS || h->fails >= HELPER_MAX_FAILS)
		backoff = HELPER_BACKOFF_MAX_MS;
	if (h->fails == HELPER_MAX_FAILS)
		sluiced_warn("helper: sluice-http keeps failing (%d short runs); its HTTP routes are "
			    "not served until it starts; retrying every %d s", h->fails,
			    HELPER_BACKOFF_MAX_MS / 1000);
	if (h->fails >= HELPER_MAX_FAILS)
		snprintf(h->why, sizeof(h->why), "failing: %d short runs in a row, retrying every %d s",
			 h->fails, HELPER_BACKOFF_MAX_MS / 1000);
	h->state = HELPER_BACKOFF;
	h->restart_at_ms = now + backoff;
}

void sluiced_helper_tick(struct sluiced *d)
{
	struct sluiced_helper *h = &d->helper;

	if (h->state != HELPER_BACKOFF || sluiced_now_ms() < h->restart_at_ms)
		return;
	h->state = HELPER_IDLE;
	h->restarts++;
	sluiced_helper_sync(d);
}
