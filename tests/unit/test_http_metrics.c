/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-http's request metrics: a request adds to one bucket only, and the
 * dump prints Prometheus' cumulative buckets (each le counts every request
 * at or below it, +Inf equals _count), merged across worker tables, with
 * Istio's standard labels taken from the model (client workload, the
 * destination's WorkloadEntry, subset, service name and namespace).
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

/* A client workload (with a cgroup) and a service whose v1 endpoint is a
 * WorkloadEntry and whose v2 endpoint is inline. */
static const char policy[] =
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: WorkloadEntry\n"
	"metadata: {name: frontend, namespace: shop, annotations: {sluice.io/cgroup: fe}}\n"
	"spec: {address: 10.9.0.9, labels: {app: frontend, version: v7}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: WorkloadEntry\n"
	"metadata: {name: s-v1, namespace: ns}\n"
	"spec: {address: 10.0.0.1, labels: {app: s, role: s, version: v1}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: ServiceEntry\n"
	"metadata: {name: s, namespace: ns}\n"
	"spec:\n"
	"  hosts: [s.ns.svc.cluster.local]\n"
	"  addresses: [198.18.0.1]\n"
	"  ports: [{number: 80, name: http, protocol: HTTP}]\n"
	"  resolution: STATIC\n"
	"  workloadSelector: {labels: {role: s}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: DestinationRule\n"
	"metadata: {name: s, namespace: ns}\n"
	"spec: {host: s, subsets: [{name: v1, labels: {version: v1}}]}\n";

#define SERIES "source_workload=\"frontend\",source_workload_namespace=\"shop\"," \
	       "source_principal=\"unknown\",source_app=\"frontend\",source_version=\"v7\"," \
	       "source_canonical_service=\"frontend\",source_canonical_revision=\"v7\"," \
	       "source_cluster=\"unknown\",destination_workload=\"s-v1\"," \
	       "destination_workload_namespace=\"ns\",destination_principal=\"unknown\"," \
	       "destination_app=\"s\",destination_version=\"v1\"," \
	       "destination_service=\"s.ns.svc.cluster.local\"," \
	       "destination_service_name=\"s\",destination_service_namespace=\"ns\"," \
	       "destination_canonical_service=\"s\",destination_canonical_revision=\"v1\"," \
	       "destination_cluster=\"unknown\",request_protocol=\"http\"," \
	       "response_code=\"200\",response_flags=\"-\",connection_security_policy="
#define DST "reporter=\"destination\","
#define DSERIES SERIES "\"none\""
#define BUCKET(le) "istio_request_duration_milliseconds_bucket{" DST DSERIES ",le=\"" le "\"}"

static void test_cumulative_buckets(void **state)
{
	struct hx_metrics *mx[2] = {hx_metrics_new(), hx_metrics_new()};
	struct hx_snap snap = { .gen = 7 };
	struct sl_diags d;
	struct sl_model *m = NULL;
	char *dump = NULL;
	size_t len = 0;
	FILE *f;
	int fe, sv;

	(void)state;
	sl_diags_init(&d);
	assert_int_equal(sl_model_load_buf("t.yaml", policy, sizeof(policy) - 1, &d, &m), 0);
	snap.m = m;
	fe = !strcmp(m->workloads[0].name, "frontend") ? 0 : 1;
	sv = 0;
	assert_string_equal(m->services[sv].host, "s.ns.svc.cluster.local");
	assert_int_equal(m->services[sv].nendpoints, 1);
	assert_non_null(mx[0]);
	assert_non_null(mx[1]);
	struct hx_req_metric r = { .snap = &snap, .workload = fe, .svc = sv, .subset = 0, .ep = 0,
				   .code = 200, .req_bytes = 80, .resp_bytes = 5000 };
	/* worker 0: 0, 0.5, 3 ms; worker 1: 7 ms and one beyond the last bucket */
	r.ms = 0;
	hx_metrics_record(mx[0], &r);
	r.ms = 0.5;
	hx_metrics_record(mx[0], &r);
	r.ms = 3;
	hx_metrics_record(mx[0], &r);
	r.ms = 7;
	hx_metrics_record(mx[1], &r);
	r.ms = 4000000;
	r.resp_bytes = 500000;
	hx_metrics_record(mx[1], &r);
	/* a local 503 from the gateway side: unknown client, other flags */
	struct hx_req_metric nr = { .snap = &snap, .workload = -1, .svc = -1, .subset = -1,
				    .ep = -1, .code = 503, .flags = "NR", .ms = 1 };
	hx_metrics_record(mx[1], &nr);
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
	assert_int_equal(line_value(dump, "istio_request_duration_milliseconds_count{" DST DSERIES
				    "}"), 5);
	assert_int_equal(line_value(dump, "istio_requests_total{" DST DSERIES "}"), 5);
	assert_int_equal(line_value(dump, "istio_requests_total{reporter=\"source\"," SERIES "\"unknown\"}"),
			 5);
	/* sizes: 80 B requests (le 100), responses 4 x 5000 B and one 500 kB */
	assert_int_equal(line_value(dump, "istio_request_bytes_bucket{" DST DSERIES ",le=\"10\"}"),
			 0);
	assert_int_equal(line_value(dump, "istio_request_bytes_bucket{" DST DSERIES ",le=\"100\"}"),
			 5);
	assert_int_equal(line_value(dump, "istio_request_bytes_sum{" DST DSERIES "}"), 400);
	assert_int_equal(line_value(dump, "istio_response_bytes_bucket{" DST DSERIES
				    ",le=\"10000\"}"), 4);
	assert_int_equal(line_value(dump, "istio_response_bytes_bucket{" DST DSERIES
				    ",le=\"1e+06\"}"), 5);
	assert_int_equal(line_value(dump, "istio_response_bytes_sum{" DST DSERIES "}"), 520000);
	/* unknown client and service: "unknown", never an empty label */
	assert_non_null(strstr(dump, "istio_requests_total{reporter=\"destination\","
				     "source_workload=\"unknown\",source_workload_namespace=\"unknown\""));
	assert_non_null(strstr(dump, "destination_service=\"unknown\""));
	assert_non_null(strstr(dump, "response_code=\"503\",response_flags=\"NR\""));
	free(dump);
	hx_metrics_free(mx[0]);
	hx_metrics_free(mx[1]);
	sl_model_free(m);
	sl_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cumulative_buckets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
