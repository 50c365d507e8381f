// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * North-south TC: reverse NAT of replies (backend addr:port -> VIP:port)
 * for flows the XDP program DNATed, and the backend's half of the
 * conntrack state (SYN-ACK establishes, FIN/RST tear down).
 * Attached at egress of the --xdp interfaces (replies leave towards the
 * client there); the same program works at ingress of the backend-facing
 * interface. Anything without a REPLY conntrack entry passes untouched.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "sluice/abi.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/nat.h"
#include "lib/ct.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int sluice_tc_revnat(struct __sk_buff *skb)
{
	struct sluice_ct_key rk = { .proto = IPPROTO_TCP, .dir = SLUICE_CT_REPLY };
	struct sluice_ct_key fk;
	struct sluice_ct *rct, *fct;
	void *data, *data_end;
	__be32 vip, baddr;
	__be16 bport, vport;
	struct sl_pkt p;
	__u32 l3_off, l4_off, pull;
	__u64 now;
	int closed;

	/* Make the headers we may rewrite linear (no-op when they are); the
	 * payload may stay in fragments. */
	pull = sizeof(struct ethhdr) + 60 + sizeof(struct tcphdr);
	bpf_skb_pull_data(skb, skb->len < pull ? skb->len : pull);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (sl_parse_tcp4(data, data_end, skb->len, &p) != SL_PARSE_TCP4)
		return TC_ACT_OK;

	sl_v4mapped(rk.saddr, p.ip4->saddr);
	sl_v4mapped(rk.daddr, p.ip4->daddr);
	rk.sport = p.tcp->source;
	rk.dport = p.tcp->dest;
	now = bpf_ktime_get_coarse_ns();
	rct = sl_ct_lookup(&rk, now);
	if (!rct)
		return TC_ACT_OK;	/* not a NATed flow: untouched */

	sl_ct_fwd_of_reply(&rk, rct, &fk);
	fct = bpf_map_lookup_elem(&sluice_ct, &fk);
	if (fct) {
		closed = sl_ct_tcp_update(fct, p.tcp, 0, now);
		rct->state = fct->state;
		rct->flags = fct->flags;
		rct->last_ns = now;
		if (closed)
			sluice_count(SLUICE_CNT_CT_CLOSED);
	} else {
		/* The forward half was evicted under pressure: this reply is
		 * still translated, but the client's next packet will miss. */
		sluice_count(SLUICE_CNT_CT_EVICT);
		sl_ct_tcp_update(rct, p.tcp, 0, now);
	}

	if (!sl_from_v4mapped(rct->addr, &vip))
		return TC_ACT_OK;
	vport = rct->port;
	baddr = p.ip4->saddr;
	bport = p.tcp->source;
	l3_off = (__u32)((void *)p.ip4 - data);
	l4_off = (__u32)((void *)p.tcp - data);
	if (sl_tc_nat4_snat(skb, l3_off, l4_off, baddr, bport, vip, vport))
		return TC_ACT_SHOT;	/* half-rewritten: never send it on */
	sluice_count(SLUICE_CNT_TC_REVNAT);
	return TC_ACT_OK;
}
