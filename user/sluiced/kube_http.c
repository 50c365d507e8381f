/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes source's requests to the API server with libcurl: one
 * handle per resource thread, reused so a paged list or the next watch
 * rides the same connection and TLS session; bearer token (re-read: it
 * rotates) or client certificate, the cluster CA; the next --kube-apiserver
 * URL after a connection failure; a stop of the source aborts a transfer.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluiced/kube_int.h"

size_t kube_on_body(char *data, size_t sz, size_t nm, void *arg)
{
	struct kube_body *b = arg;
	size_t n = sz * nm;

	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct kube_res *r = arg;

	(void)a, (void)b, (void)c, (void)d;
	return __atomic_load_n(&r->k->stop, __ATOMIC_RELAXED);	/* nonzero aborts */
}

/* After a connection failure to `failed`: the next URL of --kube-apiserver
 * (round robin), unless another thread moved on already. Under k->mu. */
static void next_server(struct sluiced_kube *k, const char *failed)
{
	const char *p = strstr(k->servers, failed), *next;
	size_t l;

	if (strcmp(k->server, failed) || !p)
		return;
	next = strchr(p, ',');
	next = next ? next + 1 : k->servers;
	l = strcspn(next, ",");
	snprintf(k->server, sizeof(k->server), "%.*s", (int)l, next);
}

static void blob_opt(CURL *c, CURLoption opt, const struct kube_blob *b)
{
	struct curl_blob cb = { .data = b->p, .len = b->len, .flags = CURL_BLOB_COPY };

	curl_easy_setopt(c, opt, &cb);
}

long kube_http_get(struct kube_res *r, const char *path_query,
		   size_t (*cb)(char *, size_t, size_t, void *), void *arg, bool stream)
{
	struct sluiced_kube *k = r->k;
	char url[1024], server[512], auth[4200 + 32], *tok = NULL;
	struct curl_slist *h = NULL;
	CURL *c;
	long code = -1;
	CURLcode rc;

	/* one handle per resource, reset between requests: its connection
	 * (and TLS session) is reused, so a paged list is one handshake */
	if (!r->curl && !(r->curl = curl_easy_init()))
		return -1;
	c = r->curl;
	curl_easy_reset(c);
	if (k->token_file[0])
		tok = kube_read_file(k->token_file);	/* re-read: projected tokens rotate */
	if (tok || k->token[0])
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok ? tok : k->token);
	else
		auth[0] = '\0';	/* a client certificate authenticates */
	free(tok);
	pthread_mutex_lock(&k->mu);
	snprintf(server, sizeof(server), "%s", k->server);
	pthread_mutex_unlock(&k->mu);
	snprintf(url, sizeof(url), "%s%s", server, path_query);
	if (auth[0])
		h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Accept: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	if (k->ca[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, k->ca);
	if (k->ca_blob.p)
		blob_opt(c, CURLOPT_CAINFO_BLOB, &k->ca_blob);
	if (k->cert[0])
		curl_easy_setopt(c, CURLOPT_SSLCERT, k->cert);
	if (k->key[0])
		curl_easy_setopt(c, CURLOPT_SSLKEY, k->key);
	if (k->cert_blob.p)
		blob_opt(c, CURLOPT_SSLCERT_BLOB, &k->cert_blob);
	if (k->key_blob.p)
		blob_opt(c, CURLOPT_SSLKEY_BLOB, &k->key_blob);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, arg);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
	if (stream) {
		/* a watch: bookmarks or events at least every KUBE_WATCH_S */
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)KUBE_WATCH_S * 2);
	} else {
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK || (stream && rc == CURLE_PARTIAL_FILE)) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	} else {
		pthread_mutex_lock(&k->mu);
		bool cert = k->cert[0] || k->cert_blob.p;

		/* under TLS 1.3 a refused client certificate shows as the peer
		 * closing after the handshake: say what it likely is */
		snprintf(r->err, sizeof(r->err), "%s: %s%s", url, curl_easy_strerror(rc),
			 cert && (rc == CURLE_RECV_ERROR || rc == CURLE_SSL_CONNECT_ERROR ||
				  rc == CURLE_SSL_CERTPROBLEM)
				 ? " (did the server refuse the client certificate?)" : "");
		if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT ||
		    rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_SSL_CONNECT_ERROR)
			next_server(k, server);
		pthread_mutex_unlock(&k->mu);
	}
	curl_slist_free_all(h);
	return code;
}
