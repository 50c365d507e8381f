// SPDX-License-Identifier: Apache-2.0
/*
 * xdp_tool: drives the north-south data plane for the XDP end-to-end tests
 * and the benchmark without the daemon (not a test itself).
 *   xdp_tool attach BPFFS IFACES [auto|native|generic|tc] [redirect=0|1] [ct-size=N]
 *       load + attach XDP and TC egress (sl_xdp_open), links pinned; prints
 *       "IFACE MODE" per interface
 *   xdp_tool split BPFFS GEN VIP:PORT LB GROUP...
 *       one TCP service (one route, one subset per GROUP) as policy YAML,
 *       compiled and applied by the production path (sl_dp_apply on the
 *       pinned maps) as generation GEN, which must be the live one + 1.
 *       LB is random, rr or maglev (consistentHash on the source address);
 *       GROUP is WEIGHT@ADDR:PORT[+ADDR:PORT...]. Older generations are
 *       deleted after the flip.
 *   xdp_tool counters BPFFS      every non-zero counter, "index value"
 *   xdp_tool ct BPFFS            live conntrack entries
 *   xdp_tool reset BPFFS         detach (unpin links) and remove BPFFS
 *   xdp_tool testrun BASELINE.o  ns per packet by BPF_PROG_TEST_RUN (private
 *       netns and pin root, a resolvable next hop): parse-only baseline
 *       at repeat=1e6, Sluice's established path at repeat=250 (TTL 255),
 *       the TC reverse NAT of the flow's reply at repeat=250, new flows
 *       (each a conntrack miss), the baseline and the bare-LRU floors
 *       (xdp_ct_lookup/insert1/insert2) at repeat=1 over distinct SYNs;
 *       key=value output
 *   xdp_tool attach-obj OBJ PROG IFACE   attach one XDP program (netlink,
 *       native else generic; goes away with the interface)
 *   xdp_tool gen OBJ IFACE SRCMAC DSTMAC SRC DST:PORT FLOWS SECONDS MODE
 *       BPF_PROG_TEST_RUN live-frames generator (xdp_gen of
 *       bench/xdp_baseline.bpf.c, XDP_TX out of IFACE); MODE est|synest|new
 * Maps are opened from their pins under BPFFS (written by attach).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sched.h>
#include <time.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sluice/abi.h"
#include "sluice/dataplane.h"
#include "sluice/diag.h"
#include "sluice/model.h"
#include "sluice/maps.h"
#include "sluice/xdp.h"
#include "xdp.skel.h"
#include "tc.skel.h"
#include "pkt_csum.h"

static int map_fd(const char *root, enum sl_map m)
{
	int fd = sl_map_open_pinned(root, m);

	if (fd < 0)
		fprintf(stderr, "xdp_tool: %s/%s: %s\n", root, sl_map_names[m], strerror(-fd));
	return fd;
}

static int parse_addr(const char *s, uint8_t addr[16], uint16_t *port)
{
	char buf[64], *c;

	snprintf(buf, sizeof(buf), "%s", s);
	c = strrchr(buf, ':');
	if (!c)
		return -EINVAL;
	*c = '\0';
	*port = (uint16_t)atoi(c + 1);
	if (buf[0] == '[' && c > buf + 1 && c[-1] == ']') {	/* [IPv6]:port */
		c[-1] = '\0';
		return inet_pton(AF_INET6, buf + 1, addr) == 1 ? 0 : -EINVAL;
	}
	memset(addr, 0, 16);
	addr[10] = addr[11] = 0xff;
	return inet_pton(AF_INET, buf, addr + 12) == 1 ? 0 : -EINVAL;
}

/* The policy of `split`: one TCP service at vip (VIP:PORT), one subset per
 * GROUP (WEIGHT@ADDR:PORT[+ADDR:PORT...]) balanced by lbs, one route over
 * them; the YAML a user would write, into f. 0 or 2 (bad arguments). */
static int split_yaml(FILE *f, const char *vip, const char *lbs, char **groups, int ngroups)
{
	static const char hdr[] = "apiVersion: networking.istio.io/v1beta1\n";
	const char *lb = !strcmp(lbs, "rr") ? "{simple: ROUND_ROBIN}"
			 : !strcmp(lbs, "maglev") ? "{consistentHash: {useSourceIp: true}}"
						   : "{simple: RANDOM}";
	char host[64], *c;
	uint8_t a[16];
	uint16_t port;
	int g;

	if (parse_addr(vip, a, &port) || ngroups < 1 || ngroups > SLUICE_MAX_DESTS)
		return 2;
	snprintf(host, sizeof(host), "%s", vip[0] == '[' ? vip + 1 : vip);
	c = strrchr(host, vip[0] == '[' ? ']' : ':');
	*c = '\0';
	fprintf(f, "%skind: ServiceEntry\nmetadata: {name: split, namespace: xdp-tool}\nspec:\n"
		"  hosts: [split.xdp-tool.svc.cluster.local]\n  addresses: [\"%s\"]\n"
		"  ports: [{number: %u, name: tcp, protocol: TCP}]\n  resolution: STATIC\n"
		"  endpoints:\n", hdr, host, port);
	for (g = 0; g < ngroups; g++) {
		char buf[4096], *at = strchr(groups[g], '@'), *tok, *save = NULL;

		if (!at)
			return 2;
		snprintf(buf, sizeof(buf), "%s", at + 1);
		for (tok = strtok_r(buf, "+", &save); tok; tok = strtok_r(NULL, "+", &save)) {
			char addr[64];
			uint16_t bp;

			if (parse_addr(tok, a, &bp))
				return 2;
			snprintf(addr, sizeof(addr), "%s", tok[0] == '[' ? tok + 1 : tok);
			*strrchr(addr, tok[0] == '[' ? ']' : ':') = '\0';
			fprintf(f, "  - {address: \"%s\", ports: {tcp: %u}, labels: {group: g%d}}\n",
				addr, bp, g);
		}
	}
	fprintf(f, "---\n%skind: DestinationRule\nmetadata: {name: split, namespace: xdp-tool}\n"
		"spec:\n  host: split.xdp-tool.svc.cluster.local\n  subsets:\n", hdr);
	for (g = 0; g < ngroups; g++)
		fprintf(f, "  - {name: g%d, labels: {group: g%d}, trafficPolicy: {loadBalancer: %s}}\n",
			g, g, lb);
	fprintf(f, "---\n%skind: VirtualService\nmetadata: {name: split, namespace: xdp-tool}\n"
		"spec:\n  hosts: [split.xdp-tool.svc.cluster.local]\n  tcp:\n  - route:\n", hdr);
	for (g = 0; g < ngroups; g++)
		fprintf(f, "    - {destination: {host: split.xdp-tool.svc.cluster.local, subset: g%d}, "
			"weight: %d}\n", g, atoi(groups[g]));
	return 0;
}

/* `split`: the policy compiled and applied by the production path (policy
 * front-end, L4 compiler, sl_dp_apply on the pinned maps: the next
 * generation written, made live, the older ones deleted). gen is the
 * generation it must become (the live one + 1). */
static int cmd_split(const char *root, uint32_t gen, const char *vip, const char *lbs,
		     char **groups, int ngroups)
{
	char err[SL_DP_ERRLEN] = "", *yaml = NULL;
	struct sl_model *m = NULL;
	struct sl_dp *dp = NULL;
	struct sl_diags d;
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);
	int rc;

	sl_diags_init(&d);
	if (!f)
		return 1;
	rc = split_yaml(f, vip, lbs, groups, ngroups);
	if (fclose(f) || rc) {
		free(yaml);
		return rc ? rc : 1;
	}
	rc = 1;
	if (sl_model_load_buf("xdp_tool split", yaml, len, &d, &m)) {
		sl_diags_print(&d, stderr);
		goto out;
	}
	if (sl_dp_open_maps(root, &dp, err))
		goto out;
	if (sl_dp_generation(dp) + 1 != gen) {
		snprintf(err, sizeof(err), "generation %u is live: split makes %u, not %u",
			 sl_dp_generation(dp), sl_dp_generation(dp) + 1, gen);
		goto out;
	}
	if (sl_dp_apply(dp, m, NULL, err))
		goto out;
	rc = 0;
out:
	if (rc && err[0])
		fprintf(stderr, "xdp_tool: split: %s\n", err);
	sl_dp_close(dp);
	sl_model_free(m);
	sl_diags_free(&d);
	free(yaml);
	return rc;
}

static int cmd_counters(const char *root)
{
	int fd = map_fd(root, SL_MAP_COUNTERS), ncpu = libbpf_num_possible_cpus();
	uint64_t *v = calloc((size_t)(ncpu > 0 ? ncpu : 1), sizeof(*v));
	uint32_t i;

	if (fd < 0 || !v)
		return 1;
	for (i = 0; i < __SLUICE_CNT_MAX; i++) {
		uint64_t sum = 0;

		if (bpf_map_lookup_elem(fd, &i, v))
			continue;
		for (int c = 0; c < ncpu; c++)
			sum += v[c];
		if (sum)
			printf("%u %llu\n", i, (unsigned long long)sum);
	}
	free(v);
	return 0;
}

static int cmd_ct(const char *root)
{
	struct sluice_ct4_key k, nk;
	int fd = map_fd(root, SL_MAP_CT4);
	void *prev = NULL;
	unsigned long n = 0;

	if (fd < 0)
		return 1;
	while (!bpf_map_get_next_key(fd, prev, &nk)) {
		n++;
		k = nk;
		prev = &k;
	}
	printf("%lu\n", n);
	return 0;
}

/* Unpin links first (detaches), then every map pin, then the directory. */
static int rm_dir(const char *dir)
{
	char p[1024];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return errno == ENOENT ? 0 : 1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR)
			rm_dir(p);
		else
			unlink(p);
	}
	closedir(d);
	return rmdir(dir) ? 1 : 0;
}

static int cmd_reset(const char *root)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s/links", root);
	rm_dir(p);
	return rm_dir(root);
}


/* ---- packets ------------------------------------------------------------- */

/* Ethernet/IPv4/TCP frame with valid checksums; returns its length. */
static size_t build_tcp(uint8_t *f, const uint8_t smac[6], const uint8_t dmac[6], uint32_t src,
			uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags, size_t payload)
{
	struct ethhdr *eth = (void *)f;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);
	size_t l4 = sizeof(*tcp) + payload, i;

	memset(f, 0, sizeof(*eth) + sizeof(*ip) + l4);
	memcpy(eth->h_source, smac, 6);
	memcpy(eth->h_dest, dmac, 6);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->tot_len = htons((uint16_t)(sizeof(*ip) + l4));
	ip->saddr = src;
	ip->daddr = dst;
	ip->check = htons(fx_csum(ip, sizeof(*ip), 0));
	tcp->source = htons(sport);
	tcp->dest = htons(dport);
	tcp->seq = htonl(1);
	tcp->ack_seq = htonl(1);
	tcp->doff = 5;
	((uint8_t *)tcp)[13] = flags;
	tcp->window = htons(512);
	for (i = 0; i < payload; i++)
		((uint8_t *)(tcp + 1))[i] = (uint8_t)i;
	tcp->check = htons(fx_csum(tcp, l4, fx_pseudo4(ip->saddr, ip->daddr, IPPROTO_TCP, l4)));
	return sizeof(*eth) + sizeof(*ip) + l4;
}

/* Ethernet/IPv6/TCP frame (hop limit 255) with a valid checksum. */
static size_t build_tcp6(uint8_t *f, const uint8_t mac[6], const uint8_t src[16],
			 const uint8_t dst[16], uint16_t sport, uint16_t dport, uint8_t flags,
			 size_t payload)
{
	struct ethhdr *eth = (void *)f;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip6 + 1);
	size_t l4 = sizeof(*tcp) + payload, i;

	memset(f, 0, sizeof(*eth) + sizeof(*ip6) + l4);
	memcpy(eth->h_source, mac, 6);
	memcpy(eth->h_dest, mac, 6);
	eth->h_proto = htons(ETH_P_IPV6);
	ip6->version = 6;
	ip6->payload_len = htons((uint16_t)l4);
	ip6->nexthdr = IPPROTO_TCP;
	ip6->hop_limit = 255;
	memcpy(&ip6->saddr, src, 16);
	memcpy(&ip6->daddr, dst, 16);
	tcp->source = htons(sport);
	tcp->dest = htons(dport);
	tcp->seq = htonl(1);
	tcp->ack_seq = htonl(1);
	tcp->doff = 5;
	((uint8_t *)tcp)[13] = flags;
	tcp->window = htons(512);
	for (i = 0; i < payload; i++)
		((uint8_t *)(tcp + 1))[i] = (uint8_t)i;
	tcp->check = htons(fx_csum(tcp, l4, fx_pseudo6(&ip6->saddr, &ip6->daddr, IPPROTO_TCP, l4)));
	return sizeof(*eth) + sizeof(*ip6) + l4;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int m[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)m[i];
	return 0;
}

/* ---- test_run ------------------------------------------------------------ */

static int run_once(int fd, const uint8_t *pkt, size_t len, uint32_t repeat, uint32_t *ns)
{
	uint8_t out[256];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = repeat);

	if (bpf_prog_test_run_opts(fd, &o))
		return -errno;
	*ns = o.duration;
	return (int)o.retval;
}

static int cmd_testrun(const char *baseline)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
	char root[128], err[SL_DP_ERRLEN];
	struct bpf_object *bobj = NULL;
	struct sluice_xdp *x = NULL;
	uint8_t pkt[128];
	uint32_t vip, src, ns;
	uint64_t sum_new = 0, sum_base1 = 0, sum_est = 0, sum_base250 = 0;
	uint64_t sum_look = 0, sum_ins1 = 0, sum_ins2 = 0, sum_hit = 0, sum_tc = 0;
	struct sluice_tc *tc = NULL;
	uint8_t rpkt[128];
	size_t rlen;
	int want = getenv("XDP_BENCH_NO_FIB") ? XDP_PASS : XDP_REDIRECT;
	int bfd, xfd, lfd, i1fd, i2fd, hfd, n = 200000, rc = 1, i;
	/* XDP_BENCH_EST_CALLS: calls of repeat=250 for the established path
	 * (default 20); XDP_BENCH_EST_ONLY: skip the new flows (iterating) */
	int est_calls = getenv("XDP_BENCH_EST_CALLS") ? atoi(getenv("XDP_BENCH_EST_CALLS")) : 20;
	int est_only = getenv("XDP_BENCH_EST_ONLY") != NULL;
	size_t len;

	(void)err;
	if (est_calls < 1)
		est_calls = 20;
	if (unshare(CLONE_NEWNET))
		return 1;
	/* In this private netns only: a veth with a permanent neighbour for the
	 * backend (the VIP itself, see below) and forwarding on, so the fib
	 * lookup succeeds and the established path is the cached-next-hop one
	 * it is on a real node. */
	if (system("ip link set lo up && ip link add slb0 type veth peer name slb1 && "
		   "ip link set slb0 up && ip link set slb1 up && "
		   "ip addr add 198.18.0.1/24 dev slb0 && "
		   "ip neigh replace 198.18.0.10 lladdr 02:00:00:00:00:02 dev slb0 nud permanent && "
		   "echo 1 > /proc/sys/net/ipv4/conf/all/forwarding && "
		   "ip -6 addr add fd00:5c::1/64 dev slb0 nodad && "
		   "ip -6 neigh replace fd00:5c::10 lladdr 02:00:00:00:00:02 dev slb0 nud permanent && "
		   "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"))
		return 1;
	snprintf(root, sizeof(root), "/sys/fs/bpf/sluice-bench-xdp-%d", getpid());
	if (sl_bpffs_ensure(root, NULL, NULL) || mkdir(root, 0700))
		return 1;
	oo.pin_root_path = root;
	bobj = bpf_object__open_file(baseline, NULL);
	x = sluice_xdp__open_opts(&oo);
	tc = sluice_tc__open_opts(&oo);
	if (!bobj || !x || !tc)
		goto cleanup;
	/* the bare-LRU floors get maps of sluice_ct4's capacity */
	bpf_map__set_max_entries(x->maps.sluice_ct4, 2 * (uint32_t)n + 1024);
	for (i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "bench_ct_%c", 'a' + i);
		if (bpf_map__set_max_entries(bpf_object__find_map_by_name(bobj, name),
					     2 * (uint32_t)n + 1024))
			goto cleanup;
	}
	if (bpf_object__load(bobj))
		goto cleanup;
	/* experiments: other sluice_ct4 flags (2 = BPF_F_NO_COMMON_LRU: per-CPU
	 * lists, each of max_entries / ncpus; one entry per flow fits) */
	if (getenv("XDP_BENCH_CT_FLAGS"))
		bpf_map__set_map_flags(x->maps.sluice_ct4, (uint32_t)atoi(getenv("XDP_BENCH_CT_FLAGS")));
	if (getenv("XDP_BENCH_NO_FIB"))
		x->rodata->sl_xdp_redirect = 0;
	bpf_map__set_max_entries(tc->maps.sluice_ct4, 2 * (uint32_t)n + 1024);
	if (sluice_xdp__load(x) || sluice_tc__load(tc))
		goto cleanup;
	/* test_run's ingress (lo) and slb0 vouched as redirect targets, as
	 * sluiced's native NICs are (sluice_xdp_tx) */
	{
		__u32 lo = if_nametoindex("lo"), out = if_nametoindex("slb0");
		int tfd = bpf_map__fd(x->maps.sluice_xdp_tx);

		if (!lo || !out || bpf_map_update_elem(tfd, &lo, &lo, BPF_ANY) ||
		    bpf_map_update_elem(tfd, &out, &out, BPF_ANY))
			goto cleanup;
	}
	bfd = bpf_program__fd(bpf_object__find_program_by_name(bobj, "xdp_parse_only"));
	xfd = bpf_program__fd(x->progs.sluice_xdp);
	lfd = bpf_program__fd(bpf_object__find_program_by_name(bobj, "xdp_ct_lookup"));
	i1fd = bpf_program__fd(bpf_object__find_program_by_name(bobj, "xdp_ct_insert1"));
	i2fd = bpf_program__fd(bpf_object__find_program_by_name(bobj, "xdp_ct_insert2"));
	hfd = bpf_program__fd(bpf_object__find_program_by_name(bobj, "xdp_ct_hit"));
	/* one service whose only backend is the VIP itself (the DNAT is an
	 * identity). test_run rewrites one buffer on every repeat, so a flow's
	 * packet loses 1 of its TTL per repeat: the established path runs 250
	 * repeats of a TTL-255 packet per call. New flows run at repeat=1 on
	 * fresh SYNs, paired with the baseline at repeat=1; bench_xdp.sh takes
	 * off the test_run overhead the pairs share (baseline_repeat1_ns -
	 * baseline_ns). */
	{
		char vipport[] = "198.18.0.10:9000", grp[] = "1@198.18.0.10:9000";
		char *groups[1] = { grp };

		if (cmd_split(root, 1, vipport, "random", groups, 1))
			goto cleanup;
	}
	inet_pton(AF_INET, "198.18.0.10", &vip);
	inet_pton(AF_INET, "10.0.0.1", &src);
	len = build_tcp(pkt, mac, mac, src, vip, 40000, 9000, 0x02, 0);
	len = build_tcp(pkt, mac, mac, src, vip, 40000, 9000, 0x02, 0);
	if (run_once(xfd, pkt, len, 1, &ns) != want)	/* creates the flow */
		goto cleanup;
	len = build_tcp(pkt, mac, mac, src, vip, 40000, 9000, 0x10, 64);
	{
		/* TTL 255: each repeat forwards (TTL - 1) the same buffer */
		struct iphdr *ip = (void *)(pkt + sizeof(struct ethhdr));

		ip->ttl = 255;
		ip->check = 0;
		ip->check = htons(fx_csum(ip, sizeof(*ip), 0));
	}
	if (run_once(bfd, pkt, len, 1000000, &ns) < 0)
		goto cleanup;
	printf("baseline_ns=%u\n", ns);
	/* the established floor: the flow's 4-tuple put into bench_ct_b, then
	 * looked up (a hit) by calls of repeat=250 like Sluice's */
	if (run_once(i1fd, pkt, len, 1, &ns) < 0)
		goto cleanup;
	/* established, hot: 20 calls of repeat=250 (each call of repeat > 1
	 * re-arms the XDP dispatcher, ~20 ms), the same flow's ACK */
	for (i = 0; i < est_calls; i++) {
		if (run_once(xfd, pkt, len, 250, &ns) != want)
			goto cleanup;
		sum_est += ns;
		if (run_once(bfd, pkt, len, 250, &ns) < 0)
			goto cleanup;
		sum_base250 += ns;
		if (run_once(hfd, pkt, len, 250, &ns) != XDP_DROP)
			goto cleanup;
		sum_hit += ns;
	}
	printf("established_ns=%.1f\n", (double)sum_est / est_calls);
	printf("baseline_repeat250_ns=%.1f\n", (double)sum_base250 / est_calls);
	printf("lru_hit_repeat250_ns=%.1f\n", (double)sum_hit / est_calls);
	/* the reply path: TC reverse NAT of the flow's ACK from the backend
	 * (the VIP itself here, so the rewrite is an identity and each repeat
	 * finds the flow again) */
	rlen = build_tcp(rpkt, mac, mac, vip, src, 9000, 40000, 0x10, 64);
	for (i = 0; i < est_calls; i++) {
		if (run_once(bpf_program__fd(tc->progs.sluice_tc_revnat), rpkt, rlen, 250, &ns) != 0)
			goto cleanup;
		sum_tc += ns;
	}
	printf("tc_revnat_ns=%.1f\n", (double)sum_tc / est_calls);
	if (est_only)
		n = 0;
	for (i = 0; i < n; i++) {
		uint32_t s2 = htonl(0x0a000000u | (uint32_t)(i / 50000 + 2) << 16);

		len = build_tcp(pkt, mac, mac, s2, vip, (uint16_t)(10000 + i % 50000), 9000, 0x02, 0);
		if (run_once(xfd, pkt, len, 1, &ns) != want)
			goto cleanup;
		sum_new += ns;
		if (run_once(bfd, pkt, len, 1, &ns) < 0)
			goto cleanup;
		sum_base1 += ns;
		/* the floors, each in its own map of the same size: a bare
		 * lookup (miss) of the same 4-tuple, lookup + one insert,
		 * lookup + two inserts (the 4-tuple and its reverse) */
		if (run_once(lfd, pkt, len, 1, &ns) < 0)
			goto cleanup;
		sum_look += ns;
		if (run_once(i1fd, pkt, len, 1, &ns) < 0)
			goto cleanup;
		sum_ins1 += ns;
		if (run_once(i2fd, pkt, len, 1, &ns) < 0)
			goto cleanup;
		sum_ins2 += ns;
	}
	/* IPv6 (sluice_xdp6, tail-called): the same service on an IPv6 VIP
	 * whose backend is itself; established (hop limit 255, repeat=250)
	 * and n / 4 new flows, IPv4 measures untouched above */
	{
		char vp6[] = "[fd00:5c::10]:9000", g6[] = "1@[fd00:5c::10]:9000";
		char *gr6[1] = { g6 };
		uint8_t s6[16], v6[16];
		uint64_t e6 = 0, n6 = 0;

		if (cmd_split(root, 2, vp6, "random", gr6, 1))
			goto cleanup;
		inet_pton(AF_INET6, "fd00:5c:1::1", s6);
		inet_pton(AF_INET6, "fd00:5c::10", v6);
		len = build_tcp6(pkt, mac, s6, v6, 40000, 9000, 0x02, 0);
		if (run_once(xfd, pkt, len, 1, &ns) != want)
			goto cleanup;
		len = build_tcp6(pkt, mac, s6, v6, 40000, 9000, 0x10, 64);
		for (i = 0; i < est_calls; i++) {
			if (run_once(xfd, pkt, len, 250, &ns) != want)
				goto cleanup;
			e6 += ns;
		}
		printf("established6_ns=%.1f\n", (double)e6 / est_calls);
		for (i = 0; i < n / 4; i++) {
			s6[13] = (uint8_t)(i / 50000 + 2);
			len = build_tcp6(pkt, mac, s6, v6, (uint16_t)(10000 + i % 50000), 9000,
					 0x02, 0);
			if (run_once(xfd, pkt, len, 1, &ns) != want)
				goto cleanup;
			n6 += ns;
		}
		if (n)
			printf("new_flow6_ns=%.1f\n", (double)n6 / (n / 4));
	}
	if (!n)
		goto done;
	printf("new_flow_ns=%.1f\n", (double)sum_new / n);
	printf("baseline_repeat1_ns=%.1f\n", (double)sum_base1 / n);
	printf("lru_lookup_miss_ns=%.1f\n", (double)sum_look / n);
	printf("lru_insert1_ns=%.1f\n", (double)sum_ins1 / n);
	printf("lru_insert2_ns=%.1f\n", (double)sum_ins2 / n);
done:
	rc = 0;
cleanup:
	if (x) {
		struct bpf_map *m;

		bpf_object__for_each_map(m, x->obj)
			if (bpf_map__is_pinned(m))
				bpf_map__unpin(m, NULL);
	}
	if (tc) {
		struct bpf_map *m;

		bpf_object__for_each_map(m, tc->obj)
			if (bpf_map__is_pinned(m))
				bpf_map__unpin(m, NULL);
	}
	sluice_tc__destroy(tc);
	sluice_xdp__destroy(x);
	bpf_object__close(bobj);
	rmdir(root);
	return rc;
}

static int cmd_attach_obj(const char *path, const char *prog, const char *ifname)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	int ifindex = (int)if_nametoindex(ifname), fd;

	if (!obj || bpf_object__load(obj) || !ifindex)
		return 1;
	fd = bpf_program__fd(bpf_object__find_program_by_name(obj, prog));
	if (fd < 0)
		return 1;
	if (bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL) &&
	    bpf_xdp_attach(ifindex, fd, XDP_FLAGS_SKB_MODE, NULL))
		return 1;
	return 0;
}

/* ---- live-frames generator ------------------------------------------------ */

/* The .bss of bench/xdp_baseline.bpf.c (struct xdp_gen_state there). */
struct xdp_gen_state {
	uint64_t tmpl[8];
	uint32_t flows;
	uint32_t mode;
	uint64_t seq;
};

/* Send `repeat` frames through xdp_gen out of ifindex (XDP_TX of a live
 * frame = transmit on that interface, i.e. to the veth peer). */
static int gen_batch(int pfd, int ifindex, const uint8_t *frame, size_t len, uint32_t repeat)
{
	struct xdp_md ctx = { .data_end = (uint32_t)len, .ingress_ifindex = (uint32_t)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (uint32_t)len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);

	if (bpf_prog_test_run_opts(pfd, &o))
		return -errno;
	return 0;
}

/* xdp_tool gen OBJ IFACE SRCMAC DSTMAC SRC DST:PORT FLOWS SECONDS MODE
 * MODE est: ACK+PSH frames cycling over FLOWS source ports; synest: one SYN
 * per flow first (Sluice creates conntrack only on a SYN), then est; new:
 * a SYN from a new (address, port) every frame. 64-byte frames (10 bytes
 * of TCP payload). Prints sent_pps over SECONDS of generation. */
static int cmd_gen(char **a)
{
	const char *obj_path = a[0], *mode = a[8];
	int ifindex = (int)if_nametoindex(a[1]), flows = atoi(a[6]), pfd, rc = 1;
	double secs = atof(a[7]);
	struct xdp_gen_state st = { 0 };
	struct bpf_object *obj = NULL;
	struct bpf_map *bss = NULL, *m;
	uint8_t smac[6], dmac[6], frame[64];
	uint32_t src, dst, zero = 0;
	uint64_t sent = 0, t0, end;
	uint16_t dport;
	char host[64], *c;

	if (!ifindex || parse_mac(a[2], smac) || parse_mac(a[3], dmac) || flows < 1 ||
	    flows > 60000 || inet_pton(AF_INET, a[4], &src) != 1 ||
	    parse_addr(a[5], (uint8_t[16]){ 0 }, &dport))
		return 2;
	snprintf(host, sizeof(host), "%s", a[5]);
	c = strrchr(host, ':');
	*c = '\0';
	if (inet_pton(AF_INET, host, &dst) != 1)
		return 2;
	obj = bpf_object__open_file(obj_path, NULL);
	if (!obj || bpf_object__load(obj))
		goto cleanup;
	bpf_object__for_each_map(m, obj) {
		const char *n = bpf_map__name(m);

		if (strlen(n) >= 4 && !strcmp(n + strlen(n) - 4, ".bss"))
			bss = m;
	}
	pfd = bpf_program__fd(bpf_object__find_program_by_name(obj, "xdp_gen"));
	if (!bss || pfd < 0 || bpf_map__value_size(bss) != sizeof(st)) {
		fprintf(stderr, "xdp_tool gen: %s has no matching xdp_gen\n", obj_path);
		goto cleanup;
	}
	st.flows = (uint32_t)flows;
	if (!strcmp(mode, "synest") || !strcmp(mode, "new")) {
		build_tcp(frame, smac, dmac, src, dst, 20000, dport, 0x02, 10);
		memcpy(st.tmpl, frame, sizeof(st.tmpl));
		st.mode = !strcmp(mode, "new");
		if (bpf_map_update_elem(bpf_map__fd(bss), &zero, &st, BPF_ANY))
			goto cleanup;
		if (!st.mode) {
			/* one SYN per flow, then give the node time to drain */
			if (gen_batch(pfd, ifindex, frame, sizeof(frame), (uint32_t)flows))
				goto cleanup;
			usleep(200000);
		}
	} else if (strcmp(mode, "est")) {
		return 2;
	}
	if (strcmp(mode, "new")) {
		build_tcp(frame, smac, dmac, src, dst, 20000, dport, 0x18, 10);
		memcpy(st.tmpl, frame, sizeof(st.tmpl));
		st.mode = 0;
		st.seq = 0;
		if (bpf_map_update_elem(bpf_map__fd(bss), &zero, &st, BPF_ANY))
			goto cleanup;
	}
	t0 = now_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	while (now_ns() < end) {
		int e = gen_batch(pfd, ifindex, frame, sizeof(frame), 1u << 16);

		if (e) {
			fprintf(stderr, "xdp_tool gen: test_run: %s\n", strerror(-e));
			goto cleanup;
		}
		sent += 1u << 16;
	}
	secs = (double)(now_ns() - t0) / 1e9;
	printf("sent=%llu\nsecs=%.3f\nsent_pps=%.0f\n", (unsigned long long)sent, secs,
	       (double)sent / secs);
	rc = 0;
cleanup:
	bpf_object__close(obj);
	return rc;
}

int main(int argc, char **argv)
{
	char err[SL_DP_ERRLEN] = "";

	if (argc >= 4 && !strcmp(argv[1], "attach")) {
		struct sl_xdp_opts o = { .bpffs = argv[2] };
		const struct sl_xdp_iface *v;
		struct sl_xdp *x;
		size_t n, i;

		for (int a = 4; a < argc; a++) {
			if (!strcmp(argv[a], "native"))
				o.mode = SL_XDP_MODE_NATIVE;
			else if (!strcmp(argv[a], "generic"))
				o.mode = SL_XDP_MODE_GENERIC;
			else if (!strcmp(argv[a], "tc"))
				o.mode = SL_XDP_MODE_TC;
			else if (!strcmp(argv[a], "redirect=0"))
				o.no_redirect = true;
			else if (!strncmp(argv[a], "redirect-to=", 12))
				o.redirect_to = argv[a] + 12;
			else if (!strncmp(argv[a], "ct-size=", 8))
				o.ct_size = (uint32_t)strtoul(argv[a] + 8, NULL, 10);
		}
		if (sl_xdp_open(&o, argv[3], &x, err)) {
			fprintf(stderr, "xdp_tool: %s\n", err);
			return 1;
		}
		n = sl_xdp_ifaces(x, &v);
		for (i = 0; i < n; i++)
			printf("%s %s\n", v[i].name, v[i].mode);
		sl_xdp_close(x);
		return 0;
	}
	if (argc >= 7 && !strcmp(argv[1], "split"))
		return cmd_split(argv[2], (uint32_t)atoi(argv[3]), argv[4], argv[5], argv + 6,
				 argc - 6);
	if (argc == 3 && !strcmp(argv[1], "counters"))
		return cmd_counters(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "ct"))
		return cmd_ct(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "reset"))
		return cmd_reset(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "testrun"))
		return cmd_testrun(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "attach-obj"))
		return cmd_attach_obj(argv[2], argv[3], argv[4]);
	if (argc == 11 && !strcmp(argv[1], "gen"))
		return cmd_gen(argv + 2);
	fprintf(stderr, "usage: xdp_tool attach|split|counters|ct|reset BPFFS ...\n");
	return 2;
}
