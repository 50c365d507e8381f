/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-http's request metrics: a request adds to one bucket only, and the
 * dump prints Prometheus' cumulative buckets (each le counts every request
 * at or below it, +Inf equals _count), merged across worker tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http/hx.h"

/* The value of the dump line that starts with `prefix`, or -1. */
static long long line_value(const char *dump, const char *prefix)
{
	const char *p = dump;

	while (p && *p) {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			const char *sp = memrchr(p, ' ', nl ? (size_t)(nl - p) : strlen(p));

			return sp ? atoll(sp + 1) : -1;
		}
		p = nl ? nl + 1 : NULL;
	}
	return -1;
}

#define SERIES "destination_service=\"s.ns.svc.cluster.local\",destination_version=\"v1\"," \
	       "response_code=\"200\""
#define BUCKET(le) "istio_request_duration_milliseconds_bucket{reporter=\"sluice-http\"," \
		   SERIES ",le=\"" le "\"}"

static void test_cumulative_buckets(void **state)
{
	struct hx_metrics *mx[2] = {hx_metrics_new(), hx_metrics_new()};
	char *dump = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(mx[0]);
	assert_non_null(mx[1]);
	/* worker 0: 0, 0.5, 3 ms; worker 1: 7 ms and one beyond the last bucket */
	hx_metrics_record(mx[0], "s.ns.svc.cluster.local", "v1", 200, 0);
	hx_metrics_record(mx[0], "s.ns.svc.cluster.local", "v1", 200, 0.5);
	hx_metrics_record(mx[0], "s.ns.svc.cluster.local", "v1", 200, 3);
	hx_metrics_record(mx[1], "s.ns.svc.cluster.local", "v1", 200, 7);
	hx_metrics_record(mx[1], "s.ns.svc.cluster.local", "v1", 200, 4000000);
	hx_metrics_record(mx[1], "s.ns.svc.cluster.local", "v2", 503, 1);
	f = open_memstream(&dump, &len);
	assert_non_null(f);
	assert_int_equal(hx_metrics_dump(mx, 2, f), 0);
	fclose(f);

	assert_int_equal(line_value(dump, BUCKET("0.5")), 2);
	assert_int_equal(line_value(dump, BUCKET("1")), 2);
	assert_int_equal(line_value(dump, BUCKET("5")), 3);
	assert_int_equal(line_value(dump, BUCKET("10")), 4);
	assert_int_equal(line_value(dump, BUCKET("3.6e+06")), 4);
	assert_int_equal(line_value(dump, BUCKET("+Inf")), 5);
	assert_int_equal(line_value(dump, "istio_request_duration_milliseconds_count{"
				    "reporter=\"sluice-http\"," SERIES "}"), 5);
	assert_int_equal(line_value(dump, "istio_requests_total{reporter=\"sluice-http\","
				    SERIES "}"), 5);
	free(dump);
	hx_metrics_free(mx[0]);
	hx_metrics_free(mx[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cumulative_buckets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
