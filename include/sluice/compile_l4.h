/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L4 compiler (user/lib/compile_l4.c): a resolved policy model -> the
 * map entries of one generation of the socket data plane (sluice_svc,
 * sluice_route, sluice_route_src, sluice_cgroup, sluice_subset,
 * sluice_backend, sluice_pool, sluice_gencfg). Pure: no map or kernel access, so it is
 * unit-tested without root; dp_apply.c writes what it returns.
 */
#ifndef SLUICE_COMPILE_L4_H
#define SLUICE_COMPILE_L4_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/abi.h"
#include "sluice/model.h"

struct sl_l4_opts {
	uint8_t helper_addr[16];	/* v4-mapped; where HTTP services go */
	uint16_t helper_port;		/* host order; 0 = no helper */
	/* cgroup path (relative to the cgroup v2 root) -> cgroup id; returns
	 * 0 when the cgroup does not exist (the workload is then skipped).
	 * NULL: stat() under the cgroup v2 mount. */
	uint64_t (*cgroup_id)(const char *relpath, void *arg);
	void *cgroup_arg;
	/* where kubelet's pod cgroups live, relative to the cgroup v2 root
	 * ("" or NULL: the root, kubelet's default); a Pod's cgroup is found
	 * there by its UID in the systemd or the cgroupfs layout */
	const char *kubelet_root;
	/* The current addresses of a DNS name (resolution: DNS endpoints and
	 * hosts): how many, *out pointing at them (valid until the compile
	 * returns). NULL, or 0 addresses: the name contributes no backend
	 * (offline validation, or before sluiced's first answer). */
	size_t (*dns_lookup)(const char *name, const struct sl_ip **out, void *arg);
	void *dns_arg;
};

struct sl_l4_svc { struct sluice_svc_key k; struct sluice_svc v; };
struct sl_l4_route { struct sluice_route_key k; struct sluice_route v; };
struct sl_l4_cgroup { struct sluice_cgroup_key k; struct sluice_client v; };
struct sl_l4_subset { struct sluice_subset_key k; struct sluice_subset v; };
struct sl_l4_backend { struct sluice_backend_key k; struct sluice_backend v; };
struct sl_l4_pool { struct sluice_pool_key k; struct sluice_pool v; };
struct sl_l4_fault { struct sluice_route_key k; struct sluice_fault v; };
/* What a subset entry was built for: (service, subset or -1, port), indices
 * into the compiled model; sl_compile_l4_delta rebuilds it from there. */
struct sl_l4_origin { uint32_t svc; int32_t subset; uint16_t port; uint16_t pad; };

/* A service entry with inline subset copies (SLUICE_SVC_SUBSET_INLINE) as
 * a delta needs it: its key and the subset ids its copies are of. */
struct sl_l4_svc_ref {
	struct sluice_svc_key k;
	uint32_t sub_id[SLUICE_SVC_INLINE_SUBSETS];
	uint32_t nsub;
};
/* A service entry's inline copies a delta rewrites: copy k becomes the
 * delta's subsets[at[k]] (-1: kept). The rest of the entry is as the data
 * plane holds it. */
struct sl_l4_svc_fix {
	struct sluice_svc_key k;
	int32_t at[SLUICE_SVC_INLINE_SUBSETS];
};

/* One generation's entries. Arrays are owned by the struct. */
struct sl_l4_gen {
	uint32_t gen;
	struct sluice_gencfg cfg;
	struct sl_l4_svc *svcs;
	size_t nsvcs;
	struct sl_l4_route *routes;
	size_t nroutes;
	struct sluice_route_src_key *srcs;
	size_t nsrcs;
	struct sl_l4_cgroup *cgroups;
	size_t ncgroups;
	struct sl_l4_subset *subsets;
	size_t nsubsets;
	struct sl_l4_backend *backends;	/* by idx; after sl_l4_gen_patch an
					 * entry whose k.gen is 0 is a hole */
	size_t nbackends;
	size_t nholes;
	struct sl_l4_origin *origins;	/* by subset id */
	struct sl_l4_pool *pools;	/* connectionPool.tcp of flagged subsets */
	size_t npools;
	struct sl_l4_fault *faults;	/* TCP faults of SLUICE_ROUTE_FAULT routes */
	size_t nfaults;
	struct sl_l4_svc_ref *svc_refs;	/* the svcs with inline copies */
	size_t nsvc_refs;
	uint64_t *holes;		/* kept for deltas without backends: a bit
					 * per backend idx, set for a hole */
	size_t cap[10];			/* internal growth bookkeeping */
};

/* Compile m into generation gen. Returns 0, or -errno with a message in err
 * (SL_DP_ERRLEN bytes) naming the object: -ENOTSUP for a feature the L4 data
 * plane cannot enforce (never silently accepted), -E2BIG past an ABI limit.
 * On error *out holds nothing to free. */
int sl_compile_l4(const struct sl_model *m, const struct sl_l4_opts *opts, uint32_t gen,
		  struct sl_l4_gen *out, char *err);

void sl_l4_gen_free(struct sl_l4_gen *g);

/* What a delta of g needs kept, once the data plane holds g: the entries
 * the data plane keeps as written (service values, routes, sources,
 * cgroups, faults, backends: only which backend is a hole is kept) are
 * freed; subsets, origins, pools and svc_refs stay. At 10,000 services the
 * service values alone are 4.4 MB, the backends 1.6 MB. */
void sl_l4_gen_keep_for_deltas(struct sl_l4_gen *g);

/* An endpoint change of some services, as entries of the live generation
 * to rewrite in place (docs/dataplane.md, "Incremental apply"): backends
 * under fresh indices, then the subset, pool and service entries that
 * point at them (each one map update, so a program sees the old or the new
 * entry, never a mix), then the old backends deleted. */
struct sl_l4_delta {
	struct sl_l4_backend *add;	/* new backends, idx >= live->nbackends */
	size_t nadd;
	struct sl_l4_subset *subsets;	/* rewritten subset entries */
	size_t nsubsets;
	struct sl_l4_pool *pools;	/* rewritten pool entries */
	size_t npools;
	struct sl_l4_svc_fix *svcs;	/* rewritten svc entries (inline copies) */
	size_t nsvcs;
	uint32_t *del;			/* backend indices to delete afterwards */
	size_t ndel;
	size_t cap[5];
};

/* The entries of live (compiled from m before m's services svcs[0..n-1]
 * got new endpoints, sl_model_patch_endpoints) that change with those
 * endpoints. -EAGAIN, with the reason in err, when only a full compile
 * is right: a subset or service whose endpoints appear or vanish (routes
 * renormalise), Maglev tables, REGISTRY_ONLY's endpoint registrations, or a
 * generation that has collected too many holes. Any other error is the
 * full compiler's too. On error *out holds nothing to free. */
int sl_compile_l4_delta(const struct sl_model *m, const struct sl_l4_opts *opts,
			const struct sl_l4_gen *live, const size_t *svcs, size_t n,
			struct sl_l4_delta *out, char *err);

/* Fold a delta that the data plane took into live (its service values
 * too, when it still has them: sl_l4_gen_keep_for_deltas). 0 or -ENOMEM. */
int sl_l4_gen_patch(struct sl_l4_gen *live, const struct sl_l4_delta *d);

/* A service value v (NULL: nothing) with fix f of delta d applied. */
void sl_l4_svc_fix_apply(struct sluice_svc *v, const struct sl_l4_svc_fix *f,
			 const struct sl_l4_delta *d);

void sl_l4_delta_free(struct sl_l4_delta *d);

/* The data-plane ids of m's workloads (sluice_cgroup values, sluice_route_src
 * keys, and sluice_origdst.workload_id as sluice-http reads it): a hash of
 * "namespace/name", so a workload keeps its id across applies and a reader
 * holding another generation's model (sluice-http during a flip) finds the
 * same workload by id, never by a position an apply may have shifted. A
 * collision is probed on in model order (then only the colliding workloads'
 * ids depend on the rest of the set). Never 0 or SLUICE_NO_WORKLOAD.
 * *ids gets m->nworkloads entries (free() it); 0 or -ENOMEM. */
int sl_l4_workload_ids(const struct sl_model *m, uint32_t **ids);

/* The cgroup id of the Pod with this UID on this node (kubelet's layouts
 * under o->kubelet_root), 0 when it has none here. */
uint64_t sl_l4_pod_cgroup(const struct sl_l4_opts *o, const char *uid);

/* The index in ids (of n) holding wid, -1 when none does. */
int sl_l4_workload_index(const uint32_t *ids, size_t n, uint32_t wid);

/* Convenience lookups over a compiled generation (tests, dumps). */
const struct sluice_svc *sl_l4_find_svc(const struct sl_l4_gen *g, const uint8_t addr[16],
					uint16_t port, uint8_t proto);
const struct sluice_route *sl_l4_find_route(const struct sl_l4_gen *g, uint32_t route_id);
const struct sluice_subset *sl_l4_find_subset(const struct sl_l4_gen *g, uint32_t subset_id);
const struct sluice_backend *sl_l4_find_backend(const struct sl_l4_gen *g, uint32_t idx);

#endif /* SLUICE_COMPILE_L4_H */
