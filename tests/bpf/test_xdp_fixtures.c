// SPDX-License-Identifier: Apache-2.0
/*
 * Table-driven BPF_PROG_TEST_RUN fixtures for the north-south programs
 * (bpf/xdp.bpf.c, bpf/tc.bpf.c): {name, program, input packet, expected
 * verdict, expected output packet, counter}. Runs as root in a private
 * network namespace with a private pin root; no traffic leaves the test.
 *
 * Fixtures are stateful and run in order (conntrack carries over). Expected
 * output packets are built from scratch with fresh checksums, and every
 * rewritten packet's checksums are also verified independently, so an error
 * in the programs' incremental checksum updates cannot hide. TAP output.
 * The IPv6 fixtures are in test_xdp_fixtures6.c.
 */
#include "xdp_fixture6.h"


#define VIP "198.18.0.10"
#define VIP_EMPTY "198.18.0.11"
#define BE1 "198.18.1.1"
#define BE2 "198.18.1.2"
#define CL "10.0.0.1"
#define VIP_S3 "127.100.0.14"	/* split_tables: three subsets */
#define BE_S3 "198.18.3."

struct fixture {
	const char *name;
	int action;			/* policy change applied before this packet */
	int prog;
	struct fx_tcp in;
	size_t trunc;			/* truncate the input frame to this length */
	void (*mutate)(uint8_t *frame);	/* make it malformed */
	int verdict;
	int out;
	struct fx_tcp expect;
	int counter;			/* must grow by one; -1 = none checked */
	int ct_state;			/* FWD entry state after, -1 = unchecked */
};

static void m_ihl15(uint8_t *f) { ((struct iphdr *)(f + 14))->ihl = 15; }
static void m_ihl4(uint8_t *f) { ((struct iphdr *)(f + 14))->ihl = 4; }
static void m_totlen_short(uint8_t *f) { ((struct iphdr *)(f + 14))->tot_len = htons(30); }
static void m_totlen_long(uint8_t *f) { ((struct iphdr *)(f + 14))->tot_len = htons(1500); }
static void m_version6(uint8_t *f) { ((struct iphdr *)(f + 14))->version = 6; }
static void m_doff15(uint8_t *f) { ((struct tcphdr *)(f + 34))->doff = 15; }
static void m_doff2(uint8_t *f) { ((struct tcphdr *)(f + 34))->doff = 2; }
static void m_arp(uint8_t *f) { ((struct ethhdr *)f)->h_proto = htons(ETH_P_ARP); }
static void m_ipv6(uint8_t *f) { ((struct ethhdr *)f)->h_proto = htons(ETH_P_IPV6); }

#define SYN_IN(s, sp, d, dp) { .src = s, .sport = sp, .dst = d, .dport = dp, .flags = FX_SYN }

static const struct fixture fixtures[] = {
	{ "xdp: SYN to VIP -> DNAT to the 100% subset, valid checksums", 0, P_XDP,
	  SYN_IN(CL, 40000, VIP, 9000), 0, NULL, XDP_PASS, OUT_EXPECT,
	  SYN_IN(CL, 40000, BE1, 9000), SLUICE_CNT_XDP_NEW_FLOW, SLUICE_CT_SYN_SENT },
	{ "tc: SYN-ACK from backend reverse-NATed to the VIP", 0, P_TC,
	  { .src = BE1, .sport = 9000, .dst = CL, .dport = 40000, .flags = FX_SYN | FX_ACK },
	  0, NULL, TC_ACT_OK, OUT_EXPECT,
	  { .src = VIP, .sport = 9000, .dst = CL, .dport = 40000, .flags = FX_SYN | FX_ACK },
	  SLUICE_CNT_TC_REVNAT, -1 },
	{ "xdp: established flow (ACK + data) follows conntrack", 0, P_XDP,
	  { .src = CL, .sport = 40000, .dst = VIP, .dport = 9000, .flags = FX_ACK, .payload = 100 },
	  0, NULL, XDP_PASS, OUT_EXPECT,
	  { .src = CL, .sport = 40000, .dst = BE1, .dport = 9000, .flags = FX_ACK, .payload = 100 },
	  SLUICE_CNT_XDP_ESTABLISHED, SLUICE_CT_ESTABLISHED },
	{ "xdp: established flow keeps its backend after weights 0/100", ACT_WEIGHTS_0_100, P_XDP,
	  { .src = CL, .sport = 40000, .dst = VIP, .dport = 9000, .flags = FX_ACK | FX_PSH, .payload = 7 },
	  0, NULL, XDP_PASS, OUT_EXPECT,
	  { .src = CL, .sport = 40000, .dst = BE1, .dport = 9000, .flags = FX_ACK | FX_PSH, .payload = 7 },
	  SLUICE_CNT_XDP_ESTABLISHED, -1 },
	{ "xdp: new SYN after the weight change goes to v2", 0, P_XDP,
	  SYN_IN(CL, 40001, VIP, 9000), 0, NULL, XDP_PASS, OUT_EXPECT,
	  SYN_IN(CL, 40001, BE2, 9000), SLUICE_CNT_XDP_NEW_FLOW, -1 },
	{ "tc: packet of a flow we did not NAT is untouched", 0, P_TC,
	  { .src = BE1, .sport = 9000, .dst = "10.0.0.9", .dport = 5555, .flags = FX_ACK },
	  0, NULL, TC_ACT_OK, OUT_SAME, {0}, -1, -1 },
	{ "xdp: non-VIP traffic untouched", 0, P_XDP,
	  SYN_IN(CL, 40002, "10.9.9.9", 9000), 0, NULL, XDP_PASS, OUT_SAME, {0},
	  SLUICE_CNT_XDP_PASS, -1 },
	{ "xdp: VIP on a port that is not a service untouched", 0, P_XDP,
	  SYN_IN(CL, 40003, VIP, 9001), 0, NULL, XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_PASS, -1 },
	{ "xdp: non-SYN to VIP without conntrack passes untouched, counted", 0, P_XDP,
	  { .src = "10.0.0.2", .sport = 1234, .dst = VIP, .dport = 9000, .flags = FX_ACK },
	  0, NULL, XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_NO_CT, -1 },
	{ "xdp: UDP to VIP untouched", 0, P_XDP,
	  { .src = CL, .sport = 40004, .dst = VIP, .dport = 9000, .proto = IPPROTO_UDP },
	  0, NULL, XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_PASS, -1 },
	{ "xdp: SYN with IP options DNATed, options kept", 0, P_XDP,
	  { .src = CL, .sport = 40005, .dst = VIP, .dport = 9000, .flags = FX_SYN, .ipopt_len = 8 },
	  0, NULL, XDP_PASS, OUT_EXPECT,
	  { .src = CL, .sport = 40005, .dst = BE2, .dport = 9000, .flags = FX_SYN, .ipopt_len = 8 },
	  SLUICE_CNT_XDP_NEW_FLOW, -1 },
	{ "xdp: first fragment (MF) to VIP passes untouched", 0, P_XDP,
	  { .src = CL, .sport = 40006, .dst = VIP, .dport = 9000, .flags = FX_SYN, .frag = 0x2000 },
	  0, NULL, XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_FRAGMENT, -1 },
	{ "xdp: later fragment (offset) to VIP passes untouched", 0, P_XDP,
	  { .src = CL, .sport = 40006, .dst = VIP, .dport = 9000, .flags = FX_SYN, .frag = 0x0010 },
	  0, NULL, XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_FRAGMENT, -1 },
	{ "xdp: Ethernet + 1 byte of IP -> malformed, pass", 0, P_XDP, SYN_IN(CL, 1, VIP, 9000), 15, NULL,
	  XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp: Ethernet header only -> malformed, pass", 0, P_XDP, SYN_IN(CL, 1, VIP, 9000), 14,
	  NULL, XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp: half an IP header -> malformed, pass", 0, P_XDP, SYN_IN(CL, 1, VIP, 9000), 24,
	  NULL, XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp: TCP header cut short -> malformed, pass", 0, P_XDP, SYN_IN(CL, 1, VIP, 9000), 44,
	  NULL, XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp: ihl 15 beyond the packet -> malformed, pass", 0, P_XDP, SYN_IN(CL, 1, VIP, 9000),
	  0, m_ihl15, XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp: ihl 4 -> malformed, pass", 0, P_XDP, SYN_IN(CL, 1, VIP, 9000), 0, m_ihl4,
	  XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp: tot_len shorter than headers -> malformed, pass", 0, P_XDP,
	  SYN_IN(CL, 1, VIP, 9000), 0, m_totlen_short, XDP_PASS, OUT_SAME, {0},
	  SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp: tot_len longer than the frame -> malformed, pass", 0, P_XDP,
	  SYN_IN(CL, 1, VIP, 9000), 0, m_totlen_long, XDP_PASS, OUT_SAME, {0},
	  SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp: IP version 6 under an IPv4 ethertype -> malformed, pass", 0, P_XDP,
	  SYN_IN(CL, 1, VIP, 9000), 0, m_version6, XDP_PASS, OUT_SAME, {0},
	  SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp: TCP doff 15 beyond the packet -> malformed, pass", 0, P_XDP,
	  SYN_IN(CL, 1, VIP, 9000), 0, m_doff15, XDP_PASS, OUT_SAME, {0},
	  SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp: TCP doff 2 -> malformed, pass", 0, P_XDP, SYN_IN(CL, 1, VIP, 9000), 0, m_doff2,
	  XDP_PASS, OUT_SAME, {0}, SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "xdp: ARP untouched", 0, P_XDP, SYN_IN(CL, 1, VIP, 9000), 0, m_arp, XDP_PASS, OUT_SAME,
	  {0}, SLUICE_CNT_XDP_PASS, -1 },
	{ "xdp: an IPv4 packet under the IPv6 ethertype -> malformed, pass", 0, P_XDP,
	  SYN_IN(CL, 1, VIP, 9000), 0, m_ipv6, XDP_PASS, OUT_SAME, {0},
	  SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "tc: FIN from the backend moves the flow to CLOSING", 0, P_TC,
	  { .src = BE1, .sport = 9000, .dst = CL, .dport = 40000, .flags = FX_FIN | FX_ACK },
	  0, NULL, TC_ACT_OK, OUT_EXPECT,
	  { .src = VIP, .sport = 9000, .dst = CL, .dport = 40000, .flags = FX_FIN | FX_ACK },
	  SLUICE_CNT_TC_REVNAT, SLUICE_CT_CLOSING },
	{ "xdp: client RST is DNATed and tears the flow down", 0, P_XDP,
	  { .src = CL, .sport = 40000, .dst = VIP, .dport = 9000, .flags = FX_RST | FX_ACK },
	  0, NULL, XDP_PASS, OUT_EXPECT,
	  { .src = CL, .sport = 40000, .dst = BE1, .dport = 9000, .flags = FX_RST | FX_ACK },
	  SLUICE_CNT_CT_CLOSED, SLUICE_CT_CLOSED },
	{ "xdp: SYN reusing a closed flow's port is chosen anew (v2 now)", 0, P_XDP,
	  SYN_IN(CL, 40000, VIP, 9000), 0, NULL, XDP_PASS, OUT_EXPECT,
	  SYN_IN(CL, 40000, BE2, 9000), SLUICE_CNT_XDP_NEW_FLOW, SLUICE_CT_SYN_SENT },
	{ "xdp: SYN to a service without endpoints dropped, counted", 0, P_XDP,
	  SYN_IN(CL, 40007, VIP_EMPTY, 9000), 0, NULL, XDP_DROP, OUT_NONE, {0},
	  SLUICE_CNT_XDP_NO_BACKEND, -1 },
	/* the TC ingress fallback: same decisions, skb rewrite (weights 0/100 now) */
	{ "tc ingress: SYN to VIP -> DNAT to v2, valid checksums", 0, P_TCI,
	  SYN_IN(CL, 41000, VIP, 9000), 0, NULL, TC_ACT_OK, OUT_EXPECT,
	  SYN_IN(CL, 41000, BE2, 9000), SLUICE_CNT_XDP_NEW_FLOW, SLUICE_CT_SYN_SENT },
	{ "tc: SYN-ACK of the fallback's flow reverse-NATed", 0, P_TC,
	  { .src = BE2, .sport = 9000, .dst = CL, .dport = 41000, .flags = FX_SYN | FX_ACK },
	  0, NULL, TC_ACT_OK, OUT_EXPECT,
	  { .src = VIP, .sport = 9000, .dst = CL, .dport = 41000, .flags = FX_SYN | FX_ACK },
	  SLUICE_CNT_TC_REVNAT, SLUICE_CT_ESTABLISHED },
	{ "tc ingress: established flow (ACK + data) follows conntrack", 0, P_TCI,
	  { .src = CL, .sport = 41000, .dst = VIP, .dport = 9000, .flags = FX_ACK, .payload = 100 },
	  0, NULL, TC_ACT_OK, OUT_EXPECT,
	  { .src = CL, .sport = 41000, .dst = BE2, .dport = 9000, .flags = FX_ACK, .payload = 100 },
	  SLUICE_CNT_XDP_ESTABLISHED, SLUICE_CT_ESTABLISHED },
	{ "tc ingress: non-VIP traffic untouched", 0, P_TCI,
	  SYN_IN(CL, 41001, "10.9.9.9", 9000), 0, NULL, TC_ACT_OK, OUT_SAME, {0},
	  SLUICE_CNT_XDP_PASS, -1 },
	{ "tc ingress: non-SYN to VIP without conntrack passes untouched", 0, P_TCI,
	  { .src = "10.0.0.3", .sport = 1234, .dst = VIP, .dport = 9000, .flags = FX_ACK },
	  0, NULL, TC_ACT_OK, OUT_SAME, {0}, SLUICE_CNT_XDP_NO_CT, -1 },
	{ "tc ingress: TCP header cut short -> malformed, untouched", 0, P_TCI,
	  SYN_IN(CL, 1, VIP, 9000), 44, NULL, TC_ACT_OK, OUT_SAME, {0},
	  SLUICE_CNT_XDP_MALFORMED, -1 },
	{ "tc ingress: SYN to a service without endpoints dropped", 0, P_TCI,
	  SYN_IN(CL, 41002, VIP_EMPTY, 9000), 0, NULL, TC_ACT_SHOT, OUT_NONE, {0},
	  SLUICE_CNT_XDP_NO_BACKEND, -1 },
};

static int ct_state_of(struct fx_env *e, const struct fx_tcp *t)
{
	struct sluice_ct4_key k = { .proto = IPPROTO_TCP, .dir = SLUICE_CT_FWD };
	struct sluice_ct4 v;

	inet_pton(AF_INET, t->src, &k.saddr);
	inet_pton(AF_INET, t->dst, &k.daddr);
	k.sport = htons(t->sport);
	k.dport = htons(t->dport);
	if (bpf_map_lookup_elem(fx_map_fd(e, SL_MAP_CT4), &k, &v))
		return -1;
	return v.state;
}

/* The policy of every generation: S1 at VIP:9000, and at VIP:9100..9104
 * (rev_slots) with the same route, backends on port 9000: a route
 * W1/W2 over subsets v1 (BE1, RANDOM) and v2 (BE2, ROUND_ROBIN); "empty"
 * at VIP_EMPTY:9000 has no endpoints. */
#define EP_PORTS "{tcp: 9000, t0: 9000, t1: 9000, t2: 9000, t3: 9000, t4: 9000}"
static const char policy_fmt[] =
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: ServiceEntry\n"
	"metadata: {name: s1, namespace: fx}\n"
	"spec:\n"
	"  hosts: [s1.fx.svc.cluster.local]\n"
	"  addresses: [" VIP "]\n"
	"  ports: [{number: 9000, name: tcp, protocol: TCP}, {number: 9100, name: t0, protocol: TCP},\n"
	"          {number: 9101, name: t1, protocol: TCP}, {number: 9102, name: t2, protocol: TCP},\n"
	"          {number: 9103, name: t3, protocol: TCP}, {number: 9104, name: t4, protocol: TCP}]\n"
	"  resolution: STATIC\n"
	"  endpoints:\n"
	"  - {address: " BE1 ", ports: " EP_PORTS ", labels: {version: v1}}\n"
	"  - {address: " BE2 ", ports: " EP_PORTS ", labels: {version: v2}}\n"
	"---\n"
	FX_S1_ROUTE
	"---\n"
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: ServiceEntry\n"
	"metadata: {name: empty, namespace: fx}\n"
	"spec:\n"
	"  hosts: [empty.fx.svc.cluster.local]\n"
	"  addresses: [" VIP_EMPTY "]\n"
	"  ports: [{number: 9000, name: tcp, protocol: TCP}]\n"
	"  resolution: STATIC\n"
	"---\n"
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: ServiceEntry\n"
	"metadata: {name: s3, namespace: fx}\n"
	"spec:\n"
	"  hosts: [s3.fx.svc.cluster.local]\n"
	"  addresses: [" VIP_S3 "]\n"
	"  ports: [{number: 9000, name: tcp, protocol: TCP}]\n"
	"  resolution: STATIC\n"
	"  endpoints:\n"
	"  - {address: " BE_S3 "1, labels: {version: a}}\n"
	"  - {address: " BE_S3 "2, labels: {version: b}}\n"
	"  - {address: " BE_S3 "3, labels: {version: c}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: DestinationRule\n"
	"metadata: {name: s3, namespace: fx}\n"
	"spec:\n"
	"  host: s3.fx.svc.cluster.local\n"
	"  subsets: [{name: a, labels: {version: a}}, {name: b, labels: {version: b}},\n"
	"            {name: c, labels: {version: c}}]\n"
	"---\n"
	"apiVersion: networking.istio.io/v1beta1\n"
	"kind: VirtualService\n"
	"metadata: {name: s3, namespace: fx}\n"
	"spec:\n"
	"  hosts: [s3.fx.svc.cluster.local]\n"
	"  tcp:\n"
	"  - route:\n"
	"    - {destination: {host: s3.fx.svc.cluster.local, subset: a}, weight: 50}\n"
	"    - {destination: {host: s3.fx.svc.cluster.local, subset: b}, weight: 30}\n"
	"    - {destination: {host: s3.fx.svc.cluster.local, subset: c}, weight: 20}\n";

/* The policy with weights w1/w2, compiled and applied as the next
 * generation. */
static int policy_gen(struct fx_env *e, uint32_t w1, uint32_t w2)
{
	return fx_apply_weights(e, policy_fmt, w1, w2);
}

static int run_fixture(struct fx_env *e, const struct fixture *f)
{
	uint8_t in[FX_MAXPKT], want[FX_MAXPKT];
	size_t len = fx_build(in, &f->in), wlen = 0;

	if (f->out == OUT_EXPECT)
		wlen = fx_build(want, &f->expect);
	if (!fx_run_fixture(e, f->prog, in, len, f->mutate, f->trunc, f->verdict, f->out, want,
			    wlen, fx_csums_ok, f->counter))
		return 0;
	if (f->ct_state >= 0) {
		/* the FWD key is the client -> VIP tuple */
		const struct fx_tcp *c = f->prog != P_TC ? &f->in : &f->expect;
		struct fx_tcp k = *c;

		if (f->prog == P_TC) {
			k.src = c->dst, k.sport = c->dport;
			k.dst = c->src, k.dport = c->sport;
		}
		if (ct_state_of(e, &k) != f->ct_state) {
			printf("# conntrack state %d, want %d\n", ct_state_of(e, &k), f->ct_state);
			return 0;
		}
	}
	return 1;
}

/* Run prog on a packet built from t; 1 when the verdict is want and, for
 * rewritten packets, the output equals the packet built from expect (with
 * valid checksums). */
static int run_expect(int prog, const struct fx_tcp *t, int want,
		      const struct fx_tcp *expect)
{
	uint8_t in[FX_MAXPKT], exp[FX_MAXPKT], out[FX_MAXPKT + 64];
	size_t len = fx_build(in, t), olen = sizeof(out), elen;

	if (fx_run(prog, in, len, out, &olen, 1, NULL) != want)
		return 0;
	if (!expect)
		return olen == len && !memcmp(in, out, len);
	elen = fx_build(exp, expect);
	return fx_csums_ok(out, olen) && olen == elen && !memcmp(exp, out, elen);
}

static int ct_has(struct fx_env *e, const char *src, uint16_t sport, const char *dst,
		  uint16_t dport, uint8_t dir)
{
	struct sluice_ct4_key k = { .proto = IPPROTO_TCP, .dir = dir };
	struct sluice_ct4 v;

	inet_pton(AF_INET, src, &k.saddr);
	inet_pton(AF_INET, dst, &k.daddr);
	k.sport = htons(sport);
	k.dport = htons(dport);
	return !bpf_map_lookup_elem(fx_map_fd(e, SL_MAP_CT4), &k, &v);
}

/* One conntrack entry per flow; replies find it through the backend's
 * sluice_ct4_rev slots. BE2 (the 100% subset now) serves VIP:9000 already;
 * VIP:9100..9104 (the same route, policy_fmt) fill its other 3 slots and then overflow
 * twice: those flows get a REPLY entry as well. Every reply must come back
 * from the right VIP:port, state changes must reach both halves of a
 * two-entry flow, and a backend's packet to a client port whose flow went
 * elsewhere must stay untouched. Four checks (tap). */
static void rev_slots(struct fx_env *e)
{
	int xdp = bpf_program__fd(e->xdp->progs.sluice_xdp);
	int tc = bpf_program__fd(e->tc->progs.sluice_tc_revnat);
	int ok, i;

	/* the flows: client port 42000 + i to VIP:9100 + i, all on BE2 */
	ok = 1;
	for (i = 0; i < 5 && ok; i++) {
		struct fx_tcp t = SYN_IN(CL, (uint16_t)(42000 + i), VIP, (uint16_t)(9100 + i));
		struct fx_tcp w = SYN_IN(CL, (uint16_t)(42000 + i), BE2, (uint16_t)(9000));

		ok = run_expect(xdp, &t, XDP_PASS, &w);
	}
	/* 3 fit in BE2's free slots: FWD only; the last 2 overflow: + REPLY */
	for (i = 0; i < 5 && ok; i++)
		ok = ct_has(e, CL, (uint16_t)(42000 + i), VIP, (uint16_t)(9100 + i),
			    SLUICE_CT_FWD) &&
		     ct_has(e, BE2, 9000, CL, (uint16_t)(42000 + i), SLUICE_CT_REPLY) == (i >= 3);
	tap(ok, "xdp: one conntrack entry per flow, a REPLY entry only past the "
	    "backend's %d VIP:port slots", SLUICE_CT4_REV_SLOTS);

	/* SYN-ACKs: each from its own VIP:port, each flow ESTABLISHED */
	ok = 1;
	for (i = 0; i < 5 && ok; i++) {
		struct fx_tcp t = { .src = BE2, .sport = 9000, .dst = CL,
				    .dport = (uint16_t)(42000 + i), .flags = FX_SYN | FX_ACK };
		struct fx_tcp w = t;
		struct fx_tcp k = { .src = CL, .sport = t.dport, .dst = VIP,
				    .dport = (uint16_t)(9100 + i) };

		w.src = VIP;
		w.sport = (uint16_t)(9100 + i);
		ok = run_expect(tc, &t, TC_ACT_OK, &w) &&
		     ct_state_of(e, &k) == SLUICE_CT_ESTABLISHED;
	}
	tap(ok, "tc: SYN-ACKs of 5 VIP:ports on one backend reverse-NATed to their own "
	    "VIP:port (slots and REPLY fallback)");

	/* a backend FIN on the two-entry flow reaches its FWD half */
	{
		struct fx_tcp t = { .src = BE2, .sport = 9000, .dst = CL, .dport = 42004,
				    .flags = FX_FIN | FX_ACK };
		struct fx_tcp w = t, k = { .src = CL, .sport = 42004, .dst = VIP, .dport = 9104 };

		w.src = VIP;
		w.sport = 9104;
		ok = run_expect(tc, &t, TC_ACT_OK, &w) &&
		     ct_state_of(e, &k) == SLUICE_CT_CLOSING;
		tap(ok, "tc: FIN of a two-entry flow reverse-NATed, its FWD half CLOSING");
	}

	/* CL:42000 -> VIP:9100 went to BE2: BE1's packet to CL:42000 from
	 * port 9000 is not that flow's reply (BE1 has slots for VIP:9000) */
	{
		struct fx_tcp t = { .src = BE1, .sport = 9000, .dst = CL, .dport = 42000,
				    .flags = FX_ACK };

		ok = run_expect(tc, &t, TC_ACT_OK, NULL);
		tap(ok, "tc: a backend's packet to a client port whose flow went to another "
		    "backend is untouched");
	}
}

/* S1 at the packet level: 10,000 SYNs from distinct ports over an 80/20
 * route; the v2 share must be 20% +- 1.5 points (about 4 sigma). */
static int split_80_20(struct fx_env *e)
{
	uint8_t in[FX_MAXPKT], out[FX_MAXPKT + 64];
	struct fx_tcp t = SYN_IN("10.0.1.1", 0, VIP, 9000);
	int n = 10000, v2 = 0;
	uint32_t be2;

	if (policy_gen(e, 80, 20))
		return 0;
	inet_pton(AF_INET, BE2, &be2);
	for (int i = 0; i < n; i++) {
		size_t olen = sizeof(out), len;

		t.sport = (uint16_t)(10000 + i);
		len = fx_build(in, &t);
		if (fx_run(bpf_program__fd(e->xdp->progs.sluice_xdp), in, len, out, &olen, 1,
			   NULL) != XDP_PASS)
			return 0;
		v2 += ((struct iphdr *)(out + 14))->daddr == be2;
	}
	printf("# v2 share %.2f%% of %d new flows\n", 100.0 * v2 / n, n);
	return v2 >= 1850 && v2 <= 2150;
}

/* The draw through the tables: service s3's route is 50/30/20 over three
 * subsets, more than the svc entry holds copies of
 * (SLUICE_SVC_INLINE_SUBSETS), so compile_l4 writes no subset copies and
 * XDP reads sluice_subset and sluice_backend. 10,000 SYNs: each share
 * within 2 points (4 sigma for the 50% one). */
static int split_tables(struct fx_env *e)
{
	uint8_t in[FX_MAXPKT], out[FX_MAXPKT + 64];
	struct fx_tcp t = SYN_IN("10.0.3.1", 0, VIP_S3, 9000);
	struct sluice_svc_key k = { .port = htons(9000), .proto = IPPROTO_TCP };
	struct sluice_svc v;
	const int want[3] = { 5000, 3000, 2000 };
	int n = 10000, cnt[3] = { 0 }, i, j;
	uint32_t a[3];

	if (policy_gen(e, 80, 20))
		return 0;
	k.gen = sl_dp_generation(e->dp);
	fx_v4mapped(k.addr, VIP_S3);
	if (bpf_map_lookup_elem(fx_map_fd(e, SL_MAP_SVC), &k, &v) ||
	    (v.flags & SLUICE_SVC_SUBSET_INLINE)) {
		printf("# s3's svc entry: flags %#x (want no subset copies)\n", v.flags);
		return 0;
	}
	for (j = 0; j < 3; j++) {
		char ip[32];

		snprintf(ip, sizeof(ip), BE_S3 "%d", j + 1);
		inet_pton(AF_INET, ip, &a[j]);
	}
	for (i = 0; i < n; i++) {
		size_t olen = sizeof(out), len;

		t.sport = (uint16_t)(10000 + i);
		len = fx_build(in, &t);
		if (fx_run(bpf_program__fd(e->xdp->progs.sluice_xdp), in, len, out, &olen, 1,
			   NULL) != XDP_PASS || !fx_csums_ok(out, olen))
			return 0;
		for (j = 0; j < 3; j++)
			cnt[j] += ((struct iphdr *)(out + 14))->daddr == a[j];
	}
	printf("# tables: %d / %d / %d of %d new flows\n", cnt[0], cnt[1], cnt[2], n);
	for (j = 0; j < 3; j++)
		if (abs(cnt[j] - want[j]) > 200)
			return 0;
	return cnt[0] + cnt[1] + cnt[2] == n;
}

/* The same draw from the copies compile_l4 puts into the svc entry
 * (SLUICE_SVC_ROUTE_INLINE | SUBSET_INLINE, backends inline in the subset
 * copies): 80/20 over 10,000 SYNs, and the 20% subset's ROUND_ROBIN cursor
 * (advanced in the copy) alternating its two backends exactly. The tables'
 * own entries name other backends (BE1/BE2), so a lookup instead of the
 * copies would show. */
static int split_inline(struct fx_env *e)
{
	static const char *const be[3] = { "198.18.2.1", "198.18.2.2", "198.18.2.3" };
	uint8_t in[FX_MAXPKT], out[FX_MAXPKT + 64];
	struct fx_tcp t = SYN_IN("10.0.2.1", 0, VIP, 9200);
	struct sluice_svc_key k = { .port = htons(9200), .proto = IPPROTO_TCP };
	struct sluice_svc v = { .svc_sid = 7, .nroutes = 1,
				.flags = SLUICE_SVC_ROUTE_INLINE | SLUICE_SVC_SUBSET_INLINE };
	uint32_t subsets[2] = { 0, 1 }, weights[2] = { 80, 20 }, a[3];
	int n = 10000, cnt[3] = { 0 }, i, j;

	/* the tables: subset 0 = BE1, subset 1 = BE2 (not what the copies say) */
	if (policy_gen(e, 80, 20))
		return 0;
	k.gen = sl_dp_generation(e->dp);	/* beside the live generation's entries */
	v.route.ndests = 2;
	v.route.total = 100;
	for (i = 0; i < 2; i++) {
		v.route.dests[i].subset_id = subsets[i];
		v.route.dests[i].cum_weight = i ? 100 : weights[0];
		v.sub[i].svc_sid = 7;
		v.sub[i].subset_sid = 100 + subsets[i];
		v.sub[i].lb = i ? SLUICE_LB_ROUND_ROBIN : SLUICE_LB_RANDOM;
		v.sub[i].nbackends = (uint16_t)(i + 1);
	}
	for (i = 0; i < 3; i++) {
		struct sluice_backend *b = &v.sub[i ? 1 : 0].inl[i ? i - 1 : 0];

		fx_v4mapped(b->addr, be[i]);
		b->port = htons(9000);
		b->weight = 1;
		inet_pton(AF_INET, be[i], &a[i]);
	}
	fx_v4mapped(k.addr, VIP);
	if (bpf_map_update_elem(fx_map_fd(e, SL_MAP_SVC), &k, &v, BPF_ANY))
		return 0;
	for (i = 0; i < n; i++) {
		size_t olen = sizeof(out), len;

		t.sport = (uint16_t)(10000 + i);
		len = fx_build(in, &t);
		if (fx_run(bpf_program__fd(e->xdp->progs.sluice_xdp), in, len, out, &olen, 1,
			   NULL) != XDP_PASS || !fx_csums_ok(out, olen))
			return 0;
		for (j = 0; j < 3; j++)
			cnt[j] += ((struct iphdr *)(out + 14))->daddr == a[j];
	}
	printf("# inline copies: %d / %d / %d of %d new flows\n", cnt[0], cnt[1], cnt[2], n);
	return cnt[0] + cnt[1] + cnt[2] == n && cnt[1] + cnt[2] >= 1850 &&
	       cnt[1] + cnt[2] <= 2150 && abs(cnt[1] - cnt[2]) <= 1;
}

/* The forward path (XDP_REDIRECT): in this private netns a veth with a
 * permanent neighbour for the 80% backend of the inline service, so the
 * fib lookup succeeds. A SYN that lands there and then an ACK of its flow
 * (next hop cached) must come out DNATed, TTL - 1, MACs of the next hop,
 * both checksums valid: the combined DNAT + TTL update is checked against
 * a packet built from scratch. Runs last: other fixtures expect no next
 * hop (XDP_PASS). */
static int forward_path(struct fx_env *e)
{
	static const uint8_t nh_mac[6] = { 2, 0, 0, 0, 0, 0x0b }, our_mac[6] = { 2, 0, 0, 0, 0, 0x0a };
	uint8_t in[FX_MAXPKT], want[FX_MAXPKT], out[FX_MAXPKT + 64];
	int xdp = bpf_program__fd(e->xdp->progs.sluice_xdp), i, found = 0;
	struct fx_tcp t = SYN_IN("10.0.3.1", 0, VIP, 9200), w;

	if (system("ip link add fxa address 02:00:00:00:00:0a type veth peer name fxb && "
		   "ip link set fxa up && ip link set fxb up && "
		   "ip addr add 198.18.2.254/24 dev fxa && "
		   "ip neigh replace 198.18.2.1 lladdr 02:00:00:00:00:0b dev fxa nud permanent && "
		   "echo 1 > /proc/sys/net/ipv4/conf/all/forwarding"))
		return 0;
	/* fxa is not in sluice_xdp_tx yet: a veth may not take XDP frames,
	 * so the flows DNATed towards it go to the stack, never dropped */
	{
		uint64_t before = fx_counter(e, SLUICE_CNT_XDP_TO_STACK);
		size_t olen, len;
		int v;

		/* 20 new flows: about 16 of them to the subset behind fxa,
		 * which the redirect path below sends out of fxa */
		for (i = 0; i < 20; i++) {
			t.sport = (uint16_t)(29000 + i);
			len = fx_build(in, &t);
			olen = sizeof(out);
			v = fx_run(xdp, in, len, out, &olen, 1, NULL);
			if (v != XDP_PASS) {
				printf("# a target outside sluice_xdp_tx: verdict %d, not the stack\n", v);
				return 0;
			}
		}
		if (fx_counter(e, SLUICE_CNT_XDP_TO_STACK) != before + 20)
			return 0;
	}
	if (fx_allow_redirect(e, "fxa"))
		return 0;
	for (i = 0; i < 64 && !found; i++) {
		for (int ack = 0; ack < 2; ack++) {
			size_t olen = sizeof(out), len, wlen;
			int v;

			t.sport = (uint16_t)(30000 + i);
			t.flags = ack ? FX_ACK : FX_SYN;
			t.payload = ack ? 20 : 0;
			len = fx_build(in, &t);
			v = fx_run(xdp, in, len, out, &olen, 1, NULL);
			if (!ack && v == XDP_PASS)
				break;	/* the 20% subset: no next hop there; next port */
			if (v != XDP_REDIRECT)
				return 0;
			w = t;
			w.dst = "198.18.2.1";
			w.dport = 9000;
			wlen = fx_build(want, &w);
			want[14 + 8] = 63;	/* TTL */
			want[14 + 10] = want[14 + 11] = 0;
			{
				uint16_t c = htons(fx_csum(want + 14, 20, 0));

				memcpy(want + 14 + 10, &c, 2);
			}
			memcpy(want, nh_mac, 6);
			memcpy(want + 6, our_mac, 6);
			if (!fx_csums_ok(out, olen) || olen != wlen || memcmp(want, out, wlen))
				return 0;
			found += ack;
		}
	}
	return found == 1;
}

int main(void)
{
	struct fx_env e;
	size_t i, n = sizeof(fixtures) / sizeof(fixtures[0]);
	int err;

	if (geteuid() != 0)
		return tap_skip("needs root");
	tap_plan((int)n + 9);
	err = fx_open(&e, 1, 0);
	if (!tap(!err && !policy_gen(&e, 100, 0), "load xdp/tc objects and write generation 1")) {
		printf("# fx_open: %d\n", err);
		fx_close(&e);
		return 1;
	}
	for (i = 0; i < n; i++) {
		if (fixtures[i].action == ACT_WEIGHTS_0_100 && policy_gen(&e, 0, 100)) {
			tap(0, "%s (policy change)", fixtures[i].name);
			continue;
		}
		tap(run_fixture(&e, &fixtures[i]), "%s", fixtures[i].name);
	}
	rev_slots(&e);
	tap(split_80_20(&e), "xdp: 80/20 route over 10000 new flows within 1.5 points");
	tap(split_tables(&e), "xdp: 50/30/20 over three subsets through sluice_subset and "
	    "sluice_backend (no copies in the svc entry)");
	tap(split_inline(&e), "xdp: 80/20 from the svc entry's inline copies, round robin in the copy");
	tap(forward_path(&e), "xdp: redirect path: SYN and ACK DNATed with TTL - 1, next-hop MACs, "
	    "valid checksums; to the stack when the target is not in sluice_xdp_tx");
	fx_close(&e);
	return tap_status();
}
