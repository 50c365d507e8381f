/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the Kubernetes source: kube.c (the daemon's side: start, the
 * debounced apply of the share, status), kube_config.c (kubeconfig and
 * in-cluster credentials), kube_watch.c (one LIST/WATCH thread per resource
 * and the objects it holds), kube_delta.c (endpoint changes applied as
 * deltas of the live generation), kube_secret.c (the kubernetes.io/tls
 * Secrets, written as files for Gateway credentialName servers), kube_http.c
 * (the requests to the API server).
 */
#ifndef SLUICED_KUBE_INT_H
#define SLUICED_KUBE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluiced/sluiced.h"

#define KUBE_DEBOUNCE_MS	100
/* Changes that can apply as a delta: one costs ~1-2 ms at 10,000 services
 * (bench_kube), so waiting longer for more to come buys little; the events
 * of one burst (a chunk of a watch stream, a rolling step's slice and Pod)
 * arrive well within it. */
#define KUBE_DELTA_DEBOUNCE_MS	2
#define KUBE_WATCH_S		60	/* timeoutSeconds of one watch request */
#define KUBE_LIST_PAGE		500	/* LIST ?limit= (objects per page) */
#define KUBE_RV_LEN		24	/* a resourceVersion (decimal uint64) */
#define KUBE_SA_DIR		"/var/run/secrets/kubernetes.io/serviceaccount"

struct kube_obj {
	char *key;			/* "namespace/name" */
	char *json;			/* a shared text (sl_text_new_dict: held
					 * deflated, read with sl_text_dup): the
					 * desired state's part holds the same copy */
	char *svc;			/* an EndpointSlice's Service (its label) */
	uint64_t rv;			/* its resourceVersion (not in json), as
					 * kube_rv_id keeps it */
};

/* An object changed since the last apply of the whole share: what it was
 * (NULL: it is new), so the incremental apply knows what it touched. */
struct kube_change {
	size_t res;
	char *key;
	char *old;			/* a shared text */
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
	const char *select;		/* "&fieldSelector=..." on LIST and WATCH, or "" */
	bool secret;			/* Secrets: files (kube_secret.c), not policy;
					 * json holds only their digest */
	size_t vi;
	struct sluiced_kube *k;
	pthread_t th;
	bool started;
	/* under k->mu */
	struct kube_obj *objs;		/* sorted by key */
	size_t n, ocap;
	size_t *by_svc;			/* EndpointSlices: objs' indexes by (namespace,
					 * Service), kube_slices_of; rebuilt after a
					 * slice comes, goes or changes Service */
	size_t nby;
	bool by_stale;
	size_t text_bytes, held_bytes;	/* the objects' texts, plain and as held */
	bool synced;			/* listed once (or not served at all) */
	bool absent;			/* no version served: nothing to read */
	char rv[64];
	uint64_t lists, watches, gone, errors;
	char err[1400];
	void *curl;			/* the thread's CURL handle (kept: connection reuse) */
	/* the watch stream being read (thread-local use) */
	char *buf;
	size_t len, cap;
	bool expired;
};

/* The resources, in kube.c's table order (sluiced_kube.res[i]). */
enum { R_SERVICE, R_POD, R_SLICE };

/* kube_secret.c. The directory is k->cred_dir. */
int kube_secret_init(struct sluiced_kube *k, char *err, size_t elen);	/* emptied, 0700 */
struct json_object;
/* Secret o: its files written, key and rv set; returns the text held for
 * it (a digest of its values), NULL on out-of-memory. */
char *kube_secret_put(struct kube_res *r, struct json_object *o, char *key, size_t klen, char *rv);
void kube_secret_drop(struct kube_res *r, const char *key);	/* its directory removed */

/* kube_dict.c: the preset dictionary kind's texts are deflated with */
const struct sl_text_dict *kube_dict(const char *kind);

/* kube_config.c */
char *kube_read_file(const char *path);	/* trailing newlines cut; NULL + errno */
int kube_kubeconfig(struct sluiced_kube *k, const char *path, char *err, size_t elen);
int kube_in_cluster(struct sluiced_kube *k, char *err, size_t elen);

/* kube_http.c: a GET of path_query from the current server, the body to
 * cb(arg) (a watch when stream: no overall time-out); the HTTP status, or
 * -1 with r->err set. kube_on_body gathers a body into a struct kube_body. */
struct kube_body {
	char *p;
	size_t len, cap;
};
size_t kube_on_body(char *data, size_t sz, size_t nm, void *arg);
long kube_http_get(struct kube_res *r, const char *path_query,
		   size_t (*cb)(char *, size_t, size_t, void *), void *arg, bool stream);

/* kube_watch.c; under k->mu unless said */
void kube_res_path(const struct kube_res *r, char *buf, size_t len);	/* no lock */
void kube_obj_key(struct json_object *md, char *key, size_t klen);	/* "ns/name" of metadata md */
size_t kube_obj_at(const struct kube_res *r, const char *key);	/* first key >= key */
/* A resourceVersion held in 8 bytes, for equality only: a decimal one (an
 * etcd revision, what API servers send) as its value, any other as a
 * 64-bit hash with the top bit set; 0 for none. No lock. */
uint64_t kube_rv_id(const char *rv);
void kube_res_clear(struct kube_res *r);
/* EndpointSlices r holds for Service ns/svc (ns: nsl bytes): how many, and
 * their indexes in r->objs at *idx (valid until r changes). */
size_t kube_slices_of(struct kube_res *r, const char *ns, size_t nsl, const char *svc,
		      const size_t **idx);
void kube_changes_free(struct kube_change *v, size_t n);	/* no lock: owned */
void kube_changes_clear(struct sluiced_kube *k);
void *kube_res_main(void *arg);		/* the resource's thread */

/* kube_delta.c: the changes since the last whole apply as one incremental
 * apply. 0 done (or nothing to do); -EAGAIN (why in k->incr_why) or another
 * -errno: apply the whole share. */
int kube_try_delta(struct sluiced *d);

#endif /* SLUICED_KUBE_INT_H */
