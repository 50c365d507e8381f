/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the policy front-end (policy_*.c): the loader context, the
 * raw per-kind objects collected before resolution, YAML node helpers that
 * keep file/line/col, the diagnostic code table and the one table that says
 * which Istio fields Sluice enforces.
 */
#ifndef SLUICE_POLICY_INT_H
#define SLUICE_POLICY_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <yaml.h>

#include "sluice/model.h"
#include "lib/util_arena.h"

/* ---- diagnostic codes (meanings in policy_codes.c, docs/policy-reference.md) */
#define PL_E_YAML	"SL0001"	/* YAML syntax error */
#define PL_E_APIVER	"SL0002"	/* unknown apiVersion */
#define PL_E_KIND	"SL0003"	/* unknown kind */
#define PL_E_REQUIRED	"SL0004"	/* missing required field */
#define PL_E_TYPE	"SL0005"	/* wrong type */
#define PL_W_UNKNOWN	"SL0006"	/* unknown field (warning) */
#define PL_E_UNSUP	"SL0007"	/* known field/value not supported yet */
#define PL_W_IGNORED	"SL0008"	/* field accepted but ignored (warning) */
#define PL_E_IO		"SL0009"	/* cannot read file / directory */
#define PL_E_DUPOBJ	"SL0010"	/* duplicate object name */
#define PL_E_DUPKEY	"SL0011"	/* duplicate key in a mapping */
#define PL_E_LIMIT	"SL0012"	/* document too large or too deeply aliased */
#define PL_W_NOFILES	"SL0013"	/* a directory holds no policy files */
#define PL_E_HOST	"SL0101"	/* host not found */
#define PL_E_SUBSET	"SL0102"	/* subset not defined */
#define PL_E_DPORT	"SL0103"	/* destination port not on the service */
#define PL_W_EMPTYSUB	"SL0104"	/* subset selects no endpoints (warning) */
#define PL_W_SHADOW	"SL0105"	/* route shadowed by earlier catch-all */
#define PL_E_DUPVS	"SL0106"	/* two VirtualServices for one mesh host */
#define PL_E_DUPSUBSET	"SL0107"	/* duplicate subset name */
#define PL_E_GATEWAY	"SL0108"	/* gateway not found */
#define PL_W_NOSOURCE	"SL0109"	/* sourceLabels select no workload */
#define PL_E_DUPHOST	"SL0110"	/* host defined by two ServiceEntries */
#define PL_E_DUPDR	"SL0111"	/* two DestinationRules for one host */
#define PL_W_GWHOST	"SL0112"	/* VS host not in registry, gateway only */
#define PL_E_DUPMESH	"SL0113"	/* mesh-wide outbound policy set twice */
#define PL_E_DUPVIP	"SL0114"	/* VIP:port claimed by two ServiceEntries */
#define PL_W_HTTPTCP	"SL0115"	/* http routes for a service without HTTP port */
#define PL_W_GWNOHOST	"SL0116"	/* VS host not served by its gateway */
#define PL_E_GWBIND	"SL0117"	/* TCP gateway server without bind */
#define PL_E_GWTCPDUP	"SL0118"	/* two VirtualServices route one gateway TCP server */
#define PL_E_GWVIP	"SL0119"	/* gateway TCP bind:port already claimed */
#define PL_W_GWNOROUTE	"SL0120"	/* gateway TCP server without tcp route */
#define PL_E_DUPSIDECAR	"SL0121"	/* two Sidecars for one namespace or workload */
#define PL_I_SKIPPED	"SL0014"	/* a Kubernetes kind without addresses, skipped */
#define PL_W_K8S	"SL0122"	/* Kubernetes object partly used (what is not, said) */
#define PL_W_PTNOROUTE	"SL0123"	/* passthrough gateway server without tls route */
#define PL_E_DURATION	"SL0201"	/* bad duration */
#define PL_E_PERCENT	"SL0202"	/* bad percentage */
#define PL_E_WEIGHT	"SL0203"	/* negative, non-integer or too big weight */
#define PL_E_ZEROW	"SL0204"	/* all weights zero */
#define PL_E_REGEX	"SL0205"	/* invalid regex */
#define PL_E_IP		"SL0206"	/* bad IP address */
#define PL_E_PORT	"SL0207"	/* port out of range */
#define PL_E_CGROUP	"SL0208"	/* bad sluice.io/cgroup annotation */
#define PL_E_ENUM	"SL0209"	/* value not one of the allowed names */
#define PL_E_VALUE	"SL0210"	/* invalid value (empty, bad name, range) */
#define PL_E_CONFLICT	"SL0211"	/* fields that exclude each other */
#define PL_E_BINDIP	"SL0212"	/* bind is not an IP address literal */

struct pl_code {
	const char *code;
	enum sl_severity sev;
	const char *meaning;
};
extern const struct pl_code pl_codes[];
extern const size_t pl_ncodes;

/* ---- the support table ------------------------------------------------- */
enum pl_support {
	PL_SUPPORTED = 1,	/* parsed and enforced */
	PL_UNSUPPORTED,		/* known Istio field: error "not supported yet" */
	PL_IGNORED,		/* accepted, has no effect here: warning */
};

/* One row per field of an Istio message ("HTTPRoute", "corsPolicy"), or
 * per enum value ("LoadBalancer", "simple=PASSTHROUGH"). */
struct pl_field {
	const char *msg;
	const char *field;
	enum pl_support sup;
	const char *why;	/* for IGNORED/UNSUPPORTED messages */
};
extern const struct pl_field pl_fields[];
extern const size_t pl_nfields;
const struct pl_field *pl_field_find(const char *msg, const char *field);

/* ---- raw objects, before resolution ------------------------------------ */
struct pl_dest {
	char *host, *subset;
	uint16_t port;
	bool has_weight;
	uint32_t weight;
	struct sl_pos pos, host_pos, subset_pos, port_pos, weight_pos;
};

struct pl_route {
	struct sl_route r;		/* everything but dests/mirror */
	struct pl_dest *dests;
	size_t ndests;
	struct pl_dest mirror;
	bool has_mirror;
	struct sl_pos *src_pos;		/* per match: sourceLabels position */
};

struct pl_se {
	const char *kind;		/* "ServiceEntry" (NULL) or "Service" */
	struct sl_service t;		/* template: all but host, subsets */
	char **hosts;
	struct sl_pos *host_pos;
	size_t nhosts;
	bool has_selector;
	struct sl_labels selector;
	struct sl_pos selector_pos;
};

struct pl_dr {
	char *name, *ns, *host;
	struct sl_pos pos, host_pos;
	struct sl_traffic_policy tp;
	struct sl_subset *subsets;
	size_t nsubsets;
};

struct pl_vs {
	struct sl_vhost vh;		/* hosts/gateways as written */
	struct sl_pos *host_pos, *gw_pos;
	struct pl_route *http, *tcp;
	struct pl_route *tls;		/* tls[] (policy_vs.c) */
};

/* Kubernetes objects before resolution (policy_k8s.c). */
struct pl_k8s_svc {
	char *name, *ns;
	struct sl_pos pos;
	struct sl_ip *vips;
	size_t nvips;
	struct sl_port *ports;
	char **target_names;		/* per port: named targetPort, NULL = number */
	size_t nports;
	bool has_selector, publish_not_ready;
	struct sl_labels selector;
	char *external_name;		/* type ExternalName */
};

struct pl_k8s_ep {
	struct sl_ip ip;
	char *address;
	bool ready, serving, terminating;	/* serving unset: as ready */
	char *pod;			/* targetRef of kind Pod, NULL = none */
	struct sl_pos pos;
};

struct pl_k8s_slice {
	char *name, *ns, *service;	/* kubernetes.io/service-name */
	struct sl_pos pos;
	struct pl_k8s_ep *eps;
	size_t neps;
	struct sl_named_port *ports;	/* by service port name */
	size_t nports;
};

struct pl_k8s_pod {
	char *name, *ns, *uid;
	struct sl_pos pos;
	struct sl_labels labels;
	struct sl_ip ip;
	char *address;
	bool running, deleting;
	struct sl_named_port *cports;	/* container ports by name */
	size_t ncports;
};

struct pl_ctx {
	struct sl_arena *a;
	/* what only the raw objects point to (a slice's endpoint list, a
	 * Service's host list...): freed when the load ends, not kept for
	 * the life of the model */
	struct sl_arena *tmp;
	struct sl_diags *d;
	const char *file;		/* arena copy of the current file name */
	yaml_document_t *doc;
	size_t budget;			/* node visits left for this document */
	bool over_budget;
	size_t nfiles;			/* files read so far */

	struct pl_se *se;
	size_t nse, cse;
	struct pl_dr *dr;
	size_t ndr, cdr;
	struct pl_vs *vs;
	size_t nvs, cvs;
	struct sl_workload *we;
	size_t nwe, cwe;
	struct sl_gateway *gw;
	size_t ngw, cgw;
	struct sl_sidecar *sc;
	size_t nsc, csc;
	struct sl_object *obj;
	size_t nobj, cobj;
	struct pl_k8s_svc *ks;		/* Kubernetes kinds (policy_k8s.c) */
	size_t nks, cks;
	struct pl_k8s_slice *kl;
	size_t nkl, ckl;
	struct pl_k8s_pod *kp;
	size_t nkp, ckp;
	bool mesh_set;
	enum sl_outbound_mode mesh_mode;
	struct sl_pos mesh_pos;
	/* strings many objects repeat (namespaces, label keys and values),
	 * one arena copy each (pl_intern); open addressing, freed after the
	 * load */
	char **intern;
	size_t nintern, cintern;
	/* label sets the same way (pl_labels): the replicas of a Deployment
	 * carry one set; its strings are interned, so a set is its pointers */
	struct sl_labels *lsets;
	size_t nlsets, clsets;
};

/* The arena copy of s, one per distinct string of this load: for strings
 * no one changes in place. NULL on out-of-memory. */
char *pl_intern(struct pl_ctx *c, const char *s);

/* Grow *v (element size sz) so index n fits; 0 or -ENOMEM. */
int pl_grow(void **v, size_t *cap, size_t n, size_t sz);

/* ---- YAML node helpers (policy_yaml.c) ------------------------------------ */
struct sl_pos pl_pos(const struct pl_ctx *c, const yaml_node_t *n);
yaml_node_t *pl_node(const struct pl_ctx *c, int id);
const char *pl_scalar(const yaml_node_t *n);	/* NULL unless scalar */
bool pl_is_null(const yaml_node_t *n);
/* Value of key in a mapping, NULL when absent. */
yaml_node_t *pl_get(struct pl_ctx *c, yaml_node_t *map, const char *key);
/* Check a mapping's keys against the support table under message msg:
 * unknown -> warning, unsupported -> error, ignored -> warning, duplicate
 * keys -> error. Returns false when n is not a mapping (error emitted). */
bool pl_check_map(struct pl_ctx *c, yaml_node_t *n, const char *msg, const char *what);
/* Visit accounting against alias bombs: false once the budget is spent. */
bool pl_visit(struct pl_ctx *c);

void pl_err(struct pl_ctx *c, const char *code, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void pl_warn(struct pl_ctx *c, const char *code, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
__attribute__((format(printf, 4, 5)))
void pl_info(struct pl_ctx *c, const char *code, const yaml_node_t *n, const char *fmt, ...);

/* Typed getters: return 0 when absent (out untouched), 1 when set, -1 on
 * error (already reported). */
int pl_str(struct pl_ctx *c, yaml_node_t *map, const char *key, char **out, yaml_node_t **node);
int pl_req_str(struct pl_ctx *c, yaml_node_t *map, const char *key, char **out, yaml_node_t **node);
int pl_u32(struct pl_ctx *c, yaml_node_t *map, const char *key, uint32_t max, uint32_t *out);
int pl_port(struct pl_ctx *c, yaml_node_t *map, const char *key, uint16_t *out);
int pl_bool(struct pl_ctx *c, yaml_node_t *map, const char *key, bool *out);
int pl_duration(struct pl_ctx *c, yaml_node_t *map, const char *key, uint32_t *ms);
int pl_percent(struct pl_ctx *c, yaml_node_t *n, uint32_t *ppm);
int pl_strlist(struct pl_ctx *c, yaml_node_t *map, const char *key, char ***out,
	       struct sl_pos **pos, size_t *n);
/* The mapping at map[key]: 0 when absent or null; 1 with *node and its pair
 * count *npairs; -1 after reporting "KEY WHAT" (e.g. "must be a map of strings") (or the visit budget). */
int pl_map_at(struct pl_ctx *c, yaml_node_t *map, const char *key, const char *what,
	      yaml_node_t **node, size_t *npairs);
int pl_labels(struct pl_ctx *c, yaml_node_t *map, const char *key, struct sl_labels *out);
int pl_ip(struct pl_ctx *c, yaml_node_t *n, struct sl_ip *ip);
int pl_named_ports(struct pl_ctx *c, yaml_node_t *map, const char *key,
		   struct sl_named_port **out, size_t *n);
int pl_enum(struct pl_ctx *c, yaml_node_t *map, const char *key, const char *msg,
	    const char *const *names, int *out);
size_t pl_seq_len(const yaml_node_t *n);
yaml_node_t *pl_seq_at(struct pl_ctx *c, yaml_node_t *n, size_t i);
/* Canonical hash of a subtree (mapping keys sorted), for diff. */
uint64_t pl_hash(struct pl_ctx *c, yaml_node_t *n);

/* Parse a number "123" / "1.5" strictly. */
int pl_parse_duration_ms(const char *s, uint32_t *ms);

/* ---- per-kind parsers (policy_kinds.c, policy_vs.c, policy_k8s.c) --------- */
/* Istio's protocol from a port name ("http", "grpc-web", ...): TCP when
 * none matches (policy_kinds.c). */
enum sl_proto pl_proto_from_name(const char *name);

/* One object as the loader found it (policy_load.c). */
struct pl_doc {
	yaml_node_t *root, *spec, *meta;	/* spec, meta may be NULL */
	const char *name, *ns;
	struct sl_pos pos;
};

/* Kubernetes kinds (policy_k8s.c) */
int pl_parse_k8s_service(struct pl_ctx *c, const struct pl_doc *d);
int pl_parse_endpoint_slice(struct pl_ctx *c, const struct pl_doc *d);
int pl_parse_pod(struct pl_ctx *c, const struct pl_doc *d);
/* Services -> ServiceEntry equivalents (endpoints from EndpointSlices or
 * selected Pods), Pods -> workloads; before the rest of pl_resolve. */
int pl_resolve_k8s(struct pl_ctx *c);
/* Pods -> workloads (clients for sourceLabels, identified by pod UID). */
int pl_k8s_pod_workloads(struct pl_ctx *c);

int pl_parse_service_entry(struct pl_ctx *c, yaml_node_t *spec, const char *name,
			   const char *ns, struct sl_pos pos);
int pl_parse_workload_entry(struct pl_ctx *c, yaml_node_t *spec, yaml_node_t *meta,
			    const char *name, const char *ns, struct sl_pos pos);
int pl_parse_destination_rule(struct pl_ctx *c, yaml_node_t *spec, const char *name,
			      const char *ns, struct sl_pos pos);
int pl_parse_virtual_service(struct pl_ctx *c, yaml_node_t *spec, yaml_node_t *meta,
			     const char *name, const char *ns, struct sl_pos pos);
int pl_parse_gateway(struct pl_ctx *c, yaml_node_t *spec, const char *name,
		     const char *ns, struct sl_pos pos);
int pl_parse_sidecar(struct pl_ctx *c, yaml_node_t *spec, const char *name,
		     const char *ns, struct sl_pos pos);
int pl_parse_mesh_config(struct pl_ctx *c, yaml_node_t *spec, struct sl_pos pos);
int pl_parse_traffic_policy(struct pl_ctx *c, yaml_node_t *n, struct sl_traffic_policy *tp);
int pl_parse_strmatch(struct pl_ctx *c, yaml_node_t *n, struct sl_strmatch *m, bool icase);

/* ---- resolution (policy_resolve.c) ---------------------------------------- */
int pl_resolve(struct pl_ctx *c, struct sl_model *m);
/* Does gateway server sv admit host (its host patterns: "*", "*.suffix",
 * exact; a wildcard VS host also matches the same pattern)? */
bool pl_server_serves(const struct sl_gateway_server *sv, const char *host);
/* Gateway TCP servers (policy_gateway.c): bind:port collisions, the bound
 * VirtualService whose tcp routes serve each server, the checks those
 * routes need at a gateway. Runs after the VirtualServices are resolved. */
int pl_resolve_gateway_tcp(struct pl_ctx *c, struct sl_model *m);
/* Gateway Server.tls (policy_tls.c): parse one server's tls map (after its
 * port is known); then, on the whole model, the agreement of the servers
 * sharing a port (TLS or not; one set of versions and ciphers). */
void pl_parse_server_tls(struct pl_ctx *c, yaml_node_t *sn, struct sl_gateway_server *s);
int pl_check_gateway_tls(struct pl_ctx *c, struct sl_model *m);
/* Destination d of VirtualService vs, given without a port, serving server
 * sv of gateway gw: its service needs one port, or sv's (Istio's rule).
 * 1 fine, 0 reported, -ENOMEM (policy_gateway.c). */
int pl_dest_port_ok(struct pl_ctx *c, const struct sl_model *m, const struct pl_vs *vs,
		    const struct pl_dest *d, const struct sl_gateway *gw,
		    const struct sl_gateway_server *sv);
/* tls routes at their passthrough Gateway servers (policy_tls.c): a
 * destination without port needs the service's only port or the server's
 * port (Istio's rule, as for gateway tcp routes). After pl_check_gateway_tls. */
int pl_check_tls_routes(struct pl_ctx *c, struct sl_model *m);
/* "name" in ns -> "name.ns.svc.cluster.local"; FQDNs kept. */
char *pl_fqdn(struct sl_arena *a, const char *host, const char *ns);

#endif /* SLUICE_POLICY_INT_H */
