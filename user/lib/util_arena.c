// SPDX-License-Identifier: Apache-2.0
/* Bump allocator owning a compiled model; see util_arena.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util_arena.h"

#define ARENA_BLOCK (64u * 1024u)

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

struct arena_dtor {
	struct arena_dtor *next;
	void (*fn)(void *);
	void *p;
};

struct sl_arena {
	struct arena_block *head;
	struct arena_dtor *dtors;
	size_t bytes;
};

struct sl_arena *sl_arena_new(void)
{
	return calloc(1, sizeof(struct sl_arena));
}

void sl_arena_free(struct sl_arena *a)
{
	if (!a)
		return;
	for (struct arena_dtor *d = a->dtors; d; d = d->next)
		d->fn(d->p);
	struct arena_block *b = a->head;
	while (b) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	free(a);
}

/* Small requests come from the current block; a request larger than a
 * quarter block gets a block of its own, linked behind the head so the
 * head's free space is not wasted. */
void *sl_arena_alloc(struct sl_arena *a, size_t size)
{
	size = (size + 15u) & ~(size_t)15u;
	if (size == 0)
		size = 16;
	struct arena_block *b = a->head;
	if (b && b->cap - b->used >= size) {
		void *p = b->data + b->used;
		b->used += size;
		memset(p, 0, size);
		return p;
	}
	size_t cap = size > ARENA_BLOCK / 4 ? size : ARENA_BLOCK;
	if (cap > SIZE_MAX - sizeof(*b))
		return NULL;
	struct arena_block *nb = malloc(sizeof(*nb) + cap);
	if (!nb)
		return NULL;
	nb->cap = cap;
	nb->used = size;
	a->bytes += sizeof(*nb) + cap;
	if (cap != ARENA_BLOCK && b) {
		nb->next = b->next;
		b->next = nb;
	} else {
		nb->next = b;
		a->head = nb;
	}
	memset(nb->data, 0, size);
	return nb->data;
}

void *sl_arena_calloc(struct sl_arena *a, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return sl_arena_alloc(a, n * size);
}

char *sl_arena_strndup(struct sl_arena *a, const char *s, size_t len)
{
	char *p = sl_arena_alloc(a, len + 1);
	if (!p)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *sl_arena_strdup(struct sl_arena *a, const char *s)
{
	return s ? sl_arena_strndup(a, s, strlen(s)) : NULL;
}

char *sl_arena_printf(struct sl_arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *p = sl_arena_alloc(a, (size_t)n + 1);
	if (!p)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

int sl_arena_defer(struct sl_arena *a, void (*fn)(void *), void *p)
{
	struct arena_dtor *d = sl_arena_alloc(a, sizeof(*d));
	if (!d) {
		fn(p);
		return -ENOMEM;
	}
	d->fn = fn;
	d->p = p;
	d->next = a->dtors;
	a->dtors = d;
	return 0;
}

size_t sl_arena_bytes(const struct sl_arena *a)
{
	return a->bytes;
}
