// SPDX-License-Identifier: Apache-2.0
/*
 * What `sluicectl get|stats|status` print. Each view is built once as a
 * list of records (ordered key -> string, number or list) and rendered as
 * an aligned table, JSON (sl_json_str for every string) or YAML (libyaml's
 * emitter), so the three formats can never disagree.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "sluiced.h"
#include "view.h"

/* ---- records ---- */

void vt_free(struct vtable *t)
{
	size_t i, j, k;

	for (i = 0; i < t->n; i++) {
		for (j = 0; j < t->r[i].n; j++) {
			free(t->r[i].f[j]->s);
			for (k = 0; k < t->r[i].f[j]->nlist; k++)
				free(t->r[i].f[j]->list[k]);
			free(t->r[i].f[j]->list);
			vt_free(&t->r[i].f[j]->items);
			free(t->r[i].f[j]);
		}
		free(t->r[i].f);
	}
	free(t->r);
	memset(t, 0, sizeof(*t));
}

struct vrec *vt_rec(struct vtable *t)
{
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 16;
		struct vrec *nr = realloc(t->r, nc * sizeof(*nr));

		if (!nr)
			return NULL;
		t->r = nr;
		t->cap = nc;
	}
	memset(&t->r[t->n], 0, sizeof(t->r[0]));
	return &t->r[t->n++];
}

/* Fields are allocated one by one: a field pointer stays valid while more
 * fields are added to its record. */
static struct vfield *vf_new(struct vrec *r, const char *key, enum vtype type)
{
	struct vfield **nf, *f;

	if (!r)
		return NULL;
	nf = realloc(r->f, (r->n + 1) * sizeof(*nf));
	if (!nf)
		return NULL;
	r->f = nf;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->key = key;
	f->t = type;
	nf[r->n++] = f;
	return f;
}

void vf_str(struct vrec *r, const char *key, const char *fmt, ...)
{
	struct vfield *f = vf_new(r, key, V_STR);
	va_list ap;

	if (!f)
		return;
	va_start(ap, fmt);
	if (vasprintf(&f->s, fmt, ap) < 0)
		f->s = NULL;
	va_end(ap);
}

void vf_num(struct vrec *r, const char *key, uint64_t v)
{
	struct vfield *f = vf_new(r, key, V_NUM);

	if (f)
		f->num = v;
}

void vf_bool(struct vrec *r, const char *key, bool v)
{
	struct vfield *f = vf_new(r, key, V_BOOL);

	if (f)
		f->num = v;
}

void vf_real(struct vrec *r, const char *key, double v)
{
	struct vfield *f = vf_new(r, key, V_REAL);

	if (f)
		f->real = v;
}

struct vfield *vf_list(struct vrec *r, const char *key)
{
	return vf_new(r, key, V_LIST);
}

struct vfield *vf_map(struct vrec *r, const char *key)
{
	struct vfield *f = vf_new(r, key, V_LIST);

	if (f)
		f->map = true;
	return f;
}

struct vfield *vf_numlist(struct vrec *r, const char *key)
{
	struct vfield *f = vf_new(r, key, V_LIST);

	if (f)
		f->numbers = true;
	return f;
}

struct vrec *vf_item(struct vfield *f)
{
	if (!f)
		return NULL;
	if (f->map && f->items.n)
		return &f->items.r[0];
	return vt_rec(&f->items);
}

void vf_add(struct vfield *f, const char *fmt, ...)
{
	char **nl;
	va_list ap;

	if (!f)
		return;
	nl = realloc(f->list, (f->nlist + 1) * sizeof(*nl));
	if (!nl)
		return;
	f->list = nl;
	va_start(ap, fmt);
	if (vasprintf(&nl[f->nlist], fmt, ap) >= 0)
		f->nlist++;
	va_end(ap);
}

/* ---- rendering ---- */

static void field_text(const struct vfield *f, char *buf, size_t len)
{
	size_t i, w = 0;

	buf[0] = '\0';
	switch (f->t) {
	case V_STR:
		snprintf(buf, len, "%s", f->s && f->s[0] ? f->s : "-");
		break;
	case V_NUM:
		snprintf(buf, len, "%llu", (unsigned long long)f->num);
		break;
	case V_BOOL:
		snprintf(buf, len, "%s", f->num ? "yes" : "no");
		break;
	case V_REAL:
		snprintf(buf, len, "%.2f", f->real);
		break;
	case V_LIST:
		for (i = 0; i < f->nlist && w + 1 < len; i++)
			w += (size_t)snprintf(buf + w, len - w, "%s%s", i ? "," : "", f->list[i]);
		if (!f->nlist)
			snprintf(buf, len, "-");
		break;
	}
}

static void render_table(const struct vtable *t, FILE *out)
{
	size_t ncol = t->n ? t->r[0].n : 0, i, j, *w;
	char buf[1024];

	if (!t->n) {
		fputs("(none)\n", out);
		return;
	}
	w = calloc(ncol, sizeof(*w));
	if (!w)
		return;
	for (j = 0; j < ncol; j++)
		w[j] = strlen(t->r[0].f[j]->key);
	for (i = 0; i < t->n; i++) {
		for (j = 0; j < ncol && j < t->r[i].n; j++) {
			field_text(t->r[i].f[j], buf, sizeof(buf));
			if (strlen(buf) > w[j])
				w[j] = strlen(buf);
		}
	}
	for (j = 0; j < ncol; j++) {
		const char *k = t->r[0].f[j]->key;
		size_t l;

		for (l = 0; k[l]; l++)
			fputc(k[l] >= 'a' && k[l] <= 'z' ? k[l] - 32 : k[l], out);
		if (j + 1 < ncol)
			fprintf(out, "%*s", (int)(w[j] - l + 2), "");
	}
	fputc('\n', out);
	for (i = 0; i < t->n; i++) {
		for (j = 0; j < ncol && j < t->r[i].n; j++) {
			field_text(t->r[i].f[j], buf, sizeof(buf));
			if (j + 1 < ncol)
				fprintf(out, "%-*s  ", (int)w[j], buf);
			else
				fputs(buf, out);
		}
		fputc('\n', out);
	}
	free(w);
}

/* One record as "key: value" lines (status). */
static void render_vertical(const struct vtable *t, FILE *out)
{
	char buf[4096];
	size_t i, j, k;

	for (i = 0; i < t->n; i++) {
		for (j = 0; j < t->r[i].n; j++) {
			const struct vfield *f = t->r[i].f[j];

			if (f->t == V_LIST) {
				fprintf(out, "%s:%s\n", f->key, f->nlist ? "" : " -");
				for (k = 0; k < f->nlist; k++)
					fprintf(out, "  %s\n", f->list[k]);
				continue;
			}
			field_text(f, buf, sizeof(buf));
			fprintf(out, "%s: %s\n", f->key, buf);
		}
	}
}

static void json_record(const struct vrec *r, FILE *out);

static void json_value(const struct vfield *f, FILE *out)
{
	size_t k;

	switch (f->t) {
	case V_STR:
		sl_json_str(out, f->s);
		break;
	case V_NUM:
		fprintf(out, "%llu", (unsigned long long)f->num);
		break;
	case V_BOOL:
		fputs(f->num ? "true" : "false", out);
		break;
	case V_REAL:
		fprintf(out, "%.3f", f->real);
		break;
	case V_LIST:
		if (f->map) {
			if (f->items.n)
				json_record(&f->items.r[0], out);
			else
				fputs("{}", out);
			break;
		}
		fputc('[', out);
		for (k = 0; k < (f->items.n ? f->items.n : f->nlist); k++) {
			fputs(k ? ", " : "", out);
			if (f->items.n)
				json_record(&f->items.r[k], out);
			else if (f->numbers)
				fputs(f->list[k], out);
			else
				sl_json_str(out, f->list[k]);
		}
		fputc(']', out);
		break;
	}
}

static void json_record(const struct vrec *r, FILE *out)
{
	size_t j;

	fputc('{', out);
	for (j = 0; j < r->n; j++) {
		fputs(j ? ", " : "", out);
		sl_json_str(out, r->f[j]->key);
		fputs(": ", out);
		json_value(r->f[j], out);
	}
	fputc('}', out);
}

static void render_json(const struct vtable *t, FILE *out, bool single)
{
	size_t i;

	if (!single)
		fputs("[", out);
	for (i = 0; i < t->n; i++) {
		fputs(i ? ",\n  " : (single ? "" : "\n  "), out);
		json_record(&t->r[i], out);
	}
	fputs(single ? "\n" : (t->n ? "\n]\n" : "]\n"), out);
}

static int yaml_out(void *data, unsigned char *buf, size_t size)
{
	return fwrite(buf, 1, size, data) == size;
}

/* A string that a YAML reader would take for something else if written
 * plain: empty, null, a boolean (YAML 1.1's yes/no/on/off too), a number,
 * or digits with '_' or ':' (1.1's 1_000 and base 60). */
static bool reads_typed(const char *s)
{
	static const char *const words[] = { "null", "~", "true", "false", "yes", "no", "on",
					     "off", "y", "n" };
	char *end;
	size_t i;

	if (!*s)
		return true;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcasecmp(s, words[i]))
			return true;
	(void)strtod(s, &end);
	if (!*end)
		return true;
	/* 1_000 or 1:20 (YAML 1.1 ints) */
	return strspn(s, "0123456789_:") == strlen(s);
}

static int y_scalar(yaml_emitter_t *e, const char *s, bool plain_num)
{
	yaml_event_t ev;
	yaml_scalar_style_t st = plain_num ? YAML_PLAIN_SCALAR_STYLE :
				 reads_typed(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;

	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1, st);
	return yaml_emitter_emit(e, &ev);
}

static int yaml_record(yaml_emitter_t *e, const struct vrec *r, bool flow);

static int yaml_value(yaml_emitter_t *e, const struct vfield *f)
{
	yaml_event_t ev;
	char num[40];
	size_t k;
	int ok = 1;

	switch (f->t) {
	case V_STR:
		return y_scalar(e, f->s ? f->s : "", false);
	case V_NUM:
		snprintf(num, sizeof(num), "%llu", (unsigned long long)f->num);
		return y_scalar(e, num, true);
	case V_BOOL:
		return y_scalar(e, f->num ? "true" : "false", true);
	case V_REAL:
		snprintf(num, sizeof(num), "%.3f", f->real);
		return y_scalar(e, num, true);
	case V_LIST:
		if (f->map) {
			if (f->items.n)
				return yaml_record(e, &f->items.r[0], false);
			yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_MAPPING_STYLE);
			ok = yaml_emitter_emit(e, &ev);
			yaml_mapping_end_event_initialize(&ev);
			return ok && yaml_emitter_emit(e, &ev);
		}
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
						     f->items.n ? YAML_BLOCK_SEQUENCE_STYLE :
						     YAML_FLOW_SEQUENCE_STYLE);
		ok = yaml_emitter_emit(e, &ev);
		for (k = 0; k < (f->items.n ? f->items.n : f->nlist) && ok; k++)
			ok = f->items.n ? yaml_record(e, &f->items.r[k], false) :
			     y_scalar(e, f->list[k], f->numbers);
		yaml_sequence_end_event_initialize(&ev);
		return ok && yaml_emitter_emit(e, &ev);
	}
	return 0;
}

static int yaml_record(yaml_emitter_t *e, const struct vrec *r, bool flow)
{
	yaml_event_t ev;
	size_t j;
	int ok;

	yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
					    flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
	ok = yaml_emitter_emit(e, &ev);
	for (j = 0; j < r->n && ok; j++)
		ok = y_scalar(e, r->f[j]->key, false) && yaml_value(e, r->f[j]);
	yaml_mapping_end_event_initialize(&ev);
	return ok && yaml_emitter_emit(e, &ev);
}

static void render_yaml(const struct vtable *t, FILE *out, bool single)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	size_t i;
	int ok = 1;

	if (!yaml_emitter_initialize(&e))
		return;
	yaml_emitter_set_output(&e, yaml_out, out);
	yaml_emitter_set_unicode(&e, 1);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	ok = ok && yaml_emitter_emit(&e, &ev);
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	ok = ok && yaml_emitter_emit(&e, &ev);
	if (!single) {
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
		ok = ok && yaml_emitter_emit(&e, &ev);
	}
	for (i = 0; i < t->n && ok; i++)
		ok = yaml_record(&e, &t->r[i], false);
	if (!single) {
		yaml_sequence_end_event_initialize(&ev);
		ok = ok && yaml_emitter_emit(&e, &ev);
	}
	yaml_document_end_event_initialize(&ev, 1);
	ok = ok && yaml_emitter_emit(&e, &ev);
	yaml_stream_end_event_initialize(&ev);
	ok = ok && yaml_emitter_emit(&e, &ev);
	yaml_emitter_delete(&e);
}

void vt_render(const struct vtable *t, enum view_fmt f, bool single, FILE *out)
{
	switch (f) {
	case VIEW_JSON:
		render_json(t, out, single);
		break;
	case VIEW_YAML:
		render_yaml(t, out, single);
		break;
	default:
		if (single)
			render_vertical(t, out);
		else
			render_table(t, out);
	}
}

int view_fmt_parse(const char *s, enum view_fmt *f)
{
	if (!s || !*s || !strcmp(s, "table"))
		*f = VIEW_TABLE;
	else if (!strcmp(s, "json"))
		*f = VIEW_JSON;
	else if (!strcmp(s, "yaml"))
		*f = VIEW_YAML;
	else
		return -EINVAL;
	return 0;
}

/* ---- address helpers ---- */

void view_addr(const uint8_t a[16], char *buf, size_t len)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (!memcmp(a, v4mapped, 12))
		inet_ntop(AF_INET, a + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a, buf, (socklen_t)len);
}

void view_addr_port(const uint8_t a[16], uint16_t port, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	view_addr(a, ip, sizeof(ip));
	if (!memcmp(a, v4mapped, 12))
		snprintf(buf, len, "%s:%u", ip, port);
	else
		snprintf(buf, len, "[%s]:%u", ip, port);
}
