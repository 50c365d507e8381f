/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading libyaml documents and looking up their mappings
 * (include/sluice/yaml_map.h).
 */
#include <stdlib.h>
#include <string.h>

#include "sluice/yaml_map.h"

int sl_yaml_load(const char *text, size_t len, yaml_document_t *doc)
{
	yaml_parser_t p;
	int ok;

	if (!yaml_parser_initialize(&p))
		return -1;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	ok = yaml_parser_load(&p, doc);
	yaml_parser_delete(&p);
	if (!ok)
		return -1;
	if (!yaml_document_get_root_node(doc)) {
		yaml_document_delete(doc);
		return -1;
	}
	return 0;
}

yaml_node_t *sl_yaml_get(yaml_document_t *doc, yaml_node_t *m, const char *key)
{
	yaml_node_pair_t *p;

	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

const char *sl_yaml_str(yaml_document_t *doc, yaml_node_t *m, const char *key)
{
	yaml_node_t *v = sl_yaml_get(doc, m, key);

	return v && v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : NULL;
}

uint64_t sl_yaml_u64(yaml_document_t *doc, yaml_node_t *m, const char *key)
{
	const char *v = sl_yaml_str(doc, m, key);

	return v ? strtoull(v, NULL, 10) : 0;
}
