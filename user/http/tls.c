/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS termination of Gateway HTTPS servers (tls.mode SIMPLE, MUTUAL,
 * OPTIONAL_MUTUAL) with OpenSSL.
 *
 * A snapshot's hx_tls holds, per gateway port with HTTPS servers, the
 * servers in model order, each with its certificate (struct hx_tls_cert:
 * one SSL_CTX built from its serverCertificate/privateKey files, the port's
 * versions and ciphers, and for MUTUAL/OPTIONAL_MUTUAL the client
 * certificate check: caCertificates, subjectAltNames). A connection starts
 * on the port's first server's context; the ClientHello callback moves it
 * to the server its SNI name picks before anything else of the handshake
 * is decided — session resumption included: each server has its own
 * session id context, so a session of one server never resumes on another
 * (which would skip that server's client certificate check). Contexts are
 * refcounted by OpenSSL: a context replaced after a file change lives on in
 * the connections that use it.
 *
 * Re-reading: on a handshake (a new connection, or SNI choosing a server)
 * the certificate's files are stat()ed at most once a second; when the
 * inode, size or mtime of one changed, a new context is built and, if it
 * loads, replaces the old one for the next handshakes; if not, the old one
 * stays and the error is logged once per change.
 *
 * All socket I/O stays in the worker's event loop: the wrappers below map
 * OpenSSL's WANT_READ/WANT_WRITE to EAGAIN for the edge-triggered loop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http/tls.h"

struct file_sig {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct hx_tls_port;

struct hx_tls_cert {
	pthread_mutex_t mu;		/* guards ctx and sig */
	SSL_CTX *ctx;			/* the current context */
	struct file_sig sig[3];		/* cert, key, CA as last loaded or tried */
	uint64_t next_check_ms;		/* atomic: next stat() allowed */
	int busy;			/* atomic: a worker is checking */
	struct hx_tls_port *port;
	/* the server's settings, copied: the contexts outlive the snapshot's
	 * model (a connection accepted before a reload may still be in its
	 * handshake when the old model is freed) */
	char *gw;			/* "ns/name" of the Gateway */
	char *cert_file, *key_file, *ciphers;
	char **hosts;
	size_t nhosts;
	uint16_t sport, min_version, max_version;
	enum sl_client_auth client_auth;
	char *ca_file;			/* client_auth set */
	char **sans;			/* subjectAltNames, nsans = 0: any */
	size_t nsans;
	uint64_t sid_seed;		/* this server's own id (gateway, port, hosts);
					 * build_ctx hashes the files' sig with it for
					 * the session id context */
};

struct hx_tls_port {
	uint16_t port;
	struct hx_tls_cert **certs;	/* the port's servers, model order */
	size_t n;
};

struct hx_tls {
	int refs;			/* atomic */
	struct hx_tls_port *ports;
	size_t nports;
	struct hx_tls_cert *certs;
	size_t ncerts;
};

static const unsigned char alpn_protos[] = "\x02h2\x08http/1.1";

/* h2 (h2.c) before http/1.1. A client offering ALPN with neither gets
 * no_application_protocol (RFC 7301 3.2). */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned char *o;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&o, outlen, alpn_protos, sizeof(alpn_protos) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = o;
	return SSL_TLSEXT_ERR_OK;
}

/* How well host pattern p covers name: exact > longest *.suffix > "*";
 * 0 = not at all. */
static size_t host_score(const char *p, const char *name)
{
	size_t pl = strlen(p), nl = strlen(name);

	if (!strcmp(p, "*"))
		return 1;
	if (p[0] == '*' && p[1] == '.')
		return nl >= pl && !strcasecmp(name + nl - (pl - 1), p + 1) ? 2 + pl : 0;
	return !strcasecmp(p, name) ? 100000 + pl : 0;
}

static void cert_refresh(struct hx_tls_cert *ct, uint64_t now_ms);

static SSL_CTX *cert_ctx(struct hx_tls_cert *ct)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&ct->mu);
	ctx = ct->ctx;
	SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&ct->mu);
	return ctx;
}

/* The server of port p whose hosts cover name best; NULL = none. */
static struct hx_tls_cert *server_for(const struct hx_tls_port *p, const char *name)
{
	struct hx_tls_cert *best = NULL;
	size_t best_score = 0;

	for (size_t i = 0; i < p->n; i++)
		for (size_t h = 0; h < p->certs[i]->nhosts; h++) {
			size_t sc = host_score(p->certs[i]->hosts[h], name);

			if (sc > best_score) {
				best_score = sc;
				best = p->certs[i];
			}
		}
	return best;
}

/* The host_name of a ClientHello's server_name extension (RFC 6066 3) into
 * name; false when absent or malformed. The bytes come from OpenSSL's own
 * ClientHello parse (SSL_client_hello_get0_ext). */
static bool hello_server_name(SSL *ssl, char *name, size_t cap)
{
	const unsigned char *p;
	size_t len, list, nl;

	if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) || len < 5)
		return false;
	list = (size_t)p[0] << 8 | p[1];
	if (list + 2 != len || p[2] != TLSEXT_NAMETYPE_host_name)
		return false;
	nl = (size_t)p[3] << 8 | p[4];
	if (nl == 0 || nl + 3 > list || nl >= cap || memchr(p + 5, 0, nl))
		return false;
	memcpy(name, p + 5, nl);
	name[nl] = 0;
	return true;
}

/* The ClientHello callback: move the connection to the server its SNI name
 * picks, with that server's verify mode (SSL_set_SSL_CTX keeps the SSL's
 * own), before OpenSSL looks at sessions. No SNI: the port's first server.
 * An unknown name fails the handshake (unrecognized_name). */
static int hello_cb(SSL *ssl, int *al, void *arg)
{
	struct hx_tls_port *p = arg;
	struct hx_tls_cert *ct;
	char name[256];
	SSL_CTX *ctx;

	if (!hello_server_name(ssl, name, sizeof(name)))
		return SSL_CLIENT_HELLO_SUCCESS;
	ct = server_for(p, name);
	if (!ct) {
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_CLIENT_HELLO_ERROR;
	}
	cert_refresh(ct, hx_now_ms());
	ctx = cert_ctx(ct);
	if (SSL_get_SSL_CTX(ssl) != ctx) {
		SSL_set_SSL_CTX(ssl, ctx);
		SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
	}
	SSL_CTX_free(ctx);
	return SSL_CLIENT_HELLO_SUCCESS;
}

/* The server_name extension is acknowledged when hello_cb chose by it. */
static int sni_cb(SSL *ssl, int *al, void *arg)
{
	(void)al;
	(void)arg;
	return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) ? SSL_TLSEXT_ERR_OK :
								     SSL_TLSEXT_ERR_NOACK;
}

/* Does the client certificate carry one of the server's subjectAltNames
 * (DNS, URI, email or IP address, compared exactly as Istio does)? */
static bool san_ok(const struct hx_tls_cert *ct, X509 *cert)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	bool ok = false;

	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && !ok; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char ip[INET6_ADDRSTRLEN];
		const char *v = NULL;
		size_t vl = 0;

		if (g->type == GEN_DNS || g->type == GEN_URI || g->type == GEN_EMAIL) {
			v = (const char *)ASN1_STRING_get0_data(g->d.ia5);
			vl = (size_t)ASN1_STRING_length(g->d.ia5);
		} else if (g->type == GEN_IPADD) {
			int l = ASN1_STRING_length(g->d.ip);

			if ((l == 4 || l == 16) && inet_ntop(l == 4 ? AF_INET : AF_INET6,
							     ASN1_STRING_get0_data(g->d.ip), ip,
							     sizeof(ip))) {
				v = ip;
				vl = strlen(ip);
			}
		}
		for (size_t k = 0; v && k < ct->nsans && !ok; k++)
			ok = strlen(ct->sans[k]) == vl && !memcmp(ct->sans[k], v, vl);
	}
	GENERAL_NAMES_free(gens);
	return ok;
}

/* Chain verification as OpenSSL did it, then subjectAltNames on the
 * client's own certificate. */
static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	const struct hx_tls_cert *ct = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;

	if (!ok || !ct || ct->nsans == 0 || X509_STORE_CTX_get_error_depth(xs) != 0)
		return ok;
	if (san_ok(ct, X509_STORE_CTX_get_current_cert(xs)))
		return 1;
	X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

static void ssl_err(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "%s", strerror(errno ? errno : EINVAL));
	ERR_clear_error();
}

/* A context for certificate ct from its files as they are now; NULL and
 * err filled when they do not load. */
static SSL_CTX *build_ctx(const struct hx_tls_cert *ct, char *err, size_t errlen)
{
	const struct hx_tls_cert *t = ct;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	const char *bad, *file;

	if (!ctx) {
		ssl_err(err, errlen);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
				 SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* records are read with what follows them in one read(), not a
	 * header read and a body read each (hx_tls_read reads to EAGAIN) */
	SSL_CTX_set_read_ahead(ctx, 1);
	{
		/* the server's own context, of the files as this context read
		 * them: a session made before a file changed (a CA taken out)
		 * does not resume past the new check */
		unsigned char sid[SSL_MAX_SID_CTX_LENGTH];
		uint64_t h = hx_hash64(t->sig, sizeof(t->sig), t->sid_seed);
		int l = snprintf((char *)sid, sizeof(sid), "sluice-http-%016llx",
				 (unsigned long long)h);

		SSL_CTX_set_session_id_context(ctx, sid, (unsigned int)l);
	}
	if (!SSL_CTX_set_min_proto_version(ctx, t->min_version ? t->min_version : TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, t->max_version ? t->max_version : TLS1_3_VERSION) ||
	    (t->ciphers && !SSL_CTX_set_cipher_list(ctx, t->ciphers))) {
		ssl_err(err, errlen);
		goto fail;
	}
	bad = sl_tls_ctx_load(ctx, t->cert_file, t->key_file,
			      t->client_auth != SL_CLIENT_AUTH_NONE ? t->ca_file : NULL, &file);
	if (bad) {
		size_t l = (size_t)snprintf(err, errlen, "%s %s: ", bad, file);

		ssl_err(err + (l < errlen ? l : errlen - 1), errlen - (l < errlen ? l : errlen - 1));
		goto fail;
	}
	if (t->client_auth != SL_CLIENT_AUTH_NONE)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
				   (t->client_auth == SL_CLIENT_AUTH_REQUIRE ?
				    SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), verify_cb);
	SSL_CTX_set_app_data(ctx, (void *)ct);	/* hx_tls_host_ok, verify_cb */
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
	SSL_CTX_set_client_hello_cb(ctx, hello_cb, ct->port);
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static void file_sig(const char *path, struct file_sig *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (stat(path, &st) == 0) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
		s->size = st.st_size;
		s->mtime = st.st_mtim;
	}
}

static bool sig_eq(const struct file_sig *a, const struct file_sig *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Contract: called on a handshake; at most one stat() pair per second per
 * certificate, by one worker at a time (the others go on with the current
 * context). A new context is built outside the lock; only the swap holds it. */
static void cert_refresh(struct hx_tls_cert *ct, uint64_t now_ms)
{
	struct file_sig s[3] = {0};
	char err[512];
	SSL_CTX *ctx, *old;

	if (now_ms < __atomic_load_n(&ct->next_check_ms, __ATOMIC_RELAXED) ||
	    __atomic_exchange_n(&ct->busy, 1, __ATOMIC_ACQUIRE))
		return;
	__atomic_store_n(&ct->next_check_ms, now_ms + HX_TLS_CHECK_MS, __ATOMIC_RELAXED);
	file_sig(ct->cert_file, &s[0]);
	file_sig(ct->key_file, &s[1]);
	if (ct->ca_file)
		file_sig(ct->ca_file, &s[2]);
	pthread_mutex_lock(&ct->mu);
	bool same = sig_eq(&s[0], &ct->sig[0]) && sig_eq(&s[1], &ct->sig[1]) &&
		    sig_eq(&s[2], &ct->sig[2]);
	if (!same)
		memcpy(ct->sig, s, sizeof(s));	/* one attempt (and log) per change */
	pthread_mutex_unlock(&ct->mu);
	if (same) {
		__atomic_store_n(&ct->busy, 0, __ATOMIC_RELEASE);
		return;
	}
	ctx = build_ctx(ct, err, sizeof(err));
	if (!ctx) {
		fprintf(stderr, "sluice-http: gateway %s port %u: the changed certificate does "
			"not load (%s); keeping the previous one\n", ct->gw, ct->sport, err);
	} else {
		pthread_mutex_lock(&ct->mu);
		old = ct->ctx;
		ct->ctx = ctx;
		pthread_mutex_unlock(&ct->mu);
		SSL_CTX_free(old);
		fprintf(stderr, "sluice-http: gateway %s port %u: certificate %s re-read\n",
			ct->gw, ct->sport, ct->cert_file);
	}
	__atomic_store_n(&ct->busy, 0, __ATOMIC_RELEASE);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ct's copies of what it needs of server sv of gateway gw; -ENOMEM. */
static int cert_copy(struct hx_tls_cert *ct, const struct sl_gateway *gw,
		     const struct sl_gateway_server *sv)
{
	size_t l = strlen(gw->ns ? gw->ns : "") + strlen(gw->name ? gw->name : "") + 2;

	ct->gw = malloc(l);
	if (ct->gw)
		snprintf(ct->gw, l, "%s/%s", gw->ns ? gw->ns : "", gw->name ? gw->name : "");
	ct->cert_file = dup_or_null(sv->tls.cert_file);
	ct->key_file = dup_or_null(sv->tls.key_file);
	ct->ciphers = dup_or_null(sv->tls.ciphers);
	ct->hosts = calloc(sv->nhosts ? sv->nhosts : 1, sizeof(*ct->hosts));
	if (!ct->gw || !ct->cert_file || !ct->key_file || (sv->tls.ciphers && !ct->ciphers) ||
	    !ct->hosts)
		return -ENOMEM;
	for (size_t h = 0; h < sv->nhosts; h++) {
		ct->hosts[h] = strdup(sv->hosts[h]);
		if (!ct->hosts[h])
			return -ENOMEM;
		ct->nhosts = h + 1;
	}
	ct->sport = sv->port;
	ct->min_version = sv->tls.min_version;
	ct->max_version = sv->tls.max_version;
	ct->client_auth = sv->tls.client_auth;
	if (ct->client_auth != SL_CLIENT_AUTH_NONE) {
		ct->ca_file = dup_or_null(sv->tls.ca_file);
		ct->sans = calloc(sv->tls.nsans ? sv->tls.nsans : 1, sizeof(*ct->sans));
		if (!ct->ca_file || !ct->sans)
			return -ENOMEM;
		for (size_t i = 0; i < sv->tls.nsans; i++) {
			ct->sans[i] = strdup(sv->tls.sans[i]);
			if (!ct->sans[i])
				return -ENOMEM;
			ct->nsans = i + 1;
		}
	}
	/* the session id context: this server's alone (gateway, port, hosts) */
	{
		uint64_t h = hx_hash64(ct->gw, strlen(ct->gw), sv->port);

		for (size_t i = 0; i < ct->nhosts; i++)
			h = hx_hash64(ct->hosts[i], strlen(ct->hosts[i]), h);
		ct->sid_seed = h;
	}
	return 0;
}

int hx_tls_build(const struct sl_model *m, struct hx_tls **out)
{
	struct hx_tls *t;
	size_t n = 0, k = 0;
	char err[512];

	*out = NULL;
	for (size_t g = 0; g < m->ngateways; g++)
		for (size_t s = 0; s < m->gateways[g].nservers; s++)
			n += m->gateways[g].servers[s].tls.mode == SL_TLS_SIMPLE;
	if (n == 0)
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->refs = 1;
	t->certs = calloc(n, sizeof(*t->certs));
	t->ports = calloc(n, sizeof(*t->ports));
	if (!t->certs || !t->ports) {
		hx_tls_put(t);
		return -ENOMEM;
	}
	for (size_t g = 0; g < m->ngateways; g++)
		for (size_t s = 0; s < m->gateways[g].nservers; s++) {
			const struct sl_gateway_server *sv = &m->gateways[g].servers[s];
			struct hx_tls_cert *ct;
			struct hx_tls_port *p = NULL;

			if (sv->tls.mode != SL_TLS_SIMPLE)
				continue;
			for (size_t i = 0; i < t->nports && !p; i++)
				if (t->ports[i].port == sv->port)
					p = &t->ports[i];
			if (!p) {
				p = &t->ports[t->nports++];
				p->port = sv->port;
				p->certs = calloc(n, sizeof(*p->certs));
				if (!p->certs) {
					hx_tls_put(t);
					return -ENOMEM;
				}
			}
			ct = &t->certs[k];
			pthread_mutex_init(&ct->mu, NULL);
			t->ncerts = ++k;	/* from here hx_tls_put frees it */
			ct->port = p;
			if (cert_copy(ct, &m->gateways[g], sv) < 0) {
				hx_tls_put(t);
				return -ENOMEM;
			}
			file_sig(ct->cert_file, &ct->sig[0]);
			file_sig(ct->key_file, &ct->sig[1]);
			if (ct->ca_file)
				file_sig(ct->ca_file, &ct->sig[2]);
			ct->ctx = build_ctx(ct, err, sizeof(err));
			if (!ct->ctx) {
				fprintf(stderr, "sluice-http: gateway %s port %u: %s\n", ct->gw,
					sv->port, err);
				hx_tls_put(t);
				return -EINVAL;
			}
			p->certs[p->n++] = ct;
		}
	*out = t;
	return 0;
}

void hx_tls_ref(struct hx_tls *t)
{
	__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
}

void hx_tls_put(struct hx_tls *t)
{
	if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < t->ncerts; i++) {
		struct hx_tls_cert *ct = &t->certs[i];

		SSL_CTX_free(ct->ctx);
		pthread_mutex_destroy(&ct->mu);
		for (size_t h = 0; h < ct->nhosts; h++)
			free(ct->hosts[h]);
		free(ct->hosts);
		free(ct->gw);
		free(ct->cert_file);
		free(ct->key_file);
		free(ct->ciphers);
		free(ct->ca_file);
		for (size_t k = 0; k < ct->nsans; k++)
			free(ct->sans[k]);
		free(ct->sans);
	}
	for (size_t i = 0; i < t->nports; i++)
		free(t->ports[i].certs);
	free(t->ports);
	free(t->certs);
	free(t);
}

bool hx_tls_port_has(const struct hx_tls *t, uint16_t port)
{
	for (size_t i = 0; t && i < t->nports; i++)
		if (t->ports[i].port == port)
			return true;
	return false;
}

SSL *hx_tls_accept(struct hx_tls *t, uint16_t port, int fd, uint64_t now_ms)
{
	struct hx_tls_port *p = NULL;
	SSL_CTX *ctx;
	SSL *ssl;

	for (size_t i = 0; t && i < t->nports && !p; i++)
		if (t->ports[i].port == port)
			p = &t->ports[i];
	if (!p)
		return NULL;
	cert_refresh(p->certs[0], now_ms);
	ctx = cert_ctx(p->certs[0]);
	ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);
	if (ssl && SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		ssl = NULL;
	}
	if (!ssl) {
		ERR_clear_error();
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

bool hx_tls_alpn_h2(SSL *ssl)
{
	const unsigned char *p;
	unsigned int n;

	SSL_get0_alpn_selected(ssl, &p, &n);
	return n == 2 && p[0] == 'h' && p[1] == '2';
}

bool hx_tls_host_ok(SSL *ssl, const char *host, size_t hlen)
{
	const struct hx_tls_cert *ct = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const struct hx_tls_cert *other;
	char name[256];

	if (!ct)
		return true;
	if (SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
		size_t h;

		for (h = 0; h < ct->nhosts; h++)
			if (hx_host_match(ct->hosts[h], host, hlen))
				break;
		if (h == ct->nhosts)
			return false;
	}
	/* with or without SNI, a host whose own server (the one it picks
	 * as an SNI name) is another that checks client certificates is not
	 * served here: its check did not run on this connection, and this
	 * server's hosts ("*", "*.suffix") may cover it too */
	if (hlen >= sizeof(name))
		return false;
	memcpy(name, host, hlen);
	name[hlen] = 0;
	other = server_for(ct->port, name);
	return !other || other == ct || other->client_auth == SL_CLIENT_AUTH_NONE;
}

/* The outcome of an SSL call that did not succeed: 0 and errno EAGAIN when
 * it waits for the socket (*want_write when for writing), -1 otherwise. */
static int would_block(SSL *ssl, int r, bool *want_write)
{
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_WRITE:
		if (want_write)
			*want_write = true;
		/* fall through */
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return 0;
	default:
		ERR_clear_error();
		return -1;
	}
}

int hx_tls_handshake(SSL *ssl, bool *want_write)
{
	int r = SSL_do_handshake(ssl);

	if (r == 1)
		return 1;
	return would_block(ssl, r, want_write) == 0 ? 0 : -1;
}

ssize_t hx_tls_read(SSL *ssl, void *p, size_t n, bool *want_write)
{
	size_t got = 0;
	int r = SSL_read_ex(ssl, p, n, &got);

	if (r == 1)
		return (ssize_t)got;
	if (SSL_get_error(ssl, r) == SSL_ERROR_ZERO_RETURN)
		return 0;	/* close_notify */
	if (would_block(ssl, r, want_write) == 0)
		return -1;
	errno = ECONNRESET;
	return -1;
}

ssize_t hx_tls_write(SSL *ssl, const void *p, size_t n)
{
	size_t put = 0;
	int r = SSL_write_ex(ssl, p, n, &put);

	if (r == 1)
		return (ssize_t)put;
	if (would_block(ssl, r, NULL) == 0)
		return -1;
	errno = EPIPE;
	return -1;
}

void hx_tls_free(SSL *ssl, bool handshake_done)
{
	if (handshake_done && !(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN))
		SSL_shutdown(ssl);	/* close_notify, once, if the socket takes it */
	ERR_clear_error();
	SSL_free(ssl);
}
