/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers for the XDP/TC BPF_PROG_TEST_RUN tests (tests/bpf/test_xdp_*.c):
 * building IPv4/TCP frames with checksums computed from scratch (so the
 * programs' incremental updates are checked independently), loading the
 * xdp and tc objects against one private pin root (they share sluice_ct4 and
 * the selection tables by name), provisioning the selection tables the way
 * sluiced does (policy text -> front-end -> L4 compiler -> sl_dp_apply on
 * the pinned maps), and running a program on a packet. Everything runs in a private network
 * namespace (unshare) so fib lookups and traffic never touch the host.
 */
#ifndef SLUICE_TESTS_XDP_FIXTURE_H
#define SLUICE_TESTS_XDP_FIXTURE_H

#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sluice/abi.h"
#include "sluice/dataplane.h"
#include "sluice/maps.h"
#include "xdp.skel.h"
#include "tc.skel.h"
#include "tap.h"
#include "../../tools/pkt_csum.h"
#include "policy_text.h"

#define FX_MAXPKT 256

struct fx_tcp {			/* what a test packet is made of */
	const char *src, *dst;	/* dotted IPv4 */
	uint16_t sport, dport;	/* host order */
	uint8_t flags;		/* TH_* style: FIN 1, SYN 2, RST 4, PSH 8, ACK 16 */
	uint8_t ipopt_len;	/* bytes of IP options (multiple of 4, <= 40) */
	uint16_t frag;		/* frag_off field, host order (MF 0x2000, offset) */
	uint8_t proto;		/* 0 = TCP */
	uint16_t payload;	/* bytes of payload */
};

#define FX_FIN 0x01
#define FX_SYN 0x02
#define FX_RST 0x04
#define FX_PSH 0x08
#define FX_ACK 0x10

/* Pseudo-header + segment checksum of an IPv4 TCP/UDP packet: returns 0
 * (as fx_csum computes it: the complement of the sum) when valid. */
static inline uint16_t fx_l4_verify(const uint8_t *ip, size_t l4len)
{
	const struct iphdr *h = (const void *)ip;

	return fx_csum(ip + h->ihl * 4, l4len, fx_pseudo4(h->saddr, h->daddr, h->protocol, l4len));
}

/* Both checksums of frame valid? */
static inline int fx_csums_ok(const uint8_t *frame, size_t len)
{
	const uint8_t *ip = frame + sizeof(struct ethhdr);
	const struct iphdr *h = (const void *)ip;
	size_t tot;

	if (len < sizeof(struct ethhdr) + sizeof(*h))
		return 0;
	tot = ntohs(h->tot_len);
	if (fx_csum(ip, h->ihl * 4u, 0) != 0)
		return 0;
	return fx_l4_verify(ip, tot - h->ihl * 4u) == 0;
}

/* Build an Ethernet/IPv4/TCP frame with correct checksums. Returns its length. */
static inline size_t fx_build(uint8_t *buf, const struct fx_tcp *t)
{
	struct ethhdr *eth = (void *)buf;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp;
	size_t ihl = sizeof(*ip) + t->ipopt_len, l4, i;

	memset(buf, 0, FX_MAXPKT);
	memcpy(eth->h_dest, "\x02\x00\x00\x00\x00\x02", 6);
	memcpy(eth->h_source, "\x02\x00\x00\x00\x00\x01", 6);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = (uint8_t)(ihl / 4);
	ip->ttl = 64;
	ip->protocol = t->proto ? t->proto : IPPROTO_TCP;
	ip->id = htons(0x1234);
	ip->frag_off = htons(t->frag);
	inet_pton(AF_INET, t->src, &ip->saddr);
	inet_pton(AF_INET, t->dst, &ip->daddr);
	for (i = 0; i < t->ipopt_len; i++)	/* NOP ... EOL */
		((uint8_t *)(ip + 1))[i] = i + 1 == t->ipopt_len ? 0 : 1;
	tcp = (void *)((uint8_t *)ip + ihl);
	tcp->source = htons(t->sport);
	tcp->dest = htons(t->dport);
	tcp->seq = htonl(1000);
	tcp->ack_seq = htonl(t->flags & FX_ACK ? 2000 : 0);
	tcp->doff = 5;
	((uint8_t *)tcp)[13] = t->flags;
	tcp->window = htons(65535);
	for (i = 0; i < t->payload; i++)
		((uint8_t *)(tcp + 1))[i] = (uint8_t)('a' + i % 26);
	l4 = sizeof(*tcp) + t->payload;
	ip->tot_len = htons((uint16_t)(ihl + l4));
	ip->check = htons(fx_csum(ip, ihl, 0));
	tcp->check = htons(fx_l4_verify((uint8_t *)ip, l4));
	return sizeof(*eth) + ihl + l4;
}

struct fx_env {
	struct sluice_xdp *xdp;
	struct sluice_tc *tc;
	struct sl_dp *dp;	/* the pinned maps, for sl_dp_apply */
	char pin_root[128];
};

static inline int fx_map_fd(struct fx_env *e, enum sl_map map)
{
	struct bpf_map *m = bpf_object__find_map_by_name(e->xdp->obj, sl_map_names[map]);

	return m ? bpf_map__fd(m) : -ENOENT;
}

/* Unpin every map of the private root and remove it. */
static inline void fx_close(struct fx_env *e)
{
	struct bpf_map *m;

	if (e->xdp) {
		bpf_object__for_each_map(m, e->xdp->obj)
			if (bpf_map__is_pinned(m))
				bpf_map__unpin(m, NULL);
	}
	if (e->tc) {
		bpf_object__for_each_map(m, e->tc->obj)
			if (bpf_map__is_pinned(m))
				bpf_map__unpin(m, NULL);
	}
	sl_dp_close(e->dp);
	sluice_tc__destroy(e->tc);
	sluice_xdp__destroy(e->xdp);
	e->dp = NULL;
	e->tc = NULL;
	e->xdp = NULL;
	if (e->pin_root[0])
		rmdir(e->pin_root);
}

/* Private netns, private pin root, both objects loaded. redirect=0 makes the
 * XDP program hand every DNATed packet to the stack. */
static inline int fx_open(struct fx_env *e, int redirect, uint32_t ct_size)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	int err;

	memset(e, 0, sizeof(*e));
	if (unshare(CLONE_NEWNET))
		return -errno;
	snprintf(e->pin_root, sizeof(e->pin_root), "/sys/fs/bpf/sluice-test-xdpfx-%d", getpid());
	/* the same bpffs step as sluiced's (mounts one when none is there) */
	if ((err = sl_bpffs_ensure(e->pin_root, NULL, NULL)))
		return err;
	if (mkdir(e->pin_root, 0700) && errno != EEXIST)
		return -errno;
	oo.pin_root_path = e->pin_root;
	e->xdp = sluice_xdp__open_opts(&oo);
	if (!e->xdp)
		return -errno;
	e->xdp->rodata->sl_xdp_redirect = (uint8_t)redirect;
	if (ct_size)
		bpf_map__set_max_entries(e->xdp->maps.sluice_ct4, ct_size);
	err = sluice_xdp__load(e->xdp);
	if (err)
		return err;
	e->tc = sluice_tc__open_opts(&oo);
	if (!e->tc)
		return -errno;
	if (ct_size)
		bpf_map__set_max_entries(e->tc->maps.sluice_ct4, ct_size);
	if ((err = sluice_tc__load(e->tc)))
		return err;
	return sl_dp_open_maps(e->pin_root, &e->dp, NULL);
}

static inline void fx_v4mapped(uint8_t out[16], const char *a)
{
	memset(out, 0, 16);
	out[10] = out[11] = 0xff;
	inet_pton(AF_INET, a, out + 12);
}

/* Provision the selection tables through the production path: the policy
 * text (YAML, as a user writes it) -> the policy front-end -> the L4
 * compiler -> sl_dp_apply on the maps pinned under the private root, which
 * writes the next generation and makes it live. 0 or -errno (the
 * diagnostics or the apply's error as TAP comments). */
static inline int fx_apply(struct fx_env *e, const char *yaml)
{
	char err[SL_DP_ERRLEN] = "";
	struct sl_model *m = NULL;
	int rc;

	if ((rc = load_policy_text("fixture.yaml", yaml, (int)strlen(yaml), &m)))
		return rc;
	rc = sl_dp_apply(e->dp, m, NULL, err);
	if (rc)
		printf("# apply: %s\n", err);
	sl_model_free(m);
	return rc;
}

/* The routing half of the fixtures' policies, alike for both families:
 * service s1's subsets v1 (RANDOM) and v2 (ROUND_ROBIN) by the label
 * version, and one tcp route over them with the weights left as two %u
 * (fx_apply_weights). */
#define FX_S1_ROUTE                                                                          \
	"apiVersion: networking.istio.io/v1beta1\n"                                         \
	"kind: DestinationRule\n"                                                            \
	"metadata: {name: s1, namespace: fx}\n"                                              \
	"spec:\n"                                                                            \
	"  host: s1.fx.svc.cluster.local\n"                                                  \
	"  subsets:\n"                                                                       \
	"  - {name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: {simple: RANDOM}}}\n" \
	"  - {name: v2, labels: {version: v2}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}\n" \
	"---\n"                                                                              \
	"apiVersion: networking.istio.io/v1beta1\n"                                         \
	"kind: VirtualService\n"                                                             \
	"metadata: {name: s1, namespace: fx}\n"                                              \
	"spec:\n"                                                                            \
	"  hosts: [s1.fx.svc.cluster.local]\n"                                               \
	"  tcp:\n"                                                                           \
	"  - route:\n"                                                                       \
	"    - {destination: {host: s1.fx.svc.cluster.local, subset: v1}, weight: %u}\n"      \
	"    - {destination: {host: s1.fx.svc.cluster.local, subset: v2}, weight: %u}\n"

/* fx_apply of the policy fmt (with FX_S1_ROUTE in it) with weights w1/w2. */
__attribute__((format(printf, 2, 0)))
static inline int fx_apply_weights(struct fx_env *e, const char *fmt, uint32_t w1, uint32_t w2)
{
	char y[8192];

	snprintf(y, sizeof(y), fmt, w1, w2);
	return fx_apply(e, y);
}

/* Run prog on pkt; output into out (*out_len in/out). Returns the verdict
 * or a negative errno. */
static inline int fx_run(int prog_fd, const uint8_t *pkt, size_t len, uint8_t *out,
			 size_t *out_len, uint32_t repeat, uint32_t *duration_ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = (uint32_t)*out_len, .repeat = repeat);
	int err = bpf_prog_test_run_opts(prog_fd, &o);

	if (err)
		return err;
	*out_len = o.data_size_out;
	if (duration_ns)
		*duration_ns = o.duration;
	return (int)o.retval;
}

/* Let DNATed frames be redirected from test_run's ingress (lo) to dev:
 * both into sluice_xdp_tx, as user/lib/dp_xdp.c fills it for native NICs. */
static inline int fx_allow_redirect(struct fx_env *e, const char *dev)
{
	uint32_t lo = if_nametoindex("lo"), out = if_nametoindex(dev);
	int fd = fx_map_fd(e, SL_MAP_XDP_TX);

	if (!lo || !out || bpf_map_update_elem(fd, &lo, &lo, BPF_ANY) ||
	    bpf_map_update_elem(fd, &out, &out, BPF_ANY))
		return -1;
	return 0;
}

static inline uint64_t fx_counter(struct fx_env *e, uint32_t which)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1], sum = 0;

	if (ncpu <= 0 || bpf_map_lookup_elem(fx_map_fd(e, SL_MAP_COUNTERS), &which, vals))
		return 0;
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

/* The fields the fixture tables of both families share: which program a
 * fixture runs, what its output must be, and a policy change before it. */
enum { P_XDP = 1, P_TC = 2, P_TCI = 3 };	/* TCI: the TC ingress fallback */
enum { OUT_SAME = 0, OUT_EXPECT = 1, OUT_NONE = 2 };
enum { ACT_NONE = 0, ACT_WEIGHTS_0_100 = 1 };

static inline int fx_prog_fd(struct fx_env *e, int which)
{
	return which == P_XDP ? bpf_program__fd(e->xdp->progs.sluice_xdp)
	       : which == P_TCI ? bpf_program__fd(e->tc->progs.sluice_tc_ingress)
				: bpf_program__fd(e->tc->progs.sluice_tc_revnat);
}

/* The checks every fixture makes after its run, alike for both families:
 * the verdict v, the packet left as it was (OUT_SAME) or equal to the
 * expected one want/wlen with valid checksums (OUT_EXPECT; the caller builds
 * it and checks the checksums of its family into csum_ok), and counter (if
 * >= 0) grown by one from before. 1 = pass; reasons as TAP comments. */
static inline int fx_check_run(struct fx_env *e, int v, int want_v, int out_kind,
			       const uint8_t *in, size_t len, const uint8_t *out, size_t olen,
			       const uint8_t *want, size_t wlen, int csum_ok, int counter,
			       uint64_t before)
{
	if (v != want_v) {
		printf("# verdict %d, want %d\n", v, want_v);
		return 0;
	}
	if (out_kind == OUT_SAME && (olen != len || memcmp(in, out, len))) {
		printf("# packet changed (len %zu -> %zu)\n", len, olen);
		return 0;
	}
	if (out_kind == OUT_EXPECT) {
		if (!csum_ok) {
			printf("# output checksums invalid\n");
			return 0;
		}
		if (olen != wlen || memcmp(want, out, wlen)) {
			printf("# output differs from the expected packet\n");
			for (size_t i = 0; i < wlen && i < olen; i++)
				if (want[i] != out[i])
					printf("#  byte %zu: got %02x want %02x\n", i, out[i], want[i]);
			return 0;
		}
	}
	if (counter >= 0 && fx_counter(e, (uint32_t)counter) != before + 1) {
		printf("# counter %d did not grow by one\n", counter);
		return 0;
	}
	return 1;
}

/* One fixture's run, alike for both families: in (len bytes; mutate, then
 * trunc if set) through program prog (P_*), then fx_check_run against want
 * (wlen bytes, built by the caller for OUT_EXPECT), csum_ok the family's
 * checksum check of the output. 1 = pass. */
static inline int fx_run_fixture(struct fx_env *e, int prog, uint8_t *in, size_t len,
				 void (*mutate)(uint8_t *), size_t trunc, int want_v, int out_kind,
				 const uint8_t *want, size_t wlen,
				 int (*csum_ok)(const uint8_t *, size_t), int counter)
{
	uint8_t out[FX_MAXPKT + 64];
	size_t olen = sizeof(out);
	uint64_t before = counter >= 0 ? fx_counter(e, (uint32_t)counter) : 0;
	int v;

	if (mutate)
		mutate(in);
	if (trunc)
		len = trunc;
	v = fx_run(fx_prog_fd(e, prog), in, len, out, &olen, 1, NULL);
	return fx_check_run(e, v, want_v, out_kind, in, len, out, olen, want, wlen,
			    out_kind == OUT_EXPECT && csum_ok(out, olen), counter, before);
}

#endif /* SLUICE_TESTS_XDP_FIXTURE_H */
