// SPDX-License-Identifier: Apache-2.0
/*
 * Gateway Server.tls (user/lib/policy_tls.c): the field guide's HTTPS
 * server loads as written; versions, cipherSuites and httpsRedirect are
 * read; MUTUAL and OPTIONAL_MUTUAL carry the client certificate check;
 * what sluice-http does not terminate (other modes, credentialNames,
 * TLS 1.0/1.1, cipher expressions, TLS 1.3 suites) is refused at its
 * line:col; servers sharing a port must agree on TLS. credentialName
 * loads, and sl_model_bind_credentials gives it the files of its Secret
 * from a credentials directory, or refuses it (no directory: no
 * Kubernetes source; a Secret or one of its files missing).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "sluice/model.h"
#include "unit/policy_load_util.h"

#define GW_HEAD                                                                  \
	"apiVersion: networking.istio.io/v1\n"                                    \
	"kind: Gateway\n"                                                         \
	"metadata: {name: g, namespace: edge}\n"                                  \
	"spec:\n"                                                                 \
	"  servers:\n"

/* line 6 of every document below */
#define HTTPS_443 "  - port: {number: 443, name: https, protocol: HTTPS}\n"

static const struct sl_gateway_server *server(const struct sl_model *m, size_t g, size_t s)
{
	assert_true(g < m->ngateways);
	assert_true(s < m->gateways[g].nservers);
	return &m->gateways[g].servers[s];
}

static void test_field_guide_server(void **state)
{
	struct sl_diags d;
	struct sl_model *m;

	(void)state;
	assert_int_equal(load(GW_HEAD HTTPS_443
			      "    hosts: [myapp.com]\n"
			      "    tls: {mode: SIMPLE, serverCertificate: /tmp/tls.crt, privateKey: /tmp/tls.key}\n",
			      &d, &m), 0);
	const struct sl_gateway_server *sv = server(m, 0, 0);
	assert_int_equal(sv->proto, SL_PROTO_HTTPS);
	assert_int_equal(sv->tls.mode, SL_TLS_SIMPLE);
	assert_string_equal(sv->tls.cert_file, "/tmp/tls.crt");
	assert_string_equal(sv->tls.key_file, "/tmp/tls.key");
	assert_int_equal(sv->tls.min_version, 0);
	assert_int_equal(sv->tls.max_version, 0);
	assert_null(sv->tls.ciphers);
	assert_false(sv->tls.https_redirect);
	assert_true(sl_gw_server_is_http(sv));
	assert_int_equal(sv->tls.pos.line, 8);
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_versions_ciphers_redirect(void **state)
{
	struct sl_diags d;
	struct sl_model *m;

	(void)state;
	assert_int_equal(load(GW_HEAD HTTPS_443
			      "    hosts: [myapp.com]\n"
			      "    tls:\n"
			      "      mode: SIMPLE\n"
			      "      serverCertificate: /c\n"
			      "      privateKey: /k\n"
			      "      minProtocolVersion: TLSV1_2\n"
			      "      maxProtocolVersion: TLSV1_3\n"
			      "      cipherSuites: [ECDHE-RSA-AES128-GCM-SHA256, ECDHE-RSA-AES256-GCM-SHA384]\n"
			      "  - port: {number: 443, name: https-b, protocol: HTTPS}\n"
			      "    hosts: [b.example]\n"
			      "    tls:\n"
			      "      mode: SIMPLE\n"
			      "      serverCertificate: /c2\n"
			      "      privateKey: /k2\n"
			      "      minProtocolVersion: TLSV1_2\n"
			      "      maxProtocolVersion: TLSV1_3\n"
			      "      cipherSuites: [ECDHE-RSA-AES128-GCM-SHA256, ECDHE-RSA-AES256-GCM-SHA384]\n"
			      "  - port: {number: 80, name: http, protocol: HTTP}\n"
			      "    hosts: [myapp.com]\n"
			      "    tls: {httpsRedirect: true}\n",
			      &d, &m), 0);
	const struct sl_gateway_server *sv = server(m, 0, 0);
	assert_int_equal(sv->tls.min_version, SL_TLS_V12);
	assert_int_equal(sv->tls.max_version, SL_TLS_V13);
	assert_string_equal(sv->tls.ciphers, "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384");
	const struct sl_gateway_server *p = server(m, 0, 2);
	assert_int_equal(p->proto, SL_PROTO_HTTP);
	assert_int_equal(p->tls.mode, SL_TLS_NONE);
	assert_true(p->tls.https_redirect);
	assert_true(sl_gw_server_is_http(p));
	/* the model dump says what is enforced */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(sl_model_dump_json(m, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\"mode\": \"SIMPLE\""));
	assert_non_null(strstr(buf, "\"serverCertificate\": \"/c2\""));
	assert_non_null(strstr(buf, "\"minProtocolVersion\": \"TLSV1_2\""));
	assert_non_null(strstr(buf, "\"maxProtocolVersion\": \"TLSV1_3\""));
	assert_non_null(strstr(buf, "\"cipherSuites\": "
				    "\"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384\""));
	assert_non_null(strstr(buf, "\"mode\": null"));
	assert_non_null(strstr(buf, "\"httpsRedirect\": true"));
	free(buf);
	sl_model_free(m);
	sl_diags_free(&d);
}

static void test_refused(void **state)
{
	(void)state;
	/* TLS 1.0 / 1.1 */
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k, minProtocolVersion: TLSV1_0}\n",
		   "SL0007", 8, 84, "TLSV1_0 is not supported");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k, maxProtocolVersion: TLSV1_1}\n",
		   "SL0007", 8, 84, "TLSV1_1 is not supported");
	/* modes sluice-http does not build */
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n    tls: {mode: MUTUAL, serverCertificate: /c, privateKey: /k}\n",
		   "SL0004", 8, 10, "caCertificates");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: OPTIONAL_MUTUAL, serverCertificate: /c, privateKey: /k, caCertificates: ca}\n",
		   "SL0210", 8, 89, "absolute file path");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k, caCertificates: /ca}\n",
		   "SL0211", 8, 80, "MUTUAL or OPTIONAL_MUTUAL, not SIMPLE");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: MUTUAL, serverCertificate: /c, privateKey: /k, caCertificates: /ca,"
		   " verifyCertificateHash: [ab]}\n",
		   "SL0007", 8, 85, "verifyCertificateHash");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n    tls: {mode: ISTIO_MUTUAL}\n",
		   "SL0007", 8, 17, "ISTIO_MUTUAL");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n    tls: {mode: AUTO_PASSTHROUGH}\n",
		   "SL0007", 8, 17, "AUTO_PASSTHROUGH");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n    tls: {mode: SIMPLE, credentialNames: [c]}\n",
		   "SL0007", 8, 25, "one Secret per server is read; use credentialName");
	/* HTTPS without tls, SIMPLE without files, relative paths */
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n", "SL0004", 6, 5, "needs \"tls\"");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n    tls: {mode: SIMPLE, privateKey: /k}\n",
		   "SL0004", 8, 10, "serverCertificate");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n    tls: {mode: SIMPLE, serverCertificate: c, privateKey: /k}\n",
		   "SL0210", 8, 44, "absolute file path");
	/* cipher suites: an expression, a TLS 1.3 suite, an unknown name */
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k, cipherSuites: [HIGH]}\n",
		   "SL0210", 8, 79, "not a TLS 1.2 cipher suite");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k, cipherSuites: [TLS_AES_128_GCM_SHA256]}\n",
		   "SL0007", 8, 79, "TLS 1.3 suite");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k, cipherSuites: ['[A|B]']}\n",
		   "SL0007", 8, 79, "equal-preference");
	/* versions upside down */
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k, minProtocolVersion: TLSV1_3,"
		   " maxProtocolVersion: TLSV1_2}\n",
		   "SL0211", 8, 84, "above maxProtocolVersion");
	/* httpsRedirect on the HTTPS server, SIMPLE on a plain one */
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k, httpsRedirect: true}\n",
		   "SL0211", 8, 79, "plain HTTP server");
	refused_at(GW_HEAD "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k}\n",
		   "SL0211", 8, 10, "may only set httpsRedirect");
}

/* MUTUAL and OPTIONAL_MUTUAL: the CA and subjectAltNames client
 * certificates are checked against, as the dump shows them. */
static void test_mutual(void **state)
{
	struct sl_diags d;
	struct sl_model *m;

	(void)state;
	assert_int_equal(load(GW_HEAD HTTPS_443
			      "    hosts: [a.example]\n"
			      "    tls:\n"
			      "      mode: MUTUAL\n"
			      "      serverCertificate: /c\n"
			      "      privateKey: /k\n"
			      "      caCertificates: /ca.pem\n"
			      "      subjectAltNames: [spiffe://cluster.local/ns/a/sa/client, client.example]\n"
			      "  - port: {number: 443, name: https-b, protocol: HTTPS}\n"
			      "    hosts: [b.example]\n"
			      "    tls: {mode: OPTIONAL_MUTUAL, serverCertificate: /c, privateKey: /k,"
			      " caCertificates: /ca.pem}\n",
			      &d, &m), 0);
	const struct sl_gateway_server *a = server(m, 0, 0), *b = server(m, 0, 1);
	assert_int_equal(a->tls.mode, SL_TLS_SIMPLE);
	assert_int_equal(a->tls.client_auth, SL_CLIENT_AUTH_REQUIRE);
	assert_string_equal(a->tls.ca_file, "/ca.pem");
	assert_int_equal(a->tls.nsans, 2);
	assert_string_equal(a->tls.sans[0], "spiffe://cluster.local/ns/a/sa/client");
	assert_int_equal(b->tls.client_auth, SL_CLIENT_AUTH_OPTIONAL);
	assert_int_equal(b->tls.nsans, 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(sl_model_dump_json(m, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\"mode\": \"MUTUAL\""));
	assert_non_null(strstr(buf, "\"mode\": \"OPTIONAL_MUTUAL\""));
	assert_non_null(strstr(buf, "\"caCertificates\": \"/ca.pem\""));
	assert_non_null(strstr(buf, "\"client.example\""));
	free(buf);
	sl_model_free(m);
	sl_diags_free(&d);
}

/* One port, one kind of listener, one set of versions and ciphers. */
static void test_port_agreement(void **state)
{
	(void)state;
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k}\n"
		   "  - port: {number: 443, name: http, protocol: HTTP}\n    hosts: [b]\n",
		   "SL0211", 9, 5, "either TLS or plaintext");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k}\n"
		   HTTPS_443 "    hosts: [b]\n"
		   "    tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k, minProtocolVersion: TLSV1_3}\n",
		   "SL0211", 11, 10, "must be equal");
	/* across Gateways too */
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k}\n"
		   "---\n" "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
		   "metadata: {name: g2, namespace: edge}\nspec:\n  servers:\n"
		   "  - port: {number: 443, name: http, protocol: HTTP}\n    hosts: [b]\n",
		   "SL0211", 15, 5, "either TLS or plaintext");
}

/* credentialName: read as a name of the Gateway's namespace, exclusive
 * with the file fields; the files come from the bind step. */
static void test_credential_name(void **state)
{
	(void)state;
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, credentialName: c, serverCertificate: /c}\n",
		   "SL0211", 8, 63, "serverCertificate and credentialName both give");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, credentialName: c, privateKey: /k}\n",
		   "SL0211", 8, 56, "privateKey and credentialName");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: MUTUAL, credentialName: c, caCertificates: /ca}\n",
		   "SL0211", 8, 60, "caCertificates and credentialName");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, credentialName: other/c}\n",
		   "SL0210", 8, 41, "Secret in the Gateway's namespace");
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: SIMPLE, credentialName: ''}\n",
		   "SL0210", 8, 41, "must be the name of a Secret");
	/* PASSTHROUGH holds no certificate of its own */
	refused_at(GW_HEAD HTTPS_443 "    hosts: [a]\n"
		   "    tls: {mode: PASSTHROUGH, credentialName: c}\n",
		   "SL0211", 8, 46, "does not apply to tls.mode PASSTHROUGH");
}

static void put_file(const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs("x\n", f);
	fclose(f);
}

/* The bind step: no directory refuses at the credentialName; a Secret
 * read (its directory) gives the paths; a missing Secret, tls.key or
 * (MUTUAL) ca.crt refuses, naming it. */
static void test_bind_credentials(void **state)
{
	static const char *const yaml = GW_HEAD HTTPS_443
		"    hosts: [a]\n"
		"    tls: {mode: SIMPLE, credentialName: web-cert}\n"
		"  - port: {number: 8443, name: https-m, protocol: HTTPS}\n"
		"    hosts: [b]\n"
		"    tls: {mode: MUTUAL, credentialName: m-cert, subjectAltNames: [client]}\n";
	char dir[] = "/tmp/sl-cred-XXXXXX", p[256];
	struct sl_diags d;
	struct sl_model *m;

	(void)state;
	assert_int_equal(load(yaml, &d, &m), 0);
	const struct sl_gateway_server *a = server(m, 0, 0), *b = server(m, 0, 1);
	assert_string_equal(a->tls.credential, "web-cert");
	assert_null(a->tls.cert_file);
	assert_int_equal(a->tls.cred_pos.line, 8);
	assert_int_equal(a->tls.cred_pos.col, 41);
	assert_int_equal(b->tls.client_auth, SL_CLIENT_AUTH_REQUIRE);
	assert_null(b->tls.ca_file);
	/* the model as loaded: the check of the files skips what is unbound */
	assert_int_equal(sl_model_check_tls_files(m, &d), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(sl_model_dump_json(m, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\"credentialName\": \"web-cert\""));
	free(buf);

	/* no Kubernetes source */
	assert_int_equal(sl_model_bind_credentials(m, NULL, &d), -EINVAL);
	const struct sl_diag *g = find_code(&d, "SL0007");
	assert_non_null(g);
	assert_int_equal(g->pos.line, 8);
	assert_int_equal(g->pos.col, 41);
	assert_non_null(strstr(g->msg, "Gateway edge/g port 443: credentialName web-cert needs the "
				       "Kubernetes source"));
	assert_non_null(strstr(g->msg, "run sluiced with --kubernetes, or give "
				       "serverCertificate/privateKey"));
	assert_int_equal(ncode(&d, "SL0007"), 2);
	sl_diags_free(&d);

	/* a directory without the Secrets */
	assert_non_null(mkdtemp(dir));
	sl_diags_init(&d);
	assert_int_equal(sl_model_bind_credentials(m, dir, &d), -EINVAL);
	g = find_code(&d, "SL0009");
	assert_non_null(g);
	assert_int_equal(g->pos.line, 8);
	assert_non_null(strstr(g->msg, "no Secret edge/web-cert of type kubernetes.io/tls"));
	sl_diags_free(&d);

	/* web-cert complete, m-cert without ca.crt */
	snprintf(p, sizeof(p), "%s/edge", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/edge/web-cert", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/edge/m-cert", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/edge/web-cert/tls.crt", dir);
	put_file(p);
	snprintf(p, sizeof(p), "%s/edge/m-cert/tls.crt", dir);
	put_file(p);
	snprintf(p, sizeof(p), "%s/edge/m-cert/tls.key", dir);
	put_file(p);
	sl_diags_init(&d);
	assert_int_equal(sl_model_bind_credentials(m, dir, &d), -EINVAL);
	assert_int_equal(d.nerrors, 2);
	assert_non_null(strstr(d.v[0].msg, "Secret edge/web-cert has no tls.key"));
	assert_int_equal(d.v[1].pos.line, 11);
	assert_non_null(strstr(d.v[1].msg, "Secret edge/m-cert has no ca.crt"));
	sl_diags_free(&d);

	snprintf(p, sizeof(p), "%s/edge/web-cert/tls.key", dir);
	put_file(p);
	snprintf(p, sizeof(p), "%s/edge/m-cert/ca.crt", dir);
	put_file(p);
	sl_diags_init(&d);
	assert_int_equal(sl_model_bind_credentials(m, dir, &d), 0);
	assert_int_equal(d.n, 0);
	snprintf(p, sizeof(p), "%s/edge/web-cert/tls.crt", dir);
	assert_string_equal(a->tls.cert_file, p);
	snprintf(p, sizeof(p), "%s/edge/web-cert/tls.key", dir);
	assert_string_equal(a->tls.key_file, p);
	assert_null(a->tls.ca_file);
	snprintf(p, sizeof(p), "%s/edge/m-cert/ca.crt", dir);
	assert_string_equal(b->tls.ca_file, p);
	/* now the files are checked (and these do not load) */
	assert_int_equal(sl_model_check_tls_files(m, &d), -EINVAL);
	assert_non_null(strstr(d.v[0].msg, "serverCertificate"));
	sl_diags_free(&d);
	sl_model_free(m);

	static const char *const files[] = {
		"edge/web-cert/tls.crt", "edge/web-cert/tls.key", "edge/m-cert/tls.crt",
		"edge/m-cert/tls.key", "edge/m-cert/ca.crt", "edge/web-cert", "edge/m-cert", "edge",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		assert_int_equal(remove(p), 0);
	}
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_field_guide_server),
		cmocka_unit_test(test_versions_ciphers_redirect),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_mutual),
		cmocka_unit_test(test_port_agreement),
		cmocka_unit_test(test_credential_name),
		cmocka_unit_test(test_bind_credentials),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
