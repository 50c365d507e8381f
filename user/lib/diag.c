// SPDX-License-Identifier: Apache-2.0
/* Diagnostics collection and printing; see include/sluice/diag.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/diag.h"

void sl_diags_init(struct sl_diags *d)
{
	memset(d, 0, sizeof(*d));
}

void sl_diags_free(struct sl_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

/* Never fails from the caller's view: on out-of-memory the diagnostic is
 * dropped but still counted, so an error can never turn into success. */
void sl_diag_add(struct sl_diags *d, enum sl_severity sev, const char *code,
		 struct sl_pos pos, const char *fmt, ...)
{
	if (sev == SL_SEV_ERROR)
		d->nerrors++;
	else if (sev == SL_SEV_WARNING)
		d->nwarnings++;
	else
		d->ninfos++;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct sl_diag *v = realloc(d->v, cap * sizeof(*v));
		if (!v)
			return;
		d->v = v;
		d->cap = cap;
	}
	struct sl_diag *g = &d->v[d->n];
	memset(g, 0, sizeof(*g));
	g->sev = sev;
	snprintf(g->code, sizeof(g->code), "%s", code ? code : "SL0000");
	g->file = strdup(pos.file ? pos.file : "<input>");
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&g->msg, fmt, ap) < 0)
		g->msg = NULL;
	va_end(ap);
	if (!g->file || !g->msg) {
		free(g->file);
		free(g->msg);
		return;
	}
	g->pos = pos;
	g->pos.file = g->file;
	d->n++;
}

static int diag_cmp(const void *pa, const void *pb)
{
	const struct sl_diag *a = pa, *b = pb;
	int c = strcmp(a->file, b->file);
	if (c)
		return c;
	if (a->pos.line != b->pos.line)
		return a->pos.line < b->pos.line ? -1 : 1;
	if (a->pos.col != b->pos.col)
		return a->pos.col < b->pos.col ? -1 : 1;
	/* deterministic tie-breakers: errors first, then code, then text */
	if (a->sev != b->sev)
		return a->sev > b->sev ? -1 : 1;
	c = strcmp(a->code, b->code);
	return c ? c : strcmp(a->msg, b->msg);
}

void sl_diags_print(struct sl_diags *d, FILE *f)
{
	if (d->n > 1)
		qsort(d->v, d->n, sizeof(*d->v), diag_cmp);
	for (size_t i = 0; i < d->n; i++) {
		const struct sl_diag *g = &d->v[i];
		fprintf(f, "%s:%d:%d: %s[%s]: %s\n", g->file, g->pos.line, g->pos.col,
			sl_severity_name(g->sev), g->code, g->msg);
	}
}
