/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data-plane life cycle: load the socket programs with their maps pinned by
 * name under opts->bpffs, attach them to the cgroup with bpf_links pinned
 * under <bpffs>/links/, re-adopt what a previous sluiced left running, and
 * remove everything again (sl_dp_reset).
 *
 * Re-adoption without a gap: libbpf reuses the pinned maps (same policy,
 * same generation, same counters) and each pinned link is opened and
 * switched to the freshly loaded program with BPF_LINK_UPDATE, an atomic
 * replace: at no moment is the hook empty.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sock.skel.h"
#include "sockops.skel.h"
#include "iter.skel.h"
#include "lib/dp_int.h"

void sl_dp_err(char *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err, SL_DP_ERRLEN, fmt, ap);
	va_end(ap);
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		tmp[i] = i < n ? '/' : '\0';
	}
	return 0;
}

/* The pin root must be a directory of its own under a bpffs, never the
 * bpffs root itself: reset removes everything below it. */
static int check_root(const char *bpffs, char *err)
{
	size_t n = bpffs ? strlen(bpffs) : 0;

	if (!n || bpffs[0] != '/' || n >= 1024 - 64) {
		sl_dp_err(err, "bpffs: need an absolute path");
		return -EINVAL;
	}
	if (!strcmp(bpffs, "/") || !strcmp(bpffs, "/sys/fs/bpf") || !strcmp(bpffs, "/sys/fs/bpf/")) {
		sl_dp_err(err, "bpffs: %s is a mount root, not a Sluice pin directory", bpffs);
		return -EINVAL;
	}
	return 0;
}

static uint64_t cgroup_ino(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (uint64_t)st.st_ino;
}

/* Attach prog as hook `name`: adopt and update a pinned link when there is
 * one on the same cgroup, else create and pin a new link. Records the
 * outcome in dp->hooks (a hook that cannot attach is reported, not fatal). */
static void attach_hook(struct sl_dp *dp, const char *name, struct bpf_program *prog, int cgfd)
{
	struct sl_dp_hook *h = &dp->hooks[dp->nhooks];
	struct bpf_link **lp = &dp->links[dp->nhooks];
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	struct bpf_link *l;
	int rc;

	dp->nhooks++;
	h->name = name;
	if (!prog || !bpf_program__autoload(prog)) {
		snprintf(h->why, sizeof(h->why), "not loaded by this kernel: %s",
			 strerror(prog ? dp->sock_err : dp->ops_err));
		return;
	}
	snprintf(path, sizeof(path), "%s/links/%s", dp->bpffs, name);
	l = access(path, F_OK) ? NULL : bpf_link__open(path);
	if (l) {
		memset(&info, 0, sizeof(info));
		rc = bpf_obj_get_info_by_fd(bpf_link__fd(l), &info, &len);
		if (!rc && info.type == BPF_LINK_TYPE_CGROUP &&
		    info.cgroup.cgroup_id == cgroup_ino(dp->cgroup)) {
			rc = bpf_link__update_program(l, prog);
			h->attached = true;
			if (rc)
				snprintf(h->why, sizeof(h->why),
					 "kept the running program (update: %s)", strerror(-rc));
			*lp = l;
			return;
		}
		/* pinned on another cgroup (--cgroup changed): move it */
		bpf_link__unpin(l);
		bpf_link__destroy(l);
	}
	l = bpf_program__attach_cgroup(prog, cgfd);
	if (!l) {
		snprintf(h->why, sizeof(h->why), "%s", strerror(errno));
		return;
	}
	rc = bpf_link__pin(l, path);
	if (rc) {
		snprintf(h->why, sizeof(h->why), "attached but not pinned: %s", strerror(-rc));
		/* unpinned it would die with the daemon: report, keep it */
	}
	h->attached = true;
	*lp = l;
}

/* Load bpf/sock.bpf.c. When the full set does not load, retry with only
 * the connect hooks (getpeername needs 5.8, recvmsg 4.18+, a hardened
 * kernel may refuse one): the others are then reported, not fatal. */
static int load_sock(struct sl_dp *dp, const struct bpf_object_open_opts *oo)
{
	int rc;

	dp->sock = sluice_sock__open_opts(oo);
	if (!dp->sock)
		return -errno;
	rc = sluice_sock__load(dp->sock);
	if (!rc)
		return 0;
	dp->sock_err = -rc;
	sluice_sock__destroy(dp->sock);
	dp->sock = sluice_sock__open_opts(oo);
	if (!dp->sock)
		return -errno;
	bpf_program__set_autoload(dp->sock->progs.sluice_getpeername4, false);
	bpf_program__set_autoload(dp->sock->progs.sluice_getpeername6, false);
	bpf_program__set_autoload(dp->sock->progs.sluice_recvmsg4, false);
	bpf_program__set_autoload(dp->sock->progs.sluice_recvmsg6, false);
	return sluice_sock__load(dp->sock);
}

/* The byte reporter (bpf/iter.bpf.c), optional: without it (a kernel
 * without TCP iterators, 5.9+, or without BTF) bytes are counted at close
 * only. Its link is not pinned: it only runs when sluiced reads. */
static void load_iter(struct sl_dp *dp, const struct bpf_object_open_opts *oo)
{
	int rc;

	dp->iter = sluice_iter__open_opts(oo);
	if (!dp->iter) {
		dp->iter_err = errno;
		return;
	}
	rc = sluice_iter__load(dp->iter);
	if (!rc) {
		dp->iter_link = bpf_program__attach_iter(dp->iter->progs.sluice_report, NULL);
		if (!dp->iter_link)
			rc = -errno;
	}
	if (rc) {
		dp->iter_err = -rc;
		sluice_iter__destroy(dp->iter);
		dp->iter = NULL;
	}
}

static int sync_map_create(struct sl_dp *dp)
{
	__u32 zero = 0;
	int inner;

	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "sluice_sync_in", 4, 4, 1, NULL);
	if (inner < 0)
		return -errno;
	LIBBPF_OPTS(bpf_map_create_opts, o, .inner_map_fd = inner);
	dp->sync_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "sluice_sync", 4, 4, 1, &o);
	if (dp->sync_fd < 0) {
		close(inner);
		return -errno;
	}
	dp->sync_inner_fd = inner;
	(void)zero;
	return 0;
}

int sl_dp_barrier(struct sl_dp *dp)
{
	__u32 zero = 0;

	/* the kernel runs synchronize_rcu() after a map-in-map update from
	 * userspace (maybe_wait_bpf_programs); cgroup programs run under RCU */
	if (dp->sync_fd < 0)
		return -EBADF;
	if (bpf_map_update_elem(dp->sync_fd, &zero, &dp->sync_inner_fd, BPF_ANY))
		return -errno;
	return 0;
}

static struct sl_dp *dp_new(const char *bpffs)
{
	struct sl_dp *dp = calloc(1, sizeof(*dp));
	int i;

	if (!dp)
		return NULL;
	for (i = 0; i < SL_MAP_NSOCK; i++)
		dp->fds[i] = -1;
	dp->sync_fd = dp->sync_inner_fd = -1;
	snprintf(dp->bpffs, sizeof(dp->bpffs), "%s", bpffs);
	return dp;
}

int sl_dp_open(const struct sl_dp_opts *opts, struct sl_dp **out, char *err)
{
	struct sl_dp *dp = NULL;
	char path[PATH_MAX];
	int rc, cgfd = -1;

	*out = NULL;
	if ((rc = check_root(opts->bpffs, err)))
		return rc;
	dp = dp_new(opts->bpffs);
	if (!dp)
		return -ENOMEM;
	snprintf(dp->cgroup, sizeof(dp->cgroup), "%s", opts->cgroup ? opts->cgroup : "");
	dp->opts = *opts;
	dp->opts.bpffs = dp->bpffs;
	dp->opts.cgroup = dp->cgroup;

	if ((rc = sl_bpffs_ensure(dp->bpffs, NULL, err)))
		goto cleanup;
	snprintf(path, sizeof(path), "%s/links", dp->bpffs);
	if ((rc = mkdir_p(path))) {
		sl_dp_err(err, "bpffs %s: %s", path, strerror(-rc));
		goto cleanup;
	}
	cgfd = open(dp->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0) {
		rc = -errno;
		sl_dp_err(err, "cgroup %s: %s", dp->cgroup, strerror(errno));
		goto cleanup;
	}

	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = dp->bpffs);
	rc = load_sock(dp, &oo);
	if (rc) {
		sl_dp_err(err, "load BPF programs (pins under %s incompatible? try reset): %s",
			  dp->bpffs, strerror(-rc));
		goto cleanup;
	}
	/* sockops is optional: without it there are no per-backend stats and
	 * LEAST_REQUEST sees no active counts; reported as a hook */
	dp->ops = sluice_sockops__open_opts(&oo);
	if (!dp->ops || sluice_sockops__load(dp->ops)) {
		dp->ops_err = errno ? errno : EINVAL;
		sluice_sockops__destroy(dp->ops);
		dp->ops = NULL;
	}
	dp->fds[SL_MAP_CTL] = bpf_map__fd(dp->sock->maps.sluice_ctl);
	dp->fds[SL_MAP_GENCFG] = bpf_map__fd(dp->sock->maps.sluice_gencfg);
	dp->fds[SL_MAP_SVC] = bpf_map__fd(dp->sock->maps.sluice_svc);
	dp->fds[SL_MAP_ROUTE] = bpf_map__fd(dp->sock->maps.sluice_route);
	dp->fds[SL_MAP_ROUTE_SRC] = bpf_map__fd(dp->sock->maps.sluice_route_src);
	dp->fds[SL_MAP_CGROUP] = bpf_map__fd(dp->sock->maps.sluice_cgroup);
	dp->fds[SL_MAP_SUBSET] = bpf_map__fd(dp->sock->maps.sluice_subset);
	dp->fds[SL_MAP_BACKEND] = bpf_map__fd(dp->sock->maps.sluice_backend);
	dp->fds[SL_MAP_STATS] = bpf_map__fd(dp->sock->maps.sluice_stats);
	dp->fds[SL_MAP_SOCK] = bpf_map__fd(dp->sock->maps.sluice_sock);
	dp->fds[SL_MAP_ORIGDST] = bpf_map__fd(dp->sock->maps.sluice_origdst);
	dp->fds[SL_MAP_COUNTERS] = bpf_map__fd(dp->sock->maps.sluice_counters);
	dp->fds[SL_MAP_POOL] = bpf_map__fd(dp->sock->maps.sluice_pool);
	dp->fds[SL_MAP_POOL_USE] = bpf_map__fd(dp->sock->maps.sluice_pool_use);
	dp->fds[SL_MAP_TRAFFIC] = bpf_map__fd(dp->sock->maps.sluice_traffic);
	dp->fds[SL_MAP_FAULT] = bpf_map__fd(dp->sock->maps.sluice_fault);
	dp->fds[SL_MAP_EJECT] = bpf_map__fd(dp->sock->maps.sluice_eject);
	load_iter(dp, &oo);
	if ((rc = sync_map_create(dp))) {
		sl_dp_err(err, "create the apply barrier map: %s", strerror(-rc));
		goto cleanup;
	}

	attach_hook(dp, "connect4", dp->sock->progs.sluice_connect4, cgfd);
	attach_hook(dp, "connect6", dp->sock->progs.sluice_connect6, cgfd);
	attach_hook(dp, "getpeername4", dp->sock->progs.sluice_getpeername4, cgfd);
	attach_hook(dp, "getpeername6", dp->sock->progs.sluice_getpeername6, cgfd);
	attach_hook(dp, "recvmsg4", dp->sock->progs.sluice_recvmsg4, cgfd);
	attach_hook(dp, "recvmsg6", dp->sock->progs.sluice_recvmsg6, cgfd);
	attach_hook(dp, "sockops", dp->ops ? dp->ops->progs.sluice_sockops : NULL, cgfd);
	if (!dp->hooks[0].attached) {
		rc = -EOPNOTSUPP;
		sl_dp_err(err, "cannot attach connect4 to %s: %s", dp->cgroup, dp->hooks[0].why);
		goto cleanup;
	}
	/* a crashed apply may have left a half-written generation */
	sl_dp_gc(dp, sl_dp_generation(dp));
	*out = dp;
	dp = NULL;
cleanup:
	if (cgfd >= 0)
		close(cgfd);
	sl_dp_close(dp);
	return rc;
}

/* A handle on the maps pinned under bpffs, no program loaded: read-only
 * (sl_dp_open_pinned) or for applying (sl_dp_open_maps). */
static int open_pins(const char *bpffs, bool readonly, struct sl_dp **out, char *err)
{
	struct sl_dp *dp;
	char path[PATH_MAX];
	int i, rc = 0;

	*out = NULL;
	if ((rc = check_root(bpffs, err)))
		return rc;
	dp = dp_new(bpffs);
	if (!dp)
		return -ENOMEM;
	dp->readonly = readonly;
	dp->own_fds = true;
	for (i = 0; i < SL_MAP_NSOCK; i++) {
		snprintf(path, sizeof(path), "%s/%s", bpffs, sl_map_names[i]);
		dp->fds[i] = bpf_obj_get(path);
		/* sluice_sock is not pinned; the pool, traffic and fault
		 * maps are absent from the pins of an older sluiced */
		if (dp->fds[i] < 0 && i != SL_MAP_SOCK && i != SL_MAP_POOL && i != SL_MAP_POOL_USE &&
		    i != SL_MAP_TRAFFIC && i != SL_MAP_FAULT && i != SL_MAP_EJECT) {
			rc = -errno;
			sl_dp_err(err, "%s: %s (is the data plane loaded?)", path, strerror(errno));
			sl_dp_close(dp);
			return rc;
		}
	}
	if (!readonly && (rc = sync_map_create(dp))) {
		sl_dp_err(err, "create the apply barrier map: %s", strerror(-rc));
		sl_dp_close(dp);
		return rc;
	}
	*out = dp;
	return 0;
}

int sl_dp_open_pinned(const char *bpffs, struct sl_dp **out, char *err)
{
	return open_pins(bpffs, true, out, err);
}

int sl_dp_open_maps(const char *bpffs, struct sl_dp **out, char *err)
{
	return open_pins(bpffs, false, out, err);
}

uint32_t sl_dp_generation(const struct sl_dp *dp)
{
	struct sluice_ctl ctl = { 0 };
	__u32 zero = 0;

	if (!dp || dp->fds[SL_MAP_CTL] < 0 || bpf_map_lookup_elem(dp->fds[SL_MAP_CTL], &zero, &ctl))
		return 0;
	return ctl.gen;
}

size_t sl_dp_hooks(const struct sl_dp *dp, const struct sl_dp_hook **hooks)
{
	*hooks = dp->hooks;
	return dp->nhooks;
}

void sl_dp_close(struct sl_dp *dp)
{
	size_t i;

	if (!dp)
		return;
	for (i = 0; i < dp->nhooks; i++) {
		int lfd;

		if (!dp->links[i])
			continue;
		/* pinned: closing our fd leaves the program attached. A
		 * disconnected link is freed by libbpf without closing its fd
		 * (only the detach path closes it), so close it here, or every
		 * open/close cycle leaks one fd per hook and keeps a reset link
		 * (and its program) alive in this process. */
		lfd = bpf_link__fd(dp->links[i]);
		bpf_link__disconnect(dp->links[i]);
		bpf_link__destroy(dp->links[i]);
		if (lfd >= 0)
			close(lfd);
	}
	if (dp->own_fds) {
		for (i = 0; i < SL_MAP_NSOCK; i++)
			if (dp->fds[i] >= 0)
				close(dp->fds[i]);
	}
	if (dp->sync_fd >= 0)
		close(dp->sync_fd);
	if (dp->sync_inner_fd >= 0)
		close(dp->sync_inner_fd);
	bpf_link__destroy(dp->iter_link);
	sluice_iter__destroy(dp->iter);
	sluice_sock__destroy(dp->sock);
	sluice_sockops__destroy(dp->ops);
	free(dp->stale);
	sl_l4_gen_free(&dp->live);
	free(dp->reap);
	free(dp);
}

/* Remove dir's pins: links first detached (BPF_LINK_DETACH, so a program
 * stops even if something else still holds the link), then everything
 * unlinked, subdirectories included. */
static int reset_dir(const char *dir, bool links, char *err)
{
	char path[PATH_MAX];
	struct dirent *de;
	int rc = 0, fd;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR) {
			int r = reset_dir(path, links || !strcmp(de->d_name, "links"), err);

			if (!r && rmdir(path))
				r = -errno;
			if (r && !rc)
				rc = r;
			continue;
		}
		if (links) {
			fd = bpf_obj_get(path);
			if (fd >= 0) {
				/* not a link (a stray map) or old kernel: unpin anyway */
				bpf_link_detach(fd);
				close(fd);
			}
		}
		if (unlink(path) && !rc) {
			rc = -errno;
			sl_dp_err(err, "unpin %s: %s", path, strerror(errno));
		}
	}
	closedir(d);
	return rc;
}

int sl_dp_reset(const char *bpffs, char *err)
{
	char path[PATH_MAX];
	int rc;

	if ((rc = check_root(bpffs, err)))
		return rc;
	/* links before maps, so nothing runs against a half-removed set */
	snprintf(path, sizeof(path), "%s/links", bpffs);
	rc = reset_dir(path, true, err);
	if (!rc && rmdir(path) && errno != ENOENT)
		rc = -errno;
	if (!rc)
		rc = reset_dir(bpffs, false, err);
	if (!rc && rmdir(bpffs) && errno != ENOENT) {
		rc = -errno;
		sl_dp_err(err, "rmdir %s: %s", bpffs, strerror(errno));
	}
	return rc;
}
