/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The compiled policy model: what the Istio YAML front-end (user/lib/policy_*.c)
 * produces and what every consumer reads — the map compiler for the kernel
 * data plane (compile_*.c), the L7 helper (user/http/) and the CLI dumps.
 *
 * Ownership: one struct sl_model owns everything reachable from it (all strings,
 * arrays, compiled regexes). Consumers treat it as read-only and free it with
 * sl_model_free(). Cross references are indices into the model's arrays, never
 * pointers, so a model can be compared, dumped and diffed deterministically.
 *
 * Everything is resolved: hosts are FQDNs, subset selectors are endpoint index
 * lists, sourceLabels are workload index lists, weights are normalised. The
 * data plane never needs to look at the YAML again.
 */
#ifndef SLUICE_MODEL_H
#define SLUICE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sluice/diag.h"

/* Normalised weights add up to this for every route (parts per million),
 * so 0.1% is 1000 and 1 vs 9999 is 100 vs 999900. The exact raw integers are
 * kept too: the data plane draws against the raw cumulative sum. */
#define SL_WEIGHT_TOTAL 1000000u

struct sl_label {
	char *key;
	char *value;
};

struct sl_labels {
	struct sl_label *v;	/* sorted by key, keys unique */
	size_t n;
};

/* An IPv4 address is stored v4-mapped (::ffff:a.b.c.d), as in the BPF ABI. */
struct sl_ip {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network byte order */
};

enum sl_proto {
	SL_PROTO_TCP = 0,
	SL_PROTO_HTTP,
	SL_PROTO_HTTP2,
	SL_PROTO_GRPC,
	SL_PROTO_HTTPS,
	SL_PROTO_TLS,
	SL_PROTO_UDP,
	SL_PROTO_MONGO,
	SL_PROTO_REDIS,
	SL_PROTO_MYSQL,
};
/* HTTP, HTTP2, GRPC: routed by sluice-http when the service has http routes. */
bool sl_proto_is_http(enum sl_proto p);
struct sl_gateway_server;
/* Does sluice-http serve this Gateway server (plain HTTP, or HTTPS it
 * terminates)? */
bool sl_gw_server_is_http(const struct sl_gateway_server *sv);
/* Does sluice-http relay this Gateway server's TLS connections unopened,
 * routed by the ClientHello's SNI (tls.mode PASSTHROUGH)? */
bool sl_gw_server_is_passthrough(const struct sl_gateway_server *sv);
const char *sl_proto_name(enum sl_proto p);

enum sl_resolution { SL_RES_NONE = 0, SL_RES_STATIC, SL_RES_DNS };
enum sl_location { SL_LOC_MESH_INTERNAL = 0, SL_LOC_MESH_EXTERNAL };

struct sl_port {
	uint16_t number;
	char *name;
	enum sl_proto proto;
	uint16_t target_port;	/* ServiceEntry targetPort; 0 = same as number */
	struct sl_pos pos;
};

/* A backend: a ServiceEntry inline endpoint or a WorkloadEntry selected by
 * the ServiceEntry's workloadSelector. */
struct sl_endpoint {
	struct sl_ip ip;
	/* resolution DNS: address is a host name (ip unset) that sluiced
	 * resolves; the data plane gets its current addresses (sl_l4_opts
	 * dns_lookup). host_endpoint: not written, the service's own host (a
	 * DNS ServiceEntry without endpoints resolves its host, as Istio).
	 * Here, in the padding after ip: 50,000 endpoints are 400 KB less. */
	bool dns_name;
	bool host_endpoint;
	char *address;		/* as written */
	struct sl_labels labels;
	struct sl_named_port {
		char *name;
		uint16_t number;
	} *ports;		/* endpoint port overrides by service port name */
	size_t nports;
	uint32_t weight;	/* 0 in YAML means unset -> 1 (Istio) */
	int workload;		/* index into model->workloads, or -1 for inline */
	struct sl_pos pos;
};

enum sl_lb_kind {
	SL_LB_UNSET = 0,	/* inherits; resolves to ROUND_ROBIN when nothing set */
	SL_LB_ROUND_ROBIN,
	SL_LB_LEAST_REQUEST,	/* "LEAST_CONN" is an alias */
	SL_LB_RANDOM,
	SL_LB_PASSTHROUGH,	/* rejected by the validator for now */
	SL_LB_CONSISTENT_HASH,
};

enum sl_hash_kind {
	SL_HASH_NONE = 0,
	SL_HASH_HEADER,		/* httpHeaderName */
	SL_HASH_COOKIE,		/* httpCookie {name, path, ttl} */
	SL_HASH_SOURCE_IP,	/* useSourceIp */
	SL_HASH_QUERY_PARAM,	/* httpQueryParameterName */
};

struct sl_lb {
	enum sl_lb_kind kind;
	enum sl_hash_kind hash;
	char *hash_key;		/* header, cookie or query parameter name */
	char *cookie_path;
	uint32_t cookie_ttl_ms;
	uint32_t maglev_size;	/* prime; 0 = default */
};

/* connectionPool and outlierDetection; 0 means "not set" for every field. */
struct sl_conn_pool {
	uint32_t tcp_max_connections;
	uint32_t tcp_connect_timeout_ms;
	uint32_t http1_max_pending;
	uint32_t http2_max_requests;
	/* streams per HTTP/2 upstream connection; sluice-http opens one at a
	 * time (upstream_h2.c), within any value */
	uint32_t max_concurrent_streams;
	uint32_t max_requests_per_conn;
	uint32_t max_retries;
	uint32_t idle_timeout_ms;
	bool tcp_keepalive;		/* tcpKeepalive given (SO_KEEPALIVE on) */
	uint32_t ka_time_s;		/* tcpKeepalive.time, whole seconds */
	uint32_t ka_interval_s;
	uint32_t ka_probes;
};

struct sl_outlier {
	bool set;
	uint32_t consecutive_5xx;	/* consecutive5xxErrors */
	uint32_t consecutive_gw;	/* consecutiveGatewayErrors */
	uint32_t interval_ms;
	uint32_t base_ejection_ms;
	uint32_t max_ejection_pct;	/* 0..100 */
};

struct sl_traffic_policy {
	struct sl_lb lb;
	struct sl_conn_pool pool;
	struct sl_outlier outlier;
};

struct sl_subset {
	char *name;
	struct sl_labels labels;
	struct sl_traffic_policy tp;	/* effective: subset over rule level */
	size_t *endpoints;		/* indices into service->endpoints */
	size_t nendpoints;
	struct sl_pos pos;
};

/* A string match: Istio StringMatch. */
enum sl_str_kind { SL_STR_EXACT = 1, SL_STR_PREFIX, SL_STR_REGEX };
struct sl_strmatch {
	enum sl_str_kind kind;
	char *value;
	void *re;		/* pcre2_code * when kind == REGEX (anchored, full match) */
	bool ignore_case;	/* uri only: ignoreUriCase */
};

struct sl_kv_match {		/* headers, queryParams, withoutHeaders */
	char *name;		/* header names lower-cased */
	struct sl_strmatch m;	/* kind 0 = presence only */
};

/* One HTTPMatchRequest / L4MatchAttributes. All set fields must match (AND). */
struct sl_match {
	char *name;
	struct sl_strmatch uri, method, authority, scheme;	/* kind 0 = unset */
	struct sl_kv_match *headers;
	size_t nheaders;
	struct sl_kv_match *without_headers;
	size_t nwithout_headers;
	struct sl_kv_match *query;
	size_t nquery;
	uint16_t port;			/* 0 = any */
	bool has_source_labels;
	struct sl_labels source_labels;
	size_t *source_workloads;	/* resolved: workloads whose labels match */
	size_t nsource_workloads;
	char **gateways;		/* match-level gateways; NULL = VS's */
	size_t ngateways;
	/* tls routes only (TLSMatchAttributes.sniHosts): the ClientHello's
	 * server name matches one of these ("*", "*.suffix" or exact,
	 * lower-cased as written; never FQDN-expanded) */
	char **sni_hosts;
	size_t nsni_hosts;
	struct sl_pos pos;
};

struct sl_dest {
	size_t service;		/* index into model->services */
	int subset;		/* index into that service's subsets, -1 = whole service */
	uint16_t port;		/* 0 = the port the client connected to */
	uint32_t weight_raw;	/* as written; all-missing -> equal split */
	uint32_t weight;	/* normalised, route total SL_WEIGHT_TOTAL */
	struct sl_pos pos;
};

struct sl_header_ops {
	struct sl_label *set, *add;
	size_t nset, nadd;
	char **remove;
	size_t nremove;
};

enum sl_retry_on {		/* bitmask */
	SL_RETRY_5XX = 1u << 0,
	SL_RETRY_GATEWAY_ERROR = 1u << 1,
	SL_RETRY_CONNECT_FAILURE = 1u << 2,
	SL_RETRY_RESET = 1u << 3,
	SL_RETRY_REFUSED_STREAM = 1u << 4,
	SL_RETRY_RETRIABLE_4XX = 1u << 5,
	SL_RETRY_NON_IDEMPOTENT = 1u << 6,	/* sluice extension: allow POST etc. */
	/* gRPC: a trailers-only answer whose grpc-status is this one */
	SL_RETRY_GRPC_CANCELLED = 1u << 7,
	SL_RETRY_GRPC_DEADLINE_EXCEEDED = 1u << 8,
	SL_RETRY_GRPC_RESOURCE_EXHAUSTED = 1u << 9,
	SL_RETRY_GRPC_INTERNAL = 1u << 10,
	SL_RETRY_GRPC_UNAVAILABLE = 1u << 11,
};

struct sl_route {
	char *name;
	struct sl_match *matches;	/* OR of matches; n == 0 matches everything */
	size_t nmatches;
	struct sl_dest *dests;
	size_t ndests;
	uint64_t weight_raw_total;
	/* HTTP only (0/NULL = unset) */
	uint32_t timeout_ms;
	struct {
		uint32_t attempts;
		uint32_t per_try_timeout_ms;
		uint32_t retry_on;	/* enum sl_retry_on bits */
		bool set;
	} retries;
	struct {
		uint32_t delay_ms;
		uint32_t delay_ppm;	/* percentage in parts per million */
		uint32_t abort_status;
		uint32_t abort_grpc;	/* grpcStatus as its code, 0 = unset (OK aborts nothing) */
		uint32_t abort_ppm;
	} fault;
	struct {
		char *uri;
		char *authority;
	} rewrite;
	struct {
		char *uri;
		char *authority;
		uint32_t code;	/* default 301 */
	} redirect;
	bool has_redirect;
	struct sl_header_ops req_headers, resp_headers;
	bool has_mirror;
	struct sl_dest mirror;
	uint32_t mirror_ppm;
	struct sl_pos pos;
	uint64_t hash;			/* canonical hash of the route as written (diff) */
};

/* A compiled VirtualService. */
struct sl_vhost {
	char *name, *ns;
	char **hosts;			/* as resolved: FQDNs or gateway host patterns */
	size_t nhosts;
	char **gateways;		/* resolved "ns/name"; "mesh" for the mesh */
	size_t ngateways;
	bool mesh;			/* bound to the mesh */
	struct sl_route *http;
	size_t nhttp;
	struct sl_route *tcp;
	size_t ntcp;
	/* tls[]: routes of passthrough Gateway servers, by SNI (every match
	 * has sni_hosts); enforced by sluice-http (user/http/passthru.c) */
	struct sl_route *tls;
	size_t ntls;
	/* TCP fault injection (annotations sluice.io/tcp-fault-abort and
	 * sluice.io/tcp-fault-errno): this share of the new connections its
	 * routes take at connect() fail with tcp_fault_errno. 0 = none. */
	uint32_t tcp_fault_ppm;		/* per million (SLUICE_FAULT_SCALE) */
	int tcp_fault_errno;
	struct sl_pos tcp_fault_pos;
	struct sl_pos pos;
};

struct sl_service {
	char *host;			/* FQDN, unique key */
	char *name, *ns;		/* of the ServiceEntry */
	struct sl_ip *vips;
	size_t nvips;
	struct sl_port *ports;
	size_t nports;
	enum sl_resolution resolution;
	enum sl_location location;
	struct sl_endpoint *endpoints;
	size_t nendpoints;
	char *dr_name;			/* DestinationRule, NULL when none */
	struct sl_traffic_policy tp;	/* rule-level trafficPolicy */
	struct sl_subset *subsets;
	size_t nsubsets;
	int vhost;			/* mesh VirtualService index, -1 = none */
	bool pod_selected;		/* a Kubernetes Service without EndpointSlices:
					 * its endpoints are the Pods its selector picks */
	struct sl_pos pos;
};

/* A WorkloadEntry. When it carries the sluice.io/cgroup annotation it is also
 * a local client whose connections are matched by sourceLabels. */
struct sl_workload {
	char *name, *ns;
	struct sl_ip ip;
	char *address;
	struct sl_labels labels;
	struct sl_named_port *ports;
	size_t nports;
	uint32_t weight;
	char *cgroup;			/* relative to the cgroup v2 root, NULL = none */
	char *pod_uid;			/* a Kubernetes Pod: its cgroup is found by
					 * kubelet's layout (sl_l4_opts.kubelet_root) */
	int sidecar;			/* resolved: the Sidecar scoping its egress
					 * (index into model->sidecars), -1 = none */
	struct sl_pos pos;
};

/* Server.tls as Sluice enforces it (policy_tls.c). mode SIMPLE: the
 * server's protocol is HTTPS and sluice-http terminates TLS with the
 * certificate and key files; the request path after it is the HTTP one.
 * mode PASSTHROUGH: protocol HTTPS or TLS; sluice-http reads the
 * ClientHello's SNI without terminating and relays the bytes to the
 * destination of the bound VirtualServices' tls routes.
 * On a plain HTTP server only https_redirect is set. */
/* SL_TLS_SIMPLE: terminated by sluice-http (tls.mode SIMPLE, MUTUAL or
 * OPTIONAL_MUTUAL; client_auth tells which). */
enum sl_tls_mode { SL_TLS_NONE = 0, SL_TLS_SIMPLE, SL_TLS_PASSTHROUGH };

/* Client certificates of a terminated server: MUTUAL requires one,
 * OPTIONAL_MUTUAL verifies one when presented. */
enum sl_client_auth { SL_CLIENT_AUTH_NONE = 0, SL_CLIENT_AUTH_REQUIRE, SL_CLIENT_AUTH_OPTIONAL };

#define SL_TLS_V12	0x0303		/* TLS version numbers as on the wire */
#define SL_TLS_V13	0x0304

struct sl_server_tls {
	enum sl_tls_mode mode;
	char *cert_file, *key_file;	/* serverCertificate, privateKey: absolute
					 * paths to PEM files, re-read on change */
	uint16_t min_version, max_version;	/* SL_TLS_V12/V13; 0 = 1.2 / 1.3 */
	char *ciphers;			/* cipherSuites joined by ':' (TLS 1.2
					 * suites, OpenSSL names), NULL = default */
	bool https_redirect;		/* plain HTTP server: 301 to https:// */
	enum sl_client_auth client_auth;
	char *ca_file;			/* caCertificates: absolute path, PEM,
					 * re-read on change (client_auth set) */
	char **sans;			/* subjectAltNames: a client certificate
					 * must carry one of them (any SAN type) */
	size_t nsans;
	struct sl_pos pos;		/* the tls map */
	char *credential;		/* credentialName: a Kubernetes Secret of
					 * the Gateway's namespace; cert_file,
					 * key_file (and ca_file) are NULL until
					 * sl_model_bind_credentials fills them */
	struct sl_pos cred_pos;		/* the credentialName value */
};

struct sl_gateway_server {
	uint16_t port;
	char *port_name;
	enum sl_proto proto;
	char **hosts;			/* "ns/host" prefixes stripped; "*" allowed */
	size_t nhosts;
	struct sl_pos pos;
	/* TCP servers only (proto SL_PROTO_TCP), an L4 service at (bind, port):
	 * bind is Istio's Server.bind, the VIP the listener binds to (e.g. the
	 * load balancer IP the node receives); family 0 = no bind. tcp_vhost is
	 * the bound VirtualService whose tcp routes serve this server's port
	 * (index into model->vhosts), -1 = none (the server is not programmed);
	 * its routes are compiled by the rules of a mesh service's tcp routes,
	 * taking those whose match port is absent or this port. */
	struct sl_ip bind;
	char *bind_address;		/* as written, NULL = none */
	struct sl_pos bind_pos;
	int tcp_vhost;
	struct sl_server_tls tls;	/* Server.tls; mode NONE = plaintext */
};

struct sl_gateway {
	char *name, *ns;		/* referenced as "ns/name" or short "name" */
	struct sl_gateway_server *servers;
	size_t nservers;
	size_t *vhosts;			/* VirtualServices bound to it, in order */
	size_t nvhosts;
	struct sl_pos pos;
};

enum sl_outbound_mode { SL_OUTBOUND_ALLOW_ANY = 0, SL_OUTBOUND_REGISTRY_ONLY };

/* A Sidecar: its egress hosts scope what its workloads see (Istio's
 * "namespace/dnsName" forms: namespace "*", "." (the client's), "~" (none)
 * or a name; dnsName "*", "*.suffix" or a host). No egress listener = no
 * scope (everything visible). */
struct sl_sidecar {
	char *name, *ns;
	char **egress_hosts;		/* "ns/host" forms as written */
	size_t negress_hosts;
	bool has_selector;		/* workloadSelector: these workloads of ns */
	struct sl_labels selector;
	enum sl_outbound_mode outbound;	/* from outboundTrafficPolicy, if set */
	bool outbound_set;
	struct sl_pos pos;
};

/* One source object, for diff and for "what changed" in apply. */
struct sl_object {
	char *kind;			/* "VirtualService", ... */
	char *ns, *name;
	uint64_t hash;			/* hash of the canonical spec: changed or not */
	struct sl_pos pos;
};

struct sl_model {
	struct sl_service *services;	/* sorted by host */
	size_t nservices;
	struct sl_vhost *vhosts;
	size_t nvhosts;
	struct sl_workload *workloads;
	size_t nworkloads;
	struct sl_gateway *gateways;
	size_t ngateways;
	struct sl_sidecar *sidecars;
	size_t nsidecars;
	enum sl_outbound_mode outbound;	/* mesh-wide (MeshConfig document) */
	int default_sidecar;		/* root namespace's Sidecar without
					 * workloadSelector (index), -1 = none */
	struct sl_object *objects;	/* every accepted source object, sorted */
	size_t nobjects;
	void *arena;			/* owner of everything above */
};

/* Load files and directories (directories: *.yaml, *.yml, sorted, recursing
 * into subdirectories; hidden entries skipped) into one model. Returns 0 and sets *out on success; on any error
 * returns -EINVAL, leaves *out NULL, and every problem (errors and warnings)
 * is in diags. Warnings alone do not fail the load. */
int sl_model_load(const char *const *paths, size_t npaths,
		  struct sl_diags *diags, struct sl_model **out);

/* Same, from a buffer (fuzzing, unit tests); name is used in diagnostics. */
int sl_model_load_buf(const char *name, const char *buf, size_t len,
		      struct sl_diags *diags, struct sl_model **out);

void sl_model_free(struct sl_model *m);

/* The files of every terminated Gateway TLS server of m, loaded as
 * sluice-http will load them (user/lib/policy_tls.c): the certificate chain
 * with its private key, and caCertificates. One error per server whose
 * files do not load, at its tls position, into diags; 0 or -EINVAL. For the
 * daemon's apply (the files are on its host), not for offline validation. */
int sl_model_check_tls_files(const struct sl_model *m, struct sl_diags *diags);

/* Load a terminated server's files into OpenSSL context ctx: the
 * certificate chain, its private key (one with a passphrase does not load),
 * and with ca (NULL = no client certificates) the CAs client certificates
 * are verified against, also sent as the acceptable CA names. NULL when all
 * load; else the field that failed ("serverCertificate", "privateKey",
 * "caCertificates"), its file in *file and OpenSSL's errors queued. The one
 * loader of sluice-http's contexts (user/http/tls.c) and of
 * sl_model_check_tls_files. */
struct ssl_ctx_st;
const char *sl_tls_ctx_load(struct ssl_ctx_st *ctx, const char *cert, const char *key,
			    const char *ca, const char **file);

/* The files of every credentialName server of m, from the credentials
 * directory dir (the Kubernetes source's copy of each Secret ns/name: the
 * files dir/ns/name/tls.crt, tls.key and, for MUTUAL/OPTIONAL_MUTUAL,
 * ca.crt): their paths go into cert_file, key_file and ca_file. dir NULL
 * (no Kubernetes source) refuses every such server; a Secret without its
 * directory or one of the files is refused, naming the Secret. Errors at
 * the credentialName position, into diags; 0 or -EINVAL (-ENOMEM). For the
 * daemon's apply and sluice-http's load, with the same dir. */
int sl_model_bind_credentials(struct sl_model *m, const char *dir, struct sl_diags *diags);

/* Incremental apply (user/lib/model_patch.c): service si of m takes the
 * endpoints of service src_si of src (a model loaded from that service's
 * objects alone), its subsets re-selected by their labels. The patch takes
 * src (freed: the patch keeps a copy of the endpoints with their
 * addresses, labels and ports); the model points into it until the patch is
 * undone (sl_model_patch_undo, which puts back what was there) or freed
 * (sl_svc_patch_free: after m itself, or after a later patch of the same
 * service replaced it). -EAGAIN, nothing changed and src not taken, when
 * the service or a subset would gain its first endpoint or lose its last
 * (the routes that skip empty destinations change: a full compile);
 * -ENOMEM. */
struct sl_svc_patch;
int sl_model_patch_endpoints(struct sl_model *m, size_t si, struct sl_model *src, size_t src_si,
			     struct sl_svc_patch **out);
void sl_model_patch_undo(struct sl_model *m, struct sl_svc_patch *p);
void sl_svc_patch_free(struct sl_svc_patch *p);
size_t sl_svc_patch_service(const struct sl_svc_patch *p);

/* Canonical JSON dump (stable ordering, documented in docs/compiled-model.md). */
int sl_model_dump_json(const struct sl_model *m, FILE *f);

/* Lookups used by the data-plane compilers. -1 when absent. */
int sl_model_find_service(const struct sl_model *m, const char *fqdn);

/* Match helpers shared by sluice-http and the tests. */
bool sl_strmatch_eval(const struct sl_strmatch *sm, const char *s, size_t len);
bool sl_labels_select(const struct sl_labels *selector, const struct sl_labels *labels);

/* A host named by the FQDN or its leading labels: "catalog" and
 * "catalog.istioinaction" name catalog.istioinaction.svc.cluster.local
 * (sluicectl get NAME, trace --service). */
bool sl_host_named(const char *host, const char *name);

/* Port p of service s is served by sluice-http (when one runs): its mesh
 * VirtualService has http routes, or no VirtualService routes it and its
 * DestinationRule sets outlierDetection (5xx answers are seen per request
 * only; the helper routes it by Istio's default route). */
bool sl_port_wants_helper(const struct sl_model *m, const struct sl_service *s,
			  const struct sl_port *p);

/* A host name sluiced may resolve: dot-separated labels of letters, digits
 * and '-' (not at a label's ends), at most 253 characters. */
bool sl_dns_name_valid(const char *name);

/* Host patterns of Gateway servers and Sidecar egress hosts: "*", "*.suffix"
 * or an exact name (case-insensitive). */
bool sl_host_pattern_match(const char *pat, const char *host);

/* Istio's root namespace: its Sidecar without workloadSelector is the
 * mesh-wide default. */
#define SL_ROOT_NS "istio-system"

/* Sidecar sc lets a client of namespace client_ns (NULL: a client that is
 * no workload; "." then means sc's own namespace) see service s. */
bool sl_egress_allows(const struct sl_sidecar *sc, const char *client_ns,
		      const struct sl_service *s);

/* The Sidecar scoping workload w's egress: w->sidecar, else the root
 * default. NULL = unscoped. */
const struct sl_sidecar *sl_sidecar_of(const struct sl_model *m, const struct sl_workload *w);

#endif /* SLUICE_MODEL_H */
