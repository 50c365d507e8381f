/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel probes (user/lib/dp_probe.c) agree with what this kernel
 * does: each map-type feature is checked by creating such a map directly,
 * the version-derived ones against uname, and every feature names the
 * kernel that brought it and what Sluice does without it. TAP on stdout.
 */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "sluice/dataplane.h"
#include "tap.h"

static int map_ok(enum bpf_map_type t, __u32 key, __u32 val, __u32 max)
{
	int fd = bpf_map_create(t, "sl_probe_test", key, val, max, NULL);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static const struct sl_dp_feature *find(const struct sl_dp_feature *f, size_t n, const char *pfx)
{
	for (size_t i = 0; i < n; i++)
		if (!strncmp(f[i].name, pfx, strlen(pfx)))
			return &f[i];
	return NULL;
}

int main(void)
{
	struct sl_dp_feature f[SL_DP_NFEATURES];
	size_t n = sl_dp_probe(f, SL_DP_NFEATURES), i;
	const struct sl_dp_feature *x;
	struct utsname u;
	int maj = 0, min = 0, named = 1;

	if (geteuid() != 0)
		return tap_skip("needs root");
	uname(&u);
	sscanf(u.release, "%d.%d", &maj, &min);
	tap_plan(5);
	for (i = 0; i < n; i++) {
		printf("# %s: %s (Linux %s+)\n", f[i].name, f[i].present ? "yes" : "no", f[i].since);
		named &= f[i].since[0] && f[i].without[0];
	}
	tap(n == SL_DP_NFEATURES && named,
	    "%zu features probed, each with its kernel and its fallback", n);
#define CHECK(pfx, want)                                                              \
	do {                                                                           \
		x = find(f, n, pfx);                                                   \
		tap(x && x->present == (want), "probe \"%s\" agrees with the kernel (%s)", \
		    pfx, (want) ? "present" : "absent");                               \
	} while (0)
	CHECK("ring buffer", map_ok(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096));
	CHECK("devmap hash", map_ok(BPF_MAP_TYPE_DEVMAP_HASH, 4, 4, 1));
	CHECK("TCX", maj > 6 || (maj == 6 && min >= 6));
	CHECK("bpf_set_retval", maj > 5 || (maj == 5 && min >= 18));
	return tap_status();
}
