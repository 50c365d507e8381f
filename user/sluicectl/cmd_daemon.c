// SPDX-License-Identifier: Apache-2.0
/*
 * sluicectl verbs that talk to sluiced over the control socket
 * (include/sluice/ctl.h). The daemon renders views; the CLI sends, prints
 * and maps the answer to the exit codes of cmds.h: 0 ok, 1 invalid or
 * refused, 2 usage, 3 daemon unreachable, 4 permission denied.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sluice/ctl.h"
#include "sluicectl/cmds.h"

static const char *fmt_name(enum ctl_output o)
{
	return o == CTL_OUT_JSON ? "json" : o == CTL_OUT_YAML ? "yaml" : "table";
}

static const char *sock_of(const struct ctl_opts *o)
{
	return o->socket ? o->socket : SL_CTL_DEFAULT_SOCKET;
}

int ctl_exchange(const struct ctl_opts *o, const char *verb, const struct sl_ctl_req *req,
		 struct sl_ctl_resp *resp)
{
	int err = sl_ctl_call(sock_of(o), req, resp);

	if (!err)
		return CTL_OK;
	fprintf(stderr, "sluicectl: %s: cannot reach sluiced at %s: %s%s\n", verb, sock_of(o),
		strerror(-err), ctl_exit_of_call(err) == CTL_DENIED ?
		" (the control socket serves root only)" : "");
	return ctl_exit_of_call(err);
}

int ctl_fetch(const struct ctl_opts *o, const char *who, const char *verb, const char *arg,
	      struct sl_ctl_resp *resp)
{
	struct sl_ctl_req req = { 0 };

	snprintf(req.verb, sizeof(req.verb), "%s", verb);
	snprintf(req.arg, sizeof(req.arg), "%s", arg);
	return ctl_exchange(o, who, &req, resp);
}

/* One exchange; prints the body (stdout on success, stderr otherwise) and
 * returns the exit code. */
static int call(const struct ctl_opts *o, const char *verb, struct sl_ctl_req *req)
{
	struct sl_ctl_resp resp;
	int rc = ctl_exchange(o, verb, req, &resp);

	if (rc)
		return rc;
	/* -q: errors only; a status that is not live is still the answer */
	if (resp.len && !(o->quiet && resp.status == SL_CTL_OK))
		fwrite(resp.body, 1, resp.len,
		       resp.status == SL_CTL_OK || resp.status == SL_CTL_NOT_LIVE ? stdout : stderr);
	sl_ctl_resp_free(&resp);
	switch (resp.status) {
	case SL_CTL_OK:
		return CTL_OK;
	case SL_CTL_DENIED:
		return CTL_DENIED;
	case SL_CTL_NOT_LIVE:
		return CTL_INVALID;
	case SL_CTL_BADREQ:
		return CTL_USAGE;
	default:
		return CTL_INVALID;
	}
}

static int simple(const struct ctl_opts *o, const char *verb, const char *arg)
{
	struct sl_ctl_req req = { 0 };

	snprintf(req.verb, sizeof(req.verb), "%s", verb);
	if (arg)
		snprintf(req.arg, sizeof(req.arg), "%s", arg);
	return call(o, verb, &req);
}

static int with_files(const struct ctl_opts *o, const char *verb)
{
	struct sl_ctl_req req = { 0 };
	char err[512] = "";
	int rc;

	if (!o->nfiles) {
		fprintf(stderr, "sluicectl %s: -f PATH is required\n", verb);
		return CTL_USAGE;
	}
	rc = sl_ctl_read_sources(o->files, o->nfiles, &req.parts, &req.nparts, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "sluicectl %s: %s\n", verb, err);
		return CTL_INVALID;
	}
	if (!req.nparts) {
		fprintf(stderr, "sluicectl %s: no *.yaml or *.yml files in the given paths\n", verb);
		return CTL_INVALID;
	}
	snprintf(req.verb, sizeof(req.verb), "%s", verb);
	snprintf(req.arg, sizeof(req.arg), "%s%s%s", o->allow_empty ? "allow-empty" : "",
		 o->allow_empty && o->output != CTL_OUT_TABLE ? "," : "",
		 o->output != CTL_OUT_TABLE ? fmt_name(o->output) : "");
	rc = call(o, verb, &req);
	sl_ctl_req_free(&req);
	return rc;
}

int cmd_apply(const struct ctl_opts *o)
{
	return with_files(o, "apply");
}

int cmd_delete(const struct ctl_opts *o)
{
	return with_files(o, "delete");
}

int cmd_get(const struct ctl_opts *o)
{
	char arg[sizeof(((struct sl_ctl_req *)0)->arg)];
	int n;

	if (!o->what || !*o->what || strchr(o->what, ',') || strchr(o->what, ' ')) {
		fprintf(stderr, "sluicectl get: services|routes|endpoints|workloads|objects\n");
		return CTL_USAGE;
	}
	if ((o->name && strchr(o->name, ',')) || (o->ns && strchr(o->ns, ','))) {
		fprintf(stderr, "sluicectl get: a name or namespace has no ','\n");
		return CTL_USAGE;
	}
	/* KIND,FORMAT,NAME,NAMESPACE (empty = any) */
	n = snprintf(arg, sizeof(arg), "%s,%s,%s,%s", o->what, fmt_name(o->output),
		     o->name ? o->name : "", o->ns ? o->ns : "");
	if (n < 0 || (size_t)n >= sizeof(arg)) {
		fprintf(stderr, "sluicectl get: name too long\n");
		return CTL_USAGE;
	}
	return simple(o, "get", arg);
}

int cmd_stats(const struct ctl_opts *o)
{
	return simple(o, "stats", fmt_name(o->output));
}

int cmd_status(const struct ctl_opts *o)
{
	return simple(o, "status", fmt_name(o->output));
}

int cmd_reset(const struct ctl_opts *o)
{
	return simple(o, "reset", NULL);
}

int cmd_version(const struct ctl_opts *o)
{
	struct sl_ctl_resp resp;
	char daemon[64] = "";
	int rc;

	if (o->output == CTL_OUT_TABLE) {
		printf("sluicectl %s\n", SLUICE_VERSION);
		fflush(stdout);
		return simple(o, "version", NULL);
	}
	/* data: {"client": ..., "daemon": ... or null when unreachable} */
	rc = ctl_fetch(o, "version", "version", "", &resp);
	if (!rc) {
		/* the daemon answers "sluiced VERSION" */
		if (resp.status == SL_CTL_OK && resp.len > 8 && !memcmp(resp.body, "sluiced ", 8)) {
			const char *v = resp.body + 8, *nl = memchr(v, '\n', resp.len - 8);
			size_t n = nl ? (size_t)(nl - v) : resp.len - 8;

			snprintf(daemon, sizeof(daemon), "%.*s", (int)n, v);
		}
		sl_ctl_resp_free(&resp);
	}
	if (o->output == CTL_OUT_JSON) {
		printf("{\"client\": ");
		sl_json_str(stdout, SLUICE_VERSION);
		printf(", \"daemon\": ");
		if (daemon[0])
			sl_json_str(stdout, daemon);
		else
			printf("null");
		printf("}\n");
	} else {
		printf("client: '%s'\ndaemon: %s%s%s\n", SLUICE_VERSION, daemon[0] ? "'" : "",
		       daemon[0] ? daemon : "null", daemon[0] ? "'" : "");
	}
	return rc;
}
