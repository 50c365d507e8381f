// SPDX-License-Identifier: Apache-2.0
/*
 * sluiced's log records (user/sluiced/core.c, sluiced_log_format): the text
 * shape with the level, a JSON object whose msg escapes quotes, backslashes
 * and control bytes and replaces bytes that are not UTF-8, and journald's
 * "<N>" syslog priority prefix. No root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "sluiced/sluiced.h"

static char *record(enum sluiced_log_level l, bool json, bool journal, const char *msg)
{
	/* 2026-12-05T08:00:01.250Z */
	struct timespec ts = { .tv_sec = 1796457601, .tv_nsec = 250000000 };
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	sluiced_log_format(f, l, &ts, json, journal, msg);
	fclose(f);
	return text;
}

static void test_text(void **state)
{
	char *r = record(SL_LOG_WARN, false, false, "apply refused");

	(void)state;
	assert_string_equal(r, "2026-12-05T08:00:01.250Z sluiced: warn: apply refused\n");
	free(r);
}

static void test_json_escapes(void **state)
{
	char *r = record(SL_LOG_ERROR, true, false, "a \"quote\" \\ tab\t nl\n bell\a");

	(void)state;
	assert_string_equal(r, "{\"ts\":\"2026-12-05T08:00:01.250Z\",\"level\":\"error\","
			       "\"msg\":\"a \\\"quote\\\" \\\\ tab\\t nl\\n bell\\u0007\"}\n");
	free(r);
}

static void test_json_utf8(void **state)
{
	/* valid UTF-8 kept; a lone 0xff, a cut sequence and an overlong '/'
	 * each become U+FFFD */
	char *r = record(SL_LOG_INFO, true, false, "caf\xc3\xa9 \xff \xe2\x82 \xc0\xaf end");

	(void)state;
	assert_string_equal(r, "{\"ts\":\"2026-12-05T08:00:01.250Z\",\"level\":\"info\","
			       "\"msg\":\"caf\xc3\xa9 \\ufffd \\ufffd\\ufffd \\ufffd\\ufffd end\"}\n");
	free(r);
}

static void test_journal_priorities(void **state)
{
	char *d = record(SL_LOG_DEBUG, false, true, "x"), *i = record(SL_LOG_INFO, true, true, "x");
	char *w = record(SL_LOG_WARN, false, true, "x"), *e = record(SL_LOG_ERROR, false, true, "x");

	(void)state;
	assert_memory_equal(d, "<7>", 3);
	assert_memory_equal(i, "<6>{", 4);
	assert_memory_equal(w, "<4>", 3);
	assert_memory_equal(e, "<3>", 3);
	free(d);
	free(i);
	free(w);
	free(e);
}

static void test_level_names(void **state)
{
	enum sluiced_log_level l;

	(void)state;
	assert_int_equal(sluiced_log_level_parse("debug", &l), 0);
	assert_int_equal(l, SL_LOG_DEBUG);
	assert_int_equal(sluiced_log_level_parse("warning", &l), 0);
	assert_int_equal(l, SL_LOG_WARN);
	assert_int_equal(sluiced_log_level_parse("error", &l), 0);
	assert_int_equal(l, SL_LOG_ERROR);
	assert_int_not_equal(sluiced_log_level_parse("loud", &l), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_json_escapes),
		cmocka_unit_test(test_json_utf8),
		cmocka_unit_test(test_journal_priorities),
		cmocka_unit_test(test_level_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
