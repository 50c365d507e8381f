/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluicectl verbs. main.c holds the one table of verbs and options that
 * drives parsing, --help and completion; each verb is a function here.
 * Every verb returns the process exit code: 0 ok, 1 invalid input or
 * refused, 2 usage, 3 daemon unreachable, 4 permission denied (not root).
 */
#ifndef SLUICECTL_CMDS_H
#define SLUICECTL_CMDS_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum ctl_exit { CTL_OK = 0, CTL_INVALID = 1, CTL_USAGE = 2, CTL_UNREACHABLE = 3, CTL_DENIED = 4 };

/* The exit code of a failed sl_ctl_call (-errno): permission denied on the
 * socket (not root) is its own code, not "unreachable". */
static inline int ctl_exit_of_call(int err)
{
	return err == -EACCES || err == -EPERM ? CTL_DENIED : CTL_UNREACHABLE;
}

enum ctl_output { CTL_OUT_TABLE = 0, CTL_OUT_JSON, CTL_OUT_YAML };

/* Parsed common options, filled by main.c from the verb table. */
struct ctl_opts {
	const char *socket;		/* --socket, default /run/sluice/sluiced.sock */
	const char **files;		/* -f PATH..., in order */
	size_t nfiles;
	const char *against;		/* diff --against PATH (offline): the last one given */
	const char **against_all;	/* every --against PATH, in order */
	size_t nagainst;
	enum ctl_output output;		/* -o */
	const char *what;		/* get services|routes|endpoints|workloads|objects */
	const char *name;		/* get KIND NAME */
	const char *ns;			/* get -n NS */
	int quiet;
	unsigned int count;		/* top --count N: updates before exit, 0 = until q;
					 * trace --count N: records before exit, 0 = until Ctrl-C */
	const char *service;		/* trace --service S */
	const char *workload;		/* trace --workload W */
	int no_helper;			/* validate --no-http-helper */
	int allow_empty;		/* apply --allow-empty */
};

/* Offline verbs (cmd_offline.c). */
int cmd_validate(const struct ctl_opts *o);
int cmd_diff(const struct ctl_opts *o);

/* Daemon verbs (cmd_daemon.c), over the control socket. */
int cmd_apply(const struct ctl_opts *o);
int cmd_delete(const struct ctl_opts *o);
int cmd_get(const struct ctl_opts *o);
int cmd_stats(const struct ctl_opts *o);
int cmd_status(const struct ctl_opts *o);
int cmd_reset(const struct ctl_opts *o);
int cmd_version(const struct ctl_opts *o);

/* The decision trace (cmd_trace.c): reads the pinned ring buffer. */
int cmd_trace(const struct ctl_opts *o);

/* One exchange with the daemon (cmd_daemon.c): 0 with resp filled (the
 * caller frees it), or the exit code after saying on stderr, for the
 * command the user typed (verb / who), why the daemon could not be
 * reached. ctl_fetch sends VERB ARG without parts. */
struct sl_ctl_req;
struct sl_ctl_resp;
int ctl_exchange(const struct ctl_opts *o, const char *verb, const struct sl_ctl_req *req,
		 struct sl_ctl_resp *resp);
int ctl_fetch(const struct ctl_opts *o, const char *who, const char *verb, const char *arg,
	      struct sl_ctl_resp *resp);

/* Live rates from successive stats (cmd_top.c). */
int cmd_top(const struct ctl_opts *o);

/* ---- the daemon's -o json answers as values (daemon_json.c) ---- */

/* JSON text (as sluicectl writes it) re-emitted as block-style YAML by
 * libyaml: the -o yaml of verbs that build their answer as JSON. 0 or -1. */
int ctl_json_to_yaml(const char *json, size_t len, FILE *out);

/* One row of `stats -o json`. */
struct ctl_stat_row {
	char *level, *service, *subset, *backend;	/* "" when not at that level */
	uint64_t opened, active, failed, closed, bytes_sent, bytes_received;
	uint64_t requests, errors;	/* HTTP, through sluice-http; errors = 5xx */
};

int ctl_stats_parse(const char *text, size_t len, struct ctl_stat_row **rows, size_t *n);
void ctl_stats_free(struct ctl_stat_row *rows, size_t n);

/* The top-level scalar `key` of a JSON object, malloc'd; NULL when absent. */
char *ctl_json_top_scalar(const char *text, size_t len, const char *key);

#endif /* SLUICECTL_CMDS_H */
