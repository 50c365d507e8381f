/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the Kubernetes source finds the API server and its credentials: a
 * kubeconfig's current context (server, CA, token or client certificate,
 * as files or inline data) or, in a pod, the service account's files.
 * kube.c, docs/kubernetes.md.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/yaml_map.h"
#include "sluiced/kube_int.h"

char *kube_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	FILE *m = open_memstream(&buf, &len);
	int c;

	while (m && (c = fgetc(f)) != EOF)
		fputc(c, m);
	if (m)
		fclose(m);
	fclose(f);
	while (buf && len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	return buf;
}

/* The item of list key whose "name" is name (NULL: the first). */
static yaml_node_t *named(yaml_document_t *doc, yaml_node_t *root, const char *key,
			  const char *name)
{
	yaml_node_t *n = sl_yaml_get(doc, root, key);

	if (!n || n->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *c = yaml_document_get_node(doc, *it);
		const char *nm = sl_yaml_str(doc, c, "name");

		if (!name || (nm && !strcmp(nm, name)))
			return c;
	}
	return NULL;
}

/* A kubeconfig path as kubectl reads it: relative to the kubeconfig. */
static void kc_path(char *out, size_t len, const char *kubeconfig, const char *p)
{
	const char *slash = strrchr(kubeconfig, '/');

	if (p[0] == '/' || !slash)
		snprintf(out, len, "%s", p);
	else
		snprintf(out, len, "%.*s/%s", (int)(slash - kubeconfig), kubeconfig, p);
}

/* A kubeconfig's *-data field: base64 of a PEM file. */
static int kc_blob(struct kube_blob *b, const char *b64)
{
	size_t n = strlen(b64);

	free(b->p);
	b->p = malloc(n / 4 * 3 + 4);
	if (!b->p)
		return -ENOMEM;
	int len = EVP_DecodeBlock(b->p, (const unsigned char *)b64, (int)n);
	if (len < 0) {
		free(b->p);
		b->p = NULL;
		return -EINVAL;
	}
	/* EVP_DecodeBlock counts the padding's zero bytes in */
	while (n && b64[n - 1] == '=') {
		len--;
		n--;
	}
	b->len = (size_t)len;
	return 0;
}

/* A kubeconfig's current context: its cluster's server and CA (file or
 * data), its user's token (or token file) or client certificate and key
 * (files or data). */
int kube_kubeconfig(struct sluiced_kube *k, const char *path, char *err, size_t elen)
{
	char *text = kube_read_file(path);
	yaml_document_t doc;
	yaml_node_t *root, *n;
	const char *cur, *cluster = NULL, *user = NULL, *s;
	int rc = -EINVAL;

	if (!text) {
		snprintf(err, elen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (sl_yaml_load(text, strlen(text), &doc)) {
		snprintf(err, elen, "%s: not YAML", path);
		free(text);
		return -EINVAL;
	}
	root = yaml_document_get_root_node(&doc);
	cur = sl_yaml_str(&doc, root, "current-context");
	if ((n = named(&doc, root, "contexts", cur))) {
		yaml_node_t *ctx = sl_yaml_get(&doc, n, "context");
		cluster = sl_yaml_str(&doc, ctx, "cluster");
		user = sl_yaml_str(&doc, ctx, "user");
	}
	if ((n = sl_yaml_get(&doc, named(&doc, root, "clusters", cluster), "cluster"))) {
		if ((s = sl_yaml_str(&doc, n, "server")))
			snprintf(k->servers, sizeof(k->servers), "%s", s);
		if ((s = sl_yaml_str(&doc, n, "certificate-authority")))
			kc_path(k->ca, sizeof(k->ca), path, s);
		if ((s = sl_yaml_str(&doc, n, "certificate-authority-data")) && kc_blob(&k->ca_blob, s)) {
			snprintf(err, elen, "%s: certificate-authority-data is not base64", path);
			goto out;
		}
	}
	if ((n = sl_yaml_get(&doc, named(&doc, root, "users", user), "user"))) {
		if (sl_yaml_get(&doc, n, "exec") || sl_yaml_get(&doc, n, "auth-provider")) {
			snprintf(err, elen, "%s: user %s: exec and auth-provider credential plugins are "
				 "not supported; give a token, tokenFile or a client certificate", path,
				 user ? user : "");
			goto out;
		}
		if ((s = sl_yaml_str(&doc, n, "token")))
			snprintf(k->token, sizeof(k->token), "%s", s);
		else if ((s = sl_yaml_str(&doc, n, "tokenFile")))
			kc_path(k->token_file, sizeof(k->token_file), path, s);
		if ((s = sl_yaml_str(&doc, n, "client-certificate")))
			kc_path(k->cert, sizeof(k->cert), path, s);
		if ((s = sl_yaml_str(&doc, n, "client-key")))
			kc_path(k->key, sizeof(k->key), path, s);
		if (((s = sl_yaml_str(&doc, n, "client-certificate-data")) && kc_blob(&k->cert_blob, s)) ||
		    ((s = sl_yaml_str(&doc, n, "client-key-data")) && kc_blob(&k->key_blob, s))) {
			snprintf(err, elen, "%s: client-certificate-data/client-key-data is not base64",
				 path);
			goto out;
		}
	}
	bool cert = k->cert[0] || k->cert_blob.p, key = k->key[0] || k->key_blob.p;

	if (!k->servers[0])
		snprintf(err, elen, "%s: no cluster server for the current context", path);
	else if (cert != key)
		snprintf(err, elen, "%s: a client certificate needs its key (client-certificate and "
			 "client-key, or their -data forms)", path);
	else if (!k->token[0] && !k->token_file[0] && !cert)
		snprintf(err, elen, "%s: no credentials for the current context: give the user a "
			 "token, tokenFile or client-certificate and client-key", path);
	else
		rc = 0;
out:
	yaml_document_delete(&doc);
	free(text);
	return rc;
}

/* In a pod: the service account's files and KUBERNETES_SERVICE_HOST/PORT. */
int kube_in_cluster(struct sluiced_kube *k, char *err, size_t elen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");

	if (!k->servers[0]) {
		if (!host || !port) {
			snprintf(err, elen, "not in a pod (KUBERNETES_SERVICE_HOST unset): give "
				 "--kube-apiserver URL or --kubeconfig PATH");
			return -EINVAL;
		}
		snprintf(k->servers, sizeof(k->servers), strchr(host, ':') ? "https://[%s]:%s"
									   : "https://%s:%s", host, port);
	}
	snprintf(k->ca, sizeof(k->ca), KUBE_SA_DIR "/ca.crt");
	snprintf(k->token_file, sizeof(k->token_file), KUBE_SA_DIR "/token");
	return 0;
}
