// SPDX-License-Identifier: Apache-2.0
/*
 * Control protocol pieces without a daemon: request/response framing over a
 * socketpair (and its refusals), the snapshot text and its line map (also
 * written as it is made, sl_snap_write), JSON string escaping, removing
 * documents from YAML sources (delete -f), and parts whose text is shared
 * by reference (sl_text_new), held deflated (sl_text_new_dict, with the
 * Kubernetes source's dictionaries: kube_dict.c) and read back.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "sluice/ctl.h"
#include "sluiced/kube_int.h"
#include "sluiced/sluiced.h"

static struct sl_ctl_part mkpart(const char *name, const char *data)
{
	struct sl_ctl_part p = { .name = strdup(name), .data = strdup(data), .len = strlen(data) };

	return p;
}

static void test_req_roundtrip(void **state)
{
	struct sl_ctl_part parts[2] = { mkpart("a.yaml", "kind: A\n"), mkpart("dir/b.yaml", "") };
	struct sl_ctl_req req = { .verb = "apply", .parts = parts, .nparts = 2 }, got;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(sl_ctl_write_req(sv[0], &req), 0);
	assert_int_equal(sl_ctl_read_req(sv[1], &got), 0);
	assert_string_equal(got.verb, "apply");
	assert_string_equal(got.arg, "");
	assert_int_equal(got.nparts, 2);
	assert_string_equal(got.parts[0].name, "a.yaml");
	assert_int_equal(got.parts[0].len, 8);
	assert_memory_equal(got.parts[0].data, "kind: A\n", 8);
	assert_string_equal(got.parts[1].name, "dir/b.yaml");
	assert_int_equal(got.parts[1].len, 0);
	sl_ctl_req_free(&got);
	close(sv[0]);
	close(sv[1]);
	free(parts[0].name);
	free(parts[0].data);
	free(parts[1].name);
	free(parts[1].data);
}

static void test_resp_roundtrip(void **state)
{
	struct sl_ctl_resp r;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(sl_ctl_write_resp(sv[0], SL_CTL_REFUSED, "x:1:2: error\n", 13), 0);
	assert_int_equal(sl_ctl_read_resp(sv[1], &r), 0);
	assert_int_equal(r.status, SL_CTL_REFUSED);
	assert_int_equal(r.len, 13);
	assert_string_equal(r.body, "x:1:2: error\n");
	sl_ctl_resp_free(&r);
	close(sv[0]);
	close(sv[1]);
}

/* Malformed or hostile framing is refused, never trusted. */
static void test_bad_framing(void **state)
{
	static const char *const bad[] = {
		"HTTP/1.1 GET /\n",
		"SLUICE1 apply 1 -\n99999999999999999999 x\n",
		"SLUICE1 apply 1 -\n5 \nhello",
		"SLUICE1 apply 1 -\n3 a\nab",	/* truncated blob */
		"SLUICE1 apply 70000 -\n",	/* too many parts */
	};
	struct sl_ctl_req req = { .verb = "bad verb" };
	size_t i;
	int sv[2];

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sl_ctl_req got;

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		assert_int_equal(write(sv[0], bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
		close(sv[0]);
		assert_true(sl_ctl_read_req(sv[1], &got) < 0);
		close(sv[1]);
	}
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(sl_ctl_write_req(sv[0], &req), -EINVAL);	/* space in verb */
	close(sv[0]);
	close(sv[1]);
}

static void test_snapshot_build_split_locate(void **state)
{
	struct sl_ctl_part parts[3] = {
		mkpart("a.yaml", "kind: A\nx: 1"),		/* no trailing newline */
		mkpart("b.yaml", "---\nkind: B\n---\nkind: C\n"),	/* starts with --- */
		mkpart("c.yaml", "# only a comment\nkind: D\n"),
	};
	struct sl_snap_map map;
	struct sl_ctl_part *back = NULL;
	size_t len, n = 0, pl = 0;
	char *text = NULL, *text2 = NULL;
	size_t len2;

	(void)state;
	assert_int_equal(sl_snap_build(parts, 3, NULL, &text, &len, &map), 0);
	assert_string_equal(text, "# source: a.yaml\nkind: A\nx: 1\n"
				  "# source: b.yaml\n---\nkind: B\n---\nkind: C\n"
				  "---\n# source: c.yaml\n# only a comment\nkind: D\n");
	assert_int_equal(map.n, 3);
	/* line 3 of the text is line 2 of a.yaml; line 6 is line 2 of b.yaml;
	 * line 12 is line 2 of c.yaml (after the inserted "---" and marker) */
	assert_int_equal(sl_snap_locate(&map, 3, &pl), 0);
	assert_int_equal(pl, 2);
	assert_int_equal(sl_snap_locate(&map, 6, &pl), 1);
	assert_int_equal(pl, 2);
	assert_int_equal(sl_snap_locate(&map, 12, &pl), 2);
	assert_int_equal(pl, 2);
	assert_int_equal(sl_snap_locate(&map, 0, &pl), -1);

	/* Split + build again gives the same text (restart path). */
	assert_int_equal(sl_snap_split(text, len, &back, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(back[1].name, "b.yaml");
	assert_int_equal(sl_snap_build(back, n, NULL, &text2, &len2, NULL), 0);
	assert_string_equal(text2, text);
	free(text2);
	text2 = NULL;
	/* Written as it is made (the state file's writer): the same text. */
	{
		FILE *f = open_memstream(&text2, &len2);

		assert_non_null(f);
		assert_int_equal(sl_snap_write(parts, 3, NULL, f), 0);
		fclose(f);
		assert_int_equal(len2, len);
		assert_string_equal(text2, text);
	}

	sl_snap_map_free(&map);
	sl_ctl_parts_free(back, n);
	free(text);
	free(text2);
	for (n = 0; n < 3; n++) {
		free(parts[n].name);
		free(parts[n].data);
	}
}

static void test_json_escape(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	sl_json_str(f, "a\"b\\c\nd\t\x01\x7f é");
	fclose(f);
	assert_string_equal(buf, "\"a\\\"b\\\\c\\nd\\t\\u0001\\u007f é\"");
	free(buf);
}

static void test_delete_docs(void **state)
{
	struct sl_ctl_part live[1] = { mkpart("p.yaml",
		"# header comment\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: ServiceEntry\nmetadata: {name: web, namespace: shop}\nspec: {hosts: [web]}\n"
		"---\n"
		"kind: VirtualService\nmetadata:\n  name: web\n  namespace: shop\nspec: {hosts: [web]}\n"
		"---\n"
		"kind: VirtualService\nmetadata: {name: web}\nspec: {hosts: [web]}\n") };
	struct sl_ctl_part del[1] = { mkpart("d.yaml",
		"kind: VirtualService\nmetadata: {name: web, namespace: shop}\n---\n"
		"kind: Gateway\nmetadata: {name: nothere}\n") };
	char *out = NULL;
	size_t outlen = 0, removed = 0;
	FILE *f = open_memstream(&out, &outlen);

	(void)state;
	assert_int_equal(sluiced_delete_docs(live, 1, del, 1, f, &removed), 0);
	fclose(f);
	assert_int_equal(removed, 1);
	/* The shop VirtualService is gone; the ServiceEntry and the one in
	 * namespace "default" stay byte for byte. */
	assert_null(strstr(live[0].data, "namespace: shop\nspec"));
	assert_non_null(strstr(live[0].data, "# header comment\n"));
	assert_non_null(strstr(live[0].data, "kind: ServiceEntry\nmetadata: {name: web, namespace: shop}"));
	assert_non_null(strstr(live[0].data, "kind: VirtualService\nmetadata: {name: web}\n"));
	assert_non_null(strstr(out, "Gateway default/nothere: not in the desired state"));
	free(out);
	free(live[0].name);
	free(live[0].data);
	free(del[0].name);
	free(del[0].data);
}

/* A shared text's text, read back (a malloc'd copy). */
static char *plain(const char *t)
{
	char *s = sl_text_dup(t);

	assert_non_null(s);
	return s;
}

static void assert_text(const char *t, const char *want)
{
	char *s = plain(t);

	assert_int_equal(sl_text_len(t), strlen(want));
	assert_string_equal(s, want);
	free(s);
}

/* A shared text is one copy: a duplicate part holds the same bytes, each
 * owner drops its own reference (ASan: no leak, no use after free), and
 * delete -f on a shared part gives it a text of its own. */
static void test_shared_text(void **state)
{
	const char *doc = "kind: VirtualService\nmetadata: {name: web, namespace: shop}\n"
			  "spec: {hosts: [web]}\n";
	char *t = sl_text_new(doc, strlen(doc)), *out = NULL, *s;
	struct sl_ctl_part *p = calloc(1, sizeof(*p)), *c;
	struct sl_ctl_part del[1] = { mkpart("d.yaml", "kind: VirtualService\n"
					     "metadata: {name: web, namespace: shop}\n") };
	size_t outlen = 0, removed = 0;
	FILE *f;

	(void)state;
	assert_non_null(t);
	assert_text(t, doc);
	p->name = strdup("kubernetes:/apis/x/shop/web");
	p->data = t;
	p->len = sl_text_len(t);
	p->shared = true;
	c = sl_ctl_parts_dup(p, 1);
	assert_non_null(c);
	assert_true(c[0].shared);
	assert_ptr_equal(c[0].data, t);		/* not copied */
	assert_int_equal(c[0].len, strlen(doc));
	/* the copy loses its document; the original keeps the shared text */
	f = open_memstream(&out, &outlen);
	assert_int_equal(sluiced_delete_docs(c, 1, del, 1, f, &removed), 0);
	fclose(f);
	assert_int_equal(removed, 1);
	assert_false(c[0].shared);
	assert_ptr_not_equal(c[0].data, t);
	assert_null(strstr(c[0].data, "VirtualService"));
	assert_text(p->data, doc);
	sl_ctl_parts_free(c, 1);
	assert_text(p->data, doc);	/* still held by p */
	/* a delete that cuts nothing from a shared part leaves it shared */
	c = sl_ctl_parts_dup(p, 1);
	free(del[0].data);
	del[0].data = strdup("kind: Gateway\nmetadata: {name: gw, namespace: shop}\n");
	del[0].len = strlen(del[0].data);
	removed = 0;
	free(out);
	out = NULL;
	f = open_memstream(&out, &outlen);
	assert_int_equal(sluiced_delete_docs(c, 1, del, 1, f, &removed), 0);
	fclose(f);
	assert_int_equal(removed, 0);
	assert_true(c[0].shared);
	assert_ptr_equal(c[0].data, t);
	s = plain(c[0].data);
	assert_string_equal(s, doc);
	free(s);
	sl_ctl_parts_free(c, 1);
	sl_ctl_parts_free(p, 1);
	free(out);
	free(del[0].name);
	free(del[0].data);
}

/* A Kubernetes object's text as kube_watch.c holds it (a trimmed Pod). */
static const char pod_json[] =
	"{\"metadata\":{\"name\":\"checkout-6d9f7c8b5-2xkqz\",\"namespace\":\"shop\","
	"\"uid\":\"6f1c2a4e-7b1d-4c55-9a0e-1d2b3c4d5e6f\",\"labels\":{\"app\":\"checkout\","
	"\"app.kubernetes.io/name\":\"checkout\",\"pod-template-hash\":\"6d9f7c8b5\","
	"\"version\":\"v1\"}},\"spec\":{\"containers\":[{\"ports\":[{\"name\":\"http\","
	"\"containerPort\":8080,\"protocol\":\"TCP\"}]}]},\"status\":{\"phase\":\"Running\","
	"\"podIP\":\"10.244.3.17\",\"podIPs\":[{\"ip\":\"10.244.3.17\"}]},\"kind\":\"Pod\","
	"\"apiVersion\":\"v1\"}";

/* Texts held deflated or plain read back as given: empty, short, a
 * Kubernetes object with and without its kind's dictionary, a large
 * repetitive one, an incompressible one; sl_text_same by text (and
 * dictionary); reference counts. */
static void test_text_deflated(void **state)
{
	static const char d[] = "\"metadata\":{\"name\":\"\",\"namespace\":\"\"},\"kind\":\"Pod\"";
	const struct sl_text_dict dict = { d, sizeof(d) - 1 };
	const struct sl_text_dict *pod = kube_dict("Pod");
	size_t big_len = 200000, i;
	char *big = malloc(big_len + 1), *rnd = malloc(4097), buf[sizeof(pod_json)];
	char *e, *sh, *p0, *p1, *p2, *p3, *b, *r;
	uint32_t x = 12345;

	(void)state;
	assert_non_null(big);
	assert_non_null(rnd);
	for (i = 0; i < big_len; i++)
		big[i] = "abcdefgh: [x, y]\n"[(i * 7 + i / 1000) % 17];
	big[big_len] = '\0';
	for (i = 0; i < 4096; i++) {
		x = x * 1103515245u + 12345u;
		rnd[i] = (char)(1 + (x >> 16) % 255);	/* no NUL */
	}
	rnd[4096] = '\0';

	e = sl_text_new("", 0);
	assert_non_null(e);
	assert_text(e, "");
	assert_int_equal(sl_text_held(e), 1);
	sh = sl_text_new("{}", 2);
	assert_text(sh, "{}");
	assert_int_equal(sl_text_held(sh), 3);		/* short: plain */

	p0 = sl_text_new(pod_json, strlen(pod_json));
	p1 = sl_text_new_dict(pod_json, strlen(pod_json), &dict);
	p2 = sl_text_new_dict(pod_json, strlen(pod_json), pod);
	p3 = sl_text_new_dict(pod_json, strlen(pod_json), pod);
	assert_text(p0, pod_json);
	assert_text(p1, pod_json);
	assert_text(p2, pod_json);
	assert_int_equal(sl_text_read(p2, buf), 0);
	assert_string_equal(buf, pod_json);
	/* the kind's dictionary holds a Pod in well under half its bytes */
	assert_true(sl_text_held(p2) < sl_text_held(p1));
	assert_true(sl_text_held(p1) < sl_text_held(p0));
	assert_true(sl_text_held(p2) * 2 < strlen(pod_json));
	assert_true(sl_text_same(p2, p3));		/* two copies of one text */
	assert_ptr_not_equal(p2, p3);
	assert_false(sl_text_same(p1, p2));		/* another dictionary */
	assert_false(sl_text_same(p2, sh));

	b = sl_text_new(big, big_len);
	assert_text(b, big);
	assert_true(sl_text_held(b) < big_len / 10);
	r = sl_text_new_dict(rnd, 4096, pod);
	assert_text(r, rnd);
	assert_int_equal(sl_text_held(r), 4097);	/* it does not pay: plain */

	/* references: the text lives until the last one goes */
	assert_ptr_equal(sl_text_ref(p2), p2);
	sl_text_unref(p2);
	assert_text(p2, pod_json);
	sl_text_unref(NULL);
	assert_null(sl_text_ref(NULL));

	sl_text_unref(e);
	sl_text_unref(sh);
	sl_text_unref(p0);
	sl_text_unref(p1);
	sl_text_unref(p2);
	sl_text_unref(p3);
	sl_text_unref(b);
	sl_text_unref(r);
	free(big);
	free(rnd);
}

/* Threads deflate and inflate with their own streams (freed when each
 * ends: ASan's leak check) and read each other's texts. */
static void *text_thread(void *arg)
{
	char **t = arg;

	for (int i = 0; i < 200; i++) {
		char *mine = sl_text_new_dict(pod_json, strlen(pod_json), kube_dict("Pod")), *s;

		if (!mine || !sl_text_same(mine, *t))
			return (void *)1;
		s = sl_text_dup(*t);
		if (!s || strcmp(s, pod_json)) {
			free(s);
			sl_text_unref(mine);
			return (void *)1;
		}
		free(s);
		sl_text_unref(mine);
	}
	return NULL;
}

static void test_text_threads(void **state)
{
	char *t = sl_text_new_dict(pod_json, strlen(pod_json), kube_dict("Pod"));
	pthread_t th[4];
	void *rv;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, text_thread, &t), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &rv), 0);
		assert_null(rv);
	}
	sl_text_unref(t);
}

/* A shared part is written as its text: in a snapshot (built and written
 * as made) and in a request. */
static void test_text_readers(void **state)
{
	struct sl_ctl_part parts[2] = {
		mkpart("a.yaml", "kind: Gateway\nmetadata: {name: gw}\n"),
		{ .name = strdup("kubernetes:/api/v1/pods/shop/checkout"), .shared = true },
	};
	struct sl_ctl_req req = { .verb = "apply", .parts = parts, .nparts = 2 }, got;
	char *text = NULL, *ftext = NULL;
	size_t len = 0, flen = 0;
	FILE *f;
	int sv[2];

	(void)state;
	parts[1].data = sl_text_new_dict(pod_json, strlen(pod_json), kube_dict("Pod"));
	parts[1].len = sl_text_len(parts[1].data);
	assert_true(sl_text_held(parts[1].data) < parts[1].len);
	assert_int_equal(sl_snap_build(parts, 2, NULL, &text, &len, NULL), 0);
	assert_non_null(strstr(text, "# source: kubernetes:/api/v1/pods/shop/checkout\n"));
	assert_non_null(strstr(text, pod_json));
	f = open_memstream(&ftext, &flen);
	assert_int_equal(sl_snap_write(parts, 2, NULL, f), 0);
	fclose(f);
	assert_int_equal(flen, len);
	assert_memory_equal(ftext, text, len);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(sl_ctl_write_req(sv[0], &req), 0);
	assert_int_equal(sl_ctl_read_req(sv[1], &got), 0);
	assert_int_equal(got.nparts, 2);
	assert_false(got.parts[1].shared);
	assert_int_equal(got.parts[1].len, strlen(pod_json));
	assert_string_equal(got.parts[1].data, pod_json);
	sl_ctl_req_free(&got);
	close(sv[0]);
	close(sv[1]);
	free(text);
	free(ftext);
	free(parts[0].name);
	free(parts[0].data);
	free(parts[1].name);
	sl_text_unref(parts[1].data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_req_roundtrip),
		cmocka_unit_test(test_resp_roundtrip),
		cmocka_unit_test(test_bad_framing),
		cmocka_unit_test(test_snapshot_build_split_locate),
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test(test_delete_docs),
		cmocka_unit_test(test_shared_text),
		cmocka_unit_test(test_text_deflated),
		cmocka_unit_test(test_text_threads),
		cmocka_unit_test(test_text_readers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
