// SPDX-License-Identifier: Apache-2.0
/*
 * The map name table of include/sluice/maps.h and opening a map's pin by it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include <bpf/bpf.h>

#include "sluice/maps.h"

const char *const sl_map_names[SL_MAP_MAX] = {
	[SL_MAP_CTL] = "sluice_ctl",		[SL_MAP_GENCFG] = "sluice_gencfg",
	[SL_MAP_SVC] = "sluice_svc",		[SL_MAP_ROUTE] = "sluice_route",
	[SL_MAP_ROUTE_SRC] = "sluice_route_src",	[SL_MAP_CGROUP] = "sluice_cgroup",
	[SL_MAP_SUBSET] = "sluice_subset",	[SL_MAP_BACKEND] = "sluice_backend",
	[SL_MAP_STATS] = "sluice_stats",
	[SL_MAP_SOCK] = "sluice_sock",		[SL_MAP_ORIGDST] = "sluice_origdst",
	[SL_MAP_COUNTERS] = "sluice_counters",
	[SL_MAP_POOL] = "sluice_pool",		[SL_MAP_POOL_USE] = "sluice_pool_use",
	[SL_MAP_TRAFFIC] = "sluice_traffic",	[SL_MAP_FAULT] = "sluice_fault",
	[SL_MAP_EJECT] = "sluice_eject",
	[SL_MAP_TRACE_CFG] = "sluice_trace_cfg", [SL_MAP_TRACE] = "sluice_trace",
	[SL_MAP_TRACE_HTTP] = "sluice_trace_http",
	[SL_MAP_CT4] = "sluice_ct4",		[SL_MAP_CT4_REV] = "sluice_ct4_rev",
	[SL_MAP_CT6] = "sluice_ct6",		[SL_MAP_MAGLEV] = "sluice_maglev",
	[SL_MAP_XDP_TX] = "sluice_xdp_tx",	[SL_MAP_XDP_V6] = "sluice_xdp_v6",
	[SL_MAP_TC_V6] = "sluice_tc_v6",
};

int sl_map_open_pinned(const char *bpffs, enum sl_map map)
{
	char path[PATH_MAX];
	int fd;

	if ((unsigned)map >= SL_MAP_MAX)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", bpffs, sl_map_names[map]);
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}
