// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark companions of bpf/xdp.bpf.c (built by the Makefile's bench-xdp
 * rule, not part of the data plane):
 *   xdp_parse_only  the same Ethernet/IPv4/TCP parse as Sluice (lib/parse.h:
 *                   every bounds check, ihl/tot_len/fragment/doff checks),
 *                   then a look at both ports: the floor Sluice's per-packet
 *                   cost is compared with in bench/bench_xdp.sh;
 *   xdp_drop_tcp    XDP_DROP of IPv4 TCP on the backends' ends of the
 *                   packet-rate test, so the backends do not answer a flood
 *                   with resets (ARP still passes: the node resolves them);
 *   xdp_gen         the traffic generator of the packet-rate test, run by
 *                   BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES
 *                   (tools/xdp_tool.c `gen`): writes a TCP frame from the
 *                   template in `gen` and returns XDP_TX, which sends it out
 *                   of the client's veth towards the node;
 *   xdp_ct_lookup, xdp_ct_insert1, xdp_ct_insert2, xdp_ct_hit
 *                   conntrack floors: the parse plus a bare LRU lookup of the
 *                   packet's 4-tuple (a miss for a new flow), plus one insert,
 *                   plus two inserts, each in its own map of sluice_ct4's
 *                   size: what any LRU-conntrack path pays on a new flow;
 *                   and a bare lookup hit (the established floor).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "lib/parse.h"
#include "lib/csum.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int xdp_parse_only(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sl_pkt p;

	if (sl_parse_tcp4(data, data_end, (__u32)(data_end - data), &p) != SL_PARSE_TCP4)
		return XDP_PASS;
	/* touch what Sluice reads, so the loads are not optimised away */
	return p.tcp->dest == p.tcp->source ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int xdp_drop_tcp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sl_pkt p;

	if (sl_parse_tcp4(data, data_end, (__u32)(data_end - data), &p) == SL_PARSE_TCP4)
		return XDP_DROP;
	return XDP_PASS;
}

/* Generator state: the only .bss variable of this object, written whole by
 * xdp_tool after load (layout shared with struct xdp_gen_state there). */
enum { GEN_EST = 0, GEN_NEW = 1 };

struct xdp_gen_state {
	__u64 tmpl[8];		/* first 64 bytes of the frame, checksums valid */
	__u32 flows;		/* GEN_EST: source ports sport..sport+flows-1 */
	__u32 mode;		/* GEN_EST: cycle over flows; GEN_NEW: a new tuple each */
	__u64 seq;		/* packets generated (racy across CPUs; fine) */
};

struct xdp_gen_state gen;

/* Frames are recycled by the live-frames page pool with whatever the node
 * wrote into them (DNAT, MACs), so every run rewrites the headers. */
SEC("xdp")
int xdp_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct tcphdr *tcp = (void *)(ip + 1);
	__u64 *w = data, seq = gen.seq++;
	__be32 saddr0, saddr;
	__be16 sport0, sport;
	__u32 k, i;

	if (data + 64 > data_end)
		return XDP_ABORTED;
	for (i = 0; i < 7; i++)
		w[i] = gen.tmpl[i];
	saddr0 = ip->saddr;
	sport0 = tcp->source;
	if (gen.mode == GEN_NEW) {
		/* 64,000 ports x 30,000 addresses of 10.10.128.1-10.10.247.250:
		 * every tuple new for 1.9e9 packets; no .0/.255 host parts */
		k = (__u32)(seq / 64000) % 30000;
		sport = bpf_htons((__u16)(1024 + seq % 64000));
		saddr = bpf_htonl(0x0a0a0000u | (128 + k / 250) << 8 | (1 + k % 250));
	} else {
		sport = bpf_htons((__u16)(bpf_ntohs(sport0) + (gen.flows ? seq % gen.flows : 0)));
		saddr = saddr0;
	}
	sl_csum_replace4(&ip->check, saddr0, saddr);
	sl_csum_replace4(&tcp->check, saddr0, saddr);
	sl_csum_replace2(&tcp->check, sport0, sport);
	ip->saddr = saddr;
	tcp->source = sport;
	return XDP_TX;
}

/* ---- conntrack floors (tools/xdp_tool.c testrun) ----------------------------
 * The cost of the bare LRU operations a conntrack-based path cannot avoid,
 * measured on the same packets as Sluice in the same run: maps of the same
 * key/value size and capacity as sluice_ct4 (sized by xdp_tool before load). */
#include "sluice/abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct sluice_ct4_key);
	__type(value, struct sluice_ct4);
} bench_ct_a SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct sluice_ct4_key);
	__type(value, struct sluice_ct4);
} bench_ct_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct sluice_ct4_key);
	__type(value, struct sluice_ct4);
} bench_ct_c SEC(".maps");

static __always_inline int bench_key(struct xdp_md *ctx, struct sluice_ct4_key *k)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sl_pkt p;

	if (sl_parse_tcp4(data, data_end, (__u32)(data_end - data), &p) != SL_PARSE_TCP4)
		return -1;
	k->saddr = p.ip4->saddr;
	k->daddr = p.ip4->daddr;
	k->sport = p.tcp->source;
	k->dport = p.tcp->dest;
	k->proto = IPPROTO_TCP;
	return 0;
}

/* parse + one lookup of the packet's 4-tuple in bench_ct_a */
SEC("xdp")
int xdp_ct_lookup(struct xdp_md *ctx)
{
	struct sluice_ct4_key k = {};

	if (bench_key(ctx, &k))
		return XDP_PASS;
	return bpf_map_lookup_elem(&bench_ct_a, &k) ? XDP_DROP : XDP_PASS;
}

/* parse + one lookup of the packet's 4-tuple in bench_ct_b (where
 * xdp_ct_insert1 put it: the established floor, a hit) */
SEC("xdp")
int xdp_ct_hit(struct xdp_md *ctx)
{
	struct sluice_ct4_key k = {};

	if (bench_key(ctx, &k))
		return XDP_PASS;
	return bpf_map_lookup_elem(&bench_ct_b, &k) ? XDP_DROP : XDP_PASS;
}

/* parse + lookup + one insert of the packet's 4-tuple in bench_ct_b */
SEC("xdp")
int xdp_ct_insert1(struct xdp_md *ctx)
{
	struct sluice_ct4_key k = {};
	struct sluice_ct4 v = {};

	if (bench_key(ctx, &k))
		return XDP_PASS;
	if (bpf_map_lookup_elem(&bench_ct_b, &k))
		return XDP_DROP;
	v.addr = k.daddr;
	bpf_map_update_elem(&bench_ct_b, &k, &v, BPF_NOEXIST);
	return XDP_PASS;
}

/* parse + lookup + two inserts (the 4-tuple and its reverse) in bench_ct_c */
SEC("xdp")
int xdp_ct_insert2(struct xdp_md *ctx)
{
	struct sluice_ct4_key k = {}, r = {};
	struct sluice_ct4 v = {};

	if (bench_key(ctx, &k))
		return XDP_PASS;
	if (bpf_map_lookup_elem(&bench_ct_c, &k))
		return XDP_DROP;
	v.addr = k.daddr;
	r.saddr = k.daddr;
	r.daddr = k.saddr;
	r.sport = k.dport;
	r.dport = k.sport;
	r.proto = k.proto;
	r.dir = 1;
	bpf_map_update_elem(&bench_ct_c, &r, &v, BPF_NOEXIST);
	bpf_map_update_elem(&bench_ct_c, &k, &v, BPF_NOEXIST);
	return XDP_PASS;
}
