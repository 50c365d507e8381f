// SPDX-License-Identifier: Apache-2.0
/*
 * sluiced --xdp IFACE[,IFACE][:key=value...]: north-south XDP/TC attach
 * through the library (include/sluice/xdp.h), after the socket data plane
 * is open so both share one pin root and one set of selection tables.
 *
 * Options (the XDP setup options; docs/xdp.md), either as ':'-separated
 * suffixes of the --xdp value or through sluiced_xdp_set_option() for
 * daemon flags of the same names:
 *   mode=auto|native|generic|tc   ct-size=N   ct6-size=N   maglev-entries=N
 *   redirect-to=IF[+IF...]   (interfaces vouched to take XDP frames, docs/xdp.md)
 *   ct-syn-timeout=S  ct-est-timeout=S  ct-close-timeout=S  redirect=0|1
 * The handle stays open for the daemon's life (status, conntrack usage);
 * the links are pinned, so the programs keep running after SIGTERM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/xdp.h"
#include "sluiced/sluiced.h"
#include "sluiced/view.h"

static struct sl_xdp_opts xo;
static struct sl_xdp *xh;

int sluiced_xdp_set_option(const char *key, const char *val);
int sluiced_xdp_status(struct vrec *r);

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* One XDP setup option; -EINVAL for an unknown key or a bad value. */
int sluiced_xdp_set_option(const char *key, const char *val)
{
	uint32_t v = 0;

	if (!strcmp(key, "mode")) {
		if (!strcmp(val, "auto"))
			xo.mode = SL_XDP_MODE_AUTO;
		else if (!strcmp(val, "native"))
			xo.mode = SL_XDP_MODE_NATIVE;
		else if (!strcmp(val, "generic"))
			xo.mode = SL_XDP_MODE_GENERIC;
		else if (!strcmp(val, "tc"))
			xo.mode = SL_XDP_MODE_TC;
		else
			return -EINVAL;
		return 0;
	}
	if (!strcmp(key, "redirect-to")) {
		static char list[256];

		if (!*val || strlen(val) >= sizeof(list))
			return -EINVAL;
		snprintf(list, sizeof(list), "%s", val);
		xo.redirect_to = list;
		return 0;
	}
	if (parse_u32(val, &v))
		return -EINVAL;
	if (!strcmp(key, "ct-size") && v >= 64)
		xo.ct_size = v;
	else if (!strcmp(key, "ct6-size") && v >= 64)
		xo.ct6_size = v;
	else if (!strcmp(key, "maglev-entries") && v > 0)
		xo.maglev_entries = v;
	else if (!strcmp(key, "ct-syn-timeout") && v > 0)
		xo.ct_syn_timeout_s = v;
	else if (!strcmp(key, "ct-est-timeout") && v > 0)
		xo.ct_est_timeout_s = v;
	else if (!strcmp(key, "ct-close-timeout") && v > 0)
		xo.ct_close_timeout_s = v;
	else if (!strcmp(key, "redirect") && v <= 1)
		xo.no_redirect = !v;
	else
		return -EINVAL;
	return 0;
}

int sluiced_xdp_setup(const char *ifaces, const char *bpffs, struct sl_dp *dp, char *err)
{
	char buf[512], *opt, *next, *eq;
	const struct sl_xdp_iface *v;
	size_t n, i;
	int rc;

	(void)dp;	/* the tables are shared through the pin root */
	if (strlen(ifaces) >= sizeof(buf)) {
		snprintf(err, SL_DP_ERRLEN, "--xdp value too long");
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", ifaces);
	opt = strchr(buf, ':');
	if (opt)
		*opt++ = '\0';
	for (; opt && *opt; opt = next) {
		next = strchr(opt, ':');
		if (next)
			*next++ = '\0';
		eq = strchr(opt, '=');
		if (!eq || (*eq = '\0', sluiced_xdp_set_option(opt, eq + 1))) {
			snprintf(err, SL_DP_ERRLEN, "--xdp option \"%s\" is not supported", opt);
			return -EINVAL;
		}
	}
	xo.bpffs = bpffs;
	rc = sl_xdp_open(&xo, buf, &xh, err);
	if (rc)
		return rc;
	n = sl_xdp_ifaces(xh, &v);
	for (i = 0; i < n; i++)
		sluiced_log("xdp: %s attached in %s mode, tc egress reverse NAT %s%s%s", v[i].name,
			    v[i].mode, v[i].tc_egress ? "on" : "off", v[i].why[0] ? "; " : "",
			    v[i].why);
	return 0;
}

/* sluicectl reset: the links are detached and unpinned by the reset; drop
 * the handle on the old programs and maps. The next apply opens them again
 * (sluiced_dp_ensure). */
void sluiced_xdp_close(void)
{
	sl_xdp_close(xh);
	xh = NULL;
}

static void ct_usage(struct vrec *r, const char *key, uint64_t used, uint64_t cap)
{
	struct vfield *cf = vf_map(r, key);
	struct vrec *it;

	vf_add(cf, "%llu of %llu entries", (unsigned long long)used, (unsigned long long)cap);
	it = vf_item(cf);
	vf_num(it, "used", used);
	vf_num(it, "capacity", cap);
}

/* For `sluicectl status`: per interface its mode and paths, and the
 * conntrack use, as text lines (xdp_status) and as data. */
int sluiced_xdp_status(struct vrec *r)
{
	const struct sl_xdp_iface *v;
	struct vfield *lf;
	struct vrec *it;
	uint64_t used = 0, cap = 0;
	size_t n, i;

	if (!xh)
		return 0;
	n = sl_xdp_ifaces(xh, &v);
	lf = vf_list(r, "xdp_status");
	for (i = 0; i < n; i++) {
		vf_add(lf, "xdp %s: %s mode, tc egress %s, %s%s%s", v[i].name, v[i].mode,
		       v[i].tc_egress ? "attached" : "not attached",
		       v[i].redirect ? "DNATed frames redirected" :
				       "DNATed packets forwarded by the stack",
		       v[i].why[0] ? "; " : "", v[i].why);
		it = vf_item(lf);
		vf_str(it, "interface", "%s", v[i].name);
		vf_str(it, "mode", "%s", v[i].mode);
		vf_bool(it, "tc_egress", v[i].tc_egress);
		vf_bool(it, "redirect", v[i].redirect);
		vf_str(it, "why", "%s", v[i].why);
	}
	if (!sl_xdp_ct_usage(xh, &used, &cap))
		ct_usage(r, "xdp_conntrack", used, cap);
	if (!sl_xdp_ct6_usage(xh, &used, &cap))
		ct_usage(r, "xdp_conntrack6", used, cap);
	return 0;
}
