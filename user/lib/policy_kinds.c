// SPDX-License-Identifier: Apache-2.0
/*
 * Parsers for ServiceEntry, WorkloadEntry, DestinationRule (with its
 * trafficPolicy), Gateway, Sidecar and Sluice's MeshConfig. Each turns one
 * spec into a raw object in the loader context; cross-object checks happen
 * later in policy_resolve.c. Every problem is reported at its node.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "lib/policy_int.h"

/* Same order as enum sl_proto. */
static const char *const proto_names[] = {
	"TCP", "HTTP", "HTTP2", "GRPC", "HTTPS", "TLS", "UDP", "MONGO", "REDIS", "MYSQL", NULL,
};

/* Istio's protocol selection from the port name when protocol is unset:
 * "http", "http-foo", "grpc-web", ... */
enum sl_proto pl_proto_from_name(const char *name)
{
	for (int i = 0; proto_names[i]; i++) {
		size_t l = strlen(proto_names[i]);
		if (strncasecmp(name, proto_names[i], l) == 0 && (name[l] == '\0' || name[l] == '-'))
			return (enum sl_proto)i;
	}
	return SL_PROTO_TCP;
}

/* A ServicePort or a Gateway port; gateway selects the message name. */
static int parse_port(struct pl_ctx *c, yaml_node_t *n, struct sl_port *p, bool gateway)
{
	const char *msg = gateway ? "GatewayPort" : "ServicePort";
	if (!pl_check_map(c, n, msg, "port"))
		return -1;
	p->pos = pl_pos(c, n);
	int rc = 0;
	int r = pl_port(c, n, "number", &p->number);
	if (r == 0)
		pl_err(c, PL_E_REQUIRED, n, "missing required field \"number\"");
	if (r <= 0)
		rc = -1;
	if (pl_req_str(c, n, "name", &p->name, NULL) < 0)
		rc = -1;
	int proto = -1;
	r = pl_enum(c, n, "protocol", msg, proto_names, &proto);
	if (r < 0)
		rc = -1;
	if (r == 0 && gateway) {
		pl_err(c, PL_E_REQUIRED, n, "missing required field \"protocol\"");
		rc = -1;
	}
	p->proto = proto >= 0 ? (enum sl_proto)proto : pl_proto_from_name(p->name ? p->name : "");
	if (!gateway && pl_port(c, n, "targetPort", &p->target_port) < 0)
		rc = -1;
	return rc;
}

/* Endpoints of a ServiceEntry and WorkloadEntry specs share the message. */
static int parse_endpoint(struct pl_ctx *c, yaml_node_t *n, struct sl_endpoint *e,
			  bool dns)
{
	if (!pl_check_map(c, n, "WorkloadEntry", "endpoint"))
		return -1;
	e->pos = pl_pos(c, n);
	e->workload = -1;
	int rc = 0;
	yaml_node_t *an;
	if (pl_req_str(c, n, "address", &e->address, &an) < 0) {
		rc = -1;
	} else if (dns && !strchr(e->address, '/') && !strchr(e->address, ':') &&
		   strpbrk(e->address, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")) {
		/* a host name sluiced resolves */
		if (!sl_dns_name_valid(e->address)) {
			pl_err(c, PL_E_VALUE, an, "endpoint address \"%s\" is neither an IP address "
			       "nor a DNS name", e->address);
			rc = -1;
		}
		e->dns_name = true;
	} else if (pl_ip(c, an, &e->ip) < 0) {
		rc = -1;
	}
	if (pl_labels(c, n, "labels", &e->labels) < 0)
		rc = -1;
	if (pl_named_ports(c, n, "ports", &e->ports, &e->nports) < 0)
		rc = -1;
	e->weight = 0;
	if (pl_u32(c, n, "weight", UINT32_MAX, &e->weight) < 0)
		rc = -1;
	if (e->weight == 0)
		e->weight = 1;
	return rc;
}

static const char *const res_names[] = { "NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", NULL };
static const char *const loc_names[] = { "MESH_INTERNAL", "MESH_EXTERNAL", NULL };

int pl_parse_service_entry(struct pl_ctx *c, yaml_node_t *spec, const char *name,
			   const char *ns, struct sl_pos pos)
{
	if (!pl_check_map(c, spec, "ServiceEntry", "ServiceEntry spec"))
		return 0;
	if (pl_grow((void **)&c->se, &c->cse, c->nse, sizeof(*c->se)))
		return -ENOMEM;
	struct pl_se *se = &c->se[c->nse++];
	struct sl_service *t = &se->t;
	t->name = sl_arena_strdup(c->a, name);
	t->ns = sl_arena_strdup(c->a, ns);
	t->pos = pos;
	t->vhost = -1;
	t->location = SL_LOC_MESH_EXTERNAL;	/* Istio's default */

	int r = pl_strlist(c, spec, "hosts", &se->hosts, &se->host_pos, &se->nhosts);
	if (r == 0 || (r > 0 && se->nhosts == 0))
		pl_err(c, PL_E_REQUIRED, spec, "missing required field \"hosts\"");
	for (size_t i = 0; r > 0 && i < se->nhosts; i++) {
		if (strchr(se->hosts[i], '*')) {
			sl_diag_add(c->d, SL_SEV_ERROR, PL_E_UNSUP, se->host_pos[i],
				    "wildcard ServiceEntry host \"%s\" is not supported yet", se->hosts[i]);
		}
	}

	yaml_node_t *addrs = pl_get(c, spec, "addresses");
	if (addrs && !pl_is_null(addrs)) {
		if (addrs->type != YAML_SEQUENCE_NODE) {
			pl_err(c, PL_E_TYPE, addrs, "addresses must be a list of IP addresses");
		} else {
			t->nvips = pl_seq_len(addrs);
			t->vips = sl_arena_calloc(c->a, t->nvips + 1, sizeof(*t->vips));
			if (!t->vips)
				return -ENOMEM;
			for (size_t i = 0; i < t->nvips; i++)
				pl_ip(c, pl_seq_at(c, addrs, i), &t->vips[i]);
		}
	}

	yaml_node_t *ports = pl_get(c, spec, "ports");
	if (!ports || pl_is_null(ports) || pl_seq_len(ports) == 0) {
		if (ports && ports->type != YAML_SEQUENCE_NODE && !pl_is_null(ports))
			pl_err(c, PL_E_TYPE, ports, "ports must be a list");
		else
			pl_err(c, PL_E_REQUIRED, spec, "missing required field \"ports\"");
	} else {
		t->nports = pl_seq_len(ports);
		t->ports = sl_arena_calloc(c->a, t->nports, sizeof(*t->ports));
		if (!t->ports)
			return -ENOMEM;
		for (size_t i = 0; i < t->nports; i++) {
			yaml_node_t *pn = pl_seq_at(c, ports, i);
			if (parse_port(c, pn, &t->ports[i], false) < 0)
				continue;
			for (size_t j = 0; j < i; j++) {
				if (t->ports[j].number == t->ports[i].number)
					pl_err(c, PL_E_VALUE, pn, "duplicate port number %u",
					       t->ports[i].number);
				else if (t->ports[j].name && t->ports[i].name &&
					 !strcmp(t->ports[j].name, t->ports[i].name))
					pl_err(c, PL_E_VALUE, pn, "duplicate port name \"%s\"",
					       t->ports[i].name);
			}
		}
	}

	int v = 0;
	if (pl_enum(c, spec, "resolution", "ServiceEntry", res_names, &v) > 0)
		t->resolution = v == 1 ? SL_RES_STATIC : v == 2 ? SL_RES_DNS : SL_RES_NONE;
	if (pl_enum(c, spec, "location", "ServiceEntry", loc_names, &v) > 0)
		t->location = v == 0 ? SL_LOC_MESH_INTERNAL : SL_LOC_MESH_EXTERNAL;

	yaml_node_t *eps = pl_get(c, spec, "endpoints");
	yaml_node_t *sel = pl_get(c, spec, "workloadSelector");
	if (eps && !pl_is_null(eps)) {
		if (eps->type != YAML_SEQUENCE_NODE) {
			pl_err(c, PL_E_TYPE, eps, "endpoints must be a list");
		} else {
			if (t->resolution == SL_RES_NONE && pl_seq_len(eps) > 0)
				pl_err(c, PL_E_CONFLICT, eps,
				       "endpoints need resolution STATIC or DNS (resolution is NONE)");
			t->nendpoints = pl_seq_len(eps);
			t->endpoints = sl_arena_calloc(c->a, t->nendpoints + 1, sizeof(*t->endpoints));
			if (!t->endpoints)
				return -ENOMEM;
			for (size_t i = 0; i < t->nendpoints; i++)
				parse_endpoint(c, pl_seq_at(c, eps, i), &t->endpoints[i],
				       t->resolution == SL_RES_DNS);
		}
	}
	if (sel && !pl_is_null(sel)) {
		if (eps && !pl_is_null(eps))
			pl_err(c, PL_E_CONFLICT, sel, "endpoints and workloadSelector exclude each other");
		if (pl_check_map(c, sel, "WorkloadSelector", "workloadSelector")) {
			se->has_selector = true;
			se->selector_pos = pl_pos(c, sel);
			pl_labels(c, sel, "labels", &se->selector);
		}
	}
	return t->name && t->ns ? 0 : -ENOMEM;
}

/* sluice.io/cgroup: a path relative to the cgroup v2 root, without "..". */
static int parse_cgroup(struct pl_ctx *c, yaml_node_t *meta, char **out)
{
	yaml_node_t *ann = pl_get(c, meta, "annotations");
	yaml_node_t *v = pl_get(c, ann, "sluice.io/cgroup");
	if (!v || pl_is_null(v))
		return 0;
	const char *s = pl_scalar(v);
	if (!s) {
		pl_err(c, PL_E_TYPE, v, "sluice.io/cgroup must be a string");
		return -1;
	}
	bool bad = !*s || s[0] == '/';
	for (const char *p = s; *p && !bad;) {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if ((l == 2 && !strncmp(p, "..", 2)) || l == 0)
			bad = true;
		p += l + (e ? 1 : 0);
		if (e && !*p)
			bad = true;
	}
	if (bad) {
		pl_err(c, PL_E_CGROUP, v,
		       "bad sluice.io/cgroup \"%s\": want a path relative to the cgroup v2 root "
		       "(no leading '/', no '..', no empty components)", s);
		return -1;
	}
	*out = sl_arena_strdup(c->a, s);
	return 1;
}

int pl_parse_workload_entry(struct pl_ctx *c, yaml_node_t *spec, yaml_node_t *meta,
			    const char *name, const char *ns, struct sl_pos pos)
{
	struct sl_endpoint e = { 0 };
	if (parse_endpoint(c, spec, &e, false) < 0 && e.pos.line == 0)
		return 0;
	if (pl_grow((void **)&c->we, &c->cwe, c->nwe, sizeof(*c->we)))
		return -ENOMEM;
	struct sl_workload *w = &c->we[c->nwe++];
	w->name = sl_arena_strdup(c->a, name);
	w->ns = sl_arena_strdup(c->a, ns);
	w->ip = e.ip;
	w->address = e.address;
	w->labels = e.labels;
	w->ports = e.ports;
	w->nports = e.nports;
	w->weight = e.weight;
	w->pos = pos;
	parse_cgroup(c, meta, &w->cgroup);
	return w->name && w->ns ? 0 : -ENOMEM;
}

static const char *const lb_names[] = {
	"UNSPECIFIED", "ROUND_ROBIN", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "LEAST_REQUEST", NULL,
};

static bool is_prime(uint32_t n)
{
	if (n < 2)
		return false;
	for (uint32_t d = 2; (uint64_t)d * d <= n; d++)
		if (n % d == 0)
			return false;
	return true;
}

static int parse_consistent_hash(struct pl_ctx *c, yaml_node_t *n, struct sl_lb *lb)
{
	if (!pl_check_map(c, n, "ConsistentHash", "consistentHash"))
		return -1;
	int set = 0, rc = 0;
	lb->kind = SL_LB_CONSISTENT_HASH;
	if (pl_str(c, n, "httpHeaderName", &lb->hash_key, NULL) > 0) {
		lb->hash = SL_HASH_HEADER;
		for (char *p = lb->hash_key; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		set++;
	}
	yaml_node_t *ck = pl_get(c, n, "httpCookie");
	if (ck && pl_check_map(c, ck, "HTTPCookie", "httpCookie")) {
		lb->hash = SL_HASH_COOKIE;
		set++;
		if (pl_req_str(c, ck, "name", &lb->hash_key, NULL) < 0)
			rc = -1;
		if (pl_str(c, ck, "path", &lb->cookie_path, NULL) < 0)
			rc = -1;
		if (pl_duration(c, ck, "ttl", &lb->cookie_ttl_ms) < 0)
			rc = -1;
	}
	bool src = false;
	if (pl_bool(c, n, "useSourceIp", &src) < 0)
		rc = -1;
	if (src) {
		lb->hash = SL_HASH_SOURCE_IP;
		set++;
	}
	char *q = NULL;
	if (pl_str(c, n, "httpQueryParameterName", &q, NULL) > 0) {
		lb->hash = SL_HASH_QUERY_PARAM;
		lb->hash_key = q;
		set++;
	}
	yaml_node_t *mg = pl_get(c, n, "maglev");
	if (mg && pl_check_map(c, mg, "Maglev", "maglev")) {
		yaml_node_t *ts = pl_get(c, mg, "tableSize");
		if (pl_u32(c, mg, "tableSize", UINT32_MAX, &lb->maglev_size) < 0) {
			rc = -1;
		} else if (lb->maglev_size && !is_prime(lb->maglev_size)) {
			pl_err(c, PL_E_VALUE, ts, "maglev.tableSize %u must be a prime number",
			       lb->maglev_size);
			rc = -1;
		}
	}
	if (set == 0) {
		pl_err(c, PL_E_REQUIRED, n,
		       "consistentHash needs one of httpHeaderName, httpCookie, useSourceIp, "
		       "httpQueryParameterName");
		rc = -1;
	} else if (set > 1) {
		pl_err(c, PL_E_CONFLICT, n, "consistentHash takes only one hash key");
		rc = -1;
	}
	return rc;
}

/* Parses a TrafficPolicy into tp; fields left 0 mean "not set" so subset
 * policies can be layered over rule-level ones in resolution. */
/* tcpKeepalive {time, interval, probes}: the kernel counts the two
 * durations in whole seconds, so anything finer is refused, not rounded. */
static int keepalive_secs(struct pl_ctx *c, yaml_node_t *ka, const char *key, uint32_t *s)
{
	uint32_t ms = 0;
	int r = pl_duration(c, ka, key, &ms);

	if (r <= 0)
		return r;
	if (ms % 1000 || ms / 1000 > 32767) {
		pl_err(c, PL_E_DURATION, pl_get(c, ka, key),
		       "tcpKeepalive.%s must be whole seconds from 1s to 32767s (the kernel's "
		       "TCP_KEEPIDLE/TCP_KEEPINTVL range)", key);
		return -1;
	}
	*s = ms / 1000;
	return 1;
}

static int parse_keepalive(struct pl_ctx *c, yaml_node_t *ka, struct sl_conn_pool *p)
{
	if (!pl_check_map(c, ka, "TcpKeepalive", "connectionPool.tcp.tcpKeepalive"))
		return -1;
	p->tcp_keepalive = true;
	if (keepalive_secs(c, ka, "time", &p->ka_time_s) < 0 ||
	    keepalive_secs(c, ka, "interval", &p->ka_interval_s) < 0 ||
	    pl_u32(c, ka, "probes", 127, &p->ka_probes) < 0)
		return -1;
	return 0;
}

int pl_parse_traffic_policy(struct pl_ctx *c, yaml_node_t *n, struct sl_traffic_policy *tp)
{
	memset(tp, 0, sizeof(*tp));
	if (!pl_check_map(c, n, "TrafficPolicy", "trafficPolicy"))
		return -1;
	int rc = 0;
	yaml_node_t *lb = pl_get(c, n, "loadBalancer");
	if (lb && pl_check_map(c, lb, "LoadBalancer", "loadBalancer")) {
		int v = 0;
		int r = pl_enum(c, lb, "simple", "LoadBalancer", lb_names, &v);
		if (r < 0)
			rc = -1;
		else if (r > 0)
			tp->lb.kind = v == 1 ? SL_LB_ROUND_ROBIN :
				      (v == 2 || v == 5) ? SL_LB_LEAST_REQUEST :
				      v == 3 ? SL_LB_RANDOM : v == 4 ? SL_LB_PASSTHROUGH : SL_LB_UNSET;
		yaml_node_t *ch = pl_get(c, lb, "consistentHash");
		if (ch) {
			if (r > 0) {
				pl_err(c, PL_E_CONFLICT, ch, "simple and consistentHash exclude each other");
				rc = -1;
			} else if (parse_consistent_hash(c, ch, &tp->lb) < 0) {
				rc = -1;
			}
		}
	}
	yaml_node_t *cp = pl_get(c, n, "connectionPool");
	if (cp && pl_check_map(c, cp, "ConnectionPool", "connectionPool")) {
		yaml_node_t *t = pl_get(c, cp, "tcp");
		if (t && pl_check_map(c, t, "TCPSettings", "connectionPool.tcp")) {
			if (pl_u32(c, t, "maxConnections", INT32_MAX, &tp->pool.tcp_max_connections) < 0 ||
			    pl_duration(c, t, "connectTimeout", &tp->pool.tcp_connect_timeout_ms) < 0)
				rc = -1;
			yaml_node_t *ka = pl_get(c, t, "tcpKeepalive");
			if (ka && parse_keepalive(c, ka, &tp->pool) < 0)
				rc = -1;
		}
		yaml_node_t *h = pl_get(c, cp, "http");
		if (h && pl_check_map(c, h, "HTTPSettings", "connectionPool.http")) {
			if (pl_u32(c, h, "http1MaxPendingRequests", INT32_MAX, &tp->pool.http1_max_pending) < 0 ||
			    pl_u32(c, h, "http2MaxRequests", INT32_MAX, &tp->pool.http2_max_requests) < 0 ||
			    pl_u32(c, h, "maxConcurrentStreams", INT32_MAX,
				   &tp->pool.max_concurrent_streams) < 0 ||
			    pl_u32(c, h, "maxRequestsPerConnection", INT32_MAX, &tp->pool.max_requests_per_conn) < 0 ||
			    pl_u32(c, h, "maxRetries", INT32_MAX, &tp->pool.max_retries) < 0 ||
			    pl_duration(c, h, "idleTimeout", &tp->pool.idle_timeout_ms) < 0)
				rc = -1;
		}
	}
	yaml_node_t *od = pl_get(c, n, "outlierDetection");
	if (od && pl_check_map(c, od, "OutlierDetection", "outlierDetection")) {
		struct sl_outlier *o = &tp->outlier;
		o->set = true;
		if (pl_u32(c, od, "consecutive5xxErrors", INT32_MAX, &o->consecutive_5xx) < 0 ||
		    pl_u32(c, od, "consecutiveGatewayErrors", INT32_MAX, &o->consecutive_gw) < 0 ||
		    pl_duration(c, od, "interval", &o->interval_ms) < 0 ||
		    pl_duration(c, od, "baseEjectionTime", &o->base_ejection_ms) < 0)
			rc = -1;
		yaml_node_t *mp = pl_get(c, od, "maxEjectionPercent");
		const char *s = pl_scalar(mp);
		if (mp) {
			char *end;
			long v = s ? strtol(s, &end, 10) : -1;
			if (!s || !*s || *end || v < 0 || v > 100) {
				pl_err(c, PL_E_PERCENT, mp, "maxEjectionPercent must be an integer 0..100");
				rc = -1;
			} else {
				o->max_ejection_pct = (uint32_t)v;
			}
		}
	}
	return rc;
}

int pl_parse_destination_rule(struct pl_ctx *c, yaml_node_t *spec, const char *name,
			      const char *ns, struct sl_pos pos)
{
	if (!pl_check_map(c, spec, "DestinationRule", "DestinationRule spec"))
		return 0;
	if (pl_grow((void **)&c->dr, &c->cdr, c->ndr, sizeof(*c->dr)))
		return -ENOMEM;
	struct pl_dr *dr = &c->dr[c->ndr++];
	dr->name = sl_arena_strdup(c->a, name);
	dr->ns = sl_arena_strdup(c->a, ns);
	dr->pos = pos;
	yaml_node_t *hn;
	if (pl_req_str(c, spec, "host", &dr->host, &hn) > 0) {
		dr->host_pos = pl_pos(c, hn);
		if (strchr(dr->host, '*'))
			pl_err(c, PL_E_UNSUP, hn, "wildcard DestinationRule host \"%s\" is not supported yet",
			       dr->host);
	}
	yaml_node_t *tp = pl_get(c, spec, "trafficPolicy");
	if (tp)
		pl_parse_traffic_policy(c, tp, &dr->tp);
	yaml_node_t *subs = pl_get(c, spec, "subsets");
	if (subs && !pl_is_null(subs)) {
		if (subs->type != YAML_SEQUENCE_NODE) {
			pl_err(c, PL_E_TYPE, subs, "subsets must be a list");
			return 0;
		}
		dr->nsubsets = pl_seq_len(subs);
		dr->subsets = sl_arena_calloc(c->a, dr->nsubsets + 1, sizeof(*dr->subsets));
		if (!dr->subsets)
			return -ENOMEM;
		for (size_t i = 0; i < dr->nsubsets; i++) {
			yaml_node_t *sn = pl_seq_at(c, subs, i);
			struct sl_subset *s = &dr->subsets[i];
			if (!pl_check_map(c, sn, "Subset", "subset"))
				continue;
			s->pos = pl_pos(c, sn);
			yaml_node_t *nn;
			if (pl_req_str(c, sn, "name", &s->name, &nn) > 0) {
				for (size_t j = 0; j < i; j++) {
					if (dr->subsets[j].name && !strcmp(dr->subsets[j].name, s->name)) {
						pl_err(c, PL_E_DUPSUBSET, nn, "duplicate subset name \"%s\"",
						       s->name);
						break;
					}
				}
			}
			pl_labels(c, sn, "labels", &s->labels);
			yaml_node_t *stp = pl_get(c, sn, "trafficPolicy");
			if (stp)
				pl_parse_traffic_policy(c, stp, &s->tp);
		}
	}
	return dr->name && dr->ns ? 0 : -ENOMEM;
}

/* Server.bind: for a TCP server, required — it is the VIP (the address the
 * connections arrive at) of the L4 service the server becomes; a Gateway has
 * no address of its own and Sluice steers TCP by destination address and
 * port. Only an IP literal names such an address. On HTTP servers bind is
 * refused: sluice-http serves them on its own listen address. */
static void parse_bind(struct pl_ctx *c, yaml_node_t *sn, struct sl_gateway_server *s)
{
	yaml_node_t *bn = NULL;
	int r = pl_str(c, sn, "bind", &s->bind_address, &bn);
	if (r < 0)
		return;
	if (s->proto != SL_PROTO_TCP) {
		if (r > 0)
			pl_err(c, PL_E_UNSUP, bn,
			       "bind on an HTTP gateway server (protocol %s) is not supported yet: "
			       "sluice-http serves HTTP gateway servers on its own listen address "
			       "(bind is used for TCP servers, as their VIP)", sl_proto_name(s->proto));
		s->bind_address = NULL;
		return;
	}
	if (r == 0) {
		pl_err(c, PL_E_GWBIND, sn,
		       "a TCP gateway server needs \"bind\": the IP address its connections arrive "
		       "at (the VIP, e.g. the load balancer IP of the node); Sluice steers TCP by "
		       "destination address and port, and a Gateway has no address of its own");
		return;
	}
	s->bind_pos = pl_pos(c, bn);
	const char *v = s->bind_address;
	struct in_addr a4;
	struct in6_addr a6 = IN6ADDR_ANY_INIT;
	const char *why = NULL;
	memset(&s->bind, 0, sizeof(s->bind));
	if (!strncmp(v, "unix:", 5)) {
		why = "is a Unix domain socket; a TCP server needs the IP address (VIP) it serves";
	} else if (inet_pton(AF_INET, v, &a4) == 1) {
		s->bind.family = AF_INET;
		s->bind.addr[10] = s->bind.addr[11] = 0xff;
		memcpy(&s->bind.addr[12], &a4, 4);
	} else if (inet_pton(AF_INET6, v, &a6) == 1) {
		s->bind.family = IN6_IS_ADDR_V4MAPPED(&a6) ? AF_INET : AF_INET6;
		memcpy(s->bind.addr, &a6, 16);
	} else {
		why = "is not an IP address literal (names and CIDR ranges are not accepted)";
	}
	if (!why && s->bind.family == AF_INET) {
		const uint8_t *b = &s->bind.addr[12];
		if (!(b[0] | b[1] | b[2] | b[3]))
			why = "is the unspecified address: name the VIP itself";
		else if (b[0] >= 224)
			why = "is a multicast or reserved address, not a VIP";
	} else if (!why) {
		if (IN6_IS_ADDR_UNSPECIFIED(&a6))
			why = "is the unspecified address: name the VIP itself";
		else if (IN6_IS_ADDR_MULTICAST(&a6))
			why = "is a multicast address, not a VIP";
	}
	if (why) {
		pl_err(c, PL_E_BINDIP, bn, "bind \"%s\" %s", v, why);
		memset(&s->bind, 0, sizeof(s->bind));
	}
}

int pl_parse_gateway(struct pl_ctx *c, yaml_node_t *spec, const char *name, const char *ns,
		     struct sl_pos pos)
{
	if (!pl_check_map(c, spec, "Gateway", "Gateway spec"))
		return 0;
	if (pl_grow((void **)&c->gw, &c->cgw, c->ngw, sizeof(*c->gw)))
		return -ENOMEM;
	struct sl_gateway *g = &c->gw[c->ngw++];
	g->name = sl_arena_strdup(c->a, name);
	g->ns = sl_arena_strdup(c->a, ns);
	g->pos = pos;
	yaml_node_t *sv = pl_get(c, spec, "servers");
	if (!sv || pl_seq_len(sv) == 0) {
		if (sv && sv->type != YAML_SEQUENCE_NODE && !pl_is_null(sv))
			pl_err(c, PL_E_TYPE, sv, "servers must be a list");
		else
			pl_err(c, PL_E_REQUIRED, spec, "missing required field \"servers\"");
		return 0;
	}
	g->nservers = pl_seq_len(sv);
	g->servers = sl_arena_calloc(c->a, g->nservers, sizeof(*g->servers));
	if (!g->servers)
		return -ENOMEM;
	for (size_t i = 0; i < g->nservers; i++) {
		yaml_node_t *sn = pl_seq_at(c, sv, i);
		struct sl_gateway_server *s = &g->servers[i];
		if (!pl_check_map(c, sn, "Server", "server"))
			continue;
		s->pos = pl_pos(c, sn);
		s->tcp_vhost = -1;
		yaml_node_t *pn = pl_get(c, sn, "port");
		bool port_ok = false;
		if (!pn) {
			pl_err(c, PL_E_REQUIRED, sn, "missing required field \"port\"");
		} else {
			struct sl_port p = { 0 };
			if (parse_port(c, pn, &p, true) == 0) {
				s->port = p.number;
				s->port_name = p.name;
				s->proto = p.proto;
				port_ok = true;
			}
		}
		if (port_ok) {
			parse_bind(c, sn, s);
			pl_parse_server_tls(c, sn, s);
		}
		int r = pl_strlist(c, sn, "hosts", &s->hosts, NULL, &s->nhosts);
		if (r == 0 || (r > 0 && s->nhosts == 0))
			pl_err(c, PL_E_REQUIRED, sn, "missing required field \"hosts\"");
		for (size_t j = 0; r > 0 && j < s->nhosts; j++) {
			char *slash = strchr(s->hosts[j], '/');
			if (slash)
				s->hosts[j] = slash + 1;	/* "ns/host": namespace ignored */
		}
	}
	return g->name && g->ns ? 0 : -ENOMEM;
}

static const char *const mode_names[] = { "ALLOW_ANY", "REGISTRY_ONLY", NULL };

static int parse_outbound(struct pl_ctx *c, yaml_node_t *n, enum sl_outbound_mode *mode)
{
	if (!pl_check_map(c, n, "OutboundTrafficPolicy", "outboundTrafficPolicy"))
		return -1;
	int v = 0;
	int r = pl_enum(c, n, "mode", "OutboundTrafficPolicy", mode_names, &v);
	if (r <= 0) {
		if (r == 0)
			pl_err(c, PL_E_REQUIRED, n, "missing required field \"mode\"");
		return -1;
	}
	*mode = v ? SL_OUTBOUND_REGISTRY_ONLY : SL_OUTBOUND_ALLOW_ANY;
	return 0;
}

static void set_mesh_mode(struct pl_ctx *c, yaml_node_t *n, enum sl_outbound_mode mode)
{
	if (c->mesh_set) {
		pl_err(c, PL_E_DUPMESH, n, "mesh-wide outboundTrafficPolicy already set at %s:%d:%d",
		       c->mesh_pos.file, c->mesh_pos.line, c->mesh_pos.col);
		return;
	}
	c->mesh_set = true;
	c->mesh_mode = mode;
	c->mesh_pos = pl_pos(c, n);
}

/* One egress host "namespace/dnsName": namespace "*", ".", "~" or a DNS
 * label; dnsName "*", "*.suffix" or a name without wildcards elsewhere. */
static void check_egress_host(struct pl_ctx *c, yaml_node_t *hn, const char *h)
{
	const char *slash = strchr(h, '/'), *name = slash ? slash + 1 : NULL;

	if (!slash || slash == h || !*name || strchr(name, '/')) {
		pl_err(c, PL_E_VALUE, hn, "egress host \"%s\" must be \"namespace/dnsName\"", h);
		return;
	}
	size_t nl = (size_t)(slash - h);
	if (nl == 1 && strchr("*.~", h[0]))
		;
	else if (strcspn(h, "*") < nl)
		pl_err(c, PL_E_VALUE, hn, "egress host \"%s\": the namespace is \"*\", \".\", "
		       "\"~\" or a name, not a pattern", h);
	if (strchr(name + 1, '*') || (name[0] == '*' && name[1] && name[1] != '.'))
		pl_err(c, PL_E_VALUE, hn, "egress host \"%s\": a wildcard may only be the whole "
		       "name (\"*\") or its leftmost label (\"*.example.com\")", h);
}

static int parse_egress(struct pl_ctx *c, yaml_node_t *eg, struct sl_sidecar *s)
{
	size_t total = 0;

	if (eg->type != YAML_SEQUENCE_NODE) {
		pl_err(c, PL_E_TYPE, eg, "egress must be a list");
		return 0;
	}
	for (size_t i = 0; i < pl_seq_len(eg); i++) {
		yaml_node_t *l = pl_seq_at(c, eg, i), *hosts;
		char **h = NULL;
		size_t nh = 0;

		if (!pl_check_map(c, l, "IstioEgressListener", "egress listener"))
			continue;
		int r = pl_strlist(c, l, "hosts", &h, NULL, &nh);
		if (r == 0 || (r > 0 && nh == 0)) {
			pl_err(c, PL_E_REQUIRED, l, "missing required field \"hosts\"");
			continue;
		}
		if (r < 0)
			continue;
		char **v = sl_arena_calloc(c->a, total + nh, sizeof(*v));
		if (!v)
			return -ENOMEM;
		if (total)
			memcpy(v, s->egress_hosts, total * sizeof(*v));
		memcpy(v + total, h, nh * sizeof(*v));
		hosts = pl_get(c, l, "hosts");
		for (size_t j = 0; j < nh; j++)
			check_egress_host(c, pl_seq_at(c, hosts, j), h[j]);
		s->egress_hosts = v;
		total += nh;
	}
	s->negress_hosts = total;
	return 0;
}

int pl_parse_sidecar(struct pl_ctx *c, yaml_node_t *spec, const char *name, const char *ns,
		     struct sl_pos pos)
{
	if (!pl_check_map(c, spec, "Sidecar", "Sidecar spec"))
		return 0;
	if (pl_grow((void **)&c->sc, &c->csc, c->nsc, sizeof(*c->sc)))
		return -ENOMEM;
	struct sl_sidecar *s = &c->sc[c->nsc++];
	s->name = sl_arena_strdup(c->a, name);
	s->ns = sl_arena_strdup(c->a, ns);
	s->pos = pos;
	yaml_node_t *eg = pl_get(c, spec, "egress");
	if (eg && !pl_is_null(eg) && parse_egress(c, eg, s))
		return -ENOMEM;
	yaml_node_t *sel = pl_get(c, spec, "workloadSelector");
	if (sel && !pl_is_null(sel) &&
	    pl_check_map(c, sel, "WorkloadSelector", "workloadSelector")) {
		s->has_selector = true;
		if (pl_labels(c, sel, "labels", &s->selector) < 0)
			return 0;
		if (!s->selector.n)
			/* Istio: an empty selector is the namespace-wide Sidecar */
			s->has_selector = false;
	}
	yaml_node_t *ot = pl_get(c, spec, "outboundTrafficPolicy");
	if (ot && parse_outbound(c, ot, &s->outbound) == 0) {
		s->outbound_set = true;
		if (strcmp(ns, SL_ROOT_NS) != 0 || s->has_selector)
			pl_err(c, PL_E_UNSUP, ot,
			       "per-namespace or per-workload outboundTrafficPolicy is not supported "
			       "yet: put it in the Sidecar without workloadSelector in namespace "
			       SL_ROOT_NS " or in a sluice.io MeshConfig");
		else
			set_mesh_mode(c, ot, s->outbound);
	}
	return s->name && s->ns ? 0 : -ENOMEM;
}

int pl_parse_mesh_config(struct pl_ctx *c, yaml_node_t *spec, struct sl_pos pos)
{
	(void)pos;
	if (!pl_check_map(c, spec, "MeshConfig", "MeshConfig spec"))
		return 0;
	yaml_node_t *ot = pl_get(c, spec, "outboundTrafficPolicy");
	enum sl_outbound_mode mode;
	if (!ot) {
		pl_err(c, PL_E_REQUIRED, spec, "missing required field \"outboundTrafficPolicy\"");
		return 0;
	}
	if (parse_outbound(c, ot, &mode) == 0)
		set_mesh_mode(c, ot, mode);
	return 0;
}
