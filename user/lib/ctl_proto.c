// SPDX-License-Identifier: Apache-2.0
/*
 * Control protocol framing (see include/sluice/ctl.h): header lines and
 * length-prefixed blobs over a blocking stream socket. Both the daemon and
 * the CLI use these; neither side trusts the other's lengths beyond
 * SL_CTL_MAX_BODY.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "sluice/ctl.h"

#define LINE_MAX_LEN 1024

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t r = read(fd, p, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		if (r == 0)
			return -EPIPE;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Read one '\n'-terminated line (byte at a time: header lines are short and
 * must not swallow the blob after them). The newline is replaced by NUL. */
static int read_line(int fd, char *line, size_t cap)
{
	size_t n = 0;
	int err;

	for (;;) {
		if (n + 1 >= cap)
			return -EPROTO;
		err = read_full(fd, line + n, 1);
		if (err)
			return err;
		if (line[n] == '\n') {
			line[n] = '\0';
			return 0;
		}
		n++;
	}
}

static int read_blob(int fd, size_t len, char **out)
{
	char *b;
	int err;

	if (len > SL_CTL_MAX_BODY)
		return -EMSGSIZE;
	b = malloc(len + 1);
	if (!b)
		return -ENOMEM;
	err = read_full(fd, b, len);
	if (err) {
		free(b);
		return err;
	}
	b[len] = '\0';
	*out = b;
	return 0;
}

/* A name or arg goes on a header line: no newline, no empty string. */
static int check_token(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n >= max || strchr(s, '\n'))
		return -EINVAL;
	return 0;
}

int sl_ctl_write_req(int fd, const struct sl_ctl_req *req)
{
	const char *arg = req->arg[0] ? req->arg : "-";
	char line[LINE_MAX_LEN];
	size_t i, total = 0;
	int err, n;

	if (check_token(req->verb, sizeof(req->verb)) || strchr(req->verb, ' ') ||
	    check_token(arg, sizeof(req->arg)) || req->nparts > SL_CTL_MAX_PARTS)
		return -EINVAL;
	n = snprintf(line, sizeof(line), SL_CTL_MAGIC " %s %zu %s\n", req->verb, req->nparts, arg);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -EINVAL;
	err = write_full(fd, line, (size_t)n);
	for (i = 0; !err && i < req->nparts; i++) {
		const struct sl_ctl_part *p = &req->parts[i];
		size_t len = p->shared ? sl_text_len(p->data) : p->len;

		total += len;
		if (check_token(p->name, LINE_MAX_LEN - 32) || total > SL_CTL_MAX_BODY)
			return -EINVAL;
		n = snprintf(line, sizeof(line), "%zu %s\n", len, p->name);
		err = write_full(fd, line, (size_t)n);
		if (!err && p->shared) {	/* a shared text: its text */
			char *plain = sl_text_dup(p->data);

			err = plain ? write_full(fd, plain, len) : -errno;
			free(plain);
		} else if (!err) {
			err = write_full(fd, p->data, p->len);
		}
	}
	return err;
}

int sl_ctl_read_req(int fd, struct sl_ctl_req *req)
{
	char line[LINE_MAX_LEN], verb[32], arg[256];
	size_t i, nparts, total = 0;
	int err;

	memset(req, 0, sizeof(*req));
	err = read_line(fd, line, sizeof(line));
	if (err)
		return err;
	if (sscanf(line, SL_CTL_MAGIC " %31s %zu %255s", verb, &nparts, arg) != 3 ||
	    nparts > SL_CTL_MAX_PARTS)
		return -EPROTO;
	snprintf(req->verb, sizeof(req->verb), "%s", verb);
	if (strcmp(arg, "-"))
		snprintf(req->arg, sizeof(req->arg), "%s", arg);
	if (nparts == 0)
		return 0;
	req->parts = calloc(nparts, sizeof(*req->parts));
	if (!req->parts)
		return -ENOMEM;
	for (i = 0; i < nparts; i++) {
		struct sl_ctl_part *p = &req->parts[i];
		char *sp, *end;
		unsigned long long len;

		err = read_line(fd, line, sizeof(line));
		if (err)
			goto cleanup;
		errno = 0;
		len = strtoull(line, &end, 10);
		sp = end;
		if (errno || sp == line || *sp != ' ' || !sp[1] || len > SL_CTL_MAX_BODY - total) {
			err = -EPROTO;
			goto cleanup;
		}
		total += len;
		p->name = strdup(sp + 1);
		if (!p->name) {
			err = -ENOMEM;
			goto cleanup;
		}
		req->nparts = i + 1;
		p->len = len;
		err = read_blob(fd, len, &p->data);
		if (err)
			goto cleanup;
	}
	return 0;
cleanup:
	sl_ctl_req_free(req);
	return err;
}

int sl_ctl_write_resp(int fd, int status, const char *body, size_t len)
{
	char line[64];
	int n, err;

	n = snprintf(line, sizeof(line), SL_CTL_MAGIC " %d %zu\n", status, len);
	err = write_full(fd, line, (size_t)n);
	if (!err && len)
		err = write_full(fd, body, len);
	return err;
}

int sl_ctl_read_resp(int fd, struct sl_ctl_resp *resp)
{
	char line[LINE_MAX_LEN];
	size_t len;
	int status, err;

	memset(resp, 0, sizeof(*resp));
	err = read_line(fd, line, sizeof(line));
	if (err)
		return err;
	if (sscanf(line, SL_CTL_MAGIC " %d %zu", &status, &len) != 2)
		return -EPROTO;
	err = read_blob(fd, len, &resp->body);
	if (err)
		return err;
	resp->status = status;
	resp->len = len;
	return 0;
}

/* A shared text's header, just before its bytes: the text held plain
 * (zlen 0; NUL-terminated) or as raw deflate of it with dict preset (the
 * same dictionary inflates it). */
struct text_hdr {
	uint32_t refs;
	uint32_t len;			/* the plain text's bytes */
	uint32_t zlen;			/* the deflated bytes held; 0: held plain */
	uint8_t dict;			/* text_dicts[dict - 1]; 0: none */
	char data[];
};

#define TEXT_HDR(t) ((struct text_hdr *)((char *)(t) - offsetof(struct text_hdr, data)))
#define TEXT_CHDR(t) ((const struct text_hdr *)((const char *)(t) - offsetof(struct text_hdr, data)))

/* Raw deflate with an 8 KB window (a dictionary and the texts held are
 * small: an object of a few hundred bytes to a few KB) and a small hash
 * (deflateReset clears it for every text: memLevel 6 is 16 KB). */
#define TEXT_WBITS	13
#define TEXT_MEMLEVEL	6
#define TEXT_LEVEL	6
#define TEXT_Z_MIN	24	/* shorter texts are held plain */
#define TEXT_BUF_KEEP	(64u << 10)	/* a thread's scratch kept up to this */

/* One thread's deflate and inflate streams, made at its first use and
 * reset for each text (an init per text costs more than the text), freed
 * when the thread ends. */
struct text_z {
	z_stream d, i;
	bool d_ok, i_ok;
	unsigned char *buf;		/* deflate's output before it is sized */
	size_t cap;
};

/* The dictionaries texts were deflated with, by number (a header holds
 * one byte, not a pointer: 72,000 objects' texts are the point). Entries
 * are only added (under text_dict_mu), never changed. */
#define TEXT_DICTS	64
static const struct sl_text_dict *text_dicts[TEXT_DICTS];
static unsigned text_ndicts;
static pthread_mutex_t text_dict_mu = PTHREAD_MUTEX_INITIALIZER;

/* dict's number (1..TEXT_DICTS), added when new; 0 when the table is full. */
static uint8_t text_dict_id(const struct sl_text_dict *dict)
{
	unsigned n = __atomic_load_n(&text_ndicts, __ATOMIC_ACQUIRE), i;

	for (i = 0; i < n; i++)
		if (text_dicts[i] == dict)
			return (uint8_t)(i + 1);
	pthread_mutex_lock(&text_dict_mu);
	for (i = 0; i < text_ndicts && text_dicts[i] != dict; i++)
		;
	if (i == text_ndicts && i < TEXT_DICTS) {
		text_dicts[i] = dict;
		__atomic_store_n(&text_ndicts, i + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&text_dict_mu);
	return i < TEXT_DICTS ? (uint8_t)(i + 1) : 0;
}

static const struct sl_text_dict *text_dict(const struct text_hdr *h)
{
	return h->dict ? text_dicts[h->dict - 1] : NULL;
}

static pthread_key_t text_key;
static pthread_once_t text_once = PTHREAD_ONCE_INIT;
static bool text_key_ok;

static void text_z_free(void *arg)
{
	struct text_z *z = arg;

	if (!z)
		return;
	if (z->d_ok)
		deflateEnd(&z->d);
	if (z->i_ok)
		inflateEnd(&z->i);
	free(z->buf);
	free(z);
}

static void text_key_make(void)
{
	text_key_ok = !pthread_key_create(&text_key, text_z_free);
}

/* The calling thread's streams; NULL when there is no memory. */
static struct text_z *text_z(void)
{
	struct text_z *z;

	pthread_once(&text_once, text_key_make);
	if (!text_key_ok)
		return NULL;
	if ((z = pthread_getspecific(text_key)))
		return z;
	if (!(z = calloc(1, sizeof(*z))))
		return NULL;
	if (pthread_setspecific(text_key, z)) {
		free(z);
		return NULL;
	}
	return z;
}

/* The deflated bytes of s[0..len) into z->buf when shorter than s: their
 * length, or 0 (held plain: it does not pay, or no memory). */
static size_t text_deflate(struct text_z *z, const char *s, size_t len,
			   const struct sl_text_dict *dict)
{
	if (!z->d_ok) {
		if (deflateInit2(&z->d, TEXT_LEVEL, Z_DEFLATED, -TEXT_WBITS, TEXT_MEMLEVEL,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return 0;
		z->d_ok = true;
	} else if (deflateReset(&z->d) != Z_OK) {
		return 0;
	}
	if (z->cap < len) {
		unsigned char *b = realloc(z->buf, len);

		if (!b)
			return 0;
		z->buf = b;
		z->cap = len;
	}
	if (dict && deflateSetDictionary(&z->d, (const Bytef *)dict->s, (uInt)dict->len) != Z_OK)
		return 0;
	z->d.next_in = (Bytef *)s;
	z->d.avail_in = (uInt)len;
	z->d.next_out = z->buf;
	z->d.avail_out = (uInt)(len - 1);	/* no shorter: held plain */
	if (deflate(&z->d, Z_FINISH) != Z_STREAM_END)
		return 0;
	return len - 1 - z->d.avail_out;
}

char *sl_text_new_dict(const char *s, size_t len, const struct sl_text_dict *dict)
{
	struct text_z *z = len >= TEXT_Z_MIN ? text_z() : NULL;
	uint8_t id = dict ? text_dict_id(dict) : 0;
	size_t zlen = 0;
	struct text_hdr *h;

	if (len >= UINT32_MAX)
		return NULL;
	if (z)
		zlen = text_deflate(z, s, len, id ? dict : NULL);
	h = malloc(offsetof(struct text_hdr, data) + (zlen ? zlen : len + 1));
	if (h) {
		h->refs = 1;
		h->len = (uint32_t)len;
		h->zlen = (uint32_t)zlen;
		h->dict = zlen ? id : 0;
		if (zlen) {
			memcpy(h->data, z->buf, zlen);
		} else {
			memcpy(h->data, s, len);
			h->data[len] = '\0';
		}
	}
	if (z && z->cap > TEXT_BUF_KEEP) {
		free(z->buf);
		z->buf = NULL;
		z->cap = 0;
	}
	return h ? h->data : NULL;
}

char *sl_text_new(const char *s, size_t len)
{
	return sl_text_new_dict(s, len, NULL);
}

char *sl_text_ref(char *t)
{
	if (t)
		__atomic_add_fetch(&TEXT_HDR(t)->refs, 1, __ATOMIC_RELAXED);
	return t;
}

void sl_text_unref(char *t)
{
	if (t && __atomic_sub_fetch(&TEXT_HDR(t)->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(TEXT_HDR(t));
}

size_t sl_text_len(const char *t)
{
	return TEXT_CHDR(t)->len;
}

size_t sl_text_held(const char *t)
{
	const struct text_hdr *h = TEXT_CHDR(t);

	return h->zlen ? h->zlen : (size_t)h->len + 1;
}

/* Inflate h's bytes into buf (h->len bytes) with stream zs. */
static int text_inflate(z_stream *zs, const struct text_hdr *h, char *buf)
{
	const struct sl_text_dict *dict = text_dict(h);

	if (dict && inflateSetDictionary(zs, (const Bytef *)dict->s, (uInt)dict->len) != Z_OK)
		return -EIO;
	zs->next_in = (Bytef *)h->data;
	zs->avail_in = h->zlen;
	zs->next_out = (Bytef *)buf;
	zs->avail_out = h->len;
	if (inflate(zs, Z_FINISH) != Z_STREAM_END || zs->avail_out || zs->avail_in)
		return -EIO;
	return 0;
}

int sl_text_read(const char *t, char *buf)
{
	const struct text_hdr *h = TEXT_CHDR(t);
	struct text_z *z;
	int rc;

	if (!h->zlen) {
		memcpy(buf, h->data, (size_t)h->len + 1);
		return 0;
	}
	buf[h->len] = '\0';
	if ((z = text_z())) {
		if (!z->i_ok) {
			if (inflateInit2(&z->i, -TEXT_WBITS) != Z_OK)
				return -ENOMEM;
			z->i_ok = true;
		} else if (inflateReset(&z->i) != Z_OK) {
			return -EIO;
		}
		return text_inflate(&z->i, h, buf);
	} else {
		z_stream zs = { 0 };	/* no thread's streams: one for this text */

		if (inflateInit2(&zs, -TEXT_WBITS) != Z_OK)
			return -ENOMEM;
		rc = text_inflate(&zs, h, buf);
		inflateEnd(&zs);
		return rc;
	}
}

char *sl_text_dup(const char *t)
{
	char *s = malloc((size_t)sl_text_len(t) + 1);
	int rc;

	if (s && (rc = sl_text_read(t, s))) {
		free(s);
		errno = -rc;
		return NULL;
	}
	return s;
}

bool sl_text_same(const char *a, const char *b)
{
	const struct text_hdr *x = TEXT_CHDR(a), *y = TEXT_CHDR(b);

	/* deflate is deterministic: the same text with the same dictionary
	 * is held as the same bytes */
	return a == b || (x->len == y->len && x->zlen == y->zlen && x->dict == y->dict &&
			  !memcmp(a, b, x->zlen ? x->zlen : x->len));
}

void sl_ctl_part_drop_data(struct sl_ctl_part *p)
{
	if (p->shared)
		sl_text_unref(p->data);
	else
		free(p->data);
	p->data = NULL;
	p->len = 0;
	p->shared = false;
}

void sl_ctl_parts_free(struct sl_ctl_part *parts, size_t n)
{
	size_t i;

	if (!parts)
		return;
	for (i = 0; i < n; i++) {
		free(parts[i].name);
		sl_ctl_part_drop_data(&parts[i]);
	}
	free(parts);
}

struct sl_ctl_part *sl_ctl_parts_dup(const struct sl_ctl_part *p, size_t n)
{
	struct sl_ctl_part *c = calloc(n ? n : 1, sizeof(*c));
	size_t i;

	if (!c)
		return NULL;
	for (i = 0; i < n; i++) {
		c[i].name = strdup(p[i].name);
		c[i].shared = p[i].shared;
		c[i].data = p[i].shared ? sl_text_ref(p[i].data) : malloc(p[i].len + 1);
		if (!c[i].name || !c[i].data) {
			sl_ctl_parts_free(c, i + 1);
			return NULL;
		}
		if (!c[i].shared) {
			memcpy(c[i].data, p[i].data, p[i].len);
			c[i].data[p[i].len] = '\0';
		}
		c[i].len = p[i].len;
		memcpy(c[i].from, p[i].from, sizeof(c[i].from));
	}
	return c;
}

void sl_ctl_req_free(struct sl_ctl_req *req)
{
	sl_ctl_parts_free(req->parts, req->nparts);
	req->parts = NULL;
	req->nparts = 0;
}

void sl_ctl_resp_free(struct sl_ctl_resp *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}
