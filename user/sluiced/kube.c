/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes source (`sluiced --kubernetes`): LIST then WATCH of
 * Services, EndpointSlices, Pods and the networking.istio.io kinds Sluice
 * accepts, as istiod and Cilium's agent read the cluster. libcurl speaks
 * HTTPS to the API server (service-account token and CA, or a kubeconfig
 * with a token or a client certificate);
 * json-c reads the lists and the watch events (a maintained library with a
 * streaming tokener and a plain writer, in Debian as libjson-c-dev).
 *
 * One thread per resource keeps that resource's objects (namespace/name ->
 * the object's JSON, which the policy front-end reads as YAML) and its
 * resourceVersion: it re-watches from there when a watch ends, relists on
 * 410 Gone, backs off on errors (1 s doubling to 30 s), and takes the next
 * Istio API version when a CRD version is not served (404). Every change
 * wakes the event loop (an eventfd); after a quiet spell (100 ms; 2 ms
 * when only endpoints moved) the loop applies it: as a delta of the live
 * generation when it can (kube_delta.c), else the Kubernetes share of the
 * desired state whole, once every resource has listed. An object that does
 * not load alone is left out with a log line naming it, so one bad
 * VirtualService does not hold back the rest. The threads and the objects
 * they hold: kube_watch.c; credentials: kube_config.c. Secrets of type
 * kubernetes.io/tls are read too, not as policy but as the files of
 * Gateway credentialName servers: kube_secret.c. docs/kubernetes.md.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sluiced/kube_int.h"
#include "sluiced/view.h"

static const char *const v_core[] = { "v1", NULL };
static const char *const v_discovery[] = { "v1", NULL };
static const char *const v_istio[] = { "v1", "v1beta1", "v1alpha3", NULL };

static const struct {
	const char *kind, *group, *plural;
	const char *const *versions;
	const char *select;
} resources[] = {
	{ "Service", "", "services", v_core, "" },
	{ "Pod", "", "pods", v_core, "" },
	{ "EndpointSlice", "discovery.k8s.io", "endpointslices", v_discovery, "" },
	{ "ServiceEntry", "networking.istio.io", "serviceentries", v_istio, "" },
	{ "WorkloadEntry", "networking.istio.io", "workloadentries", v_istio, "" },
	{ "DestinationRule", "networking.istio.io", "destinationrules", v_istio, "" },
	{ "VirtualService", "networking.istio.io", "virtualservices", v_istio, "" },
	{ "Gateway", "networking.istio.io", "gateways", v_istio, "" },
	{ "Sidecar", "networking.istio.io", "sidecars", v_istio, "" },
	/* not policy: the files of credentialName servers (kube_secret.c) */
	{ "Secret", "", "secrets", v_core, "&fieldSelector=type%3Dkubernetes.io%2Ftls" },
};
#define NRES (sizeof(resources) / sizeof(resources[0]))

/* ---- the daemon's side ---- */

int sluiced_kube_start(struct sluiced *d, char *err, size_t elen)
{
	struct sluiced_kube *k = &d->kube;
	struct epoll_event ev = { .events = EPOLLIN };
	int rc;

	if (!d->o.kubernetes)
		return 0;
	pthread_mutex_init(&k->mu, NULL);
	pthread_mutex_init(&k->list_mu, NULL);
	if (d->o.kube_apiserver)
		snprintf(k->servers, sizeof(k->servers), "%s", d->o.kube_apiserver);
	if (d->o.node_name)
		snprintf(k->node_name, sizeof(k->node_name), "%s", d->o.node_name);
	rc = d->o.kubeconfig ? kube_kubeconfig(k, d->o.kubeconfig, err, elen) : kube_in_cluster(k, err, elen);
	if (rc)
		return rc;
	if (d->o.kube_apiserver)	/* the flag wins over the kubeconfig */
		snprintf(k->servers, sizeof(k->servers), "%s", d->o.kube_apiserver);
	{
		char *comma = strchr(k->servers, ',');
		size_t l = comma ? (size_t)(comma - k->servers) : strlen(k->servers);

		snprintf(k->server, sizeof(k->server), "%.*s", (int)l, k->servers);
	}
	if (!sluiced_credentials_dir(d, k->cred_dir, sizeof(k->cred_dir)) ||
	    (rc = kube_secret_init(k, err, elen)))
		return rc ? rc : -EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		snprintf(err, elen, "libcurl does not start");
		return -EIO;
	}
	k->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (k->efd < 0) {
		snprintf(err, elen, "eventfd: %s", strerror(errno));
		return -errno;
	}
	ev.data.fd = k->efd;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, k->efd, &ev);
	k->res = calloc(NRES, sizeof(*k->res));
	if (!k->res)
		return -ENOMEM;
	k->n = NRES;
	for (size_t i = 0; i < NRES; i++) {
		struct kube_res *r = &k->res[i];

		r->kind = resources[i].kind;
		r->group = resources[i].group;
		r->plural = resources[i].plural;
		r->versions = resources[i].versions;
		r->select = resources[i].select;
		r->secret = !strcmp(r->kind, "Secret");
		r->k = k;
		if (pthread_create(&r->th, NULL, kube_res_main, r) == 0)
			r->started = true;
	}
	sluiced_log("kubernetes: watching %zu resources at %s%s%s%s", NRES, k->server,
		    k->node_name[0] ? " as node " : "", k->node_name,
		    k->node_name[0] ? " (Pods of other nodes: endpoints only)" : "");
	return 0;
}

bool sluiced_kube_owns(const struct sluiced *d, int fd)
{
	return d->o.kubernetes && fd == d->kube.efd;
}

void sluiced_kube_event(struct sluiced *d)
{
	struct sluiced_kube *k = &d->kube;
	uint64_t v, wait = KUBE_DEBOUNCE_MS;

	if (read(k->efd, &v, sizeof(v)) != sizeof(v))
		return;
	/* a change that can be applied as a delta costs little: a short quiet
	 * spell, so one endpoint's move is live in milliseconds; a burst
	 * still becomes one apply */
	pthread_mutex_lock(&k->mu);
	if (k->base_ok && !k->chg_all && k->nchg)
		wait = KUBE_DELTA_DEBOUNCE_MS;
	pthread_mutex_unlock(&k->mu);
	k->due_ms = sluiced_now_ms() + wait;
}

uint64_t sluiced_kube_next_ms(const struct sluiced *d)
{
	uint64_t now = sluiced_now_ms();

	if (!d->o.kubernetes || !d->kube.due_ms)
		return UINT64_MAX;
	return d->kube.due_ms <= now ? 0 : d->kube.due_ms - now;
}

static int part_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sl_ctl_part *)a)->name, ((const struct sl_ctl_part *)b)->name);
}

/* The Kubernetes share as parts, named by API path ("kubernetes:/apis/..."
 * + namespace/name), sorted. NULL when a resource has not listed yet. */
static struct sl_ctl_part *collect(struct sluiced_kube *k, size_t *np)
{
	struct sl_ctl_part *v = NULL;
	size_t n = 0, cap = 0;
	bool ready = true;

	pthread_mutex_lock(&k->mu);
	for (size_t i = 0; i < k->n; i++)
		ready &= k->res[i].synced;
	if (ready)
		kube_changes_clear(k);	/* all of them go into this apply */
	for (size_t i = 0; ready && i < k->n; i++) {
		struct kube_res *r = &k->res[i];
		char path[256];

		kube_res_path(r, path, sizeof(path));
		for (size_t j = 0; !r->secret && j < r->n; j++) {
			if (n == cap) {
				struct sl_ctl_part *p = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof(*v));
				if (!p)
					break;
				v = p;
			}
			memset(&v[n], 0, sizeof(v[n]));
			if (asprintf(&v[n].name, "kubernetes:%s/%s", path, r->objs[j].key) < 0) {
				v[n].name = NULL;
				break;
			}
			/* the store's text itself (shared), not a copy */
			v[n].data = sl_text_ref(r->objs[j].json);
			v[n].shared = true;
			v[n].len = sl_text_len(v[n].data);
			n++;
		}
	}
	pthread_mutex_unlock(&k->mu);
	if (!ready) {
		sl_ctl_parts_free(v, n);
		return NULL;
	}
	if (n)
		qsort(v, n, sizeof(*v), part_cmp);
	*np = n;
	return v ? v : calloc(1, sizeof(*v));
}

/* The objects an error is placed at, in the desired state with the rest
 * (d's other sources' parts): logged with their first error and left out,
 * so the rest of the cluster's objects still apply. Returns how many stay. */
static size_t drop_round(const struct sluiced *d, struct sl_ctl_part *v, size_t n)
{
	size_t all = n + d->nparts, o = 0, line;
	char cred[PATH_MAX];
	struct sl_ctl_part *u = calloc(all + 1, sizeof(*u));
	struct sl_snap_map map = { 0 };
	struct sl_model *m = NULL;
	struct sl_diags dg;
	char *text = NULL;
	size_t len = 0;
	bool *bad = calloc(n + 1, sizeof(*bad));

	if (!u || !bad) {
		free(u);
		free(bad);
		return n;
	}
	memcpy(u, v, n * sizeof(*v));
	for (size_t i = 0; i < d->nparts; i++)
		if (strcmp(d->parts[i].from, "kubernetes"))
			u[n + o++] = d->parts[i];
	sl_diags_init(&dg);
	/* as sluiced_apply refuses: the load, then the TLS files (a Gateway
	 * naming a Secret not read yet is left out, the rest applies) */
	if (!sl_snap_build(u, n + o, NULL, &text, &len, &map) &&
	    (sl_model_load_buf("<desired state>", text, len, &dg, &m) ||
	     sl_model_bind_credentials(m, sluiced_credentials_dir(d, cred, sizeof(cred)), &dg) < 0 ||
	     sl_model_check_tls_files(m, &dg) < 0)) {
		for (size_t j = 0; j < dg.n; j++) {
			int k = dg.v[j].pos.line > 0 ?
				sl_snap_locate(&map, (size_t)dg.v[j].pos.line, &line) : -1;

			if (dg.v[j].sev != SL_SEV_ERROR || k < 0 || (size_t)k >= n || bad[k])
				continue;
			bad[k] = true;
			sluiced_warn("kubernetes: %s left out: %s:%zu:%d: error[%s]: %s", v[k].name,
				     v[k].name, line, dg.v[j].pos.col, dg.v[j].code, dg.v[j].msg);
		}
	}
	sl_model_free(m);
	sl_diags_free(&dg);
	sl_snap_map_free(&map);
	free(text);
	free(u);
	o = 0;
	for (size_t i = 0; i < n; i++) {
		if (bad[i]) {
			free(v[i].name);
			sl_ctl_part_drop_data(&v[i]);
		} else {
			v[o++] = v[i];
		}
	}
	free(bad);
	return o;
}

/* Rounds of drop_round: an object left out can take others with it (a
 * VirtualService bound to a Gateway left out for its missing Secret names
 * a gateway that is no longer there), so again until none is found, a few
 * times at most. */
static size_t drop_bad(const struct sluiced *d, struct sl_ctl_part *v, size_t n)
{
	for (int round = 0; round < 4; round++) {
		size_t kept = drop_round(d, v, n);

		if (kept == n)
			break;
		n = kept;
	}
	return n;
}

void sluiced_kube_tick(struct sluiced *d)
{
	struct sluiced_kube *k = &d->kube;
	struct sl_ctl_part *v;
	size_t n = 0, outlen = 0;
	char *out = NULL;
	FILE *f;
	int st;

	if (!d->o.kubernetes || !k->due_ms || sluiced_now_ms() < k->due_ms)
		return;
	k->due_ms = 0;
	/* endpoints moved and nothing else: the change, not the state */
	if (k->base_ok && !d->delta_broken && d->model && d->dp) {
		int rc = kube_try_delta(d);

		if (rc == 0)
			return;
		sluiced_log("kubernetes: applying the whole share: %s",
			    rc == -EAGAIN ? k->incr_why : strerror(-rc));
	}
	v = collect(k, &n);
	if (!v)
		return;	/* not every resource listed yet */
	/* the reports are logged by the apply; nobody else reads them */
	f = open_memstream(&out, &outlen);
	if (!f) {
		sl_ctl_parts_free(v, n);
		return;
	}
	st = sluiced_apply(d, v, n, SRC_KUBERNETES, true, f);
	bool short_of = st != SL_CTL_OK;
	if (st == SL_CTL_REFUSED && (v = collect(k, &n))) {
		/* one bad object must not hold back the others: the share
		 * again (apply took the first set), without the ones an
		 * error is placed at */
		size_t m = drop_bad(d, v, n);

		if (m < n)
			st = sluiced_apply(d, v, m, SRC_KUBERNETES, true, f);
		else
			sl_ctl_parts_free(v, n);
	}
	/* a Secret added later may be what is missing (kube_watch.c applies
	 * the share whole again then) */
	pthread_mutex_lock(&k->mu);
	k->secret_retry = short_of;
	pthread_mutex_unlock(&k->mu);
	fclose(f);
	free(out);
	/* what the desired state holds is the store now, less any object left
	 * out (which loads alone again when it changes: a delta of its
	 * service fails to load and the whole share applies) */
	k->base_ok = st == SL_CTL_OK;
	k->applies += st == SL_CTL_OK;
}

void sluiced_kube_status(struct sluiced *d, struct vrec *r)
{
	struct sluiced_kube *k = &d->kube;
	struct vfield *list;

	if (!d->o.kubernetes)
		return;
	vf_str(r, "kubernetes", "%s", k->server);
	list = vf_list(r, "kubernetes_resources");
	pthread_mutex_lock(&k->mu);
	for (size_t i = 0; i < k->n; i++) {
		struct kube_res *x = &k->res[i];
		struct vrec *it = vf_item(list);
		char path[256];

		kube_res_path(x, path, sizeof(path));
		vf_add(list, "%s: %s, %zu objects, rv %s, %llu lists, %llu watches, %llu expired%s%s",
		       path, x->absent ? "not served" : x->synced ? "synced" : "not synced", x->n,
		       x->rv[0] ? x->rv : "-", (unsigned long long)x->lists,
		       (unsigned long long)x->watches, (unsigned long long)x->gone,
		       x->err[0] ? "; last error: " : "", x->err);
		vf_str(it, "path", "%s", path);
		vf_bool(it, "synced", x->synced);
		vf_bool(it, "served", !x->absent);
		vf_num(it, "objects", x->n);
		vf_num(it, "text_bytes", x->text_bytes);	/* the objects' texts */
		vf_num(it, "held_bytes", x->held_bytes);	/* ... as held (deflated) */
		vf_str(it, "resource_version", "%s", x->rv);
		vf_num(it, "lists", x->lists);
		vf_num(it, "watches", x->watches);
		vf_num(it, "expired", x->gone);
		vf_num(it, "errors", x->errors);
		vf_str(it, "error", "%s", x->err);
	}
	pthread_mutex_unlock(&k->mu);
}

void sluiced_kube_stop(struct sluiced *d)
{
	struct sluiced_kube *k = &d->kube;

	if (!d->o.kubernetes || !k->res)
		return;
	__atomic_store_n(&k->stop, true, __ATOMIC_RELAXED);
	for (size_t i = 0; i < k->n; i++) {
		if (k->res[i].started)
			pthread_join(k->res[i].th, NULL);
		kube_res_clear(&k->res[i]);
		curl_easy_cleanup(k->res[i].curl);
		free(k->res[i].buf);
	}
	free(k->res);
	k->res = NULL;
	free(k->ca_blob.p);
	free(k->cert_blob.p);
	free(k->key_blob.p);
	close(k->efd);
	curl_global_cleanup();
}
