// SPDX-License-Identifier: Apache-2.0
/* Policy paths -> files: one rule for the loader (validate) and the snapshot
 * sources (apply), so the set validated is the set applied. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/util_files.h"
#include "sluice/ctl.h"
#include "sluice/model.h"

static char root[64];

static void put(const char *rel, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char *SE =
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: ServiceEntry\n"
	"metadata: {name: %s, namespace: t}\n"
	"spec:\n"
	"  hosts: [%s.t.svc.cluster.local]\n"
	"  addresses: [127.0.%d.1]\n"
	"  ports: [{number: 80, name: tcp, protocol: TCP}]\n"
	"  resolution: STATIC\n"
	"  endpoints: [{address: 127.1.%d.1}]\n";

static void put_se(const char *rel, const char *name, int n)
{
	char text[1024];

	snprintf(text, sizeof(text), SE, name, name, n, n);
	put(rel, text);
}

static int setup(void **state)
{
	char p[256];

	(void)state;
	strcpy(root, "/tmp/sluice-files.XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(p, sizeof(p), "%s/b", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/b/deep", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/.hidden", root);
	mkdir(p, 0755);
	put_se("a.yaml", "a", 1);
	put_se("b/c.yml", "c", 2);
	put_se("b/deep/d.yaml", "d", 3);
	put_se("z.yaml", "z", 4);
	put_se(".hidden/h.yaml", "h", 5);
	put_se(".dot.yaml", "dot", 6);
	put("notes.txt", "not yaml");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd);
}

static void expand_recurses_in_byte_order(void **state)
{
	struct sl_file_entry *v;
	size_t n;
	const char *paths[] = { root };
	char want[4][256];

	(void)state;
	snprintf(want[0], 256, "%s/a.yaml", root);
	snprintf(want[1], 256, "%s/b/c.yml", root);
	snprintf(want[2], 256, "%s/b/deep/d.yaml", root);
	snprintf(want[3], 256, "%s/z.yaml", root);
	assert_int_equal(sl_files_expand(paths, 1, &v, &n), 0);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(v[i].path, want[i]);
		assert_int_equal(v[i].err, 0);
		assert_int_equal(v[i].arg, 0);
	}
	sl_files_free(v, n);
}

static void expand_reports_missing_path(void **state)
{
	struct sl_file_entry *v;
	size_t n;
	const char *paths[] = { "/nonexistent/sluice/x.yaml", "-" };

	(void)state;
	assert_int_equal(sl_files_expand(paths, 2, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].err, ENOENT);
	assert_non_null(v[0].what);
	assert_string_equal(v[1].path, "-");
	assert_int_equal(v[1].arg, 1);
	sl_files_free(v, n);
}

/* apply's sources and validate's loader see the same four files. */
static void apply_sources_match_loader(void **state)
{
	struct sl_ctl_part *parts;
	size_t n;
	char err[256];
	const char *paths[] = { root };
	struct sl_diags d;
	struct sl_model *m = NULL;

	(void)state;
	assert_int_equal(sl_ctl_read_sources(paths, 1, &parts, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	assert_non_null(strstr(parts[2].name, "/b/deep/d.yaml"));
	sl_ctl_parts_free(parts, n);

	sl_diags_init(&d);
	assert_int_equal(sl_model_load(paths, 1, &d, &m), 0);
	assert_non_null(m);
	assert_int_equal(m->nservices, 4);
	sl_model_free(m);
	sl_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(expand_recurses_in_byte_order),
		cmocka_unit_test(expand_reports_missing_path),
		cmocka_unit_test(apply_sources_match_loader),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
