/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What this kernel offers the data plane, probed at start (sluiced logs it,
 * `sluicectl status` lists it): program types, map types and helpers through
 * libbpf's probes, and the kernel version for what cannot be probed without
 * attaching to a real interface (TCX). Each feature names the oldest kernel
 * that has it and what Sluice does without it (docs/operations.md, "Kernel
 * support"). The probes only load throw-away programs and maps; nothing is
 * attached.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sluice/dataplane.h"

static const struct sl_dp_feature_def {
	const char *name;
	const char *since;	/* oldest mainline kernel with it */
	const char *without;	/* what Sluice does without it */
} defs[] = {
	{ "cgroup sock_addr programs (connect4/6)", "4.17",
	  "nothing can be steered: sluiced does not start" },
	{ "bpf_set_retval in connect hooks", "5.18",
	  "connect hooks cannot load (ECONNREFUSED for empty services needs it)" },
	{ "socket local storage (sk_storage)", "5.2",
	  "connect hooks cannot load (getpeername, stats and sluice-http need it)" },
	{ "getpeername4/6 and recvmsg4/6 hooks", "5.8",
	  "getpeername shows the backend, not the VIP; the hooks are reported not attached" },
	{ "sockops programs", "4.13",
	  "no per-backend stats, LEAST_REQUEST without active counts, no connectionPool/"
	  "outlierDetection, no origdst for sluice-http" },
	{ "ring buffer (decision trace)", "5.8", "the socket programs cannot load" },
	{ "bpf_link for cgroup hooks", "5.7",
	  "hooks cannot be pinned: they would not outlive the daemon" },
	{ "XDP programs", "4.8", "--xdp uses TC ingress" },
	{ "devmap hash (XDP redirect targets)", "5.4", "--xdp cannot load the XDP program" },
	{ "TCX links (TC ingress/egress)", "6.6",
	  "--xdp cannot attach its reverse NAT: north-south is not available" },
};

static int kernel_at_least(int maj, int min)
{
	struct utsname u;
	int a = 0, b = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &a, &b) != 2)
		return 0;
	return a > maj || (a == maj && b >= min);
}

static int yes(int probe)
{
	return probe == 1;
}

size_t sl_dp_probe(struct sl_dp_feature *out, size_t max)
{
	int have[sizeof(defs) / sizeof(defs[0])];
	size_t i, n = sizeof(defs) / sizeof(defs[0]);

	have[0] = yes(libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL));
	have[1] = yes(libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
					      BPF_FUNC_set_retval, NULL));
	have[2] = yes(libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SK_STORAGE, NULL));
	/* the attach types of one program type cannot be probed apart
	 * without attaching: the version says it */
	have[3] = have[0] && kernel_at_least(5, 8);
	have[4] = yes(libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SOCK_OPS, NULL));
	have[5] = yes(libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL));
	have[6] = kernel_at_least(5, 7);
	have[7] = yes(libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, NULL));
	have[8] = yes(libbpf_probe_bpf_map_type(BPF_MAP_TYPE_DEVMAP_HASH, NULL));
	have[9] = kernel_at_least(6, 6);
	for (i = 0; i < n && i < max; i++) {
		out[i].name = defs[i].name;
		out[i].since = defs[i].since;
		out[i].without = defs[i].without;
		out[i].present = have[i] != 0;
	}
	return i;
}
