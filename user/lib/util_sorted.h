/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Binary search over arrays of records sorted by a string field.
 */
#ifndef SLUICE_UTIL_SORTED_H
#define SLUICE_UTIL_SORTED_H

#include <stddef.h>
#include <string.h>

/* The first of the n records (stride bytes apart from base, each with a
 * `char *` at offset off, sorted by it) whose string is not below key. */
static inline size_t sl_lower_bound(const void *base, size_t n, size_t stride, size_t off,
				    const char *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *s;

		memcpy(&s, (const char *)base + mid * stride + off, sizeof(s));
		if (strcmp(s, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

#endif /* SLUICE_UTIL_SORTED_H */
