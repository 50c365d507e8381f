/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TAP for the test programs of tests/bpf (test_*.c), as
 * scripts/run-tests.sh reads it: the plan "1..N" before the checks
 * (tap_plan) or after them (tap_done), one "ok N - what" or
 * "not ok N - what" line per check (tap), "1..0 # SKIP why" for a program
 * that cannot run here (tap_skip). Every function is static: one copy per
 * test program.
 */
#ifndef SLUICE_TEST_TAP_H
#define SLUICE_TEST_TAP_H
#include <stdarg.h>
#include <stdio.h>

static int tap_count, tap_failed;

static inline void tap_plan(int n)
{
	printf("1..%d\n", n);
	fflush(stdout);
}

/* The program's checks cannot run here (why: e.g. "needs root"). */
static inline int tap_skip(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	return 0;
}

/* One check: prints its line (flushed, so a forked child or a crash
 * cannot reorder or lose it). Returns ok. */
static inline int tap(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int tap(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", ok ? "ok" : "not ok", ++tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		tap_failed++;
	return ok;
}

/* The exit status of the program: 1 when a check failed. */
static inline int tap_status(void)
{
	return tap_failed ? 1 : 0;
}

/* The plan after the checks (their number), then tap_status(). */
static inline int tap_done(void)
{
	tap_plan(tap_count);
	return tap_status();
}

#endif /* SLUICE_TEST_TAP_H */
