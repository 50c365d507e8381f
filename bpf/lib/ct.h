/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * North-south conntrack: the IPv4 LRU map and its state machine, shared by
 * the XDP program (creates a flow's entry on its SYN, refreshes it, sees the
 * client's FIN/RST) and the TC program (finds the same entry from a reply,
 * refreshes it, sees the backend's SYN-ACK/FIN/RST). The maps are declared
 * in lib/maps_ns.h; entry layout and meaning: include/sluice/abi.h (struct
 * sluice_ct4, sluice_ct4_rev, sluice_ct6).
 *
 * Cost model: one LRU insert per new flow, the dominant cost of a new flow
 * (each insert into a large table is a cold bucket plus a cold chain walk,
 * ~350 ns here; docs/benchmarks.md). So a flow has a single entry, keyed by
 * the client's tuple; a reply (backend -> client) rebuilds that key from
 * the VIP:ports recorded for its backend in sluice_ct4_rev (a small, hot
 * map: usually one slot) and checks the entry's backend. A backend that has
 * served more VIP:ports than it has slots falls back to a second, REPLY
 * entry per flow (the earlier two-entry scheme), flagged in both halves.
 * A packet of an established flow does one conntrack lookup (TC: plus the
 * hot sluice_ct4_rev lookup) and writes last_ns at most once per coarse
 * clock tick.
 *
 * Timeouts are checked lazily at lookup (an entry older than its state's
 * timeout counts as absent and is deleted); LRU reclaims the rest under
 * pressure. The map size is set by userspace before load (ct-size).
 */
#ifndef SLUICE_BPF_CT_H
#define SLUICE_BPF_CT_H

#include <linux/bpf.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>

#include "sluice/abi.h"
#include "lib/maps.h"
#include "lib/maps_ns.h"

/* Timeouts in seconds, set by userspace before load (ct-*-timeout). */
const volatile __u32 sl_ct_syn_timeout_s = SLUICE_CT_SYN_TIMEOUT_S;
const volatile __u32 sl_ct_est_timeout_s = SLUICE_CT_EST_TIMEOUT_S;
const volatile __u32 sl_ct_close_timeout_s = SLUICE_CT_CLOSE_TIMEOUT_S;

/* TCP flag bits in byte 13 of the header. */
#define SL_TCP_FIN 0x01
#define SL_TCP_SYN 0x02
#define SL_TCP_RST 0x04
#define SL_TCP_ACK 0x10

static __always_inline __u8 sl_tcp_flags(const struct tcphdr *tcp)
{
	return ((const __u8 *)tcp)[13];
}

static __always_inline __u64 sl_ct_state_timeout_ns(__u8 state)
{
	__u32 s;

	switch (state) {
	case SLUICE_CT_SYN_SENT:
		s = sl_ct_syn_timeout_s;
		break;
	case SLUICE_CT_ESTABLISHED:
		s = sl_ct_est_timeout_s;
		break;
	default:
		s = sl_ct_close_timeout_s;
		break;
	}
	return (__u64)s * 1000000000ull;
}

static __always_inline __u64 sl_ct_timeout_ns(const struct sluice_ct4 *ct)
{
	return sl_ct_state_timeout_ns(ct->state);
}

/* Look up key; an entry past its timeout is deleted, counted, and reported
 * as absent. Returns the live entry or NULL. */
static __always_inline struct sluice_ct4 *sl_ct_lookup(const struct sluice_ct4_key *key,
						       __u64 now)
{
	struct sluice_ct4 *ct = bpf_map_lookup_elem(&sluice_ct4, key);

	if (!ct)
		return NULL;
	if (now > ct->last_ns && now - ct->last_ns > sl_ct_timeout_ns(ct)) {
		bpf_map_delete_elem(&sluice_ct4, key);
		sluice_count(SLUICE_CNT_CT_EXPIRED);
		return NULL;
	}
	return ct;
}

/* The reply key of the flow a FWD entry (fk -> fv) belongs to:
 * (backend:port -> client:port). */
static __always_inline void sl_ct_reply_of_fwd(const struct sluice_ct4_key *fk,
					       const struct sluice_ct4 *fv,
					       struct sluice_ct4_key *rk)
{
	rk->saddr = fv->addr;
	rk->daddr = fk->saddr;
	rk->sport = fv->port;
	rk->dport = fk->sport;
	rk->proto = fk->proto;
	rk->dir = SLUICE_CT_REPLY;
	rk->pad = 0;
}

/* The forward key of the flow a REPLY entry (rk -> rv) belongs to:
 * (client:port -> VIP:port). */
static __always_inline void sl_ct_fwd_of_reply(const struct sluice_ct4_key *rk,
					       const struct sluice_ct4 *rv,
					       struct sluice_ct4_key *fk)
{
	fk->saddr = rk->daddr;
	fk->daddr = rv->addr;
	fk->sport = rk->dport;
	fk->dport = rv->port;
	fk->proto = rk->proto;
	fk->dir = SLUICE_CT_FWD;
	fk->pad = 0;
}

/* Advance a flow state (IPv4 or IPv6 entry) for a segment with TCP flags
 * fl; from_client says which side sent it. FIN moves to CLOSING (short timeout, the last ACK
 * still needs the NAT), RST or FIN from both sides to CLOSED, the server's
 * SYN-ACK to ESTABLISHED. Returns 1 when the flow just closed. */
static __always_inline int sl_ct_tcp_step(__u8 *state, __u8 *flags, __u8 fl, int from_client)
{
	__u8 old = *state;

	if (fl & SL_TCP_RST) {
		*state = SLUICE_CT_CLOSED;
	} else if (fl & SL_TCP_FIN) {
		*flags |= from_client ? SLUICE_CT_F_FIN_CLIENT : SLUICE_CT_F_FIN_SERVER;
		if ((*flags & (SLUICE_CT_F_FIN_CLIENT | SLUICE_CT_F_FIN_SERVER)) ==
		    (SLUICE_CT_F_FIN_CLIENT | SLUICE_CT_F_FIN_SERVER))
			*state = SLUICE_CT_CLOSED;
		else
			*state = SLUICE_CT_CLOSING;
	} else if (!from_client && (fl & (SL_TCP_SYN | SL_TCP_ACK)) == (SL_TCP_SYN | SL_TCP_ACK) &&
		   old == SLUICE_CT_SYN_SENT) {
		*state = SLUICE_CT_ESTABLISHED;
	}
	return old != SLUICE_CT_CLOSED && *state == SLUICE_CT_CLOSED;
}

/* sl_ct_tcp_step on an IPv4 entry, refreshing it. */
static __always_inline int sl_ct_tcp_update(struct sluice_ct4 *ct, __u8 fl, int from_client,
					    __u64 now)
{
	ct->last_ns = now;
	return sl_ct_tcp_step(&ct->state, &ct->flags, fl, from_client);
}

/* Refresh the idle clock of ct. Written only when the coarse clock moved,
 * so the packets of one tick (both directions, maybe on two CPUs) do not
 * keep the line bouncing between caches. */
static __always_inline void sl_ct_touch(struct sluice_ct4 *ct, __u64 now)
{
	if (ct->last_ns != now)
		ct->last_ns = now;
}

/* A segment with TCP flags fl went through entry ct. Plain segments only
 * refresh it; state-changing ones (SYN, FIN, RST) advance it and, when the
 * flow has a second (REPLY) entry, copy the state into that half
 * (peer_key). Returns 1 when the flow just closed; *peer_gone is set when
 * the other half was evicted (the caller counts it). */
static __always_inline int sl_ct_segment(struct sluice_ct4 *ct,
					 const struct sluice_ct4_key *peer_key, __u8 fl,
					 int from_client, __u64 now, int *peer_gone)
{
	struct sluice_ct4 *peer;
	int closed;

	*peer_gone = 0;
	if (!(fl & (SL_TCP_SYN | SL_TCP_FIN | SL_TCP_RST))) {
		sl_ct_touch(ct, now);
		return 0;
	}
	closed = sl_ct_tcp_update(ct, fl, from_client, now);
	if (!(ct->flags & SLUICE_CT_F_REPLY_ENTRY))
		return closed;
	peer = bpf_map_lookup_elem(&sluice_ct4, peer_key);
	if (!peer) {
		*peer_gone = 1;
		return closed;
	}
	peer->state = ct->state;
	peer->flags = ct->flags;
	peer->last_ns = now;
	return closed;
}

/* A new flow to VIP:port vip/vport goes to backend baddr/bport: make sure
 * a reply from that backend can find the flow's FWD entry, by a slot of the
 * backend's sluice_ct4_rev entry (claimed here with a compare-and-swap if
 * the VIP:port has none yet). Returns 0 when a slot holds it, 1 when the
 * flow needs its own REPLY entry (no free slot; the overflow is flagged for
 * TC), -1 when the backend has no rev entry and none could be made (the
 * caller fails the flow open, as for a failed conntrack insert). */
static __always_inline int sl_ct_rev_note(__be32 baddr, __be16 bport, __be32 vip, __be16 vport)
{
	struct sluice_ct4_rev_key k = { .addr = baddr, .port = bport };
	__u64 want = SLUICE_CT4_REV_SLOT(vip, vport), v;
	struct sluice_ct4_rev *r;
	int i;

	r = bpf_map_lookup_elem(&sluice_ct4_rev, &k);
	if (!r) {
		struct sluice_ct4_rev nr = { .vip = { want } };

		if (!bpf_map_update_elem(&sluice_ct4_rev, &k, &nr, BPF_NOEXIST))
			return 0;
		/* another CPU made it first: claim a slot in that one */
		r = bpf_map_lookup_elem(&sluice_ct4_rev, &k);
		if (!r)
			return -1;
	}
	for (i = 0; i < SLUICE_CT4_REV_SLOTS; i++) {
		v = r->vip[i];
		if (v == want)
			return 0;
		if (v)
			continue;
		v = __sync_val_compare_and_swap(&r->vip[i], 0, want);
		if (!v || v == want)
			return 0;
	}
	if (!(r->flags & SLUICE_CT4_REV_F_OVERFLOW))
		r->flags |= SLUICE_CT4_REV_F_OVERFLOW;
	return 1;
}

/* The conntrack entry a reply with key rk (backend -> client, dir REPLY)
 * belongs to: the flow's FWD entry, found through the backend's
 * sluice_ct4_rev slots and checked to name this backend, or (for a backend
 * that overflowed its slots) the flow's REPLY entry. Sets *vip and *vport to the
 * address the reply must come from and *peer to the other half's key (used
 * only when the flow has two entries). Returns NULL when the packet is not
 * a reply of a flow we NATed. */
static __always_inline struct sluice_ct4 *sl_ct_reply_lookup(const struct sluice_ct4_key *rk,
							     __u64 now, __be32 *vip,
							     __be16 *vport,
							     struct sluice_ct4_key *peer)
{
	struct sluice_ct4_rev_key bk = { .addr = rk->saddr, .port = rk->sport };
	struct sluice_ct4_key fk = {
		.saddr = rk->daddr, .sport = rk->dport, .proto = rk->proto, .dir = SLUICE_CT_FWD,
	};
	struct sluice_ct4_rev *r = bpf_map_lookup_elem(&sluice_ct4_rev, &bk);
	struct sluice_ct4 *ct;
	__u64 v;
	int i;

	if (!r)
		return NULL;
	for (i = 0; i < SLUICE_CT4_REV_SLOTS; i++) {
		v = r->vip[i];
		if (!v)
			break;
		fk.daddr = (__be32)v;
		fk.dport = (__be16)(v >> 32);
		ct = sl_ct_lookup(&fk, now);
		if (ct && ct->addr == rk->saddr && ct->port == rk->sport) {
			*vip = fk.daddr;
			*vport = fk.dport;
			sl_ct_reply_of_fwd(&fk, ct, peer);
			return ct;
		}
	}
	if (!(r->flags & SLUICE_CT4_REV_F_OVERFLOW))
		return NULL;
	ct = sl_ct_lookup(rk, now);
	if (!ct)
		return NULL;
	*vip = ct->addr;
	*vport = ct->port;
	sl_ct_fwd_of_reply(rk, ct, peer);
	return ct;
}

/* ---- IPv6: sluice_ct6, two entries per flow (abi.h) ---- */

/* sl_ct_lookup for IPv6 keys. */
static __always_inline struct sluice_ct6 *sl_ct6_lookup(const struct sluice_ct6_key *key,
							__u64 now)
{
	struct sluice_ct6 *ct = bpf_map_lookup_elem(&sluice_ct6, key);

	if (!ct)
		return NULL;
	if (now > ct->last_ns && now - ct->last_ns > sl_ct_state_timeout_ns(ct->state)) {
		bpf_map_delete_elem(&sluice_ct6, key);
		sluice_count(SLUICE_CNT_CT_EXPIRED);
		return NULL;
	}
	return ct;
}

/* The other half's key of an IPv6 entry: FWD (client -> VIP, entry holds
 * the backend) <-> REPLY (backend -> client, entry holds the VIP). */
static __always_inline void sl_ct6_peer_key(const struct sluice_ct6_key *k,
					    const struct sluice_ct6 *v,
					    struct sluice_ct6_key *pk)
{
	if (k->dir == SLUICE_CT_FWD) {
		/* (client -> VIP) -> (backend -> client) */
		__builtin_memcpy(pk->saddr, v->addr, 16);
		__builtin_memcpy(pk->daddr, k->saddr, 16);
		pk->sport = v->port;
		pk->dport = k->sport;
		pk->dir = SLUICE_CT_REPLY;
	} else {
		/* (backend -> client) -> (client -> VIP) */
		__builtin_memcpy(pk->saddr, k->daddr, 16);
		__builtin_memcpy(pk->daddr, v->addr, 16);
		pk->sport = k->dport;
		pk->dport = v->port;
		pk->dir = SLUICE_CT_FWD;
	}
	pk->proto = k->proto;
	pk->pad = 0;
}

/* sl_ct_segment for an IPv6 entry (key k): plain segments refresh it;
 * state-changing ones advance it and copy the state into the other half.
 * Returns 1 when the flow just closed; *peer_gone when the other half was
 * evicted. */
static __always_inline int sl_ct6_segment(struct sluice_ct6 *ct, const struct sluice_ct6_key *k,
					  __u8 fl, int from_client, __u64 now, int *peer_gone)
{
	struct sluice_ct6_key pk;
	struct sluice_ct6 *peer;
	int closed;

	*peer_gone = 0;
	if (!(fl & (SL_TCP_SYN | SL_TCP_FIN | SL_TCP_RST))) {
		if (ct->last_ns != now)
			ct->last_ns = now;
		return 0;
	}
	ct->last_ns = now;
	closed = sl_ct_tcp_step(&ct->state, &ct->flags, fl, from_client);
	sl_ct6_peer_key(k, ct, &pk);
	peer = bpf_map_lookup_elem(&sluice_ct6, &pk);
	if (!peer) {
		*peer_gone = 1;
		return closed;
	}
	peer->state = ct->state;
	peer->flags = ct->flags;
	peer->last_ns = now;
	return closed;
}

#endif /* SLUICE_BPF_CT_H */
