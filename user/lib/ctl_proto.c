// SPDX-License-Identifier: Apache-2.0
/*
 * Control protocol framing (see include/sluice/ctl.h): header lines and
 * length-prefixed blobs over a blocking stream socket. Both the daemon and
 * the CLI use these; neither side trusts the other's lengths beyond
 * SL_CTL_MAX_BODY.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

		total += p->len;
		if (check_token(p->name, LINE_MAX_LEN - 32) || total > SL_CTL_MAX_BODY)
			return -EINVAL;
		n = snprintf(line, sizeof(line), "%zu %s\n", p->len, p->name);
		err = write_full(fd, line, (size_t)n);
		if (!err)
			err = write_full(fd, p->data, p->len);
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

/* A shared text's header, just before its bytes. */
struct text_hdr {
	size_t refs;
	size_t len;
	_Alignas(16) char data[];
};

#define TEXT_HDR(t) ((struct text_hdr *)((char *)(t) - offsetof(struct text_hdr, data)))

char *sl_text_new(const char *s, size_t len)
{
	struct text_hdr *h = malloc(sizeof(*h) + len + 1);

	if (!h)
		return NULL;
	h->refs = 1;
	h->len = len;
	memcpy(h->data, s, len);
	h->data[len] = '\0';
	return h->data;
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
	return TEXT_HDR(t)->len;
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
