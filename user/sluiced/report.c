// SPDX-License-Identifier: Apache-2.0
/*
 * The report of an apply (state.c applies): the front-end's diagnostics and
 * the data plane's errors with snapshot positions mapped back to the user's
 * files and sources, the objects added, changed and removed, and long
 * reports into the log a line at a time.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/diag.h"
#include "sluiced.h"
#include "view.h"

/* A message that names snapshot positions ("<desired state>:LINE: ..." from
 * the data plane, "first at <desired state>:LINE:COL" from the front-end)
 * names the user's file and line instead, and with owners the source that
 * holds it; NULL when there is nothing to map (or no memory). */
static char *map_positions(const char *msg, const struct sl_snap_map *map,
			   const struct sl_ctl_part *parts, bool owners)
{
	static const char pfx[] = SLUICED_SNAP_NAME ":";
	const char *p = msg, *hit;
	char *out = NULL;
	size_t olen = 0;
	FILE *f;

	if (!strstr(msg, pfx) || !(f = open_memstream(&out, &olen)))
		return NULL;
	while ((hit = strstr(p, pfx))) {
		const char *q = hit + sizeof(pfx) - 1;
		char *end;
		unsigned long line = strtoul(q, &end, 10);
		size_t pl;
		int idx = end != q ? sl_snap_locate(map, line, &pl) : -1;

		fwrite(p, 1, (size_t)(hit - p), f);
		if (idx < 0) {
			fwrite(hit, 1, (size_t)(end - hit), f);
		} else {
			fprintf(f, "%s:%zu", parts[idx].name, pl);
			if (end[0] == ':' && isdigit((unsigned char)end[1])) {
				unsigned long col = strtoul(end + 1, &end, 10);
				fprintf(f, ":%lu", col);
			}
			if (owners && parts[idx].from[0])
				fprintf(f, " [%s]", parts[idx].from);
		}
		p = end;
	}
	fputs(p, f);
	fclose(f);
	return out;
}

struct diag_ref {
	const struct sl_diag *dg;
	int part;
	size_t line;
};

static int cmp_diag_ref(const void *a, const void *b)
{
	const struct diag_ref *x = a, *y = b;

	if (x->part != y->part)
		return x->part < y->part ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->dg->pos.col - y->dg->pos.col;
}

/* Print diagnostics with snapshot lines mapped back to the user's files, as
 * "file:line:col: error[CODE]: message", ordered by file and position. */
void sluiced_print_diags(const struct sl_diags *dg, const struct sl_snap_map *map,
			 const struct sl_ctl_part *parts, FILE *out, struct vfield *df)
{
	struct diag_ref *v = calloc(dg->n ? dg->n : 1, sizeof(*v));
	size_t i;

	if (!v)
		return;
	for (i = 0; i < dg->n; i++) {
		v[i].dg = &dg->v[i];
		v[i].part = dg->v[i].pos.line > 0 ?
			sl_snap_locate(map, (size_t)dg->v[i].pos.line, &v[i].line) : -1;
	}
	qsort(v, dg->n, sizeof(*v), cmp_diag_ref);
	for (i = 0; i < dg->n; i++) {
		const struct sl_diag *x = v[i].dg;
		const char *sev = sl_severity_name(x->sev);

		struct vrec *it;

		char *msg = map_positions(x->msg, map, parts, true);
		const char *m = msg ? msg : x->msg;

		if (v[i].part >= 0)
			fprintf(out, "%s:%zu:%d: %s[%s]: %s\n", parts[v[i].part].name, v[i].line,
				x->pos.col, sev, x->code, m);
		else
			fprintf(out, "%s: %s[%s]: %s\n", x->file ? x->file : SLUICED_SNAP_NAME,
				sev, x->code, m);
		if (!df) {
			free(msg);
			continue;
		}
		vf_add(df, "%s", m);
		it = vf_item(df);
		vf_str(it, "file", "%s", v[i].part >= 0 ? parts[v[i].part].name :
					 x->file ? x->file : SLUICED_SNAP_NAME);
		vf_num(it, "line", v[i].part >= 0 ? v[i].line : 0);
		vf_num(it, "col", v[i].part >= 0 && x->pos.col > 0 ? (uint64_t)x->pos.col : 0);
		vf_str(it, "severity", "%s", sev);
		vf_str(it, "code", "%s", x->code);
		vf_str(it, "message", "%s", m);
		free(msg);
	}
	free(v);
}

/* The data plane names snapshot positions as "<desired state>:LINE: ...";
 * print such a message with the user's file and line instead. */
void sluiced_print_dp_error(const char *err, const struct sl_snap_map *map,
			    const struct sl_ctl_part *parts, FILE *out)
{
	char *mapped = map_positions(err, map, parts, false);

	fputs(mapped ? mapped : err, out);
	free(mapped);
}

static int cmp_obj(const struct sl_object *a, const struct sl_object *b)
{
	int c = strcmp(a->kind, b->kind);

	if (!c)
		c = strcmp(a->ns ? a->ns : "", b->ns ? b->ns : "");
	if (!c)
		c = strcmp(a->name, b->name);
	return c;
}

static int cmp_obj_ptr(const void *a, const void *b)
{
	return cmp_obj(*(const struct sl_object *const *)a, *(const struct sl_object *const *)b);
}

/* Objects of a model as pointers sorted by (kind, namespace, name): we do
 * not rely on the model's own order. NULL with n == 0 is a valid result. */
static const struct sl_object **sorted_objects(const struct sl_model *m, size_t *n)
{
	const struct sl_object **v;
	size_t i;

	*n = m ? m->nobjects : 0;
	v = calloc(*n ? *n : 1, sizeof(*v));
	if (!v) {
		*n = 0;
		return NULL;
	}
	for (i = 0; i < *n; i++)
		v[i] = &m->objects[i];
	qsort(v, *n, sizeof(*v), cmp_obj_ptr);
	return v;
}

static void print_obj(FILE *out, char sign, const struct sl_object *o, struct vfield *cf)
{
	struct vrec *it;

	fprintf(out, "  %c %s %s/%s\n", sign, o->kind, o->ns ? o->ns : "", o->name);
	if (!cf)
		return;
	vf_add(cf, "%c %s %s/%s", sign, o->kind, o->ns ? o->ns : "", o->name);
	it = vf_item(cf);
	vf_str(it, "op", "%s", sign == '+' ? "added" : sign == '-' ? "removed" : "changed");
	vf_str(it, "kind", "%s", o->kind);
	vf_str(it, "namespace", "%s", o->ns ? o->ns : "");
	vf_str(it, "name", "%s", o->name);
}

/* Compare the objects of two models (a merge of the two sorted lists, so
 * 10,000-service applies stay cheap); one line per difference to out. */
void sluiced_diff_objects(const struct sl_model *old, const struct sl_model *new, FILE *out,
			  struct sluiced_change_count *c, struct vfield *cf)
{
	size_t no, nn, i = 0, j = 0;
	const struct sl_object **a = sorted_objects(old, &no), **b = sorted_objects(new, &nn);

	memset(c, 0, sizeof(*c));
	while (a && b && (i < no || j < nn)) {
		int k = i == no ? 1 : j == nn ? -1 : cmp_obj(a[i], b[j]);

		if (k < 0) {
			c->removed++;
			print_obj(out, '-', a[i++], cf);
		} else if (k > 0) {
			c->added++;
			print_obj(out, '+', b[j++], cf);
		} else if (a[i]->hash != b[j]->hash) {
			c->changed++;
			print_obj(out, '~', b[j], cf);
			i++;
			j++;
		} else {
			c->same++;
			i++;
			j++;
		}
	}
	free(a);
	free(b);
}

#define LOG_LINES_MAX 64

/* Log a multi-line text one event line at a time, with a prefix; at most
 * LOG_LINES_MAX lines (an apply of 10,000 services would otherwise write
 * 30,000 log lines), then how many were left out. */
void sluiced_log_lines_at(enum sluiced_log_level level, const char *prefix, const char *text)
{
	const char *p = text;
	size_t shown = 0, skipped = 0;

	while (p && *p) {
		const char *e = strchr(p, '\n');
		int n = e ? (int)(e - p) : (int)strlen(p);

		if (n && shown < LOG_LINES_MAX) {
			sluiced_logl(level, "%s%.*s", prefix, n, p);
			shown++;
		} else if (n) {
			skipped++;
		}
		p = e ? e + 1 : NULL;
	}
	if (skipped)
		sluiced_logl(level, "%s... and %zu more", prefix, skipped);
}

