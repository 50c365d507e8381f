// SPDX-License-Identifier: Apache-2.0
/*
 * sluice-http's TLS termination (user/http/tls.c) driven for real: a model
 * with two HTTPS servers on one port, certificates made here with OpenSSL
 * and written to files, the server side through hx_tls_accept /
 * hx_tls_handshake / hx_tls_read / hx_tls_write on one end of a
 * non-blocking socketpair and an OpenSSL client on the other, both stepped
 * in turn. SNI picks the certificate, an unknown name fails, ALPN gives
 * http/1.1 to a client offering h2 first, TLS 1.0 is refused, a replaced
 * certificate is served after the once-a-second check and a broken one keeps
 * the previous; a file that does not load refuses the build.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "http/tls.h"
#include "unit/policy_load_util.h"

static char dir[64];

/* A self-signed EC certificate for cn into dir/<base>.crt and .key. */
static void make_cert(const char *base, const char *cn)
{
	char path[128];
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	FILE *f;

	assert_non_null(k);
	assert_non_null(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0x7fffffff));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	snprintf(path, sizeof(path), "%s/%s.crt", dir, base);
	f = fopen(path, "w");
	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s.key", dir, base);
	f = fopen(path, "w");
	assert_non_null(f);
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(k);
}

static struct sl_model *model(struct sl_diags *d)
{
	char yaml[2048];
	struct sl_model *m;

	snprintf(yaml, sizeof(yaml),
		 "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
		 "metadata: {name: g, namespace: t}\nspec:\n  servers:\n"
		 "  - port: {number: 443, name: https, protocol: HTTPS}\n"
		 "    hosts: [a.example]\n"
		 "    tls: {mode: SIMPLE, serverCertificate: %s/a.crt, privateKey: %s/a.key}\n"
		 "  - port: {number: 443, name: https-b, protocol: HTTPS}\n"
		 "    hosts: ['*.b.example']\n"
		 "    tls: {mode: SIMPLE, serverCertificate: %s/b.crt, privateKey: %s/b.key}\n",
		 dir, dir, dir, dir);
	assert_int_equal(load(yaml, d, &m), 0);
	return m;
}

struct conn {
	int fd[2];
	SSL *srv, *cli;
	SSL_CTX *cctx;
};

/* A client offering ALPN h2,http/1.1, TLS max version max, SNI name (NULL =
 * none); the server side from hx_tls_accept at now_ms. */
static void conn_open(struct conn *c, struct hx_tls *t, const char *name, int max,
		      uint64_t now_ms)
{
	static const unsigned char alpn[] = "\x02h2\x08http/1.1";

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, c->fd), 0);
	c->srv = hx_tls_accept(t, 443, c->fd[0], now_ms);
	assert_non_null(c->srv);
	c->cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(c->cctx);
	if (max == TLS1_VERSION) {
		SSL_CTX_set_security_level(c->cctx, 0);
		SSL_CTX_set_min_proto_version(c->cctx, TLS1_VERSION);
	}
	SSL_CTX_set_max_proto_version(c->cctx, max);
	c->cli = SSL_new(c->cctx);
	SSL_set_fd(c->cli, c->fd[1]);
	SSL_set_connect_state(c->cli);
	SSL_set_alpn_protos(c->cli, alpn, sizeof(alpn) - 1);
	if (name)
		SSL_set_tlsext_host_name(c->cli, name);
}

/* Step both sides until the server's handshake ends: 1 done, -1 failed. */
static int conn_handshake(struct conn *c)
{
	bool ww = false;

	for (int i = 0; i < 100; i++) {
		SSL_do_handshake(c->cli);
		int r = hx_tls_handshake(c->srv, &ww);
		if (r != 0) {
			SSL_do_handshake(c->cli);	/* takes the server's last flight */
			return r;
		}
	}
	return -1;
}

static void conn_close(struct conn *c)
{
	SSL_free(c->cli);
	SSL_CTX_free(c->cctx);
	hx_tls_free(c->srv, false);
	close(c->fd[0]);
	close(c->fd[1]);
}

/* The CN of the certificate the client got, "" when none. */
static const char *peer_cn(struct conn *c, char *buf, size_t len)
{
	X509 *x = SSL_get1_peer_certificate(c->cli);

	buf[0] = 0;
	if (x) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, (int)len);
		X509_free(x);
	}
	return buf;
}

static void test_sni_alpn_io(void **state)
{
	struct sl_diags d;
	struct sl_model *m = model(&d);
	struct hx_tls *t;
	struct conn c;
	char cn[64], buf[64];
	bool ww = false;

	(void)state;
	assert_int_equal(hx_tls_build(m, &t), 0);
	assert_non_null(t);
	assert_true(hx_tls_port_has(t, 443));
	assert_false(hx_tls_port_has(t, 80));

	conn_open(&c, t, "x.b.example", TLS1_3_VERSION, 0);
	assert_int_equal(conn_handshake(&c), 1);
	assert_string_equal(peer_cn(&c, cn, sizeof(cn)), "b.example");
	const unsigned char *proto;
	unsigned int plen;
	/* the client offers h2 and http/1.1: h2 is picked (h2.c speaks it) */
	SSL_get0_alpn_selected(c.srv, &proto, &plen);
	assert_int_equal(plen, 2);
	assert_memory_equal(proto, "h2", 2);
	assert_true(hx_tls_alpn_h2(c.srv));
	/* bytes both ways; EAGAIN when there are none */
	assert_int_equal(hx_tls_read(c.srv, buf, sizeof(buf), &ww), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(SSL_write(c.cli, "GET / HTTP/1.1\r\n", 16), 16);
	assert_int_equal(hx_tls_read(c.srv, buf, sizeof(buf), &ww), 16);
	assert_memory_equal(buf, "GET / HTTP/1.1\r\n", 16);
	assert_int_equal(hx_tls_write(c.srv, "HTTP/1.1 200 OK\r\n", 17), 17);
	assert_int_equal(SSL_read(c.cli, buf, sizeof(buf)), 17);
	/* requests on it: only the hosts of the server SNI picked */
	assert_true(hx_tls_host_ok(c.srv, "z.b.example", 11));
	assert_false(hx_tls_host_ok(c.srv, "a.example", 9));
	conn_close(&c);

	conn_open(&c, t, "a.example", TLS1_2_VERSION, 0);
	assert_int_equal(conn_handshake(&c), 1);
	assert_string_equal(peer_cn(&c, cn, sizeof(cn)), "a.example");
	conn_close(&c);

	conn_open(&c, t, NULL, TLS1_3_VERSION, 0);	/* no SNI: the first server */
	assert_int_equal(conn_handshake(&c), 1);
	assert_string_equal(peer_cn(&c, cn, sizeof(cn)), "a.example");
	assert_true(hx_tls_host_ok(c.srv, "z.b.example", 11));	/* any host of the port */
	conn_close(&c);

	conn_open(&c, t, "b.example", TLS1_3_VERSION, 0);	/* *.b.example needs a label */
	assert_int_equal(conn_handshake(&c), -1);
	conn_close(&c);

	conn_open(&c, t, "a.example", TLS1_VERSION, 0);	/* TLS 1.0 only */
	assert_int_equal(conn_handshake(&c), -1);
	conn_close(&c);

	hx_tls_put(t);
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_reread(void **state)
{
	struct sl_diags d;
	struct sl_model *m = model(&d);
	struct hx_tls *t;
	struct conn c;
	char cn[64], path[128];
	FILE *f;

	(void)state;
	assert_int_equal(hx_tls_build(m, &t), 0);
	/* replaced on disk: served once the check is due, not before */
	conn_open(&c, t, NULL, TLS1_3_VERSION, 500);	/* checked: next at 1500 */
	assert_int_equal(conn_handshake(&c), 1);
	conn_close(&c);
	make_cert("a", "a2.example");
	conn_open(&c, t, NULL, TLS1_3_VERSION, 1000);
	assert_int_equal(conn_handshake(&c), 1);
	assert_string_equal(peer_cn(&c, cn, sizeof(cn)), "a.example");
	conn_close(&c);
	conn_open(&c, t, NULL, TLS1_3_VERSION, 1000 + HX_TLS_CHECK_MS);
	assert_int_equal(conn_handshake(&c), 1);
	assert_string_equal(peer_cn(&c, cn, sizeof(cn)), "a2.example");
	conn_close(&c);
	/* a broken replacement keeps the previous certificate */
	snprintf(path, sizeof(path), "%s/a.crt", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n", f);
	fclose(f);
	conn_open(&c, t, NULL, TLS1_3_VERSION, 2000 + 2 * HX_TLS_CHECK_MS);
	assert_int_equal(conn_handshake(&c), 1);
	assert_string_equal(peer_cn(&c, cn, sizeof(cn)), "a2.example");
	conn_close(&c);
	hx_tls_put(t);

	/* a policy whose file does not load is refused */
	struct hx_tls *t2 = (struct hx_tls *)&t2;
	assert_int_equal(hx_tls_build(m, &t2), -EINVAL);
	assert_null(t2);
	sl_model_free(m);
	sl_diags_free(&d);
}

/* A connection accepted before a reload finishes its handshake after the
 * old snapshot's model is gone: the contexts keep their own copies. */
static void test_outlives_model(void **state)
{
	struct sl_diags d;
	struct sl_model *m = model(&d);
	struct hx_tls *t;
	struct conn c;
	char cn[64];

	(void)state;
	make_cert("a", "a.example");	/* test_reread left it broken */
	assert_int_equal(hx_tls_build(m, &t), 0);
	conn_open(&c, t, "y.b.example", TLS1_3_VERSION, 0);
	sl_model_free(m);
	sl_diags_free(&d);
	assert_int_equal(conn_handshake(&c), 1);
	assert_string_equal(peer_cn(&c, cn, sizeof(cn)), "b.example");
	conn_close(&c);
	hx_tls_put(t);
}

/* The daemon's check of the files at apply (sl_model_check_tls_files):
 * what sluice-http loads passes; a missing certificate, a key of another
 * certificate and a CA file without a certificate are each named, at their
 * server's tls line. */
static void test_check_files(void **state)
{
	struct sl_diags d, d2;
	struct sl_model *m = model(&d);
	char yaml[2048];

	(void)state;
	sl_diags_init(&d2);
	assert_int_equal(sl_model_check_tls_files(m, &d2), 0);
	assert_int_equal(d2.n, 0);
	sl_model_free(m);
	sl_diags_free(&d);
	snprintf(yaml, sizeof(yaml),
		 "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
		 "metadata: {name: g, namespace: t}\nspec:\n  servers:\n"
		 "  - port: {number: 443, name: https, protocol: HTTPS}\n"
		 "    hosts: [a.example]\n"
		 "    tls: {mode: SIMPLE, serverCertificate: %s/none.crt, privateKey: %s/a.key}\n"
		 "  - port: {number: 443, name: https-b, protocol: HTTPS}\n"
		 "    hosts: [b.example]\n"
		 "    tls: {mode: SIMPLE, serverCertificate: %s/b.crt, privateKey: %s/a.key}\n"
		 "  - port: {number: 443, name: https-c, protocol: HTTPS}\n"
		 "    hosts: [c.example]\n"
		 "    tls: {mode: MUTUAL, serverCertificate: %s/a.crt, privateKey: %s/a.key,"
		 " caCertificates: %s/a.key}\n",
		 dir, dir, dir, dir, dir, dir, dir);
	assert_int_equal(load(yaml, &d, &m), 0);
	assert_int_equal(sl_model_check_tls_files(m, &d2), -EINVAL);
	assert_int_equal(d2.nerrors, 3);
	assert_int_equal(d2.v[0].pos.line, 8);
	assert_non_null(strstr(d2.v[0].msg, "serverCertificate"));
	assert_non_null(strstr(d2.v[0].msg, "none.crt does not load"));
	assert_int_equal(d2.v[1].pos.line, 11);
	assert_non_null(strstr(d2.v[1].msg, "privateKey"));
	assert_int_equal(d2.v[2].pos.line, 14);
	assert_non_null(strstr(d2.v[2].msg, "caCertificates"));
	sl_model_free(m);
	sl_diags_free(&d);
	sl_diags_free(&d2);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sluice-tls-test.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	make_cert("a", "a.example");
	make_cert("b", "b.example");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_files),
		cmocka_unit_test(test_sni_alpn_io),
		cmocka_unit_test(test_reread),
		cmocka_unit_test(test_outlives_model),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
