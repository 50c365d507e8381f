// SPDX-License-Identifier: Apache-2.0
/*
 * Gateway Server.tls. An HTTPS server with tls.mode SIMPLE, MUTUAL or
 * OPTIONAL_MUTUAL is terminated by sluice-http (user/http/tls.c) with its
 * serverCertificate/privateKey files, or with those of the Kubernetes
 * Secret its credentialName names (sl_model_bind_credentials puts the
 * paths of the Kubernetes source's copy in; the front-end itself reads no
 * directory); MUTUAL and OPTIONAL_MUTUAL verify client certificates
 * against caCertificates, or the Secret's ca.crt (and subjectAltNames); an
 * HTTPS or TLS server with tls.mode PASSTHROUGH is relayed unopened by
 * sluice-http (user/http/passthru.c), routed by the ClientHello's SNI
 * through the bound VirtualServices' tls routes (policy_vs.c parses them,
 * pl_check_tls_routes checks them at their servers);
 * a plain HTTP server may carry only httpsRedirect. Everything else of
 * Istio's ServerTLSSettings is refused here (pl_fields rows, or below when
 * the reason needs saying), so that what loads is what is enforced.
 *
 * Servers sharing a port share one TLS listener: the certificate is chosen
 * by SNI, but the protocol versions and cipher list take effect before the
 * SNI name is known, so they must agree among the port's servers
 * (pl_check_gateway_tls).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/policy_int.h"

static const char *const mode_names[] = {
	"PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL", NULL,
};
enum { MODE_PASSTHROUGH = 0, MODE_SIMPLE = 1, MODE_MUTUAL = 2, MODE_OPTIONAL_MUTUAL = 5 };

static const char *const version_names[] = {
	"TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3", NULL,
};

/* A private key with a passphrase does not load (no prompt). */
static int no_passphrase(char *buf, int size, int rw, void *u)
{
	(void)buf;
	(void)size;
	(void)rw;
	(void)u;
	return 0;
}

/* min/maxProtocolVersion: 0 (TLS_AUTO or absent), SL_TLS_V12, SL_TLS_V13;
 * -1 on error (reported). TLS 1.0 and 1.1 are refused: sluice-http's
 * OpenSSL context speaks 1.2 and 1.3 only. */
static int parse_version(struct pl_ctx *c, yaml_node_t *tn, const char *key, uint16_t *out)
{
	int v = 0;
	int r = pl_enum(c, tn, key, "ServerTLSSettings", version_names, &v);

	if (r <= 0)
		return r;
	if (v == 1 || v == 2) {
		pl_err(c, PL_E_UNSUP, pl_get(c, tn, key),
		       "%s %s is not supported: sluice-http speaks TLS 1.2 and 1.3 only "
		       "(TLS 1.0 and 1.1 are deprecated, RFC 8996)", key, version_names[v]);
		return -1;
	}
	*out = v == 3 ? SL_TLS_V12 : v == 4 ? SL_TLS_V13 : 0;
	return 1;
}

/* Is name one TLS 1.2 cipher suite OpenSSL knows by that exact name? (Not
 * a cipher-string expression such as "HIGH" or "!aNULL", nor a TLS 1.3
 * suite, whose set OpenSSL configures separately.) */
static bool known_tls12_cipher(const char *name)
{
	SSL_CTX *ctx;
	bool ok = false;

	for (const char *p = name; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return false;
	if (SSL_CTX_set_cipher_list(ctx, name) == 1) {
		STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);

		for (int i = 0; sk && i < sk_SSL_CIPHER_num(sk); i++) {
			const SSL_CIPHER *ci = sk_SSL_CIPHER_value(sk, i);

			if (!strcmp(SSL_CIPHER_get_name(ci), name) &&
			    strcmp(SSL_CIPHER_get_version(ci), "TLSv1.3") != 0)
				ok = true;
		}
	}
	SSL_CTX_free(ctx);
	return ok;
}

static int parse_ciphers(struct pl_ctx *c, yaml_node_t *tn, struct sl_server_tls *t)
{
	char **names = NULL;
	struct sl_pos *pos = NULL;
	size_t n = 0, len = 1;
	int r = pl_strlist(c, tn, "cipherSuites", &names, &pos, &n);

	if (r <= 0 || n == 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		const char *s = names[i];

		len += strlen(s) + 1;
		if (!strncmp(s, "TLS_", 4)) {
			sl_diag_add(c->d, SL_SEV_ERROR, PL_E_UNSUP, pos[i],
				    "cipherSuites[%zu] \"%s\" is a TLS 1.3 suite: cipherSuites applies "
				    "to TLS 1.2 only (as in Envoy); TLS 1.3 uses OpenSSL's default suites",
				    i, s);
			r = -1;
		} else if (strchr(s, '[') || strchr(s, '|')) {
			sl_diag_add(c->d, SL_SEV_ERROR, PL_E_UNSUP, pos[i],
				    "cipherSuites[%zu] \"%s\": equal-preference groups ([A|B]) are not "
				    "supported; list single suites in order of preference", i, s);
			r = -1;
		} else if (!known_tls12_cipher(s)) {
			sl_diag_add(c->d, SL_SEV_ERROR, PL_E_VALUE, pos[i],
				    "cipherSuites[%zu] \"%s\" is not a TLS 1.2 cipher suite OpenSSL "
				    "knows (names as `openssl ciphers -v` prints them, e.g. "
				    "ECDHE-RSA-AES128-GCM-SHA256)", i, s);
			r = -1;
		}
	}
	if (r < 0)
		return -1;
	t->ciphers = sl_arena_calloc(c->a, len, 1);
	if (!t->ciphers)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(t->ciphers, ":");
		strcat(t->ciphers, names[i]);
	}
	return 1;
}

/* serverCertificate / privateKey / caCertificates: an absolute path
 * (sluice-http runs from wherever it was started, and re-reads the file
 * when it changes). */
static void parse_file(struct pl_ctx *c, yaml_node_t *tn, const char *key, const char *mode,
		       char **out)
{
	yaml_node_t *n = NULL;
	int r = pl_str(c, tn, key, out, &n);

	if (r == 0) {
		pl_err(c, PL_E_REQUIRED, tn, "missing required field \"%s\" (tls.mode %s needs "
		       "serverCertificate and privateKey%s, PEM file paths)", key, mode,
		       strcmp(mode, "SIMPLE") ? " and caCertificates" : "");
	} else if (r > 0 && (*out)[0] != '/') {
		pl_err(c, PL_E_VALUE, n, "%s \"%s\" must be an absolute file path", key, *out);
		*out = NULL;
	}
}

/* credentialName: a Secret of the Gateway's namespace (as Istio reads it
 * for gateways), so a name and not "namespace/name"; the certificate,
 * key and CA are the Secret's, so the file fields conflict with it. */
static void parse_credential(struct pl_ctx *c, yaml_node_t *tn, int mode, struct sl_server_tls *t)
{
	static const char *const keys[] = { "serverCertificate", "privateKey", "caCertificates" };
	yaml_node_t *n = NULL;
	char *name = NULL;

	/* on SIMPLE, caCertificates is refused by parse_client_auth */
	for (size_t i = 0; i < (mode == MODE_SIMPLE ? 2u : 3u); i++)
		if (pl_get(c, tn, keys[i]))
			pl_err(c, PL_E_CONFLICT, pl_get(c, tn, keys[i]),
			       "%s and credentialName both give the server's %s: give one (the "
			       "Secret holds tls.crt, tls.key and, for MUTUAL, ca.crt)", keys[i],
			       i == 2 ? "client CA" : "certificate");
	if (pl_str(c, tn, "credentialName", &name, &n) <= 0)
		return;
	if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		pl_err(c, PL_E_VALUE, n, "credentialName \"%s\" must be the name of a Secret in the "
		       "Gateway's namespace (no \"/\"; gateways read their own namespace's Secrets)",
		       name);
		return;
	}
	t->credential = name;
	t->cred_pos = pl_pos(c, n);
}

/* MUTUAL / OPTIONAL_MUTUAL: caCertificates (required, unless the
 * credentialName Secret gives the CA) and subjectAltNames. On a SIMPLE
 * server they would verify nothing, so they are refused. */
static void parse_client_auth(struct pl_ctx *c, yaml_node_t *tn, int mode, bool cred,
			      struct sl_server_tls *t)
{
	struct sl_pos *pos = NULL;

	if (mode == MODE_SIMPLE) {
		static const char *const keys[] = {"caCertificates", "subjectAltNames"};

		for (size_t i = 0; i < 2; i++)
			if (pl_get(c, tn, keys[i]))
				pl_err(c, PL_E_CONFLICT, pl_get(c, tn, keys[i]),
				       "%s verifies client certificates: it applies to tls.mode "
				       "MUTUAL or OPTIONAL_MUTUAL, not SIMPLE", keys[i]);
		return;
	}
	t->client_auth = mode == MODE_MUTUAL ? SL_CLIENT_AUTH_REQUIRE : SL_CLIENT_AUTH_OPTIONAL;
	if (!cred)
		parse_file(c, tn, "caCertificates", mode_names[mode], &t->ca_file);
	if (pl_strlist(c, tn, "subjectAltNames", &t->sans, &pos, &t->nsans) > 0)
		for (size_t i = 0; i < t->nsans; i++)
			if (!t->sans[i][0])
				sl_diag_add(c->d, SL_SEV_ERROR, PL_E_VALUE, pos[i],
					    "subjectAltNames[%zu] is empty", i);
}

/* tls.mode PASSTHROUGH: the backend terminates, so nothing of the
 * server's own TLS settings applies; given, they are refused rather than
 * silently unused. */
static void parse_passthrough(struct pl_ctx *c, yaml_node_t *tn, struct sl_server_tls *t)
{
	static const char *const keys[] = {
		"serverCertificate", "privateKey", "cipherSuites", "minProtocolVersion",
		"maxProtocolVersion", "caCertificates", "subjectAltNames", "credentialName",
	};

	t->mode = SL_TLS_PASSTHROUGH;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		yaml_node_t *k = pl_get(c, tn, keys[i]);

		if (k)
			pl_err(c, PL_E_CONFLICT, k, "%s does not apply to tls.mode PASSTHROUGH: "
			       "sluice-http does not terminate TLS there (the backend holds the "
			       "certificate and chooses the version and cipher)", keys[i]);
	}
}

void pl_parse_server_tls(struct pl_ctx *c, yaml_node_t *sn, struct sl_gateway_server *s)
{
	yaml_node_t *tn = pl_get(c, sn, "tls");
	struct sl_server_tls *t = &s->tls;
	bool https = s->proto == SL_PROTO_HTTPS, tlsp = s->proto == SL_PROTO_TLS;
	int mode = -1;

	if (!tn || pl_is_null(tn)) {
		if (https)
			pl_err(c, PL_E_REQUIRED, sn, "an HTTPS server needs \"tls\" (mode SIMPLE with "
			       "serverCertificate and privateKey, or mode PASSTHROUGH)");
		else if (tlsp)
			pl_err(c, PL_E_REQUIRED, sn, "a TLS server needs \"tls\" (mode PASSTHROUGH)");
		return;
	}
	if (!pl_check_map(c, tn, "ServerTLSSettings", "server.tls"))
		return;
	t->pos = pl_pos(c, tn);
	if (pl_bool(c, tn, "httpsRedirect", &t->https_redirect) > 0 && t->https_redirect &&
	    !sl_proto_is_http(s->proto))
		pl_err(c, PL_E_CONFLICT, pl_get(c, tn, "httpsRedirect"),
		       "httpsRedirect applies to a plain HTTP server (protocol HTTP), not to a "
		       "protocol %s server", sl_proto_name(s->proto));
	int r = pl_enum(c, tn, "mode", "ServerTLSSettings", mode_names, &mode);
	if (!https && !tlsp) {
		if (r > 0 || pl_get(c, tn, "serverCertificate") || pl_get(c, tn, "privateKey"))
			pl_err(c, PL_E_CONFLICT, tn,
			       "TLS is terminated on protocol HTTPS servers; a protocol %s server's "
			       "tls may only set httpsRedirect", sl_proto_name(s->proto));
		return;
	}
	if (r == 0)
		pl_err(c, PL_E_REQUIRED, tn, "missing required field \"mode\" (%s)",
		       tlsp ? "PASSTHROUGH" : "SIMPLE or PASSTHROUGH");
	if (r <= 0)
		return;
	if (mode == MODE_PASSTHROUGH) {
		parse_passthrough(c, tn, t);
		return;
	}
	if (tlsp) {
		pl_err(c, PL_E_UNSUP, pl_get(c, tn, "mode"), "tls.mode %s on a protocol TLS server "
		       "is not supported yet: sluice-http terminates TLS on protocol HTTPS servers "
		       "(use PASSTHROUGH to route TLS by SNI)", mode_names[mode]);
		return;
	}
	if (mode != MODE_SIMPLE && mode != MODE_MUTUAL && mode != MODE_OPTIONAL_MUTUAL) {
		/* the rows mode=... refuse the others; this is the rest */
		pl_err(c, PL_E_UNSUP, pl_get(c, tn, "mode"), "tls.mode %s is not supported yet "
		       "(use SIMPLE, MUTUAL, OPTIONAL_MUTUAL or PASSTHROUGH)", mode_names[mode]);
		return;
	}
	t->mode = SL_TLS_SIMPLE;
	if (pl_get(c, tn, "credentialNames"))
		return;		/* refused by its row, with the reason */
	yaml_node_t *cn = pl_get(c, tn, "credentialName");
	if (cn) {
		parse_credential(c, tn, mode, t);
	} else {
		parse_file(c, tn, "serverCertificate", mode_names[mode], &t->cert_file);
		parse_file(c, tn, "privateKey", mode_names[mode], &t->key_file);
	}
	parse_client_auth(c, tn, mode, cn != NULL, t);
	int a = parse_version(c, tn, "minProtocolVersion", &t->min_version);
	int b = parse_version(c, tn, "maxProtocolVersion", &t->max_version);
	if (a > 0 && b > 0 && t->min_version && t->max_version && t->min_version > t->max_version)
		pl_err(c, PL_E_CONFLICT, pl_get(c, tn, "minProtocolVersion"),
		       "minProtocolVersion is above maxProtocolVersion");
	if (parse_ciphers(c, tn, t) > 0 && t->max_version == SL_TLS_V13 &&
	    t->min_version == SL_TLS_V13)
		pl_err(c, PL_E_CONFLICT, pl_get(c, tn, "cipherSuites"),
		       "cipherSuites applies to TLS 1.2 and this server speaks TLS 1.3 only");
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* The listener a server needs from sluice-http: 0 none (TCP and others),
 * 1 plain HTTP, 2 HTTPS terminated, 3 TLS passthrough. */
static int listener_kind(const struct sl_gateway_server *sv)
{
	if (sl_gw_server_is_passthrough(sv))
		return 3;
	if (!sl_gw_server_is_http(sv))
		return 0;
	return sv->tls.mode == SL_TLS_SIMPLE ? 2 : 1;
}

int pl_check_gateway_tls(struct pl_ctx *c, struct sl_model *m)
{
	static const char *const kind_names[] = { "", "plain HTTP", "HTTPS", "TLS passthrough" };

	for (size_t g = 0; g < m->ngateways; g++) {
		struct sl_gateway *gw = &m->gateways[g];

		for (size_t s = 0; s < gw->nservers; s++) {
			const struct sl_gateway_server *sv = &gw->servers[s];

			int kind = listener_kind(sv);

			if (!kind)
				continue;
			/* the first earlier server on this port decides */
			const struct sl_gateway *fg = NULL;
			const struct sl_gateway_server *f = NULL;
			for (size_t g2 = 0; g2 <= g && !f; g2++)
				for (size_t s2 = 0; s2 < m->gateways[g2].nservers; s2++) {
					const struct sl_gateway_server *o = &m->gateways[g2].servers[s2];

					if (g2 == g && s2 >= s)
						break;
					if (o->port == sv->port && listener_kind(o)) {
						fg = &m->gateways[g2];
						f = o;
						break;
					}
				}
			if (!f)
				continue;
			bool tls = sv->tls.mode == SL_TLS_SIMPLE, ftls = f->tls.mode == SL_TLS_SIMPLE;
			int fkind = listener_kind(f);
			if (kind != fkind && (kind == 3 || fkind == 3)) {
				sl_diag_add(c->d, SL_SEV_ERROR, PL_E_CONFLICT, sv->pos,
					    "gateway %s/%s server port %u is %s but gateway %s/%s's server "
					    "at line %d serves port %u as %s: a port's connections are "
					    "either all relayed by SNI (PASSTHROUGH) or all served over HTTP",
					    gw->ns, gw->name, sv->port, kind_names[kind], fg->ns, fg->name,
					    f->pos.line, f->port, kind_names[fkind]);
			} else if (tls != ftls) {
				sl_diag_add(c->d, SL_SEV_ERROR, PL_E_CONFLICT, sv->pos,
					    "gateway %s/%s server port %u is %s but gateway %s/%s's server "
					    "at line %d serves port %u as %s: a port is either TLS or "
					    "plaintext", gw->ns, gw->name, sv->port,
					    tls ? "HTTPS" : "plain HTTP", fg->ns, fg->name, f->pos.line,
					    f->port, ftls ? "HTTPS" : "plain HTTP");
			} else if (tls && (sv->tls.min_version != f->tls.min_version ||
					   sv->tls.max_version != f->tls.max_version ||
					   !str_eq(sv->tls.ciphers, f->tls.ciphers))) {
				sl_diag_add(c->d, SL_SEV_ERROR, PL_E_CONFLICT, sv->tls.pos,
					    "gateway %s/%s server port %u: its min/maxProtocolVersion or "
					    "cipherSuites differ from those of gateway %s/%s's server at "
					    "line %d on the same port; they must be equal (they take "
					    "effect before the SNI name picks the server)", gw->ns,
					    gw->name, sv->port, fg->ns, fg->name, f->pos.line);
			}
		}
	}
	return 0;
}

/* The first OpenSSL error (or errno's text) of a failed load. */
static const char *load_err(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	if (r)
		snprintf(buf, len, "%s", r);
	else if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "%s", strerror(errno ? errno : EINVAL));
	ERR_clear_error();
	return buf;
}

const char *sl_tls_ctx_load(SSL_CTX *ctx, const char *cert, const char *key, const char *ca,
			    const char **file)
{
	STACK_OF(X509_NAME) *cas;

	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	errno = 0;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		*file = cert;
		return "serverCertificate";
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		*file = key;
		return "privateKey";
	}
	if (!ca)
		return NULL;
	cas = SSL_load_client_CA_file(ca);
	if (!cas || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		sk_X509_NAME_pop_free(cas, X509_NAME_free);
		*file = ca;
		return "caCertificates";
	}
	SSL_CTX_set_client_CA_list(ctx, cas);
	return NULL;
}

/* Load server t's files into a scratch context; NULL when they load, else
 * the field that failed, its file in *file, and why in err. */
static const char *server_files_fail(const struct sl_server_tls *t, const char **file, char *err,
				     size_t len)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	const char *bad;

	*file = t->cert_file;
	if (!ctx) {
		load_err(err, len);
		return "serverCertificate";
	}
	bad = sl_tls_ctx_load(ctx, t->cert_file, t->key_file,
			      t->client_auth != SL_CLIENT_AUTH_NONE ? t->ca_file : NULL, file);
	if (bad)
		load_err(err, len);
	SSL_CTX_free(ctx);
	return bad;
}

int sl_model_check_tls_files(const struct sl_model *m, struct sl_diags *d)
{
	int rc = 0;

	for (size_t g = 0; g < m->ngateways; g++)
		for (size_t s = 0; s < m->gateways[g].nservers; s++) {
			const struct sl_gateway_server *sv = &m->gateways[g].servers[s];
			const struct sl_server_tls *t = &sv->tls;
			const char *bad, *file;
			char err[256];

			/* an unbound credentialName: sl_model_bind_credentials said why */
			if (t->mode != SL_TLS_SIMPLE || !t->cert_file || !t->key_file)
				continue;
			bad = server_files_fail(t, &file, err, sizeof(err));
			if (!bad)
				continue;
			sl_diag_add(d, SL_SEV_ERROR, PL_E_VALUE, t->pos,
				    "Gateway %s/%s port %u: %s %s does not load: %s", m->gateways[g].ns,
				    m->gateways[g].name, sv->port, bad, file, err);
			rc = -EINVAL;
		}
	return rc;
}

/* The path of file f of the Secret at base, when it is there (else NULL,
 * and why in errno). */
static char *secret_file(struct sl_model *m, const char *base, const char *f)
{
	char *p = sl_arena_printf(m->arena, "%s/%s", base, f);

	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	return access(p, R_OK) == 0 ? p : NULL;
}

int sl_model_bind_credentials(struct sl_model *m, const char *dir, struct sl_diags *d)
{
	int rc = 0;

	for (size_t g = 0; g < m->ngateways; g++)
		for (size_t s = 0; s < m->gateways[g].nservers; s++) {
			const struct sl_gateway *gw = &m->gateways[g];
			struct sl_gateway_server *sv = &gw->servers[s];
			struct sl_server_tls *t = &sv->tls;
			bool ca = t->client_auth != SL_CLIENT_AUTH_NONE;
			char *base, *crt, *key, *cacrt = NULL;
			struct stat st;

			if (t->mode != SL_TLS_SIMPLE || !t->credential)
				continue;
			if (!dir) {
				sl_diag_add(d, SL_SEV_ERROR, PL_E_UNSUP, t->cred_pos,
					    "Gateway %s/%s port %u: credentialName %s needs the "
					    "Kubernetes source (it names a Secret): run sluiced with "
					    "--kubernetes, or give serverCertificate/privateKey",
					    gw->ns, gw->name, sv->port, t->credential);
				rc = -EINVAL;
				continue;
			}
			base = sl_arena_printf(m->arena, "%s/%s/%s", dir, gw->ns, t->credential);
			if (!base)
				return -ENOMEM;
			if (stat(base, &st) < 0 || !S_ISDIR(st.st_mode)) {
				sl_diag_add(d, SL_SEV_ERROR, PL_E_IO, t->cred_pos,
					    "Gateway %s/%s port %u: credentialName %s: no Secret %s/%s "
					    "of type kubernetes.io/tls has been read from the API server",
					    gw->ns, gw->name, sv->port, t->credential, gw->ns,
					    t->credential);
				rc = -EINVAL;
				continue;
			}
			crt = secret_file(m, base, "tls.crt");
			key = crt ? secret_file(m, base, "tls.key") : NULL;
			if (crt && key && ca)
				cacrt = secret_file(m, base, "ca.crt");
			if (!crt || !key || (ca && !cacrt)) {
				if (errno == ENOMEM)
					return -ENOMEM;
				sl_diag_add(d, SL_SEV_ERROR, PL_E_IO, t->cred_pos,
					    "Gateway %s/%s port %u: credentialName %s: Secret %s/%s has "
					    "no %s%s", gw->ns, gw->name, sv->port, t->credential, gw->ns,
					    t->credential, !crt ? "tls.crt" : !key ? "tls.key" : "ca.crt",
					    crt && key ? " (tls.mode MUTUAL and OPTIONAL_MUTUAL read the "
					    "client CA from the Secret's ca.crt)" : "");
				rc = -EINVAL;
				continue;
			}
			t->cert_file = crt;
			t->key_file = key;
			t->ca_file = cacrt;
		}
	return rc;
}

/* Does route r serve connections to port (no match port, or this one)? */
static bool tls_route_on_port(const struct sl_route *r, uint16_t port)
{
	for (size_t i = 0; i < r->nmatches; i++)
		if (!r->matches[i].port || r->matches[i].port == port)
			return true;
	return false;
}

int pl_check_tls_routes(struct pl_ctx *c, struct sl_model *m)
{
	for (size_t g = 0; g < m->ngateways; g++) {
		const struct sl_gateway *gw = &m->gateways[g];

		for (size_t s = 0; s < gw->nservers; s++) {
			const struct sl_gateway_server *sv = &gw->servers[s];

			bool routed = false;

			if (!sl_gw_server_is_passthrough(sv))
				continue;
			for (size_t i = 0; i < gw->nvhosts; i++) {
				const struct sl_vhost *vh = &m->vhosts[gw->vhosts[i]];
				const struct pl_vs *vs = &c->vs[gw->vhosts[i]];

				for (size_t r = 0; r < vh->ntls; r++) {
					if (!tls_route_on_port(&vh->tls[r], sv->port))
						continue;
					routed = true;
					for (size_t k = 0; k < vs->tls[r].ndests; k++)
						if (!vs->tls[r].dests[k].port &&
						    pl_dest_port_ok(c, m, vs, &vs->tls[r].dests[k], gw, sv) <= 0)
							break;
				}
			}
			if (!routed)
				sl_diag_add(c->d, SL_SEV_WARNING, PL_W_PTNOROUTE, sv->pos,
					    "gateway %s/%s PASSTHROUGH server port %u has no tls route (no "
					    "bound VirtualService with a tls route for port %u): every "
					    "connection to it is closed", gw->ns, gw->name, sv->port, sv->port);
		}
	}
	return 0;
}
