// SPDX-License-Identifier: Apache-2.0
/*
 * sluiced's shared services: clock, the one-line event log, directory
 * creation, and opening/closing the data plane. Kept out of main.c so every
 * other module links on its own (unit tests, fuzzers).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sluiced.h"

uint64_t sluiced_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void sluiced_log(const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char line[2048];
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ sluiced: %s\n", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		line);
}

/*
 * WORKAROUND (remove when user/lib/dp_open.c closes them): sl_dp_close()
 * disconnects its bpf_links before destroying them so the pinned links stay
 * attached, but libbpf closes a link's fd only in its detach path, so the
 * fds stay open in this process and a reset link/program lives on (detached)
 * until sluiced exits. We note the link fds sl_dp_open() created and close
 * whichever of them are still open after sl_dp_close().
 */
static int dp_link_fds[64];
static size_t dp_nlink_fds;

static bool is_link_fd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	return !strcmp(target, "anon_inode:bpf_link");
}

/* The open link fds, as a bitmap over fd numbers below 1024. */
static void link_fd_set(uint8_t set[128])
{
	int fd;

	memset(set, 0, 128);
	for (fd = 3; fd < 1024; fd++)
		if (is_link_fd(fd))
			set[fd / 8] |= (uint8_t)(1u << (fd % 8));
}

void sluiced_dp_close(struct sluiced *d)
{
	size_t i;

	if (!d->dp)
		return;
	sl_dp_close(d->dp);
	d->dp = NULL;
	for (i = 0; i < dp_nlink_fds; i++)
		if (is_link_fd(dp_link_fds[i]))
			close(dp_link_fds[i]);
	dp_nlink_fds = 0;
}

/* Open the data plane if it is not (start, or the first apply after a
 * reset). The helper listener is passed only while the helper may run. */
int sluiced_dp_ensure(struct sluiced *d, char *err)
{
	struct sl_dp_opts o = { .bpffs = d->o.bpffs, .cgroup = d->o.cgroup };
	enum helper_state hs = d->helper.state;
	uint8_t before[128], after[128];
	int rc, fd;

	if (d->dp)
		return 0;
	if (hs != HELPER_DISABLED) {
		o.helper_addr[10] = 0xff;
		o.helper_addr[11] = 0xff;
		o.helper_addr[12] = 127;
		o.helper_addr[15] = 1;
		o.helper_port = SLUICED_HELPER_PORT;
	}
	link_fd_set(before);
	rc = sl_dp_open(&o, &d->dp, err);
	if (rc) {
		d->dp = NULL;
		return rc;
	}
	link_fd_set(after);
	dp_nlink_fds = 0;
	for (fd = 3; fd < 1024 && dp_nlink_fds < 64; fd++)
		if ((after[fd / 8] & ~before[fd / 8]) & (1u << (fd % 8)))
			dp_link_fds[dp_nlink_fds++] = fd;
	return 0;
}

int sluiced_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}
