/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * North-south conntrack: the IPv4 LRU map and its state machine, shared by
 * the XDP program (creates both entries of a flow on its SYN, refreshes the
 * forward entry, sees the client's FIN/RST) and the TC program (refreshes
 * the reply entry, sees the backend's SYN-ACK/FIN/RST). Entry layout and
 * meaning: include/sluice/abi.h (struct sluice_ct4).
 *
 * Cost model: a packet of an established flow does one lookup in its own
 * direction and writes only that entry; the other direction's entry is
 * looked up only for segments that change the state (SYN, FIN, RST), so
 * both halves move through the states together without a second lookup
 * per packet. Both directions see packets while a TCP flow is alive (data
 * one way is acknowledged the other way), so each half's idle timeout
 * stays fresh on its own.
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

/* sluice_ct4: IPv4 flow 4-tuple + direction -> NAT target (see abi.h).
 * Writers: xdp (create, forward half, next-hop cache), tc (reply half,
 * state changes). Readers: both. A common LRU rather than per-CPU lists
 * (BPF_F_NO_COMMON_LRU): per-CPU lists split the capacity by CPU, and an
 * evicted entry breaks its flow (no rehash can find a randomly chosen
 * backend again); on one CPU both measured the same (docs/xdp.md). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_CT_DEFAULT_SIZE);
	__type(key, struct sluice_ct4_key);
	__type(value, struct sluice_ct4);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ct4 SEC(".maps");

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

static __always_inline __u64 sl_ct_timeout_ns(const struct sluice_ct4 *ct)
{
	__u32 s;

	switch (ct->state) {
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

/* Advance the flow state for a segment with TCP flags fl; from_client says
 * which side sent it. FIN moves to CLOSING (short timeout, the last ACK
 * still needs the NAT), RST or FIN from both sides to CLOSED, the server's
 * SYN-ACK to ESTABLISHED. Returns 1 when the flow just closed. */
static __always_inline int sl_ct_tcp_update(struct sluice_ct4 *ct, __u8 fl, int from_client,
					    __u64 now)
{
	__u8 old = ct->state;

	ct->last_ns = now;
	if (fl & SL_TCP_RST) {
		ct->state = SLUICE_CT_CLOSED;
	} else if (fl & SL_TCP_FIN) {
		ct->flags |= from_client ? SLUICE_CT_F_FIN_CLIENT : SLUICE_CT_F_FIN_SERVER;
		if ((ct->flags & (SLUICE_CT_F_FIN_CLIENT | SLUICE_CT_F_FIN_SERVER)) ==
		    (SLUICE_CT_F_FIN_CLIENT | SLUICE_CT_F_FIN_SERVER))
			ct->state = SLUICE_CT_CLOSED;
		else
			ct->state = SLUICE_CT_CLOSING;
	} else if (!from_client && (fl & (SL_TCP_SYN | SL_TCP_ACK)) == (SL_TCP_SYN | SL_TCP_ACK) &&
		   old == SLUICE_CT_SYN_SENT) {
		ct->state = SLUICE_CT_ESTABLISHED;
	}
	return old != SLUICE_CT_CLOSED && ct->state == SLUICE_CT_CLOSED;
}

/* A state-changing segment (SYN, FIN, RST) went through entry ct: update it
 * and copy the state into the other direction's entry peer_key. Returns 1
 * when the flow just closed; *peer_gone is set when the other half was
 * evicted (the caller counts it). Plain segments only refresh last_ns. */
static __always_inline int sl_ct_segment(struct sluice_ct4 *ct,
					 const struct sluice_ct4_key *peer_key, __u8 fl,
					 int from_client, __u64 now, int *peer_gone)
{
	struct sluice_ct4 *peer;
	int closed;

	*peer_gone = 0;
	if (!(fl & (SL_TCP_SYN | SL_TCP_FIN | SL_TCP_RST))) {
		ct->last_ns = now;
		return 0;
	}
	closed = sl_ct_tcp_update(ct, fl, from_client, now);
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

#endif /* SLUICE_BPF_CT_H */
