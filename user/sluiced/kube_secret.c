/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes source's Secrets (core v1, type kubernetes.io/tls only,
 * by field selector): not policy objects, but the certificates of Gateway
 * servers that name them in tls.credentialName. Each Secret ns/name is
 * written to <state-dir>/credentials/ns/name/ (directories 0700): its
 * data's tls.crt, tls.key and ca.crt, base64-decoded (OpenSSL's decoder),
 * each file 0600 and written to a temporary name then renamed, so
 * sluice-http's re-read (user/http/tls.c, cert_refresh) sees whole files.
 * The resource's thread (kube_watch.c) keeps of a Secret only a SHA-256 of
 * those three values, to see a change; the apply binds a server to the
 * files (sl_model_bind_credentials) with the same directory sluice-http is
 * given (--credentials-dir).
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "sluiced/kube_int.h"

/* snprintf into buf; false when it did not fit (a path too long). */
__attribute__((format(printf, 3, 4)))
static bool fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(buf, len, f, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < len;
}

static const char *const secret_keys[] = { "tls.crt", "tls.key", "ca.crt" };
#define NKEYS (sizeof(secret_keys) / sizeof(secret_keys[0]))

/* A name usable as one path component: what Kubernetes allows of
 * namespaces and Secret names (DNS labels and subdomains), no "/", not
 * "." or "..". */
static bool safe_name(const char *s, size_t len)
{
	if (!len || len > 253 || s[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

/* The directory of Secret key ("ns/name") in buf; false when the key is
 * not two safe names. */
static bool secret_dir(const struct sluiced_kube *k, const char *key, char *buf, size_t len)
{
	const char *slash = strchr(key, '/');

	if (!slash || !safe_name(key, (size_t)(slash - key)) ||
	    !safe_name(slash + 1, strlen(slash + 1)))
		return false;
	return fmt(buf, len, "%s/%s", k->cred_dir, key);
}

/* Remove directory path and the files in it (one level: what
 * secret_write makes). */
static bool is_dir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void rm_dir(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *e;
	char p[PATH_MAX];

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!fmt(p, sizeof(p), "%s/%s", path, e->d_name))
			continue;
		/* DT_UNKNOWN on file systems that do not fill d_type (XFS
		 * with ftype=0): ask, or a key would stay on disk */
		if (e->d_type == DT_DIR || (e->d_type == DT_UNKNOWN && is_dir(p)))
			rm_dir(p);
		else
			unlink(p);
	}
	closedir(dir);
	rmdir(path);
}

int kube_secret_init(struct sluiced_kube *k, char *err, size_t elen)
{
	/* what a previous run wrote may be stale: the first list writes
	 * what is there now */
	rm_dir(k->cred_dir);
	if (mkdir(k->cred_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, elen, "%s: %s", k->cred_dir, strerror(errno));
		return -errno;
	}
	chmod(k->cred_dir, 0700);
	return 0;
}

/* base64 text -> bytes (OpenSSL's decoder); NULL when it is not base64. */
static unsigned char *b64_decode(const char *in, size_t inlen, size_t *outlen)
{
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	unsigned char *out = malloc(inlen / 4 * 3 + 4);
	int n = 0, f = 0;

	if (!ctx || !out || inlen > INT32_MAX) {
		EVP_ENCODE_CTX_free(ctx);
		free(out);
		return NULL;
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, out, &n, (const unsigned char *)in, (int)inlen) < 0 ||
	    EVP_DecodeFinal(ctx, out + n, &f) != 1) {
		EVP_ENCODE_CTX_free(ctx);
		free(out);
		return NULL;
	}
	EVP_ENCODE_CTX_free(ctx);
	*outlen = (size_t)n + (size_t)f;
	return out;
}

/* Write len bytes to dir/name through a temporary file renamed over it. */
static int write_file(const char *dir, const char *name, const unsigned char *p, size_t len)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	int fd, rc = 0;

	if (!fmt(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) ||
	    !fmt(path, sizeof(path), "%s/%s", dir, name))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (len && !rc) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno != EINTR)
			rc = -errno;
		else if (w > 0) {
			p += w;
			len -= (size_t)w;
		}
	}
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

/* The Secret's three values, written to its directory (a value absent
 * from the Secret removes its file). 0, or -errno with why in err. */
static int secret_write(const struct sluiced_kube *k, const char *key, const char *const v[NKEYS],
			char *err, size_t elen)
{
	char dir[PATH_MAX];
	int rc = 0;

	if (!secret_dir(k, key, dir, sizeof(dir))) {
		snprintf(err, elen, "Secret %s: not a namespace/name usable as a path", key);
		return -EINVAL;
	}
	rc = sluiced_mkdir_p(dir, 0700);
	if (rc) {
		fmt(err, elen, "Secret %s: %s: %s", key, dir, strerror(-rc));
		return rc;
	}
	/* ca.crt and the key before the certificate: sluice-http re-reads when
	 * any of them changes, and the certificate last is the usual sign */
	for (size_t i = NKEYS; i-- > 0 && !rc;) {
		size_t len = 0;
		unsigned char *p;
		char path[PATH_MAX];

		if (!v[i]) {
			if (fmt(path, sizeof(path), "%s/%s", dir, secret_keys[i]))
				unlink(path);
			continue;
		}
		p = b64_decode(v[i], strlen(v[i]), &len);
		if (!p) {
			snprintf(err, elen, "Secret %s: data.%s is not base64", key, secret_keys[i]);
			return -EINVAL;
		}
		rc = write_file(dir, secret_keys[i], p, len);
		OPENSSL_cleanse(p, len);	/* a private key: not left in freed memory */
		free(p);
		if (rc)
			fmt(err, elen, "Secret %s: %s/%s: %s", key, dir, secret_keys[i],
			    strerror(-rc));
	}
	return rc;
}

char *kube_secret_put(struct kube_res *r, json_object *o, char *key, size_t klen, char *rv)
{
	json_object *md = NULL, *data = NULL, *x;
	const char *v[NKEYS] = { NULL };
	unsigned char sha[32];
	unsigned int shalen = 0;
	char err[600], *out;
	EVP_MD_CTX *mc;

	rv[0] = '\0';
	json_object_object_get_ex(o, "metadata", &md);
	if (md && json_object_object_get_ex(md, "resourceVersion", &x))
		snprintf(rv, KUBE_RV_LEN, "%s", json_object_get_string(x));
	kube_obj_key(md, key, klen);
	if (json_object_object_get_ex(o, "data", &data) && json_object_is_type(data, json_type_object))
		for (size_t i = 0; i < NKEYS; i++)
			if (json_object_object_get_ex(data, secret_keys[i], &x) &&
			    json_object_is_type(x, json_type_string))
				v[i] = json_object_get_string(x);
	/* what is held: the values' digest, enough to see a change */
	mc = EVP_MD_CTX_new();
	if (!mc || EVP_DigestInit_ex(mc, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(mc);
		return NULL;
	}
	for (size_t i = 0; i < NKEYS; i++) {
		EVP_DigestUpdate(mc, secret_keys[i], strlen(secret_keys[i]) + 1);
		if (v[i])
			EVP_DigestUpdate(mc, v[i], strlen(v[i]) + 1);
	}
	EVP_DigestFinal_ex(mc, sha, &shalen);
	EVP_MD_CTX_free(mc);
	out = malloc(7 + 2 * sizeof(sha) + 1);
	if (!out)
		return NULL;
	strcpy(out, "sha256:");
	for (size_t i = 0; i < sizeof(sha); i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", sha[i]);
	if (secret_write(r->k, key, v, err, sizeof(err)) < 0) {
		/* held (so a change is seen), not written: a Gateway naming it
		 * is refused at apply for the missing file */
		sluiced_warn("kubernetes: %s", err);
	}
	return out;
}

void kube_secret_drop(struct kube_res *r, const char *key)
{
	char dir[PATH_MAX];

	if (secret_dir(r->k, key, dir, sizeof(dir)))
		rm_dir(dir);
}
