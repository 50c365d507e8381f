/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The BPF maps every program object includes (sock, sockops, iter, xdp,
 * tc), declared once: the policy tables of a generation, the per-socket and
 * per-backend state, the counters and the trace. The north-south maps
 * (conntrack sluice_ct4, sluice_ct4_rev, sluice_ct6; sluice_maglev; the
 * XDP/TC program arrays and sluice_xdp_tx) are declared once in
 * lib/maps_ns.h, included by bpf/xdp.bpf.c and bpf/tc.bpf.c only: libbpf
 * creates every map an object declares, and the socket objects must not
 * preallocate the conntrack LRU.
 *
 * Maps used by more than one object are pinned by name (LIBBPF_PIN_BY_NAME)
 * under the pin root given at open (opts->bpffs), so all objects and every
 * restart of sluiced share one instance. Keys and values are the BTF-typed
 * structs of sluice/abi.h, so `bpftool map dump pinned <root>/sluice_svc`
 * prints field names. Userspace names the maps of this file and of
 * lib/maps_ns.h through one table, include/sluice/maps.h (enum sl_map,
 * user/lib/dp_maps.c): a map added here gets a row there.
 *
 * Generation-keyed maps (key starts with __u32 gen) are written only by
 * sluiced (user/lib/dp_apply.c): a new generation is written beside the live
 * one, sluice_ctl.gen is flipped, readers are waited out, the old one is
 * deleted. See docs/dataplane.md.
 */
#ifndef SLUICE_BPF_MAPS_H
#define SLUICE_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sluice/abi.h"

#define SLUICE_MAX_SERVICES	65536	/* (gen, VIP, port) keys, two gens live */
#define SLUICE_MAX_ROUTE_ENTRIES 65536
#define SLUICE_MAX_SUBSET_ENTRIES 65536
#define SLUICE_MAX_BACKEND_ENTRIES 262144
#define SLUICE_MAX_STATS	65536
#define SLUICE_MAX_ORIGDST	65536

/* sluice_ctl[0]: the live generation. Writer: sluiced. Readers: all. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_ctl);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ctl SEC(".maps");

/* sluice_gencfg: gen -> mesh-wide settings (REGISTRY_ONLY, helper).
 * Writer: sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct sluice_gencfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_gencfg SEC(".maps");

/* sluice_svc: (gen, VIP or registered address, port, proto) -> service.
 * Writer: sluiced. Readers: connect4/6, xdp. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_svc_key);
	__type(value, struct sluice_svc);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_svc SEC(".maps");

/* sluice_route: (gen, route id) -> match + weighted subsets. Writer: sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_ROUTE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_route_key);
	__type(value, struct sluice_route);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_route SEC(".maps");

/* sluice_fault: (gen, route id) -> TCP fault of a SLUICE_ROUTE_FAULT route.
 * Writer: sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_ROUTE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_route_key);
	__type(value, struct sluice_fault);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_fault SEC(".maps");

/* sluice_route_src: (gen, route, workload) present = the workload's
 * sourceLabels match the route. Writer: sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_ROUTE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_route_src_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_route_src SEC(".maps");

/* sluice_cgroup: (gen, cgroup id) -> a local client (workload id, egress
 * scope). Writer: sluiced (from the sluice.io/cgroup annotation). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_cgroup_key);
	__type(value, struct sluice_client);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_cgroup SEC(".maps");

/* sluice_subset: (gen, subset id) -> load balancer + backend range.
 * Writer: sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_SUBSET_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_subset_key);
	__type(value, struct sluice_subset);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_subset SEC(".maps");

/* sluice_backend: (gen, index) -> backend address. Writer: sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_BACKEND_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_backend_key);
	__type(value, struct sluice_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_backend SEC(".maps");

/* sluice_stats: per (service, subset, backend) connection counters, across
 * generations. Writers: connect4/6 (opened), sockops (the rest), atomic
 * adds. Readers: LEAST_REQUEST (active), sluicectl stats. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_STATS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_stats_key);
	__type(value, struct sluice_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_stats SEC(".maps");

/* sluice_traffic: sluice_stats split by client workload, for the Istio TCP
 * metrics. Writers: connect4/6 (opened), sockops (closed, bytes), the
 * byte reporter bpf/iter.bpf.c. Reader: sluiced's metrics. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_STATS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_traffic_key);
	__type(value, struct sluice_traffic);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_traffic SEC(".maps");

/* sluice_sock: per-socket storage. Writer: connect4/6 (VIP, stats key) and
 * sockops (state). Readers: getpeername, recvmsg, sockops. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sluice_sk_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_sock SEC(".maps");

/* sluice_origdst: client local addr:port -> original VIP:port, for
 * connections sent to sluice-http. Writer: sockops (ACTIVE_ESTABLISHED),
 * deleted at close. Reader: sluice-http. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_MAX_ORIGDST);
	__type(key, struct sluice_origdst_key);
	__type(value, struct sluice_origdst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_origdst SEC(".maps");

/* sluice_counters: global event counters by enum sluice_counter.
 * Writers: all programs. Reader: sluicectl status/stats. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, __SLUICE_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_counters SEC(".maps");

/* sluice_pool: (gen, subset) -> connectionPool.tcp settings, for subsets
 * flagged SLUICE_SUBSET_F_POOL. Writer: sluiced. Readers: connect4/6,
 * sockops. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_SUBSET_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_pool_key);
	__type(value, struct sluice_pool);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_pool SEC(".maps");

/* sluice_pool_use: per subset, open connections counted against
 * maxConnections and the refusals. Writers: sockops (open, atomic adds),
 * connect4/6 (overflow). Reader: sluicectl stats. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_STATS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_pool_use_key);
	__type(value, struct sluice_pool_use);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_pool_use SEC(".maps");

/* sluice_eject: per backend (stats key) -> outlierDetection state.
 * Writer: sockops (failed and established connects). Readers: connect4/6. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_STATS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_stats_key);
	__type(value, struct sluice_eject);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_eject SEC(".maps");

/* sluice_trace_cfg[0]: the decision trace switch and its rate window.
 * Writer: sluicectl trace (until_ns, sample, max_per_sec); the programs
 * advance the window and count. See struct sluice_trace_cfg. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);	/* the reader writes until_ns in place */
	__type(key, __u32);
	__type(value, struct sluice_trace_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_trace_cfg SEC(".maps");

/* sluice_trace: decision records (struct sluice_trace_rec) while the trace
 * is on. Writers: connect4/6 (bpf/lib/trace.h). Reader: sluicectl trace. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_trace SEC(".maps");

/* sluice_trace_http: sluice-http's request decisions while the trace is
 * on (struct sluice_trace_http_rec). Writer: sluice-http (push); reader:
 * sluicectl trace (pop). No program touches it: it is here so that the
 * data plane creates and pins it with the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4096);
	__type(value, struct sluice_trace_http_rec);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_trace_http SEC(".maps");

static __always_inline void sluice_count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&sluice_counters, &which);

	/* fail-open: a missing counter slot only loses a count */
	if (c)
		*c += 1;
}

/* The live generation, read once per program run; 0 = no policy. */
static __always_inline __u32 sluice_live_gen(void)
{
	__u32 zero = 0;
	struct sluice_ctl *ctl = bpf_map_lookup_elem(&sluice_ctl, &zero);

	/* fail-open: without a control slot nothing is steered */
	return ctl ? ctl->gen : 0;
}

#endif /* SLUICE_BPF_MAPS_H */
