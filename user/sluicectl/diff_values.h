/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Field-level differences between two sets of policy YAML documents, for
 * `sluicectl diff` (user/sluicectl/diff_values.c).
 */
#ifndef SLUICECTL_DIFF_VALUES_H
#define SLUICECTL_DIFF_VALUES_H

#include <stddef.h>
#include <stdio.h>

struct ydocs;

/* Parse every buffer's documents (invalid ones are skipped: the model load
 * reports them). NULL only when out of memory. */
struct ydocs *ydocs_load(const char *const *bufs, const size_t *lens, size_t n);
void ydocs_free(struct ydocs *y);

/* One difference at path: an old value (NULL = absent) and a new one (NULL
 * = absent), libyaml nodes of their documents. */
typedef void (*ydiff_cb)(void *ctx, const char *path, void *old_doc, void *old_node,
			 void *new_doc, void *new_node);

/* Walk object (kind, ns, name) of old and cur together; cb for each
 * difference. Returns how many. */
size_t ydiff(const struct ydocs *old, const struct ydocs *cur, const char *kind, const char *ns,
	     const char *name, ydiff_cb cb, void *ctx);

/* A node as compact JSON (plain numbers and booleans bare); NULL = null. */
void ynode_json(FILE *f, void *doc, void *node);

#endif /* SLUICECTL_DIFF_VALUES_H */
