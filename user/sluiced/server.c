// SPDX-License-Identifier: Apache-2.0
/*
 * The control socket: a unix stream socket, mode 0600, whose peers must be
 * uid 0 (SO_PEERCRED). Requests are served one at a time from the event
 * loop; each has a bounded read/write time so a stuck client cannot wedge
 * the daemon for long. Verbs and framing: include/sluice/ctl.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "sluiced.h"

#define CLIENT_TIMEOUT_S 10

int sluiced_server_open(struct sluiced *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->o.socket;
	mode_t old;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	{
		char dir[PATH_MAX], *slash;

		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			err = sluiced_mkdir_p(dir, 0755);
			if (err)
				return err;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A live daemon answers on the path: do not steal its socket. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		sluiced_err("control: another sluiced is serving %s", path);
		return -EADDRINUSE;
	}
	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old);
	if (!err && chmod(path, 0600) < 0)
		err = -errno;
	if (!err && listen(fd, 64) < 0)
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	d->ctl_fd = fd;
	return 0;
}

/* apply and delete: "allow-empty" and an output format, comma-separated. */
static enum view_fmt apply_fmt(const char *arg)
{
	enum view_fmt f = VIEW_TABLE;

	if (strstr(arg, "json"))
		f = VIEW_JSON;
	else if (strstr(arg, "yaml"))
		f = VIEW_YAML;
	return f;
}

static int do_delete(struct sluiced *d, struct sl_ctl_req *req, FILE *out)
{
	struct sl_ctl_part *copy;
	size_t removed = 0;
	int err;

	if (!d->model) {
		fputs("delete: no desired state\n", out);
		return SL_CTL_REFUSED;
	}
	/* delete edits a copy: the live sources stay intact if it is refused;
	 * each part keeps its owner (a policy-directory object deleted here
	 * comes back when the directory changes) */
	copy = sl_ctl_parts_dup(d->parts, d->nparts);
	if (!copy)
		return SL_CTL_ERROR;
	for (size_t i = 0; i < d->nparts; i++)
		if (!copy[i].from[0])
			snprintf(copy[i].from, sizeof(copy[i].from), "%s",
				 sluiced_source_name(d->source));
	err = sluiced_delete_docs(copy, d->nparts, req->parts, req->nparts, out, &removed);
	if (err || !removed) {
		sl_ctl_parts_free(copy, d->nparts);
		if (!err)
			fputs("delete: none of these objects is in the desired state\n", out);
		return err == -ENOMEM ? SL_CTL_ERROR : SL_CTL_REFUSED;
	}
	/* deleting every object by name is an explicit wish to empty */
	return sluiced_apply_as(d, copy, d->nparts, SRC_APPLY, true, apply_fmt(req->arg), out);
}

static int do_apply(struct sluiced *d, struct sl_ctl_req *req, FILE *out)
{
	int rc = sluiced_apply_as(d, req->parts, req->nparts, SRC_APPLY,
				  strstr(req->arg, "allow-empty") != NULL, apply_fmt(req->arg), out);

	req->parts = NULL;	/* taken by the apply */
	req->nparts = 0;
	return rc;
}

static int do_snapshot(struct sluiced *d, struct sl_ctl_req *req, FILE *out)
{
	char *text = NULL;
	size_t len = 0;

	(void)req;
	if (!d->nparts)
		return SL_CTL_OK;
	if (sl_snap_build(d->parts, d->nparts, NULL, &text, &len, NULL))
		return SL_CTL_ERROR;
	fwrite(text, 1, len, out);
	free(text);
	return SL_CTL_OK;
}

static int do_version(struct sluiced *d, struct sl_ctl_req *req, FILE *out)
{
	(void)d, (void)req;
	fprintf(out, "sluiced %s\n", SLUICE_VERSION);
	return SL_CTL_OK;
}

static int do_reset(struct sluiced *d, struct sl_ctl_req *req, FILE *out)
{
	(void)req;
	return sluiced_reset(d, out);
}

/* arg: KIND,FORMAT[,NAME[,NAMESPACE]] */
static int do_get(struct sluiced *d, struct sl_ctl_req *req, FILE *out)
{
	char arg[256], *f[4] = { arg, NULL, NULL, NULL }, *comma;
	enum view_fmt fmt = VIEW_TABLE;
	int i, rc;

	snprintf(arg, sizeof(arg), "%s", req->arg);
	for (i = 1; i < 4 && f[i - 1]; i++) {
		comma = strchr(f[i - 1], ',');
		if (comma)
			*comma++ = '\0';
		f[i] = comma;
	}
	if (view_fmt_parse(f[1], &fmt) < 0) {
		fprintf(out, "unknown output format \"%s\"\n", f[1]);
		return SL_CTL_BADREQ;
	}
	rc = view_get(d, f[0], f[2], f[3], fmt, out);
	return rc == -ENOENT ? SL_CTL_REFUSED : rc ? SL_CTL_BADREQ : SL_CTL_OK;
}

static int view_format(struct sl_ctl_req *req, FILE *out, enum view_fmt *fmt)
{
	if (view_fmt_parse(req->arg, fmt) < 0) {
		fprintf(out, "unknown output format \"%s\"\n", req->arg);
		return -1;
	}
	return 0;
}

static int do_stats(struct sluiced *d, struct sl_ctl_req *req, FILE *out)
{
	enum view_fmt fmt;
	int rc;

	if (view_format(req, out, &fmt))
		return SL_CTL_BADREQ;
	rc = view_stats(d, fmt, out);
	return rc == -ENODEV ? SL_CTL_REFUSED : rc ? SL_CTL_ERROR : SL_CTL_OK;
}

static int do_status(struct sluiced *d, struct sl_ctl_req *req, FILE *out)
{
	enum view_fmt fmt;
	bool live;

	if (view_format(req, out, &fmt))
		return SL_CTL_BADREQ;
	if (view_status(d, fmt, out, &live))
		return SL_CTL_ERROR;
	return live ? SL_CTL_OK : SL_CTL_NOT_LIVE;
}

/* The daemon's verbs, as the client's verb table names them. */
static const struct {
	const char *verb;
	int (*run)(struct sluiced *d, struct sl_ctl_req *req, FILE *out);
} verbs[] = {
	{ "apply", do_apply },	   { "delete", do_delete }, { "snapshot", do_snapshot },
	{ "version", do_version }, { "reset", do_reset },   { "get", do_get },
	{ "stats", do_stats },	   { "status", do_status },
};

static int dispatch(struct sluiced *d, struct sl_ctl_req *req, FILE *out)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(req->verb, verbs[i].verb))
			return verbs[i].run(d, req, out);
	fprintf(out, "unknown verb \"%s\"\n", req->verb);
	return SL_CTL_BADREQ;
}

static void serve_one(struct sluiced *d, int fd)
{
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT_S };
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct sl_ctl_req req;
	char *body = NULL;
	size_t blen = 0;
	FILE *out;
	int status, err;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || cred.uid != 0) {
		static const char msg[] = "permission denied: the control socket serves root only\n";
		char sink[4096];

		/* Drain the request first: closing a unix socket with unread
		 * data makes the peer's read fail with ECONNRESET, losing the
		 * answer. Bounded by the receive timeout and the first 1 MB. */
		for (size_t got = 0; got < (1u << 20);) {
			ssize_t r = read(fd, sink, sizeof(sink));

			if (r <= 0)
				break;
			got += (size_t)r;
		}
		sl_ctl_write_resp(fd, SL_CTL_DENIED, msg, sizeof(msg) - 1);
		sluiced_warn("control: refused a peer with uid %d", clen ? (int)cred.uid : -1);
		return;
	}
	err = sl_ctl_read_req(fd, &req);
	if (err) {
		sluiced_warn("control: bad request: %s", strerror(-err));
		sl_ctl_write_resp(fd, SL_CTL_BADREQ, "bad request\n", 12);
		return;
	}
	out = open_memstream(&body, &blen);
	if (!out) {
		sl_ctl_req_free(&req);
		return;
	}
	d->ctl_client_fd = fd;	/* an apply checks it before committing */
	status = dispatch(d, &req, out);
	d->ctl_client_fd = -1;
	fclose(out);
	err = sl_ctl_write_resp(fd, status, body, blen);
	if (err)
		sluiced_warn("control: %s: reply not delivered: %s", req.verb, strerror(-err));
	sl_ctl_req_free(&req);
	free(body);
}

void sluiced_server_handle(struct sluiced *d)
{
	for (;;) {
		int fd = accept4(d->ctl_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			return;
		serve_one(d, fd);
		close(fd);
	}
}
