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
	int failed = 0, maj = 0, min = 0, named = 1;

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root\n");
		return 0;
	}
	uname(&u);
	sscanf(u.release, "%d.%d", &maj, &min);
	printf("1..5\n");
	for (i = 0; i < n; i++) {
		printf("# %s: %s (Linux %s+)\n", f[i].name, f[i].present ? "yes" : "no", f[i].since);
		named &= f[i].since[0] && f[i].without[0];
	}
	printf("%s - %zu features probed, each with its kernel and its fallback\n",
	       n == SL_DP_NFEATURES && named ? "ok" : "not ok", n);
	failed += !(n == SL_DP_NFEATURES && named);
#define CHECK(pfx, want)                                                              \
	do {                                                                           \
		x = find(f, n, pfx);                                                   \
		int ok_ = x && x->present == (want);                                   \
		printf("%s - probe \"%s\" agrees with the kernel (%s)\n", ok_ ? "ok" : "not ok", \
		       pfx, (want) ? "present" : "absent");                            \
		failed += !ok_;                                                        \
	} while (0)
	CHECK("ring buffer", map_ok(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096));
	CHECK("devmap hash", map_ok(BPF_MAP_TYPE_DEVMAP_HASH, 4, 4, 1));
	CHECK("TCX", maj > 6 || (maj == 6 && min >= 6));
	CHECK("bpf_set_retval", maj > 5 || (maj == 5 && min >= 18));
	return failed ? 1 : 0;
}
