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
	struct sluice_ct4_key rk = { .proto = IPPROTO_TCP, .dir = SLUICE_CT_REPLY };
	struct sluice_ct4_key fk;
	struct sluice_ct4 *rct;
	void *data, *data_end;
	__be32 vip, baddr;
	__be16 bport, vport;
	struct sl_pkt p;
	__u32 l3_off, l4_off, pull;
	enum sl_parse r;
	__u64 now;
	int gone;

	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	r = sl_parse_tcp4(data, data_end, skb->len, &p);
	if (r == SL_PARSE_MALFORMED && skb->len > (__u32)(data_end - data)) {
		/* Headers partly in fragments: make the ones we may rewrite
		 * linear (rare; the payload may stay in fragments). */
		pull = sizeof(struct ethhdr) + 60 + sizeof(struct tcphdr);
		bpf_skb_pull_data(skb, skb->len < pull ? skb->len : pull);
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		r = sl_parse_tcp4(data, data_end, skb->len, &p);
	}
	if (r != SL_PARSE_TCP4)
		return TC_ACT_OK;

	rk.saddr = p.ip4->saddr;
	rk.daddr = p.ip4->daddr;
	rk.sport = p.tcp->source;
	rk.dport = p.tcp->dest;
	now = bpf_ktime_get_coarse_ns();
	rct = sl_ct_lookup(&rk, now);
	if (!rct)
		return TC_ACT_OK;	/* not a NATed flow: untouched */

	sl_ct_fwd_of_reply(&rk, rct, &fk);
	if (sl_ct_segment(rct, &fk, sl_tcp_flags(p.tcp), 0, now, &gone))
		sluice_count(SLUICE_CNT_CT_CLOSED);
	/* The forward half was evicted under pressure: this reply is still
	 * translated, but the client's next packet will miss. Seen on the
	 * state-changing segments, which look the other half up. */
	if (gone)
		sluice_count(SLUICE_CNT_CT_EVICT);

	vip = rct->addr;
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
