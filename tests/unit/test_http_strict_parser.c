/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-http's request parser is strict: llhttp is built with
 * LLHTTP_STRICT_MODE (a lenient build takes any two bytes after chunk data
 * as CRLF, the request-smuggling hole these cases reproduce), and the head
 * checks of user/http/reqparse.c refuse what llhttp lets through. Each case
 * is fed as sluice-http feeds a connection: hx_head_feed, then the body
 * through the same parser; the body goes out through hx_body_frame, so the
 * re-framed bytes are checked too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "http/hx.h"
#include "http/buf.h"

struct outcome {
	int head;		/* hx_head_feed: 1 complete, -1 refused */
	int status;		/* err_status when refused */
	bool body_ok;		/* the body parsed to message end */
	enum llhttp_errno err;	/* llhttp's verdict on the body */
	const char *reason;	/* and its reason, when an error */
	uint8_t lenient;	/* the parser's lenient flags */
	struct hx_buf up;	/* the body as it would go upstream */
};

static bool chunked_out;

static void frame(void *ctx, const char *at, size_t len)
{
	hx_body_frame(ctx, chunked_out, at, len);
}

static struct outcome run(const char *req)
{
	struct outcome o = { 0 };
	size_t len = strlen(req);
	struct hx_head h;
	llhttp_t p;
	enum llhttp_errno e;

	llhttp_init(&p, HTTP_REQUEST, &hx_req_settings);
	o.lenient = p.lenient_flags;
	hx_head_reset(&h);
	h.on_body = NULL;
	o.head = hx_head_feed(&p, &h, req, 0, len);
	if (o.head != 1) {
		o.status = h.err_status;
		return o;
	}
	chunked_out = (p.flags & F_CHUNKED) != 0;
	h.on_body = frame;
	h.body_ctx = &o.up;
	h.base = req;
	e = llhttp_execute(&p, req + h.head_len, len - h.head_len);
	o.err = e;
	o.reason = llhttp_get_error_reason(&p);
	o.body_ok = (e == HPE_OK || e == HPE_PAUSED) && h.msg_done;
	if (o.body_ok)
		hx_body_end(&o.up, chunked_out);
	return o;
}

static void refused(const char *req, int status)
{
	struct outcome o = run(req);

	/* refused at the head, or the body never completes */
	if (o.head == 1) {
		assert_false(o.body_ok);
	} else {
		assert_int_equal(o.head, -1);
		assert_int_equal(o.status, status);
	}
	hx_buf_free(&o.up);
}

/*
 * The compiled parser, not only the header our code reads, is strict: a
 * lenient llhttp takes the two bytes after chunk data unseen, so "AXY0"
 * is chunk "A", two skipped bytes and the last chunk — a complete message.
 * Strict llhttp stops at the 'X' with HPE_STRICT. This case fails when
 * llhttp.c is compiled without LLHTTP_STRICT_MODE even if our own files are
 * compiled with it.
 */
static void test_build_is_strict(void **state)
{
	struct outcome o;

	(void)state;
	/* the header's own switch, as our code sees it */
	assert_int_equal(LLHTTP_STRICT_MODE, 1);

	o = run("POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n"
		"1\r\nAXY0\r\n\r\n");
	/* no llhttp_set_lenient_* anywhere on the request parser */
	assert_int_equal(o.lenient, 0);
	assert_int_equal(o.head, 1);
	assert_false(o.body_ok);
	assert_int_equal(o.err, HPE_STRICT);
	assert_string_equal(o.reason, "Expected CRLF after chunk");
	hx_buf_free(&o.up);

	/* the request-smuggling repro itself: refused at the same byte */
	o = run("POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n"
		"1\r\nAXY32\r\n0\r\n\r\nGET /x HTTP/1.1\r\nHost: svc\r\n\r\n\r\n0\r\n\r\n");
	assert_false(o.body_ok);
	assert_int_equal(o.err, HPE_STRICT);
	hx_buf_free(&o.up);
}

static void test_refusals(void **state)
{
	(void)state;
	refused("GET /a\tb HTTP/1.1\r\nHost: svc\r\n\r\n", 400);
	refused("GET /a#frag HTTP/1.1\r\nHost: svc\r\n\r\n", 400);
	refused("POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n"
		"1\r\nA\r\n0\r\nBad Name: x\r\n\r\n", 400);
	refused("POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n"
		"ffffffffffffffff\r\nA\r\n0\r\n\r\n", 400);
	refused("POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: \r\nContent-Length: 1\r\n\r\nA",
		400);
	refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400);
	/* found by tests/fuzz/fuzz_http_frame.c: an HTTP/0.9 line, an RTSP method */
	refused("SETUP /:c/.12\r\nHost: sv\r\n\r\n", 400);
	refused("SETUP / HTTP/1.1\r\nHost: svc\r\n\r\n", 400);
	refused("POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 6\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nX", 400);
}

static void test_accepted_and_reframed(void **state)
{
	struct outcome o;

	(void)state;
	o = run("GET / HTTP/1.0\r\n\r\n");
	assert_int_equal(o.head, 1);
	hx_buf_free(&o.up);

	/* chunk extensions and trailers are parsed and not passed on */
	o = run("POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n");
	assert_int_equal(o.head, 1);
	assert_true(o.body_ok);
	assert_int_equal(o.up.len, strlen("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
	assert_memory_equal(o.up.p, "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", o.up.len);
	hx_buf_free(&o.up);

	o = run("POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 5\r\n\r\nhello");
	assert_true(o.body_ok);
	assert_int_equal(o.up.len, 5);
	assert_memory_equal(o.up.p, "hello", 5);
	hx_buf_free(&o.up);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_is_strict),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_accepted_and_reframed),
	};

	return cmocka_run_group_tests_name("http_strict_parser", tests, NULL, NULL);
}
