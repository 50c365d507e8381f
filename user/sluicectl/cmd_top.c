// SPDX-License-Identifier: Apache-2.0
/*
 * sluicectl top: live rates per service, subset and backend — new
 * connections per second, failures per second, active connections, bytes
 * per second each way (requests: client to backend; responses), HTTP
 * requests per second and the share of 5xx answers (through sluice-http)
 * — and the observed split of each service over its subsets in %, with
 * bars (of its new connections, or of its requests for a service whose
 * connections all go to sluice-http). Rates are differences of
 * two `stats -o json` samples (cumulative counters kept by the data plane)
 * over the time between them; the first screen appears after one interval.
 *
 * On a terminal the screen is redrawn in place and 'q' quits; piped, each
 * update is a block of plain lines headed by its time, with no escape codes.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sluice/ctl.h"
#include "sluicectl/cmds.h"

#define TOP_INTERVAL_MS 1000
#define BAR_WIDTH 20

struct sample {
	struct ctl_stat_row *rows;
	size_t n;
	uint64_t at_ns;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Fetch stats as values. Returns a CLI exit code. */
static int take(const struct ctl_opts *o, struct sample *s)
{
	struct sl_ctl_resp resp;
	int err = ctl_fetch(o, "top", "stats", "json", &resp);

	if (err)
		return err;
	s->at_ns = mono_ns();
	err = resp.status == SL_CTL_OK ? ctl_stats_parse(resp.body, resp.len, &s->rows, &s->n) : -1;
	if (err)
		fprintf(stderr, "sluicectl: top: unexpected stats answer: %.*s\n", (int)resp.len,
			resp.body ? resp.body : "");
	sl_ctl_resp_free(&resp);
	return err ? CTL_INVALID : CTL_OK;
}

static void sample_free(struct sample *s)
{
	ctl_stats_free(s->rows, s->n);
	s->rows = NULL;
	s->n = 0;
}

static const struct ctl_stat_row *find_prev(const struct sample *p, const struct ctl_stat_row *r)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct ctl_stat_row *q = &p->rows[i];

		if (!strcmp(q->level, r->level) && !strcmp(q->service, r->service) &&
		    !strcmp(q->subset, r->subset) && !strcmp(q->backend, r->backend))
			return q;
	}
	return NULL;
}

/* Per-second rate of a counter between two samples (0 when it went back:
 * a reset or an aged-out entry). */
static double rate(uint64_t now, uint64_t before, double secs)
{
	return now >= before && secs > 0 ? (double)(now - before) / secs : 0.0;
}

static void human_bytes(char *buf, size_t len, double v)
{
	if (v >= 1e9)
		snprintf(buf, len, "%.1fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.1fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
}

static void render(const struct sample *prev, const struct sample *cur, bool tty)
{
	double secs = (double)(cur->at_ns - prev->at_ns) / 1e9;
	double svc_rate = 0, svc_req = 0;
	time_t now = time(NULL);
	char ts[32];

	strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&now));
	if (tty)
		fputs("\033[H\033[2J", stdout);
	printf("sluicectl top — %s — rates over %.1f s%s\n", ts, secs, tty ? " — q to quit" : "");
	if (!cur->n) {
		printf("(no steered connections yet)\n\n");
		return;
	}
	printf("%-44s %9s %7s %8s %9s %9s %8s %6s  %s\n", "SERVICE / SUBSET / BACKEND", "CONN/S",
	       "ACTIVE", "FAIL/S", "REQ B/S", "RESP B/S", "REQ/S", "ERR%", "SPLIT");
	for (size_t i = 0; i < cur->n; i++) {
		const struct ctl_stat_row *r = &cur->rows[i];
		const struct ctl_stat_row *p = find_prev(prev, r);
		struct ctl_stat_row zero = { 0 };
		char name[256], in[16], out[16], bar[BAR_WIDTH + 1] = "";
		double cr, fr, rr, er;
		char req[16] = "-", err[16] = "-";

		if (!p)
			p = &zero;	/* new since the last sample: all of it is new */
		cr = rate(r->opened, p->opened, secs);
		fr = rate(r->failed, p->failed, secs);
		rr = rate(r->requests, p->requests, secs);
		er = rate(r->errors, p->errors, secs);
		if (strcmp(r->level, "backend")) {
			snprintf(req, sizeof(req), "%.1f", rr);
			if (rr > 0)
				snprintf(err, sizeof(err), "%.1f", 100.0 * er / rr);
		}
		/* the counters are the client socket's: what it sent is the
		 * request stream, what it received the responses */
		human_bytes(in, sizeof(in), rate(r->bytes_sent, p->bytes_sent, secs));
		human_bytes(out, sizeof(out), rate(r->bytes_received, p->bytes_received, secs));
		if (!strcmp(r->level, "service")) {
			svc_rate = cr;
			svc_req = rr;
			snprintf(name, sizeof(name), "%s", r->service);
		} else if (!strcmp(r->level, "subset")) {
			snprintf(name, sizeof(name), "  %s", r->subset[0] ? r->subset : "(all)");
		} else {
			snprintf(name, sizeof(name), "    %s", r->backend);
		}
		printf("%-44.44s %9.1f %7llu %8.1f %9s %9s %8s %6s", name, cr,
		       (unsigned long long)r->active, fr, in, out, req, err);
		if (!strcmp(r->level, "subset")) {
			double share = svc_rate > 0 ? 100.0 * cr / svc_rate :
				       svc_req > 0 ? 100.0 * rr / svc_req : 0.0;
			int w = (int)(share * BAR_WIDTH / 100.0 + 0.5);

			memset(bar, '#', (size_t)(w > BAR_WIDTH ? BAR_WIDTH : w));
			bar[w > BAR_WIDTH ? BAR_WIDTH : w] = '\0';
			printf("  %5.1f%% %s", share, bar);
		}
		putchar('\n');
	}
	putchar('\n');
}

/* Wait up to ms for a key on a terminal; true when 'q' says stop. */
static bool wait_quit(bool tty, int ms)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	char c;

	if (!tty) {
		poll(NULL, 0, ms);
		return false;
	}
	if (poll(&p, 1, ms) <= 0)
		return false;
	if (read(STDIN_FILENO, &c, 1) != 1)
		return true;
	return c == 'q' || c == 'Q';
}

int cmd_top(const struct ctl_opts *o)
{
	struct termios old, raw;
	bool tty_in = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	bool tty_out = isatty(STDOUT_FILENO);
	struct sample prev = { 0 }, cur = { 0 };
	unsigned int shown = 0;
	int rc;

	rc = take(o, &prev);
	if (rc)
		return rc;
	if (tty_in) {
		raw = old;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	while (!wait_quit(tty_in, TOP_INTERVAL_MS)) {
		rc = take(o, &cur);
		if (rc)
			break;
		render(&prev, &cur, tty_out);
		fflush(stdout);
		sample_free(&prev);
		prev = cur;
		memset(&cur, 0, sizeof(cur));
		if (o->count && ++shown >= o->count)
			break;
	}
	if (tty_in)
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
	sample_free(&prev);
	sample_free(&cur);
	return rc;
}
