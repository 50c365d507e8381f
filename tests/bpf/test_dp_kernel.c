/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The socket data plane in the real kernel, driven through the library
 * (sl_model_load_buf -> sl_dp_open -> sl_dp_apply): a test cgroup below the
 * cgroup v2 root gets the hooks; client processes forked into it connect to
 * VIPs on 127.100.0.0/16; backends are threads of this process listening on
 * 127.0.1.x (outside the test cgroup, so never steered themselves). Every
 * backend answers "<tag>\n" at accept and then echoes "<tag>:<data>".
 * Everything made (pins, links, cgroups, children) is removed at exit, also
 * on failure or signal. TAP on stdout.
 */
#include "dp_harness.h"

/* bpf_link fds open in this process (sl_dp_close must leave none). */
static int link_fd_count(void)
{
	char path[64], target[64];
	int fd, n = 0;
	ssize_t len;

	for (fd = 3; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += !strcmp(target, "anon_inode:bpf_link");
	}
	return n;
}

/* ---- policy ------------------------------------------------------------ */

/* lb: a simple load balancer name, or a whole loadBalancer value ("{...}"). */
/* The test policy: tcp-echo (VIP, subsets v1 = {v1, v1b} or just v1,
 * v2, v3 empty) with one weighted tcp route, forecast with a sourceLabels
 * route, an endpoint-less service, two client workloads. */
static int apply(int w1, int w2, int w3, const char *lb, int registry_only, uint32_t *gen)
{
	char buf[8192], err[SL_DP_ERRLEN] = "";
	struct sl_model *m = NULL;
	int rc, n;

	n = snprintf(buf, sizeof(buf),
		TCP_ECHO_SE
		"  - {address: %s, ports: {tcp: %u}, labels: {version: v1, track: stable}}\n"
		"  - {address: %s, ports: {tcp: %u}, labels: {version: v2}}\n"
		"  - {address: %s, ports: {tcp: %u}, labels: {version: v1b, track: stable}}\n"
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: DestinationRule\n"
		"metadata: {name: tcp-echo, namespace: t}\n"
		"spec:\n"
		"  host: tcp-echo\n"
		"  trafficPolicy: {loadBalancer: %s%s%s}\n"
		"  subsets:\n"
		"  - {name: v1, labels: {track: stable}}\n"
		"  - {name: v2, labels: {version: v2}}\n"
		"  - {name: v3, labels: {version: v3}}\n"
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: VirtualService\n"
		"metadata: {name: tcp-echo, namespace: t}\n"
		"spec:\n"
		"  hosts: [tcp-echo]\n"
		"  tcp:\n"
		"  - match: [{port: 9000}]\n"
		"    route:\n"
		"    - {destination: {host: tcp-echo, subset: v1}, weight: %d}\n"
		"    - {destination: {host: tcp-echo, subset: v2}, weight: %d}\n"
		"    - {destination: {host: tcp-echo, subset: v3}, weight: %d}\n"
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: ServiceEntry\n"
		"metadata: {name: forecast, namespace: t}\n"
		"spec:\n"
		"  hosts: [forecast.t.svc.cluster.local]\n"
		"  addresses: [" VIP_SRC "]\n"
		"  ports: [{number: 9000, name: tcp, protocol: TCP}]\n"
		"  resolution: STATIC\n"
		"  endpoints:\n"
		"  - {address: %s, ports: {tcp: %u}, labels: {version: v1}}\n"
		"  - {address: %s, ports: {tcp: %u}, labels: {version: v2}}\n"
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: DestinationRule\n"
		"metadata: {name: forecast, namespace: t}\n"
		"spec:\n"
		"  host: forecast\n"
		"  subsets:\n"
		"  - {name: v1, labels: {version: v1}}\n"
		"  - {name: v2, labels: {version: v2}}\n"
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: VirtualService\n"
		"metadata: {name: forecast, namespace: t}\n"
		"spec:\n"
		"  hosts: [forecast]\n"
		"  tcp:\n"
		"  - match: [{sourceLabels: {version: v2}}]\n"
		"    route: [{destination: {host: forecast, subset: v2}}]\n"
		"  - route: [{destination: {host: forecast, subset: v1}}]\n"
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: ServiceEntry\n"
		"metadata: {name: empty, namespace: t}\n"
		"spec:\n"
		"  hosts: [empty.t.svc.cluster.local]\n"
		"  addresses: [" VIP_EMPTY "]\n"
		"  ports: [{number: 9000, name: tcp, protocol: TCP}]\n"
		"  resolution: STATIC\n"
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: WorkloadEntry\n"
		"metadata:\n"
		"  name: frontend-v1\n"
		"  namespace: t\n"
		"  annotations: {sluice.io/cgroup: %s}\n"
		"spec: {address: 127.0.2.1, labels: {app: frontend, version: v1}}\n"
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: WorkloadEntry\n"
		"metadata:\n"
		"  name: frontend-v2\n"
		"  namespace: t\n"
		"  annotations: {sluice.io/cgroup: %s}\n"
		"spec: {address: 127.0.2.2, labels: {app: frontend, version: v2}}\n"
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: ServiceEntry\n"
		"metadata: {name: ext, namespace: t}\n"
		"spec:\n"
		"  hosts: [ext.example.com]\n"
		"  addresses: [127.0.1.8]\n"
		"  ports: [{number: 9000, name: tcp, protocol: TCP}]\n"
		"  location: MESH_EXTERNAL\n"
		"  resolution: NONE\n"
		"%s",
		be_addr[0], be[0].port, be_addr[1], be[1].port, be_addr[2], be[2].port,
		lb[0] == '{' ? "" : "{simple: ", lb, lb[0] == '{' ? "" : "}",
		w1, w2, w3, be_addr[0], be[0].port, be_addr[1], be[1].port, cg_rel_wl1, cg_rel_wl2,
		registry_only ? "---\napiVersion: sluice.io/v1alpha1\nkind: MeshConfig\n"
				"spec: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}\n" : "");
	if (n >= (int)sizeof(buf))
		return -E2BIG;
	rc = load_policy_text("test.yaml", buf, n, &m);
	if (rc)
		return rc;
	rc = sl_dp_apply(dp, m, gen, err);
	if (rc)
		printf("# apply: %s\n", err);
	sl_model_free(m);
	return rc;
}


int main(void)
{
	struct sl_dp_opts o = { 0 };
	char err[SL_DP_ERRLEN] = "";
	const struct sl_dp_hook *hooks;
	uint64_t cnt[__SLUICE_CNT_MAX], cnt0[__SLUICE_CNT_MAX];
	struct tally t, t2;
	uint32_t gen = 0, gen2 = 0;
	size_t nh, i;
	int rc, ok;

	if (geteuid() != 0)
		return tap_skip("kernel data-plane tests need root");
	if (dp_start(&o))
		return 1;

	rc = sl_dp_open(&o, &dp, err);
	tap(rc == 0, "sl_dp_open loads, pins and attaches (%s)", rc ? err : "ok");
	if (rc) {
		printf("Bail out! cannot open the data plane\n");
		return 1;
	}
	nh = sl_dp_hooks(dp, &hooks);
	for (i = 0, ok = 1; i < nh; i++)
		if (!hooks[i].attached) {
			printf("# hook %s: %s\n", hooks[i].name, hooks[i].why);
			ok = 0;
		}
	tap(ok && nh == 7 && prog_count(cg_parent) == 7, "all 7 socket hooks attached to the test cgroup");

	rc = apply(80, 20, 0, "ROUND_ROBIN", 0, &gen);
	tap(rc == 0 && gen == 1, "apply S1 80/20 -> generation 1");
	if (rc) {
		printf("Bail out! cannot apply\n");
		return 1;
	}

	/* S1: 80/20 over 10,000 connections */
	rc = run_clients(cg_client, VIP, 10000, &t);
	{
		int obs[2] = { V1(&t), t.n[1] };
		double share[2] = { 0.8, 0.2 }, p2 = t.n[1] / 100.0, x = chi2(obs, share, 2, 10000);

		printf("# S1: v1 %d v2 %d other %d fail %d (errno %d) v2 share %.2f%% chi2 %.2f\n",
		       V1(&t), t.n[1], t.other, t.fail, t.first_errno, p2, x);
		tap(!rc && t.fail == 0 && t.other == 0 && V1(&t) + t.n[1] == 10000,
		    "S1: 10,000 connections through the VIP, none failed");
		tap(!rc && fabs(p2 - 20.0) <= 1.5, "S1: v2 share %.2f%% within 20 +- 1.5 points", p2);
		/* 1 degree of freedom, p = 0.001 */
		tap(!rc && x < 10.83, "S1: chi-square %.2f < 10.83 (p=0.001, 1 df)", x);
		tap(!rc && abs(t.n[0] - t.n[2]) <= 1,
		    "ROUND_ROBIN inside subset v1 alternates exactly (v1 %d, v1b %d)", t.n[0], t.n[2]);
		tap(!rc && t.peer_vip == 10000, "getpeername returns the VIP (%d of 10000)", t.peer_vip);
	}
	{
		uint64_t op, es, cl;
		int64_t ac;

		rc = wait_stats_settle(&op, &es, &cl, &ac);
		printf("# stats: opened %llu established %llu closed %llu active %lld\n",
		       (unsigned long long)op, (unsigned long long)es, (unsigned long long)cl,
		       (long long)ac);
		tap(!rc && op == 10000 && es == 10000 && cl == 10000 && ac == 0,
		    "sockops stats: 10000 opened, established and closed, 0 active");
	}
	{
		/* every backend sent "<tag>\n"; the clients sent nothing */
		struct sl_dp_stat *st = NULL;
		uint64_t rx = 0, tx = 0, want = 0;
		size_t n = 0;

		rc = sl_dp_stats(dp, &st, &n);
		for (i = 0; !rc && i < n; i++) {
			rx += st[i].val.bytes_received;
			tx += st[i].val.bytes_sent;
		}
		free(st);
		want = (uint64_t)t.n[0] * 3 + (uint64_t)t.n[1] * 3 + (uint64_t)t.n[2] * 4;
		/* payload only (SYN/FIN taken out); a close that races the
		 * server's FIN may keep one control byte: allow 1% */
		tap(!rc && rx >= want - want / 100 && rx <= want + want / 100 && tx <= 100,
		    "sockops stats: bytes received %llu (expected %llu), sent %llu",
		    (unsigned long long)rx, (unsigned long long)want, (unsigned long long)tx);
	}

	/* 0/100, 100/0 exact; 1 vs 9999 */
	rc = apply(0, 100, 0, "ROUND_ROBIN", 0, &gen);
	rc = rc ? rc : run_clients(cg_client, VIP, 1000, &t);
	tap(!rc && t.n[1] == 1000, "0/100: all 1000 connections to v2 (v1 %d, v2 %d)", V1(&t), t.n[1]);
	rc = apply(100, 0, 0, "ROUND_ROBIN", 0, &gen);
	rc = rc ? rc : run_clients(cg_client, VIP, 1000, &t);
	tap(!rc && V1(&t) == 1000, "100/0: all 1000 connections to v1 (v1 %d, v2 %d)", V1(&t), t.n[1]);
	rc = apply(1, 9999, 0, "ROUND_ROBIN", 0, &gen);
	rc = rc ? rc : run_clients(cg_client, VIP, 10000, &t);
	/* expected 1 connection to v1; P(more than 12) for Poisson(1) < 1e-9 */
	tap(!rc && t.fail == 0 && V1(&t) <= 12 && V1(&t) + t.n[1] == 10000,
	    "weights 1 vs 9999: v1 %d, v2 %d of 10000", V1(&t), t.n[1]);

	/* empty subset v3 (weight 50) is skipped: everything to v1, no failure */
	rc = apply(50, 0, 50, "ROUND_ROBIN", 0, &gen);
	rc = rc ? rc : run_clients(cg_client, VIP, 1000, &t);
	tap(!rc && V1(&t) == 1000 && t.fail == 0, "empty subset skipped: v1 %d, failed %d", V1(&t), t.fail);

	/* no endpoints: ECONNREFUSED at once, counted */
	sl_dp_counters(dp, cnt0);
	rc = run_clients(cg_client, VIP_EMPTY, 20, &t);
	sl_dp_counters(dp, cnt);
	tap(!rc && t.fail == 20 && t.first_errno == ECONNREFUSED &&
	    cnt[SLUICE_CNT_NO_ENDPOINTS] - cnt0[SLUICE_CNT_NO_ENDPOINTS] == 20,
	    "no endpoints: connect() fails with ECONNREFUSED and is counted (%d failed, errno %d)",
	    t.fail, t.first_errno);

	/* S4 sourceLabels by cgroup */
	rc = run_clients(cg_wl2, VIP_SRC, 500, &t);
	rc = rc ? rc : run_clients(cg_wl1, VIP_SRC, 500, &t2);
	tap(!rc && t.n[1] == 500 && t2.n[0] == 500,
	    "S4: workload v2's cgroup always reaches forecast v2 (%d/500), v1's always v1 (%d/500)",
	    t.n[1], t2.n[0]);
	rc = run_clients(cg_client, VIP_SRC, 200, &t);
	tap(!rc && t.n[0] == 200, "S4: an unlabelled client takes the default route (v1 %d/200)", t.n[0]);

	/* weight change: new connections move, an open one keeps its backend */
	{
		struct held h = { -1, -1, -1 };
		char reply[64] = "";
		int b = -9;

		rc = apply(100, 0, 0, "ROUND_ROBIN", 0, &gen);
		rc = rc ? rc : held_start(&h);
		if (!rc && read(h.rfd, &b, sizeof(b)) != sizeof(b))
			rc = -EIO;
		rc = rc ? rc : apply(0, 100, 0, "ROUND_ROBIN", 0, &gen);
		rc = rc ? rc : run_clients(cg_client, VIP, 500, &t);
		if (!rc && (write(h.wfd, "g", 1) != 1 || read(h.rfd, reply, sizeof(reply)) <= 0))
			rc = -EIO;
		if (!rc) {
			close(h.rfd);
			close(h.wfd);
			waitpid(kids[h.slot], NULL, 0);
			kids[h.slot] = 0;
		}
		tap(!rc && (b == 0 || b == 2) && t.n[1] == 500 && !strcmp(reply, b == 0 ? "v1:ping" : "v1b:ping"),
		    "weight change: 500 new connections on v2 (%d), the open one still on v1 (\"%s\")",
		    t.n[1], reply);
	}

	/* load balancers inside subset v1 = {v1, v1b} */
	rc = apply(80, 20, 0, "LEAST_REQUEST", 0, &gen);
	rc = rc ? rc : run_clients(cg_client, VIP, 1000, &t);
	tap(!rc && t.fail == 0 && t.n[0] && t.n[2] && V1(&t) + t.n[1] == 1000, "LEAST_REQUEST in subset v1 uses both endpoints (v1 %d v1b %d v2 %d)",
	    t.n[0], t.n[2], t.n[1]);
	rc = apply(80, 20, 0, "RANDOM", 0, &gen);
	rc = rc ? rc : run_clients(cg_client, VIP, 1000, &t);
	tap(!rc && t.fail == 0 && t.n[0] && t.n[2] && V1(&t) + t.n[1] == 1000, "RANDOM in subset v1 uses both endpoints (v1 %d v1b %d v2 %d)",
	    t.n[0], t.n[2], t.n[1]);

	/* consistentHash useSourceIp: at connect() the workload's cgroup is the
	 * source, so each client cgroup sticks to one subset and one backend;
	 * with an XDP Maglev map pinned (made here as XDP would), the apply
	 * also writes the new generation's tables and drops the old ones */
	{
		const char *cgs[3] = { cg_client, cg_wl1, cg_wl2 };
		char mpath[512];
		int mfd, sticky = 0, k;
		uint32_t gen_ch = 0;
		long live_slots = 0, old_slots = 0;
		LIBBPF_OPTS(bpf_map_create_opts, mo);

		snprintf(mpath, sizeof(mpath), "%s/%s", bpffs, sl_map_names[SL_MAP_MAGLEV]);
		mfd = bpf_map_create(BPF_MAP_TYPE_HASH, sl_map_names[SL_MAP_MAGLEV],
				     sizeof(struct sluice_maglev_key),
				     sizeof(__u32), SLUICE_MAGLEV_DEFAULT_ENTRIES, &mo);
		if (mfd >= 0 && bpf_obj_pin(mfd, mpath)) {
			close(mfd);
			mfd = -1;
		}
		rc = apply(80, 20, 0, "{consistentHash: {useSourceIp: true, maglev: {tableSize: 251}}}", 0,
			   &gen_ch);
		for (k = 0; !rc && k < 3; k++) {
			rc = run_clients(cgs[k], VIP, 100, &t);
			printf("# consistentHash: cgroup %d -> v1 %d v2 %d v1b %d fail %d\n", k, t.n[0],
			       t.n[1], t.n[2], t.fail);
			sticky += !rc && t.fail == 0 &&
				  (t.n[0] == 100 || t.n[1] == 100 || t.n[2] == 100);
		}
		tap(!rc && sticky == 3, "consistentHash useSourceIp at connect(): each of 3 client "
		    "cgroups stays on one backend (%d/3)", sticky);
		if (mfd >= 0) {
			struct sluice_maglev_key mk, nk;
			void *prev = NULL;

			while (!bpf_map_get_next_key(mfd, prev, &nk)) {
				live_slots += nk.gen == gen_ch;
				mk = nk;
				prev = &mk;
			}
		}
		/* subsets v1 and v2 hash (v3 is empty): two tables of 251 */
		tap(mfd >= 0 && live_slots == 2 * 251, "consistentHash: the apply writes the Maglev "
		    "tables of its generation (%ld slots, expected %d)", live_slots, 2 * 251);
		rc = apply(80, 20, 0, "ROUND_ROBIN", 0, &gen);
		if (mfd >= 0) {
			struct sluice_maglev_key mk, nk;
			void *prev = NULL;

			while (!bpf_map_get_next_key(mfd, prev, &nk)) {
				old_slots++;
				mk = nk;
				prev = &mk;
			}
			close(mfd);
		}
		tap(!rc && mfd >= 0 && old_slots == 0, "consistentHash: the next apply drops the old "
		    "generation's Maglev tables (%ld left)", old_slots);
		unlink(mpath);
	}

	/* 100 applies under a bounded connection load: no failed connect */
	{
		int stop[2], rfd, slot, applies = 0;

		if (pipe2(stop, O_CLOEXEC))
			rc = -errno;
		slot = rc ? -1 : clients_start(cg_client, VIP, -1, stop[0], &rfd);
		for (i = 0; slot >= 0 && i < 100; i++)
			if (!apply(i % 2 ? 20 : 80, i % 2 ? 80 : 20, 0, "ROUND_ROBIN", 0, &gen))
				applies++;
		if (slot >= 0) {
			if (write(stop[1], "s", 1) != 1)
				rc = -EIO;
			rc = rc ? rc : clients_wait(slot, rfd, &t);
		}
		close(stop[0]);
		close(stop[1]);
		printf("# flip under load: %d applies, %d connections, %d failed, generation %u\n",
		       applies, t.done, t.fail, gen);
		tap(slot >= 0 && !rc && applies == 100 && t.fail == 0 && t.other == 0 && t.done > 0,
		    "100 applies under load: %d connections, 0 failed (%d)", t.done, t.fail);
	}

	/* the data plane survives its handle: close, connect, re-adopt; and
	 * closing the handle leaves no bpf_link fd open in this process */
	{
		int links_open = link_fd_count();

		sl_dp_close(dp);
		dp = NULL;
		tap(links_open >= 7 && link_fd_count() == 0,
		    "sl_dp_close closes its link fds (%d open before, %d after)", links_open,
		    link_fd_count());
	}
	rc = run_clients(cg_client, VIP, 200, &t);
	tap(!rc && t.fail == 0 && V1(&t) + t.n[1] == 200, "steering continues with no handle open (pinned links)");
	rc = sl_dp_open(&o, &dp, err);
	gen2 = rc ? 0 : sl_dp_generation(dp);
	tap(!rc && gen2 == gen, "re-open re-adopts the pins: same generation %u (was %u)", gen2, gen);
	tap(!rc && prog_count(cg_parent) == 7, "re-open keeps exactly 7 programs attached (links updated, not duplicated)");
	{
		struct sl_dp *ro = NULL;
		uint64_t rc_cnt[__SLUICE_CNT_MAX] = { 0 };
		int r2 = sl_dp_open_pinned(bpffs, &ro, err);

		r2 = r2 ? r2 : sl_dp_counters(ro, rc_cnt);
		tap(!r2 && sl_dp_generation(ro) == gen && rc_cnt[SLUICE_CNT_CONNECT_STEERED] > 0 && sl_dp_apply(ro, NULL, NULL, err) == -EPERM,
		    "read-only handle: generation, counters (%llu steered), apply refused",
		    (unsigned long long)rc_cnt[SLUICE_CNT_CONNECT_STEERED]);
		sl_dp_close(ro);
	}

	/* REGISTRY_ONLY: unknown destinations refused with EPERM */
	rc = apply(80, 20, 0, "ROUND_ROBIN", 1, &gen);
	sl_dp_counters(dp, cnt0);
	rc = rc ? rc : run_clients(cg_client, "127.0.1.9", 5, &t);
	rc = rc ? rc : run_clients(cg_client, VIP, 100, &t2);
	sl_dp_counters(dp, cnt);
	printf("# registry: rc %d unknown: fail %d errno %d; known: fail %d errno %d; denied %llu\n",
	       rc, t.fail, t.first_errno, t2.fail, t2.first_errno,
	       (unsigned long long)(cnt[SLUICE_CNT_REGISTRY_DENY] - cnt0[SLUICE_CNT_REGISTRY_DENY]));
	tap(!rc && t.fail == 5 && t.first_errno == EPERM &&
	    cnt[SLUICE_CNT_REGISTRY_DENY] - cnt0[SLUICE_CNT_REGISTRY_DENY] == 5 && t2.fail == 0,
	    "REGISTRY_ONLY: unknown destination refused with EPERM and counted, the registry allowed");
	/* a MESH_EXTERNAL address is let through untouched: nobody listens on
	 * 127.0.1.8:9000, so the kernel's own ECONNREFUSED, not EPERM */
	rc = run_clients(cg_client, "127.0.1.8", 3, &t);
	tap(!rc && t.fail == 3 && t.first_errno == ECONNREFUSED,
	    "REGISTRY_ONLY: a MESH_EXTERNAL ServiceEntry address is allowed (errno %d)", t.first_errno);
	/* an endpoint's own address:port is registered too */
	conn_port = be[1].port;
	rc = run_clients(cg_client, be_addr[1], 3, &t);
	conn_port = VPORT;
	tap(!rc && t.n[1] == 3, "REGISTRY_ONLY: a registered endpoint's address:port is allowed (%d/3)",
	    t.n[1]);

	/* reset leaves nothing */
	sl_dp_close(dp);
	dp = NULL;
	rc = sl_dp_reset(bpffs, err);
	{
		struct stat st;
		int left = prog_count(cg_parent);

		tap(!rc && left == 0 && stat(bpffs, &st) != 0,
		    "reset: no program attached (%d), no pin left (%s)", left, rc ? err : "ok");
	}
	dp_stop();
	return tap_done();
}
