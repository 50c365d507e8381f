/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy text -> model for the BPF tests (dp_harness.h, xdp_fixture.h): the
 * production front-end (sl_model_load_buf), its diagnostics as TAP comments.
 */
#ifndef SLUICE_TESTS_POLICY_TEXT_H
#define SLUICE_TESTS_POLICY_TEXT_H

#include <stdio.h>

#include "sluice/diag.h"
#include "sluice/model.h"

/* Load the policy text buf (n bytes, called name in diagnostics) into *m;
 * when it is refused, its diagnostics go out as TAP comments. Returns 0 or
 * -errno. */
static inline int load_policy_text(const char *name, const char *buf, int n,
				   struct sl_model **m)
{
	struct sl_diags d;
	int rc;

	sl_diags_init(&d);
	rc = sl_model_load_buf(name, buf, (size_t)n, &d, m);
	for (size_t i = 0; rc && i < d.n; i++)
		printf("# %d:%d: %s\n", d.v[i].pos.line, d.v[i].pos.col, d.v[i].msg);
	sl_diags_free(&d);
	return rc;
}

#endif /* SLUICE_TESTS_POLICY_TEXT_H */
