// SPDX-License-Identifier: Apache-2.0
/*
 * xdp_tool: drives the north-south data plane for the XDP end-to-end tests
 * and the benchmark without the daemon (not a test itself).
 *   xdp_tool attach BPFFS IFACES [auto|native|generic] [redirect=0|1]
 *       load + attach XDP and TC egress (sl_xdp_open), links pinned; prints
 *       "IFACE MODE" per interface
 *   xdp_tool split BPFFS GEN VIP:PORT LB GROUP...
 *       write generation GEN of the selection tables for one TCP service
 *       (one route, one subset per GROUP) and make it live. LB is random,
 *       rr or maglev; GROUP is WEIGHT@ADDR:PORT[+ADDR:PORT...]. Older
 *       generations are deleted after the flip.
 *   xdp_tool counters BPFFS      every non-zero counter, "index value"
 *   xdp_tool ct BPFFS            live conntrack entries
 *   xdp_tool reset BPFFS         detach (unpin links) and remove BPFFS
 * Maps are opened from their pins under BPFFS (written by attach).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sluice/abi.h"
#include "sluice/xdp.h"

static int map_fd(const char *root, const char *name)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", root, name);
	fd = bpf_obj_get(p);
	if (fd < 0)
		fprintf(stderr, "xdp_tool: %s: %s\n", p, strerror(errno));
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
	memset(addr, 0, 16);
	addr[10] = addr[11] = 0xff;
	return inet_pton(AF_INET, buf, addr + 12) == 1 ? 0 : -EINVAL;
}

/* Delete every key of map fd whose leading __u32 gen differs from keep. */
static void gc(int fd, size_t ksz, uint32_t keep)
{
	uint8_t k[64], nk[64], *del = NULL;
	size_t n = 0, cap = 0, i;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, nk)) {
		if (*(uint32_t *)nk != keep) {
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				del = realloc(del, cap * ksz);
				if (!del)
					return;
			}
			memcpy(del + n * ksz, nk, ksz);
			n++;
		}
		memcpy(k, nk, ksz);
		prev = k;
	}
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(fd, del + i * ksz);
	free(del);
}

static int cmd_split(const char *root, uint32_t gen, const char *vip, const char *lbs,
		     char **groups, int ngroups)
{
	int svc = map_fd(root, "sluice_svc"), rt = map_fd(root, "sluice_route");
	int sub = map_fd(root, "sluice_subset"), be = map_fd(root, "sluice_backend");
	int ctl = map_fd(root, "sluice_ctl"), mag = map_fd(root, "sluice_maglev");
	struct sluice_svc_key sk = { .gen = gen, .proto = IPPROTO_TCP };
	struct sluice_svc sv = { .svc_sid = 1, .route_first = 0, .nroutes = 1 };
	struct sluice_route_key rk = { .gen = gen, .route_id = 0 };
	struct sluice_route r = { 0 };
	uint8_t lb = SLUICE_LB_RANDOM;
	uint32_t bidx = 0, cum = 0, mfirst = 0, zero = 0;
	struct sluice_ctl c = { .gen = gen };
	uint16_t port;
	int g;

	if (svc < 0 || rt < 0 || sub < 0 || be < 0 || ctl < 0 || mag < 0)
		return 1;
	if (!strcmp(lbs, "rr"))
		lb = SLUICE_LB_ROUND_ROBIN;
	else if (!strcmp(lbs, "maglev"))
		lb = SLUICE_LB_MAGLEV;
	if (parse_addr(vip, sk.addr, &port) || ngroups > SLUICE_MAX_DESTS)
		return 2;
	sk.port = htons(port);
	for (g = 0; g < ngroups; g++) {
		struct sluice_subset_key ssk = { .gen = gen, .subset_id = (uint32_t)g + 1 };
		struct sluice_subset ss = { .svc_sid = 1, .subset_sid = (uint32_t)g + 1,
					    .backend_first = bidx, .lb = lb };
		char buf[4096], *at = strchr(groups[g], '@'), *tok, *save = NULL;
		const char *keys[256];
		char names[256][32];
		uint32_t *table = NULL;

		if (!at)
			return 2;
		cum += (uint32_t)atoi(groups[g]);
		r.dests[g].subset_id = ssk.subset_id;
		r.dests[g].cum_weight = cum;
		snprintf(buf, sizeof(buf), "%s", at + 1);
		for (tok = strtok_r(buf, "+", &save); tok; tok = strtok_r(NULL, "+", &save)) {
			struct sluice_backend_key bk = { .gen = gen, .idx = bidx };
			struct sluice_backend b = { .weight = 1 };
			uint16_t bp;

			if (parse_addr(tok, b.addr, &bp) || ss.nbackends == 256)
				return 2;
			b.port = htons(bp);
			snprintf(names[ss.nbackends], sizeof(names[0]), "%s", tok);
			keys[ss.nbackends] = names[ss.nbackends];
			if (bpf_map_update_elem(be, &bk, &b, BPF_ANY))
				return 1;
			bidx++;
			ss.nbackends++;
		}
		if (lb == SLUICE_LB_MAGLEV) {
			uint32_t m = SLUICE_MAGLEV_DEFAULT_M, i;

			table = calloc(m, sizeof(*table));
			if (!table || sl_maglev_build(keys, NULL, ss.nbackends, m, table))
				return 1;
			for (i = 0; i < m; i++) {
				struct sluice_maglev_key mk = { .gen = gen, .slot = mfirst + i };
				uint32_t v = ss.backend_first + table[i];

				if (bpf_map_update_elem(mag, &mk, &v, BPF_ANY))
					return 1;
			}
			ss.maglev_first = mfirst;
			ss.maglev_size = m;
			mfirst += m;
			free(table);
		}
		if (bpf_map_update_elem(sub, &ssk, &ss, BPF_ANY))
			return 1;
	}
	r.ndests = (uint8_t)ngroups;
	r.total = cum;
	if (bpf_map_update_elem(rt, &rk, &r, BPF_ANY) ||
	    bpf_map_update_elem(svc, &sk, &sv, BPF_ANY) ||
	    bpf_map_update_elem(ctl, &zero, &c, BPF_ANY))
		return 1;
	usleep(50000);	/* readers of the old generation finish (RCU, << 50 ms) */
	gc(svc, sizeof(struct sluice_svc_key), gen);
	gc(rt, sizeof(struct sluice_route_key), gen);
	gc(sub, sizeof(struct sluice_subset_key), gen);
	gc(be, sizeof(struct sluice_backend_key), gen);
	gc(mag, sizeof(struct sluice_maglev_key), gen);
	return 0;
}

static int cmd_counters(const char *root)
{
	int fd = map_fd(root, "sluice_counters"), ncpu = libbpf_num_possible_cpus();
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
	struct sluice_ct_key k, nk;
	int fd = map_fd(root, "sluice_ct");
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
			else if (!strcmp(argv[a], "redirect=0"))
				o.no_redirect = true;
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
	fprintf(stderr, "usage: xdp_tool attach|split|counters|ct|reset BPFFS ...\n");
	return 2;
}
