// SPDX-License-Identifier: Apache-2.0
/*
 * `sluicectl diff`: what changed inside an object, field by field, as
 * kubectl diff shows it. The two sides' YAML documents (libyaml's document
 * API) are matched by kind, namespace and name as the model matches them
 * (no metadata.namespace = "default", no name = "mesh"), then walked
 * together: every scalar that differs, and every key or list entry present
 * on one side only, is one change with its path
 * (spec.tcp[0].route[0].weight) and its old and new values.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "sluice/ctl.h"
#include "sluice/yaml_map.h"
#include "sluicectl/diff_values.h"

struct yobj {
	const char *kind, *ns, *name;
	yaml_document_t *doc;
	yaml_node_t *root;
};

struct ydocs {
	yaml_document_t **docs;
	size_t ndocs;
	struct yobj *objs;
	size_t nobjs;
};

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int add_buf(struct ydocs *y, const char *buf, size_t len)
{
	yaml_parser_t p;
	int rc = 0;

	if (!yaml_parser_initialize(&p))
		return -1;
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	for (;;) {
		yaml_document_t *d = calloc(1, sizeof(*d)), **nd;
		yaml_node_t *root, *meta;
		struct yobj *no;

		if (!d || !yaml_parser_load(&p, d)) {
			free(d);
			rc = -1;	/* the model load reported it already */
			break;
		}
		root = yaml_document_get_root_node(d);
		if (!root) {
			yaml_document_delete(d);
			free(d);
			break;	/* end of stream */
		}
		nd = realloc(y->docs, (y->ndocs + 1) * sizeof(*nd));
		no = realloc(y->objs, (y->nobjs + 1) * sizeof(*no));
		if (nd)
			y->docs = nd;
		if (no)
			y->objs = no;
		if (!nd || !no) {
			yaml_document_delete(d);
			free(d);
			rc = -1;
			break;
		}
		y->docs[y->ndocs++] = d;
		meta = sl_yaml_get(d, root, "metadata");
		if (!scalar(sl_yaml_get(d, root, "kind")))
			continue;
		y->objs[y->nobjs++] = (struct yobj){
			.kind = scalar(sl_yaml_get(d, root, "kind")),
			.ns = scalar(sl_yaml_get(d, meta, "namespace")) ? scalar(sl_yaml_get(d, meta, "namespace"))
								   : "default",
			.name = scalar(sl_yaml_get(d, meta, "name")) ? scalar(sl_yaml_get(d, meta, "name")) : "mesh",
			.doc = d, .root = root,
		};
	}
	yaml_parser_delete(&p);
	return rc;
}

struct ydocs *ydocs_load(const char *const *bufs, const size_t *lens, size_t n)
{
	struct ydocs *y = calloc(1, sizeof(*y));
	size_t i;

	for (i = 0; y && i < n; i++)
		add_buf(y, bufs[i], lens[i]);
	return y;
}

void ydocs_free(struct ydocs *y)
{
	size_t i;

	if (!y)
		return;
	for (i = 0; i < y->ndocs; i++) {
		yaml_document_delete(y->docs[i]);
		free(y->docs[i]);
	}
	free(y->docs);
	free(y->objs);
	free(y);
}

static const struct yobj *find(const struct ydocs *y, const char *kind, const char *ns,
			       const char *name)
{
	size_t i;

	for (i = 0; y && i < y->nobjs; i++)
		if (!strcmp(y->objs[i].kind, kind) && !strcmp(y->objs[i].ns, ns) &&
		    !strcmp(y->objs[i].name, name))
			return &y->objs[i];
	return NULL;
}

/* A plain scalar that reads as a number or boolean is one in JSON. */
static bool bare(yaml_node_t *n)
{
	const char *s = scalar(n);
	char *end;

	if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	if (!strcmp(s, "true") || !strcmp(s, "false") || !strcmp(s, "null"))
		return true;
	if (!*s)
		return false;
	(void)strtod(s, &end);
	return *end == '\0';
}

void ynode_json(FILE *f, void *doc, void *node)
{
	yaml_document_t *d = doc;
	yaml_node_t *n = node;
	yaml_node_item_t *it;
	yaml_node_pair_t *p;

	if (!n) {
		fputs("null", f);
		return;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE:
		if (bare(n))
			fputs(scalar(n), f);
		else
			sl_json_str(f, scalar(n));
		break;
	case YAML_SEQUENCE_NODE:
		fputc('[', f);
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
			fputs(it == n->data.sequence.items.start ? "" : ", ", f);
			ynode_json(f, d, yaml_document_get_node(d, *it));
		}
		fputc(']', f);
		break;
	case YAML_MAPPING_NODE:
		fputc('{', f);
		for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(d, p->key);

			fputs(p == n->data.mapping.pairs.start ? "" : ", ", f);
			sl_json_str(f, scalar(k) ? scalar(k) : "?");
			fputs(": ", f);
			ynode_json(f, d, yaml_document_get_node(d, p->value));
		}
		fputc('}', f);
		break;
	default:
		fputs("null", f);
	}
}

struct walk {
	yaml_document_t *da, *db;
	ydiff_cb cb;
	void *ctx;
	size_t n;
};

static void changed(struct walk *w, const char *path, yaml_node_t *a, yaml_node_t *b)
{
	w->n++;
	w->cb(w->ctx, path, w->da, a, w->db, b);
}

static void walk(struct walk *w, char *path, size_t plen, size_t cap, yaml_node_t *a,
		 yaml_node_t *b)
{
	size_t i, na, nb;

	if (!a || !b || a->type != b->type) {
		changed(w, path, a, b);
		return;
	}
	if (a->type == YAML_SCALAR_NODE) {
		if (strcmp(scalar(a), scalar(b)))
			changed(w, path, a, b);
		return;
	}
	if (a->type == YAML_SEQUENCE_NODE) {
		na = (size_t)(a->data.sequence.items.top - a->data.sequence.items.start);
		nb = (size_t)(b->data.sequence.items.top - b->data.sequence.items.start);
		for (i = 0; i < na || i < nb; i++) {
			snprintf(path + plen, cap - plen, "[%zu]", i);
			walk(w, path, strlen(path), cap,
			     i < na ? yaml_document_get_node(w->da, a->data.sequence.items.start[i]) : NULL,
			     i < nb ? yaml_document_get_node(w->db, b->data.sequence.items.start[i]) : NULL);
		}
		path[plen] = '\0';
		return;
	}
	if (a->type == YAML_MAPPING_NODE) {
		yaml_node_pair_t *p;

		/* keys of a (changed or removed), then keys only b has */
		for (p = a->data.mapping.pairs.start; p < a->data.mapping.pairs.top; p++) {
			const char *k = scalar(yaml_document_get_node(w->da, p->key));

			if (!k)
				continue;
			snprintf(path + plen, cap - plen, "%s%s", plen ? "." : "", k);
			walk(w, path, strlen(path), cap, yaml_document_get_node(w->da, p->value),
			     sl_yaml_get(w->db, b, k));
		}
		for (p = b->data.mapping.pairs.start; p < b->data.mapping.pairs.top; p++) {
			const char *k = scalar(yaml_document_get_node(w->db, p->key));

			if (!k || sl_yaml_get(w->da, a, k))
				continue;
			snprintf(path + plen, cap - plen, "%s%s", plen ? "." : "", k);
			changed(w, path, NULL, yaml_document_get_node(w->db, p->value));
		}
		path[plen] = '\0';
	}
}

size_t ydiff(const struct ydocs *old, const struct ydocs *cur, const char *kind, const char *ns,
	     const char *name, ydiff_cb cb, void *ctx)
{
	const struct yobj *a = find(old, kind, ns, name), *b = find(cur, kind, ns, name);
	struct walk w = { .cb = cb, .ctx = ctx };
	char path[1024] = "";

	if (!a || !b)
		return 0;
	w.da = a->doc;
	w.db = b->doc;
	walk(&w, path, 0, sizeof(path), a->root, b->root);
	return w.n;
}
