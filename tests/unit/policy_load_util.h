/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading policy YAML from a string in the unit tests of the front-end
 * (tests/unit/test_policy_*.c): include after <cmocka.h>.
 */
#ifndef SLUICE_TESTS_POLICY_LOAD_UTIL_H
#define SLUICE_TESTS_POLICY_LOAD_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sluice/diag.h"
#include "sluice/model.h"

/* Load yaml as file "t.yaml": 0 and *m, or -EINVAL with the problems in d
 * (which the caller frees). */
static inline int load(const char *yaml, struct sl_diags *d, struct sl_model **m)
{
	sl_diags_init(d);
	*m = NULL;
	return sl_model_load_buf("t.yaml", yaml, strlen(yaml), d, m);
}

/* Number of diagnostics with this code. */
static inline size_t ncode(const struct sl_diags *d, const char *code)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		n += !strcmp(d->v[i].code, code);
	return n;
}

/* yaml is refused, with at least one diagnostic of this code (all of them
 * printed when not). */
static inline void expect_error(const char *yaml, const char *code)
{
	struct sl_diags d;
	struct sl_model *m;

	assert_int_equal(load(yaml, &d, &m), -EINVAL);
	assert_null(m);
	if (!ncode(&d, code))
		sl_diags_print(&d, stderr);
	assert_true(ncode(&d, code) >= 1);
	sl_diags_free(&d);
}

/* The first diagnostic with this code, NULL if none. */
static inline const struct sl_diag *find_code(const struct sl_diags *d, const char *code)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->v[i].code, code))
			return &d->v[i];
	return NULL;
}

/* yaml is refused with code at line:col, and the message holds `words`
 * (all diagnostics printed when not). */
static inline void refused_at(const char *yaml, const char *code, int line, int col,
			      const char *words)
{
	struct sl_diags d;
	struct sl_model *m;

	assert_int_equal(load(yaml, &d, &m), -EINVAL);
	assert_null(m);
	const struct sl_diag *g = find_code(&d, code);
	if (!g || g->pos.line != line || g->pos.col != col || !strstr(g->msg, words))
		sl_diags_print(&d, stderr);
	assert_non_null(g);
	assert_int_equal(g->pos.line, line);
	assert_int_equal(g->pos.col, col);
	assert_non_null(strstr(g->msg, words));
	sl_diags_free(&d);
}

#endif /* SLUICE_TESTS_POLICY_LOAD_UTIL_H */
