/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel data plane as a library (user/lib/dp_*.c, compile_*.c): load the
 * BPF programs, pin maps and links under a bpffs directory, attach the socket
 * hooks to a cgroup, compile a model into a new generation of map entries and
 * flip to it atomically, read counters back, and remove everything.
 * Used by sluiced (the only writer) and by sluicectl/tests for read-only views.
 * All functions return 0 or -errno; messages for the operator go to `err`
 * (a buffer of SL_DP_ERRLEN) when non-NULL.
 */
#ifndef SLUICE_DATAPLANE_H
#define SLUICE_DATAPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/abi.h"
#include "sluice/model.h"

#define SL_DP_ERRLEN 512

struct sl_dp;			/* opaque */

struct sl_dp_opts {
	const char *bpffs;	/* pin root, e.g. /sys/fs/bpf/sluice */
	const char *cgroup;	/* absolute cgroup v2 dir to attach socket hooks to */
	/* sluice-http mesh listener that HTTP services are sent to (v4-mapped);
	 * port 0 = no helper: HTTP services are steered at L4 like TCP. */
	uint8_t helper_addr[16];
	uint16_t helper_port;	/* host order */
	/* the current addresses of DNS names (sl_l4_opts.dns_lookup); NULL =
	 * names contribute no address */
	size_t (*dns_lookup)(const char *name, const struct sl_ip **out, void *arg);
	void *dns_arg;
	const char *kubelet_root;	/* sl_l4_opts.kubelet_root */
};

/* Which hooks are attached, for `sluicectl status`. */
struct sl_dp_hook {
	const char *name;	/* "connect4", "getpeername6", "sockops", ... */
	bool attached;
	char why[128];		/* when not attached: the kernel's answer */
};

/* One kernel feature the data plane uses (user/lib/dp_probe.c). */
struct sl_dp_feature {
	const char *name;
	const char *since;	/* oldest mainline kernel with it, "5.18" */
	const char *without;	/* what Sluice does without it */
	bool present;
};
#define SL_DP_NFEATURES 10

/* Probe this kernel: up to max features into out; returns how many. */
size_t sl_dp_probe(struct sl_dp_feature *out, size_t max);

/* Make sure pin_root lies on a bpffs: when it is under /sys/fs/bpf and no
 * bpffs is mounted there, mount one (*mounted = true; sluiced logs it). Any
 * other location must already be on a bpffs. sl_dp_open and sl_xdp_open call
 * it; callers that want to say what happened call it first. */
int sl_bpffs_ensure(const char *pin_root, bool *mounted, char *err);

/* The cgroup v2 mount point, from /proc/mounts (-ENOENT: none mounted). */
int sl_cgroup2_root(char *buf, size_t len, char *err);

/* path is an existing directory of a cgroup v2 hierarchy. */
int sl_cgroup2_check(const char *path, char *err);

/* Open the data plane: re-adopt existing pins under opts->bpffs when present
 * (no gap: programs stay attached), else load, pin and attach. */
int sl_dp_open(const struct sl_dp_opts *opts, struct sl_dp **out, char *err);

/* Open the pinned maps under bpffs read-only (sluicectl, tests): counters,
 * stats and the generation; no program is loaded or attached, apply is
 * refused. Close with sl_dp_close. */
int sl_dp_open_pinned(const char *bpffs, struct sl_dp **out, char *err);

/* Open the pinned maps under bpffs for sl_dp_apply, loading and attaching
 * no program: the tables of programs another loader pinned there (the XDP
 * and TC objects that tools/xdp_tool and tests/bpf/xdp_fixture.h load), so
 * they are provisioned by the production compile and apply. Close with
 * sl_dp_close. */
int sl_dp_open_maps(const char *bpffs, struct sl_dp **out, char *err);

/* Compile the model and make it live atomically. On success *gen is the new
 * generation. On failure nothing changed: the previous generation stays live. */
int sl_dp_apply(struct sl_dp *dp, const struct sl_model *m, uint32_t *gen, char *err);

/* Incremental apply: services svcs[0..n-1] of m (the model the live
 * generation was compiled from, since patched with sl_model_patch_endpoints)
 * have new endpoints; rewrite the live generation where they are
 * (sl_compile_l4_delta), the generation number unchanged. New backends
 * first, then each entry pointing at them with one map update; the old
 * backends stay until sl_dp_delta_reap: a connect() sees a service's old
 * endpoints or its new ones, never a mix. On failure what was rewritten is
 * put back. -EAGAIN (reason in err) when only sl_dp_apply can do it. */
int sl_dp_apply_delta(struct sl_dp *dp, const struct sl_model *m, const size_t *svcs, size_t n,
		      char *err);

/* The backends deltas replaced, deleted once no program can still reach
 * them (a barrier: a few ms, kept off the change's path). How many. */
size_t sl_dp_delta_reap(struct sl_dp *dp);

/* The live generation (0 = no policy yet). */
uint32_t sl_dp_generation(const struct sl_dp *dp);

size_t sl_dp_hooks(const struct sl_dp *dp, const struct sl_dp_hook **hooks);

/* Counters: the global enum sluice_counter sums, and per-backend stats. */
int sl_dp_counters(struct sl_dp *dp, uint64_t out[__SLUICE_CNT_MAX]);
struct sl_dp_stat {
	struct sluice_stats_key key;
	struct sluice_stats val;
};
int sl_dp_stats(struct sl_dp *dp, struct sl_dp_stat **out, size_t *n);

/* outlierDetection's state at L4 (sluice_eject), every backend that ever
 * failed a connect: ejected while val.until_ns is ahead of CLOCK_MONOTONIC
 * (bpf_ktime_get_ns). *out is malloc'd. */
struct sl_dp_eject {
	struct sluice_stats_key key;
	struct sluice_eject val;
};
int sl_dp_ejects(struct sl_dp *dp, struct sl_dp_eject **out, size_t *n);

/* sluice_traffic: the per-backend counters split by client workload (the
 * Istio TCP metrics). Empty when the map is absent (older pins). */
struct sl_dp_traffic {
	struct sluice_traffic_key key;
	struct sluice_traffic val;
};
int sl_dp_traffic(struct sl_dp *dp, struct sl_dp_traffic **out, size_t *n);

/* Add the bytes live connections moved since the last report to
 * sluice_stats and sluice_traffic (bpf/iter.bpf.c), so that readers see
 * them before the connections close. -EOPNOTSUPP when the reporter is not
 * loaded (read-only handle, or the kernel lacks sk_storage iterators:
 * sl_dp_report_bytes_error says why); bytes then count at close only. */
int sl_dp_report_bytes(struct sl_dp *dp);
int sl_dp_report_bytes_error(const struct sl_dp *dp);

/* A subset's sluice_pool_use: connections counted against maxConnections,
 * connect()s refused over it, backends ejected by outlierDetection; zero
 * when none or the map is absent. */
void sl_dp_pool_use(struct sl_dp *dp, uint32_t svc_sid, uint32_t subset_sid,
		    struct sluice_pool_use *out);

/* Age out the stats of backends no longer in the live generation (removed
 * by an apply), which would otherwise fill sluice_stats over many applies.
 * An entry goes only when it has no active connection and its counters did
 * not move between two calls: call it twice, some seconds apart. *deleted
 * counts what went; *pending the stale entries still there (idle ones go
 * at the next call if nothing moved; ones with open connections wait). */
int sl_dp_stats_gc(struct sl_dp *dp, size_t *deleted, size_t *pending);

/* Detach and unpin everything under opts->bpffs (sluicectl reset). Works
 * without sl_dp_open, from the pins alone. */
int sl_dp_reset(const char *bpffs, char *err);

/* Close the handle; pinned programs and links keep running. */
void sl_dp_close(struct sl_dp *dp);

/* Stable ids used in sluice_stats_key. */
uint32_t sl_dp_sid(const char *s);

#endif /* SLUICE_DATAPLANE_H */
