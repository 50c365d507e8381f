// SPDX-License-Identifier: Apache-2.0
/*
 * The ClientHello parser of TLS passthrough (user/http/clienthello.c) on
 * real ClientHellos, made here by OpenSSL's client (SSL_connect over memory
 * BIOs: its first flight is captured): with and without SNI, TLS 1.3 and
 * TLS 1.2-only, with ALPN; every split into two TCP segments, the message
 * fragmented over several TLS records, and the caller's `need` hint; then
 * hand-built hellos with one field wrong at a time (lengths, duplicate
 * extensions, two host names, bad names, zero-length and oversize records,
 * a message over the bound) and bytes that are not TLS at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/ssl.h>

#include "http/clienthello.h"

static struct hx_ch ch;	/* 16 KB scratch: not on the stack */

/* OpenSSL's first flight for a client with this SNI (NULL = none), max
 * version (0 = default) and ALPN list (wire format, NULL = none); into out,
 * its length returned. */
static size_t openssl_hello(const char *sni, int max_version, const char *alpn, size_t alpn_len,
			    uint8_t *out, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	BIO *rb, *wb;
	size_t n;

	assert_non_null(ctx);
	if (max_version)
		assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
	ssl = SSL_new(ctx);
	assert_non_null(ssl);
	rb = BIO_new(BIO_s_mem());
	wb = BIO_new(BIO_s_mem());
	SSL_set_bio(ssl, rb, wb);
	if (sni)
		assert_int_equal(SSL_set_tlsext_host_name(ssl, sni), 1);
	if (alpn)
		assert_int_equal(SSL_set_alpn_protos(ssl, (const unsigned char *)alpn,
						     (unsigned int)alpn_len), 0);
	SSL_set_connect_state(ssl);
	assert_true(SSL_do_handshake(ssl) <= 0);	/* waits for the server */
	n = (size_t)BIO_read(wb, out, (int)cap);
	assert_true(n > 50 && n < cap);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return n;
}

/* The same message re-cut into records of at most frag bytes. */
static size_t refragment(const uint8_t *in, size_t n, size_t frag, uint8_t *out)
{
	size_t rlen = (size_t)in[3] << 8 | in[4], o = 0;
	const uint8_t *msg = in + 5;

	assert_int_equal(rlen + 5, n);
	for (size_t off = 0; off < rlen; off += frag) {
		size_t c = rlen - off < frag ? rlen - off : frag;

		out[o++] = 22;
		out[o++] = in[1];
		out[o++] = in[2];
		out[o++] = (uint8_t)(c >> 8);
		out[o++] = (uint8_t)c;
		memcpy(out + o, msg + off, c);
		o += c;
	}
	return o;
}

/* Feed buf as a client sending it in the pieces cut at cuts[] would,
 * parsing only when `need` says it may help (as passthru.c does); the
 * final answer. */
static int feed(const uint8_t *buf, size_t n, const size_t *cuts, size_t ncuts)
{
	size_t len = 0, need = 1, k = 0;
	int rc = HX_CH_MORE;

	while (len < n) {
		len = k < ncuts ? cuts[k++] : n;
		if (len < need)
			continue;
		rc = hx_ch_parse(buf, len, &ch);
		if (rc != HX_CH_MORE)
			return rc;
		assert_true(ch.need > len);
		need = ch.need;
	}
	return rc;
}

static void test_openssl_hellos(void **state)
{
	static uint8_t h[4096];
	size_t n;

	(void)state;
	n = openssl_hello("a.example", 0, NULL, 0, h, sizeof(h));
	assert_int_equal(hx_ch_parse(h, n, &ch), HX_CH_OK);
	assert_true(ch.has_sni);
	assert_string_equal(ch.sni, "a.example");
	assert_int_equal(ch.sni_len, 9);
	assert_int_equal(ch.nrecords, 1);
	assert_int_equal(ch.raw_len, n);
	assert_int_equal(ch.legacy_version, 0x0303);
	assert_true(ch.nexts >= 5);	/* supported_versions, key_share, ... */

	/* TLS 1.2 only, ALPN h2 and http/1.1: more and other extensions */
	n = openssl_hello("b.example", TLS1_2_VERSION, "\x02h2\x08http/1.1", 12, h, sizeof(h));
	assert_int_equal(hx_ch_parse(h, n, &ch), HX_CH_OK);
	assert_string_equal(ch.sni, "b.example");

	/* no SNI: a complete hello without a name */
	n = openssl_hello(NULL, 0, NULL, 0, h, sizeof(h));
	assert_int_equal(hx_ch_parse(h, n, &ch), HX_CH_OK);
	assert_false(ch.has_sni);
	assert_int_equal(ch.sni_len, 0);

	/* a name as the client wrote it comes out lower-cased */
	n = openssl_hello("Api.B.Example", 0, NULL, 0, h, sizeof(h));
	assert_int_equal(hx_ch_parse(h, n, &ch), HX_CH_OK);
	assert_string_equal(ch.sni, "api.b.example");
}

/* Every prefix is "more", with a need past it and within the whole; every
 * two-segment split ends in the same answer. */
static void test_every_split(void **state)
{
	static uint8_t h[4096];
	size_t n = openssl_hello("split.example", 0, NULL, 0, h, sizeof(h));

	(void)state;
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(hx_ch_parse(h, k, &ch), HX_CH_MORE);
		assert_true(ch.need > k);
		assert_true(ch.need <= n);
	}
	for (size_t k = 1; k < n; k++) {
		size_t cuts[1] = { k };

		assert_int_equal(feed(h, n, cuts, 1), HX_CH_OK);
		assert_string_equal(ch.sni, "split.example");
	}
	/* one byte at a time: parsed only where need says so */
	{
		size_t len = 0, need = 1, parses = 0;
		int rc = HX_CH_MORE;

		while (rc == HX_CH_MORE && len < n) {
			if (++len < need)
				continue;
			rc = hx_ch_parse(h, len, &ch);
			parses++;
			need = ch.need;
		}
		assert_int_equal(rc, HX_CH_OK);
		assert_true(parses <= 4);	/* header, record end */
	}
}

/* The message over several records, each record in its own segments. */
static void test_fragmented_records(void **state)
{
	static uint8_t h[4096], r[4096 * 6];
	static const size_t frags[] = { 1, 2, 3, 7, 64, 100, 333 };
	size_t n = openssl_hello("frag.example", 0, "\x08http/1.1", 9, h, sizeof(h));

	(void)state;
	for (size_t f = 0; f < sizeof(frags) / sizeof(frags[0]); f++) {
		size_t rn = refragment(h, n, frags[f], r);
		size_t msg = n - 5;

		assert_int_equal(hx_ch_parse(r, rn, &ch), HX_CH_OK);
		assert_string_equal(ch.sni, "frag.example");
		assert_int_equal(ch.nrecords, (msg + frags[f] - 1) / frags[f]);
		for (size_t k = 0; k < rn; k += 1 + k / 4) {
			assert_int_equal(hx_ch_parse(r, k, &ch), HX_CH_MORE);
			assert_true(ch.need > k && ch.need <= rn);
		}
		/* pieces of 1..13 bytes, cut independently of the records */
		{
			size_t cuts[8192], nc = 0;

			for (size_t k = 1; k < rn && nc < 8192; k += 1 + (k * 7) % 13)
				cuts[nc++] = k;
			assert_int_equal(feed(r, rn, cuts, nc), HX_CH_OK);
			assert_string_equal(ch.sni, "frag.example");
		}
	}
	/* the bytes after the message (the next flight) are not looked at */
	memcpy(r, h, n);
	memcpy(r + n, "\x17\x03\x03\x00\x05hello", 10);
	assert_int_equal(hx_ch_parse(r, n + 10, &ch), HX_CH_OK);
	assert_int_equal(ch.raw_len, n);
}

/* ---- hand-built hellos ----------------------------------------------------- */

struct hb {
	uint8_t b[70000];
	size_t n;
};

static void put(struct hb *h, const void *p, size_t n)
{
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

static void put8(struct hb *h, unsigned v)
{
	h->b[h->n++] = (uint8_t)v;
}

static void put16(struct hb *h, unsigned v)
{
	put8(h, v >> 8);
	put8(h, v & 0xff);
}

/* An extension of type t with data d. */
static void ext(struct hb *e, unsigned t, const void *d, size_t n)
{
	put16(e, t);
	put16(e, (unsigned)n);
	put(e, d, n);
}

/* A server_name extension with one host_name. */
static void ext_sni(struct hb *e, const char *name)
{
	size_t l = strlen(name);

	put16(e, 0);
	put16(e, (unsigned)(l + 5));
	put16(e, (unsigned)(l + 3));
	put8(e, 0);
	put16(e, (unsigned)l);
	put(e, name, l);
}

/* A ClientHello record around extensions exts (NULL = no block), with
 * session-id length sid and cipher_suites length cs. */
static void hello(struct hb *out, const struct hb *exts, unsigned sid, unsigned cs)
{
	static struct hb body;
	size_t blen;

	body.n = 0;
	put16(&body, 0x0303);
	for (int i = 0; i < 32; i++)
		put8(&body, (unsigned)i);
	put8(&body, sid);
	for (unsigned i = 0; i < sid && i < 40; i++)
		put8(&body, 0xaa);
	put16(&body, cs);
	for (unsigned i = 0; i < cs && i < 64; i++)
		put8(&body, i & 1 ? 0x2f : 0x00);
	put8(&body, 1);
	put8(&body, 0);
	if (exts) {
		put16(&body, (unsigned)exts->n);
		put(&body, exts->b, exts->n);
	}
	blen = body.n;
	out->n = 0;
	put8(out, 22);
	put16(out, 0x0301);
	put16(out, (unsigned)(blen + 4));
	put8(out, 1);
	put8(out, (unsigned)(blen >> 16));
	put16(out, (unsigned)(blen & 0xffff));
	put(out, body.b, blen);
}

static struct hb e, h;

static int parse_h(void)
{
	return hx_ch_parse(h.b, h.n, &ch);
}

static void test_built_good(void **state)
{
	(void)state;
	e.n = 0;
	ext(&e, 10, "\x00\x02\x00\x1d", 4);	/* supported_groups */
	ext_sni(&e, "x.example");
	ext(&e, 16, "\x00\x03\x02h2", 5);	/* ALPN */
	ext(&e, 0xfe0d, "ech", 3);		/* an unknown type: skipped */
	hello(&h, &e, 32, 4);
	assert_int_equal(parse_h(), HX_CH_OK);
	assert_string_equal(ch.sni, "x.example");
	assert_int_equal(ch.nexts, 4);
	hello(&h, NULL, 0, 2);			/* no extensions block at all */
	assert_int_equal(parse_h(), HX_CH_OK);
	assert_false(ch.has_sni);
	e.n = 0;				/* an empty extensions block */
	hello(&h, &e, 0, 2);
	assert_int_equal(parse_h(), HX_CH_OK);
	assert_false(ch.has_sni);
	/* a name of another name_type beside the host_name is skipped */
	e.n = 0;
	put16(&e, 0);
	put16(&e, 2 + 3 + 3 + 3 + 9);
	put16(&e, 3 + 3 + 3 + 9);
	put8(&e, 7);
	put16(&e, 3);
	put(&e, "abc", 3);
	put8(&e, 0);
	put16(&e, 9);
	put(&e, "y.example", 9);
	hello(&h, &e, 0, 2);
	assert_int_equal(parse_h(), HX_CH_OK);
	assert_string_equal(ch.sni, "y.example");
	/* names: 63-byte labels, '_' and '-' */
	char name[300];
	memset(name, 'a', 63);
	strcpy(name + 63, ".b_c-d.example");
	e.n = 0;
	ext_sni(&e, name);
	hello(&h, &e, 0, 2);
	assert_int_equal(parse_h(), HX_CH_OK);
	assert_string_equal(ch.sni, name);
}

static void test_built_bad(void **state)
{
	(void)state;
	/* session id over 32, odd and empty cipher_suites */
	e.n = 0;
	ext_sni(&e, "x.example");
	hello(&h, &e, 33, 2);
	assert_int_equal(parse_h(), HX_CH_BAD);
	hello(&h, &e, 0, 3);
	assert_int_equal(parse_h(), HX_CH_BAD);
	hello(&h, &e, 0, 0);
	assert_int_equal(parse_h(), HX_CH_BAD);
	/* extensions length one short and one long of the message */
	hello(&h, &e, 0, 2);
	size_t el = 5 + 4 + 2 + 32 + 1 + 2 + 2 + 1 + 1;	/* offset of the extensions length */
	h.b[el + 1]--;
	assert_int_equal(parse_h(), HX_CH_BAD);
	h.b[el + 1] += 2;
	assert_int_equal(parse_h(), HX_CH_BAD);
	/* an extension longer than the block */
	hello(&h, &e, 0, 2);
	h.b[el + 2 + 3] += 1;
	assert_int_equal(parse_h(), HX_CH_BAD);
	/* ServerNameList length not the extension's */
	hello(&h, &e, 0, 2);
	h.b[el + 2 + 4 + 1] -= 1;
	assert_int_equal(parse_h(), HX_CH_BAD);
	/* host_name length past the list */
	hello(&h, &e, 0, 2);
	h.b[el + 2 + 4 + 2 + 2] += 1;
	assert_int_equal(parse_h(), HX_CH_BAD);
	/* a repeated extension, two host names */
	e.n = 0;
	ext_sni(&e, "x.example");
	ext_sni(&e, "y.example");
	hello(&h, &e, 0, 2);
	assert_int_equal(parse_h(), HX_CH_BAD);
	e.n = 0;
	put16(&e, 0);
	put16(&e, 2 + 12 + 12);
	put16(&e, 12 + 12);
	put8(&e, 0);
	put16(&e, 9);
	put(&e, "x.example", 9);
	put8(&e, 0);
	put16(&e, 9);
	put(&e, "y.example", 9);
	hello(&h, &e, 0, 2);
	assert_int_equal(parse_h(), HX_CH_BAD);
	/* names that are not host names */
	static const char *const bad[] = { "x.example.", ".x.example", "x..example", "x example",
					   "x\x01y", "", "x/y" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.n = 0;
		ext_sni(&e, bad[i]);
		hello(&h, &e, 0, 2);
		assert_int_equal(parse_h(), HX_CH_BAD_NAME);
	}
	char longlabel[80];
	memset(longlabel, 'a', 64);
	strcpy(longlabel + 64, ".x");
	e.n = 0;
	ext_sni(&e, longlabel);
	hello(&h, &e, 0, 2);
	assert_int_equal(parse_h(), HX_CH_BAD_NAME);
	/* an empty ServerNameList */
	e.n = 0;
	ext(&e, 0, "\x00\x00", 2);
	hello(&h, &e, 0, 2);
	assert_int_equal(parse_h(), HX_CH_BAD);
	/* legacy_version not 3.x */
	e.n = 0;
	ext_sni(&e, "x.example");
	hello(&h, &e, 0, 2);
	h.b[9] = 2;
	assert_int_equal(parse_h(), HX_CH_BAD);
}

static void test_records_and_bounds(void **state)
{
	static uint8_t r[HX_CH_RAW_MAX + 64];

	(void)state;
	e.n = 0;
	ext_sni(&e, "x.example");
	hello(&h, &e, 0, 2);
	/* a zero-length record, a record over 2^14 */
	memcpy(r, "\x16\x03\x01\x00\x00", 5);
	assert_int_equal(hx_ch_parse(r, 5, &ch), HX_CH_BAD);
	memcpy(r, "\x16\x03\x01\x40\x01", 5);
	assert_int_equal(hx_ch_parse(r, 5, &ch), HX_CH_BAD);
	/* a message length over the bound: refused at its header */
	memcpy(r, "\x16\x03\x01\x00\x04\x01\x00\x40\x01", 9);
	assert_int_equal(hx_ch_parse(r, 9, &ch), HX_CH_TOO_BIG);
	/* a big message announced, arriving in 1-byte records: cut at the raw bound */
	size_t o = 0, k = 0;
	static const uint8_t hdr[4] = { 1, 0, 0x3f, 0xf0 };
	int rc = HX_CH_MORE;
	while (o + 6 <= sizeof(r) && rc == HX_CH_MORE) {
		memcpy(r + o, "\x16\x03\x01\x00\x01", 5);
		r[o + 5] = k < 4 ? hdr[k] : 0;
		o += 6;
		k++;
		rc = hx_ch_parse(r, o, &ch);
	}
	assert_int_equal(rc, HX_CH_TOO_BIG);
	assert_true(o <= HX_CH_RAW_MAX + 6);
	/* a message claiming more than its records carry waits for more */
	memcpy(r, h.b, h.n);
	r[8] += 1;			/* message length + 256 */
	assert_int_equal(hx_ch_parse(r, h.n, &ch), HX_CH_MORE);
	/* ... and the next record is not a handshake: malformed */
	memcpy(r + h.n, "\x15\x03\x03\x00\x02\x02\x28", 7);
	assert_int_equal(hx_ch_parse(r, h.n + 7, &ch), HX_CH_BAD);
}

static void test_not_tls(void **state)
{
	static const struct {
		const char *b;
		size_t n;
	} junk[] = {
#define J(s) { s, sizeof(s) - 1 }
		J("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
		J("\x80\x2e\x01\x00\x02\x00\x15"),		/* SSLv2-compatible hello */
		J("\x15\x03\x03\x00\x02\x02\x28"),		/* an alert */
		J("\x16\x02\x00\x00\x04"),			/* version 2.0 */
		J("\x16\x03\x03\x00\x04\x02\x00\x00\x46"),	/* a ServerHello */
		J("\x17"),					/* application data */
#undef J
	};

	(void)state;
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		assert_int_equal(hx_ch_parse((const uint8_t *)junk[i].b, junk[i].n, &ch),
				 HX_CH_NOT_TLS);
	/* decided on the first byte or two already */
	assert_int_equal(hx_ch_parse((const uint8_t *)"G", 1, &ch), HX_CH_NOT_TLS);
	assert_int_equal(hx_ch_parse((const uint8_t *)"\x16\x01", 2, &ch), HX_CH_NOT_TLS);
	assert_int_equal(hx_ch_parse((const uint8_t *)"\x16", 1, &ch), HX_CH_MORE);
	assert_int_equal(hx_ch_parse((const uint8_t *)"", 0, &ch), HX_CH_MORE);
	assert_int_equal(ch.need, 5);
	assert_string_equal(hx_ch_rc_name(HX_CH_NOT_TLS), "not-tls");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openssl_hellos),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_fragmented_records),
		cmocka_unit_test(test_built_good),
		cmocka_unit_test(test_built_bad),
		cmocka_unit_test(test_records_and_bounds),
		cmocka_unit_test(test_not_tls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
