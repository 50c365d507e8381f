/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Mapping lookups over libyaml documents (include/sluice/yaml_map.h).
 */
#include <stdlib.h>
#include <string.h>

#include "sluice/yaml_map.h"

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
