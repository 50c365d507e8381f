/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bump allocator that owns everything one compiled model points to: all
 * strings, arrays and (through registered destructors) foreign objects such
 * as compiled PCRE2 patterns. Freed in one call; nothing inside is freed
 * individually.
 */
#ifndef SLUICE_UTIL_ARENA_H
#define SLUICE_UTIL_ARENA_H

#include <stddef.h>

struct sl_arena;

struct sl_arena *sl_arena_new(void);
/* Runs the registered destructors (last registered first), frees all blocks. */
void sl_arena_free(struct sl_arena *a);
/* Zeroed, 16-byte aligned memory; NULL only on out-of-memory. */
void *sl_arena_alloc(struct sl_arena *a, size_t size);
/* n * size with overflow check. */
void *sl_arena_calloc(struct sl_arena *a, size_t n, size_t size);
char *sl_arena_strdup(struct sl_arena *a, const char *s);
char *sl_arena_strndup(struct sl_arena *a, const char *s, size_t len);
__attribute__((format(printf, 2, 3)))
char *sl_arena_printf(struct sl_arena *a, const char *fmt, ...);
/* Call fn(p) when the arena is freed. Returns 0 or -ENOMEM (fn(p) is then
 * called at once so the caller never leaks). */
int sl_arena_defer(struct sl_arena *a, void (*fn)(void *), void *p);
/* Total bytes reserved from malloc, for measurements. */
size_t sl_arena_bytes(const struct sl_arena *a);

#endif /* SLUICE_UTIL_ARENA_H */
