// SPDX-License-Identifier: Apache-2.0
/*
 * Maglev table generation (user/lib/compile_maglev.c): fullness, balance,
 * weights, the ~1/N disruption bound when one of N backends leaves, and the
 * layout of per-subset tables in a compiled generation. No root needed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "sluice/compile_l4.h"
#include "sluice/xdp.h"

#define M 65537

static void keys_for(char names[][32], const char **keys, size_t n, size_t skip)
{
	size_t i, j = 0;

	for (i = 0; i < n; i++) {
		if (i == skip)
			continue;
		snprintf(names[j], 32, "10.1.0.%u:9000", (unsigned)(i + 1) & 0xff);
		keys[j] = names[j];
		j++;
	}
}

static void test_prime(void **state)
{
	(void)state;
	assert_true(sl_is_prime(2));
	assert_true(sl_is_prime(65537));
	assert_true(sl_is_prime(251));
	assert_false(sl_is_prime(1));
	assert_false(sl_is_prime(65536));
	assert_false(sl_is_prime(65535));
	assert_false(sl_is_prime(0));
}

static void test_rejects_bad_sizes(void **state)
{
	const char *keys[2] = { "a", "b" };
	uint32_t table[8], zero[2] = { 0, 0 };

	(void)state;
	assert_int_equal(sl_maglev_build(keys, NULL, 2, 8, table), -EINVAL);	/* not prime */
	assert_int_equal(sl_maglev_build(keys, NULL, 2, 2, table), -EINVAL);	/* m <= n */
	assert_int_equal(sl_maglev_build(keys, NULL, 0, 7, table), -EINVAL);	/* nobody */
	assert_int_equal(sl_maglev_build(keys, zero, 2, 7, table), -EINVAL);	/* all weight 0 */
}

/* Every slot filled, each of 10 backends within 10% of m/10. */
static void test_full_and_balanced(void **state)
{
	char names[10][32];
	const char *keys[10];
	uint32_t *t = malloc(M * sizeof(*t));
	size_t cnt[10] = { 0 }, i;

	(void)state;
	assert_non_null(t);
	keys_for(names, keys, 10, 99);
	assert_int_equal(sl_maglev_build(keys, NULL, 10, M, t), 0);
	for (i = 0; i < M; i++) {
		assert_true(t[i] < 10);
		cnt[t[i]]++;
	}
	for (i = 0; i < 10; i++) {
		assert_true(cnt[i] > M / 10 * 0.9);
		assert_true(cnt[i] < M / 10 * 1.1);
	}
	free(t);
}

/* Removing 1 of 10 backends: at most 12% of slots change owner, and every
 * slot of a remaining backend that changed went to... anyone (counted). */
static void test_removal_disruption(void **state)
{
	char n10[10][32], n9[9][32];
	const char *k10[10], *k9[9];
	uint32_t *a = malloc(M * sizeof(*a)), *b = malloc(M * sizeof(*b));
	size_t moved = 0, i;
	size_t map9[9];

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	keys_for(n10, k10, 10, 99);
	keys_for(n9, k9, 10, 3);	/* backend 3 removed */
	for (i = 0; i < 9; i++)
		map9[i] = i < 3 ? i : i + 1;
	assert_int_equal(sl_maglev_build(k10, NULL, 10, M, a), 0);
	assert_int_equal(sl_maglev_build(k9, NULL, 9, M, b), 0);
	for (i = 0; i < M; i++)
		if (a[i] != map9[b[i]])
			moved++;
	print_message("# removing 1 of 10 moved %.2f%% of slots\n", 100.0 * moved / M);
	assert_true(moved >= M / 10 - M / 100);	/* at least the removed one's share */
	assert_true(moved <= M * 12 / 100);
	free(a);
	free(b);
}

static void test_weights(void **state)
{
	const char *keys[2] = { "v1:9000", "v2:9000" };
	uint32_t w[2] = { 3, 1 }, *t = malloc(M * sizeof(*t));
	size_t c0 = 0, i;

	(void)state;
	assert_non_null(t);
	assert_int_equal(sl_maglev_build(keys, w, 2, M, t), 0);
	for (i = 0; i < M; i++)
		c0 += t[i] == 0;
	print_message("# weight 3:1 -> %.2f%% to the first\n", 100.0 * c0 / M);
	assert_true(c0 > M * 73 / 100 && c0 < M * 77 / 100);
	free(t);
}

/* A compiled generation with a RANDOM subset and a MAGLEV subset of 3
 * backends: only the latter gets a table, laid out from slot 0, values are
 * its backend indices. */
static void test_compile_gen(void **state)
{
	struct sl_l4_subset subs[2] = { 0 };
	struct sl_l4_backend bes[4] = { 0 };
	struct sl_l4_gen g = { 0 };
	struct sl_maglev_gen mg;
	char err[SL_DP_ERRLEN] = "";
	size_t i, cnt[4] = { 0 };

	(void)state;
	g.gen = 5;
	for (i = 0; i < 4; i++) {
		bes[i].k.gen = 5;
		bes[i].k.idx = (uint32_t)i;
		bes[i].v.addr[10] = bes[i].v.addr[11] = 0xff;
		bes[i].v.addr[15] = (uint8_t)(i + 1);
		bes[i].v.port = htons(9000);
		bes[i].v.weight = 1;
	}
	subs[0].k = (struct sluice_subset_key){ .gen = 5, .subset_id = 1 };
	subs[0].v = (struct sluice_subset){ .backend_first = 0, .nbackends = 1,
					    .lb = SLUICE_LB_RANDOM };
	subs[1].k = (struct sluice_subset_key){ .gen = 5, .subset_id = 2 };
	subs[1].v = (struct sluice_subset){ .backend_first = 1, .nbackends = 3,
					    .lb = SLUICE_LB_MAGLEV, .maglev_size = 251 };
	g.subsets = subs;
	g.nsubsets = 2;
	g.backends = bes;
	g.nbackends = 4;
	assert_int_equal(sl_compile_maglev(&g, 0, &mg, err), 0);
	assert_int_equal(mg.n, 251);
	assert_int_equal(subs[1].v.maglev_first, 0);
	assert_int_equal(subs[1].v.maglev_size, 251);
	assert_int_equal(subs[0].v.maglev_size, 0);
	for (i = 0; i < mg.n; i++) {
		assert_int_equal(mg.keys[i].gen, 5);
		assert_int_equal(mg.keys[i].slot, i);
		assert_true(mg.vals[i] >= 1 && mg.vals[i] <= 3);
		cnt[mg.vals[i]]++;
	}
	assert_true(cnt[1] > 60 && cnt[2] > 60 && cnt[3] > 60);
	sl_maglev_gen_free(&mg);

	/* a table size that is not prime is refused with a message */
	subs[1].v.maglev_size = 250;
	assert_int_equal(sl_compile_maglev(&g, 0, &mg, err), -EINVAL);
	assert_non_null(strstr(err, "prime"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prime),
		cmocka_unit_test(test_rejects_bad_sizes),
		cmocka_unit_test(test_full_and_balanced),
		cmocka_unit_test(test_removal_disruption),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_compile_gen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
