// SPDX-License-Identifier: Apache-2.0
/*
 * Reading the daemon's `-o json` answers back into values, for the verbs
 * that compute on them (top's rates, trace's pin root). JSON is parsed with
 * libyaml (JSON is a subset of YAML 1.2 as the daemon writes it: no tabs,
 * no duplicate keys), so no parser of our own is involved.
 */
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "sluice/yaml_map.h"

#include "sluice/ctl.h"
#include "sluicectl/cmds.h"

char *ctl_json_top_scalar(const char *text, size_t len, const char *key)
{
	yaml_document_t doc;
	const char *v;
	char *out = NULL;

	if (sl_yaml_load(text, len, &doc))
		return NULL;
	v = sl_yaml_str(&doc, yaml_document_get_root_node(&doc), key);
	if (v)
		out = strdup(v);
	yaml_document_delete(&doc);
	return out;
}

static char *str(yaml_document_t *doc, yaml_node_t *m, const char *key)
{
	const char *v = sl_yaml_str(doc, m, key);

	return strdup(v ? v : "");
}

int ctl_stats_parse(const char *text, size_t len, struct ctl_stat_row **rows, size_t *n)
{
	yaml_document_t doc;
	yaml_node_t *root;
	yaml_node_item_t *it;
	struct ctl_stat_row *r;
	size_t i = 0, cap;

	*rows = NULL;
	*n = 0;
	if (sl_yaml_load(text, len, &doc))
		return -1;
	root = yaml_document_get_root_node(&doc);
	if (root->type != YAML_SEQUENCE_NODE) {
		yaml_document_delete(&doc);
		return -1;
	}
	cap = (size_t)(root->data.sequence.items.top - root->data.sequence.items.start);
	r = calloc(cap ? cap : 1, sizeof(*r));
	if (!r) {
		yaml_document_delete(&doc);
		return -1;
	}
	for (it = root->data.sequence.items.start; it < root->data.sequence.items.top; it++) {
		yaml_node_t *m = yaml_document_get_node(&doc, *it);

		if (!m || m->type != YAML_MAPPING_NODE)
			continue;
		r[i].level = str(&doc, m, "level");
		r[i].service = str(&doc, m, "service");
		r[i].subset = str(&doc, m, "subset");
		r[i].backend = str(&doc, m, "backend");
		r[i].opened = sl_yaml_u64(&doc, m, "opened");
		r[i].active = sl_yaml_u64(&doc, m, "active");
		r[i].failed = sl_yaml_u64(&doc, m, "failed");
		r[i].closed = sl_yaml_u64(&doc, m, "closed");
		r[i].bytes_sent = sl_yaml_u64(&doc, m, "bytes_sent");
		r[i].bytes_received = sl_yaml_u64(&doc, m, "bytes_received");
		r[i].requests = sl_yaml_u64(&doc, m, "requests");
		r[i].errors = sl_yaml_u64(&doc, m, "errors");
		i++;
	}
	yaml_document_delete(&doc);
	*rows = r;
	*n = i;
	return 0;
}

void ctl_stats_free(struct ctl_stat_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].level);
		free(rows[i].service);
		free(rows[i].subset);
		free(rows[i].backend);
	}
	free(rows);
}

static int yaml_write(void *data, unsigned char *buf, size_t size)
{
	return fwrite(buf, 1, size, data) == size;
}

int ctl_json_to_yaml(const char *json, size_t len, FILE *out)
{
	yaml_emitter_t e;
	yaml_document_t doc;
	yaml_node_t *n;
	int ok;

	if (sl_yaml_load(json, len, &doc))
		return -1;
	/* block style throughout, as a human reads YAML */
	for (n = doc.nodes.start; n < doc.nodes.top; n++) {
		yaml_node_pair_t *p;

		if (n->type == YAML_MAPPING_NODE) {
			n->data.mapping.style = YAML_BLOCK_MAPPING_STYLE;
			/* keys are our own identifiers: plain */
			for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
				yaml_document_get_node(&doc, p->key)->data.scalar.style =
					YAML_PLAIN_SCALAR_STYLE;
		} else if (n->type == YAML_SEQUENCE_NODE)
			n->data.sequence.style = YAML_BLOCK_SEQUENCE_STYLE;
		/* scalars keep their JSON style: strings quoted (so "80" stays a
		 * string), numbers, booleans and null plain */
	}
	if (!yaml_emitter_initialize(&e)) {
		yaml_document_delete(&doc);
		return -1;
	}
	yaml_emitter_set_output(&e, yaml_write, out);
	yaml_emitter_set_unicode(&e, 1);
	ok = yaml_emitter_open(&e) && yaml_emitter_dump(&e, &doc) && yaml_emitter_close(&e);
	yaml_emitter_delete(&e);	/* dump deleted the document */
	return ok ? 0 : -1;
}
