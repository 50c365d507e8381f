// SPDX-License-Identifier: Apache-2.0
/*
 * Kubernetes kinds in the policy front-end (user/lib/policy_k8s.c): a
 * Service becomes the service NAME.NS.svc.cluster.local with its cluster
 * IPs as VIPs; its endpoints come from EndpointSlices (ready, not
 * terminating; labels from the Pod of the targetRef; several slices, IPv4
 * and IPv6) or, without slices, from the Pods its selector picks (Running,
 * not being deleted; named targetPort through the container ports);
 * headless and ExternalName Services; kind List; the skipped kinds; what is
 * refused; strings many objects repeat held once.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "sluice/compile_l4.h"
#include "sluice/dataplane.h"
#include "sluice/model.h"
#include "unit/policy_load_util.h"

#define SVC(extra)                                                               \
	"apiVersion: v1\n"                                                        \
	"kind: Service\n"                                                         \
	"metadata: {name: cart, namespace: shop}\n"                               \
	"spec:\n"                                                                 \
	"  selector: {app: cart}\n"                                               \
	"  ports: [{name: http, port: 80, targetPort: web}]\n" extra

#define POD(name, ver, ip, phase, extra)                                         \
	"---\n"                                                                   \
	"apiVersion: v1\n"                                                        \
	"kind: Pod\n"                                                             \
	"metadata: {name: " name ", namespace: shop, labels: {app: cart, version: " ver "}" extra "}\n" \
	"spec: {containers: [{name: c, ports: [{name: web, containerPort: 8080}]}]}\n" \
	"status: {phase: " phase ", podIP: " ip "}\n"

#define SLICE(name, fam, eps)                                                    \
	"---\n"                                                                   \
	"apiVersion: discovery.k8s.io/v1\n"                                       \
	"kind: EndpointSlice\n"                                                   \
	"metadata: {name: " name ", namespace: shop, labels: {kubernetes.io/service-name: cart}}\n" \
	"addressType: " fam "\n"                                                  \
	"ports: [{name: http, port: 8080, protocol: TCP}]\n"                      \
	"endpoints:\n" eps

static const struct sl_service *the_service(const struct sl_model *m)
{
	int i = sl_model_find_service(m, "cart.shop.svc.cluster.local");

	assert_true(i >= 0);
	return &m->services[i];
}

static const struct sl_endpoint *ep_at(const struct sl_service *s, const char *addr)
{
	for (size_t i = 0; i < s->nendpoints; i++)
		if (s->endpoints[i].address && !strcmp(s->endpoints[i].address, addr))
			return &s->endpoints[i];
	return NULL;
}

static const char *label(const struct sl_labels *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].key, key))
			return l->v[i].value;
	return NULL;
}

static void test_service_and_slices(void **state)
{
	struct sl_diags d;
	struct sl_model *m;
	const struct sl_service *s;
	const struct sl_endpoint *e;

	(void)state;
	assert_int_equal(load(SVC("  clusterIPs: [10.96.0.30, 'fd00::30']\n")
			      SLICE("cart-a", "IPv4",
				    "- {addresses: [10.1.0.1], targetRef: {kind: Pod, name: p1}}\n"
				    "- {addresses: [10.1.0.2], conditions: {ready: false}}\n"
				    "- {addresses: [10.1.0.3], conditions: {ready: true, terminating: true}}\n")
			      SLICE("cart-b", "IPv6", "- {addresses: ['fd00::5']}\n")
			      POD("p1", "v1", "10.1.0.1", "Running", ""),
			      &d, &m), 0);
	assert_int_equal(d.nwarnings, 0);
	s = the_service(m);
	assert_int_equal(s->nvips, 2);
	assert_int_equal(s->vips[1].family, AF_INET6);
	assert_int_equal(s->location, SL_LOC_MESH_INTERNAL);
	assert_int_equal(s->ports[0].proto, SL_PROTO_HTTP);
	/* ready ones only: not ready and terminating take no new connection */
	assert_int_equal(s->nendpoints, 2);
	e = ep_at(s, "10.1.0.1");
	assert_non_null(e);
	assert_string_equal(label(&e->labels, "version"), "v1");	/* from the Pod */
	assert_int_equal(e->nports, 1);
	assert_string_equal(e->ports[0].name, "http");
	assert_int_equal(e->ports[0].number, 8080);
	assert_non_null(ep_at(s, "fd00::5"));
	assert_null(ep_at(s, "10.1.0.2"));
	assert_null(ep_at(s, "10.1.0.3"));
	sl_model_free(m);
	sl_diags_free(&d);

	/* publishNotReadyAddresses: not-ready ones count, terminating still not */
	assert_int_equal(load(SVC("  clusterIP: 10.96.0.30\n  publishNotReadyAddresses: true\n")
			      SLICE("cart-a", "IPv4",
				    "- {addresses: [10.1.0.2], conditions: {ready: false}}\n"
				    "- {addresses: [10.1.0.3], conditions: {terminating: true}}\n"),
			      &d, &m), 0);
	assert_int_equal(the_service(m)->nendpoints, 1);
	sl_model_free(m);
	sl_diags_free(&d);

	/* none ready: the terminating endpoints still serving take new
	 * connections (kube-proxy's fallback), not the others */
	assert_int_equal(load(SVC("  clusterIP: 10.96.0.30\n")
			      SLICE("cart-a", "IPv4",
				    "- {addresses: [10.1.0.4], conditions: {ready: false, serving: true, terminating: true}}\n"
				    "- {addresses: [10.1.0.5], conditions: {ready: false, serving: false, terminating: true}}\n"
				    "- {addresses: [10.1.0.6], conditions: {ready: false}}\n"),
			      &d, &m), 0);
	s = the_service(m);
	assert_int_equal(s->nendpoints, 1);
	assert_non_null(ep_at(s, "10.1.0.4"));
	sl_model_free(m);
	sl_diags_free(&d);
	/* ... and only then: one ready endpoint takes them all */
	assert_int_equal(load(SVC("  clusterIP: 10.96.0.30\n")
			      SLICE("cart-a", "IPv4",
				    "- {addresses: [10.1.0.4], conditions: {ready: false, serving: true, terminating: true}}\n"
				    "- {addresses: [10.1.0.7]}\n"),
			      &d, &m), 0);
	s = the_service(m);
	assert_int_equal(s->nendpoints, 1);
	assert_non_null(ep_at(s, "10.1.0.7"));
	sl_model_free(m);
	sl_diags_free(&d);
}

/* Namespaces, label keys and values and addresses are held once per load
 * (pl_intern): 50,000 Pods repeat a handful of them. Pods with a uid are
 * workloads, the others endpoints only. A Service whose slices hold no
 * ready endpoint has none (its selector is not used). */
static void test_one_copy(void **state)
{
	struct sl_diags d;
	struct sl_model *m;
	const struct sl_service *s;
	const struct sl_workload *w;

	(void)state;
	assert_int_equal(load(SVC("  clusterIP: 10.96.0.30\n")
			      SLICE("cart-a", "IPv4",
				    "- {addresses: [10.1.0.1], targetRef: {kind: Pod, name: p1}}\n"
				    "- {addresses: [10.1.0.2], conditions: {ready: false}}\n")
			      POD("p1", "v1", "10.1.0.1", "Running", ", uid: u1")
			      POD("p2", "v1", "10.1.0.2", "Running", ", uid: u2")
			      POD("p3", "v1", "10.1.0.3", "Running", ""),
			      &d, &m), 0);
	s = the_service(m);
	/* a Pod without a uid (the Kubernetes source holds Pods of other
	 * nodes so) is no workload: no cgroup can be found for it */
	assert_int_equal(m->nworkloads, 2);
	w = m->workloads;
	assert_ptr_equal(w[0].ns, w[1].ns);
	assert_ptr_equal(w[0].ns, s->ns);
	assert_int_equal(w[0].labels.n, 2);
	assert_ptr_equal(w[0].labels.v[0].key, w[1].labels.v[0].key);
	assert_ptr_equal(w[0].labels.v[0].value, w[1].labels.v[0].value);	/* cart */
	assert_ptr_equal(w[0].labels.v[1].value, w[1].labels.v[1].value);	/* v1 */
	assert_int_equal(s->nendpoints, 1);
	assert_ptr_equal(s->endpoints[0].address, w[0].address);
	for (size_t i = 0; i < m->nobjects; i++)
		assert_ptr_equal(m->objects[i].ns, s->ns);
	sl_model_free(m);
	sl_diags_free(&d);

	/* slices, none ready: no endpoint, and not the Pods the selector picks */
	assert_int_equal(load(SVC("  clusterIP: 10.96.0.30\n")
			      SLICE("cart-a", "IPv4", "- {addresses: [10.1.0.2], conditions: {ready: false}}\n")
			      POD("p2", "v1", "10.1.0.2", "Running", ""),
			      &d, &m), 0);
	s = the_service(m);
	assert_int_equal(s->nendpoints, 0);
	assert_false(s->pod_selected);
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_selector_pods(void **state)
{
	struct sl_diags d;
	struct sl_model *m;
	const struct sl_service *s;

	(void)state;
	assert_int_equal(load(SVC("  clusterIP: 10.96.0.30\n")
			      POD("p1", "v1", "10.1.0.1", "Running", "")
			      POD("p2", "v2", "10.1.0.2", "Running", "")
			      POD("p3", "v2", "10.1.0.3", "Pending", "")
			      POD("p4", "v2", "10.1.0.4", "Running", ", deletionTimestamp: '2026-12-05T10:00:00Z'"),
			      &d, &m), 0);
	s = the_service(m);
	assert_int_equal(s->nendpoints, 2);
	assert_non_null(ep_at(s, "10.1.0.1"));
	assert_non_null(ep_at(s, "10.1.0.2"));
	/* the named targetPort through the container port of that name */
	assert_int_equal(ep_at(s, "10.1.0.2")->nports, 1);
	assert_int_equal(ep_at(s, "10.1.0.2")->ports[0].number, 8080);
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_headless_external_list(void **state)
{
	struct sl_diags d;
	struct sl_model *m;
	const struct sl_service *s;

	(void)state;
	/* headless: no VIP, endpoints still known (registered under REGISTRY_ONLY) */
	assert_int_equal(load(SVC("  clusterIP: None\n") POD("p1", "v1", "10.1.0.1", "Running", ""),
			      &d, &m), 0);
	s = the_service(m);
	assert_int_equal(s->nvips, 0);
	assert_int_equal(s->nendpoints, 1);
	sl_model_free(m);
	sl_diags_free(&d);

	/* ExternalName: a DNS entry for the external name */
	assert_int_equal(load("apiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: shop}\n"
			      "spec: {type: ExternalName, externalName: cart.example.com}\n", &d, &m), 0);
	s = the_service(m);
	assert_int_equal(s->resolution, SL_RES_DNS);
	assert_int_equal(s->nendpoints, 1);
	assert_true(s->endpoints[0].dns_name);
	assert_string_equal(s->endpoints[0].address, "cart.example.com");
	sl_model_free(m);
	sl_diags_free(&d);

	/* kind: List holds any kinds; Deployments are skipped with an info */
	assert_int_equal(load("apiVersion: v1\nkind: List\nitems:\n"
			      "- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: cart, namespace: shop}\n"
			      "  spec: {replicas: 2}\n"
			      "- apiVersion: v1\n  kind: Service\n  metadata: {name: cart, namespace: shop}\n"
			      "  spec: {clusterIP: 10.96.0.30, ports: [{port: 7000}]}\n", &d, &m), 0);
	assert_int_equal(d.ninfos, 1);
	assert_int_equal(d.nwarnings, 0);
	s = the_service(m);
	assert_int_equal(s->nports, 1);
	assert_int_equal(s->ports[0].proto, SL_PROTO_TCP);
	sl_model_free(m);
	sl_diags_free(&d);

	/* the one unnamed port: its slices name it "" */
	assert_int_equal(load("apiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: shop}\n"
			      "spec: {clusterIP: 10.96.0.30, ports: [{port: 7000, targetPort: 9000}]}\n"
			      "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			      "metadata: {name: c1, namespace: shop, labels: {kubernetes.io/service-name: cart}}\n"
			      "addressType: IPv4\nports: [{port: 9000}]\nendpoints: [{addresses: [10.1.0.1]}]\n",
			      &d, &m), 0);
	s = the_service(m);
	assert_int_equal(s->endpoints[0].nports, 1);
	assert_string_equal(s->endpoints[0].ports[0].name, s->ports[0].name);
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_refusals(void **state)
{
	(void)state;
	expect_error(SVC("  sessionAffinity: ClientIP\n"), "SL0007");
	expect_error(SVC("  internalTrafficPolicy: Local\n"), "SL0007");
	expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: shop}\n"
		     "spec: {ports: [{port: 80, protocol: SCTP}]}\n", "SL0007");
	expect_error(SVC("") SLICE("cart-a", "FQDN", "- {addresses: [cart.example.com]}\n"), "SL0007");
	expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: shop}\n"
		     "spec: {ports: [{port: 80, targetPort: 70000}]}\n", "SL0207");
	expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: shop}\n"
		     "spec: {selector: {app: cart}}\n", "SL0004");
	expect_error("apiVersion: apps/v1\nkind: Service\nmetadata: {name: cart, namespace: shop}\n"
		     "spec: {ports: [{port: 80}]}\n", "SL0002");
	expect_error("apiVersion: v1\nkind: Frobnicator\nmetadata: {name: x}\n", "SL0003");
	/* a Service and a ServiceEntry for one host */
	expect_error(SVC("  clusterIP: 10.96.0.30\n")
		     "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		     "metadata: {name: cart2, namespace: shop}\n"
		     "spec: {hosts: [cart.shop.svc.cluster.local], ports: [{number: 80, name: http}]}\n",
		     "SL0110");
}

/* kubelet's layouts under "k": the systemd one for pod 11-22, the cgroupfs
 * one for pod 33-44 (and their top directories); everything else absent. */
static uint64_t kubelet_cgroups(const char *rel, void *arg)
{
	(void)arg;
	if (!strcmp(rel, "k/kubepods.slice") || !strcmp(rel, "k/kubepods"))
		return 500;
	if (!strcmp(rel, "k/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod11_22.slice"))
		return 501;
	if (!strcmp(rel, "k/kubepods/besteffort/pod33-44"))
		return 502;
	return 0;
}

static void test_pod_cgroups(void **state)
{
	struct sl_l4_opts o = { .cgroup_id = kubelet_cgroups, .kubelet_root = "k" };
	char err[SL_DP_ERRLEN] = "";
	struct sl_l4_gen g;
	struct sl_diags d;
	struct sl_model *m;
	uint32_t *wids = NULL;

	(void)state;
	assert_int_equal(load(SVC("  clusterIP: 10.96.0.30\n")
			      POD("p1", "v1", "10.1.0.1", "Running", ", uid: 11-22")
			      POD("p2", "v2", "10.1.0.2", "Running", ", uid: 33-44")
			      POD("p3", "v2", "10.1.0.3", "Running", ", uid: 55-66"), &d, &m), 0);
	assert_int_equal(m->nworkloads, 3);	/* Pods are workloads */
	assert_int_equal(sl_compile_l4(m, &o, 1, &g, err), 0);
	assert_int_equal(sl_l4_workload_ids(m, &wids), 0);
	assert_int_equal(g.ncgroups, 2);	/* p3 is not on this node */
	for (size_t i = 0; i < g.ncgroups; i++) {
		size_t w = sl_l4_workload_index(wids, m->nworkloads, g.cgroups[i].v.workload_id);

		assert_true(w < m->nworkloads);
		if (g.cgroups[i].k.cgroup_id == 501)
			assert_string_equal(m->workloads[w].name, "p1");
		else
			assert_string_equal(m->workloads[w].name, "p2");
	}
	free(wids);
	sl_l4_gen_free(&g);
	sl_model_free(m);
	sl_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_service_and_slices),
		cmocka_unit_test(test_one_copy),
		cmocka_unit_test(test_selector_pods),
		cmocka_unit_test(test_headless_external_list),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_pod_cgroups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
