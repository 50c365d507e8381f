// SPDX-License-Identifier: Apache-2.0
/*
 * Table-driven BPF_PROG_TEST_RUN fixtures for the IPv6 north-south path
 * (sluice_xdp6 behind the XDP program's tail call, sluice_tc_revnat and the
 * TC ingress fallback for IPv6): the same shape as test_xdp_fixtures.c,
 * {name, program, input packet, expected verdict, expected output packet,
 * counter}, run in order (conntrack carries over) in a private network
 * namespace with a private pin root. Expected packets are built from
 * scratch, and every rewritten packet's TCP checksum is verified over the
 * IPv6 pseudo-header independently. TAP output.
 */
#include "xdp_fixture6.h"


/* IPv4 addresses: the mixed-family cases and a v4 VIP beside the v6 ones */
#define VIP "198.18.0.10"
#define BE1 "198.18.1.1"

#define VIP6 "fd00:5c:0:1::10"
#define VIP6_MIXED "fd00:5c:0:1::11"
#define VIP6_EMPTY "fd00:5c:0:1::12"
#define VIP6_FWD "fd00:5c:0:1::13"
#define BE6_1 "fd00:5c:1::1"
#define BE6_2 "fd00:5c:1::2"
#define BE6_FWD "fd00:5c:2::1"
#define CL6 "fd00:5c:9::1"

struct fixture6 {
	const char *name;
	int action;
	int prog;
	struct fx_tcp6 in;
	size_t trunc;
	void (*mutate)(uint8_t *frame);
	int verdict;
	int out;
	struct fx_tcp6 expect;
	int counter;
	int ct_state;			/* FWD entry (client -> VIP) after */
};

static void m6_plen_long(uint8_t *f) { ((struct ipv6hdr *)(f + 14))->payload_len = htons(1400); }
static void m6_plen_short(uint8_t *f) { ((struct ipv6hdr *)(f + 14))->payload_len = htons(12); }
static void m6_version4(uint8_t *f) { ((struct ipv6hdr *)(f + 14))->version = 4; }
static void m6_doff15(uint8_t *f) { ((struct tcphdr *)(f + 54))->doff = 15; }

#define SYN6(s, sp, d, dp) { .src = s, .sport = sp, .dst = d, .dport = dp, .flags = FX_SYN }
#define SYNACK6(s, sp, d, dp) { .src = s, .sport = sp, .dst = d, .dport = dp, \
				.flags = FX_SYN | FX_ACK }
#define ACK6(s, sp, d, dp, n) { .src = s, .sport = sp, .dst = d, .dport = dp, \
				.flags = FX_ACK, .payload = n }

static const struct fixture6 fixtures6[] = {
	{ "xdp6: SYN to an IPv6 VIP -> DNAT to the 100% subset, valid TCP checksum", 0, P_XDP,
	  SYN6(CL6, 40000, VIP6, 9000), 0, NULL, XDP_PASS, OUT_EXPECT,
	  SYN6(CL6, 40000, BE6_1, 9000), SLUICE_CNT_XDP_NEW_FLOW, SLUICE_CT_SYN_SENT },
	{ "tc6: SYN-ACK from the backend reverse-NATed to the VIP, flow ESTABLISHED", 0, P_TC,
	  SYNACK6(BE6_1, 9000, CL6, 40000), 0, NULL, TC_ACT_OK, OUT_EXPECT,
	  SYNACK6(VIP6, 9000, CL6, 40000), SLUICE_CNT_TC_REVNAT, SLUICE_CT_ESTABLISHED },
	{ "xdp6: established flow (ACK + data) follows conntrack", 0, P_XDP,
	  ACK6(CL6, 40000, VIP6, 9000, 100), 0, NULL, XDP_PASS, OUT_EXPECT,
	  ACK6(CL6, 40000, BE6_1, 9000, 100), SLUICE_CNT_XDP_ESTABLISHED, SLUICE_CT_ESTABLISHED },
	{ "xdp6: established flow keeps its backend after weights 0/100", ACT_WEIGHTS_0_100, P_XDP,
	  ACK6(CL6, 40000, VIP6, 9000, 7), 0, NULL, XDP_PASS, OUT_EXPECT,
	  ACK6(CL6, 40000, BE6_1, 9000, 7), SLUICE_CNT_XDP_ESTABLISHED, -1 },
	{ "xdp6: new SYN after the weight change goes to v2", 0, P_XDP,
	  SYN6(CL6, 40001, VIP6, 9000), 0, NULL, XDP_PASS, OUT_EXPECT,
	  SYN6(CL6, 40001, BE6_2, 9000), SLUICE_CNT_XDP_NEW_FLOW, -1 },
	{ "tc6: packet of a flow we did not NAT is untouched", 0, P_TC,
	  ACK6(BE6_1, 9000, "fd00:5c:9::9", 5555, 0), 0, NULL, TC_ACT_OK, OUT_SAME, {0}, -1, -1 },
	{ "xdp6: non-VIP IPv6 traffic untouched", 0, P_XDP,
	  SYN6(CL6, 40002, "fd00:5c:7::7", 9000), 0, NULL, XDP_PASS, OUT_SAME, {0},
	  SLUICE_CNT_XDP_PASS, -1 },
	{ "xdp6: non-SYN to the VIP without conntrack passes untouched, counted", 0, P_XDP,
	  ACK6("fd00:5c:9::2", 1234, VIP6, 9000, 0), 0, NULL, XDP_PASS, OUT_SAME, {0},
	  SLUICE_CNT_XDP_NO_CT, -1 },
	{ "xdp6: UDP to the VIP untouched", 0, P_XDP,
	  { .src = CL6, .sport = 40004, .dst = VIP6, .dport = 9000, .proto = IPPROTO_UDP },
	  0, NULL, XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_PASS, -1 },
	{ "xdp6: fragment header -> passes untouched, counted as a fragment", 0, P_XDP,
	  { .src = CL6, .sport = 40005, .dst = VIP6, .dport = 9000, .flags = FX_SYN,
	    .ext = FX6_FRAG }, 0, NULL, XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_FRAGMENT, -1 },
	{ "xdp6: hop-by-hop header -> passes untouched, counted", 0, P_XDP,
	  { .src = CL6, .sport = 40005, .dst = VIP6, .dport = 9000, .flags = FX_SYN,
	    .ext = FX6_HOP }, 0, NULL, XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_PASS, -1 },
	{ "xdp6: destination options header -> passes untouched, counted", 0, P_XDP,
	  { .src = CL6, .sport = 40005, .dst = VIP6, .dport = 9000, .flags = FX_SYN,
	    .ext = FX6_DST }, 0, NULL, XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_PASS, -1 },
	{ "xdp6: half an IPv6 header -> malformed, pass", 0, P_XDP, SYN6(CL6, 1, VIP6, 9000),
	  34, NULL, XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp6: TCP header cut short -> malformed, pass", 0, P_XDP, SYN6(CL6, 1, VIP6, 9000),
	  64, NULL, XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp6: payload_len longer than the frame -> malformed, pass", 0, P_XDP,
	  SYN6(CL6, 1, VIP6, 9000), 0, m6_plen_long, XDP_PASS, OUT_SAME, {0},
	  SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp6: payload_len shorter than a TCP header -> malformed, pass", 0, P_XDP,
	  SYN6(CL6, 1, VIP6, 9000), 0, m6_plen_short, XDP_PASS, OUT_SAME, {0},
	  SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp6: IP version 4 under the IPv6 ethertype -> malformed, pass", 0, P_XDP,
	  SYN6(CL6, 1, VIP6, 9000), 0, m6_version4, XDP_PASS, OUT_SAME, {0},
	  SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp6: TCP doff 15 beyond the packet -> malformed, pass", 0, P_XDP,
	  SYN6(CL6, 1, VIP6, 9000), 0, m6_doff15, XDP_PASS, OUT_SAME, {0},
	  SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp6: IPv6 VIP whose subset has an IPv4 backend -> pass untouched, map_miss", 0,
	  P_XDP, SYN6(CL6, 40006, VIP6_MIXED, 9000), 0, NULL, XDP_PASS, OUT_SAME, {0},
	  SLUICE_CNT_MAP_MISS, -1 },
	{ "xdp6: v4-mapped destination (::ffff:VIP) is not a VIP, untouched", 0, P_XDP,
	  SYN6(CL6, 40007, "::ffff:" VIP, 9000), 0, NULL, XDP_PASS, OUT_SAME, {0},
	  SLUICE_CNT_XDP_PASS, -1 },
	{ "xdp6: SYN to an IPv6 service without endpoints dropped, counted", 0, P_XDP,
	  SYN6(CL6, 40008, VIP6_EMPTY, 9000), 0, NULL, XDP_DROP, OUT_NONE, {0},
	  SLUICE_CNT_XDP_NO_BACKEND, -1 },
	{ "tc6: FIN from the backend reverse-NATed, flow CLOSING", 0, P_TC,
	  { .src = BE6_1, .sport = 9000, .dst = CL6, .dport = 40000, .flags = FX_FIN | FX_ACK },
	  0, NULL, TC_ACT_OK, OUT_EXPECT,
	  { .src = VIP6, .sport = 9000, .dst = CL6, .dport = 40000, .flags = FX_FIN | FX_ACK },
	  SLUICE_CNT_TC_REVNAT, SLUICE_CT_CLOSING },
	{ "xdp6: client RST is DNATed and tears the flow down", 0, P_XDP,
	  { .src = CL6, .sport = 40000, .dst = VIP6, .dport = 9000, .flags = FX_RST | FX_ACK },
	  0, NULL, XDP_PASS, OUT_EXPECT,
	  { .src = CL6, .sport = 40000, .dst = BE6_1, .dport = 9000, .flags = FX_RST | FX_ACK },
	  SLUICE_CNT_CT_CLOSED, SLUICE_CT_CLOSED },
	{ "xdp6: SYN reusing a closed flow's port is chosen anew (v2 now)", 0, P_XDP,
	  SYN6(CL6, 40000, VIP6, 9000), 0, NULL, XDP_PASS, OUT_EXPECT,
	  SYN6(CL6, 40000, BE6_2, 9000), SLUICE_CNT_XDP_NEW_FLOW, SLUICE_CT_SYN_SENT },
	{ "tc ingress6: SYN to the VIP -> DNAT to v2, valid TCP checksum", 0, P_TCI,
	  SYN6(CL6, 41000, VIP6, 9000), 0, NULL, TC_ACT_OK, OUT_EXPECT,
	  SYN6(CL6, 41000, BE6_2, 9000), SLUICE_CNT_XDP_NEW_FLOW, SLUICE_CT_SYN_SENT },
	{ "tc6: SYN-ACK of the fallback's flow reverse-NATed", 0, P_TC,
	  SYNACK6(BE6_2, 9000, CL6, 41000), 0, NULL, TC_ACT_OK, OUT_EXPECT,
	  SYNACK6(VIP6, 9000, CL6, 41000), SLUICE_CNT_TC_REVNAT, SLUICE_CT_ESTABLISHED },
	{ "tc ingress6: established flow follows conntrack", 0, P_TCI,
	  ACK6(CL6, 41000, VIP6, 9000, 100), 0, NULL, TC_ACT_OK, OUT_EXPECT,
	  ACK6(CL6, 41000, BE6_2, 9000, 100), SLUICE_CNT_XDP_ESTABLISHED, SLUICE_CT_ESTABLISHED },
	{ "tc ingress6: extension header untouched", 0, P_TCI,
	  { .src = CL6, .sport = 41001, .dst = VIP6, .dport = 9000, .flags = FX_SYN,
	    .ext = FX6_DST }, 0, NULL, TC_ACT_OK, OUT_SAME, {0}, SLUICE_CNT_XDP_PASS, -1 },
	{ "tc ingress6: SYN to a service without endpoints dropped", 0, P_TCI,
	  SYN6(CL6, 41002, VIP6_EMPTY, 9000), 0, NULL, TC_ACT_SHOT, OUT_NONE, {0},
	  SLUICE_CNT_XDP_NO_BACKEND, -1 },
};

static int ct6_state_of(struct fx_env *e, const char *cl, uint16_t sport, const char *vip,
			uint16_t dport)
{
	struct sluice_ct6_key k = { .proto = IPPROTO_TCP, .dir = SLUICE_CT_FWD };
	struct sluice_ct6 v;

	inet_pton(AF_INET6, cl, k.saddr);
	inet_pton(AF_INET6, vip, k.daddr);
	k.sport = htons(sport);
	k.dport = htons(dport);
	if (bpf_map_lookup_elem(fx_map_fd(e, SL_MAP_CT6), &k, &v))
		return -1;
	return v.state;
}

/* The policy of every generation: S1 at VIP6:9000, a route W1/W2 over
 * subsets v1 (BE6_1, RANDOM) and v2 (BE6_2, ROUND_ROBIN); "mixed" at
 * VIP6_MIXED:9000 with an IPv4 backend (BE1); "empty" at VIP6_EMPTY:9000
 * without endpoints; "fwd" at VIP6_FWD:9300 on BE6_FWD:9000; and "v4", a
 * live IPv4 VIP (its v4-mapped form on an IPv6 packet is no VIP). */
#define SE6(name, addr, port, eps)                                             \
	"apiVersion: networking.istio.io/v1beta1\n"                            \
	"kind: ServiceEntry\n"                                                  \
	"metadata: {name: " name ", namespace: fx}\n"                           \
	"spec:\n"                                                               \
	"  hosts: [" name ".fx.svc.cluster.local]\n"                            \
	"  addresses: [\"" addr "\"]\n"                                        \
	"  ports: [{number: " #port ", name: tcp, protocol: TCP}]\n"            \
	"  resolution: STATIC\n"                                                \
	eps "---\n"
static const char policy6_fmt[] =
	SE6("s1", VIP6, 9000,
	    "  endpoints:\n"
	    "  - {address: \"" BE6_1 "\", ports: {tcp: 9000}, labels: {version: v1}}\n"
	    "  - {address: \"" BE6_2 "\", ports: {tcp: 9000}, labels: {version: v2}}\n")
	SE6("mixed", VIP6_MIXED, 9000, "  endpoints: [{address: " BE1 "}]\n")
	SE6("empty", VIP6_EMPTY, 9000, "")
	SE6("fwd", VIP6_FWD, 9300, "  endpoints: [{address: \"" BE6_FWD "\", ports: {tcp: 9000}}]\n")
	SE6("v4", VIP, 9000, "  endpoints: [{address: " BE1 "}]\n")
	FX_S1_ROUTE;

/* The policy with weights w1/w2, compiled and applied as the next
 * generation. */
static int policy6_gen(struct fx_env *e, uint32_t w1, uint32_t w2)
{
	return fx_apply_weights(e, policy6_fmt, w1, w2);
}

static int run_fixture6(struct fx_env *e, const struct fixture6 *f)
{
	uint8_t in[FX_MAXPKT], want[FX_MAXPKT];
	size_t len = fx6_build(in, &f->in), wlen = 0;
	const struct fx_tcp6 *c;
	int v;

	if (f->out == OUT_EXPECT)
		wlen = fx6_build(want, &f->expect);
	if (!fx_run_fixture(e, f->prog, in, len, f->mutate, f->trunc, f->verdict, f->out, want,
			    wlen, fx6_csum_ok, f->counter))
		return 0;
	if (f->ct_state >= 0) {
		c = f->prog != P_TC ? &f->in : &f->expect;
		v = f->prog != P_TC ? ct6_state_of(e, c->src, c->sport, c->dst, c->dport)
				    : ct6_state_of(e, c->dst, c->dport, c->src, c->sport);
		if (v != f->ct_state) {
			printf("# conntrack state %d, want %d\n", v, f->ct_state);
			return 0;
		}
	}
	return 1;
}

/* S1 over IPv6 at the packet level: 10,000 SYNs over an 80/20 route, v2
 * 20% +- 1.5 points; every output's TCP checksum valid; and each flow has
 * its two sluice_ct6 entries (the REPLY half checked on a sample). */
static int split6_80_20(struct fx_env *e)
{
	uint8_t in[FX_MAXPKT], out[FX_MAXPKT + 64], be2[16];
	struct fx_tcp6 t = SYN6("fd00:5c:9::3", 0, VIP6, 9000);
	struct sluice_ct6_key rk = { .sport = htons(9000), .proto = IPPROTO_TCP,
				     .dir = SLUICE_CT_REPLY };
	struct sluice_ct6 rv;
	int n = 10000, v2 = 0, i, reply_ok = 0;

	if (policy6_gen(e, 80, 20))
		return 0;
	inet_pton(AF_INET6, BE6_2, be2);
	for (i = 0; i < n; i++) {
		size_t olen = sizeof(out), len;
		const struct ipv6hdr *ip6 = (const void *)(out + 14);

		t.sport = (uint16_t)(10000 + i);
		len = fx6_build(in, &t);
		if (fx_run(bpf_program__fd(e->xdp->progs.sluice_xdp), in, len, out, &olen, 1,
			   NULL) != XDP_PASS || !fx6_csum_ok(out, olen))
			return 0;
		v2 += !memcmp(&ip6->daddr, be2, 16);
		if (i % 1000 == 0) {
			memcpy(rk.saddr, &ip6->daddr, 16);
			inet_pton(AF_INET6, t.src, rk.daddr);
			rk.dport = htons(t.sport);
			reply_ok += !bpf_map_lookup_elem(fx_map_fd(e, SL_MAP_CT6), &rk, &rv) &&
				    rv.port == htons(9000);
		}
	}
	printf("# IPv6: v2 share %.2f%% of %d new flows, %d/10 REPLY entries\n",
	       100.0 * v2 / n, n, reply_ok);
	return v2 >= 1850 && v2 <= 2150 && reply_ok == 10;
}

/* The IPv6 forward path: a veth with fd00:5c:2::fe/64 and a permanent
 * neighbour for BE6_FWD, IPv6 forwarding on (this private netns only): a
 * SYN and an ACK to VIP6_FWD come out XDP_REDIRECT, DNATed, hop limit - 1,
 * the next hop's MACs, TCP checksum valid. */
static int forward_path6(struct fx_env *e)
{
	static const uint8_t nh_mac[6] = { 2, 0, 0, 0, 0, 0x0d }, our_mac[6] = { 2, 0, 0, 0, 0, 0x0c };
	uint8_t in[FX_MAXPKT], want[FX_MAXPKT], out[FX_MAXPKT + 64];
	int xdp = bpf_program__fd(e->xdp->progs.sluice_xdp), ack;
	struct fx_tcp6 t = SYN6(CL6, 43000, VIP6_FWD, 9300), w;

	if (system("ip link add fxc address 02:00:00:00:00:0c type veth peer name fxd && "
		   "ip link set fxc up && ip link set fxd up && "
		   "ip -6 addr add fd00:5c:2::fe/64 dev fxc nodad && "
		   "ip -6 neigh replace " BE6_FWD " lladdr 02:00:00:00:00:0d dev fxc nud permanent && "
		   "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding") ||
	    fx_allow_redirect(e, "fxc"))
		return 0;
	for (ack = 0; ack < 2; ack++) {
		size_t olen = sizeof(out), len, wlen;

		t.flags = ack ? FX_ACK : FX_SYN;
		t.payload = ack ? 20 : 0;
		len = fx6_build(in, &t);
		if (fx_run(xdp, in, len, out, &olen, 1, NULL) != XDP_REDIRECT) {
			printf("# %s not redirected\n", ack ? "ACK" : "SYN");
			return 0;
		}
		w = t;
		w.dst = BE6_FWD;
		w.dport = 9000;
		w.hop = 63;
		wlen = fx6_build(want, &w);
		memcpy(want, nh_mac, 6);
		memcpy(want + 6, our_mac, 6);
		if (!fx6_csum_ok(out, olen) || olen != wlen || memcmp(want, out, wlen))
			return 0;
	}
	return 1;
}

/* Runs the IPv6 part: one check (tap) per fixture, then the split and the
 * redirect path. */
static void run_ipv6(struct fx_env *e)
{
	size_t i, n = sizeof(fixtures6) / sizeof(fixtures6[0]);

	if (policy6_gen(e, 100, 0)) {
		tap(0, "write the first IPv6 generation");
		return;
	}
	for (i = 0; i < n; i++)
		tap(!(fixtures6[i].action == ACT_WEIGHTS_0_100 && policy6_gen(e, 0, 100)) &&
		    run_fixture6(e, &fixtures6[i]), "%s", fixtures6[i].name);
	tap(split6_80_20(e), "xdp6: 80/20 route over 10000 new IPv6 flows within 1.5 points, two "
	    "entries per flow");
	tap(forward_path6(e), "xdp6: redirect path: SYN and ACK DNATed with hop limit - 1, "
	    "next-hop MACs, valid checksum");
}

int main(void)
{
	struct fx_env e;
	int err;

	if (geteuid() != 0)
		return tap_skip("needs root");
	tap_plan((int)(1 + sizeof(fixtures6) / sizeof(fixtures6[0]) + 2));
	err = fx_open(&e, 1, 0);
	if (!tap(!err, "load xdp/tc objects")) {
		printf("# fx_open: %d\n", err);
		return 1;
	}
	run_ipv6(&e);
	fx_close(&e);
	return tap_status();
}
