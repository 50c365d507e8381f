// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark companions of bpf/xdp.bpf.c (built by the Makefile's bench-xdp
 * rule, not part of the data plane):
 *   xdp_parse_only  the same Ethernet/IPv4/TCP parse (lib/parse.h), then
 *                   XDP_PASS: the floor Sluice's per-packet cost is compared
 *                   with in bench/bench_xdp.sh;
 *   xdp_drop_tcp    XDP_DROP of IPv4 TCP on the backends' ends of the
 *                   packet-rate test, so the backends do not answer a flood
 *                   with resets (ARP still passes: the node resolves them).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "lib/parse.h"

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
