// SPDX-License-Identifier: Apache-2.0
/*
 * Every enum sluice_counter entry (include/sluice/abi.h) has a name in the
 * one table sluiced uses for `sluicectl status` and the metrics endpoint
 * (user/sluiced/view_stats.c): a counter added to the enum without a name
 * would print as counter_N. Names are unique and metric-safe. No root.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sluice/abi.h"

const char *sluiced_counter_name(int i, char *buf, size_t len);

static void test_every_counter_named(void **state)
{
	char buf[32], other[32];
	int i, j;

	(void)state;
	for (i = 0; i < __SLUICE_CNT_MAX; i++) {
		const char *n = sluiced_counter_name(i, buf, sizeof(buf));

		if (!strncmp(n, "counter_", 8))
			fail_msg("enum sluice_counter entry %d has no name", i);
		for (const char *c = n; *c; c++)
			assert_true(islower((unsigned char)*c) || isdigit((unsigned char)*c) ||
				    *c == '_');
		for (j = 0; j < i; j++)
			assert_string_not_equal(n, sluiced_counter_name(j, other, sizeof(other)));
	}
	/* out of range stays printable */
	snprintf(other, sizeof(other), "counter_%d", __SLUICE_CNT_MAX);
	assert_string_equal(sluiced_counter_name(__SLUICE_CNT_MAX, buf, sizeof(buf)), other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_counter_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
