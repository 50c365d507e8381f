// SPDX-License-Identifier: Apache-2.0
/*
 * `sluicectl delete -f`: remove objects from the desired state's sources.
 * Objects are named by (kind, metadata.namespace, metadata.name), the
 * namespace defaulting to "default" as in the policy front-end. libyaml's
 * event stream gives each document's identity and byte range; a deleted
 * document's bytes are cut out of its source, everything else (comments,
 * formatting, other documents) stays as the user wrote it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "sluiced.h"

#define MAX_DEPTH 64

struct doc_id {
	char *kind, *ns, *name;
	size_t start, end;	/* byte range in the source */
	bool matched;
};

struct doc_list {
	struct doc_id *v;
	size_t n;
};

struct frame {
	bool mapping;
	bool expect_key;
	bool was_key;		/* this collection is a mapping key */
	char key[32];		/* key of this collection in its parent */
	char cur[32];		/* last key read in this mapping */
};

static void doc_list_free(struct doc_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].kind);
		free(l->v[i].ns);
		free(l->v[i].name);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* A scalar value seen at depth `level` under key `key`; keep the ones that
 * name the document. */
static void note_value(struct doc_id *doc, const struct frame *fr, int level, const char *val)
{
	char **slot = NULL;

	if (level == 1 && !strcmp(fr[0].cur, "kind"))
		slot = &doc->kind;
	else if (level == 2 && !strcmp(fr[1].key, "metadata") && !strcmp(fr[1].cur, "name"))
		slot = &doc->name;
	else if (level == 2 && !strcmp(fr[1].key, "metadata") && !strcmp(fr[1].cur, "namespace"))
		slot = &doc->ns;
	if (slot && !*slot)
		*slot = strdup(val);
}

/* Scan one YAML source into its documents' identities and byte ranges.
 * A syntax error fails the scan (-EINVAL): the source was valid when it was
 * applied, and a delete set must be valid too. */
static int scan_docs(const char *data, size_t len, struct doc_list *out, char *err, size_t errlen)
{
	struct frame fr[MAX_DEPTH];
	struct doc_id cur = { 0 };
	yaml_parser_t p;
	yaml_event_t ev;
	int level = 0, rc = 0;
	bool done = false;

	memset(out, 0, sizeof(*out));
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			snprintf(err, errlen, "%zu:%zu: %s", p.problem_mark.line + 1,
				 p.problem_mark.column + 1, p.problem ? p.problem : "YAML error");
			rc = -EINVAL;
			break;
		}
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			memset(&cur, 0, sizeof(cur));
			cur.start = ev.start_mark.index;
			level = 0;
			break;
		case YAML_DOCUMENT_END_EVENT: {
			struct doc_id *nv = realloc(out->v, (out->n + 1) * sizeof(*nv));

			if (!nv) {
				rc = -ENOMEM;
				done = true;
				break;
			}
			out->v = nv;
			cur.end = ev.end_mark.index;
			out->v[out->n++] = cur;
			memset(&cur, 0, sizeof(cur));
			break;
		}
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (level >= MAX_DEPTH) {
				snprintf(err, errlen, "nesting deeper than %d", MAX_DEPTH);
				rc = -EINVAL;
				done = true;
				break;
			}
			memset(&fr[level], 0, sizeof(fr[level]));
			fr[level].mapping = ev.type == YAML_MAPPING_START_EVENT;
			fr[level].expect_key = true;
			if (level > 0 && fr[level - 1].mapping) {
				fr[level].was_key = fr[level - 1].expect_key;
				memcpy(fr[level].key, fr[level - 1].cur, sizeof(fr[level].key));
			}
			level++;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (level > 0) {
				level--;
				if (level > 0 && fr[level - 1].mapping) {
					fr[level - 1].expect_key = fr[level].was_key ? false : true;
					if (fr[level].was_key)
						fr[level - 1].cur[0] = '\0';
				}
			}
			break;
		case YAML_SCALAR_EVENT:
		case YAML_ALIAS_EVENT:
			if (level > 0 && fr[level - 1].mapping) {
				struct frame *f = &fr[level - 1];
				const char *v = ev.type == YAML_SCALAR_EVENT ?
					(const char *)ev.data.scalar.value : "";

				if (f->expect_key) {
					snprintf(f->cur, sizeof(f->cur), "%s", v);
					f->expect_key = false;
				} else {
					note_value(&cur, fr, level, v);
					f->expect_key = true;
				}
			}
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	free(cur.kind);
	free(cur.ns);
	free(cur.name);
	if (rc)
		doc_list_free(out);
	return rc;
}

static bool same_id(const struct doc_id *a, const struct doc_id *b)
{
	const char *an = a->ns ? a->ns : "default", *bn = b->ns ? b->ns : "default";

	return a->kind && b->kind && a->name && b->name && !strcmp(a->kind, b->kind) &&
	       !strcmp(a->name, b->name) && !strcmp(an, bn);
}

/* Cut the ranges of matching documents out of one source (a shared text
 * stays shared when none of its documents is cut). */
static int cut_docs(struct sl_ctl_part *part, struct doc_list *del, FILE *out, size_t *nremoved)
{
	struct doc_list docs;
	char err[256] = "";
	char *nd, *plain = NULL;
	const char *data = part->data;
	size_t i, j, w = 0, pos = 0, cut = 0, len = part->len;
	int rc;

	if (part->shared) {
		if (!(data = plain = sl_text_dup(part->data)))
			return -ENOMEM;
		len = sl_text_len(part->data);
	}
	rc = scan_docs(data, len, &docs, err, sizeof(err));
	if (rc) {
		fprintf(out, "%s:%s\n", part->name, err);
		free(plain);
		return rc;
	}
	nd = malloc(len + 1);
	if (!nd) {
		doc_list_free(&docs);
		free(plain);
		return -ENOMEM;
	}
	for (i = 0; i < docs.n; i++) {
		bool hit = false;

		for (j = 0; j < del->n && !hit; j++) {
			if (same_id(&docs.v[i], &del->v[j])) {
				del->v[j].matched = true;
				hit = true;
			}
		}
		if (!hit || docs.v[i].start < pos || docs.v[i].end > len)
			continue;
		memcpy(nd + w, data + pos, docs.v[i].start - pos);
		w += docs.v[i].start - pos;
		pos = docs.v[i].end;
		cut++;
	}
	*nremoved += cut;
	memcpy(nd + w, data + pos, len - pos);
	w += len - pos;
	nd[w] = '\0';
	free(plain);
	doc_list_free(&docs);
	if (part->shared && !cut) {
		free(nd);
		return 0;
	}
	sl_ctl_part_drop_data(part);
	part->data = nd;
	part->len = w;
	return 0;
}

int sluiced_delete_docs(struct sl_ctl_part *parts, size_t nparts,
			const struct sl_ctl_part *del, size_t ndel, FILE *out,
			size_t *nremoved)
{
	struct doc_list all = { 0 };
	char err[256] = "";
	size_t i, j;
	int rc = 0;

	*nremoved = 0;
	for (i = 0; i < ndel && !rc; i++) {
		struct doc_list one;
		struct doc_id *nv;

		rc = scan_docs(del[i].data, del[i].len, &one, err, sizeof(err));
		if (rc) {
			fprintf(out, "%s:%s\n", del[i].name, err);
			break;
		}
		nv = realloc(all.v, (all.n + one.n + 1) * sizeof(*nv));
		if (!nv) {
			doc_list_free(&one);
			rc = -ENOMEM;
			break;
		}
		all.v = nv;
		for (j = 0; j < one.n; j++)
			all.v[all.n++] = one.v[j];
		free(one.v);
	}
	for (i = 0; i < nparts && !rc; i++)
		rc = cut_docs(&parts[i], &all, out, nremoved);
	for (i = 0; i < all.n && !rc; i++) {
		if (all.v[i].kind && all.v[i].name && !all.v[i].matched)
			fprintf(out, "  ? %s %s/%s: not in the desired state\n", all.v[i].kind,
				all.v[i].ns ? all.v[i].ns : "default", all.v[i].name);
	}
	doc_list_free(&all);
	return rc;
}
