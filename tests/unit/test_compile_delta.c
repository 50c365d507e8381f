// SPDX-License-Identifier: Apache-2.0
/*
 * Incremental apply without a kernel (user/lib/model_patch.c,
 * user/lib/compile_delta.c): a generation compiled from a policy, patched
 * with a service's new endpoints, must steer exactly as a full compile of
 * the changed policy does — per service entry, route by route, the same
 * backends behind the same weights — and refuse (-EAGAIN) what only a full
 * compile can express.
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
#include <cmocka.h>

#include "sluice/compile_l4.h"
#include "sluice/dataplane.h"
#include "sluice/model.h"
#include "unit/policy_load_util.h"

#define SVC(name, vip)                                                           \
	"---\napiVersion: v1\nkind: Service\n"                                    \
	"metadata: {name: " name ", namespace: shop}\n"                           \
	"spec:\n  clusterIP: " vip "\n  selector: {app: " name "}\n"             \
	"  ports: [{name: tcp, port: 7000, targetPort: 9000}]\n"

#define POD(name, app, ver, ip)                                                  \
	"---\napiVersion: v1\nkind: Pod\n"                                        \
	"metadata: {name: " name ", namespace: shop, labels: {app: " app ", version: " ver "}}\n" \
	"spec: {containers: [{name: c}]}\nstatus: {phase: Running, podIP: " ip "}\n"

#define SLICE(svc, eps)                                                          \
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"             \
	"metadata: {name: " svc "-x, namespace: shop, labels: {kubernetes.io/service-name: " svc "}}\n" \
	"addressType: IPv4\nports: [{name: tcp, port: 9000}]\nendpoints:\n" eps

#define EP(ip, pod, ready)                                                       \
	"- {addresses: [" ip "], conditions: {ready: " ready "}, targetRef: {kind: Pod, name: " pod "}}\n"

/* cart: v1/v2 subsets, 90/10 (its entries carry its subsets inline);
 * front: a VirtualService on front routing to cart's v2 (so front's entry
 * carries a copy of a cart subset); other: untouched; pooled: outlier
 * detection, whose ejection cap follows the subset's size. */
#define REST                                                                     \
	"---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"        \
	"metadata: {name: cart, namespace: shop}\n"                               \
	"spec:\n  host: cart\n  subsets:\n"                                       \
	"  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n" \
	"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"         \
	"metadata: {name: cart, namespace: shop}\n"                               \
	"spec:\n  hosts: [cart]\n  tcp:\n  - route:\n"                            \
	"    - {destination: {host: cart, subset: v1}, weight: 90}\n"             \
	"    - {destination: {host: cart, subset: v2}, weight: 10}\n"             \
	"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"         \
	"metadata: {name: front, namespace: shop}\n"                              \
	"spec:\n  hosts: [front]\n  tcp:\n  - route:\n"                           \
	"    - {destination: {host: cart, subset: v2}}\n"                         \
	"---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"        \
	"metadata: {name: pooled, namespace: shop}\n"                             \
	"spec:\n  host: pooled\n  trafficPolicy:\n"                               \
	"    outlierDetection: {consecutive5xxErrors: 3, maxEjectionPercent: 50}\n" \
	SVC("front", "10.96.0.2") SLICE("front", EP("10.1.0.1", "front-a", "true"))             \
	POD("front-a", "front", "v1", "10.1.0.1")                                 \
	SVC("other", "10.96.0.3") SLICE("other", EP("10.2.0.1", "other-a", "true"))             \
	POD("other-a", "other", "v1", "10.2.0.1")                                 \
	POD("pooled-a", "pooled", "v1", "10.3.0.1") POD("pooled-b", "pooled", "v1", "10.3.0.2") \
	POD("pooled-c", "pooled", "v1", "10.3.0.3") POD("pooled-d", "pooled", "v1", "10.3.0.4")

#define CART_PODS                                                                \
	POD("cart-a", "cart", "v1", "10.0.0.1") POD("cart-b", "cart", "v1", "10.0.0.2") \
	POD("cart-c", "cart", "v2", "10.0.0.3") POD("cart-d", "cart", "v1", "10.0.0.4") \
	POD("cart-e", "cart", "v2", "10.0.0.5")

/* before: cart v1 = a, b; v2 = c. pooled: 2 endpoints. */
static const char before[] = SVC("cart", "10.96.0.1")
	SLICE("cart", EP("10.0.0.1", "cart-a", "true") EP("10.0.0.2", "cart-b", "true")
		      EP("10.0.0.3", "cart-c", "true")) CART_PODS
	SVC("pooled", "10.96.0.4") SLICE("pooled", EP("10.3.0.1", "pooled-a", "true")
				      EP("10.3.0.2", "pooled-b", "true")) REST;

/* after: cart's a rolled to d, e joined v2; pooled grew to 4 */
#define CART_AFTER                                                               \
	SVC("cart", "10.96.0.1") SLICE("cart", EP("10.0.0.1", "cart-a", "false") EP("10.0.0.4", "cart-d", "true") \
			  EP("10.0.0.2", "cart-b", "true") EP("10.0.0.3", "cart-c", "true") \
			  EP("10.0.0.5", "cart-e", "true")) CART_PODS
#define POOLED_AFTER                                                             \
	SVC("pooled", "10.96.0.4") SLICE("pooled", EP("10.3.0.1", "pooled-a", "true")             \
			    EP("10.3.0.2", "pooled-b", "true") EP("10.3.0.3", "pooled-c", "true") \
			    EP("10.3.0.4", "pooled-d", "true"))                       \
	POD("pooled-a", "pooled", "v1", "10.3.0.1") POD("pooled-b", "pooled", "v1", "10.3.0.2") \
	POD("pooled-c", "pooled", "v1", "10.3.0.3") POD("pooled-d", "pooled", "v1", "10.3.0.4")

static const char after[] = CART_AFTER
	SVC("pooled", "10.96.0.4") SLICE("pooled", EP("10.3.0.1", "pooled-a", "true") EP("10.3.0.2", "pooled-b", "true")
				      EP("10.3.0.3", "pooled-c", "true") EP("10.3.0.4", "pooled-d", "true"))
	REST;

static struct sl_model *must_load(const char *yaml)
{
	struct sl_diags d;
	struct sl_model *m;

	if (load(yaml, &d, &m))
		sl_diags_print(&d, stderr);
	assert_non_null(m);
	sl_diags_free(&d);
	return m;
}

/* The backends behind subset entry sv of g, as "addr:port" sorted text. */
static void backends_of(const struct sl_l4_gen *g, const struct sluice_subset *sv, char *out,
			size_t len)
{
	char items[64][64];
	size_t n = 0, o = 0;

	for (uint32_t i = 0; i < sv->nbackends && n < 64; i++) {
		const struct sluice_backend *b = sl_l4_find_backend(g, sv->backend_first + i);
		char a[INET6_ADDRSTRLEN];

		assert_non_null(b);
		inet_ntop(AF_INET6, b->addr, a, sizeof(a));
		snprintf(items[n++], sizeof(items[0]), "%s:%u", a, ntohs(b->port));
	}
	qsort(items, n, sizeof(items[0]), (int (*)(const void *, const void *))strcmp);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, len - o, "%s ", items[i]);
	/* the inline copies hold the first backends, in order */
	for (uint32_t i = 0; i < sv->nbackends && i < SLUICE_SUBSET_INLINE; i++)
		assert_memory_equal(&sv->inl[i], sl_l4_find_backend(g, sv->backend_first + i),
				    sizeof(sv->inl[i]));
}

/* A service entry steers alike in both generations: same flags and route,
 * each destination's backends the same (through the subset table and
 * through the inline copies). */
static void same_steering(const struct sl_l4_gen *a, const struct sl_l4_gen *b)
{
	char x[2048], y[2048];

	assert_int_equal(a->nsvcs, b->nsvcs);
	for (size_t i = 0; i < a->nsvcs; i++) {
		const struct sluice_svc *va = &a->svcs[i].v, *vb;

		vb = sl_l4_find_svc(b, a->svcs[i].k.addr, ntohs(a->svcs[i].k.port),
				    a->svcs[i].k.proto);
		assert_non_null(vb);
		assert_int_equal(va->flags, vb->flags);
		assert_int_equal(va->route.ndests, vb->route.ndests);
		for (size_t k = 0; k < va->route.ndests; k++) {
			assert_int_equal(va->route.dests[k].cum_weight, vb->route.dests[k].cum_weight);
			backends_of(a, sl_l4_find_subset(a, va->route.dests[k].subset_id), x, sizeof(x));
			backends_of(b, sl_l4_find_subset(b, vb->route.dests[k].subset_id), y, sizeof(y));
			assert_string_equal(x, y);
			if (k < SLUICE_SVC_INLINE_SUBSETS && (va->flags & SLUICE_SVC_SUBSET_INLINE)) {
				backends_of(a, &va->sub[k], x, sizeof(x));
				assert_string_equal(x, y);
			}
		}
	}
	assert_int_equal(a->npools, b->npools);
	for (size_t i = 0; i < a->npools; i++)
		assert_int_equal(a->pools[i].v.od_max_ejected, b->pools[i].v.od_max_ejected);
}

static size_t svc_index(const struct sl_model *m, const char *name)
{
	char fqdn[128];
	int i;

	snprintf(fqdn, sizeof(fqdn), "%s.shop.svc.cluster.local", name);
	i = sl_model_find_service(m, fqdn);
	assert_true(i >= 0);
	return (size_t)i;
}

/* Patch model m's service name with the endpoints of a model loaded from
 * text (the service's own objects). */
static int patch(struct sl_model *m, const char *name, const char *text, struct sl_svc_patch **p)
{
	struct sl_model *src = must_load(text);
	int rc = sl_model_patch_endpoints(m, svc_index(m, name), src, svc_index(src, name), p);

	if (rc)
		sl_model_free(src);
	return rc;
}

static void test_delta_equals_full(void **state)
{
	struct sl_model *m = must_load(before), *want = must_load(after);
	struct sl_l4_gen live, full, kept;
	struct sl_l4_delta d, dk;
	struct sl_svc_patch *p1, *p2;
	char err[SL_DP_ERRLEN] = "";
	size_t changed[2];

	(void)state;
	assert_int_equal(sl_compile_l4(m, NULL, 7, &live, err), 0);
	assert_int_equal(sl_compile_l4(m, NULL, 7, &kept, err), 0);
	assert_int_equal(sl_compile_l4(want, NULL, 7, &full, err), 0);
	assert_int_equal(patch(m, "cart", CART_AFTER, &p1), 0);
	assert_int_equal(patch(m, "pooled", POOLED_AFTER, &p2), 0);
	changed[0] = svc_index(m, "cart");
	changed[1] = svc_index(m, "pooled");
	assert_int_equal(sl_compile_l4_delta(m, NULL, &live, changed, 2, &d, err), 0);
	/* the generation the data plane keeps (no service values) makes the
	 * same service rewrites: keys and the inline copies they take */
	sl_l4_gen_keep_for_deltas(&kept);
	assert_null(kept.svcs);
	assert_null(kept.backends);	/* only which are holes */
	assert_int_equal(sl_compile_l4_delta(m, NULL, &kept, changed, 2, &dk, err), 0);
	assert_true(d.nsvcs >= 2);
	assert_int_equal(dk.nsvcs, d.nsvcs);
	assert_memory_equal(dk.svcs, d.svcs, d.nsvcs * sizeof(*d.svcs));
	assert_int_equal(sl_l4_gen_patch(&kept, &dk), 0);
	sl_l4_delta_free(&dk);
	/* only the changed services' entries: cart's subsets (v1, v2, and v2
	 * again for front), pooled's; front's and cart's service entries
	 * (inline copies) and pooled's own; nothing of other */
	assert_true(d.nsubsets >= 3);
	assert_int_equal(d.ndel, 2 + 1 + 1 + 2);
	assert_int_equal(d.npools, 1);
	for (size_t i = 0; i < d.nadd; i++)
		assert_true(d.add[i].k.idx >= live.nbackends && d.add[i].k.gen == 7);
	assert_int_equal(sl_l4_gen_patch(&live, &d), 0);
	assert_int_equal(live.nholes, 6);
	/* the same holes counted as with the backends held, once each even
	 * when the next delta deletes the same ones again */
	assert_int_equal(kept.nholes, live.nholes);
	assert_int_equal(kept.nbackends, live.nbackends);
	{
		struct sl_l4_delta again = { .del = d.del, .ndel = d.ndel };

		assert_int_equal(sl_l4_gen_patch(&kept, &again), 0);
		assert_int_equal(kept.nholes, 6);
	}
	sl_l4_gen_free(&kept);
	same_steering(&live, &full);
	same_steering(&full, &live);
	sl_l4_delta_free(&d);
	sl_l4_gen_free(&live);
	sl_l4_gen_free(&full);
	sl_model_free(m);
	sl_svc_patch_free(p1);
	sl_svc_patch_free(p2);
	sl_model_free(want);
}

/* v2 losing its only endpoint renormalises cart's routes: a full compile */
static void test_emptied_subset_needs_full(void **state)
{
	struct sl_model *m = must_load(before);
	const struct sl_service *s;
	struct sl_svc_patch *p;
	size_t nv2;

	(void)state;
	s = &m->services[svc_index(m, "cart")];
	nv2 = s->subsets[1].nendpoints;
	assert_int_equal(patch(m, "cart",
			       SVC("cart", "10.96.0.1") SLICE("cart", EP("10.0.0.1", "cart-a", "true")
						 EP("10.0.0.3", "cart-c", "false")) CART_PODS, &p),
			 -EAGAIN);
	/* nothing changed */
	assert_int_equal(s->subsets[1].nendpoints, nv2);
	assert_int_equal(s->nendpoints, 3);
	sl_model_free(m);
}

/* undo puts the model back as it was */
static void test_undo(void **state)
{
	struct sl_model *m = must_load(before);
	const struct sl_service *s;
	const struct sl_endpoint *eps;
	struct sl_svc_patch *p;

	(void)state;
	s = &m->services[svc_index(m, "cart")];
	eps = s->endpoints;
	assert_int_equal(patch(m, "cart", CART_AFTER, &p), 0);
	assert_int_equal(s->nendpoints, 4);
	assert_int_equal(s->subsets[0].nendpoints, 2);	/* d, b */
	assert_int_equal(s->subsets[1].nendpoints, 2);	/* c, e */
	sl_model_patch_undo(m, p);
	assert_ptr_equal(s->endpoints, eps);
	assert_int_equal(s->nendpoints, 3);
	assert_int_equal(s->subsets[0].nendpoints, 2);
	assert_int_equal(s->subsets[1].nendpoints, 1);
	sl_model_free(m);
}

/* REGISTRY_ONLY registers endpoint addresses: refused as a delta */
static void test_registry_only_needs_full(void **state)
{
	struct sl_model *m = must_load(before);
	struct sl_l4_gen live;
	struct sl_l4_delta d;
	char err[SL_DP_ERRLEN] = "";
	size_t one;

	(void)state;
	assert_int_equal(sl_compile_l4(m, NULL, 3, &live, err), 0);
	live.cfg.flags |= SLUICE_CFG_REGISTRY_ONLY;
	one = svc_index(m, "cart");
	assert_int_equal(sl_compile_l4_delta(m, NULL, &live, &one, 1, &d, err), -EAGAIN);
	assert_non_null(strstr(err, "REGISTRY_ONLY"));
	sl_l4_gen_free(&live);
	sl_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delta_equals_full),
		cmocka_unit_test(test_emptied_subset_needs_full),
		cmocka_unit_test(test_undo),
		cmocka_unit_test(test_registry_only_needs_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
