// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the policy front-end: any byte string goes through
 * the whole loader (libyaml, envelope, kind parsers, regex compilation,
 * resolution); a model that loads is also dumped, to exercise the dump.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sluice/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_diags d;
	struct sl_model *m = NULL;
	sl_diags_init(&d);
	if (sl_model_load_buf("fuzz.yaml", (const char *)data, size, &d, &m) == 0) {
		FILE *f = fopen("/dev/null", "w");
		if (f) {
			sl_model_dump_json(m, f);
			fclose(f);
		}
		sl_model_free(m);
	}
	FILE *f = fopen("/dev/null", "w");
	if (f) {
		sl_diags_print(&d, f);
		fclose(f);
	}
	sl_diags_free(&d);
	return 0;
}
