/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes source's incremental apply: when only EndpointSlices and
 * Pods changed since the share was last applied whole, the services they
 * touch are loaded alone (their Service, slices and the Pods those point
 * at) and handed to sluiced_apply_delta (incr.c), which patches the live
 * model and rewrites the live generation where those services are. What
 * a delta cannot carry (another kind changed, sluice-http or DNS services,
 * sourceLabels routes or a Pod on this node, too many services) is
 * refused with the reason; the caller then applies the whole share.
 */
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "sluice/compile_l4.h"
#include "sluiced/kube_int.h"

struct delta_svc {
	char ns[256], name[256];
};

struct delta_ctx {
	struct sluiced *d;
	struct sluiced_kube *k;
	struct delta_svc *svcs;
	size_t n;
	char *why;
	bool pods_checked;	/* pods_only_endpoints said yes */
};

__attribute__((format(printf, 2, 3)))
static int refuse(struct delta_ctx *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->why, sizeof(x->d->kube.incr_why), fmt, ap);
	va_end(ap);
	return -EAGAIN;
}

static int add_svc(struct delta_ctx *x, const char *ns, size_t nsl, const char *name)
{
	for (size_t i = 0; i < x->n; i++)
		if (strlen(x->svcs[i].ns) == nsl && !strncmp(x->svcs[i].ns, ns, nsl) &&
		    !strcmp(x->svcs[i].name, name))
			return 0;
	if (x->n == KUBE_DELTA_SVCS)
		return refuse(x, "more than %d services changed", KUBE_DELTA_SVCS);
	snprintf(x->svcs[x->n].ns, sizeof(x->svcs[0].ns), "%.*s", (int)nsl, ns);
	snprintf(x->svcs[x->n].name, sizeof(x->svcs[0].name), "%s", name);
	x->n++;
	return 0;
}

static const char *jstr(json_object *o, const char *a, const char *b)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, a, &v))
		return NULL;
	if (b && !json_object_object_get_ex(v, b, &v))
		return NULL;
	return json_object_get_string(v);
}

/* Some route matches sourceLabels: Pods are clients too (workloads). */
static bool source_routes(const struct sl_model *m)
{
	for (size_t v = 0; v < m->nvhosts; v++) {
		const struct sl_vhost *vh = &m->vhosts[v];

		for (size_t r = 0; r < vh->ntcp + vh->nhttp; r++) {
			const struct sl_route *rt = r < vh->ntcp ? &vh->tcp[r] : &vh->http[r - vh->ntcp];

			for (size_t i = 0; i < rt->nmatches; i++)
				if (rt->matches[i].has_source_labels)
					return true;
		}
	}
	return false;
}

/* sluice-http serves service si (it reads the state file, which follows
 * later): its changes apply whole, with the helper told. */
static bool helper_serves(const struct sl_model *m, size_t si)
{
	const struct sl_service *s = &m->services[si];

	for (size_t p = 0; p < s->nports; p++)
		if (sl_port_wants_helper(m, s, &s->ports[p]))
			return true;
	for (size_t v = 0; v < m->nvhosts; v++)
		for (size_t r = 0; r < m->vhosts[v].nhttp; r++) {
			const struct sl_route *rt = &m->vhosts[v].http[r];

			if (rt->has_mirror && rt->mirror.service == si)
				return true;
			for (size_t i = 0; i < rt->ndests; i++)
				if (rt->dests[i].service == si)
					return true;
		}
	return false;
}

/* A Pod changed: the services it is an endpoint of (by its address, before
 * and after). A Pod with a cgroup here, or a policy where Pods are
 * clients, is not an endpoint change only. */
static int pod_changed(struct delta_ctx *x, json_object *o)
{
	const struct sl_model *m = x->d->model;
	const char *ip = jstr(o, "status", "podIP"), *uid = jstr(o, "metadata", "uid");
	struct sl_l4_opts lo = { .kubelet_root = x->d->o.kubelet_root };
	uint8_t a[16] = { [10] = 0xff, [11] = 0xff };
	int rc;

	/* held with a uid: on this node by its nodeName (--node-name), or
	 * any Pod when the node is not known (then: when its cgroup is here) */
	if (uid && (x->k->node_name[0] || sl_l4_pod_cgroup(&lo, uid)))
		return refuse(x, "pod %s runs on this node", uid);
	/* IPv4 v4-mapped, as the model keeps it */
	if (!ip || (inet_pton(AF_INET, ip, a + 12) != 1 && inet_pton(AF_INET6, ip, a) != 1))
		return 0;
	for (size_t si = 0; si < m->nservices; si++) {
		const struct sl_service *s = &m->services[si];

		for (size_t e = 0; e < s->nendpoints; e++)
			if (!memcmp(s->endpoints[e].ip.addr, a, 16) && s->name && s->ns) {
				if ((rc = add_svc(x, s->ns, strlen(s->ns), s->name)))
					return rc;
				break;
			}
	}
	return 0;
}

/* Pods of other nodes matter to the live model only as endpoints: not
 * when a route matches sourceLabels (Pods are clients) or a Service
 * without EndpointSlices selects them. Looked at once per delta. */
static int pods_only_endpoints(struct delta_ctx *x)
{
	const struct sl_model *m = x->d->model;

	if (x->pods_checked)
		return 0;
	if (source_routes(m))
		return refuse(x, "%s", "sourceLabels routes make Pods clients");
	for (size_t si = 0; si < m->nservices; si++)
		if (m->services[si].pod_selected)
			return refuse(x, "Service %s selects Pods without EndpointSlices",
				      m->services[si].host);
	x->pods_checked = true;
	return 0;
}

/* A held object's text (a shared text, held deflated) parsed; NULL when
 * there is no memory. */
static json_object *text_json(const char *t)
{
	char *s = sl_text_dup(t);
	json_object *o = s ? json_tokener_parse(s) : NULL;

	free(s);
	return o;
}

/* A held object's text to f after sep; -ENOMEM when it could not be read. */
static int put_text(FILE *f, const char *sep, const char *t)
{
	char *s = sl_text_dup(t);

	if (!s)
		return -ENOMEM;
	fprintf(f, "%s%s\n", sep, s);
	free(s);
	return 0;
}

/* Under k->mu: the services change c touches, into x. */
static int touched(struct delta_ctx *x, const struct kube_change *c)
{
	struct kube_res *r = &x->k->res[c->res];
	size_t i = kube_obj_at(r, c->key), nsl = strcspn(c->key, "/");
	const struct kube_obj *now = i < r->n && !strcmp(r->objs[i].key, c->key) ? &r->objs[i] : NULL;
	int rc = 0;

	if (c->res == R_SLICE) {
		json_object *old = c->old ? text_json(c->old) : NULL;

		if (old) {
			json_object *md = json_object_object_get(old, "metadata");
			json_object *lb = md ? json_object_object_get(md, "labels") : NULL;
			const char *sv = jstr(lb, "kubernetes.io/service-name", NULL);

			if (sv)
				rc = add_svc(x, c->key, nsl, sv);
		}
		json_object_put(old);
		if (!rc && now && now->svc)
			rc = add_svc(x, c->key, nsl, now->svc);
		return rc;
	}
	if (c->res == R_POD) {
		json_object *o;

		if ((rc = pods_only_endpoints(x)))
			return rc;
		if (c->old && (o = text_json(c->old))) {
			rc = pod_changed(x, o);
			json_object_put(o);
		}
		if (!rc && now && (o = text_json(now->json))) {
			rc = pod_changed(x, o);
			json_object_put(o);
		}
		return rc;
	}
	return refuse(x, "a %s changed", x->k->res[c->res].kind);
}

/* Under k->mu: the text of service x->svcs[i]'s own objects (its Service,
 * its EndpointSlices, the Pods they point at); NULL when it has no
 * Service (nothing to apply: its slices are ignored), or with *rc -ENOMEM
 * when a text could not be read. */
static char *service_text(struct delta_ctx *x, size_t i, int *rc)
{
	struct kube_res *rs = &x->k->res[R_SERVICE], *rl = &x->k->res[R_SLICE],
			*rp = &x->k->res[R_POD];
	char key[520], *out = NULL;
	size_t len = 0, j, nsl;
	const size_t *idx;
	int bad = 0;
	FILE *f;

	snprintf(key, sizeof(key), "%s/%s", x->svcs[i].ns, x->svcs[i].name);
	j = kube_obj_at(rs, key);
	if (j == rs->n || strcmp(rs->objs[j].key, key) || !(f = open_memstream(&out, &len)))
		return NULL;
	bad |= put_text(f, "", rs->objs[j].json);
	nsl = kube_slices_of(rl, x->svcs[i].ns, strlen(x->svcs[i].ns), x->svcs[i].name, &idx);
	for (size_t s = 0; s < nsl; s++) {
		char *plain = sl_text_dup(rl->objs[idx[s]].json);
		json_object *o, *eps;

		/* inflated once: written, and parsed for the Pods it points at */
		if (plain)
			fprintf(f, "---\n%s\n", plain);
		o = plain ? json_tokener_parse(plain) : NULL;
		free(plain);
		if (!o) {
			bad = -ENOMEM;
			continue;
		}
		if (json_object_object_get_ex(o, "endpoints", &eps) &&
		    json_object_is_type(eps, json_type_array))
			for (size_t e = 0; e < json_object_array_length(eps); e++) {
				const char *pod = jstr(json_object_array_get_idx(eps, e), "targetRef",
						       "name");
				char pk[520];
				size_t p;

				if (!pod)
					continue;
				snprintf(pk, sizeof(pk), "%s/%s", x->svcs[i].ns, pod);
				p = kube_obj_at(rp, pk);
				if (p < rp->n && !strcmp(rp->objs[p].key, pk))
					bad |= put_text(f, "---\n", rp->objs[p].json);
			}
		json_object_put(o);
	}
	if (fclose(f) || bad) {
		free(out);
		*rc = -ENOMEM;
		return NULL;
	}
	return out;
}

/* Apply the changes since the last apply as an incremental one. 0 done (or
 * nothing to do); -EAGAIN (why in k->incr_why) or another -errno: apply
 * the whole share. */
int kube_try_delta(struct sluiced *d)
{
	struct sluiced_kube *k = &d->kube;
	struct delta_svc svcs[KUBE_DELTA_SVCS];
	struct delta_ctx x = { .d = d, .k = k, .svcs = svcs, .why = k->incr_why };
	struct kube_change *chg;
	struct sluiced_part_set *ps = NULL;
	struct sl_model *srcs[KUBE_DELTA_SVCS] = { 0 };
	char *texts[KUBE_DELTA_SVCS] = { 0 }, err[SL_DP_ERRLEN] = "";
	size_t nchg, sis[KUBE_DELTA_SVCS], src_si[KUBE_DELTA_SVCS], n = 0, i;
	uint64_t t0 = sluiced_now_us(), t_load = t0;
	int rc = 0;

	pthread_mutex_lock(&k->mu);
	if (k->chg_all) {
		pthread_mutex_unlock(&k->mu);
		return refuse(&x, "%s", "many objects changed (or a first list)");
	}
	if (!k->nchg) {
		pthread_mutex_unlock(&k->mu);
		return 0;	/* woken, but nothing differs (a relist, a bookmark) */
	}
	chg = k->chg;
	nchg = k->nchg;
	k->chg = NULL;
	k->nchg = k->cchg = 0;
	ps = calloc(nchg + 1, sizeof(*ps));
	if (!ps)
		rc = -ENOMEM;
	for (i = 0; i < nchg && !rc; i++)
		rc = touched(&x, &chg[i]);
	/* the changed objects as the desired state holds them */
	for (i = 0; i < nchg && !rc; i++) {
		struct kube_res *r = &k->res[chg[i].res];
		size_t j = kube_obj_at(r, chg[i].key);
		char path[256], *name = NULL;

		kube_res_path(r, path, sizeof(path));
		if (asprintf(&name, "kubernetes:%s/%s", path, chg[i].key) < 0) {
			rc = -ENOMEM;
			break;
		}
		ps[i].name = name;
		ps[i].shared = true;	/* the store's text, one more reference */
		if (j < r->n && !strcmp(r->objs[j].key, chg[i].key))
			ps[i].data = sl_text_ref(r->objs[j].json);
	}
	for (i = 0; i < x.n && !rc; i++)
		texts[i] = service_text(&x, i, &rc);
	pthread_mutex_unlock(&k->mu);

	t_load = sluiced_now_us();
	for (i = 0; i < x.n && !rc; i++) {
		struct sl_diags dg;
		char fqdn[600];
		int si;

		if (!texts[i])
			continue;	/* a slice of no Service: nothing steers by it */
		snprintf(fqdn, sizeof(fqdn), "%.255s.%.255s.svc.cluster.local", svcs[i].name, svcs[i].ns);
		si = sl_model_find_service(d->model, fqdn);
		if (si < 0) {
			rc = refuse(&x, "%s is not in the live model", fqdn);
			break;
		}
		if (d->model->services[si].resolution == SL_RES_DNS || helper_serves(d->model, (size_t)si)) {
			rc = refuse(&x, "%s is served by sluice-http or DNS", fqdn);
			break;
		}
		sl_diags_init(&dg);
		if (sl_model_load_buf("<kubernetes delta>", texts[i], strlen(texts[i]), &dg,
				      &srcs[n]) || !srcs[n] ||
		    (int)(src_si[n] = (size_t)sl_model_find_service(srcs[n], fqdn)) < 0) {
			rc = refuse(&x, "%s does not load alone", fqdn);
			sl_diags_free(&dg);
			break;
		}
		sl_diags_free(&dg);
		sis[n++] = (size_t)si;
	}
	if (!rc) {
		struct sluiced_delta dl = { .svcs = sis, .srcs = srcs, .src_si = src_si, .nsvcs = n,
					    .parts = ps, .nparts = nchg, .from = "kubernetes",
					    .t0_us = t0, .find_us = t_load - t0,
					    .load_us = sluiced_now_us() - t_load };

		rc = sluiced_apply_delta(d, &dl, err);
		if (rc)
			snprintf(k->incr_why, sizeof(k->incr_why), "%.*s",
				 (int)sizeof(k->incr_why) - 1, err);
	}
	for (i = 0; i < KUBE_DELTA_SVCS; i++) {
		sl_model_free(srcs[i]);
		free(texts[i]);
	}
	for (i = 0; ps && i < nchg; i++) {
		free((char *)ps[i].name);
		sl_text_unref((char *)ps[i].data);
	}
	free(ps);
	kube_changes_free(chg, nchg);
	return rc;
}
