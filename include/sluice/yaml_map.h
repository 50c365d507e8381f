/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading a document and reading values out of its mappings: sluicectl's view of
 * the daemon's JSON answers, sluiced's view of sluice-http's counts, and
 * diff's walk over policy documents (user/lib/yaml_map.c).
 */
#ifndef SLUICE_YAML_MAP_H
#define SLUICE_YAML_MAP_H

#include <stdint.h>
#include <yaml.h>

/* Parse text (JSON, which libyaml reads as YAML) into doc: 0, or -1 when
 * it does not parse or holds no document (doc then needs no delete). */
int sl_yaml_load(const char *text, size_t len, yaml_document_t *doc);

/* The value node of key in mapping m, NULL when m is not a mapping or has
 * no such key. */
yaml_node_t *sl_yaml_get(yaml_document_t *doc, yaml_node_t *m, const char *key);

/* The scalar value of key in m, NULL when absent or not a scalar. */
const char *sl_yaml_str(yaml_document_t *doc, yaml_node_t *m, const char *key);

/* The scalar value of key in m as an unsigned number, 0 when absent. */
uint64_t sl_yaml_u64(yaml_document_t *doc, yaml_node_t *m, const char *key);

#endif /* SLUICE_YAML_MAP_H */
