/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to user/lib/dp_*.c: the data-plane handle and the helpers the
 * open, apply and stats parts share.
 */
#ifndef SLUICE_DP_INT_H
#define SLUICE_DP_INT_H

#include <limits.h>
#include <stdarg.h>

#include "sluice/compile_l4.h"
#include "sluice/dataplane.h"
#include "sluice/maps.h"

#define SL_DP_NHOOKS 7

/* A sluice_stats entry seen stale by sl_dp_stats_gc, with the sum of its
 * counters then (key first: the candidates are sorted by key). */
struct sl_dp_stale {
	struct sluice_stats_key key;
	uint64_t motion;
};

struct sl_dp {
	char bpffs[1024];		
	char cgroup[PATH_MAX];
	struct sl_dp_opts opts;		/* paths point into the buffers above */
	struct sluice_sock *sock;	/* skeletons; NULL for a read-only handle */
	struct sluice_sockops *ops;
	struct sluice_iter *iter;	/* the byte reporter; NULL when not loaded */
	struct bpf_link *iter_link;
	struct bpf_link *links[SL_DP_NHOOKS];
	struct sl_dp_hook hooks[SL_DP_NHOOKS];
	size_t nhooks;
	int fds[SL_MAP_NSOCK];		/* map fds (owned when own_fds) */
	int sync_fd, sync_inner_fd;	/* map-in-map used as an RCU barrier */
	int sock_err, ops_err;		/* errno of a partial load, for hooks */
	int iter_err;			/* why the byte reporter is absent */
	bool readonly;
	bool own_fds;			/* fds opened from pins, not a skeleton's */
	struct sl_l4_gen live;		/* what the last sl_dp_apply wrote, patched by
					 * sl_dp_apply_delta; live.gen 0 = none */
	uint32_t *reap;			/* backends a delta replaced: deleted after a
					 * barrier (sl_dp_delta_reap) */
	size_t nreap;
	uint32_t reap_gen;
	struct sl_dp_stale *stale;	/* sl_dp_stats_gc candidates, sorted */
	size_t nstale;
};

__attribute__((format(printf, 2, 3)))
void sl_dp_err(char *err, const char *fmt, ...);

/* Wait until every BPF program that may have read the old sluice_ctl.gen
 * has finished (synchronize_rcu through a map-in-map update). */
int sl_dp_barrier(struct sl_dp *dp);

/* Delete every generation-keyed entry whose generation is not keep. */
int sl_dp_gc(struct sl_dp *dp, uint32_t keep);

#endif /* SLUICE_DP_INT_H */
