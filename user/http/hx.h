/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-http internals: the pieces of the L7 helper and how they meet.
 *
 *   reqparse.c  llhttp (strict) request heads: spans, limits, smuggling checks
 *   router.c    VirtualService http[] matching, weighted/hashed subset choice,
 *               endpoint load balancing, outlier state (pure: no sockets)
 *   snap.c      refcounted policy snapshots and their shared runtime state
 *   worker.c    one worker: its epoll loop, listeners, snapshot follow-up
 *   proxy.c     client connections: request heads, routing, local answers
 *   upstream.c  upstream connections, pool, response relay, retries
 *   buf.c       byte buffers, reason phrases, the header copy between heads
 *   mirror.c    VirtualService mirror copies of requests
 *   metrics.c   istio_requests_total / istio_request_duration_milliseconds
 *   accesslog.c the optional access log (--access-log)
 *   trace.c     decision trace records while `sluicectl trace` reads
 *   origdst.c   sluice_origdst pinned map lookup (mesh entry point)
 *   main.c      flags, workers, signals, reload, metrics socket
 *   tls.c       TLS termination of Gateway HTTPS servers (OpenSSL)
 *   clienthello.c  the ClientHello parser of TLS passthrough (SNI)
 *   passthru.c  TLS passthrough: SNI routing and the byte relay
 *
 * Headers: this one holds the parts without sockets (heads, routing,
 * snapshots, metrics); buf.h the byte buffer; conn.h the loop's objects
 * (listeners, client and upstream connections, the worker); proxy.h the
 * request path's entry points between proxy.c, upstream.c and mirror.c;
 * reqlog.h the access log and trace records; tls.h the TLS side.
 *
 * Threads: N workers each own an epoll loop, their listeners (SO_REUSEPORT),
 * their connections and their upstream pools; they share only the current
 * snapshot (atomic refcount) and per-snapshot counters (atomics).
 */
#ifndef SLUICE_HTTP_HX_H
#define SLUICE_HTTP_HX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <llhttp.h>

#include "sluice/compile_l4.h"
#include "sluice/model.h"

/* Limits (the ones a client can push on). */
#define HX_URI_MAX		4096	/* request-target bytes -> 414 */
#define HX_HEAD_MAX		16384	/* whole request/response head -> 431 */
#define HX_MAX_HEADERS		96	/* header lines -> 431 */
#define HX_REPLAY_MAX		65536	/* request bytes kept for retries */

/* ---- request / response heads (reqparse.c) ---------------------------- */

struct hx_span {
	uint32_t off, len;	/* into the owner's buffer */
};

struct hx_hdr {
	struct hx_span name, value;
};

struct hx_head {
	struct hx_span url;	/* requests */
	struct hx_span status;	/* responses: reason phrase */
	struct hx_hdr hdrs[HX_MAX_HEADERS];
	uint32_t nhdrs;
	uint32_t head_len;	/* bytes up to and including the blank line */
	int err_status;		/* 0, or the status to answer (400/414/431) */
	uint8_t last_cb;	/* 1 field, 2 value: for split callbacks */
	bool done;		/* headers complete */
	bool msg_done;		/* message complete */
	bool skip_body;		/* response to HEAD: set before the head */
	const char *base;	/* buffer the spans point into, during execute */
	/* bodies: the payload bytes as llhttp parsed them (no chunk framing,
	 * extensions or trailers), for the proxy to re-frame a request body
	 * and for h2.c to send a response body as DATA; NULL = not wanted */
	void (*on_body)(void *ctx, const char *at, size_t len);
	void *body_ctx;
};

/* The llhttp settings of the strict request and response parsers; parser->data
 * must point at a struct hx_head. Both pause at headers- and message-complete. */
extern const llhttp_settings_t hx_req_settings;
extern const llhttp_settings_t hx_resp_settings;

/* Start a new message on an initialised parser. */
void hx_head_reset(struct hx_head *h);

/*
 * Feed the bytes buf[from..len) of a head-in-progress to parser p. The whole
 * head must stay at buf[0..) while it is parsed (spans are offsets).
 * Returns 1 when the head is complete (h->head_len set, parser paused and
 * resumed, ready for the body), 0 when more bytes are needed, -1 when the
 * message must be refused (h->err_status tells the answer).
 */
int hx_head_feed(llhttp_t *p, struct hx_head *h, const char *buf, size_t from, size_t len);

/* Header lookup by lower-case name; returns the index or -1. */
int hx_head_find(const struct hx_head *h, const char *buf, const char *lname, int from);

/* ---- routing (router.c) ----------------------------------------------- */

/* A header as the router sees it: pointers into the live request buffer. */
struct hx_hv {
	const char *name, *value;
	uint32_t nlen, vlen;
};

/* Everything a route match may look at. */
struct hx_reqview {
	const char *method, *path, *query, *authority;
	size_t method_len, path_len, query_len, authority_len;
	const struct hx_hv *hdrs;
	size_t nhdrs;
	uint16_t port;		/* the port the client targeted */
	int workload;		/* index into model->workloads, -1 unknown */
	uint8_t src_ip[16];	/* client address, v4-mapped */
	const char *gateway;	/* "ns/name" of the entry gateway, NULL = mesh */
};

/* The view of a request head h parsed by p from buf (reqparse.c): pointers
 * into buf, valid while it holds the head. hv has room for HX_MAX_HEADERS.
 * *host is the authority (absolute-form target, else Host) with its port
 * stripped. The caller sets port, workload, src_ip. */
void hx_reqview_build(const llhttp_t *p, const struct hx_head *h, const char *buf,
		      struct hx_reqview *rv, struct hx_hv *hv, const char **host, size_t *hlen);
const struct hx_hv *hx_rv_header(const struct hx_reqview *rv, const char *lname);
bool hx_host_match(const char *pattern, const char *host, size_t hlen);
bool hx_strmatch(const struct sl_strmatch *sm, const char *s, size_t len);

/* Entry points: which VirtualService serves this request? -1 = none. */
int hx_vhost_for_gateway(const struct sl_model *m, uint16_t port, const char *host,
			 size_t hlen, const char **gw_name_out, char *gwbuf, size_t gwbuflen);
/* The first Gateway server (model order) on port whose hosts admit host;
 * NULL = none. */
const struct sl_gateway_server *hx_gateway_server(const struct sl_model *m, uint16_t port,
						 const char *host, size_t hlen);
int hx_vhost_for_mesh_host(const struct sl_model *m, const char *host, size_t hlen);
int hx_service_for_vip(const struct sl_model *m, const uint8_t ip[16], uint16_t port);

/* The first http[] route of vh matching rv, or -1. */
int hx_route_match(const struct sl_vhost *vh, const struct hx_reqview *rv);
bool hx_match_eval(const struct sl_match *mt, const struct hx_reqview *rv);

/* Consistent-hash key of a request under lb; false when the key is absent. */
bool hx_hash_request(const struct sl_lb *lb, const struct hx_reqview *rv, uint64_t *out);
uint64_t hx_hash64(const void *p, size_t n, uint64_t seed);

/* The destination of route r for draw point `pt` taken from [0, 2^64). The
 * same pt always yields the same destination for a given route (so a hashed
 * user keeps its subset while the weights hold). -1 when all weights are 0. */
int hx_pick_dest(const struct sl_route *r, uint64_t pt);

/* The worker's xorshift draw over state *s. */
static inline uint64_t hx_rand_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Where a request came in, as far as routing cares. */
struct hx_entry {
	uint16_t port;		/* the listener's port */
	bool gateway;		/* a Gateway listener, else the mesh entry */
	bool tls;		/* arrived over TLS (a Gateway HTTPS server) */
	bool has_orig;		/* mesh: the VIP the client dialled is known */
	uint8_t vip[16];
	uint16_t vip_port;
};

/* What becomes of a request: hx_route_request decides, proxy.c acts. */
enum hx_act {
	HX_ACT_FORWARD,		/* to (svc, subset) on dest_port */
	HX_ACT_REPLY,		/* a local answer: code, x-sluice-reason: reason */
	HX_ACT_ABORT,		/* a fault abort: code, x-sluice-fault: abort */
	HX_ACT_REDIRECT,	/* the route's redirect */
	HX_ACT_HTTPS_REDIRECT,	/* the plain server's tls.httpsRedirect */
};

struct hx_verdict {
	enum hx_act act;
	int code;			/* REPLY, ABORT */
	int grpc;			/* ABORT by grpcStatus: the code, 0 = none */
	const char *reason;		/* REPLY */
	const struct sl_route *rt;	/* NULL = no route */
	int route_idx;			/* rt's position in its http[] */
	const struct sl_match *hit;	/* rt's condition that matched, NULL = none */
	int svc, subset;		/* -1 = none; set for metrics even when answered */
	uint16_t dest_port;		/* FORWARD: the service port */
	bool has_hash;			/* FORWARD: endpoint by rendezvous hash */
	uint64_t hash;
	bool mirror;			/* FORWARD: copy to the route's mirror */
	uint32_t delay_ms;		/* FORWARD: fault delay drawn, 0 = none */
	char set_cookie[160];		/* FORWARD: minted consistentHash cookie
					 * line for the response, "" = none */
	char gw[256];			/* the entry gateway's "ns/name" (rv->gateway) */
};

struct hx_snap;
/* Route a request: entry gateway or mesh service, VirtualService, http[]
 * route, redirect, fault abort, destination (by hash or weighted draw),
 * endpoint hash, mirror and fault delay draws (from *rng). rv->gateway is
 * set to v->gw for a gateway entry. Pure: no sockets, no clock. */
void hx_route_request(const struct hx_snap *snap, const struct hx_entry *e,
		      struct hx_reqview *rv, const char *host, size_t hlen, uint64_t *rng,
		      struct hx_verdict *v);

/* Per-endpoint runtime state shared by all workers (atomics). */
struct hx_ep_state {
	uint32_t consec_5xx, consec_gw;
	uint32_t nejections;
	int32_t active;			/* requests in flight */
	uint64_t ejected_until_ms;
};

struct hx_subset_state {
	uint64_t rr;			/* round-robin cursor */
	int32_t active;			/* requests in flight (connectionPool) */
	int32_t retries;		/* retries in flight (maxRetries) */
};

struct hx_svc_state {
	struct hx_ep_state *eps;	/* per service endpoint */
	struct hx_subset_state *subsets;/* nsubsets + 1: last = whole service */
	/* the route of the service when no mesh VirtualService routes it
	 * (Istio's default: the whole service by its load balancer). The
	 * connect hooks send such a service here for its HTTP outlierDetection. */
	struct sl_route dflt;
	struct sl_dest dflt_dest;
};

/* Choose an endpoint of (service, subset) (-1 = whole service): ejected
 * endpoints are skipped; hash (when has_hash) picks by rendezvous hashing,
 * otherwise the subset's load balancer. -1 when none is healthy. */
int hx_pick_endpoint(const struct sl_model *m, struct hx_svc_state *st, size_t svc,
		     int subset, bool has_hash, uint64_t hash, uint64_t rnd, uint64_t now_ms);

/* The effective traffic policy of (service, subset). */
const struct sl_traffic_policy *hx_policy(const struct sl_model *m, size_t svc, int subset);

/* Record an upstream outcome for outlier detection: status (0 = connect
 * failure / reset / timeout). */
void hx_outlier_report(const struct sl_model *m, struct hx_svc_state *st, size_t svc,
		       int subset, int ep, int status, uint64_t now_ms);

/* The upstream port of endpoint ep for a service port. */
/* Does service port svc_port of s speak HTTP/2 (protocol HTTP2 or GRPC)?
 * Its upstream connections then do (upstream_h2.c). */
bool hx_port_h2(const struct sl_service *s, uint16_t svc_port);
uint16_t hx_endpoint_port(const struct sl_service *s, const struct sl_endpoint *e,
			  uint16_t svc_port);
/* The service port a request uses: dest port, else the entry port when the
 * service has it, else the service's first port. */
uint16_t hx_service_port(const struct sl_service *s, uint16_t dest_port, uint16_t entry_port);

/* ---- snapshots (snap.c) ------------------------------------------------- */

struct hx_snap {
	struct sl_model *m;
	struct hx_svc_state *svc;	/* m->nservices */
	uint32_t *wids;			/* m->nworkloads data-plane ids
					 * (sl_l4_workload_ids): what
					 * sluice_origdst carries */
	uint64_t gen;
	int refs;			/* atomic */
	bool owns_model;
	struct hx_tls *tls;		/* TLS contexts of the HTTPS servers
					 * (tls.c), NULL = none */
};

struct hx_snap *hx_snap_new(struct sl_model *m, bool owns_model, uint64_t gen);
struct hx_snap *hx_snap_get(void);	/* the current one, referenced */
void hx_snap_ref(struct hx_snap *s);
void hx_snap_put(struct hx_snap *s);
void hx_snap_publish(struct hx_snap *s);/* takes the caller's reference */
uint64_t hx_snap_gen(void);		/* cheap: changes on every publish */

/* Load policy paths into a new snapshot; 0 or -errno (diags printed). */
int hx_snap_load(const char *const *paths, size_t n, struct hx_snap **out);

/* ---- metrics (metrics.c) ------------------------------------------------- */

struct hx_metrics;
/* Client connections closed before a request was served, by reason. */
enum hx_reject { HX_REJ_MAX_CONNS, HX_REJ_HEADER_TIMEOUT, HX_REJ_NOT_STEERED,
		 HX_REJ_TLS_HANDSHAKE, __HX_REJ_MAX };
/* A listener bind/listen outcome (err 0 = up), kept for the metrics dump
 * as sluice_http_listener_failed{listener,error}, which sluiced reads for
 * status and readiness. */
void hx_listen_result(const char *addr, uint16_t port, int err);
void hx_metrics_reject(struct hx_metrics *mx, enum hx_reject why);
/* TLS passthrough (passthru.c): client connections closed before or at
 * routing, by reason (sluice_http_passthrough_rejected_total). */
enum hx_pt_reject { HX_PT_REJ_NO_SNI, HX_PT_REJ_NO_ROUTE, HX_PT_REJ_BAD_HELLO,
		    HX_PT_REJ_HELLO_TIMEOUT, HX_PT_REJ_HELLO_CLOSED, HX_PT_REJ_NO_HEALTHY,
		    HX_PT_REJ_CONNECT, HX_PT_REJ_OVERFLOW, HX_PT_REJ_MAX_CONNS, __HX_PT_REJ_MAX };
void hx_metrics_pt_reject(struct hx_metrics *mx, enum hx_pt_reject why);
/* HTTP/2 from clients (h2.c): connections, streams opened, streams refused
 * over --max-conns, streams the client reset before their response ended
 * (sluice_http_h2_*_total), and GOAWAYs sent, by error code. */
enum hx_h2_count { HX_H2_CONNS, HX_H2_STREAMS, HX_H2_REFUSED, HX_H2_RESET, __HX_H2_MAX };
#define HX_H2_ERR_MAX	14	/* HTTP/2 error codes 0x0..0xd */
void hx_metrics_h2(struct hx_metrics *mx, enum hx_h2_count what);
void hx_metrics_h2_goaway(struct hx_metrics *mx, uint32_t error_code);
/* The passthrough series of connections routed by sni_host (the sniHosts
 * entry that matched) of gateway gw to (svc, subset) of m: an index for
 * hx_metrics_pt_add, stable for mx's life; -1 when out of memory. */
int hx_metrics_pt_series(struct hx_metrics *mx, const struct sl_model *m,
			 const struct sl_gateway *gw, const char *sni_host, int svc, int subset);
/* The per-endpoint passthrough counters of connections relayed to addr
 * (16 bytes, v4-mapped for IPv4) and port (host order), the endpoint the
 * relay connected to, for (svc, subset) of m: an index for
 * hx_metrics_pt_add, stable for mx's life; -1 when out of memory. */
int hx_metrics_pt_endpoint(struct hx_metrics *mx, const struct sl_model *m, int svc, int subset,
			   const uint8_t addr[16], uint16_t port);
/* Add to series (hx_metrics_pt_series) and ep_series
 * (hx_metrics_pt_endpoint); either may be -1 (none). rx_bytes are client
 * to backend, tx_bytes backend to client. */
void hx_metrics_pt_add(struct hx_metrics *mx, int series, int ep_series, uint64_t opened,
		       uint64_t closed, uint64_t rx_bytes, uint64_t tx_bytes);
struct hx_metrics *hx_metrics_new(void);
void hx_metrics_free(struct hx_metrics *mx);
/* One completed request. snap may be NULL (labels then "unknown"); the
 * indices are into its model, -1 = unknown; flags are Envoy's response
 * flags (a static string, NULL = "-"). */
struct hx_req_metric {
	const struct hx_snap *snap;
	int workload, svc, subset, ep;
	int code;
	const char *flags;
	bool has_grpc;		/* a gRPC answer: its grpc-status in grpc */
	int grpc;
	double ms;
	uint64_t req_bytes, resp_bytes;
};
void hx_metrics_record(struct hx_metrics *mx, const struct hx_req_metric *r);
/* Prometheus text of every worker's table into f. */
int hx_metrics_dump(struct hx_metrics **mxs, size_t n, FILE *f);
/* Requests and TLS passthrough connections per (service, subset) as JSON,
 * for sluiced's stats and top: [{"service", "subset", "requests", "errors"
 * (5xx), "request_bytes", "response_bytes", "connections_opened",
 * "connections_closed", "bytes_sent" (client to destination),
 * "bytes_received"}]. */
int hx_metrics_counts_json(struct hx_metrics **mxs, size_t n, FILE *f);
/* TLS passthrough connections per destination endpoint as JSON, for
 * sluiced's istio_tcp_* (the metrics socket's "endpoints" request):
 * [{"service" (host, "" = unknown), "subset" ("" = whole service),
 * "address" (the endpoint's IP, IPv4 dotted), "port" (the port connected
 * to), "connections_opened", "connections_closed", "bytes_sent" (client to
 * destination), "bytes_received"}], one entry per (service, subset,
 * address, port) ever relayed to, counters since sluice-http started. */
int hx_metrics_pt_endpoints_json(struct hx_metrics **mxs, size_t n, FILE *f);

/* ---- mesh original destination (origdst.c) ----------------------------- */

/* Open <bpffs>/sluice_origdst; -errno when absent. */
int hx_origdst_open(const char *bpffs);
/* Look up a client's local addr:port; 0 and vip/port/workload, or -ENOENT. */
int hx_origdst_lookup(int mapfd, const uint8_t addr[16], uint16_t port,
		      uint8_t vip[16], uint16_t *vip_port, uint32_t *workload);

/* ---- the proxy (proxy.c, upstream.c) ------------------------------------ */

struct hx_config {
	const char *mesh_addr;		/* NULL with --no-mesh */
	uint16_t mesh_port;
	const char *gateway_addr;
	int origdst_fd;			/* -1 when the map is absent */
	uint32_t header_timeout_ms;
	uint32_t tls_handshake_timeout_ms;	/* gateway HTTPS: accept to handshake done;
						 * TLS passthrough: to the ClientHello whole */
	uint32_t idle_timeout_ms;
	uint32_t max_conns;		/* per worker */
	const char *credentials_dir;	/* --credentials-dir: the Kubernetes
					 * source's Secrets (credentialName);
					 * NULL = none, such servers refused */
};

extern struct hx_config hx_cfg;
extern volatile int hx_stop;

struct hx_worker;
struct hx_worker *hx_worker_new(int id);
struct hx_metrics *hx_worker_metrics(struct hx_worker *w);
void *hx_worker_run(void *arg);
void hx_worker_wake(struct hx_worker *w);

uint64_t hx_now_ms(void);

#endif /* SLUICE_HTTP_HX_H */
