// SPDX-License-Identifier: Apache-2.0
/*
 * sluiced's shared services: clock, the one-line event log (levels, text
 * or JSON lines, journald priority prefixes), directory
 * creation, and opening/closing the data plane. Kept out of main.c so every
 * other module links on its own (unit tests, fuzzers).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sluice/ctl.h"
#include "sluiced.h"

uint64_t sluiced_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t sluiced_now_ms(void)
{
	return sluiced_now_us() / 1000u;
}

/* Stats of removed backends are aged out in passes that start after an
 * apply (or a start-up) and stop once nothing is left to age (main.c runs
 * them): no periodic map walk while the policy stands still. */
void sluiced_stats_gc_schedule(struct sluiced *d)
{
	d->stats_gc_at_ms = sluiced_now_ms() + d->o.stats_gc_ms;
}

static struct {
	enum sluiced_log_level min;
	bool json;
	bool journal;		/* stderr is a journald stream: <N> prefixes */
} logcfg = { .min = SL_LOG_INFO };

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int sluiced_log_level_parse(const char *s, enum sluiced_log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (!strcmp(s, level_names[i])) {
			*out = (enum sluiced_log_level)i;
			return 0;
		}
	if (!strcmp(s, "warning")) {
		*out = SL_LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

/* journald sets JOURNAL_STREAM=DEV:INODE for the stream it reads: when that
 * is our stderr, a "<N>" prefix gives each line its syslog priority
 * (systemd's SyslogLevelPrefix=, on by default). */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st))
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void sluiced_log_setup(enum sluiced_log_level min, bool json)
{
	logcfg.min = min;
	logcfg.json = json;
	logcfg.journal = stderr_is_journal();
}

bool sluiced_log_enabled(enum sluiced_log_level level)
{
	return level >= logcfg.min;
}

void sluiced_log_format(FILE *f, enum sluiced_log_level level, const struct timespec *ts,
			bool json, bool journal, const char *msg)
{
	static const int prio[] = { 7, 6, 4, 3 };	/* syslog debug, info, warning, err */
	struct tm tm;
	char when[64];

	gmtime_r(&ts->tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 ts->tv_nsec / 1000000);
	if (journal)
		fprintf(f, "<%d>", prio[level]);
	if (json) {
		fprintf(f, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", when, level_names[level]);
		sl_json_str(f, msg);
		fputs("}\n", f);
	} else {
		fprintf(f, "%s sluiced: %s: %s\n", when, level_names[level], msg);
	}
}

void sluiced_logl(enum sluiced_log_level level, const char *fmt, ...)
{
	struct timespec ts;
	char line[2048];
	va_list ap;

	if (level < logcfg.min)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	sluiced_log_format(stderr, level, &ts, logcfg.json, logcfg.journal, line);
}

void sluiced_dp_close(struct sluiced *d)
{
	if (!d->dp)
		return;
	sl_dp_close(d->dp);
	d->dp = NULL;
}

/* Open the data plane if it is not (start, or the first apply after a
 * reset). The helper listener is passed only while the helper may run. */
int sluiced_dp_ensure(struct sluiced *d, char *err)
{
	struct sl_dp_opts o = { .bpffs = d->o.bpffs, .cgroup = d->o.cgroup,
				.dns_lookup = sluiced_dns_lookup, .dns_arg = d,
				.kubelet_root = d->o.kubelet_root };
	enum helper_state hs = d->helper.state;
	bool mounted;
	int rc;

	if (d->dp)
		return 0;
	if (hs != HELPER_DISABLED) {
		memcpy(o.helper_addr, d->o.helper_addr, sizeof(o.helper_addr));
		o.helper_port = d->o.helper_port;
	}
	rc = sl_bpffs_ensure(d->o.bpffs, &mounted, err);
	if (rc)
		return rc;
	if (mounted)
		sluiced_log("no bpffs was mounted: mounted one at /sys/fs/bpf (mode 0700) for %s",
			    d->o.bpffs);
	rc = sl_dp_open(&o, &d->dp, err);
	if (rc) {
		d->dp = NULL;
		return rc;
	}
	if (d->xdp_detached) {
		/* after a reset: north-south comes back with the socket hooks,
		 * or the apply fails (nothing half there) and the next retries */
		rc = sluiced_xdp_setup(d->o.xdp, d->o.bpffs, d->dp, err);
		if (rc) {
			sluiced_err("--xdp %s: re-attach after reset: %s (%s)", d->o.xdp, err,
				    strerror(-rc));
			sluiced_dp_close(d);
			return rc;
		}
		d->xdp_detached = false;
	}
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

bool sluiced_live(const struct sluiced *d, char *why, size_t len)
{
	const struct sl_dp_hook *h;
	size_t n, i;

	if (!d->dp) {
		snprintf(why, len, "no data plane (after reset): the next apply brings it back");
		return false;
	}
	n = sl_dp_hooks(d->dp, &h);
	for (i = 0; i < n; i++)
		if (!strcmp(h[i].name, "connect4") && !h[i].attached) {
			snprintf(why, len, "hook connect4 not attached: %s", h[i].why);
			return false;
		}
	if (d->model && sluiced_model_needs_helper(d->model) &&
	    d->helper.state != HELPER_RUNNING && d->helper.state != HELPER_DISABLED) {
		snprintf(why, len, "the policy has HTTP routes and sluice-http is %s (%s)",
			 sluiced_helper_state_name(d->helper.state),
			 d->helper.why[0] ? d->helper.why : "starting");
		return false;
	}
	if (d->helper.state == HELPER_RUNNING && sluiced_helper_listen_failure(d, why, len))
		return false;
	snprintf(why, len, "live");
	return true;
}
