/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The two filesystems the data plane stands on: a bpffs for the pins and a
 * cgroup v2 hierarchy for the socket hooks.
 *
 * A freshly booted host may have no bpffs mounted at /sys/fs/bpf (systemd
 * mounts it on most distributions, a minimal image does not). Like Cilium's
 * agent, sl_bpffs_ensure mounts one there when the pin root lies below
 * /sys/fs/bpf and nothing is mounted yet; any other location must already be
 * on a bpffs, since mounting over an arbitrary directory would hide what is
 * there. Used by sl_dp_open and sl_xdp_open, so sluiced, the BPF tests and the
 * bench drivers all take the same path.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/vfs.h>

#include <linux/magic.h>

#include "lib/dp_int.h"

#define BPFFS_DEFAULT "/sys/fs/bpf"

/* The deepest existing directory on the way to path (path itself when it
 * exists), in buf. */
static int existing_ancestor(const char *path, char *buf, size_t len)
{
	struct stat st;
	char *slash;

	if (snprintf(buf, len, "%s", path) >= (int)len)
		return -ENAMETOOLONG;
	for (;;) {
		size_t n = strlen(buf);

		while (n > 1 && buf[n - 1] == '/')
			buf[--n] = '\0';
		if (!stat(buf, &st))
			return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
		if (errno != ENOENT)
			return -errno;
		slash = strrchr(buf, '/');
		if (!slash)
			return -ENOENT;
		if (slash == buf)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
}

static bool is_fs(const char *path, long magic)
{
	struct statfs sfs;

	return !statfs(path, &sfs) && (long)sfs.f_type == magic;
}

/* path is /sys/fs/bpf or below it */
static bool under_default(const char *path)
{
	size_t n = strlen(BPFFS_DEFAULT);

	return !strncmp(path, BPFFS_DEFAULT, n) && (path[n] == '\0' || path[n] == '/');
}

int sl_bpffs_ensure(const char *pin_root, bool *mounted, char *err)
{
	char dir[PATH_MAX];
	int rc;

	if (mounted)
		*mounted = false;
	if (!pin_root || pin_root[0] != '/') {
		sl_dp_err(err, "bpffs: need an absolute path");
		return -EINVAL;
	}
	rc = existing_ancestor(pin_root, dir, sizeof(dir));
	if (rc) {
		sl_dp_err(err, "bpffs %s: %s", pin_root, strerror(-rc));
		return rc;
	}
	if (is_fs(dir, BPF_FS_MAGIC))
		return 0;
	if (!under_default(pin_root)) {
		sl_dp_err(err, "bpffs: %s is not on a bpf filesystem; mount one "
			  "(mount -t bpf bpf DIR) or use a pin root under " BPFFS_DEFAULT, pin_root);
		return -ENOTSUP;
	}
	/* Nothing mounted at /sys/fs/bpf yet (dir is /sys/fs/bpf itself or
	 * sysfs above it). The mode keeps pins private to root, as systemd's
	 * own mount of it does. */
	if (mount("bpf", BPFFS_DEFAULT, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700")) {
		rc = -errno;
		sl_dp_err(err, "no bpffs at " BPFFS_DEFAULT " and mounting one failed: %s "
			  "(mount it on the host: mount -t bpf bpf " BPFFS_DEFAULT ")", strerror(errno));
		return rc;
	}
	if (mounted)
		*mounted = true;
	return 0;
}

int sl_cgroup2_root(char *buf, size_t len, char *err)
{
	char dev[256], mnt[PATH_MAX], type[64];
	FILE *f = fopen("/proc/mounts", "re");
	int rc = -ENOENT;

	if (!f) {
		rc = -errno;
		sl_dp_err(err, "/proc/mounts: %s", strerror(errno));
		return rc;
	}
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, mnt, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			snprintf(buf, len, "%s", mnt);
			rc = 0;
			break;
		}
	}
	fclose(f);
	if (rc)
		sl_dp_err(err, "no cgroup v2 hierarchy is mounted (none in /proc/mounts); "
			  "Sluice's socket hooks need one: mount -t cgroup2 none /sys/fs/cgroup "
			  "or boot with systemd.unified_cgroup_hierarchy=1");
	return rc;
}

int sl_cgroup2_check(const char *path, char *err)
{
	struct stat st;

	if (stat(path, &st)) {
		int rc = -errno;

		sl_dp_err(err, "cgroup %s: %s", path, strerror(errno));
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		sl_dp_err(err, "cgroup %s: not a directory", path);
		return -ENOTDIR;
	}
	if (!is_fs(path, CGROUP2_SUPER_MAGIC)) {
		sl_dp_err(err, "cgroup %s is not in a cgroup v2 hierarchy (a v1 controller "
			  "or another filesystem); give --cgroup a directory under the cgroup2 mount",
			  path);
		return -EINVAL;
	}
	return 0;
}
