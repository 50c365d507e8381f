/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluiced internals: one daemon state shared by its modules.
 *   main.c       options, start-up, the event loop, signals
 *   core.c       the data plane opened and live, logs
 *   state.c      desired state: the sources' shares, apply, snapshot file, restore
 *   report.c     an apply's report: diagnostics at the user's lines, the object diff
 *   docs.c       removing objects from YAML sources (`sluicectl delete`)
 *   server.c     the control socket and its verbs
 *   view.c       records rendered as table, json or yaml
 *   view_get.c   `get` (services, routes, endpoints, workloads, objects)
 *   view_stats.c `stats` and `status`
 *   watch.c      the policy directory (inotify, debounce)
 *   helper.c     supervision of sluice-http
 *   metrics.c    Prometheus text endpoint
 *   dns.c        resolution of `resolution: DNS` names (c-ares)
 *   outlier.c    L4 ejections and overflows in the log and on /metrics
 *   kube.c       the Kubernetes API server as a source: start, apply, status
 *   kube_watch.c   its LIST/WATCH threads and the objects they hold (libcurl, json-c)
 *   kube_config.c  its kubeconfig and in-cluster credentials
 *   kube_delta.c   its endpoint changes as incremental applies (kube_int.h)
 *   incr.c       incremental apply of endpoint changes (model patch + data-plane delta)
 *   xdp.c        north-south XDP/TC set-up (sluiced_xdp_setup)
 *   view.h       the record/table view model (view.c renders it)
 *   stats_names.h  sluice_stats ids back to service and subset names (stats, metrics)
 * Single-threaded, but for kube_watch.c's threads, which only fill their
 * own tables and wake the event loop in main.c; everything else runs there.
 */
#ifndef SLUICED_H
#define SLUICED_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "sluice/ctl.h"
#include "sluice/dataplane.h"
#include "sluice/model.h"

#define SLUICED_DEFAULT_POLICY_DIR	"/etc/sluice/policies"
#define SLUICED_DEFAULT_STATE_DIR	"/run/sluice/state"
#define SLUICED_HELPER_LISTEN		SL_HELPER_DEFAULT_LISTEN
#define SLUICED_DEBOUNCE_MS		100
#define SLUICED_STATS_GC_S		30	/* --stats-gc-interval default */
#define SLUICED_DNS_REFRESH_S		30	/* --dns-refresh default */

struct sluiced_opts {
	const char *policy_dir;
	const char *cgroup;		/* absolute; default the cgroup2 root */
	const char *bpffs;
	const char *socket;
	const char *state_dir;
	const char *metrics;		/* ADDR:PORT or NULL */
	const char *xdp;		/* IFACE[,IFACE] or NULL */
	bool no_http_helper;
	/* --http-listen: where sluice-http's mesh listener is and where the
	 * connect hook sends HTTP services (IPv4, v4-mapped; port host order) */
	const char *http_listen;
	const char *gateway_addr;	/* --http-gateway-addr; NULL = sluice-http's 0.0.0.0 */
	const char *http_access_log;	/* --http-access-log; NULL = none */
	uint8_t helper_addr[16];
	uint16_t helper_port;
	uint64_t stats_gc_ms;		/* --stats-gc-interval */
	uint64_t dns_refresh_ms;	/* --dns-refresh: longest time between queries */
	const char *kubelet_root;	/* --kubelet-cgroup-root, relative to the cgroup2 root */
	bool kubernetes;		/* --kubernetes: the API server is a source */
	const char *kube_apiserver;	/* --kube-apiserver URL[,URL] */
	const char *kubeconfig;		/* --kubeconfig PATH */
	const char *node_name;		/* --node-name, or $NODE_NAME; NULL = unknown */
	char cgroup_buf[PATH_MAX];
	char self_dir[PATH_MAX];	/* where sluiced's binary lives */
};

/* The sources of desired state (each owns its share). */
enum sluiced_source { SRC_NONE = 0, SRC_POLICY_DIR, SRC_APPLY, SRC_KUBERNETES };

enum helper_state {
	HELPER_DISABLED = 0,	/* --no-http-helper or binary missing: http routes refused */
	HELPER_IDLE,		/* not needed by the policy */
	HELPER_RUNNING,
	HELPER_BACKOFF,		/* died; restart scheduled (why says if it keeps failing) */
};

struct sluiced_helper {
	enum helper_state state;
	char path[PATH_MAX];
	pid_t pid;
	int pidfd;		/* readable when the helper exits; -1 = none */
	bool child;		/* our child (reap it) or adopted from a pidfile */
	int fails;		/* consecutive short-lived runs */
	uint64_t started_ms;
	uint64_t restart_at_ms;	/* when state == HELPER_BACKOFF */
	uint64_t restarts;
	char why[160];		/* last reason, for status */
};

struct vrec;

/* dns.c: the resolver of `resolution: DNS` names */
#define SLUICED_DNS_FDS 16
struct dns_name;
struct sluiced_dns {
	void *channel;			/* ares_channel, NULL until a name needs it */
	struct dns_name **v;		/* the names the live model uses */
	size_t n;
	int fds[SLUICED_DNS_FDS];	/* c-ares sockets in the epoll set */
	size_t nfds;
	bool wake;			/* a new name: ask at the next tick */
	bool changed;			/* an address changed: compile again */
	uint64_t queries, failures, applies;
};

/* outlier.c: L4 ejections already logged */
struct sluiced_ejected {
	struct sluice_stats_key key;
	uint32_t times;
};
struct sluiced_outliers {
	struct sluiced_ejected *v;
	size_t n;
	uint64_t next_ms;		/* next look at sluice_eject */
};

/* kube.c: the Kubernetes source */
struct kube_res;
struct kube_change;
struct sluiced_kube {
	struct kube_res *res;
	size_t n;
	int efd;			/* the resource threads' wake-up */
	pthread_mutex_t mu;		/* the threads' objects and counters */
	pthread_mutex_t list_mu;	/* one list page parsed at a time: the
					 * threads share malloc's arenas */
	bool stop;
	char servers[1024];		/* URL[,URL] */
	char server[512];		/* the one in use */
	char ca[PATH_MAX];
	char token[4096];
	char token_file[PATH_MAX];
	char cert[PATH_MAX], key[PATH_MAX];	/* client certificate files */
	struct kube_blob {			/* a kubeconfig's *-data, decoded */
		unsigned char *p;
		size_t len;
	} ca_blob, cert_blob, key_blob;
	uint64_t due_ms;		/* debounce deadline, 0 = none */
	uint64_t applies;
	char cred_dir[PATH_MAX];	/* the Secrets' files (kube_secret.c) */
	char node_name[256];		/* --node-name; "" = unknown (every Pod may
					 * be a client here) */
	/* under mu: what changed since the share was last applied whole */
	struct kube_change *chg;
	size_t nchg, cchg;
	bool chg_all;			/* too much, or a first list: apply it all */
	bool secret_retry;		/* the last whole apply left objects out or
					 * was refused: a new Secret applies the
					 * share whole again */
	bool base_ok;			/* the last whole apply took every object:
					 * changes can be applied as deltas */
	char incr_why[256];		/* why the last change was applied whole */
};

struct sluiced {
	struct sluiced_opts o;
	struct sl_dp *dp;		/* NULL after reset until the next apply */
	struct sl_model *model;		/* live model, NULL = none */
	struct sl_ctl_part *parts;	/* live desired sources */
	size_t nparts;
	unsigned char snap_sha[32];	/* SHA-256 of their snapshot text (without the
					 * state header): an apply of the same text
					 * is "unchanged" */
	size_t snaplen;
	enum sluiced_source source;
	uint64_t applies, refused;
	uint64_t last_apply_us;		/* duration of the last apply */
	uint64_t started_ms;
	int ctl_fd, ino_fd, sig_fd, metrics_fd, epfd;
	int ino_wd;
	uint64_t reload_at_ms;		/* policy-dir debounce deadline, 0 = none */
	bool dir_refused;		/* the policy dir's last load was refused: try
					 * again after another source's apply (it may
					 * have removed the conflict) */
	uint64_t stats_gc_at_ms;	/* next stats ageing pass, 0 = none due */
	uint64_t stats_aged;		/* stats entries aged out since start */
	struct sluiced_helper helper;
	bool xdp_detached;		/* reset removed XDP: re-attach on apply */
	bool synced;			/* the start's restore and policy-dir load are done */
	int ctl_client_fd;		/* the control client being served, -1 none */
	struct sluiced_dns dns;
	struct sluiced_outliers outliers;
	struct sluiced_kube kube;
	struct sl_svc_patch **patches;	/* incremental applies the live model points
					 * into (incr.c); freed with the model */
	size_t npatches;
	bool delta_broken;		/* the desired state missed a delta: the next
					 * change applies everything */
	struct sluiced_prange {		/* incr.c: where a source's parts are */
		bool valid, sorted;
		size_t lo, hi;
	} prange;
	bool snap_stale;		/* snap_sha lags parts (incremental applies) */
	uint64_t state_due_ms;		/* write the state file then, 0 = none */
	struct state_job *state_job;	/* writing it in the background (state.c), NULL = none */
	pthread_t state_thread;		/* the thread writing it */
	uint64_t state_write_us;	/* what the last background write took */
	uint64_t incr_applies;		/* of applies, the incremental ones */
	struct sl_dp_feature kernel[SL_DP_NFEATURES];	/* probed at start */
	size_t nkernel;
	bool stop;
};

/* core.c — the data plane is live: opened (not reset), connect4 attached,
 * and the helper running when the policy has HTTP routes. Otherwise false
 * with the reason in why. `status` exits 1 and /readyz answers 503 then. */
bool sluiced_live(const struct sluiced *d, char *why, size_t len);

/* metrics.c — a listener sluice-http could not bind (its metrics say so):
 * 1 with the listener and the error in why, else 0. */
/* sluice-http's requests per (service, subset), from its metrics socket
 * (metrics.c); empty when it is not running. */
struct sluiced_http_count {
	char service[256], subset[64];
	uint64_t requests, errors, request_bytes, response_bytes;
	/* TLS passthrough connections relayed by sluice-http */
	uint64_t conns_opened, conns_closed, bytes_sent, bytes_received;
};
int sluiced_helper_counts(const struct sluiced *d, struct sluiced_http_count **out, size_t *n);
int sluiced_helper_listen_failure(const struct sluiced *d, char *why, size_t len);

/* main.c */
uint64_t sluiced_now_ms(void);	/* CLOCK_MONOTONIC */
uint64_t sluiced_now_us(void);
/* The event log on stderr: one line per event, text
 * ("TIME sluiced: LEVEL: message") or JSON ({"ts","level","msg"}), with a
 * "<N>" syslog priority prefix when stderr is a journald stream. */
enum sluiced_log_level { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR };
int sluiced_log_level_parse(const char *s, enum sluiced_log_level *out);
void sluiced_log_setup(enum sluiced_log_level min, bool json);
bool sluiced_log_enabled(enum sluiced_log_level level);
__attribute__((format(printf, 2, 3)))
void sluiced_logl(enum sluiced_log_level level, const char *fmt, ...);
/* One record as sluiced_logl writes it (unit-tested on its own). */
void sluiced_log_format(FILE *f, enum sluiced_log_level level, const struct timespec *ts,
			bool json, bool journal, const char *msg);
#define sluiced_log(...) sluiced_logl(SL_LOG_INFO, __VA_ARGS__)
#define sluiced_debug(...) sluiced_logl(SL_LOG_DEBUG, __VA_ARGS__)
#define sluiced_warn(...) sluiced_logl(SL_LOG_WARN, __VA_ARGS__)
#define sluiced_err(...) sluiced_logl(SL_LOG_ERROR, __VA_ARGS__)
int sluiced_dp_ensure(struct sluiced *d, char *err);
void sluiced_dp_close(struct sluiced *d);	/* pins stay; fds released */
int sluiced_mkdir_p(const char *path, mode_t mode);
void sluiced_stats_gc_schedule(struct sluiced *d);	/* after an apply */

/* state.c — apply returns an enum sl_ctl_status; the report (what changed,
 * or the diagnostics of a refusal) is written to `out`. Takes ownership of
 * parts in every case. A desired state with no objects replacing one that
 * has some is refused unless allow_empty (`apply --allow-empty`, delete). */
int sluiced_apply(struct sluiced *d, struct sl_ctl_part *parts, size_t nparts,
		  enum sluiced_source src, bool allow_empty, FILE *out);
int sluiced_restore(struct sluiced *d);
int sluiced_load_policy_dir(struct sluiced *d, bool at_start);
int sluiced_reset(struct sluiced *d, FILE *out);
const char *sluiced_source_name(enum sluiced_source s);
void sluiced_snapshot_path(const struct sluiced *d, char *buf, size_t len);
/* With --kubernetes, <state-dir>/credentials (the Secrets Gateway
 * credentialName servers name, as kube_secret.c writes them) in buf,
 * returned; NULL without the Kubernetes source. */
const char *sluiced_credentials_dir(const struct sluiced *d, char *buf, size_t len);
void sluiced_state_free(struct sluiced *d);

/* The name of the desired state's text (all sources joined) in messages. */
#define SLUICED_SNAP_NAME "<desired state>"

/* report.c — the report of an apply: diagnostics (refusal) and data-plane
 * errors naming the user's file:line and, for diagnostics, the source that
 * holds it; the objects added (+), changed (~) and removed (-), counted in c;
 * df/cf: the same as records (-o json|yaml), or NULL. */
struct vfield;
struct sl_diags;
struct sluiced_change_count {
	size_t added, changed, removed, same;
};
void sluiced_print_diags(const struct sl_diags *dg, const struct sl_snap_map *map,
			 const struct sl_ctl_part *parts, FILE *out, struct vfield *df);
void sluiced_print_dp_error(const char *err, const struct sl_snap_map *map,
			    const struct sl_ctl_part *parts, FILE *out);
void sluiced_diff_objects(const struct sl_model *old, const struct sl_model *new, FILE *out,
			  struct sluiced_change_count *c, struct vfield *cf);
/* text into the log one line at a time, at most 64 lines, with a prefix */
void sluiced_log_lines_at(enum sluiced_log_level level, const char *prefix, const char *text);

/* incr.c — an apply of some services' new endpoints (the Kubernetes
 * source's EndpointSlice and Pod changes): srcs[i] is a model loaded from
 * service svcs[i]'s own objects, its service src_si[i] (taken on success:
 * set to NULL); parts the source's objects that changed (data NULL:
 * deleted). 0 applied; -EAGAIN (reason in err) or another -errno: nothing
 * changed, apply the whole state instead. */
struct sluiced_delta {
	const size_t *svcs;
	struct sl_model **srcs;
	const size_t *src_si;
	size_t nsvcs;
	const struct sluiced_part_set {
		const char *name, *data;	/* data NULL: the part is removed */
		bool shared;			/* data is a shared text (sl_text_new) */
	} *parts;
	size_t nparts;
	const char *from;
	uint64_t t0_us;			/* when the source began it (for the log) */
	uint64_t find_us, load_us;	/* of which: finding what changed, loading it */
};
int sluiced_apply_delta(struct sluiced *d, const struct sluiced_delta *dl, char *err);
void sluiced_patches_free(struct sluiced *d);
/* state.c — after incremental applies the state file lags the parts: it
 * is written within a second (longer when a write takes long: state.c,
 * STATE_SPACING), by a thread (sluiced_state_tick), and at exit. */
void sluiced_state_mark_stale(struct sluiced *d);
void sluiced_state_tick(struct sluiced *d, bool force);	/* force: now, here (exit) */

/* docs.c: remove from parts every document whose (kind, namespace, name)
 * is in the objects of `del`; reports removed/missing objects to out. */
int sluiced_delete_docs(struct sl_ctl_part *parts, size_t nparts,
			const struct sl_ctl_part *del, size_t ndel, FILE *out,
			size_t *nremoved);

/* server.c */
int sluiced_server_open(struct sluiced *d);
void sluiced_server_handle(struct sluiced *d);

/* view.c */
enum view_fmt { VIEW_TABLE = 0, VIEW_JSON, VIEW_YAML };
int view_fmt_parse(const char *s, enum view_fmt *f);
/* sluiced_apply with the report as data (-o json|yaml) unless fmt is
 * VIEW_TABLE (state.c). */
int sluiced_apply_as(struct sluiced *d, struct sl_ctl_part *parts, size_t nparts,
		     enum sluiced_source src, bool allow_empty, enum view_fmt fmt, FILE *out);
int view_get(const struct sluiced *d, const char *what, const char *name, const char *ns,
	     enum view_fmt f, FILE *out);
int view_stats(struct sluiced *d, enum view_fmt f, FILE *out);
/* *live: the data plane is live (sluiced_live), judged once for the view */
int view_status(struct sluiced *d, enum view_fmt f, FILE *out, bool *live);

/* watch.c */
int sluiced_watch_open(struct sluiced *d);
void sluiced_watch_event(struct sluiced *d);

/* helper.c */
void sluiced_helper_init(struct sluiced *d);
void sluiced_helper_sync(struct sluiced *d);	/* after apply: start/HUP/stop */
void sluiced_helper_exited(struct sluiced *d);	/* pidfd became readable */
void sluiced_helper_tick(struct sluiced *d);	/* backoff deadline passed */
void sluiced_helper_stop(struct sluiced *d);
bool sluiced_model_needs_helper(const struct sl_model *m);
const char *sluiced_helper_state_name(enum helper_state s);
void sluiced_helper_metrics_path(const struct sluiced *d, char *buf, size_t len);

/* dns.c */
size_t sluiced_dns_lookup(const char *name, const struct sl_ip **out, void *arg);
void sluiced_dns_sync(struct sluiced *d);	/* after the live model changed */
void sluiced_dns_prepare(struct sluiced *d, const struct sl_model *m);	/* before compiling m */
void sluiced_dns_tick(struct sluiced *d);	/* from the loop: queries, re-apply */
void sluiced_dns_event(struct sluiced *d, int fd, uint32_t events);
bool sluiced_dns_owns(const struct sluiced *d, int fd);
uint64_t sluiced_dns_next_ms(struct sluiced *d);
void sluiced_dns_status(struct sluiced *d, struct vrec *r);
void sluiced_dns_free(struct sluiced *d);

/* kube.c */
int sluiced_kube_start(struct sluiced *d, char *err, size_t elen);
bool sluiced_kube_owns(const struct sluiced *d, int fd);
void sluiced_kube_event(struct sluiced *d);
uint64_t sluiced_kube_next_ms(const struct sluiced *d);
void sluiced_kube_tick(struct sluiced *d);	/* debounced apply of the share */
void sluiced_kube_status(struct sluiced *d, struct vrec *r);
void sluiced_kube_stop(struct sluiced *d);

/* outlier.c */
void sluiced_outlier_tick(struct sluiced *d);	/* from the loop: log ejections */
void sluiced_outlier_metrics(struct sluiced *d, FILE *f);
void sluiced_outlier_free(struct sluiced *d);

/* metrics.c */
int sluiced_metrics_open(struct sluiced *d);
void sluiced_metrics_handle(struct sluiced *d);

/* xdp.c: called once at start when --xdp is given, after the data plane
 * is open; returns 0 or -errno with a message in err (SL_DP_ERRLEN). */
int sluiced_xdp_setup(const char *ifaces, const char *bpffs, struct sl_dp *dp, char *err);
/* xdp.c: one line per interface and conntrack use, for status. */
struct vrec;
int sluiced_xdp_status(struct vrec *r);
/* xdp.c: forget the handle after `sluicectl reset` detached everything;
 * sluiced_dp_ensure sets XDP up again with the next apply. */
void sluiced_xdp_close(void);

#endif /* SLUICED_H */
