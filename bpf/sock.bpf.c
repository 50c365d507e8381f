/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Socket-level steering: the cgroup connect4/connect6 hooks choose a backend
 * once, when the client calls connect(), and rewrite the destination; the
 * getpeername4/6 hooks answer with the VIP the application asked for; the
 * recvmsg4/6 hooks do the same for the source of datagrams on a connected
 * UDP socket. Attached by user/lib/dp_open.c to the cgroup given to sluiced.
 *
 * Return values of cgroup sock_addr programs: 1 = go on (possibly with a
 * rewritten address), 0 = refuse; the errno the application sees is -EPERM
 * unless bpf_set_retval() chose another one.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "sluice/abi.h"
#include "lib/maps.h"
#include "lib/addr.h"
#include "lib/hash.h"
#include "lib/select.h"
#include "lib/stats.h"
#include "lib/trace.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Mark of the sockets that must never be steered (sluice-http upstreams). */
const volatile __u32 helper_mark = SLUICE_HELPER_MARK;

/* Write addr:port (network order) into the context of a v4 or v6 hook.
 * Returns 0, or -1 when a v4 socket would need a v6 address. */
static __always_inline int set_dst(struct bpf_sock_addr *ctx, const __u8 addr[16],
				   __be16 port, int is6)
{
	__u32 w[4];

	__builtin_memcpy(w, addr, 16);
	if (is6) {
		ctx->user_ip6[0] = w[0];
		ctx->user_ip6[1] = w[1];
		ctx->user_ip6[2] = w[2];
		ctx->user_ip6[3] = w[3];
	} else {
		if (!sl_is_v4mapped(addr))
			return -1;
		ctx->user_ip4 = w[3];
	}
	ctx->user_port = port;
	return 0;
}

static __always_inline void get_dst(struct bpf_sock_addr *ctx, __u8 addr[16], int is6)
{
	__u32 w[4];

	if (is6) {
		w[0] = ctx->user_ip6[0];
		w[1] = ctx->user_ip6[1];
		w[2] = ctx->user_ip6[2];
		w[3] = ctx->user_ip6[3];
		__builtin_memcpy(addr, w, 16);
	} else {
		sl_v4mapped(addr, ctx->user_ip4);
	}
}

/* The calling task as a client (sluice_cgroup): its workload id and egress
 * scope, from the deepest cgroup ancestor (or the cgroup itself) registered
 * for this generation; SLUICE_NO_WORKLOAD and scope 0 when none is. */
static __always_inline struct sluice_client current_client(__u32 gen)
{
	struct sluice_cgroup_key k = { .gen = gen };
	struct sluice_client c = { .workload_id = SLUICE_NO_WORKLOAD }, *v;
	int lvl;

	for (lvl = 0; lvl < SLUICE_CGROUP_DEPTH; lvl++) {
		k.cgroup_id = bpf_get_current_ancestor_cgroup_id(lvl);
		if (!k.cgroup_id)
			break;
		/* absent = not a registered client at this level */
		v = bpf_map_lookup_elem(&sluice_cgroup, &k);
		if (v)
			c = *v;
	}
	return c;
}

/* What sluice_decide chose for one connect(): the verdict, the rule that
 * decided it (the reason, for the trace), the counter it bumps, and what
 * act needs. sluice_decide returns the verdict; the caller stores it here
 * (act may still turn it into a fail-open pass). */
struct decision {
	__u32 verdict;			/* enum sluice_trace_verdict */
	__u32 why;			/* enum sluice_trace_why */
	__u32 counter;			/* enum sluice_counter */
	int err;			/* REFUSE: the errno connect() returns */
	__u32 wid;			/* client workload, SLUICE_NO_WORKLOAD if none */
	__u32 scope;			/* client egress scope (valid when client_known) */
	int client_known;		/* wid and scope looked up */
	__u32 route_id;
	__u32 route_idx;		/* position among the service's routes */
	struct sluice_gencfg *cfg;	/* HELPER: where sluice-http listens */
	struct sluice_subset *sub;	/* STEER */
	struct sluice_backend *be;	/* STEER */
};

/* A decision step that did not decide: the next step goes on. */
#define SL_GO_ON 0xffffffffu

/* Note the reason and the counter of a verdict; returns the verdict. */
static __always_inline __u32 decided(struct decision *d, __u32 verdict, __u32 why, __u32 counter)
{
	d->why = why;
	d->counter = counter;
	return verdict;
}

/* decided() for a refusal with errno err. */
static __always_inline __u32 refused(struct decision *d, __u32 why, __u32 counter, int err)
{
	d->err = err;
	return decided(d, SLUICE_TV_REFUSE, why, counter);
}

/* Look the client up once per connect (sluice_cgroup walk). */
static __always_inline void know_client(struct decision *d, __u32 gen)
{
	struct sluice_client c;

	if (d->client_known)
		return;
	c = current_client(gen);
	d->wid = c.workload_id;
	d->scope = c.scope;
	d->client_known = 1;
}

/* Sidecar egress scopes: svc is hidden from the client's scope (a client
 * that is no workload has the root namespace's default scope). */
static __always_inline int out_of_scope(struct decision *d, __u32 gen,
					const struct sluice_gencfg *cfg,
					const struct sluice_svc *svc)
{
	__u32 scope;

	know_client(d, gen);
	scope = d->wid == SLUICE_NO_WORKLOAD ? cfg->default_scope : d->scope;
	if (!scope || scope > SLUICE_MAX_SCOPES)
		return 0;
	return (svc->scope_hidden >> scope) & 1;
}

/* connectionPool.tcp.maxConnections of the chosen subset reached: the
 * connections open to it on this node (counted by sockops from the SYN to
 * the close, sluice_pool_use.open) are at the limit. Counts the refusal.
 * Check and count are not one atomic step: connect()s racing on other CPUs
 * can each pass at limit - 1 (docs/dataplane.md, "connectionPool.tcp"). */
static __always_inline int pool_full(__u32 gen, const struct sluice_subset *sub)
{
	struct sluice_pool_key pk = { .gen = gen, .svc_sid = sub->svc_sid,
				      .subset_sid = sub->subset_sid };
	struct sluice_pool_use_key uk = { .svc_sid = sub->svc_sid, .subset_sid = sub->subset_sid };
	struct sluice_pool_use *use;
	struct sluice_pool *pool;

	pool = bpf_map_lookup_elem(&sluice_pool, &pk);
	/* fail-open: settings missing (torn table) = no limit */
	if (!pool || !pool->max_conns)
		return 0;
	use = bpf_map_lookup_elem(&sluice_pool_use, &uk);
	if (!use || use->open < (__s64)pool->max_conns)
		return 0;
	__sync_fetch_and_add(&use->overflow, 1);
	return 1;
}

/* The TCP fault of route route_id drew this connect: returns 1 with the
 * errno to refuse it with in *err. A missing entry (torn table) injects
 * nothing. */
static __always_inline int tcp_fault(__u32 gen, __u32 route_id, int *err)
{
	struct sluice_route_key k = { .gen = gen, .route_id = route_id };
	struct sluice_fault *f = bpf_map_lookup_elem(&sluice_fault, &k);

	if (!f || sluice_scale(bpf_get_prandom_u32(), SLUICE_FAULT_SCALE) >= f->abort_ppm)
		return 0;
	*err = -f->err;
	return 1;
}

/* outlierDetection: be is ejected from sub (sluice_eject, until_ns ahead). */
static __always_inline int is_ejected(const struct sluice_subset *sub,
				      const struct sluice_backend *be)
{
	struct sluice_stats_key k = { .svc_sid = sub->svc_sid, .subset_sid = sub->subset_sid,
				      .port = be->port };
	struct sluice_eject *e;

	__builtin_memcpy(k.addr, be->addr, 16);
	e = bpf_map_lookup_elem(&sluice_eject, &k);
	return e && e->until_ns > bpf_ktime_get_ns();
}

#define SLUICE_EJECT_SCAN 16	/* backends looked at for an admitted one */

/* The first backend not ejected, walking sub's backends from a random
 * start; when all those looked at are ejected, the one at the start (all
 * out: Envoy's panic mode sends to them all the same). */
static __always_inline struct sluice_backend *admitted(__u32 gen, struct sluice_subset *sub,
							__u32 rnd)
{
	__u32 n = sub->nbackends, start, i;
	struct sluice_backend *be;

	if (!n)
		return NULL;
	start = sluice_scale(rnd, n);
	for (i = 0; i < SLUICE_EJECT_SCAN; i++) {
		if (i >= n)
			break;
		be = sluice_backend_at(gen, sub, (start + i) % n);
		if (be && !is_ejected(sub, be))
			return be;
	}
	return sluice_backend_at(gen, sub, start);
}

/* Step 1, a destination sluice_svc does not hold: ALLOW_ANY passes it
 * untouched, REGISTRY_ONLY refuses TCP (fail-closed by policy) but always
 * lets the sluice-http listener through. */
static __always_inline __u32 decide_unregistered(const struct sluice_gencfg *cfg,
						 const struct sluice_svc_key *key,
						 struct decision *d)
{
	if (cfg && (cfg->flags & SLUICE_CFG_REGISTRY_ONLY) && key->proto == IPPROTO_TCP &&
	    !(cfg->helper_port && cfg->helper_port == key->port &&
	      sl_addr_eq(cfg->helper_addr, key->addr)))
		return refused(d, SLUICE_WHY_REGISTRY_ONLY, SLUICE_CNT_REGISTRY_DENY, -EPERM);
	return decided(d, SLUICE_TV_PASS, SLUICE_WHY_NOT_SERVICE, SLUICE_CNT_CONNECT_PASS);
}

/* Step 2, what the service alone decides: hidden from the client's egress
 * scope, passthrough, no endpoints, or HTTP routes (sent to sluice-http).
 * Returns the verdict, or SL_GO_ON for the service's routes to decide
 * (with the client looked up when sourceLabels routes need it). */
static __always_inline __u32 decide_service(__u32 gen, struct sluice_gencfg *cfg,
					    const struct sluice_svc *svc, __u8 proto,
					    struct decision *d)
{
	if (cfg && (cfg->flags & SLUICE_CFG_EGRESS_SCOPES) && out_of_scope(d, gen, cfg, svc)) {
		/* as if not in the registry (Istio's Sidecar egress hosts) */
		if ((cfg->flags & SLUICE_CFG_REGISTRY_ONLY) && proto == IPPROTO_TCP)
			return refused(d, SLUICE_WHY_EGRESS_SCOPE, SLUICE_CNT_SCOPE_DENY, -EPERM);
		return decided(d, SLUICE_TV_PASS, SLUICE_WHY_EGRESS_SCOPE, SLUICE_CNT_SCOPE_PASS);
	}
	if (svc->flags & SLUICE_SVC_PASSTHROUGH)
		return decided(d, SLUICE_TV_PASS, SLUICE_WHY_PASSTHROUGH, SLUICE_CNT_CONNECT_PASS);
	if (svc->flags & SLUICE_SVC_NO_ENDPOINTS)
		return refused(d, SLUICE_WHY_NO_ENDPOINTS, SLUICE_CNT_NO_ENDPOINTS, -ECONNREFUSED);

	if (cfg && (cfg->flags & SLUICE_CFG_SOURCE_ROUTES))
		know_client(d, gen);

	if ((svc->flags & SLUICE_SVC_HTTP) && cfg && cfg->helper_port) {
		/* sluice-http matches http sourceLabels by this workload id */
		know_client(d, gen);
		d->cfg = cfg;
		return decided(d, SLUICE_TV_HELPER, SLUICE_WHY_HTTP_ROUTES,
			       SLUICE_CNT_CONNECT_TO_HELPER);
	}
	return SL_GO_ON;
}

/* Step 3, what the matched route r (id d->route_id) alone decides: no
 * endpoints, or its TCP fault drew this connect. Returns the verdict, or
 * SL_GO_ON for a subset and backend of r, with the reason so far. */
static __always_inline __u32 decide_route(__u32 gen, const struct sluice_svc *svc,
					  const struct sluice_route *r, struct decision *d)
{
	int err;

	d->route_idx = d->route_id - svc->route_first;
	if (r->flags & SLUICE_ROUTE_NO_ENDPOINTS)
		return refused(d, SLUICE_WHY_NO_ENDPOINTS, SLUICE_CNT_NO_ENDPOINTS, -ECONNREFUSED);
	if ((r->flags & SLUICE_ROUTE_FAULT) && tcp_fault(gen, d->route_id, &err))
		return refused(d, SLUICE_WHY_TCP_FAULT, SLUICE_CNT_TCP_FAULT, err);
	d->why = (r->flags & SLUICE_ROUTE_SOURCE) ? SLUICE_WHY_SOURCE_LABELS : SLUICE_WHY_WEIGHT;
	return SL_GO_ON;
}

/* A subset of route r by its weights (rnd) and a backend of it (rnd1):
 * the backend, with the subset in *sub, or NULL when the tables are torn.
 * A service's one route may carry its subsets inline (no sluice_subset
 * lookup: one cold line less per connect). */
static __always_inline struct sluice_backend *pick_backend(__u32 gen, struct sluice_svc *svc,
							   const struct sluice_route *r,
							   __u32 rnd, __u32 rnd1,
							   struct sluice_subset **sub)
{
	__s64 subset_id;
	int di;

	if ((svc->flags & SLUICE_SVC_SUBSET_INLINE) && r == &svc->route) {
		di = sluice_pick_dest_idx(r, rnd);
		if (di < 0 || di >= SLUICE_SVC_INLINE_SUBSETS)
			return NULL;
		*sub = &svc->sub[di & (SLUICE_SVC_INLINE_SUBSETS - 1)];
		return sluice_pick_in_subset(gen, *sub, rnd1, bpf_get_prandom_u32());
	}
	subset_id = sluice_pick_dest(r, rnd);
	if (subset_id < 0)
		return NULL;
	return sluice_pick_backend(gen, (__u32)subset_id, rnd1, bpf_get_prandom_u32(), sub);
}

/* Step 4, the subset and backend of route r (weights, or the workload's
 * hash), then the subset's outlierDetection and connectionPool. Returns
 * STEER (d->sub, d->be set), REFUSE (pool full) or PASS (torn tables). */
static __always_inline __u32 decide_backend(__u32 gen, const struct sluice_gencfg *cfg,
					    struct sluice_svc *svc, const struct sluice_route *r,
					    struct decision *d)
{
	__u32 rnd = bpf_get_prandom_u32(), rnd1 = bpf_get_prandom_u32();

	if (r->flags & SLUICE_ROUTE_HASH) {
		/* consistentHash useSourceIp at connect(): the source port is
		 * not chosen yet and every socket of a workload shares its
		 * address, so the workload's cgroup stands for the source:
		 * one workload stays on one subset and one backend while the
		 * policy holds (docs/dataplane.md) */
		rnd = sl_id_hash(bpf_get_current_cgroup_id());
		rnd1 = sl_id_hash(rnd);
		d->why = SLUICE_WHY_HASH;
	}
	d->be = pick_backend(gen, svc, r, rnd, rnd1, &d->sub);
	/* fail-open: a torn table passes the connect untouched */
	if (!d->be || !d->sub)
		return decided(d, SLUICE_TV_PASS, SLUICE_WHY_FAIL_OPEN, SLUICE_CNT_MAP_MISS);
	if ((d->sub->flags & SLUICE_SUBSET_F_OUTLIER) && is_ejected(d->sub, d->be)) {
		d->be = admitted(gen, d->sub, bpf_get_prandom_u32());
		d->why = SLUICE_WHY_EJECTED;
		if (!d->be)
			return decided(d, SLUICE_TV_PASS, SLUICE_WHY_FAIL_OPEN, SLUICE_CNT_MAP_MISS);
	}
	if ((d->sub->flags & SLUICE_SUBSET_F_POOL) && pool_full(gen, d->sub))
		/* no global counter: counted per subset (sluice_pool_use) */
		return refused(d, SLUICE_WHY_POOL_OVERFLOW, __SLUICE_CNT_MAX, -ECONNREFUSED);
	/* the client's workload labels the Istio metrics (sluice_traffic) */
	if (cfg && (cfg->flags & SLUICE_CFG_CLIENT_WORKLOADS))
		know_client(d, gen);
	d->counter = SLUICE_CNT_CONNECT_STEERED;
	return SLUICE_TV_STEER;
}

/* The decision for a connect() to key (generation gen), in the order of
 * the tables: service, route, subset and backend. Reads the tables,
 * changes nothing but the ROUND_ROBIN cursors and the pool's refusal
 * count. Returns the verdict (enum sluice_trace_verdict); d holds the
 * reason (why), the counter and what sluice_act needs. */
static __always_inline __u32 sluice_decide(__u32 gen, const struct sluice_svc_key *key,
					   struct decision *d)
{
	struct sluice_gencfg *cfg;
	struct sluice_route *r;
	struct sluice_svc *svc;
	__u32 v;

	/* fail-open: no gencfg behaves as ALLOW_ANY without a helper */
	cfg = bpf_map_lookup_elem(&sluice_gencfg, &gen);
	svc = bpf_map_lookup_elem(&sluice_svc, key);
	if (!svc)
		return decide_unregistered(cfg, key, d);
	v = decide_service(gen, cfg, svc, key->proto, d);
	if (v != SL_GO_ON)
		return v;
	r = sluice_select_route(gen, svc, bpf_ntohs(key->port), d->wid, &d->route_id);
	/* fail-open: the compiler always ends with a catch-all route, so
	 * this is a torn table or an unmatched sourceLabels route */
	if (!r)
		return decided(d, SLUICE_TV_PASS, SLUICE_WHY_FAIL_OPEN, SLUICE_CNT_NO_ROUTE);
	v = decide_route(gen, svc, r, d);
	if (v != SL_GO_ON)
		return v;
	return decide_backend(gen, cfg, svc, r, d);
}

/* Remember the VIP (and the stats key when steered) on the socket, for
 * getpeername, recvmsg, sockops and sluice-http's origdst. */
static __always_inline struct sluice_sk_state *remember(struct bpf_sock *sk,
							const struct sluice_svc_key *key,
							__u32 wid, __u8 flags)
{
	struct sluice_sk_state *ss;

	ss = bpf_sk_storage_get(&sluice_sock, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (ss) {
		__builtin_memcpy(ss->vip, key->addr, 16);
		ss->vip_port = key->port;
		ss->workload_id = wid;
		ss->flags = flags;
		ss->state = SLUICE_SOCK_NEW;
	}
	return ss;
}

/* Carry out d: rewrite the destination, fill the socket storage, count.
 * Returns the hook's return value (0 refuses). A rewrite that cannot be
 * done turns the verdict into a fail-open pass. */
static __always_inline int sluice_act(struct bpf_sock_addr *ctx, struct bpf_sock *sk, int is6,
				      const struct sluice_svc_key *key, struct decision *d)
{
	struct sluice_traffic *tr;
	struct sluice_sk_state *ss;
	struct sluice_stats *st;

	switch (d->verdict) {
	case SLUICE_TV_REFUSE:
		sluice_count(d->counter);
		bpf_set_retval(d->err);
		return 0;
	case SLUICE_TV_HELPER:
		if (!d->cfg || set_dst(ctx, d->cfg->helper_addr, d->cfg->helper_port, is6))
			break;
		/* fail-open: without storage sluice-http cannot learn the VIP
		 * from origdst and answers with its own error */
		remember(sk, key, d->wid, SLUICE_SOCK_F_HELPER);
		sluice_count(d->counter);
		return 1;
	case SLUICE_TV_STEER:
		if (!d->be || !d->sub || set_dst(ctx, d->be->addr, d->be->port, is6))
			break;
		/* fail-open: steering stands; getpeername then shows the backend */
		ss = remember(sk, key, d->wid, SLUICE_SOCK_F_STEERED);
		if (ss) {
			ss->stats.svc_sid = d->sub->svc_sid;
			ss->stats.subset_sid = d->sub->subset_sid;
			__builtin_memcpy(ss->stats.addr, d->be->addr, 16);
			ss->stats.port = d->be->port;
			ss->stats.pad = 0;
			ss->stats.pad2 = 0;
			ss->reported_sent = 0;
			ss->reported_received = 0;
			st = sluice_stats_get(&ss->stats);
			if (st)
				__sync_fetch_and_add(&st->opened, 1);
			tr = sluice_traffic_get(ss);
			if (tr)
				__sync_fetch_and_add(&tr->opened, 1);
		}
		sluice_count(d->counter);
		return 1;
	default:
		sluice_count(d->counter);
		return 1;
	}
	/* a v4 socket asked to reach a v6 address, or a torn table */
	d->verdict = decided(d, SLUICE_TV_PASS, SLUICE_WHY_FAIL_OPEN, SLUICE_CNT_MAP_MISS);
	sluice_count(d->counter);
	return 1;
}

static __always_inline void trace_decision(struct sluice_trace_cfg *tc, __u64 now, __u32 gen,
					   int is6, const struct sluice_svc_key *key,
					   const struct decision *d)
{
	struct sluice_trace_rec rec = {};

	rec.ts_ns = now;
	rec.cgroup_id = bpf_get_current_cgroup_id();
	rec.pid = (__u32)(bpf_get_current_pid_tgid() >> 32);
	__builtin_memcpy(rec.vip, key->addr, 16);
	rec.vip_port = key->port;
	rec.proto = key->proto;
	rec.verdict = (__u8)d->verdict;
	rec.why = (__u8)d->why;
	rec.is6 = (__u8)is6;
	rec.gen = gen;
	rec.workload_id = d->wid;
	rec.err = d->err;
	/* the subset chosen: steered there, or refused by its pool limit */
	if ((d->verdict == SLUICE_TV_STEER || d->why == SLUICE_WHY_POOL_OVERFLOW) && d->sub) {
		rec.route_id = d->route_id;
		rec.route_idx = (__u16)d->route_idx;
		rec.svc_sid = d->sub->svc_sid;
		rec.subset_sid = d->sub->subset_sid;
	}
	if (d->verdict == SLUICE_TV_STEER && d->be) {
		__builtin_memcpy(rec.backend, d->be->addr, 16);
		rec.backend_port = d->be->port;
		if (d->sub)
			rec.lb = d->sub->lb;
	}
	sluice_trace_emit(tc, &rec);
}

/* The connect()s Sluice decides: TCP and UDP from a socket that is not a
 * sluice-http upstream (helper_mark, counted), while a policy is live.
 * Fills key (live generation, destination, port, protocol); returns 0 for
 * a connect() to leave alone. */
static __always_inline int connect_key(struct bpf_sock_addr *ctx, const struct bpf_sock *sk,
				       int is6, struct sluice_svc_key *key)
{
	__u32 proto = ctx->protocol;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 0;
	if (sk->mark == helper_mark) {
		sluice_count(SLUICE_CNT_HELPER_BYPASS);
		return 0;
	}
	key->gen = sluice_live_gen();
	if (!key->gen)
		return 0;
	key->port = (__be16)ctx->user_port;
	key->proto = (__u8)proto;
	get_dst(ctx, key->addr, is6);
	return 1;
}

/* The one connect() hook for both families: decide, act, trace. */
static __always_inline int sluice_connect(struct bpf_sock_addr *ctx, int is6)
{
	struct decision d = { .wid = SLUICE_NO_WORKLOAD };
	struct sluice_svc_key key = {};
	struct sluice_trace_cfg *tc;
	struct bpf_sock *sk = ctx->sk;
	__u64 now = 0;
	int ret;

	if (!sk || !connect_key(ctx, sk, is6, &key))
		return 1;
	sluice_count(SLUICE_CNT_CONNECT_SEEN);
	d.verdict = sluice_decide(key.gen, &key, &d);
	ret = sluice_act(ctx, sk, is6, &key, &d);
	tc = sluice_trace_on(&now);
	if (tc)
		trace_decision(tc, now, key.gen, is6, &key, &d);
	return ret;
}

SEC("cgroup/connect4")
int sluice_connect4(struct bpf_sock_addr *ctx)
{
	return sluice_connect(ctx, 0);
}

SEC("cgroup/connect6")
int sluice_connect6(struct bpf_sock_addr *ctx)
{
	return sluice_connect(ctx, 1);
}

/* getpeername: the VIP the application connected to, never the backend. */
static __always_inline int sluice_peer(struct bpf_sock_addr *ctx, int is6)
{
	struct bpf_sock *sk = ctx->sk;
	struct sluice_sk_state *ss;

	if (!sk)
		return 1;
	ss = bpf_sk_storage_get(&sluice_sock, sk, 0, 0);
	/* absent = not a socket Sluice rewrote */
	if (!ss || !ss->flags)
		return 1;
	if (set_dst(ctx, ss->vip, ss->vip_port, is6))
		return 1;
	sluice_count(SLUICE_CNT_GETPEERNAME_VIP);
	return 1;
}

SEC("cgroup/getpeername4")
int sluice_getpeername4(struct bpf_sock_addr *ctx)
{
	return sluice_peer(ctx, 0);
}

SEC("cgroup/getpeername6")
int sluice_getpeername6(struct bpf_sock_addr *ctx)
{
	return sluice_peer(ctx, 1);
}

/* recvmsg on a connected UDP socket: a datagram from the chosen backend is
 * reported as coming from the VIP. Datagrams from anyone else are left. */
static __always_inline int sluice_recv(struct bpf_sock_addr *ctx, int is6)
{
	struct bpf_sock *sk = ctx->sk;
	struct sluice_sk_state *ss;
	__u8 src[16];

	if (!sk)
		return 1;
	ss = bpf_sk_storage_get(&sluice_sock, sk, 0, 0);
	if (!ss || !(ss->flags & SLUICE_SOCK_F_STEERED))
		return 1;
	get_dst(ctx, src, is6);
	if ((__be16)ctx->user_port != ss->stats.port ||
	    !sl_addr_eq(src, ss->stats.addr))
		return 1;
	if (set_dst(ctx, ss->vip, ss->vip_port, is6))
		return 1;
	sluice_count(SLUICE_CNT_RECVMSG_VIP);
	return 1;
}

SEC("cgroup/recvmsg4")
int sluice_recvmsg4(struct bpf_sock_addr *ctx)
{
	return sluice_recv(ctx, 0);
}

SEC("cgroup/recvmsg6")
int sluice_recvmsg6(struct bpf_sock_addr *ctx)
{
	return sluice_recv(ctx, 1);
}
