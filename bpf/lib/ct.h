/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * North-south conntrack: the LRU map and its state machine, shared by the
 * XDP program (creates flows on SYN, refreshes the forward direction, sees
 * the client's FIN/RST) and the TC program (reverse NAT, sees the backend's
 * SYN-ACK/FIN/RST). Entry layout and meaning: include/sluice/abi.h.
 *
 * Timeouts are checked lazily at lookup (an entry older than its state's
 * timeout counts as absent and is deleted); LRU reclaims the rest under
 * pressure. The map size is set by userspace before load (--ct-size).
 */
#ifndef SLUICE_BPF_CT_H
#define SLUICE_BPF_CT_H

#include <linux/bpf.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>

#include "sluice/abi.h"
#include "lib/maps.h"

/* sluice_ct: flow 5-tuple + direction -> NAT target (see abi.h).
 * Writers: xdp (create, forward state), tc (reply state). Readers: both. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_CT_DEFAULT_SIZE);
	__type(key, struct sluice_ct_key);
	__type(value, struct sluice_ct);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ct SEC(".maps");

/* Timeouts in seconds, set by userspace before load (--ct-timeout-*). */
const volatile __u32 sl_ct_syn_timeout_s = SLUICE_CT_SYN_TIMEOUT_S;
const volatile __u32 sl_ct_est_timeout_s = SLUICE_CT_EST_TIMEOUT_S;
const volatile __u32 sl_ct_close_timeout_s = SLUICE_CT_CLOSE_TIMEOUT_S;

static __always_inline __u64 sl_ct_timeout_ns(const struct sluice_ct *ct)
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
static __always_inline struct sluice_ct *sl_ct_lookup(const struct sluice_ct_key *key,
						      __u64 now)
{
	struct sluice_ct *ct = bpf_map_lookup_elem(&sluice_ct, key);

	if (!ct)
		return NULL;
	if (now > ct->last_ns && now - ct->last_ns > sl_ct_timeout_ns(ct)) {
		bpf_map_delete_elem(&sluice_ct, key);
		sluice_count(SLUICE_CNT_CT_EXPIRED);
		return NULL;
	}
	return ct;
}

/* The forward key of the flow a REPLY entry belongs to. */
static __always_inline void sl_ct_fwd_of_reply(const struct sluice_ct_key *rk,
					       const struct sluice_ct *rv,
					       struct sluice_ct_key *fk)
{
	__builtin_memcpy(fk->saddr, rk->daddr, 16);
	__builtin_memcpy(fk->daddr, rv->addr, 16);
	fk->sport = rk->dport;
	fk->dport = rv->port;
	fk->proto = rk->proto;
	fk->dir = SLUICE_CT_FWD;
	fk->pad = 0;
}

/* Advance the flow state for a TCP segment; from_client says which side sent
 * it. FIN moves to CLOSING (short timeout, the last ACK still needs the NAT),
 * RST or FIN from both sides to CLOSED. Returns 1 when the flow just closed. */
static __always_inline int sl_ct_tcp_update(struct sluice_ct *ct, const struct tcphdr *tcp,
					    int from_client, __u64 now)
{
	__u8 old = ct->state;

	ct->last_ns = now;
	if (tcp->rst) {
		ct->state = SLUICE_CT_CLOSED;
	} else if (tcp->fin) {
		ct->flags |= from_client ? SLUICE_CT_F_FIN_CLIENT : SLUICE_CT_F_FIN_SERVER;
		if ((ct->flags & (SLUICE_CT_F_FIN_CLIENT | SLUICE_CT_F_FIN_SERVER)) ==
		    (SLUICE_CT_F_FIN_CLIENT | SLUICE_CT_F_FIN_SERVER))
			ct->state = SLUICE_CT_CLOSED;
		else
			ct->state = SLUICE_CT_CLOSING;
	} else if (!from_client && tcp->syn && tcp->ack && old == SLUICE_CT_SYN_SENT) {
		ct->state = SLUICE_CT_ESTABLISHED;
	}
	return old != SLUICE_CT_CLOSED && ct->state == SLUICE_CT_CLOSED;
}

#endif /* SLUICE_BPF_CT_H */
