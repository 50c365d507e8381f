// SPDX-License-Identifier: Apache-2.0
/*
 * `sluicectl stats` and `status`, and the name lookup shared with the
 * metrics endpoint: per-backend counters are keyed by stable ids (hashes of
 * the service FQDN and subset name); the live model turns them back into
 * names. Ids the model does not know (a service removed since) are shown
 * as "sid:xxxxxxxx" rather than dropped: their counters are still real.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluiced.h"
#include "view.h"
#include "stats_names.h"

struct sid_ent {
	uint32_t sid;
	uint32_t svc;
};

static int cmp_sid(const void *a, const void *b)
{
	const struct sid_ent *x = a, *y = b;

	return x->sid < y->sid ? -1 : x->sid > y->sid;
}

int stat_names_init(struct stat_names *sn, const struct sl_model *m)
{
	size_t i;

	memset(sn, 0, sizeof(*sn));
	sn->m = m;
	if (!m || !m->nservices)
		return 0;
	sn->v = calloc(m->nservices, sizeof(struct sid_ent));
	if (!sn->v)
		return -ENOMEM;
	for (i = 0; i < m->nservices; i++) {
		struct sid_ent *e = &((struct sid_ent *)sn->v)[i];

		e->sid = sl_dp_sid(m->services[i].host);
		e->svc = (uint32_t)i;
	}
	sn->n = m->nservices;
	qsort(sn->v, sn->n, sizeof(struct sid_ent), cmp_sid);
	return 0;
}

void stat_names_free(struct stat_names *sn)
{
	free(sn->v);
	memset(sn, 0, sizeof(*sn));
}

int stat_names_service(const struct stat_names *sn, uint32_t svc_sid)
{
	struct sid_ent key = { .sid = svc_sid }, *e;

	e = sn->n ? bsearch(&key, sn->v, sn->n, sizeof(key), cmp_sid) : NULL;
	return e ? (int)e->svc : -1;
}

void stat_names_get(const struct stat_names *sn, const struct sluice_stats_key *k,
		    char *svc, size_t svclen, char *sub, size_t sublen)
{
	int si = stat_names_service(sn, k->svc_sid);
	const struct sl_service *s;
	size_t i;

	if (si < 0) {
		snprintf(svc, svclen, "sid:%08x", k->svc_sid);
		if (k->subset_sid)
			snprintf(sub, sublen, "sid:%08x", k->subset_sid);
		else
			sub[0] = '\0';
		return;
	}
	s = &sn->m->services[si];
	snprintf(svc, svclen, "%s", s->host);
	if (!k->subset_sid) {
		sub[0] = '\0';
		return;
	}
	for (i = 0; i < s->nsubsets; i++) {
		const char *name = s->subsets[i].name;

		if (sl_dp_sid(name) == k->subset_sid) {
			snprintf(sub, sublen, "%s", name);
			return;
		}
	}
	snprintf(sub, sublen, "sid:%08x", k->subset_sid);
}

struct srow {
	char svc[256], sub[64], backend[64];
	struct sluice_stats v;
	uint32_t svc_sid, subset_sid;
};

static int cmp_srow(const void *a, const void *b)
{
	const struct srow *x = a, *y = b;
	int c = strcmp(x->svc, y->svc);

	if (!c)
		c = strcmp(x->sub, y->sub);
	if (!c)
		c = strcmp(x->backend, y->backend);
	return c;
}

static void add_stats(struct sluice_stats *to, const struct sluice_stats *v)
{
	to->opened += v->opened;
	to->established += v->established;
	to->failed += v->failed;
	to->closed += v->closed;
	to->active += v->active;
	to->bytes_sent += v->bytes_sent;
	to->bytes_received += v->bytes_received;
}

/* pu (subset and service level): overflow = connect()s refused by the
 * subset's connectionPool.tcp maxConnections (Envoy's UO), ejections =
 * backends ejected by its outlierDetection. */
static void stats_rec(struct vtable *t, const char *level, const char *svc, const char *sub,
		      const char *backend, const struct sluice_stats *v,
		      const struct sluice_pool_use *pu)
{
	struct vrec *r = vt_rec(t);

	vf_str(r, "level", "%s", level);
	vf_str(r, "service", "%s", svc);
	vf_str(r, "subset", "%s", sub);
	vf_str(r, "backend", "%s", backend);
	vf_num(r, "opened", v->opened);
	vf_num(r, "active", v->active > 0 ? (uint64_t)v->active : 0);
	vf_num(r, "failed", v->failed);
	vf_num(r, "closed", v->closed);
	vf_num(r, "bytes_sent", v->bytes_sent);
	vf_num(r, "bytes_received", v->bytes_received);
	vf_num(r, "overflow", pu ? pu->overflow : 0);
	vf_num(r, "ejections", pu ? pu->ejections : 0);
	/* HTTP requests through sluice-http (service and subset rows) */
	vf_num(r, "requests", 0);
	vf_num(r, "errors", 0);
}

static struct vfield *field(struct vrec *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (!strcmp(r->f[i]->key, key))
			return r->f[i];
	return NULL;
}

static const char *field_str(struct vrec *r, const char *key)
{
	struct vfield *f = field(r, key);

	return f && f->s ? f->s : "";
}

/* sluice-http's counts of one (service, subset) into row r: its requests,
 * and the TLS passthrough connections it relayed, which the kernel does not
 * count (they are the helper's own sockets). */
static void add_requests(struct vrec *r, const struct sluiced_http_count *c)
{
	field(r, "requests")->num += c->requests;
	field(r, "errors")->num += c->errors;
	field(r, "opened")->num += c->conns_opened;
	field(r, "closed")->num += c->conns_closed;
	field(r, "active")->num += c->conns_opened > c->conns_closed ?
				   c->conns_opened - c->conns_closed : 0;
	field(r, "bytes_sent")->num += c->bytes_sent;
	field(r, "bytes_received")->num += c->bytes_received;
}

/* Add sluice-http's counts to the service and subset rows; HTTP and TLS
 * passthrough services the kernel never steers directly (their connections
 * go to sluice-http) get rows of their own. */
static void merge_requests(struct vtable *t, const struct sluiced_http_count *c, size_t n)
{
	static const struct sluice_stats none;
	size_t i, j;

	for (i = 0; i < n; i++) {
		struct vrec *svc = NULL, *sub = NULL;

		if (!c[i].service[0])
			continue;	/* no route matched: no service */
		for (j = 0; j < t->n; j++) {
			struct vrec *r = &t->r[j];

			if (strcmp(field_str(r, "service"), c[i].service))
				continue;
			if (!strcmp(field_str(r, "level"), "service"))
				svc = r;
			else if (!strcmp(field_str(r, "level"), "subset") &&
				 !strcmp(field_str(r, "subset"), c[i].subset))
				sub = r;
		}
		if (!svc) {
			stats_rec(t, "service", c[i].service, "", "", &none, NULL);
			svc = &t->r[t->n - 1];
		}
		add_requests(svc, &c[i]);
		if (c[i].subset[0]) {	/* "" = a whole-service destination */
			if (!sub) {
				stats_rec(t, "subset", c[i].service, c[i].subset, "", &none, NULL);
				sub = &t->r[t->n - 1];
			}
			add_requests(sub, &c[i]);
		}
	}
}

int view_stats(struct sluiced *d, enum view_fmt f, FILE *out)
{
	struct sl_dp_stat *st = NULL;
	struct stat_names sn;
	struct vtable t = { 0 };
	struct srow *rows = NULL;
	size_t n = 0, i, j, k;
	int err;

	if (!d->dp) {
		fputs("stats: no data plane (reset); apply a policy first\n", out);
		return -ENODEV;
	}
	/* live connections' bytes first (fails only without the reporter:
	 * bytes then count at close) */
	sl_dp_report_bytes(d->dp);
	err = sl_dp_stats(d->dp, &st, &n);
	if (err) {
		fprintf(out, "stats: %s\n", strerror(-err));
		return err;
	}
	err = stat_names_init(&sn, d->model);
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (err || !rows) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		stat_names_get(&sn, &st[i].key, rows[i].svc, sizeof(rows[i].svc), rows[i].sub,
			       sizeof(rows[i].sub));
		view_addr_port(st[i].key.addr, ntohs(st[i].key.port), rows[i].backend,
			       sizeof(rows[i].backend));
		rows[i].v = st[i].val;
		rows[i].svc_sid = st[i].key.svc_sid;
		rows[i].subset_sid = st[i].key.subset_sid;
	}
	qsort(rows, n, sizeof(*rows), cmp_srow);
	for (i = 0; i < n; i = j) {
		struct sluice_pool_use tpu = { 0 }, pu;
		struct sluice_stats tot = { 0 };

		for (j = i; j < n && !strcmp(rows[j].svc, rows[i].svc); j++) {
			add_stats(&tot, &rows[j].v);
			/* once per subset: its first row */
			if (j == i || strcmp(rows[j].sub, rows[j - 1].sub)) {
				sl_dp_pool_use(d->dp, rows[j].svc_sid, rows[j].subset_sid, &pu);
				tpu.overflow += pu.overflow;
				tpu.ejections += pu.ejections;
			}
		}
		stats_rec(&t, "service", rows[i].svc, "", "", &tot, &tpu);
		for (k = i; k < j;) {
			struct sluice_stats stot = { 0 };
			size_t l;

			for (l = k; l < j && !strcmp(rows[l].sub, rows[k].sub); l++)
				add_stats(&stot, &rows[l].v);
			sl_dp_pool_use(d->dp, rows[k].svc_sid, rows[k].subset_sid, &pu);
			stats_rec(&t, "subset", rows[k].svc, rows[k].sub, "", &stot, &pu);
			for (; k < l; k++)
				stats_rec(&t, "backend", rows[k].svc, rows[k].sub, rows[k].backend,
					  &rows[k].v, NULL);
		}
	}
	{
		struct sluiced_http_count *hc = NULL;
		size_t nhc = 0;

		if (!sluiced_helper_counts(d, &hc, &nhc))
			merge_requests(&t, hc, nhc);
		free(hc);
	}
	vt_render(&t, f, false, out);
cleanup:
	vt_free(&t);
	free(rows);
	free(st);
	stat_names_free(&sn);
	return err;
}

/* ---- status ---- */

static const char *const counter_names[__SLUICE_CNT_MAX] = {
	[SLUICE_CNT_CONNECT_SEEN] = "connect_seen",
	[SLUICE_CNT_CONNECT_STEERED] = "connect_steered",
	[SLUICE_CNT_CONNECT_TO_HELPER] = "connect_to_helper",
	[SLUICE_CNT_CONNECT_PASS] = "connect_pass",
	[SLUICE_CNT_NO_ENDPOINTS] = "no_endpoints",
	[SLUICE_CNT_REGISTRY_DENY] = "registry_deny",
	[SLUICE_CNT_MAP_MISS] = "map_miss",
	[SLUICE_CNT_GETPEERNAME_VIP] = "getpeername_vip",
	[SLUICE_CNT_XDP_NEW_FLOW] = "xdp_new_flow",
	[SLUICE_CNT_XDP_ESTABLISHED] = "xdp_established",
	[SLUICE_CNT_XDP_NO_CT] = "xdp_no_ct",
	[SLUICE_CNT_XDP_PASS] = "xdp_pass",
	[SLUICE_CNT_XDP_MALFORMED] = "xdp_malformed",
	[SLUICE_CNT_CT_EVICT] = "ct_evict",
	[SLUICE_CNT_TC_REVNAT] = "tc_revnat",
	[SLUICE_CNT_XDP_REDIRECT] = "xdp_redirect",
	[SLUICE_CNT_XDP_TO_STACK] = "xdp_to_stack",
	[SLUICE_CNT_XDP_FRAGMENT] = "xdp_fragment",
	[SLUICE_CNT_XDP_NO_BACKEND] = "xdp_no_backend",
	[SLUICE_CNT_CT_INSERT_FAIL] = "ct_insert_fail",
	[SLUICE_CNT_CT_CLOSED] = "ct_closed",
	[SLUICE_CNT_CT_EXPIRED] = "ct_expired",
	[SLUICE_CNT_TC_NO_CT] = "tc_no_ct",
	[SLUICE_CNT_XDP_BACKEND_GONE] = "xdp_backend_gone",
	[SLUICE_CNT_RECVMSG_VIP] = "recvmsg_vip",
	[SLUICE_CNT_NO_ROUTE] = "no_route",
	[SLUICE_CNT_HELPER_BYPASS] = "helper_bypass",
	[SLUICE_CNT_STATS_FULL] = "stats_full",
	[SLUICE_CNT_SCOPE_DENY] = "scope_deny",
	[SLUICE_CNT_SCOPE_PASS] = "scope_pass",
	[SLUICE_CNT_TCP_FAULT] = "tcp_fault",
};

const char *sluiced_counter_name(int i, char *buf, size_t len)
{
	if (i >= 0 && i < __SLUICE_CNT_MAX && counter_names[i])
		return counter_names[i];
	snprintf(buf, len, "counter_%d", i);
	return buf;
}

/* The id fields of a pinned object, from /proc/self/fdinfo: works for
 * links, programs and maps alike without knowing the type in advance. */
static void fdinfo_ids(int fd, char *kind, size_t klen, unsigned int *id, unsigned int *prog)
{
	char path[64], line[256];
	FILE *f;

	*id = *prog = 0;
	snprintf(kind, klen, "?");
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned int v;

		if (!strncmp(line, "link_type:", 10))
			snprintf(kind, klen, "link");
		else if (!strncmp(line, "prog_type:", 10))
			snprintf(kind, klen, "prog");
		else if (!strncmp(line, "map_type:", 9))
			snprintf(kind, klen, "map");
		else if (sscanf(line, "link_id: %u", &v) == 1 || sscanf(line, "map_id: %u", &v) == 1)
			*id = v;
		else if (sscanf(line, "prog_id: %u", &v) == 1)
			*prog = v;
	}
	fclose(f);
}

static void walk_pins(const char *dir, int depth, struct vfield *links, struct vfield *progs,
		      uint64_t *nmaps)
{
	struct dirent *de;
	DIR *dp;

	if (depth > 4 || !(dp = opendir(dir)))
		return;
	while ((de = readdir(dp))) {
		char path[PATH_MAX], kind[8];
		unsigned int id, prog;
		struct stat st;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			walk_pins(path, depth + 1, links, progs, nmaps);
			continue;
		}
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		fdinfo_ids(fd, kind, sizeof(kind), &id, &prog);
		close(fd);
		if (!strcmp(kind, "link"))
			vf_add(links, "%u", id);
		if (!strcmp(kind, "link") || !strcmp(kind, "prog"))
			vf_add(progs, "%u", prog);
		if (!strcmp(kind, "map"))
			(*nmaps)++;
	}
	closedir(dp);
}

int view_status(struct sluiced *d, enum view_fmt f, FILE *out, bool *is_live)
{
	struct vtable t = { 0 };
	struct vrec *r = vt_rec(&t);
	struct vfield *lf, *pf, *hf, *cf, *kf;
	uint64_t c[__SLUICE_CNT_MAX], nmaps = 0;
	const struct sl_dp_hook *hooks = NULL;
	struct sluiced_helper *h = &d->helper;
	char path[PATH_MAX], nb[32], why[256];
	bool live = *is_live = sluiced_live(d, why, sizeof(why));
	size_t nh = 0, i;

	sluiced_snapshot_path(d, path, sizeof(path));
	vf_str(r, "version", "%s", SLUICE_VERSION);
	vf_bool(r, "live", live);
	vf_str(r, "live_why", "%s", why);
	vf_num(r, "generation", d->dp ? sl_dp_generation(d->dp) : 0);
	vf_str(r, "data_plane", "%s", d->dp ? "attached" : "removed (reset)");
	vf_str(r, "source", "%s", sluiced_source_name(d->source));
	vf_num(r, "objects", d->model ? d->model->nobjects : 0);
	vf_num(r, "services", d->model ? d->model->nservices : 0);
	vf_str(r, "policy_dir", "%s", d->o.policy_dir);
	vf_str(r, "cgroup", "%s", d->o.cgroup);
	vf_str(r, "bpffs", "%s", d->o.bpffs);
	vf_str(r, "state_file", "%s", path);
	vf_num(r, "applies", d->applies);
	vf_num(r, "incremental_applies", d->incr_applies);
	vf_num(r, "refused", d->refused);
	vf_real(r, "last_apply_ms", (double)d->last_apply_us / 1000.0);
	vf_num(r, "uptime_s", (sluiced_now_ms() - d->started_ms) / 1000);
	vf_num(r, "stats_aged", d->stats_aged);
	hf = vf_list(r, "hooks");
	if (d->dp)
		nh = sl_dp_hooks(d->dp, &hooks);
	for (i = 0; i < nh; i++) {
		struct vrec *it = vf_item(hf);

		if (hooks[i].attached)
			vf_add(hf, "%s: attached", hooks[i].name);
		else
			vf_add(hf, "%s: not attached (%s)", hooks[i].name, hooks[i].why);
		vf_str(it, "name", "%s", hooks[i].name);
		vf_bool(it, "attached", hooks[i].attached);
		vf_str(it, "why", "%s", hooks[i].why);
	}
	kf = vf_list(r, "kernel");
	for (i = 0; i < d->nkernel; i++) {
		struct vrec *it = vf_item(kf);

		if (d->kernel[i].present)
			vf_add(kf, "%s: yes", d->kernel[i].name);
		else
			vf_add(kf, "%s: no (Linux %s+): %s", d->kernel[i].name, d->kernel[i].since,
			       d->kernel[i].without);
		vf_str(it, "feature", "%s", d->kernel[i].name);
		vf_bool(it, "supported", d->kernel[i].present);
		vf_str(it, "since", "%s", d->kernel[i].since);
		vf_str(it, "without", "%s", d->kernel[i].present ? "" : d->kernel[i].without);
	}
	lf = vf_numlist(r, "link_ids");
	pf = vf_numlist(r, "prog_ids");
	walk_pins(d->o.bpffs, 0, lf, pf, &nmaps);
	vf_num(r, "pinned_maps", nmaps);
	cf = vf_map(r, "counters");
	if (d->dp && sl_dp_counters(d->dp, c) == 0) {
		struct vrec *it = vf_item(cf);

		for (i = 0; i < __SLUICE_CNT_MAX; i++) {
			const char *name = sluiced_counter_name((int)i, nb, sizeof(nb));

			vf_add(cf, "%s=%llu", name, (unsigned long long)c[i]);
			/* the key must outlive nb: the counter names are static
			 * except an unnamed one, which a data view leaves out */
			if (name != nb)
				vf_num(it, name, c[i]);
		}
	}
	vf_str(r, "helper", "%s", sluiced_helper_state_name(h->state));
	vf_num(r, "helper_pid", h->state == HELPER_RUNNING ? (uint64_t)h->pid : 0);
	vf_num(r, "helper_restarts", h->restarts);
	vf_str(r, "helper_note", "%s", h->why);
	if (d->dns.n)
		sluiced_dns_status(d, r);
	sluiced_kube_status(d, r);
	vf_str(r, "xdp", "%s", d->o.xdp ? d->o.xdp : "");
	if (d->o.xdp)
		sluiced_xdp_status(r);
	vt_render(&t, f, true, out);
	vt_free(&t);
	return 0;
}
