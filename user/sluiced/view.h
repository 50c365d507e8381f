/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Record lists rendered as table, JSON or YAML (view.c), used by the get
 * (view_get.c) and stats/status (view_stats.c) views.
 */
#ifndef SLUICED_VIEW_H
#define SLUICED_VIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sluiced.h"

enum vtype { V_STR, V_NUM, V_LIST };

struct vfield {
	const char *key;	/* static string */
	enum vtype t;
	char *s;
	uint64_t num;
	char **list;
	size_t nlist;
};

struct vrec {
	struct vfield *f;
	size_t n;
};

struct vtable {
	struct vrec *r;
	size_t n, cap;
};

struct vrec *vt_rec(struct vtable *t);
__attribute__((format(printf, 3, 4))) void vf_str(struct vrec *r, const char *key, const char *fmt, ...);
void vf_num(struct vrec *r, const char *key, uint64_t v);
struct vfield *vf_list(struct vrec *r, const char *key);
__attribute__((format(printf, 2, 3))) void vf_add(struct vfield *f, const char *fmt, ...);
void vt_free(struct vtable *t);
/* single: one record shown as "key: value" lines / a JSON object. */
void vt_render(const struct vtable *t, enum view_fmt f, bool single, FILE *out);

void view_addr(const uint8_t a[16], char *buf, size_t len);
void view_addr_port(const uint8_t a[16], uint16_t port, char *buf, size_t len);

#endif /* SLUICED_VIEW_H */
