/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sluice-http hand-off: a connection to an HTTP service with http
 * routes is rewritten to the helper listener (here backend "v1b" plays the
 * listener), sockops publishes the original VIP in sluice_origdst under the
 * client's local addr:port, getpeername still shows the VIP; a socket
 * carrying SLUICE_HELPER_MARK is never steered. Without a helper the same
 * header-routed policy is refused by apply, never half-enforced.
 */
#include <bpf/bpf.h>

#include "dp_harness.h"
#include "sluice/compile_l4.h"

#define HVIP "127.100.0.30"
#define HPORT 8080
#define DVIP "127.100.0.31"	/* a service whose only backend is down */
#define DBE "127.0.1.9"		/* nothing listens on 127.0.1.9:9 */

static int load_policy(struct sl_model **m)
{
	char buf[4096];
	int n;

	n = snprintf(buf, sizeof(buf),
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: ServiceEntry\n"
		"metadata: {name: web, namespace: t}\n"
		"spec:\n"
		"  hosts: [web.t.svc.cluster.local]\n"
		"  addresses: [" HVIP "]\n"
		"  ports: [{number: %d, name: http, protocol: HTTP}]\n"
		"  resolution: STATIC\n"
		"  endpoints:\n"
		"  - {address: %s, ports: {http: %u}, labels: {version: v1}}\n"
		"  - {address: %s, ports: {http: %u}, labels: {version: v2}}\n"
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: DestinationRule\n"
		"metadata: {name: web, namespace: t}\n"
		"spec:\n"
		"  host: web\n"
		"  subsets:\n"
		"  - {name: v1, labels: {version: v1}}\n"
		"  - {name: v2, labels: {version: v2}}\n"
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: VirtualService\n"
		"metadata: {name: web, namespace: t}\n"
		"spec:\n"
		"  hosts: [web]\n"
		"  http:\n"
		"  - match: [{headers: {user-agent: {regex: \".*Chrome.*\"}}}]\n"
		"    route: [{destination: {host: web, subset: v2}}]\n"
		"  - route: [{destination: {host: web, subset: v1}}]\n"
		"---\n"
		TCP_ECHO_SE
		"  - {address: %s, ports: {tcp: %u}}\n"
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: ServiceEntry\n"
		"metadata: {name: dead, namespace: t}\n"
		"spec:\n"
		"  hosts: [dead.t.svc.cluster.local]\n"
		"  addresses: [" DVIP "]\n"
		"  ports: [{number: 9000, name: tcp, protocol: TCP}]\n"
		"  resolution: STATIC\n"
		"  endpoints:\n"
		"  - {address: " DBE ", ports: {tcp: 9}}\n"
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: WorkloadEntry\n"
		"metadata:\n"
		"  name: frontend-v2\n"
		"  namespace: t\n"
		"  annotations: {sluice.io/cgroup: %s}\n"
		"spec: {address: 127.0.2.2, labels: {app: frontend, version: v2}}\n",
		HPORT, be_addr[0], be[0].port, be_addr[1], be[1].port, be_addr[0], be[0].port,
		cg_rel_wl2);
	return load_policy_text("helper.yaml", buf, n, m);
}

struct hres {
	int tag;			/* backend index the HTTP VIP reached */
	int peer_vip;
	struct sockaddr_in local;	/* the client's local addr:port */
	int marked_errno;		/* connect() of a marked socket to the TCP VIP */
	int dead_errno;			/* connect() to the dead service */
};

static void child_body(struct hres *r, int go_fd, int up_fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(HPORT) }, p;
	socklen_t l = sizeof(p);
	unsigned mark = SLUICE_HELPER_MARK;
	char line[64] = "", go;
	ssize_t n;
	int fd, mfd;

	inet_pton(AF_INET, HVIP, &a.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && !connect(fd, (void *)&a, sizeof(a))) {
		n = read(fd, line, sizeof(line) - 1);
		line[n > 0 ? n - 1 : 0] = 0;
		r->tag = tag_index(line);
		r->peer_vip = !getpeername(fd, (void *)&p, &l) && p.sin_addr.s_addr == a.sin_addr.s_addr &&
			      p.sin_port == a.sin_port;
		l = sizeof(r->local);
		getsockname(fd, (void *)&r->local, &l);
	}
	/* the helper's own upstream socket: marked, must not be steered */
	inet_pton(AF_INET, VIP, &a.sin_addr);
	a.sin_port = htons(VPORT);
	mfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (mfd >= 0 && !setsockopt(mfd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)))
		r->marked_errno = connect(mfd, (void *)&a, sizeof(a)) ? errno : 0;
	else
		r->marked_errno = -1;
	if (mfd >= 0)
		close(mfd);
	/* a steered connect the backend refuses: counted as failed */
	inet_pton(AF_INET, DVIP, &a.sin_addr);
	a.sin_port = htons(9000);
	mfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	r->dead_errno = mfd >= 0 && connect(mfd, (void *)&a, sizeof(a)) ? errno : 0;
	if (mfd >= 0)
		close(mfd);
	/* report while the connection is still open, then wait to close */
	if (write(up_fd, r, sizeof(*r)) != sizeof(*r) || read(go_fd, &go, 1) != 1)
		_exit(98);
	close(fd);
	_exit(0);
}

int main(void)
{
	struct sl_dp_opts o = { 0 };
	char err[SL_DP_ERRLEN] = "";
	struct sl_model *m = NULL;
	struct sluice_origdst_key k = { 0 };
	struct sluice_origdst v = { 0 };
	uint8_t hvip[16] = { [10] = 0xff, [11] = 0xff };
	uint64_t c0[__SLUICE_CNT_MAX], c1[__SLUICE_CNT_MAX];
	struct hres r = { 0 };
	int rc, up[2], down[2], mfd;
	uint32_t gen, want_wid = SLUICE_NO_WORKLOAD;
	pid_t pid;

	if (geteuid() != 0)
		return tap_skip("kernel data-plane tests need root");
	if (dp_start(&o))
		return 1;

	/* no helper configured: a header route cannot be enforced -> refused */
	rc = sl_dp_open(&o, &dp, err);
	rc = rc ? rc : load_policy(&m);
	if (rc) {
		printf("Bail out! open/load: %s\n", err);
		return 1;
	}
	rc = sl_dp_apply(dp, m, &gen, err);
	tap(rc == -ENOTSUP && sl_dp_generation(dp) == 0,
	    "without sluice-http, header routes are refused (%s) and nothing goes live", err);
	sl_dp_close(dp);
	dp = NULL;

	/* helper = backend v1b's listener */
	o.helper_addr[10] = o.helper_addr[11] = 0xff;
	inet_pton(AF_INET, be_addr[2], o.helper_addr + 12);
	o.helper_port = be[2].port;
	rc = sl_dp_open(&o, &dp, err);
	rc = rc ? rc : sl_dp_apply(dp, m, &gen, err);
	tap(rc == 0, "with sluice-http configured the HTTP service applies (%s)", rc ? err : "ok");
	{
		uint32_t *ids = NULL;

		/* the first workload of the policy is the client below */
		if (!rc && m->nworkloads && sl_l4_workload_ids(m, &ids) == 0)
			want_wid = ids[0];
		free(ids);
	}
	sl_model_free(m);
	if (rc || pipe2(up, O_CLOEXEC) || pipe2(down, O_CLOEXEC)) {
		printf("Bail out! apply\n");
		return 1;
	}
	sl_dp_counters(dp, c0);
	pid = fork();
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		alarm(60);
		join_cgroup(cg_wl2);	/* the frontend-v2 workload */
		child_body(&r, down[0], up[1]);
	}
	kids[0] = pid;
	close(up[1]);
	close(down[0]);
	rc = read(up[0], &r, sizeof(r)) == sizeof(r) ? 0 : -EIO;
	sl_dp_counters(dp, c1);
	tap(!rc && r.tag == 2, "a connection to the HTTP VIP lands on the helper listener");
	tap(!rc && r.peer_vip, "getpeername still returns the HTTP VIP");

	/* sluice_origdst[client local addr:port] = VIP:port */
	mfd = sl_map_open_pinned(bpffs, SL_MAP_ORIGDST);
	k.addr[10] = k.addr[11] = 0xff;
	memcpy(k.addr + 12, &r.local.sin_addr, 4);
	k.port = r.local.sin_port;
	inet_pton(AF_INET, HVIP, hvip + 12);
	rc = rc || mfd < 0 ? -EIO : bpf_map_lookup_elem(mfd, &k, &v);
	tap(!rc && !memcmp(v.vip, hvip, 16) && ntohs(v.vip_port) == HPORT,
	    "sockops published the original VIP:port in sluice_origdst for sluice-http");
	tap(!rc && v.workload_id == want_wid,
	    "sluice_origdst carries the client's workload id (%u, want %u) for http sourceLabels",
	    v.workload_id, want_wid);
	tap(r.marked_errno == ECONNREFUSED &&
	    c1[SLUICE_CNT_HELPER_BYPASS] - c0[SLUICE_CNT_HELPER_BYPASS] == 1,
	    "a socket with SLUICE_HELPER_MARK is not steered (errno %d, counted)", r.marked_errno);

	{
		struct sl_dp_stat *st = NULL;
		uint64_t failedc = 0, est = 0;
		uint8_t dead[16] = { [10] = 0xff, [11] = 0xff };
		size_t n = 0;

		inet_pton(AF_INET, DBE, dead + 12);
		if (!sl_dp_stats(dp, &st, &n))
			for (size_t i = 0; i < n; i++)
				if (!memcmp(st[i].key.addr, dead, 16) && ntohs(st[i].key.port) == 9) {
					failedc += st[i].val.failed;
					est += st[i].val.established;
				}
		free(st);
		tap(r.dead_errno == ECONNREFUSED && failedc == 1 && est == 0,
		    "a refused backend connect is counted as failed (errno %d, failed %llu)",
		    r.dead_errno, (unsigned long long)failedc);
	}

	/* close: the origdst entry goes away */
	if (write(down[1], "g", 1) != 1)
		rc = -EIO;
	waitpid(pid, NULL, 0);
	kids[0] = 0;
	for (int i = 0; i < 100 && mfd >= 0 && !bpf_map_lookup_elem(mfd, &k, &v); i++)
		usleep(50 * 1000);	/* bounded poll: 5 s */
	tap(mfd >= 0 && bpf_map_lookup_elem(mfd, &k, &v) && errno == ENOENT,
	    "sluice_origdst entry removed when the connection closes");
	if (mfd >= 0)
		close(mfd);
	close(up[0]);
	close(down[1]);

	sl_dp_close(dp);
	dp = NULL;
	rc = sl_dp_reset(bpffs, err);
	tap(!rc && prog_count(cg_parent) == 0, "reset detaches everything (%s)", rc ? err : "ok");
	dp_stop();
	return tap_done();
}
