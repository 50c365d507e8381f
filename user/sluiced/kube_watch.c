/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One thread per resource of the Kubernetes source: LIST, then WATCH from
 * the list's resourceVersion (bookmarks; again from the last one when a
 * watch ends), a relist on 410 Gone or "too large resource version", back
 * off on errors (1 s doubling to 30 s), the next Istio API version while a
 * CRD version is not served (404). The thread keeps the resource's objects
 * (namespace/name -> the JSON the front-end reads as YAML) and notes what
 * changed since the share was last applied whole (kube_delta.c applies
 * that). json-c reads lists and events; the requests go through
 * kube_http.c.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stddef.h>
#include <json-c/json.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util_sorted.h"
#include "sluiced/kube_int.h"

void kube_res_path(const struct kube_res *r, char *buf, size_t len)
{
	if (r->group[0])
		snprintf(buf, len, "/apis/%s/%s/%s", r->group, r->versions[r->vi], r->plural);
	else
		snprintf(buf, len, "/api/%s/%s", r->versions[r->vi], r->plural);
}

void kube_wake(struct sluiced_kube *k)
{
	uint64_t one = 1;

	if (write(k->efd, &one, sizeof(one)) < 0) {
		/* the counter is full: the loop is awake anyway */
	}
}

/* ---- objects ---- */

/* Delete from object o every key not in keep (NULL-terminated). */
static void keep_only(json_object *o, const char *const *keep)
{
	const char *drop[64];
	size_t n = 0;

	if (!o || !json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach(o, k, v) {
		size_t i;

		(void)v;
		for (i = 0; keep[i] && strcmp(keep[i], k); i++)
			;
		if (!keep[i] && n < 64)
			drop[n++] = k;
	}
	for (size_t i = 0; i < n; i++)
		json_object_object_del(o, drop[i]);
}

static void keep_only_each(json_object *arr, const char *const *keep)
{
	if (!arr || !json_object_is_type(arr, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		keep_only(json_object_array_get_idx(arr, i), keep);
}

/* The fields of Services, EndpointSlices and Pods the front-end reads
 * (policy_k8s.c), and nothing else: a Pod's JSON is mostly what Sluice
 * never reads (volumes, env, statuses), held for every Pod of the cluster.
 * A Pod scheduled to another node than this one (--node-name) is held
 * without its uid: to the front-end an endpoint, not a workload (it can
 * never be a client here, and 50,000 of them were 50,000 workloads to
 * resolve and hold). */
static void trim_core(const struct kube_res *r, json_object *o)
{
	static const char *const top_svc[] = { "kind", "apiVersion", "metadata", "spec", NULL };
	static const char *const top_slice[] = { "kind", "apiVersion", "metadata", "addressType",
						 "ports", "endpoints", NULL };
	static const char *const top_pod[] = { "kind", "apiVersion", "metadata", "spec", "status",
					       NULL };
	static const char *const meta[] = { "name", "namespace", "uid", "labels", "annotations",
					    "deletionTimestamp", NULL };
	static const char *const ep[] = { "addresses", "conditions", "targetRef", NULL };
	static const char *const cond[] = { "ready", "serving", "terminating", NULL };
	static const char *const ref[] = { "kind", "name", NULL };	/* the slice's namespace */
	static const char *const pod_spec[] = { "containers", NULL };
	static const char *const ctr[] = { "ports", NULL };
	static const char *const pod_status[] = { "phase", "podIP", "podIPs", NULL };
	json_object *md = NULL, *x = NULL, *ann = NULL;

	if (!strcmp(r->kind, "Service"))
		keep_only(o, top_svc);
	else if (!strcmp(r->kind, "EndpointSlice"))
		keep_only(o, top_slice);
	else if (!strcmp(r->kind, "Pod"))
		keep_only(o, top_pod);
	else
		return;
	if (json_object_object_get_ex(o, "metadata", &md)) {
		keep_only(md, meta);
		/* of the annotations only Sluice's own (kubectl's
		 * last-applied-configuration alone can be kilobytes) */
		if (json_object_object_get_ex(md, "annotations", &ann) &&
		    json_object_is_type(ann, json_type_object)) {
			const char *drop[64];
			size_t n = 0;

			json_object_object_foreach(ann, k, v) {
				(void)v;
				if (strncmp(k, "sluice.io/", 10) && n < 64)
					drop[n++] = k;
			}
			for (size_t i = 0; i < n; i++)
				json_object_object_del(ann, drop[i]);
		}
	}
	if (json_object_object_get_ex(o, "endpoints", &x)) {
		keep_only_each(x, ep);
		for (size_t i = 0; json_object_is_type(x, json_type_array) &&
				   i < json_object_array_length(x); i++) {
			json_object *e = json_object_array_get_idx(x, i), *t = NULL;

			if (json_object_object_get_ex(e, "targetRef", &t))
				keep_only(t, ref);
			if (json_object_object_get_ex(e, "conditions", &t))
				keep_only(t, cond);
		}
	}
	if (!strcmp(r->kind, "Pod")) {
		const char *node = r->k->node_name;
		json_object *nn = NULL;

		if (node[0] && md &&
		    (!json_object_object_get_ex(o, "spec", &x) ||
		     !json_object_object_get_ex(x, "nodeName", &nn) ||
		     strcmp(json_object_get_string(nn), node)))
			json_object_object_del(md, "uid");
		if (json_object_object_get_ex(o, "spec", &x)) {
			json_object *c = NULL;

			keep_only(x, pod_spec);
			/* of the containers only their ports (a named targetPort);
			 * one without ports is not held at all */
			if (json_object_object_get_ex(x, "containers", &c) &&
			    json_object_is_type(c, json_type_array)) {
				keep_only_each(c, ctr);
				for (size_t i = json_object_array_length(c); i-- > 0;) {
					json_object *ci = json_object_array_get_idx(c, i);

					if (json_object_is_type(ci, json_type_object) &&
					    !json_object_object_length(ci))
						json_object_array_del_idx(c, i, 1);
				}
				if (!json_object_array_length(c))
					json_object_object_del(x, "containers");
			}
		}
		if (json_object_object_get_ex(o, "status", &x))
			keep_only(x, pod_status);
	}
}

/* An object's key, "namespace/name", from its metadata md. */
void kube_obj_key(json_object *md, char *key, size_t klen)
{
	json_object *v;

	snprintf(key, klen, "%s/%s",
		 md && json_object_object_get_ex(md, "namespace", &v) ? json_object_get_string(v) : "",
		 md && json_object_object_get_ex(md, "name", &v) ? json_object_get_string(v) : "");
}

/* The object as the front-end reads it, serialized in o (not a Secret's):
 * kind and apiVersion set (list items carry neither), status dropped for
 * Istio kinds (never read), Services, EndpointSlices and Pods trimmed to
 * what is read (trim_core). Its key in key, its resourceVersion in rv. */
static const char *obj_json(const struct kube_res *r, json_object *o, char *key, size_t klen,
			    char *rv, size_t *len)
{
	json_object *md = NULL, *v;
	char api[96];

	rv[0] = '\0';
	if (json_object_object_get_ex(o, "metadata", &md) &&
	    json_object_object_get_ex(md, "resourceVersion", &v))
		snprintf(rv, KUBE_RV_LEN, "%s", json_object_get_string(v));

	if (r->group[0])
		snprintf(api, sizeof(api), "%s/%s", r->group, r->versions[r->vi]);
	else
		snprintf(api, sizeof(api), "%s", r->versions[r->vi]);
	json_object_object_add(o, "kind", json_object_new_string(r->kind));
	json_object_object_add(o, "apiVersion", json_object_new_string(api));
	if (r->group[0] && !strcmp(r->group, "networking.istio.io"))
		json_object_object_del(o, "status");
	/* managedFields: never read; resourceVersion: kept per resource, and
	 * without it a relist that finds an object unchanged sees the same
	 * text (after an API server restart on a new series too) */
	if (json_object_object_get_ex(o, "metadata", &md)) {
		json_object_object_del(md, "managedFields");
		json_object_object_del(md, "resourceVersion");
	}
	trim_core(r, o);
	md = NULL;
	json_object_object_get_ex(o, "metadata", &md);
	kube_obj_key(md, key, klen);
	return json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE, len);
}

/* The object's shared text (the desired state's part holds this copy too):
 * obj_json's, or a Secret's digest. */
static char *obj_text(const struct kube_res *r, json_object *o, char *key, size_t klen, char *rv)
{
	const char *s;
	size_t len;

	if (r->secret) {
		char *dg = kube_secret_put((struct kube_res *)r, o, key, klen, rv), *t;

		t = dg ? sl_text_new(dg, strlen(dg)) : NULL;
		free(dg);
		return t;
	}
	s = obj_json(r, o, key, klen, rv, &len);
	return s ? sl_text_new_dict(s, len, kube_dict(r->kind)) : NULL;
}

/* An EndpointSlice's Service: its kubernetes.io/service-name label (in o). */
static const char *slice_service_of(const struct kube_res *r, json_object *o)
{
	json_object *md, *labels, *v;

	if (strcmp(r->kind, "EndpointSlice") || !json_object_object_get_ex(o, "metadata", &md) ||
	    !json_object_object_get_ex(md, "labels", &labels) ||
	    !json_object_object_get_ex(labels, "kubernetes.io/service-name", &v))
		return NULL;
	return json_object_get_string(v);
}

static char *slice_service(const struct kube_res *r, json_object *o)
{
	const char *s = slice_service_of(r, o);

	return s ? strdup(s) : NULL;
}

/* Under k->mu: note that key of r changed; old is what it was (taken). */
static void note_change(struct kube_res *r, const char *key, char *old)
{
	struct sluiced_kube *k = r->k;
	size_t res = (size_t)(r - k->res);
	struct kube_change *v;

	if (r->secret) {
		/* a Secret's new files are re-read by sluice-http as they are;
		 * a new Secret may be what the last whole apply was refused or
		 * left a Gateway out for: the whole share again then */
		if (!old && k->secret_retry)
			k->chg_all = true;
		sl_text_unref(old);
		return;
	}
	if (k->chg_all) {
		sl_text_unref(old);
		return;
	}
	for (size_t i = 0; i < k->nchg; i++)
		if (k->chg[i].res == res && !strcmp(k->chg[i].key, key)) {
			sl_text_unref(old);	/* the first "before" is the applied one */
			return;
		}
	if (k->nchg >= KUBE_DELTA_MAX)
		goto all;
	if (k->nchg == k->cchg) {
		size_t cap = k->cchg ? k->cchg * 2 : 16;

		if (!(v = realloc(k->chg, cap * sizeof(*v))))
			goto all;
		k->chg = v;
		k->cchg = cap;
	}
	k->chg[k->nchg] = (struct kube_change){ res, strdup(key), old };
	if (!k->chg[k->nchg].key)
		goto all;
	k->nchg++;
	return;
all:
	sl_text_unref(old);
	k->chg_all = true;
}

void kube_changes_free(struct kube_change *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		sl_text_unref(v[i].old);
	}
	free(v);
}

/* Under k->mu: forget the changes (the whole share is being applied). */
void kube_changes_clear(struct sluiced_kube *k)
{
	kube_changes_free(k->chg, k->nchg);
	k->chg = NULL;
	k->nchg = k->cchg = 0;
	k->chg_all = false;
}

/* Room for one more object; false on out-of-memory. */
static bool obj_room(struct kube_res *r)
{
	struct kube_obj *v;
	size_t cap;

	if (r->n < r->ocap)
		return true;
	/* by an eighth, not double: a list leaves the array exactly full
	 * (do_list), and the next Pod of 50,000 must not reserve 50,000 more */
	cap = r->ocap + r->ocap / 8 + 64;
	if (!(v = realloc(r->objs, cap * sizeof(*v))))
		return false;
	r->objs = v;
	r->ocap = cap;
	return true;
}

uint64_t kube_rv_id(const char *rv)
{
	uint64_t v = 0, h = 1469598103934665603ull;	/* FNV-1a */
	size_t i;

	if (!rv || !rv[0])
		return 0;
	for (i = 0; rv[i] >= '0' && rv[i] <= '9' && i < 18; i++)
		v = v * 10 + (uint64_t)(rv[i] - '0');
	if (!rv[i])
		return v + 1;	/* 1 .. 10^18 */
	for (i = 0; rv[i]; i++)
		h = (h ^ (unsigned char)rv[i]) * 1099511628211ull;
	return h | 1ull << 63;
}

/* The first object whose key is not below key. */
size_t kube_obj_at(const struct kube_res *r, const char *key)
{
	return sl_lower_bound(r->objs, r->n, sizeof(*r->objs), offsetof(struct kube_obj, key), key);
}

/* The texts' sizes r holds (status): kept as objects come and go, so a
 * status request does not read 72,000 texts' headers under the lock. */
static void count_text(struct kube_res *r, const char *t, bool add)
{
	size_t len = t ? sl_text_len(t) : 0, held = t ? sl_text_held(t) : 0;

	r->text_bytes = add ? r->text_bytes + len : r->text_bytes - len;
	r->held_bytes = add ? r->held_bytes + held : r->held_bytes - held;
}

/* Under k->mu: set (json != NULL) or delete key. Takes json (a shared
 * text) and svc. */

static void obj_put(struct kube_res *r, const char *key, char *json, char *svc, const char *rv)
{
	size_t i = kube_obj_at(r, key);
	char *k;

	if (i < r->n && !strcmp(r->objs[i].key, key)) {
		count_text(r, r->objs[i].json, false);
		count_text(r, json, true);
		note_change(r, key, r->objs[i].json);
		if (json) {
			r->objs[i].json = json;
			if (svc && r->objs[i].svc && !strcmp(svc, r->objs[i].svc)) {
				free(svc);	/* the same Service: the index holds */
			} else {
				free(r->objs[i].svc);
				r->objs[i].svc = svc;
				r->by_stale = true;
			}
			r->objs[i].rv = kube_rv_id(rv);
			return;
		}
		free(r->objs[i].svc);
		free(svc);
		r->by_stale = true;
		if (r->secret)
			kube_secret_drop(r, key);
		free(r->objs[i].key);
		memmove(&r->objs[i], &r->objs[i + 1], (r->n - i - 1) * sizeof(*r->objs));
		r->n--;
		return;
	}
	if (!json) {
		free(svc);
		return;
	}
	if (!obj_room(r) || !(k = strdup(key))) {
		sl_text_unref(json);
		free(svc);
		return;
	}
	memmove(&r->objs[i + 1], &r->objs[i], (r->n - i) * sizeof(*r->objs));
	count_text(r, json, true);
	r->objs[i] = (struct kube_obj){ k, json, svc, kube_rv_id(rv) };
	r->n++;
	r->by_stale = true;
	note_change(r, key, NULL);
}

static int obj_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kube_obj *)a)->key, ((const struct kube_obj *)b)->key);
}

static void objs_free(struct kube_obj *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		sl_text_unref(v[i].json);
		free(v[i].svc);
	}
	free(v);
}

void kube_res_clear(struct kube_res *r)
{
	objs_free(r->objs, r->n);
	r->objs = NULL;
	r->n = r->ocap = 0;
	free(r->by_svc);
	r->by_svc = NULL;
	r->nby = 0;
	r->by_stale = true;
	r->text_bytes = r->held_bytes = 0;
}

/* ---- EndpointSlices by Service ---- */

/* Order of the by-Service index: namespace (the key's first part), then
 * Service. */
static int by_svc_cmp(const struct kube_obj *a, const char *bns, size_t bnsl, const char *bsvc)
{
	size_t al = strcspn(a->key, "/");
	int c = strncmp(a->key, bns, al < bnsl ? al : bnsl);

	if (c)
		return c;
	if (al != bnsl)
		return al < bnsl ? -1 : 1;
	return strcmp(a->svc, bsvc);
}

static int by_svc_sort(const void *a, const void *b, void *arg)
{
	const struct kube_obj *o = arg, *x = &o[*(const size_t *)a], *y = &o[*(const size_t *)b];
	int c = by_svc_cmp(x, y->key, strcspn(y->key, "/"), y->svc);

	return c ? c : strcmp(x->key, y->key);
}

size_t kube_slices_of(struct kube_res *r, const char *ns, size_t nsl, const char *svc,
		      const size_t **idx)
{
	size_t lo = 0, hi, n;

	if (r->by_stale) {
		size_t *v = realloc(r->by_svc, (r->n + 1) * sizeof(*v));

		if (!v)
			return *idx = NULL, 0;
		r->by_svc = v;
		r->nby = 0;
		for (size_t i = 0; i < r->n; i++)
			if (r->objs[i].svc && r->objs[i].json)
				v[r->nby++] = i;
		qsort_r(v, r->nby, sizeof(*v), by_svc_sort, r->objs);
		r->by_stale = false;
	}
	hi = r->nby;
	while (lo < hi) {	/* the first not below (ns, svc) */
		size_t mid = lo + (hi - lo) / 2;

		if (by_svc_cmp(&r->objs[r->by_svc[mid]], ns, nsl, svc) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (n = 0; lo + n < r->nby && !by_svc_cmp(&r->objs[r->by_svc[lo + n]], ns, nsl, svc); n++)
		;
	*idx = r->by_svc + lo;
	return n;
}

/* Under k->mu: a relist's objects (sorted) replace r's; what differs is
 * noted as changed, so a relist that finds little changed applies
 * little. Takes v. Returns how many objects changed. */
static size_t res_replace(struct kube_res *r, struct kube_obj *v, size_t n, size_t cap)
{
	size_t i = 0, j = 0, changed = 0;

	if (!r->lists)
		r->k->chg_all = true;	/* the first list: all of it is new */
	while (i < r->n || j < n) {
		int c = i == r->n ? 1 : j == n ? -1 : strcmp(r->objs[i].key, v[j].key);

		if (c < 0) {		/* gone */
			if (r->secret)
				kube_secret_drop(r, r->objs[i].key);
			note_change(r, r->objs[i].key, r->objs[i].json);
			r->objs[i++].json = NULL;
			changed++;
		} else if (c > 0) {	/* new */
			note_change(r, v[j++].key, NULL);
			changed++;
		} else {
			if (!v[j].json) {	/* the same resourceVersion: kept as held
						 * (its key is the held one too) */
				v[j].json = r->objs[i].json;
				v[j].svc = r->objs[i].svc;
				r->objs[i].json = r->objs[i].svc = r->objs[i].key = NULL;
			} else if (!sl_text_same(r->objs[i].json, v[j].json)) {
				note_change(r, r->objs[i].key, r->objs[i].json);
				r->objs[i].json = NULL;
				changed++;
			} else {	/* the same text: the one held (and shared) stays */
				sl_text_unref(v[j].json);
				v[j].json = r->objs[i].json;
				r->objs[i].json = NULL;
			}
			i++;
			j++;
		}
	}
	kube_res_clear(r);
	r->objs = v;
	r->n = n;
	r->ocap = cap;
	for (i = 0; i < n; i++)
		count_text(r, v[i].json, true);
	return changed;
}

/* ---- LIST and WATCH ---- */

static void set_err(struct kube_res *r, const char *fmt, const char *a, long b)
{
	pthread_mutex_lock(&r->k->mu);
	snprintf(r->err, sizeof(r->err), fmt, a, b);
	r->errors++;
	pthread_mutex_unlock(&r->k->mu);
}

/* The held object item is, when its resourceVersion is the held one's
 * (key set either way). Reads r->objs without the lock: only this thread
 * changes them. */
static const struct kube_obj *same_version(const struct kube_res *r, json_object *it, char *key,
					   size_t klen)
{
	json_object *md = NULL, *v;
	const char *rv;
	size_t i;

	json_object_object_get_ex(it, "metadata", &md);
	kube_obj_key(md, key, klen);
	rv = md && json_object_object_get_ex(md, "resourceVersion", &v) ? json_object_get_string(v)
								       : NULL;
	if (!rv || !rv[0])
		return NULL;
	i = kube_obj_at(r, key);
	return i < r->n && !strcmp(r->objs[i].key, key) && r->objs[i].rv == kube_rv_id(rv) &&
	       r->objs[i].json ? &r->objs[i] : NULL;
}

/* A list being read (do_list) given up: its objects freed, but not the
 * keys of those held as they were (json NULL), which are the store's. */
static void list_free(struct kube_obj *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!v[i].json)
			v[i].key = NULL;
	objs_free(v, n);
}

/* A list page's new objects, copied out of its JSON tree and made into
 * texts and keys only after the tree is freed (stage_flush). Made while it
 * is parsed, each landed between the tree's nodes, and once the tree was
 * freed the arena's pages stayed resident for the few bytes kept on each:
 * ~15 MB of RSS for ~6 MB of texts and keys at 10,000 services. */
struct list_stage {
	char *buf;		/* texts, keys and service names, each NUL-ended */
	size_t len, cap;
	struct stage_ent {
		size_t text, tlen, key, svc;	/* offsets in buf; svc SIZE_MAX: none */
		uint64_t rv;
	} *e;
	size_t n, ecap;
};

/* s copied into st->buf: its offset, or SIZE_MAX (out of memory). */
static size_t stage_str(struct list_stage *st, const char *s, size_t len)
{
	size_t at = st->len;

	if (st->len + len + 1 > st->cap) {
		size_t ncap = (st->len + len + 1) * 2;
		char *nb = realloc(st->buf, ncap);

		if (!nb)
			return SIZE_MAX;
		st->buf = nb;
		st->cap = ncap;
	}
	memcpy(st->buf + at, s, len);
	st->buf[at + len] = '\0';
	st->len += len + 1;
	return at;
}

/* One new object staged: its text, key, EndpointSlice's service (or NULL)
 * and resourceVersion id. Out of memory: it is dropped, as when its text
 * could not be made. */
static void stage_put(struct list_stage *st, const char *text, size_t tlen, const char *key,
		      const char *svc, uint64_t rv)
{
	struct stage_ent e = { .tlen = tlen, .svc = SIZE_MAX, .rv = rv };

	if (st->n == st->ecap) {
		size_t ncap = st->ecap ? st->ecap * 2 : 64;
		struct stage_ent *ne = realloc(st->e, ncap * sizeof(*ne));

		if (!ne)
			return;
		st->e = ne;
		st->ecap = ncap;
	}
	if ((e.text = stage_str(st, text, tlen)) == SIZE_MAX ||
	    (e.key = stage_str(st, key, strlen(key))) == SIZE_MAX ||
	    (svc && (e.svc = stage_str(st, svc, strlen(svc))) == SIZE_MAX))
		return;
	st->e[st->n++] = e;
}

/* The staged objects appended to v (room for them made by the caller), and
 * the stage emptied for the next page. */
static void stage_flush(const struct kube_res *r, struct list_stage *st, struct kube_obj *v,
			size_t *n)
{
	for (size_t i = 0; i < st->n; i++) {
		const struct stage_ent *e = &st->e[i];
		char *t = sl_text_new_dict(st->buf + e->text, e->tlen, kube_dict(r->kind));
		char *k = t ? strdup(st->buf + e->key) : NULL;

		if (!k) {
			sl_text_unref(t);
			continue;
		}
		v[(*n)++] = (struct kube_obj){ k, t, e->svc == SIZE_MAX ? NULL
								: strdup(st->buf + e->svc), e->rv };
	}
	st->n = 0;
	st->len = 0;
}

/* 0 listed; 1 not served (404: try the next version); -1 error. */
static int do_list(struct kube_res *r)
{
	char path[256], q[2048], key[512], rvs[64] = "", *cont = NULL;
	struct kube_obj *v = NULL;
	struct kube_body b = { 0 };
	struct list_stage st = { 0 };
	json_tokener *tok = json_tokener_new();
	size_t n = 0, cap = 0;
	long code = 0;
	int rc = -1;
	uint64_t t0 = sluiced_now_us(), read_us = 0, t_page;
	size_t pages = 0, changed = 0;

	if (!tok)
		return -1;
	kube_res_path(r, path, sizeof(path));
	/* in pages (as client-go's pager): a page's JSON tree is what is held
	 * at once, not the whole list's; the body's buffer and the tokener are
	 * the same from page to page (a list of 50,000 Pods is 100 pages, and
	 * every large block malloc hands out again costs a consolidation of
	 * its free lists) */
	do {
		json_object *j, *items = NULL, *md = NULL, *x = NULL;

		if (cont) {
			char *e = curl_easy_escape(NULL, cont, 0);

			snprintf(q, sizeof(q), "%s?limit=%d%s&continue=%s", path, KUBE_LIST_PAGE,
				 r->select, e ? e : "");
			curl_free(e);
		} else {
			snprintf(q, sizeof(q), "%s?limit=%d%s", path, KUBE_LIST_PAGE, r->select);
		}
		free(cont);
		cont = NULL;
		b.len = 0;
		code = kube_http_get(r, q, kube_on_body, &b, false);
		if (code != 200) {
			if (code == 404) {
				rc = 1;
			} else if (code == 403 && r->secret) {
				/* RBAC grants no Secrets: the rest of the source works,
				 * credentialName servers are refused (no Secret read) */
				set_err(r, "%s: HTTP %ld (forbidden: Gateway credentialName "
					"Secrets are not read; docs/kubernetes.md, RBAC)", path, code);
				rc = 1;
			} else if (code > 0) {	/* 410 too: the continue token expired */
				set_err(r, "%s: HTTP %ld", path, code);
			} else {
				r->errors++;
			}
			goto out;
		}
		pthread_mutex_lock(&r->k->list_mu);
		t_page = sluiced_now_us();
		pages++;
		json_tokener_reset(tok);
		j = b.p ? json_tokener_parse_ex(tok, b.p, (int)b.len) : NULL;
		if (!j || json_tokener_get_error(tok) != json_tokener_success ||
		    !json_object_object_get_ex(j, "items", &items) ||
		    !json_object_is_type(items, json_type_array)) {
			set_err(r, "%s: not a List (%ld)", path, 0);
			json_object_put(j);
			pthread_mutex_unlock(&r->k->list_mu);
			goto out;
		}
		size_t nitems = json_object_array_length(items);

		if (n + nitems + 1 > cap) {
			size_t ncap = (n + nitems + 1) * 2;
			struct kube_obj *nv = realloc(v, ncap * sizeof(*v));

			if (!nv) {
				json_object_put(j);
				pthread_mutex_unlock(&r->k->list_mu);
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		for (size_t i = 0; i < nitems; i++) {
			json_object *it = json_object_array_get_idx(items, i);
			const struct kube_obj *held = same_version(r, it, key, sizeof(key));
			char rv[KUBE_RV_LEN], *t, *k;
			const char *js;
			size_t jlen;

			/* an object whose resourceVersion is the one held is not
			 * serialized again, nor its key copied: res_replace keeps
			 * the held text and key (this thread alone changes them) */
			if (held) {
				v[n++] = (struct kube_obj){ held->key, NULL, NULL, held->rv };
			} else if (r->secret) {	/* a digest, not the tree's text */
				if (!(t = obj_text(r, it, key, sizeof(key), rv)))
					continue;
				if (!(k = strdup(key))) {
					sl_text_unref(t);
					continue;
				}
				v[n++] = (struct kube_obj){ k, t, NULL, kube_rv_id(rv) };
			} else if ((js = obj_json(r, it, key, sizeof(key), rv, &jlen))) {
				stage_put(&st, js, jlen, key, slice_service_of(r, it), kube_rv_id(rv));
			}
		}
		/* the list's resourceVersion is the first page's (the snapshot
		 * the pages are read from) */
		if (json_object_object_get_ex(j, "metadata", &md)) {
			if (!rvs[0] && json_object_object_get_ex(md, "resourceVersion", &x))
				snprintf(rvs, sizeof(rvs), "%s", json_object_get_string(x));
			if (json_object_object_get_ex(md, "continue", &x) &&
			    json_object_get_string(x)[0])
				cont = strdup(json_object_get_string(x));
		}
		json_object_put(j);
		stage_flush(r, &st, v, &n);
		read_us += sluiced_now_us() - t_page;
		pthread_mutex_unlock(&r->k->list_mu);
	} while (cont);
	/* appended, then sorted once; a key listed twice (a server whose
	 * pages are not one snapshot, and a store that changed between them)
	 * is kept once: the held key a duplicate borrowed is not freed */
	if (n) {
		size_t o = 1;

		qsort(v, n, sizeof(*v), obj_cmp);
		for (size_t i = 1; i < n; i++) {
			if (strcmp(v[i].key, v[o - 1].key)) {
				v[o++] = v[i];
				continue;
			}
			if (v[i].json && v[i].key != v[o - 1].key)
				free(v[i].key);
			sl_text_unref(v[i].json);
			free(v[i].svc);
		}
		n = o;
	}
	if (n && n < cap) {	/* grown by pages: trimmed to what it holds */
		struct kube_obj *fit = realloc(v, n * sizeof(*v));

		if (fit) {
			v = fit;
			cap = n;
		}
	}
	if (!v)
		v = calloc(1, sizeof(*v));
	pthread_mutex_lock(&r->k->mu);
	if (v)
		changed = res_replace(r, v, n, cap ? cap : 1);
	snprintf(r->rv, sizeof(r->rv), "%s", rvs);
	r->synced = true;
	r->absent = false;
	r->lists++;
	r->err[0] = '\0';
	pthread_mutex_unlock(&r->k->mu);
	sluiced_log("kubernetes: listed %s: %zu objects in %zu pages, %zu changed, %.0f ms (%.0f ms "
		    "reading the pages)", path, n, pages, changed,
		    (double)(sluiced_now_us() - t0) / 1000.0, (double)read_us / 1000.0);
	v = NULL;
	n = 0;
	rc = 0;
out:
	list_free(v, n);
	free(cont);
	free(b.p);
	free(st.buf);
	free(st.e);
	json_tokener_free(tok);
	/* the pages' trees were freed in this thread's malloc arena: give
	 * them back, so RSS follows what is held */
	malloc_trim(0);
	if (!rc)
		kube_wake(r->k);
	return rc;
}

/* One watch event line. */
static void on_event(struct kube_res *r, const char *line)
{
	json_object *e = json_tokener_parse(line), *type, *o, *md, *rv, *code;
	const char *t;
	char key[512];

	if (!e)
		return;
	if (!json_object_object_get_ex(e, "type", &type) ||
	    !json_object_object_get_ex(e, "object", &o)) {
		json_object_put(e);
		return;
	}
	t = json_object_get_string(type);
	pthread_mutex_lock(&r->k->mu);
	if (!strcmp(t, "ERROR")) {
		json_object *msg = NULL;
		int c = json_object_object_get_ex(o, "code", &code) ? json_object_get_int(code) : 0;

		json_object_object_get_ex(o, "message", &msg);
		if (c == 410 || (c == 504 && msg && strstr(json_object_get_string(msg),
							   "Too large resource version"))) {
			/* 410: our resourceVersion was compacted away; 504 "too
			 * large": the server restarted on a new series. Either way
			 * what we hold is listed again. */
			r->expired = true;
			r->gone++;
		} else {
			snprintf(r->err, sizeof(r->err), "watch: %s", json_object_to_json_string(o));
			r->errors++;
		}
	} else {
		if (json_object_object_get_ex(o, "metadata", &md) &&
		    json_object_object_get_ex(md, "resourceVersion", &rv))
			snprintf(r->rv, sizeof(r->rv), "%s", json_object_get_string(rv));
		if (!strcmp(t, "ADDED") || !strcmp(t, "MODIFIED")) {
			char orv[KUBE_RV_LEN], *txt = obj_text(r, o, key, sizeof(key), orv);
			if (txt)
				obj_put(r, key, txt, slice_service(r, o), orv);
		} else if (!strcmp(t, "DELETED")) {
			/* the key is all a deletion needs: no text made */
			md = NULL;
			json_object_object_get_ex(o, "metadata", &md);
			kube_obj_key(md, key, sizeof(key));
			obj_put(r, key, NULL, NULL, "");
		}
	}
	pthread_mutex_unlock(&r->k->mu);
	json_object_put(e);
	if (strcmp(t, "BOOKMARK") && strcmp(t, "ERROR"))
		kube_wake(r->k);
}

static size_t on_stream(char *data, size_t sz, size_t nm, void *arg)
{
	struct kube_res *r = arg;
	struct kube_body b = { r->buf, r->len, r->cap };
	size_t n = sz * nm, start = 0, i;

	if (kube_on_body(data, sz, nm, &b) != n)
		return 0;
	r->buf = b.p;
	r->len = b.len;
	r->cap = b.cap;
	for (i = 0; i < r->len; i++)
		if (r->buf[i] == '\n') {
			r->buf[i] = '\0';
			on_event(r, r->buf + start);
			start = i + 1;
		}
	memmove(r->buf, r->buf + start, r->len - start);
	r->len -= start;
	return n;
}

/* 0 the watch ended (watch again), 1 expired (relist), -1 error. */
static int do_watch(struct kube_res *r)
{
	char path[256], q[512], rv[64];
	long code;

	kube_res_path(r, path, sizeof(path));
	pthread_mutex_lock(&r->k->mu);
	snprintf(rv, sizeof(rv), "%s", r->rv);
	r->watches++;
	pthread_mutex_unlock(&r->k->mu);
	snprintf(q, sizeof(q), "%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true&"
		 "timeoutSeconds=%d%s", path, rv, KUBE_WATCH_S, r->select);
	r->len = 0;
	r->expired = false;
	code = kube_http_get(r, q, on_stream, r, true);
	if (r->expired)
		return 1;
	if (code == 410)
		return 1;
	if (code != 200) {
		if (code > 0)
			set_err(r, "%s: watch: HTTP %ld", path, code);
		return -1;
	}
	return 0;
}

static void nap(struct kube_res *r, unsigned ms)
{
	for (unsigned t = 0; t < ms && !__atomic_load_n(&r->k->stop, __ATOMIC_RELAXED); t += 50)
		usleep(50000);
}

void *kube_res_main(void *arg)
{
	struct kube_res *r = arg;
	unsigned backoff = 1000;

	while (!__atomic_load_n(&r->k->stop, __ATOMIC_RELAXED)) {
		int rc = do_list(r);
		uint64_t listed_ms = sluiced_now_ms();

		if (rc == 1) {
			if (r->versions[r->vi + 1]) {
				r->vi++;
				continue;
			}
			/* no version served (the CRD is not installed): nothing to
			 * read; looked at again after a while */
			pthread_mutex_lock(&r->k->mu);
			r->absent = r->synced = true;
			pthread_mutex_unlock(&r->k->mu);
			kube_wake(r->k);
			r->vi = 0;
			nap(r, 30000);
			continue;
		}
		if (rc < 0) {
			nap(r, backoff);
			backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
			continue;
		}
		backoff = 1000;
		for (;;) {
			if (__atomic_load_n(&r->k->stop, __ATOMIC_RELAXED))
				break;
			rc = do_watch(r);
			if (rc == 1) {
				/* relist; a server that expires what it just listed
				 * must not make this a busy loop */
				if (sluiced_now_ms() - listed_ms < 1000)
					nap(r, 1000);
				break;
			}
			if (rc < 0) {
				nap(r, backoff);
				backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
			} else {
				backoff = 1000;
			}
		}
	}
	return NULL;
}
