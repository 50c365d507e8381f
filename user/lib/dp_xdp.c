// SPDX-License-Identifier: Apache-2.0
/*
 * North-south attach (include/sluice/xdp.h): load the XDP and TC objects
 * against the data plane's pin root (they share the selection tables,
 * sluice_counters and sluice_ct4/ct6 with everything else by name), attach XDP
 * to each --xdp interface (native, else generic, else the TC ingress
 * fallback) and the TC reverse NAT at its egress, all as bpf_links pinned
 * under <bpffs>/links/ as "xdp-IFNAME" (or "tcx-ingress-IFNAME") and
 * "tcx-egress-IFNAME". Pinned links survive the daemon and
 * are removed by sl_dp_reset (which unpins everything in <bpffs>/links) or sl_xdp_reset.
 * Re-open swaps the program inside an existing link (bpf_link_update): no
 * gap in forwarding across a daemon restart or upgrade.
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/dp_int.h"
#include "sluice/xdp.h"
#include "xdp.skel.h"
#include "tc.skel.h"

#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46	/* uapi values since Linux 6.6; libbpf 1.1 predates them */
#define BPF_TCX_EGRESS 47
#endif

#define SL_XDP_MAX_IFACES 8

struct sl_xdp {
	char bpffs[PATH_MAX / 2];
	char redirect_to[256];		/* opts->redirect_to, '+'-separated */
	struct sluice_xdp *xdp;
	struct sluice_tc *tc;
	struct sl_xdp_iface ifs[SL_XDP_MAX_IFACES];
	int link_fds[SL_XDP_MAX_IFACES][2];	/* XDP or TC ingress, TC egress */
	size_t nifs;
};

/* Reuse the pinned link at path (swap its program) or create one with
 * create(); pin it. Returns the link fd or -errno. */
static int link_at(const char *path, int prog_fd, int ifindex, enum bpf_attach_type type,
		   __u32 flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = flags);
	int fd = bpf_obj_get(path);

	if (fd >= 0) {
		if (!bpf_link_update(fd, prog_fd, NULL))
			return fd;
		/* a stale link (other interface, old mode): replace it */
		close(fd);
		unlink(path);
	}
	fd = bpf_link_create(prog_fd, ifindex, type, &lo);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, path)) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

/* The mode the kernel reports for the XDP program on ifindex. */
static const char *xdp_mode_name(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return "unknown";
	switch (q.attach_mode) {
	case XDP_ATTACHED_DRV:
		return "native";
	case XDP_ATTACHED_SKB:
		return "generic";
	case XDP_ATTACHED_HW:
		return "offload";
	case XDP_ATTACHED_MULTI:
		return "multi";
	default:
		return "none";
	}
}

/* The interface's driver is veth (ethtool's driver name). */
static bool is_veth(const char *name)
{
	struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { 0 };
	bool veth = false;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return false;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = (void *)&di;
	if (!ioctl(fd, SIOCETHTOOL, &ifr))
		veth = !strcmp(di.driver, "veth");
	close(fd);
	return veth;
}

/* Attach the DNAT side on one interface: XDP native, else generic, else
 * (mode auto or tc) the TC ingress fallback; then the TC egress reverse
 * NAT. In mode auto a veth gets TC ingress: XDP frames redirected into a
 * veth are dropped unless its peer runs NAPI, and local senders behind a
 * veth leave TCP checksums to offload, which an XDP frame never gets; TC
 * sees the skb and forwards through the stack (docs/xdp.md). Links pinned
 * as xdp-IFACE or tcx-ingress-IFACE, tcx-egress-IFACE. */
static int attach_iface(struct sl_xdp *x, const struct sl_xdp_opts *o, const char *name,
			char *err)
{
	struct sl_xdp_iface *f = &x->ifs[x->nifs];
	int *fds = x->link_fds[x->nifs];
	char path[PATH_MAX];
	int xfd = bpf_program__fd(x->xdp->progs.sluice_xdp);
	int ifd = bpf_program__fd(x->tc->progs.sluice_tc_ingress);
	int tfd = bpf_program__fd(x->tc->progs.sluice_tc_revnat);
	int fd = -EINVAL, gfd = -EINVAL;

	if (strlen(name) >= sizeof(f->name) || !(f->ifindex = (int)if_nametoindex(name))) {
		sl_dp_err(err, "--xdp %s: no such interface", name);
		return -ENODEV;
	}
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->veth = is_veth(name);
	snprintf(path, sizeof(path), "%s/links/xdp-%s", x->bpffs, name);
	if (o->mode == SL_XDP_MODE_AUTO && f->veth) {
		snprintf(f->why, sizeof(f->why), "veth: TC ingress (XDP frames into veths need "
			 "NAPI on the peer; local senders leave checksums partial)");
		gfd = -EOPNOTSUPP;	/* straight to the TC ingress branch below */
	} else if (o->mode == SL_XDP_MODE_AUTO || o->mode == SL_XDP_MODE_NATIVE) {
		fd = link_at(path, xfd, f->ifindex, BPF_XDP, XDP_FLAGS_DRV_MODE);
	}
	if (fd < 0 && !(o->mode == SL_XDP_MODE_AUTO && f->veth) &&
	    (o->mode == SL_XDP_MODE_AUTO || o->mode == SL_XDP_MODE_GENERIC)) {
		if (o->mode == SL_XDP_MODE_AUTO)
			snprintf(f->why, sizeof(f->why), "native: %s", strerror(-fd));
		fd = gfd = link_at(path, xfd, f->ifindex, BPF_XDP, XDP_FLAGS_SKB_MODE);
	}
	if (fd >= 0) {
		snprintf(f->mode, sizeof(f->mode), "%s", xdp_mode_name(f->ifindex));
	} else if (o->mode == SL_XDP_MODE_AUTO || o->mode == SL_XDP_MODE_TC) {
		if (o->mode == SL_XDP_MODE_AUTO && !f->veth)
			snprintf(f->why, sizeof(f->why), "XDP: %s; TC ingress fallback",
				 strerror(-gfd));
		unlink(path);	/* no stale XDP link beside the TC one */
		snprintf(path, sizeof(path), "%s/links/tcx-ingress-%s", x->bpffs, name);
		fd = link_at(path, ifd, f->ifindex, BPF_TCX_INGRESS, 0);
		if (fd < 0) {
			sl_dp_err(err, "--xdp %s: neither XDP nor TC ingress can attach: %s", name,
			     strerror(-fd));
			return fd;
		}
		snprintf(f->mode, sizeof(f->mode), "tc-ingress");
		f->tc_ingress = true;
	} else {
		sl_dp_err(err, "--xdp %s: XDP cannot attach in %s mode: %s", name,
		     o->mode == SL_XDP_MODE_NATIVE ? "native" : "generic", strerror(-fd));
		return fd;
	}
	if (!f->tc_ingress) {
		/* a TC ingress link left from an earlier fallback run */
		snprintf(path, sizeof(path), "%s/links/tcx-ingress-%s", x->bpffs, name);
		unlink(path);
	}
	fds[0] = fd;
	snprintf(path, sizeof(path), "%s/links/tcx-egress-%s", x->bpffs, name);
	fd = link_at(path, tfd, f->ifindex, BPF_TCX_EGRESS, 0);
	if (fd < 0) {
		sl_dp_err(err, "--xdp %s: TC egress reverse NAT cannot attach: %s", name, strerror(-fd));
		return fd;
	}
	fds[1] = fd;
	f->tc_egress = true;
	x->nifs++;
	return 0;
}

/* name is in the '+'-separated redirect-to list. */
static bool vouched(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (p && *p) {
		const char *e = strchr(p, '+');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == n && !strncmp(p, name, n))
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

/* sluice_xdp_tx (bpf/lib/maps_ns.h): exactly the interfaces attached in native
 * mode that are not veths (or are vouched for by redirect-to), plus the
 * redirect-to targets, the ones between which DNATed frames may be
 * redirected; stale entries of an earlier run are removed. */
static int fill_xdp_tx(struct sl_xdp *x, char *err)
{
	int fd = bpf_map__fd(x->xdp->maps.sluice_xdp_tx);
	__u32 k, nk, stale[64];
	size_t i, n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &nk) && n < 64) {
		stale[n++] = nk;
		k = nk;
		prev = &k;
	}
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &stale[i]);
	for (i = 0; i < x->nifs; i++) {
		__u32 idx = (__u32)x->ifs[i].ifindex;

		x->ifs[i].redirect = !strcmp(x->ifs[i].mode, "native") &&
				     (!x->ifs[i].veth || vouched(x->redirect_to, x->ifs[i].name));
		if (x->ifs[i].redirect && bpf_map_update_elem(fd, &idx, &idx, BPF_ANY)) {
			int rc = -errno;

			sl_dp_err(err, "--xdp %s: sluice_xdp_tx: %s", x->ifs[i].name, strerror(errno));
			return rc;
		}
	}
	for (const char *p = x->redirect_to; p && *p;) {
		const char *e = strchr(p, '+');
		char name[IF_NAMESIZE] = "";
		size_t l = e ? (size_t)(e - p) : strlen(p);
		__u32 idx;

		if (l && l < sizeof(name))
			memcpy(name, p, l);
		idx = name[0] ? if_nametoindex(name) : 0;
		if (!idx) {
			sl_dp_err(err, "--xdp redirect-to=%s: no interface \"%.*s\"", x->redirect_to,
			     (int)l, p);
			return -ENODEV;
		}
		if (bpf_map_update_elem(fd, &idx, &idx, BPF_ANY)) {
			int rc = -errno;

			sl_dp_err(err, "--xdp redirect-to %s: sluice_xdp_tx: %s", name, strerror(errno));
			return rc;
		}
		p = e ? e + 1 : NULL;
	}
	return 0;
}

static int mkdir_1(const char *p)
{
	return mkdir(p, 0700) && errno != EEXIST ? -errno : 0;
}

int sl_xdp_open(const struct sl_xdp_opts *o, const char *ifaces, struct sl_xdp **out,
		char *err)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	char list[256], links[PATH_MAX], *save = NULL, *tok;
	struct sl_xdp *x;
	size_t i;
	int rc;

	*out = NULL;
	if (!ifaces || !*ifaces || strlen(ifaces) >= sizeof(list)) {
		sl_dp_err(err, "--xdp: empty or too long interface list");
		return -EINVAL;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	for (i = 0; i < SL_XDP_MAX_IFACES; i++)
		x->link_fds[i][0] = x->link_fds[i][1] = -1;
	snprintf(x->bpffs, sizeof(x->bpffs), "%s", o->bpffs ? o->bpffs : SLUICE_PIN_ROOT);
	snprintf(x->redirect_to, sizeof(x->redirect_to), "%s", o->redirect_to ? o->redirect_to : "");
	snprintf(links, sizeof(links), "%s/links", x->bpffs);
	if ((rc = sl_bpffs_ensure(x->bpffs, NULL, err)))
		goto cleanup;
	if ((rc = mkdir_1(x->bpffs)) || (rc = mkdir_1(links))) {
		sl_dp_err(err, "mkdir %s: %s", x->bpffs, strerror(-rc));
		goto cleanup;
	}
	oo.pin_root_path = x->bpffs;
	x->xdp = sluice_xdp__open_opts(&oo);
	x->tc = x->xdp ? sluice_tc__open_opts(&oo) : NULL;
	if (!x->xdp || !x->tc) {
		rc = -errno;
		sl_dp_err(err, "open the XDP/TC objects: %s", strerror(-rc));
		goto cleanup;
	}
	x->xdp->rodata->sl_xdp_redirect = o->no_redirect ? 0 : 1;
	if (o->ct_syn_timeout_s)
		x->xdp->rodata->sl_ct_syn_timeout_s = x->tc->rodata->sl_ct_syn_timeout_s =
			o->ct_syn_timeout_s;
	if (o->ct_est_timeout_s)
		x->xdp->rodata->sl_ct_est_timeout_s = x->tc->rodata->sl_ct_est_timeout_s =
			o->ct_est_timeout_s;
	if (o->ct_close_timeout_s)
		x->xdp->rodata->sl_ct_close_timeout_s = x->tc->rodata->sl_ct_close_timeout_s =
			o->ct_close_timeout_s;
	if (o->ct_size) {
		bpf_map__set_max_entries(x->xdp->maps.sluice_ct4, o->ct_size);
		bpf_map__set_max_entries(x->tc->maps.sluice_ct4, o->ct_size);
	}
	if (o->ct6_size) {
		/* an IPv6 flow takes two entries of its own (docs/xdp.md) */
		bpf_map__set_max_entries(x->xdp->maps.sluice_ct6, o->ct6_size);
		bpf_map__set_max_entries(x->tc->maps.sluice_ct6, o->ct6_size);
	}
	if (o->maglev_entries) {
		bpf_map__set_max_entries(x->xdp->maps.sluice_maglev, o->maglev_entries);
		bpf_map__set_max_entries(x->tc->maps.sluice_maglev, o->maglev_entries);
	}
	if ((rc = sluice_xdp__load(x->xdp)) || (rc = sluice_tc__load(x->tc))) {
		sl_dp_err(err, "load the XDP/TC programs: %s (a pinned sluice_ct4/ct6 of another "
		     "size needs `sluicectl reset` first)", strerror(-rc));
		goto cleanup;
	}
	/* the interfaces that will likely run native XDP go into sluice_xdp_tx
	 * before the program goes into their links, so a flow whose next hop
	 * a previous program cached is never redirected through an empty map;
	 * fill_xdp_tx makes the set exact once the modes are known */
	if (o->mode == SL_XDP_MODE_AUTO || o->mode == SL_XDP_MODE_NATIVE) {
		int mfd = bpf_map__fd(x->xdp->maps.sluice_xdp_tx);

		snprintf(list, sizeof(list), "%s", ifaces);
		for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			__u32 idx = if_nametoindex(tok);

			if (idx && !is_veth(tok))
				bpf_map_update_elem(mfd, &idx, &idx, BPF_ANY);
		}
		save = NULL;
	}
	snprintf(list, sizeof(list), "%s", ifaces);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (x->nifs == SL_XDP_MAX_IFACES) {
			rc = -E2BIG;
			sl_dp_err(err, "--xdp: more than %d interfaces", SL_XDP_MAX_IFACES);
			goto cleanup;
		}
		if ((rc = attach_iface(x, o, tok, err)))
			goto cleanup;
	}
	if ((rc = fill_xdp_tx(x, err)))
		goto cleanup;
	*out = x;
	return 0;
cleanup:
	/* nothing left attached on failure: unpin what this call pinned */
	for (i = 0; i <= x->nifs && i < SL_XDP_MAX_IFACES; i++) {
		char p[PATH_MAX];

		if (!x->ifs[i].name[0])
			continue;
		snprintf(p, sizeof(p), "%s/links/xdp-%s", x->bpffs, x->ifs[i].name);
		unlink(p);
		snprintf(p, sizeof(p), "%s/links/tcx-egress-%s", x->bpffs, x->ifs[i].name);
		unlink(p);
		snprintf(p, sizeof(p), "%s/links/tcx-ingress-%s", x->bpffs, x->ifs[i].name);
		unlink(p);
	}
	sl_xdp_close(x);
	return rc;
}

size_t sl_xdp_ifaces(const struct sl_xdp *x, const struct sl_xdp_iface **v)
{
	*v = x->ifs;
	return x->nifs;
}

/* Entries of conntrack map m (keys of ksz bytes, at most 64) and its size. */
static int ct_usage(const struct bpf_map *m, size_t ksz, uint64_t *entries, uint64_t *capacity)
{
	uint8_t k[64], nk[64];
	int fd = bpf_map__fd(m);
	void *prev = NULL;
	uint64_t n = 0;

	while (!bpf_map_get_next_key(fd, prev, nk)) {
		n++;
		memcpy(k, nk, ksz);
		prev = k;
	}
	*entries = n;
	*capacity = bpf_map__max_entries(m);
	return 0;
}

int sl_xdp_ct_usage(struct sl_xdp *x, uint64_t *entries, uint64_t *capacity)
{
	_Static_assert(sizeof(struct sluice_ct4_key) <= 64, "ct_usage key buffer");
	return ct_usage(x->xdp->maps.sluice_ct4, sizeof(struct sluice_ct4_key), entries, capacity);
}

int sl_xdp_ct6_usage(struct sl_xdp *x, uint64_t *entries, uint64_t *capacity)
{
	_Static_assert(sizeof(struct sluice_ct6_key) <= 64, "ct_usage key buffer");
	return ct_usage(x->xdp->maps.sluice_ct6, sizeof(struct sluice_ct6_key), entries, capacity);
}

void sl_xdp_close(struct sl_xdp *x)
{
	size_t i;

	if (!x)
		return;
	for (i = 0; i < SL_XDP_MAX_IFACES; i++) {
		if (x->link_fds[i][0] >= 0)
			close(x->link_fds[i][0]);
		if (x->link_fds[i][1] >= 0)
			close(x->link_fds[i][1]);
	}
	sluice_tc__destroy(x->tc);
	sluice_xdp__destroy(x->xdp);
	free(x);
}

/* Unpin the XDP/TC links and the maps only this path uses. Links whose pin
 * is the last reference detach as they are unpinned. */
int sl_xdp_reset(const char *bpffs, char *err)
{
	static const enum sl_map maps[] = { SL_MAP_CT4, SL_MAP_CT4_REV, SL_MAP_CT6,
					    SL_MAP_XDP_V6, SL_MAP_TC_V6, SL_MAP_MAGLEV };
	char path[PATH_MAX];
	struct if_nameindex *ifs = if_nameindex(), *i;
	size_t m;
	int rc = 0;

	for (i = ifs; i && i->if_index; i++) {
		snprintf(path, sizeof(path), "%s/links/xdp-%s", bpffs, i->if_name);
		if (unlink(path) && errno != ENOENT)
			rc = -errno;
		snprintf(path, sizeof(path), "%s/links/tcx-egress-%s", bpffs, i->if_name);
		if (unlink(path) && errno != ENOENT)
			rc = -errno;
		snprintf(path, sizeof(path), "%s/links/tcx-ingress-%s", bpffs, i->if_name);
		if (unlink(path) && errno != ENOENT)
			rc = -errno;
	}
	if (ifs)
		if_freenameindex(ifs);
	for (m = 0; m <= sizeof(maps) / sizeof(maps[0]); m++) {
		/* past the table: the retired conntrack map older versions pinned */
		snprintf(path, sizeof(path), "%s/%s", bpffs,
			 m < sizeof(maps) / sizeof(maps[0]) ? sl_map_names[maps[m]] : "sluice_ct");
		if (unlink(path) && errno != ENOENT)
			rc = -errno;
	}
	if (rc)
		sl_dp_err(err, "xdp reset under %s: %s", bpffs, strerror(-rc));
	return rc;
}
