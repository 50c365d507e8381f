/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The BPF <-> userspace ABI: every map key and value. Included by the BPF
 * programs (bpf/) and by userspace (user/lib/compile_*.c, dp_*.c).
 * Rules: only __u8..__u64 and __be16/__be32, explicit padding, no pointers,
 * no bool, and a size assertion per struct so the two sides cannot drift.
 * A layout change gets a new map name with a _v2 suffix.
 *
 * Addresses are 16 bytes everywhere; IPv4 is stored v4-mapped (::ffff:a.b.c.d).
 *
 * Atomic apply ("generations"): every policy-derived key starts with the
 * generation it belongs to. Userspace writes generation N+1 beside N, flips
 * sluice_ctl.gen with one 4-byte store, waits out readers, then deletes N.
 * A program reads ctl.gen once and uses it for all its lookups, so one
 * connect() sees one policy, never a mix.
 */
#ifndef SLUICE_ABI_H
#define SLUICE_ABI_H

#include <linux/types.h>

#define SLUICE_PIN_ROOT		"/sys/fs/bpf/sluice"

#define SLUICE_MAX_DESTS	16	/* weighted destinations per route */
#define SLUICE_MAX_ROUTES	16	/* L4 routes per service, in order */
#define SLUICE_MAX_BACKENDS	4096	/* per subset */
#define SLUICE_SUBSET_INLINE	4	/* backends copied into the subset entry */
#define SLUICE_SVC_INLINE_SUBSETS 2	/* subsets copied into a service entry */
#define SLUICE_CGROUP_DEPTH	16	/* ancestor levels searched for a workload */
#define SLUICE_NO_WORKLOAD	0xffffffffu

/* Socket mark set by sluice-http on its upstream sockets: never steered. */
#define SLUICE_HELPER_MARK	0x51ce

enum sluice_lb {
	SLUICE_LB_ROUND_ROBIN = 0,
	SLUICE_LB_RANDOM = 1,
	SLUICE_LB_LEAST_REQUEST = 2,	/* power of two choices on active conns */
	SLUICE_LB_MAGLEV = 3,		/* consistentHash at L4 (XDP path) */
};

/* sluice_ctl[0]: written by sluiced only. */
struct sluice_ctl {
	__u32 gen;		/* the live generation; 0 = no policy */
	__u32 pad;
};

enum sluice_gencfg_flags {
	SLUICE_CFG_REGISTRY_ONLY = 1 << 0,	/* unknown destinations refused */
	SLUICE_CFG_SOURCE_ROUTES = 1 << 1,	/* some route matches sourceLabels:
						 * resolve the client's workload */
	SLUICE_CFG_CLIENT_WORKLOADS = 1 << 2,	/* some workload has a cgroup: resolve
						 * it for every steered connect, so
						 * sluice_traffic knows the source */
	SLUICE_CFG_EGRESS_SCOPES = 1 << 3,	/* Sidecar egress scopes: a client's
						 * scope (sluice_client.scope, else
						 * default_scope) may hide a service
						 * (sluice_svc.scope_hidden) */
};

/* sluice_gencfg[gen]: mesh-wide settings of one generation. */
struct sluice_gencfg {
	__u32 flags;		/* enum sluice_gencfg_flags */
	__be16 helper_port;	/* sluice-http mesh listener, 0 = none */
	__u8 default_scope;	/* egress scope of a client that is no workload
				 * (the root namespace's Sidecar); 0 = none */
	__u8 pad;
	__u8 helper_addr[16];
};

enum sluice_route_flags {
	SLUICE_ROUTE_SOURCE = 1 << 0,	/* match sourceLabels via sluice_route_src */
	SLUICE_ROUTE_NO_ENDPOINTS = 1 << 1,/* every destination is empty: refuse */
	SLUICE_ROUTE_HASH = 1 << 2,	/* a destination subset is consistentHash
					 * (lb MAGLEV): the subset choice hashes
					 * the source instead of drawing at random */
	SLUICE_ROUTE_FAULT = 1 << 3,	/* sluice_fault[(gen, route)] refuses a share
					 * of the route's new connections */
};

struct sluice_route_key {
	__u32 gen;
	__u32 route_id;
};

struct sluice_dest {
	__u32 subset_id;	/* key into sluice_subset for this gen */
	__u32 cum_weight;	/* cumulative raw weight; pick r < cum_weight */
};

/* sluice_route: (gen, route_id) -> match + weighted subsets. Subsets with no
 * endpoints are already left out (renormalised) by the compiler. */
struct sluice_route {
	__u16 port;		/* host order; 0 = any */
	__u8 flags;		/* enum sluice_route_flags */
	__u8 ndests;
	__u32 total;		/* = dests[ndests-1].cum_weight, > 0 */
	struct sluice_dest dests[SLUICE_MAX_DESTS];
};

/* sluice_fault: (gen, route id) -> TCP fault injection of a route
 * (a VirtualService's sluice.io/tcp-fault-* annotations). */
#define SLUICE_FAULT_SCALE	1000000u	/* abort_ppm of every connect */

struct sluice_fault {
	__u32 abort_ppm;	/* connects refused, per million */
	__s32 err;		/* the errno connect() returns (positive) */
};

/* sluice_backend: (gen, index) -> backend address. */
struct sluice_backend_key {
	__u32 gen;
	__u32 idx;
};

struct sluice_backend {
	__u8 addr[16];
	__be16 port;
	__u16 pad;
	__u32 weight;
};

/* sluice_subset: (gen, subset_id) -> load balancer + backend range. */
struct sluice_subset_key {
	__u32 gen;
	__u32 subset_id;
};

struct sluice_subset {
	__u32 svc_sid;		/* stable ids for stats */
	__u32 subset_sid;	/* hash of the subset name; 0 = whole service */
	__u32 backend_first;	/* sluice_backend keys backend_first + i */
	__u16 nbackends;
	__u8 lb;		/* enum sluice_lb */
	__u8 flags;		/* enum sluice_subset_flags */
	__u32 maglev_first;	/* XDP Maglev table, when lb == MAGLEV */
	__u32 maglev_size;
	/* ROUND_ROBIN cursor, advanced by the programs (atomic add); sluiced
	 * writes 0. In the subset entry itself rather than a map of its own:
	 * one cold hash lookup less per connect. */
	__u64 rr_cursor;
	/* backends 0..min(nbackends, SLUICE_SUBSET_INLINE)-1 copied from
	 * sluice_backend: a subset this small is chosen from without a
	 * sluice_backend lookup (sluice_backend stays the full list) */
	struct sluice_backend inl[SLUICE_SUBSET_INLINE];
};

enum sluice_subset_flags {
	/* connectionPool.tcp or outlierDetection: sluice_pool has
	 * (gen, svc_sid, subset_sid) */
	SLUICE_SUBSET_F_POOL = 1 << 0,
	/* outlierDetection: skip backends ejected in sluice_eject */
	SLUICE_SUBSET_F_OUTLIER = 1 << 1,
};

/* sluice_pool: (gen, subset) -> the DestinationRule's connectionPool.tcp
 * and outlierDetection, for the subsets flagged SLUICE_SUBSET_F_POOL. Read
 * by connect4/6 (the limit) and sockops (connect timeout, keepalive,
 * ejections). */
struct sluice_pool_key {
	__u32 gen;
	__u32 svc_sid;
	__u32 subset_sid;
	__u32 pad;
};

struct sluice_pool {
	__u32 max_conns;	/* 0 = no limit */
	__u32 connect_timeout_ms; /* TCP_USER_TIMEOUT while SYN_SENT; 0 = unset */
	__u32 keepalive;	/* 1 = tcpKeepalive given: SO_KEEPALIVE on */
	__u32 ka_time_s;	/* tcpKeepalive.time; 0 = the kernel's */
	__u32 ka_intvl_s;	/* tcpKeepalive.interval; 0 = the kernel's */
	__u32 ka_probes;	/* tcpKeepalive.probes; 0 = the kernel's */
	__u32 od_consecutive;	/* failed connects that eject a backend; 0 = off */
	__u32 od_base_ms;	/* baseEjectionTime */
	__u32 od_max_ejected;	/* backends of the subset out at once (>= 1) */
	__u32 pad;
};

/* sluice_pool_use: per subset, across generations: connections counted
 * against maxConnections (from the SYN until close) and refusals. */
struct sluice_pool_use_key {
	__u32 svc_sid;
	__u32 subset_sid;
};

struct sluice_pool_use {
	__s64 open;		/* SYN sent .. closed (sockops) */
	__u64 overflow;		/* connect() refused over max_conns (UO) */
	__u64 ejections;	/* backends ejected by outlierDetection */
};

/* sluice_eject: per backend (the sluice_stats key), across generations:
 * outlierDetection's state. Written by sockops; read by connect4/6. */
struct sluice_eject {
	__u32 consecutive;	/* failed connects in a row */
	__u32 times;		/* times ejected (the ejection multiplier) */
	__u64 until_ns;		/* bpf_ktime_get_ns() deadline; past = admitted */
};

enum sluice_svc_flags {
	SLUICE_SVC_HTTP = 1 << 0,	/* send to sluice-http (has http routes) */
	SLUICE_SVC_PASSTHROUGH = 1 << 1,/* registered, not rewritten (REGISTRY_ONLY allow) */
	SLUICE_SVC_NO_ENDPOINTS = 1 << 2,/* connect() fails with ECONNREFUSED */
	SLUICE_SVC_ROUTE_INLINE = 1 << 3,/* the one route is `route` below:
					  * no sluice_route lookup at connect */
	SLUICE_SVC_SUBSET_INLINE = 1 << 4,/* with ROUTE_INLINE: sub[i] is a copy
					  * of subset route.dests[i].subset_id
					  * (ndests <= SLUICE_SVC_INLINE_SUBSETS):
					  * no sluice_subset lookup at connect */
};

/* sluice_svc: (gen, VIP, port, proto) -> service. */
struct sluice_svc_key {
	__u32 gen;
	__be16 port;
	__u8 proto;		/* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad;
	__u8 addr[16];
};

struct sluice_svc {
	__u32 svc_sid;		/* stable id (hash of the FQDN) for stats */
	__u32 flags;		/* enum sluice_svc_flags */
	__u32 route_first;	/* routes route_first .. route_first+nroutes-1 */
	__u16 nroutes;
	__u16 pad;
	/* bit i set: hidden from clients of egress scope i (1..SLUICE_MAX_SCOPES):
	 * for them the service is not in the registry (SLUICE_CFG_EGRESS_SCOPES) */
	__u64 scope_hidden;
	/* with SLUICE_SVC_ROUTE_INLINE (nroutes == 1): a copy of route
	 * route_first, so the hook reads it from the entry it already holds
	 * (one cold hash lookup less per connect with many services) */
	struct sluice_route route;
	/* with SLUICE_SVC_SUBSET_INLINE: copies of the route's destination
	 * subsets, in dests[] order. The connect hooks pick from (and advance
	 * the ROUND_ROBIN cursor of) these copies; XDP and tools keep using
	 * sluice_subset. */
	struct sluice_subset sub[SLUICE_SVC_INLINE_SUBSETS];
};

/* sluice_route_src: present when workload may take the route. */
struct sluice_route_src_key {
	__u32 gen;
	__u32 route_id;
	__u32 workload_id;
	__u32 pad;
};

/* sluice_cgroup: (gen, cgroup id) -> a local client: its workload and its
 * Sidecar egress scope. */
struct sluice_cgroup_key {
	__u32 gen;
	__u32 pad;
	__u64 cgroup_id;
};

#define SLUICE_MAX_SCOPES	63	/* distinct egress scopes per generation */

struct sluice_client {
	__u32 workload_id;
	__u32 scope;		/* egress scope, 0 = everything visible */
};

/* sluice_stats: per (service, subset, backend), across generations.
 * Written by the socket programs with atomic adds; read by sluicectl stats. */
struct sluice_stats_key {
	__u32 svc_sid;
	__u32 subset_sid;
	__u8 addr[16];
	__be16 port;
	__u16 pad;
	__u32 pad2;
};

struct sluice_stats {
	__u64 opened;		/* connect() steered to this backend */
	__u64 established;
	__u64 failed;		/* connect failed (RST/timeout before established) */
	__u64 closed;
	__s64 active;		/* established and not yet closed */
	__u64 bytes_sent;	/* client -> backend: at close, and while the
				 * connection lives by bpf/iter.bpf.c */
	__u64 bytes_received;
};

/* sluice_traffic: per (client workload, service, subset, backend), the
 * Istio TCP metrics' counters. The same events as sluice_stats, split by
 * the client's workload (SLUICE_NO_WORKLOAD when it has none), which
 * sluice_stats cannot be: LEAST_REQUEST reads a backend's active count in
 * one lookup. Entries go when their sluice_stats entry has gone. */
struct sluice_traffic_key {
	struct sluice_stats_key stats;
	__u32 src_wid;
	__u32 pad;
};

struct sluice_traffic {
	__u64 opened;
	__u64 closed;
	__u64 bytes_sent;	/* request bytes, client -> backend */
	__u64 bytes_received;	/* response bytes */
};

/* Per-socket storage (map sluice_sock): set at connect(), read by
 * getpeername, recvmsg and sockops. Not named struct sluice_sock: that is
 * the skeleton of bpf/sock.bpf.c. */
struct sluice_sk_state {
	__u8 vip[16];		/* what the application asked for */
	__be16 vip_port;
	__u8 state;		/* enum sluice_sock_state */
	__u8 flags;		/* enum sluice_sock_flags */
	__u32 workload_id;
	struct sluice_stats_key stats;
	/* payload bytes already added to sluice_stats and sluice_traffic
	 * (by bpf/iter.bpf.c while the connection lives, the rest at close);
	 * swapped atomically so that the two never count a byte twice */
	__u64 reported_sent;
	__u64 reported_received;
};

enum sluice_sock_state {
	SLUICE_SOCK_NEW = 0,		/* connect() steered, not established */
	SLUICE_SOCK_ESTABLISHED = 1,
	SLUICE_SOCK_CLOSED = 2,		/* counted; never counted twice */
};

enum sluice_sock_flags {
	SLUICE_SOCK_F_STEERED = 1 << 0,	/* rewritten to a backend: has stats */
	SLUICE_SOCK_F_HELPER = 1 << 1,	/* rewritten to sluice-http: origdst */
	SLUICE_SOCK_F_POOLED = 1 << 2,	/* counted in sluice_pool_use.open */
	SLUICE_SOCK_F_CONNECT_TIMEOUT = 1 << 3,	/* TCP_USER_TIMEOUT set until established */
	SLUICE_SOCK_F_OUTLIER = 1 << 4,	/* outlierDetection: failures count (sluice_eject) */
};

/* sluice_origdst: client 4-tuple (its local addr:port) -> original VIP, for
 * sluice-http to recover where a redirected connection was going. */
struct sluice_origdst_key {
	__u8 addr[16];
	__be16 port;
	__u16 pad;
};

struct sluice_origdst {
	__u8 vip[16];
	__be16 vip_port;
	__u16 pad;
	__u32 workload_id;
};

/* ---- decision trace (`sluicectl trace`) ----
 * sluice_trace_cfg[0] switches the trace on: the connect hooks write one
 * record per decision into the sluice_trace ring buffer while until_ns (a
 * bpf_ktime_get_ns() deadline) lies ahead. The reader (sluicectl trace)
 * pushes the deadline a few seconds ahead while it reads and clears it
 * when it stops, so the trace costs one inlined array lookup per connect()
 * when nobody listens, and a reader that dies switches it off by itself. */
struct sluice_trace_cfg {
	__u64 until_ns;		/* 0 = off */
	__u32 sample;		/* one decision in `sample` (0 or 1: every one) */
	__u32 max_per_sec;	/* records per second, all CPUs (0: no limit) */
	__u64 win_start_ns;	/* rate window, advanced by the programs */
	__u32 win_count;	/* records in the window (approximate: racy adds) */
	__u32 pad;
	__u64 written;		/* records written (atomic adds) */
	__u64 dropped;		/* ring buffer full or over max_per_sec */
};

enum sluice_trace_verdict {
	SLUICE_TV_PASS = 0,		/* left untouched */
	SLUICE_TV_STEER = 1,		/* rewritten to a backend */
	SLUICE_TV_HELPER = 2,		/* rewritten to sluice-http (L7 decides) */
	SLUICE_TV_REFUSE = 3,		/* connect() refused with err */
};

/* Why: the rule that decided. */
enum sluice_trace_why {
	SLUICE_WHY_NOT_SERVICE = 0,	/* destination not in the registry (ALLOW_ANY) */
	SLUICE_WHY_REGISTRY_ONLY,	/* not in the registry, REGISTRY_ONLY refuses */
	SLUICE_WHY_PASSTHROUGH,		/* a registry entry without routing */
	SLUICE_WHY_NO_ENDPOINTS,	/* the service or the chosen route has none */
	SLUICE_WHY_HTTP_ROUTES,		/* HTTP service: sent to sluice-http */
	SLUICE_WHY_WEIGHT,		/* weighted draw among the route's subsets */
	SLUICE_WHY_SOURCE_LABELS,	/* a sourceLabels route matched, then weights */
	SLUICE_WHY_HASH,		/* consistentHash on the workload (sticky) */
	SLUICE_WHY_FAIL_OPEN,		/* torn or unmatched tables: passed untouched */
	SLUICE_WHY_POOL_OVERFLOW,	/* connectionPool.tcp.maxConnections reached */
	SLUICE_WHY_EJECTED,		/* the drawn backend was ejected: another taken */
	SLUICE_WHY_EGRESS_SCOPE,	/* outside the client's Sidecar egress scope */
	SLUICE_WHY_TCP_FAULT,		/* the route's TCP fault refused the connect */
	/* sluice-http's requests (struct sluice_trace_http_rec) */
	SLUICE_WHY_HTTP_MATCH,		/* a route's match conditions held (which: match) */
	SLUICE_WHY_HTTP_DEFAULT,	/* a route without match conditions */
	SLUICE_WHY_HTTP_HASH,		/* consistentHash chose the endpoint (sticky) */
	SLUICE_WHY_HTTP_NO_ROUTE,	/* no route matched: 503 */
	SLUICE_WHY_HTTP_FAULT,		/* fault.abort answered */
	SLUICE_WHY_HTTP_REDIRECT,	/* the route redirects */
	__SLUICE_WHY_MAX
};

/* One decision, as written to sluice_trace. */
struct sluice_trace_rec {
	__u64 ts_ns;		/* bpf_ktime_get_ns() */
	__u64 cgroup_id;	/* the client's cgroup */
	__u8 vip[16];		/* destination asked for (v4-mapped or v6) */
	__u8 backend[16];	/* destination chosen (STEER), else zero */
	__be16 vip_port;
	__be16 backend_port;
	__u8 proto;		/* IPPROTO_TCP / IPPROTO_UDP */
	__u8 verdict;		/* enum sluice_trace_verdict */
	__u8 why;		/* enum sluice_trace_why */
	__u8 is6;		/* connect6 */
	__u32 gen;
	__u32 workload_id;	/* SLUICE_NO_WORKLOAD when none was looked up */
	__u32 route_id;		/* matched route (STEER) */
	__u16 route_idx;	/* its position among the service's routes */
	__u8 layer;		/* enum sluice_trace_layer */
	__u8 lb;		/* STEER: enum sluice_lb of the subset that chose */
	__u32 svc_sid;
	__u32 subset_sid;
	__s32 err;		/* REFUSE: the errno connect() returns (negative) */
	__u32 pid;		/* tgid of the caller */
	__u8 client[16];	/* XDP: the client's address (v4-mapped or v6) */
	__be16 client_port;
	__u16 pad;
	__u32 pad2;
};

/* Who decided (sluice_trace_rec.layer). */
enum sluice_trace_layer {
	SLUICE_TL_CONNECT = 0,		/* the connect4/6 hooks */
	SLUICE_TL_XDP = 1,		/* a new north-south flow (XDP/TC) */
	SLUICE_TL_HTTP = 2,		/* sluice-http, per request */
};

/* What a matching HTTP route looked at (sluice_trace_http_rec.match). */
enum sluice_trace_match {
	SLUICE_TM_URI = 1 << 0,
	SLUICE_TM_HEADERS = 1 << 1,
	SLUICE_TM_METHOD = 1 << 2,
	SLUICE_TM_QUERY = 1 << 3,
	SLUICE_TM_SOURCE = 1 << 4,	/* sourceLabels */
	SLUICE_TM_AUTHORITY = 1 << 5,
	SLUICE_TM_PORT = 1 << 6,
	SLUICE_TM_GATEWAY = 1 << 7,
	SLUICE_TM_SCHEME = 1 << 8,
	SLUICE_TM_WITHOUT_HEADERS = 1 << 9,
};

/* One request decided by sluice-http, pushed to the sluice_trace_http queue
 * while the trace is on (user/http/trace.c) and popped by sluicectl trace.
 * d as for connect(): vip = the original destination (mesh) or zero with
 * vip_port = the Gateway port; backend = the endpoint; route_idx = the
 * position among the VirtualService's http routes; ts_ns on the monotonic
 * clock bpf_ktime_get_ns() reads. */
struct sluice_trace_http_rec {
	struct sluice_trace_rec d;
	__u16 status;		/* answered to the client */
	__u16 match;		/* enum sluice_trace_match of the matching condition */
	__u32 pad;
	char method[8];
	char path[64];		/* truncated, NUL-terminated */
	char detail[32];	/* the first header or query parameter matched */
};

/* Global counters, PERCPU_ARRAY indexed by this enum. */
enum sluice_counter {
	SLUICE_CNT_CONNECT_SEEN = 0,	/* connect() calls inspected */
	SLUICE_CNT_CONNECT_STEERED,	/* rewritten to a backend */
	SLUICE_CNT_CONNECT_TO_HELPER,	/* rewritten to sluice-http */
	SLUICE_CNT_CONNECT_PASS,	/* not a service: untouched */
	SLUICE_CNT_NO_ENDPOINTS,	/* refused: service with no endpoints */
	SLUICE_CNT_REGISTRY_DENY,	/* refused: REGISTRY_ONLY, unknown dest */
	SLUICE_CNT_MAP_MISS,		/* inconsistent tables: failed open */
	SLUICE_CNT_GETPEERNAME_VIP,	/* getpeername answered with the VIP */
	SLUICE_CNT_XDP_NEW_FLOW,
	SLUICE_CNT_XDP_ESTABLISHED,
	SLUICE_CNT_XDP_NO_CT,		/* non-SYN without conntrack: passed */
	SLUICE_CNT_XDP_PASS,
	SLUICE_CNT_XDP_MALFORMED,
	SLUICE_CNT_CT_EVICT,
	SLUICE_CNT_TC_REVNAT,
	/* XDP/TC north-south (bpf/xdp.bpf.c, bpf/tc.bpf.c) */
	SLUICE_CNT_XDP_REDIRECT,	/* DNATed and redirected (fib next hop known) */
	SLUICE_CNT_XDP_TO_STACK,	/* DNATed, passed to the stack to forward */
	SLUICE_CNT_XDP_FRAGMENT,	/* IP fragment to a VIP: passed untouched */
	SLUICE_CNT_XDP_NO_BACKEND,	/* VIP without usable subset/backend: dropped */
	SLUICE_CNT_CT_INSERT_FAIL,	/* conntrack update failed: passed untouched */
	SLUICE_CNT_CT_CLOSED,		/* conntrack entries torn down on FIN/RST */
	SLUICE_CNT_CT_EXPIRED,		/* stale entry found past its timeout */
	SLUICE_CNT_TC_NO_CT,		/* from a backend port, no conntrack: untouched */
	SLUICE_CNT_XDP_BACKEND_GONE,	/* flow's backend left the policy: reset */
	/* socket hooks (bpf/sock.bpf.c) */
	SLUICE_CNT_RECVMSG_VIP,		/* UDP source rewritten back to the VIP */
	SLUICE_CNT_NO_ROUTE,		/* service known, no route matched: passed */
	SLUICE_CNT_HELPER_BYPASS,	/* sluice-http's own socket (mark): untouched */
	SLUICE_CNT_STATS_FULL,		/* a sluice_stats or sluice_traffic entry could
					 * not be created (map full): counts lost */
	SLUICE_CNT_SCOPE_DENY,		/* refused: outside the client's egress scope
					 * under REGISTRY_ONLY */
	SLUICE_CNT_SCOPE_PASS,		/* outside the egress scope, ALLOW_ANY:
					 * passed unsteered */
	SLUICE_CNT_TCP_FAULT,		/* refused by a route's TCP fault injection */
	__SLUICE_CNT_MAX
};

#define SLUICE_ASSERT_SIZE(t, n) _Static_assert(sizeof(struct t) == (n), #t " size")
SLUICE_ASSERT_SIZE(sluice_ctl, 8);
SLUICE_ASSERT_SIZE(sluice_gencfg, 24);
SLUICE_ASSERT_SIZE(sluice_svc_key, 24);
SLUICE_ASSERT_SIZE(sluice_svc, 24 + 8 + 8 * SLUICE_MAX_DESTS +
		   (32 + 24 * SLUICE_SUBSET_INLINE) * SLUICE_SVC_INLINE_SUBSETS);
SLUICE_ASSERT_SIZE(sluice_route_key, 8);
SLUICE_ASSERT_SIZE(sluice_fault, 8);
SLUICE_ASSERT_SIZE(sluice_dest, 8);
SLUICE_ASSERT_SIZE(sluice_route, 8 + 8 * SLUICE_MAX_DESTS);
SLUICE_ASSERT_SIZE(sluice_route_src_key, 16);
SLUICE_ASSERT_SIZE(sluice_cgroup_key, 16);
SLUICE_ASSERT_SIZE(sluice_client, 8);
SLUICE_ASSERT_SIZE(sluice_subset_key, 8);
SLUICE_ASSERT_SIZE(sluice_subset, 32 + 24 * SLUICE_SUBSET_INLINE);
SLUICE_ASSERT_SIZE(sluice_backend_key, 8);
SLUICE_ASSERT_SIZE(sluice_backend, 24);
SLUICE_ASSERT_SIZE(sluice_stats_key, 32);
SLUICE_ASSERT_SIZE(sluice_stats, 56);
SLUICE_ASSERT_SIZE(sluice_traffic_key, 40);
SLUICE_ASSERT_SIZE(sluice_traffic, 32);
SLUICE_ASSERT_SIZE(sluice_sk_state, 72);
SLUICE_ASSERT_SIZE(sluice_origdst_key, 20);
SLUICE_ASSERT_SIZE(sluice_origdst, 24);
SLUICE_ASSERT_SIZE(sluice_trace_cfg, 48);
SLUICE_ASSERT_SIZE(sluice_pool_key, 16);
SLUICE_ASSERT_SIZE(sluice_pool, 40);
SLUICE_ASSERT_SIZE(sluice_pool_use_key, 8);
SLUICE_ASSERT_SIZE(sluice_pool_use, 24);
SLUICE_ASSERT_SIZE(sluice_eject, 16);
SLUICE_ASSERT_SIZE(sluice_trace_rec, 112);
SLUICE_ASSERT_SIZE(sluice_trace_http_rec, 224);

/* ---- XDP/TC north-south section (see docs/xdp.md) ----
 *
 * Conntrack (sluice_ct4, LRU hash, IPv4): one entry per flow, written by
 * the XDP program on the flow's SYN:
 *   dir FWD:   (client addr:port -> VIP:port)     -> backend addr:port, and
 *              the cached next hop towards the backend (ifindex, MACs)
 * Replies (backend addr:port -> client:port) find it through sluice_ct4_rev:
 * (backend addr:port) -> the VIP:ports that backend has been chosen for (up
 * to SLUICE_CT4_REV_SLOTS); TC builds the FWD key from each and checks that
 * the entry's backend is the reply's source. Both directions refresh and
 * advance the one entry. Only when a backend has served more VIP:ports than
 * there are slots (SLUICE_CT4_REV_F_OVERFLOW) does a flow also get a
 * second entry, as before:
 *   dir REPLY: (backend addr:port -> client:port) -> VIP addr:port
 * and its FWD entry carries SLUICE_CT_F_REPLY_ENTRY; state changes are then
 * copied into the other half. An entry evicted by LRU pressure makes its
 * packets pass untouched, counted (fail-open).
 */
enum sluice_ct_dir {
	SLUICE_CT_FWD = 0,
	SLUICE_CT_REPLY = 1,
};

enum sluice_ct_state {
	SLUICE_CT_SYN_SENT = 0,		/* SYN seen, no reply yet */
	SLUICE_CT_ESTABLISHED = 1,	/* a reply went through TC */
	SLUICE_CT_CLOSING = 2,		/* FIN seen on either side */
	SLUICE_CT_CLOSED = 3,		/* RST seen, or FIN on both sides */
};

enum sluice_ct_flags {
	SLUICE_CT_F_FIN_CLIENT = 1 << 0,
	SLUICE_CT_F_FIN_SERVER = 1 << 1,
	SLUICE_CT_F_REPLY_ENTRY = 1 << 2,	/* the flow also has a REPLY entry */
};

/* sluice_ct4: IPv4 conntrack (see the section comment). */
struct sluice_ct4_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;		/* IPPROTO_TCP */
	__u8 dir;		/* enum sluice_ct_dir */
	__u16 pad;
};

struct sluice_ct4 {
	__be32 addr;		/* FWD: backend; REPLY: VIP */
	__be16 port;		/* FWD: backend port; REPLY: VIP port */
	__u8 state;		/* enum sluice_ct_state */
	__u8 flags;		/* enum sluice_ct_flags */
	__u32 svc_sid;
	__u32 subset_sid;
	__u32 gen;		/* generation whose tables chose the backend */
	__u32 nh_ifindex;	/* FWD: cached next hop; 0 = none (stack forwards) */
	__u8 nh_dmac[6];	/* FWD: next hop's MAC */
	__u8 nh_smac[6];	/* FWD: our MAC on nh_ifindex */
	__u32 nh_time;		/* FWD: coarse clock >> 30 (~1.07 s) at the fib lookup */
	__u64 created_ns;	/* bpf_ktime_get_coarse_ns() */
	__u64 last_ns;		/* last packet of the flow (REPLY: in its direction) */
};

/* sluice_ct4_rev: backend addr:port -> the VIP:ports (FWD keys' daddr,
 * dport) flows to it were created for, so a reply finds its FWD entry.
 * Slots are claimed by the XDP program (compare-and-swap from 0), never
 * freed; a stale slot costs TC one failed lookup. A slot is
 * SLUICE_CT4_REV_SLOT(vip, vport), 0 when free. */
#define SLUICE_CT4_REV_SLOTS	4
#define SLUICE_CT4_REV_SIZE	65536
#define SLUICE_CT4_REV_SLOT(vip, vport) \
	((__u64)(vip) | (__u64)(vport) << 32 | 1ull << 48)

struct sluice_ct4_rev_key {
	__be32 addr;		/* backend */
	__be16 port;
	__u16 pad;
};

enum sluice_ct4_rev_flags {
	/* a VIP:port found no free slot: its flows have REPLY entries */
	SLUICE_CT4_REV_F_OVERFLOW = 1 << 0,
};

struct sluice_ct4_rev {
	__u64 vip[SLUICE_CT4_REV_SLOTS];	/* SLUICE_CT4_REV_SLOT(), 0 = free */
	__u32 flags;				/* enum sluice_ct4_rev_flags */
	__u32 pad;
};

/* sluice_ct6: IPv6 conntrack (LRU hash, sized by ct-size like sluice_ct4).
 * A separate map so the IPv4 entries keep their 16-byte keys. Every IPv6
 * flow has two entries, the earlier scheme of sluice_ct4 without the
 * sluice_ct4_rev slots (a 16-byte VIP does not fit a 64-bit slot, and IPv6
 * flows are the minority on this path):
 *   dir FWD:   (client addr:port -> VIP:port)     -> backend addr:port + next hop
 *   dir REPLY: (backend addr:port -> client:port) -> VIP addr:port
 * The FWD entry carries SLUICE_CT_F_REPLY_ENTRY; state changes (SYN-ACK,
 * FIN, RST) are copied into the other half, as for an overflowed IPv4 flow.
 * So the map holds ct-size / 2 IPv6 flows. */
struct sluice_ct6_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 proto;		/* IPPROTO_TCP */
	__u8 dir;		/* enum sluice_ct_dir */
	__u16 pad;
};

struct sluice_ct6 {
	__u8 addr[16];		/* FWD: backend; REPLY: VIP */
	__be16 port;		/* FWD: backend port; REPLY: VIP port */
	__u8 state;		/* enum sluice_ct_state */
	__u8 flags;		/* enum sluice_ct_flags */
	__u32 svc_sid;
	__u32 subset_sid;
	__u32 gen;		/* generation whose tables chose the backend */
	__u32 nh_ifindex;	/* FWD: cached next hop; 0 = none (stack forwards) */
	__u8 nh_dmac[6];	/* FWD: next hop's MAC */
	__u8 nh_smac[6];	/* FWD: our MAC on nh_ifindex */
	__u32 nh_time;		/* FWD: coarse clock >> 30 at the fib lookup */
	__u32 pad;
	__u64 created_ns;	/* bpf_ktime_get_coarse_ns() */
	__u64 last_ns;		/* last packet of the flow */
};

/* sluice_maglev: (gen, slot) -> backend index (a sluice_backend idx of that
 * gen). A subset with lb == SLUICE_LB_MAGLEV owns slots maglev_first ..
 * maglev_first + maglev_size - 1 (maglev_size prime). Written by
 * user/lib/compile_maglev.c with the other tables of the generation. */
struct sluice_maglev_key {
	__u32 gen;
	__u32 slot;
};

/* Defaults for the map sizes and timeouts; overridden by sluiced flags
 * (--ct-size, --maglev-size, --ct-timeout-*). */
#define SLUICE_CT_DEFAULT_SIZE		262144
/* sluice_ct6 (IPv6 flows, two entries each): smaller by default, as
 * preallocated LRU memory is paid whether IPv6 VIPs exist or not */
#define SLUICE_CT6_DEFAULT_SIZE		65536
#define SLUICE_MAGLEV_DEFAULT_ENTRIES	524288
#define SLUICE_MAGLEV_DEFAULT_M		65537
#define SLUICE_CT_SYN_TIMEOUT_S		60
#define SLUICE_CT_EST_TIMEOUT_S		3600
#define SLUICE_CT_CLOSE_TIMEOUT_S	10

SLUICE_ASSERT_SIZE(sluice_ct4_key, 16);
SLUICE_ASSERT_SIZE(sluice_ct4, 56);
SLUICE_ASSERT_SIZE(sluice_maglev_key, 8);
SLUICE_ASSERT_SIZE(sluice_ct4_rev_key, 8);
SLUICE_ASSERT_SIZE(sluice_ct4_rev, 8 * SLUICE_CT4_REV_SLOTS + 8);
SLUICE_ASSERT_SIZE(sluice_ct6_key, 40);
SLUICE_ASSERT_SIZE(sluice_ct6, 72);
/* ---- end of XDP/TC section ---- */

#endif /* SLUICE_ABI_H */
