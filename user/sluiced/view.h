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

enum vtype { V_STR, V_NUM, V_LIST, V_BOOL, V_REAL };

struct vrec;

struct vtable {
	struct vrec *r;
	size_t n, cap;
};

/* A V_LIST holds text lines for the table and "key: value" views; when it
 * also holds items (records, vf_item) JSON and YAML show those instead, as
 * an array of objects, or as one object when it is a map (vf_map). A list
 * of numbers (vf_numlist) prints its entries as numbers. */
struct vfield {
	const char *key;	/* static string */
	enum vtype t;
	char *s;
	uint64_t num;		/* V_NUM, V_BOOL */
	double real;		/* V_REAL */
	char **list;
	size_t nlist;
	struct vtable items;
	bool map, numbers;
};

struct vrec {
	struct vfield **f;	/* each allocated alone: pointers stay valid */
	size_t n;
};

struct vrec *vt_rec(struct vtable *t);
__attribute__((format(printf, 3, 4))) void vf_str(struct vrec *r, const char *key, const char *fmt, ...);
void vf_num(struct vrec *r, const char *key, uint64_t v);
void vf_bool(struct vrec *r, const char *key, bool v);
void vf_real(struct vrec *r, const char *key, double v);
struct vfield *vf_list(struct vrec *r, const char *key);
struct vfield *vf_map(struct vrec *r, const char *key);
struct vfield *vf_numlist(struct vrec *r, const char *key);
/* The structured item behind the list's next line (data views only). For a
 * map: its one record, to which each entry is added as a field. */
struct vrec *vf_item(struct vfield *f);
__attribute__((format(printf, 2, 3))) void vf_add(struct vfield *f, const char *fmt, ...);
void vt_free(struct vtable *t);
/* single: one record shown as "key: value" lines / a JSON object. */
void vt_render(const struct vtable *t, enum view_fmt f, bool single, FILE *out);

void view_addr(const uint8_t a[16], char *buf, size_t len);
void view_addr_port(const uint8_t a[16], uint16_t port, char *buf, size_t len);

#endif /* SLUICED_VIEW_H */
