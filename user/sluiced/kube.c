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
 * wakes the event loop (an eventfd); after a 100 ms quiet spell the loop
 * applies the Kubernetes share of the desired state as one apply — once
 * every resource has listed. An object that does not load alone is left
 * out with a log line naming it, so one bad VirtualService does not hold
 * back the rest. docs/kubernetes.md.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "sluice/compile_l4.h"
#include "sluice/yaml_map.h"
#include "sluiced/sluiced.h"
#include "sluiced/view.h"

#define KUBE_DEBOUNCE_MS	100
#define KUBE_DELTA_DEBOUNCE_MS	5	/* changes that can apply as a delta */
#define KUBE_WATCH_S		60	/* timeoutSeconds of one watch request */
#define KUBE_SA_DIR		"/var/run/secrets/kubernetes.io/serviceaccount"

struct kube_obj {
	char *key;			/* "namespace/name" */
	char *json;
	char *svc;			/* an EndpointSlice's Service (its label) */
};

/* An object changed since the last apply of the whole share: what it was
 * (NULL: it is new), so the incremental apply knows what it touched. */
struct kube_change {
	size_t res;
	char *key;
	char *old;
};

/* Past this many changes between two applies, apply everything. */
#define KUBE_DELTA_MAX		256
/* An incremental apply rewrites at most this many services. */
#define KUBE_DELTA_SVCS		64

struct kube_res {
	const char *kind;
	const char *group;		/* "" = core */
	const char *plural;
	const char *const *versions;	/* tried in order while 404 */
	size_t vi;
	struct sluiced_kube *k;
	pthread_t th;
	bool started;
	/* under k->mu */
	struct kube_obj *objs;		/* sorted by key */
	size_t n, ocap;
	bool synced;			/* listed once (or not served at all) */
	bool absent;			/* no version served: nothing to read */
	char rv[64];
	uint64_t lists, watches, gone, errors;
	char err[1400];
	/* the watch stream being read (thread-local use) */
	char *buf;
	size_t len, cap;
	bool expired;
};

static const char *const v_core[] = { "v1", NULL };
static const char *const v_discovery[] = { "v1", NULL };
static const char *const v_istio[] = { "v1", "v1beta1", "v1alpha3", NULL };

static const struct {
	const char *kind, *group, *plural;
	const char *const *versions;
} resources[] = {
	{ "Service", "", "services", v_core },
	{ "Pod", "", "pods", v_core },
	{ "EndpointSlice", "discovery.k8s.io", "endpointslices", v_discovery },
	{ "ServiceEntry", "networking.istio.io", "serviceentries", v_istio },
	{ "WorkloadEntry", "networking.istio.io", "workloadentries", v_istio },
	{ "DestinationRule", "networking.istio.io", "destinationrules", v_istio },
	{ "VirtualService", "networking.istio.io", "virtualservices", v_istio },
	{ "Gateway", "networking.istio.io", "gateways", v_istio },
	{ "Sidecar", "networking.istio.io", "sidecars", v_istio },
};
#define NRES (sizeof(resources) / sizeof(resources[0]))

static void res_path(const struct kube_res *r, char *buf, size_t len)
{
	if (r->group[0])
		snprintf(buf, len, "/apis/%s/%s/%s", r->group, r->versions[r->vi], r->plural);
	else
		snprintf(buf, len, "/api/%s/%s", r->versions[r->vi], r->plural);
}

static void wake(struct sluiced_kube *k)
{
	uint64_t one = 1;

	if (write(k->efd, &one, sizeof(one)) < 0) {
		/* the counter is full: the loop is awake anyway */
	}
}

/* ---- configuration ---- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	FILE *m = open_memstream(&buf, &len);
	int c;

	while (m && (c = fgetc(f)) != EOF)
		fputc(c, m);
	if (m)
		fclose(m);
	fclose(f);
	while (buf && len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	return buf;
}

/* The item of list key whose "name" is name (NULL: the first). */
static yaml_node_t *named(yaml_document_t *doc, yaml_node_t *root, const char *key,
			  const char *name)
{
	yaml_node_t *n = sl_yaml_get(doc, root, key);

	if (!n || n->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *c = yaml_document_get_node(doc, *it);
		const char *nm = sl_yaml_str(doc, c, "name");

		if (!name || (nm && !strcmp(nm, name)))
			return c;
	}
	return NULL;
}

/* A kubeconfig path as kubectl reads it: relative to the kubeconfig. */
static void kc_path(char *out, size_t len, const char *kubeconfig, const char *p)
{
	const char *slash = strrchr(kubeconfig, '/');

	if (p[0] == '/' || !slash)
		snprintf(out, len, "%s", p);
	else
		snprintf(out, len, "%.*s/%s", (int)(slash - kubeconfig), kubeconfig, p);
}

/* A kubeconfig's *-data field: base64 of a PEM file. */
static int kc_blob(struct kube_blob *b, const char *b64)
{
	size_t n = strlen(b64);

	free(b->p);
	b->p = malloc(n / 4 * 3 + 4);
	if (!b->p)
		return -ENOMEM;
	int len = EVP_DecodeBlock(b->p, (const unsigned char *)b64, (int)n);
	if (len < 0) {
		free(b->p);
		b->p = NULL;
		return -EINVAL;
	}
	/* EVP_DecodeBlock counts the padding's zero bytes in */
	while (n && b64[n - 1] == '=') {
		len--;
		n--;
	}
	b->len = (size_t)len;
	return 0;
}

/* A kubeconfig's current context: its cluster's server and CA (file or
 * data), its user's token (or token file) or client certificate and key
 * (files or data). */
static int kubeconfig(struct sluiced_kube *k, const char *path, char *err, size_t elen)
{
	char *text = read_file(path);
	yaml_document_t doc;
	yaml_node_t *root, *n;
	const char *cur, *cluster = NULL, *user = NULL, *s;
	int rc = -EINVAL;

	if (!text) {
		snprintf(err, elen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (sl_yaml_load(text, strlen(text), &doc)) {
		snprintf(err, elen, "%s: not YAML", path);
		free(text);
		return -EINVAL;
	}
	root = yaml_document_get_root_node(&doc);
	cur = sl_yaml_str(&doc, root, "current-context");
	if ((n = named(&doc, root, "contexts", cur))) {
		yaml_node_t *ctx = sl_yaml_get(&doc, n, "context");
		cluster = sl_yaml_str(&doc, ctx, "cluster");
		user = sl_yaml_str(&doc, ctx, "user");
	}
	if ((n = sl_yaml_get(&doc, named(&doc, root, "clusters", cluster), "cluster"))) {
		if ((s = sl_yaml_str(&doc, n, "server")))
			snprintf(k->servers, sizeof(k->servers), "%s", s);
		if ((s = sl_yaml_str(&doc, n, "certificate-authority")))
			kc_path(k->ca, sizeof(k->ca), path, s);
		if ((s = sl_yaml_str(&doc, n, "certificate-authority-data")) && kc_blob(&k->ca_blob, s)) {
			snprintf(err, elen, "%s: certificate-authority-data is not base64", path);
			goto out;
		}
	}
	if ((n = sl_yaml_get(&doc, named(&doc, root, "users", user), "user"))) {
		if (sl_yaml_get(&doc, n, "exec") || sl_yaml_get(&doc, n, "auth-provider")) {
			snprintf(err, elen, "%s: user %s: exec and auth-provider credential plugins are "
				 "not supported; give a token, tokenFile or a client certificate", path,
				 user ? user : "");
			goto out;
		}
		if ((s = sl_yaml_str(&doc, n, "token")))
			snprintf(k->token, sizeof(k->token), "%s", s);
		else if ((s = sl_yaml_str(&doc, n, "tokenFile")))
			kc_path(k->token_file, sizeof(k->token_file), path, s);
		if ((s = sl_yaml_str(&doc, n, "client-certificate")))
			kc_path(k->cert, sizeof(k->cert), path, s);
		if ((s = sl_yaml_str(&doc, n, "client-key")))
			kc_path(k->key, sizeof(k->key), path, s);
		if (((s = sl_yaml_str(&doc, n, "client-certificate-data")) && kc_blob(&k->cert_blob, s)) ||
		    ((s = sl_yaml_str(&doc, n, "client-key-data")) && kc_blob(&k->key_blob, s))) {
			snprintf(err, elen, "%s: client-certificate-data/client-key-data is not base64",
				 path);
			goto out;
		}
	}
	bool cert = k->cert[0] || k->cert_blob.p, key = k->key[0] || k->key_blob.p;

	if (!k->servers[0])
		snprintf(err, elen, "%s: no cluster server for the current context", path);
	else if (cert != key)
		snprintf(err, elen, "%s: a client certificate needs its key (client-certificate and "
			 "client-key, or their -data forms)", path);
	else if (!k->token[0] && !k->token_file[0] && !cert)
		snprintf(err, elen, "%s: no credentials for the current context: give the user a "
			 "token, tokenFile or client-certificate and client-key", path);
	else
		rc = 0;
out:
	yaml_document_delete(&doc);
	free(text);
	return rc;
}

/* In a pod: the service account's files and KUBERNETES_SERVICE_HOST/PORT. */
static int in_cluster(struct sluiced_kube *k, char *err, size_t elen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");

	if (!k->servers[0]) {
		if (!host || !port) {
			snprintf(err, elen, "not in a pod (KUBERNETES_SERVICE_HOST unset): give "
				 "--kube-apiserver URL or --kubeconfig PATH");
			return -EINVAL;
		}
		snprintf(k->servers, sizeof(k->servers), strchr(host, ':') ? "https://[%s]:%s"
									   : "https://%s:%s", host, port);
	}
	snprintf(k->ca, sizeof(k->ca), KUBE_SA_DIR "/ca.crt");
	snprintf(k->token_file, sizeof(k->token_file), KUBE_SA_DIR "/token");
	return 0;
}

/* ---- objects ---- */

/* The object as the front-end reads it: kind and apiVersion set (list items
 * carry neither), status dropped for Istio kinds (never read). */
static char *obj_text(const struct kube_res *r, json_object *o, char *key, size_t klen)
{
	json_object *md = NULL, *v;
	char api[96];

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
	snprintf(key, klen, "%s/%s",
		 md && json_object_object_get_ex(md, "namespace", &v) ? json_object_get_string(v) : "",
		 md && json_object_object_get_ex(md, "name", &v) ? json_object_get_string(v) : "");
	return strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* An EndpointSlice's Service: its kubernetes.io/service-name label. */
static char *slice_service(const struct kube_res *r, json_object *o)
{
	json_object *md, *labels, *v;

	if (strcmp(r->kind, "EndpointSlice") || !json_object_object_get_ex(o, "metadata", &md) ||
	    !json_object_object_get_ex(md, "labels", &labels) ||
	    !json_object_object_get_ex(labels, "kubernetes.io/service-name", &v))
		return NULL;
	return strdup(json_object_get_string(v));
}

/* Under k->mu: note that key of r changed; old is what it was (taken). */
static void note_change(struct kube_res *r, const char *key, char *old)
{
	struct sluiced_kube *k = r->k;
	size_t res = (size_t)(r - k->res);
	struct kube_change *v;

	if (k->chg_all) {
		free(old);
		return;
	}
	for (size_t i = 0; i < k->nchg; i++)
		if (k->chg[i].res == res && !strcmp(k->chg[i].key, key)) {
			free(old);	/* the first "before" is the applied one */
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
	free(old);
	k->chg_all = true;
}

static void changes_free(struct kube_change *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].old);
	}
	free(v);
}

/* Under k->mu: forget the changes (the whole share is being applied). */
static void changes_clear(struct sluiced_kube *k)
{
	changes_free(k->chg, k->nchg);
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
	cap = r->ocap ? r->ocap * 2 : 64;
	if (!(v = realloc(r->objs, cap * sizeof(*v))))
		return false;
	r->objs = v;
	r->ocap = cap;
	return true;
}

/* The first object whose key is not below key. */
static size_t obj_at(const struct kube_res *r, const char *key)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(r->objs[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Under k->mu: set (json != NULL) or delete key. Takes json and svc. */
static void obj_put(struct kube_res *r, const char *key, char *json, char *svc)
{
	size_t i = obj_at(r, key);
	char *k;

	if (i < r->n && !strcmp(r->objs[i].key, key)) {
		note_change(r, key, r->objs[i].json);
		free(r->objs[i].svc);
		if (json) {
			r->objs[i].json = json;
			r->objs[i].svc = svc;
			return;
		}
		free(svc);
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
		free(json);
		free(svc);
		return;
	}
	memmove(&r->objs[i + 1], &r->objs[i], (r->n - i) * sizeof(*r->objs));
	r->objs[i] = (struct kube_obj){ k, json, svc };
	r->n++;
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
		free(v[i].json);
		free(v[i].svc);
	}
	free(v);
}

static void res_clear(struct kube_res *r)
{
	objs_free(r->objs, r->n);
	r->objs = NULL;
	r->n = r->ocap = 0;
}

/* Under k->mu: a relist's objects (sorted) replace r's; what differs is
 * noted as changed, so a relist that finds little changed applies
 * little. Takes v. */
static void res_replace(struct kube_res *r, struct kube_obj *v, size_t n, size_t cap)
{
	size_t i = 0, j = 0;

	if (!r->lists)
		r->k->chg_all = true;	/* the first list: all of it is new */
	while (i < r->n || j < n) {
		int c = i == r->n ? 1 : j == n ? -1 : strcmp(r->objs[i].key, v[j].key);

		if (c < 0) {		/* gone */
			note_change(r, r->objs[i].key, r->objs[i].json);
			r->objs[i++].json = NULL;
		} else if (c > 0) {	/* new */
			note_change(r, v[j++].key, NULL);
		} else {
			if (strcmp(r->objs[i].json, v[j].json)) {
				note_change(r, r->objs[i].key, r->objs[i].json);
				r->objs[i].json = NULL;
			}
			i++;
			j++;
		}
	}
	res_clear(r);
	r->objs = v;
	r->n = n;
	r->ocap = cap;
}

/* ---- HTTP ---- */

struct body {
	char *p;
	size_t len, cap;
};

static size_t on_body(char *data, size_t sz, size_t nm, void *arg)
{
	struct body *b = arg;
	size_t n = sz * nm;

	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct kube_res *r = arg;

	(void)a, (void)b, (void)c, (void)d;
	return __atomic_load_n(&r->k->stop, __ATOMIC_RELAXED);	/* nonzero aborts */
}

/* After a connection failure to `failed`: the next URL of --kube-apiserver
 * (round robin), unless another thread moved on already. Under k->mu. */
static void next_server(struct sluiced_kube *k, const char *failed)
{
	const char *p = strstr(k->servers, failed), *next;
	size_t l;

	if (strcmp(k->server, failed) || !p)
		return;
	next = strchr(p, ',');
	next = next ? next + 1 : k->servers;
	l = strcspn(next, ",");
	snprintf(k->server, sizeof(k->server), "%.*s", (int)l, next);
}

static void blob_opt(CURL *c, CURLoption opt, const struct kube_blob *b)
{
	struct curl_blob cb = { .data = b->p, .len = b->len, .flags = CURL_BLOB_COPY };

	curl_easy_setopt(c, opt, &cb);
}

/* A GET to the current server; 0 and the HTTP status, or -1 with err. */
static long http_get(struct kube_res *r, const char *path_query, size_t (*cb)(char *, size_t,
							size_t, void *), void *arg, bool stream)
{
	struct sluiced_kube *k = r->k;
	char url[1024], server[512], auth[4200 + 32], *tok = NULL;
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	long code = -1;
	CURLcode rc;

	if (!c)
		return -1;
	if (k->token_file[0])
		tok = read_file(k->token_file);	/* re-read: projected tokens rotate */
	if (tok || k->token[0])
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok ? tok : k->token);
	else
		auth[0] = '\0';	/* a client certificate authenticates */
	free(tok);
	pthread_mutex_lock(&k->mu);
	snprintf(server, sizeof(server), "%s", k->server);
	pthread_mutex_unlock(&k->mu);
	snprintf(url, sizeof(url), "%s%s", server, path_query);
	if (auth[0])
		h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Accept: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	if (k->ca[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, k->ca);
	if (k->ca_blob.p)
		blob_opt(c, CURLOPT_CAINFO_BLOB, &k->ca_blob);
	if (k->cert[0])
		curl_easy_setopt(c, CURLOPT_SSLCERT, k->cert);
	if (k->key[0])
		curl_easy_setopt(c, CURLOPT_SSLKEY, k->key);
	if (k->cert_blob.p)
		blob_opt(c, CURLOPT_SSLCERT_BLOB, &k->cert_blob);
	if (k->key_blob.p)
		blob_opt(c, CURLOPT_SSLKEY_BLOB, &k->key_blob);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, arg);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
	if (stream) {
		/* a watch: bookmarks or events at least every KUBE_WATCH_S */
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)KUBE_WATCH_S * 2);
	} else {
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK || (stream && rc == CURLE_PARTIAL_FILE)) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	} else {
		pthread_mutex_lock(&k->mu);
		bool cert = k->cert[0] || k->cert_blob.p;

		/* under TLS 1.3 a refused client certificate shows as the peer
		 * closing after the handshake: say what it likely is */
		snprintf(r->err, sizeof(r->err), "%s: %s%s", url, curl_easy_strerror(rc),
			 cert && (rc == CURLE_RECV_ERROR || rc == CURLE_SSL_CONNECT_ERROR ||
				  rc == CURLE_SSL_CERTPROBLEM)
				 ? " (did the server refuse the client certificate?)" : "");
		if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT ||
		    rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_SSL_CONNECT_ERROR)
			next_server(k, server);
		pthread_mutex_unlock(&k->mu);
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return code;
}

/* ---- LIST and WATCH ---- */

static void set_err(struct kube_res *r, const char *fmt, const char *a, long b)
{
	pthread_mutex_lock(&r->k->mu);
	snprintf(r->err, sizeof(r->err), fmt, a, b);
	r->errors++;
	pthread_mutex_unlock(&r->k->mu);
}

/* 0 listed; 1 not served (404: try the next version); -1 error. */
static int do_list(struct kube_res *r)
{
	char path[256], key[512];
	struct body b = { 0 };
	json_object *j, *items = NULL, *md = NULL, *rv = NULL;
	long code;

	res_path(r, path, sizeof(path));
	code = http_get(r, path, on_body, &b, false);
	if (code == 404) {
		free(b.p);
		return 1;
	}
	if (code != 200) {
		if (code > 0)
			set_err(r, "%s: HTTP %ld", path, code);
		else
			r->errors++;
		free(b.p);
		return -1;
	}
	j = b.p ? json_tokener_parse(b.p) : NULL;
	free(b.p);
	if (!j || !json_object_object_get_ex(j, "items", &items) ||
	    !json_object_is_type(items, json_type_array)) {
		set_err(r, "%s: not a List (%ld)", path, 0);
		json_object_put(j);
		return -1;
	}
	/* a list's keys are unique: appended, then sorted once */
	size_t nitems = json_object_array_length(items), n = 0;
	struct kube_obj *v = calloc(nitems + 1, sizeof(*v));

	for (size_t i = 0; v && i < nitems; i++) {
		json_object *it = json_object_array_get_idx(items, i);
		char *t = obj_text(r, it, key, sizeof(key));
		char *k = t ? strdup(key) : NULL;

		if (!k) {
			free(t);
			continue;
		}
		v[n++] = (struct kube_obj){ k, t, slice_service(r, it) };
	}
	if (n)
		qsort(v, n, sizeof(*v), obj_cmp);
	pthread_mutex_lock(&r->k->mu);
	if (v)
		res_replace(r, v, n, nitems + 1);
	if (json_object_object_get_ex(j, "metadata", &md) &&
	    json_object_object_get_ex(md, "resourceVersion", &rv))
		snprintf(r->rv, sizeof(r->rv), "%s", json_object_get_string(rv));
	r->synced = true;
	r->lists++;
	r->err[0] = '\0';
	pthread_mutex_unlock(&r->k->mu);
	json_object_put(j);
	wake(r->k);
	return 0;
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
			char *txt = obj_text(r, o, key, sizeof(key));
			if (txt)
				obj_put(r, key, txt, slice_service(r, o));
		} else if (!strcmp(t, "DELETED")) {
			free(obj_text(r, o, key, sizeof(key)));
			obj_put(r, key, NULL, NULL);
		}
	}
	pthread_mutex_unlock(&r->k->mu);
	json_object_put(e);
	if (strcmp(t, "BOOKMARK") && strcmp(t, "ERROR"))
		wake(r->k);
}

static size_t on_stream(char *data, size_t sz, size_t nm, void *arg)
{
	struct kube_res *r = arg;
	struct body b = { r->buf, r->len, r->cap };
	size_t n = sz * nm, start = 0, i;

	if (on_body(data, sz, nm, &b) != n)
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

	res_path(r, path, sizeof(path));
	pthread_mutex_lock(&r->k->mu);
	snprintf(rv, sizeof(rv), "%s", r->rv);
	r->watches++;
	pthread_mutex_unlock(&r->k->mu);
	snprintf(q, sizeof(q), "%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true&"
		 "timeoutSeconds=%d", path, rv, KUBE_WATCH_S);
	r->len = 0;
	r->expired = false;
	code = http_get(r, q, on_stream, r, true);
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

static void *res_main(void *arg)
{
	struct kube_res *r = arg;
	unsigned backoff = 1000;

	while (!__atomic_load_n(&r->k->stop, __ATOMIC_RELAXED)) {
		int rc = do_list(r);

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
			wake(r->k);
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
			if (rc == 1)
				break;	/* relist */
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

/* ---- the daemon's side ---- */

int sluiced_kube_start(struct sluiced *d, char *err, size_t elen)
{
	struct sluiced_kube *k = &d->kube;
	struct epoll_event ev = { .events = EPOLLIN };
	int rc;

	if (!d->o.kubernetes)
		return 0;
	pthread_mutex_init(&k->mu, NULL);
	if (d->o.kube_apiserver)
		snprintf(k->servers, sizeof(k->servers), "%s", d->o.kube_apiserver);
	rc = d->o.kubeconfig ? kubeconfig(k, d->o.kubeconfig, err, elen) : in_cluster(k, err, elen);
	if (rc)
		return rc;
	if (d->o.kube_apiserver)	/* the flag wins over the kubeconfig */
		snprintf(k->servers, sizeof(k->servers), "%s", d->o.kube_apiserver);
	{
		char *comma = strchr(k->servers, ',');
		size_t l = comma ? (size_t)(comma - k->servers) : strlen(k->servers);

		snprintf(k->server, sizeof(k->server), "%.*s", (int)l, k->servers);
	}
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
		r->k = k;
		if (pthread_create(&r->th, NULL, res_main, r) == 0)
			r->started = true;
	}
	sluiced_log("kubernetes: watching %zu resources at %s", NRES, k->server);
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
		changes_clear(k);	/* all of them go into this apply */
	for (size_t i = 0; ready && i < k->n; i++) {
		struct kube_res *r = &k->res[i];
		char path[256];

		res_path(r, path, sizeof(path));
		for (size_t j = 0; j < r->n; j++) {
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
			v[n].data = strdup(r->objs[j].json);
			if (!v[n].data) {
				free(v[n].name);
				break;
			}
			v[n].len = strlen(v[n].data);
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
static size_t drop_bad(const struct sluiced *d, struct sl_ctl_part *v, size_t n)
{
	size_t all = n + d->nparts, o = 0, line;
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
	if (!sl_snap_build(u, n + o, NULL, &text, &len, &map) &&
	    sl_model_load_buf("<desired state>", text, len, &dg, &m)) {
		for (size_t j = 0; j < dg.n; j++) {
			int k = dg.v[j].pos.line > 0 ?
				sl_snap_locate(&map, (size_t)dg.v[j].pos.line, &line) : -1;

			if (dg.v[j].sev != SL_SEV_ERROR || k < 0 || (size_t)k >= n || bad[k])
				continue;
			bad[k] = true;
			sluiced_warn("kubernetes: %s left out: error[%s]: %s", v[k].name,
				     dg.v[j].code, dg.v[j].msg);
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
			free(v[i].data);
		} else {
			v[o++] = v[i];
		}
	}
	free(bad);
	return o;
}

/* ---- incremental apply ---- */

enum { R_SERVICE, R_POD, R_SLICE };	/* indices into resources[] */

struct delta_svc {
	char ns[256], name[256];
};

struct delta_ctx {
	struct sluiced *d;
	struct sluiced_kube *k;
	struct delta_svc *svcs;
	size_t n;
	char *why;
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
		return refuse(x, "more than %s services changed", "64");
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

	if (uid && sl_l4_pod_cgroup(&lo, uid))
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

/* Under k->mu: the services change c touches, into x. */
static int touched(struct delta_ctx *x, const struct kube_change *c)
{
	struct kube_res *r = &x->k->res[c->res];
	size_t i = obj_at(r, c->key), nsl = strcspn(c->key, "/");
	const struct kube_obj *now = i < r->n && !strcmp(r->objs[i].key, c->key) ? &r->objs[i] : NULL;
	int rc = 0;

	if (c->res == R_SLICE) {
		json_object *old = c->old ? json_tokener_parse(c->old) : NULL;

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

		if (source_routes(x->d->model))
			return refuse(x, "%s: sourceLabels routes make Pods clients", c->key);
		for (size_t si = 0; si < x->d->model->nservices; si++)
			if (x->d->model->services[si].pod_selected)
				return refuse(x, "Service %s selects Pods without EndpointSlices",
					      x->d->model->services[si].host);
		if (c->old && (o = json_tokener_parse(c->old))) {
			rc = pod_changed(x, o);
			json_object_put(o);
		}
		if (!rc && now && (o = json_tokener_parse(now->json))) {
			rc = pod_changed(x, o);
			json_object_put(o);
		}
		return rc;
	}
	return refuse(x, "a %s changed", x->k->res[c->res].kind);
}

/* Under k->mu: the text of service x->svcs[i]'s own objects (its Service,
 * its EndpointSlices, the Pods they point at); NULL when it has no
 * Service (nothing to apply: its slices are ignored). */
static char *service_text(struct delta_ctx *x, size_t i)
{
	struct kube_res *rs = &x->k->res[R_SERVICE], *rl = &x->k->res[R_SLICE],
			*rp = &x->k->res[R_POD];
	char key[520], *out = NULL;
	size_t len = 0, j;
	FILE *f;

	snprintf(key, sizeof(key), "%s/%s", x->svcs[i].ns, x->svcs[i].name);
	j = obj_at(rs, key);
	if (j == rs->n || strcmp(rs->objs[j].key, key) || !(f = open_memstream(&out, &len)))
		return NULL;
	fprintf(f, "%s\n", rs->objs[j].json);
	snprintf(key, sizeof(key), "%s/", x->svcs[i].ns);
	for (j = obj_at(rl, key); j < rl->n && !strncmp(rl->objs[j].key, key, strlen(key)); j++) {
		json_object *o, *eps;

		if (!rl->objs[j].svc || strcmp(rl->objs[j].svc, x->svcs[i].name))
			continue;
		fprintf(f, "---\n%s\n", rl->objs[j].json);
		if (!(o = json_tokener_parse(rl->objs[j].json)))
			continue;
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
				p = obj_at(rp, pk);
				if (p < rp->n && !strcmp(rp->objs[p].key, pk))
					fprintf(f, "---\n%s\n", rp->objs[p].json);
			}
		json_object_put(o);
	}
	fclose(f);
	return out;
}

/* Apply the changes since the last apply as an incremental one. 0 done (or
 * nothing to do); -EAGAIN (why in k->incr_why) or another -errno: apply
 * the whole share. */
static int try_delta(struct sluiced *d)
{
	struct sluiced_kube *k = &d->kube;
	struct delta_svc svcs[KUBE_DELTA_SVCS];
	struct delta_ctx x = { .d = d, .k = k, .svcs = svcs, .why = k->incr_why };
	struct kube_change *chg;
	struct sluiced_part_set *ps = NULL;
	struct sl_model *srcs[KUBE_DELTA_SVCS] = { 0 };
	char *texts[KUBE_DELTA_SVCS] = { 0 }, err[SL_DP_ERRLEN] = "";
	size_t nchg, sis[KUBE_DELTA_SVCS], src_si[KUBE_DELTA_SVCS], n = 0, i;
	uint64_t t0 = sluiced_now_us();
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
		size_t j = obj_at(r, chg[i].key);
		char path[256], *name = NULL;

		res_path(r, path, sizeof(path));
		if (asprintf(&name, "kubernetes:%s/%s", path, chg[i].key) < 0) {
			rc = -ENOMEM;
			break;
		}
		ps[i].name = name;
		if (j < r->n && !strcmp(r->objs[j].key, chg[i].key) && !(ps[i].data = strdup(r->objs[j].json)))
			rc = -ENOMEM;
	}
	for (i = 0; i < x.n && !rc; i++)
		texts[i] = service_text(&x, i);
	pthread_mutex_unlock(&k->mu);

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
					    .t0_us = t0 };

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
		free((char *)ps[i].data);
	}
	free(ps);
	changes_free(chg, nchg);
	return rc;
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
		int rc = try_delta(d);

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

		res_path(x, path, sizeof(path));
		vf_add(list, "%s: %s, %zu objects, rv %s, %llu lists, %llu watches, %llu expired%s%s",
		       path, x->absent ? "not served" : x->synced ? "synced" : "not synced", x->n,
		       x->rv[0] ? x->rv : "-", (unsigned long long)x->lists,
		       (unsigned long long)x->watches, (unsigned long long)x->gone,
		       x->err[0] ? "; last error: " : "", x->err);
		vf_str(it, "path", "%s", path);
		vf_bool(it, "synced", x->synced);
		vf_bool(it, "served", !x->absent);
		vf_num(it, "objects", x->n);
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
		res_clear(&k->res[i]);
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
