/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Diagnostics: every message names file, line and column and carries a stable
 * code (documented in docs/policy-reference.md), printed as
 *   file:line:col: error[SL0102]: subset "v3" is not defined for host ...
 */
#ifndef SLUICE_DIAG_H
#define SLUICE_DIAG_H

#include <stddef.h>
#include <stdio.h>

struct sl_pos {
	const char *file;	/* owned by the model/diags arena; never NULL in output */
	int line;		/* 1-based; 0 = unknown */
	int col;		/* 1-based */
};

/* info: said once, changes nothing (e.g. a Kubernetes kind that carries no
 * addresses, skipped) */
enum sl_severity { SL_SEV_INFO = 0, SL_SEV_WARNING = 1, SL_SEV_ERROR = 2 };

static inline const char *sl_severity_name(enum sl_severity s)
{
	return s == SL_SEV_ERROR ? "error" : s == SL_SEV_WARNING ? "warning" : "info";
}

struct sl_diag {
	enum sl_severity sev;
	char code[8];		/* "SL0102" */
	struct sl_pos pos;
	char *file;		/* owned copy of pos.file */
	char *msg;
};

struct sl_diags {
	struct sl_diag *v;
	size_t n, cap;
	size_t nerrors, nwarnings, ninfos;
};

void sl_diags_init(struct sl_diags *d);
void sl_diags_free(struct sl_diags *d);
__attribute__((format(printf, 5, 6)))
void sl_diag_add(struct sl_diags *d, enum sl_severity sev, const char *code,
		 struct sl_pos pos, const char *fmt, ...);
/* Sorted by file, line, column; "file:line:col: error[CODE]: msg" per line. */
void sl_diags_print(struct sl_diags *d, FILE *f);

#endif /* SLUICE_DIAG_H */
