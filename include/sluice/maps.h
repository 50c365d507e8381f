/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The BPF maps as userspace names them: one table of the names the maps are
 * declared and pinned under (bpf/lib/maps.h, bpf/lib/maps_ns.h), so C code
 * names a map by its enum and never spells its name (user/lib/dp_maps.c).
 */
#ifndef SLUICE_MAPS_H
#define SLUICE_MAPS_H

enum sl_map {
	/* the socket data plane's maps (bpf/lib/maps.h), in sl_dp's fds[] */
	SL_MAP_CTL, SL_MAP_GENCFG, SL_MAP_SVC, SL_MAP_ROUTE, SL_MAP_ROUTE_SRC, SL_MAP_CGROUP,
	SL_MAP_SUBSET, SL_MAP_BACKEND, SL_MAP_STATS, SL_MAP_SOCK, SL_MAP_ORIGDST,
	SL_MAP_COUNTERS, SL_MAP_POOL, SL_MAP_POOL_USE, SL_MAP_TRAFFIC, SL_MAP_FAULT,
	SL_MAP_EJECT,
	SL_MAP_NSOCK,
	/* the trace ring and its switch (bpf/lib/maps.h, read by sluicectl trace) */
	SL_MAP_TRACE_CFG = SL_MAP_NSOCK, SL_MAP_TRACE, SL_MAP_TRACE_HTTP,
	/* north-south only (bpf/lib/maps_ns.h, the XDP and TC objects) */
	SL_MAP_CT4, SL_MAP_CT4_REV, SL_MAP_CT6, SL_MAP_MAGLEV, SL_MAP_XDP_TX,
	SL_MAP_XDP_V6, SL_MAP_TC_V6,
	SL_MAP_MAX
};

/* Names by enum sl_map. */
extern const char *const sl_map_names[SL_MAP_MAX];

/* The fd of map's pin under the pin root bpffs, or -errno. */
int sl_map_open_pinned(const char *bpffs, enum sl_map map);

#endif /* SLUICE_MAPS_H */
