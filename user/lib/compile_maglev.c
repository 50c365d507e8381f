// SPDX-License-Identifier: Apache-2.0
/*
 * Maglev lookup tables for consistentHash at L4 on the XDP path
 * (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
 * Balancer", NSDI'16, section 3.4), and their layout in sluice_maglev.
 *
 * Each backend has a permutation of the m slots given by (offset, skip)
 * derived from its stable key only; backends take turns claiming their next
 * free preferred slot until the table is full. Because a backend's
 * preferences do not depend on the others, removing one of N backends
 * reassigns its ~m/N slots and disturbs only a few others: about 1/N of the
 * clients move. Weights: a backend of weight w takes w turns for every
 * wmax turns of the heaviest one (credit scheme), so slot shares follow
 * weights.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "sluice/compile_l4.h"
#include "sluice/xdp.h"

bool sl_is_prime(uint32_t m)
{
	uint32_t d;

	if (m < 2)
		return false;
	if (m % 2 == 0)
		return m == 2;
	for (d = 3; (uint64_t)d * d <= m; d += 2)
		if (m % d == 0)
			return false;
	return true;
}

/* FNV-1a 64 with a seed folded in: two independent hashes per key. */
static uint64_t key_hash(const char *s, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

/* Population (the paper's Pseudocode 1) with weighted turns. next[i] is how
 * far backend i has walked its permutation; a turn ends when it claims a
 * free slot. Terminates because each walk of m steps visits every slot
 * (skip and m coprime, m prime). */
int sl_maglev_build(const char *const *keys, const uint32_t *weights, size_t n,
		    uint32_t m, uint32_t *table)
{
	uint64_t *offset = NULL, *skip = NULL, *next = NULL, *credit = NULL;
	uint32_t wmax = 0, w;
	size_t i, filled = 0;
	int rc = 0;

	if (!n || !sl_is_prime(m) || m <= n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		w = weights ? weights[i] : 1;
		if (w > wmax)
			wmax = w;
	}
	if (!wmax)
		return -EINVAL;
	offset = calloc(n, sizeof(*offset));
	skip = calloc(n, sizeof(*skip));
	next = calloc(n, sizeof(*next));
	credit = calloc(n, sizeof(*credit));
	if (!offset || !skip || !next || !credit) {
		rc = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		offset[i] = key_hash(keys[i], 0x51ce0001) % m;
		skip[i] = key_hash(keys[i], 0x51ce0002) % (m - 1) + 1;
	}
	for (i = 0; i < m; i++)
		table[i] = UINT32_MAX;
	while (filled < m) {
		for (i = 0; i < n && filled < m; i++) {
			uint32_t slot;

			w = weights ? weights[i] : 1;
			credit[i] += w;
			if (credit[i] < wmax)
				continue;
			credit[i] -= wmax;
			do {
				slot = (uint32_t)((offset[i] + next[i] * skip[i]) % m);
				next[i]++;
			} while (table[slot] != UINT32_MAX);
			table[slot] = (uint32_t)i;
			filled++;
		}
	}
cleanup:
	free(offset);
	free(skip);
	free(next);
	free(credit);
	return rc;
}

void sl_maglev_gen_free(struct sl_maglev_gen *mg)
{
	free(mg->keys);
	free(mg->vals);
	memset(mg, 0, sizeof(*mg));
}

/* Stable key of a backend: its address and port, so a backend keeps its
 * permutation across generations whatever its index. */
static void backend_key(const struct sluice_backend *b, char *buf, size_t len)
{
	char *p = buf;
	int i;

	for (i = 0; i < 16 && (size_t)(p - buf) + 3 < len; i++)
		p += snprintf(p, len - (size_t)(p - buf), "%02x", b->addr[i]);
	snprintf(p, len - (size_t)(p - buf), ":%u", (unsigned)ntohs(b->port));
}

int sl_compile_maglev(struct sl_l4_gen *g, uint32_t default_m, struct sl_maglev_gen *out,
		      char *err)
{
	const struct sluice_backend **bes = NULL;
	char (*names)[48] = NULL;
	const char **keys = NULL;
	uint32_t *weights = NULL, *table = NULL, first = 0, m;
	size_t s, i, total = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!default_m)
		default_m = SLUICE_MAGLEV_DEFAULT_M;
	for (s = 0; s < g->nsubsets; s++) {
		struct sluice_subset *sub = &g->subsets[s].v;

		if (sub->lb != SLUICE_LB_MAGLEV)
			continue;
		m = sub->maglev_size ? sub->maglev_size : default_m;
		if (!sl_is_prime(m) || m <= sub->nbackends) {
			if (err)
				snprintf(err, SL_DP_ERRLEN, "maglev table size %u of subset %u "
					 "must be a prime larger than its %u backends",
					 m, g->subsets[s].k.subset_id, sub->nbackends);
			rc = -EINVAL;
			goto cleanup;
		}
		if (!sub->nbackends)
			continue;
		total += m;
		if (total > UINT32_MAX) {
			rc = -E2BIG;
			goto cleanup;
		}
	}
	if (!total)
		return 0;
	out->keys = calloc(total, sizeof(*out->keys));
	out->vals = calloc(total, sizeof(*out->vals));
	if (!out->keys || !out->vals) {
		rc = -ENOMEM;
		goto cleanup;
	}
	for (s = 0; s < g->nsubsets; s++) {
		struct sluice_subset *sub = &g->subsets[s].v;

		if (sub->lb != SLUICE_LB_MAGLEV || !sub->nbackends)
			continue;
		m = sub->maglev_size ? sub->maglev_size : default_m;
		free(bes);
		free(names);
		free(keys);
		free(weights);
		free(table);
		bes = calloc(sub->nbackends, sizeof(*bes));
		names = calloc(sub->nbackends, sizeof(*names));
		keys = calloc(sub->nbackends, sizeof(*keys));
		weights = calloc(sub->nbackends, sizeof(*weights));
		table = calloc(m, sizeof(*table));
		if (!bes || !names || !keys || !weights || !table) {
			rc = -ENOMEM;
			goto cleanup;
		}
		for (i = 0; i < sub->nbackends; i++) {
			bes[i] = sl_l4_find_backend(g, sub->backend_first + (uint32_t)i);
			if (!bes[i]) {
				if (err)
					snprintf(err, SL_DP_ERRLEN, "subset %u: backend %zu missing",
						 g->subsets[s].k.subset_id, i);
				rc = -EINVAL;
				goto cleanup;
			}
			backend_key(bes[i], names[i], sizeof(names[i]));
			keys[i] = names[i];
			weights[i] = bes[i]->weight ? bes[i]->weight : 1;
		}
		rc = sl_maglev_build(keys, weights, sub->nbackends, m, table);
		if (rc)
			goto cleanup;
		sub->maglev_first = first;
		sub->maglev_size = m;
		for (i = 0; i < m; i++) {
			out->keys[out->n].gen = g->gen;
			out->keys[out->n].slot = first + (uint32_t)i;
			out->vals[out->n] = sub->backend_first + table[i];
			out->n++;
		}
		first += m;
	}
cleanup:
	free(bes);
	free(names);
	free(keys);
	free(weights);
	free(table);
	if (rc)
		sl_maglev_gen_free(out);
	return rc;
}

/* Batched where the kernel has it, one by one otherwise. */
int sl_maglev_write(int map_fd, const struct sl_maglev_gen *mg)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo, .elem_flags = BPF_ANY);
	size_t i = 0;
	__u32 cnt;

	while (i < mg->n) {
		cnt = (__u32)(mg->n - i > 8192 ? 8192 : mg->n - i);
		if (bpf_map_update_batch(map_fd, &mg->keys[i], &mg->vals[i], &cnt, &bo))
			break;
		i += cnt;
	}
	for (; i < mg->n; i++)
		if (bpf_map_update_elem(map_fd, &mg->keys[i], &mg->vals[i], BPF_ANY))
			return -errno;
	return 0;
}

int sl_maglev_delete_gen(int map_fd, uint32_t gen)
{
	struct sluice_maglev_key k, nk;
	struct sluice_maglev_key *del = NULL, *tmp;
	size_t n = 0, cap = 0, i;
	void *prev = NULL;
	int rc = 0;

	/* collect first: deleting while iterating restarts the walk */
	while (!bpf_map_get_next_key(map_fd, prev, &nk)) {
		if (nk.gen == gen) {
			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				tmp = realloc(del, cap * sizeof(*del));
				if (!tmp) {
					rc = -ENOMEM;
					goto cleanup;
				}
				del = tmp;
			}
			del[n++] = nk;
		}
		k = nk;
		prev = &k;
	}
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(map_fd, &del[i]);
cleanup:
	free(del);
	return rc;
}
