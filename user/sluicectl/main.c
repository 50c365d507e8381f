// SPDX-License-Identifier: Apache-2.0
/*
 * sluicectl: one table of verbs and options drives argument parsing, the
 * per-verb --help and the bash completion script. Verbs live in
 * cmd_offline.c (validate, diff) and cmd_daemon.c (the rest).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluicectl/cmds.h"

#define DEFAULT_SOCKET "/run/sluice/sluiced.sock"

enum opt_bit {
	O_FILE = 1u << 0,	/* -f/--filename PATH (repeatable; also positional) */
	O_OUTPUT = 1u << 1,	/* -o/--output table|json|yaml */
	O_AGAINST = 1u << 2,	/* --against PATH */
	O_SOCKET = 1u << 3,	/* --socket PATH */
	O_QUIET = 1u << 4,	/* -q/--quiet */
	O_COUNT = 1u << 5,	/* --count N */
	O_WHAT = 1u << 6,	/* positional: services|routes|endpoints|workloads|objects */
	O_SERVICE = 1u << 7,	/* --service S */
	O_WORKLOAD = 1u << 8,	/* --workload W */
	O_NO_HELPER = 1u << 9,	/* --no-http-helper */
	O_ALLOW_EMPTY = 1u << 10,	/* --allow-empty */
	O_NAMESPACE = 1u << 11,	/* -n/--namespace NS */
	O_NAME = 1u << 12,	/* positional after O_WHAT: an object name */
};

struct opt_def {
	enum opt_bit bit;
	char short_name;
	const char *long_name;
	const char *arg;	/* NULL: flag without value */
	const char *help;
};

static const struct opt_def opt_defs[] = {
	{ O_FILE, 'f', "filename", "PATH", "policy file or directory (repeatable; dirs recurse; - = stdin)" },
	{ O_OUTPUT, 'o', "output", "FORMAT", "output format: table, json or yaml" },
	{ O_AGAINST, 0, "against", "PATH", "compare with this policy (repeatable) instead of the daemon's" },
	{ O_SOCKET, 0, "socket", "PATH", "daemon control socket (default " DEFAULT_SOCKET ")" },
	{ O_QUIET, 'q', "quiet", NULL, "print errors only" },
	{ O_COUNT, 0, "count", "N", "number of updates (top) or records (trace) before exiting (0 = no limit)" },
	{ O_SERVICE, 0, "service", "HOST", "only this service (FQDN or its leading labels)" },
	{ O_WORKLOAD, 0, "workload", "NS/NAME", "only connections from this workload" },
	{ O_NO_HELPER, 0, "no-http-helper", NULL, "judge as a sluiced started with --no-http-helper" },
	{ O_ALLOW_EMPTY, 0, "allow-empty", NULL, "let files with no objects empty the desired state" },
	{ O_NAMESPACE, 'n', "namespace", "NS", "only objects of this namespace" },
};

static int cmd_help(const struct ctl_opts *o);
static int cmd_completion(const struct ctl_opts *o);

struct verb {
	const char *name;
	int (*fn)(const struct ctl_opts *o);
	unsigned opts;
	const char *usage;
	const char *summary;
};

static const struct verb verbs[] = {
	{ "apply", cmd_apply, O_FILE | O_SOCKET | O_OUTPUT | O_QUIET | O_ALLOW_EMPTY,
	  "-f PATH... [--allow-empty]",
	  "make the given files the whole desired state, atomically; prints what changed" },
	{ "validate", cmd_validate, O_FILE | O_OUTPUT | O_QUIET | O_NO_HELPER,
	  "-f PATH... [-o json] [--no-http-helper]",
	  "check policy files offline as apply would (exit 0 valid, 1 invalid); -o json dumps the model" },
	{ "diff", cmd_diff, O_FILE | O_AGAINST | O_SOCKET | O_OUTPUT, "-f PATH... [--against PATH...]",
	  "show added, changed and removed objects and routes (exit 0 none, 1 changes)" },
	{ "get", cmd_get, O_WHAT | O_NAME | O_NAMESPACE | O_OUTPUT | O_SOCKET,
	  "services|routes|endpoints|workloads|objects [NAME] [-n NS] [-o FMT]",
	  "show the applied state (NAME: a service host or its leading labels, a "
	  "VirtualService, a workload)" },
	{ "delete", cmd_delete, O_FILE | O_SOCKET | O_QUIET | O_OUTPUT, "-f PATH... [-o FMT]",
	  "remove the objects in these files from the desired state" },
	{ "stats", cmd_stats, O_OUTPUT | O_SOCKET, "[-o json]", "counters and per-backend statistics" },
	{ "top", cmd_top, O_SOCKET | O_COUNT, "[--count N]", "live per-backend rates" },
	{ "trace", cmd_trace, O_SOCKET | O_OUTPUT | O_COUNT | O_SERVICE | O_WORKLOAD,
	  "[--service HOST] [--workload NS/NAME] [--count N] [-o json]",
	  "live connect() decisions and why they were made" },
	{ "status", cmd_status, O_SOCKET | O_OUTPUT, "", "daemon, hooks and generation" },
	{ "reset", cmd_reset, O_SOCKET, "", "detach and remove the whole data plane" },
	{ "version", cmd_version, O_SOCKET | O_OUTPUT, "", "client and daemon versions" },
	{ "help", cmd_help, O_WHAT, "[VERB]", "show help" },
	{ "completion", cmd_completion, O_WHAT, "bash", "print a shell completion script" },
};
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < NVERBS; i++)
		if (!strcmp(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

static void usage_all(FILE *f)
{
	fprintf(f, "usage: sluicectl [--socket PATH] VERB [options]\n\nverbs:\n");
	for (size_t i = 0; i < NVERBS; i++)
		fprintf(f, "  %-11s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(f, "\nsluicectl VERB --help shows a verb's options.\n"
		   "exit codes: 0 ok, 1 invalid input or refused, 2 usage, 3 daemon unreachable,\n"
		   "            4 permission denied (the control socket serves root only)\n");
}

static void usage_verb(FILE *f, const struct verb *v)
{
	fprintf(f, "usage: sluicectl %s %s\n  %s\n", v->name, v->usage, v->summary);
	bool any = false;
	for (size_t i = 0; i < sizeof(opt_defs) / sizeof(opt_defs[0]); i++) {
		const struct opt_def *d = &opt_defs[i];
		if (!(v->opts & d->bit))
			continue;
		if (!any)
			fprintf(f, "\noptions:\n");
		any = true;
		char left[64];
		if (d->short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", d->short_name, d->long_name,
				 d->arg ? " " : "", d->arg ? d->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", d->long_name, d->arg ? " " : "",
				 d->arg ? d->arg : "");
		fprintf(f, "  %-26s %s\n", left, d->help);
	}
	fprintf(f, "  %-26s %s\n", "-h, --help", "show this help");
}

static int cmd_help(const struct ctl_opts *o)
{
	const struct verb *v = o->what ? find_verb(o->what) : NULL;
	if (o->what && !v) {
		fprintf(stderr, "sluicectl: unknown verb \"%s\"\n", o->what);
		return CTL_USAGE;
	}
	if (v)
		usage_verb(stdout, v);
	else
		usage_all(stdout);
	return CTL_OK;
}

static int cmd_completion(const struct ctl_opts *o)
{
	if (o->what && strcmp(o->what, "bash")) {
		fprintf(stderr, "sluicectl: completion: only bash is supported\n");
		return CTL_USAGE;
	}
	printf("# bash completion for sluicectl (generated from its verb table)\n"
	       "_sluicectl() {\n  local cur=${COMP_WORDS[COMP_CWORD]} verb=${COMP_WORDS[1]}\n"
	       "  if [ \"$COMP_CWORD\" -eq 1 ]; then\n    COMPREPLY=($(compgen -W \"");
	for (size_t i = 0; i < NVERBS; i++)
		printf("%s%s", i ? " " : "", verbs[i].name);
	printf("\" -- \"$cur\")); return; fi\n  case $verb in\n");
	for (size_t i = 0; i < NVERBS; i++) {
		printf("  %s) COMPREPLY=($(compgen -W \"", verbs[i].name);
		for (size_t j = 0; j < sizeof(opt_defs) / sizeof(opt_defs[0]); j++)
			if (verbs[i].opts & opt_defs[j].bit)
				printf("--%s ", opt_defs[j].long_name);
		if (verbs[i].fn == cmd_get)
			printf("services routes endpoints workloads objects ");
		printf("--help\" -- \"$cur\") $(compgen -f -- \"$cur\"));;\n");
	}
	printf("  esac\n}\ncomplete -F _sluicectl sluicectl\n");
	return CTL_OK;
}

static int bad_usage(const struct verb *v, const char *fmt, const char *arg)
{
	fprintf(stderr, "sluicectl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	if (v)
		usage_verb(stderr, v);
	else
		usage_all(stderr);
	return CTL_USAGE;
}

/* Finds the option definition for argv[i] ("-f", "--filename",
 * "--filename=x"); *inline_val points after '=' when present. */
static const struct opt_def *lookup_opt(const char *a, const char **inline_val)
{
	*inline_val = NULL;
	for (size_t i = 0; i < sizeof(opt_defs) / sizeof(opt_defs[0]); i++) {
		const struct opt_def *d = &opt_defs[i];
		if (a[0] == '-' && a[1] && a[1] != '-' && a[1] == d->short_name) {
			if (a[2])
				*inline_val = a + 2;
			return d;
		}
		if (a[0] == '-' && a[1] == '-') {
			size_t l = strlen(d->long_name);
			if (!strncmp(a + 2, d->long_name, l) && (a[2 + l] == '\0' || a[2 + l] == '=')) {
				if (a[2 + l] == '=')
					*inline_val = a + 3 + l;
				return d;
			}
		}
	}
	return NULL;
}

static int set_opt(struct ctl_opts *o, const struct verb *v, const struct opt_def *d,
		   const char *val)
{
	switch (d->bit) {
	case O_FILE:
		o->files[o->nfiles++] = val;
		return 0;
	case O_OUTPUT:
		if (!strcmp(val, "table"))
			o->output = CTL_OUT_TABLE;
		else if (!strcmp(val, "json"))
			o->output = CTL_OUT_JSON;
		else if (!strcmp(val, "yaml"))
			o->output = CTL_OUT_YAML;
		else
			return bad_usage(v, "bad output format \"%s\" (table, json, yaml)", val);
		return 0;
	case O_AGAINST:
		o->against = val;
		o->against_all[o->nagainst++] = val;
		return 0;
	case O_SOCKET:
		o->socket = val;
		return 0;
	case O_COUNT: {
		char *end;
		unsigned long n = strtoul(val, &end, 10);
		if (!*val || *end || n > 1000000)
			return bad_usage(v, "bad count \"%s\"", val);
		o->count = (unsigned int)n;
		return 0;
	}
	case O_SERVICE:
		o->service = val;
		return 0;
	case O_WORKLOAD:
		o->workload = val;
		return 0;
	case O_NO_HELPER:
		o->no_helper = 1;
		return 0;
	case O_ALLOW_EMPTY:
		o->allow_empty = 1;
		return 0;
	case O_NAMESPACE:
		o->ns = val;
		return 0;
	default:
		o->quiet = 1;
		return 0;
	}
}

int main(int argc, char **argv)
{
	struct ctl_opts o = { .socket = DEFAULT_SOCKET, .output = CTL_OUT_TABLE };
	const char **files = calloc((size_t)argc + 1, sizeof(*files));
	const char **against = calloc((size_t)argc + 1, sizeof(*against));
	if (!files || !against) {
		free(files);
		free(against);
		return CTL_INVALID;
	}
	o.files = files;
	o.against_all = against;
	int i = 1;
	const struct verb *v = NULL;
	int rc = CTL_USAGE;
	/* global options before the verb: only --socket and --help */
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *iv;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage_all(stdout);
			rc = CTL_OK;
			goto cleanup;
		}
		const struct opt_def *d = lookup_opt(argv[i], &iv);
		if (!d || d->bit != O_SOCKET) {
			rc = bad_usage(NULL, "unknown global option \"%s\"", argv[i]);
			goto cleanup;
		}
		const char *val = iv ? iv : (i + 1 < argc ? argv[++i] : NULL);
		if (!val) {
			rc = bad_usage(NULL, "%s needs a value", argv[i]);
			goto cleanup;
		}
		o.socket = val;
	}
	if (i >= argc) {
		rc = bad_usage(NULL, "%s", "missing verb");
		goto cleanup;
	}
	v = find_verb(argv[i]);
	if (!v) {
		rc = bad_usage(NULL, "unknown verb \"%s\"", argv[i]);
		goto cleanup;
	}
	for (i++; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage_verb(stdout, v);
			rc = CTL_OK;
			goto cleanup;
		}
		if (a[0] == '-' && a[1]) {
			const char *iv;
			const struct opt_def *d = lookup_opt(a, &iv);
			if (!d || !(v->opts & d->bit)) {
				rc = bad_usage(v, "unknown option \"%s\"", a);
				goto cleanup;
			}
			const char *val = NULL;
			if (d->arg) {
				val = iv ? iv : (i + 1 < argc ? argv[++i] : NULL);
				if (!val) {
					rc = bad_usage(v, "%s needs a value", a);
					goto cleanup;
				}
			}
			rc = set_opt(&o, v, d, val);
			if (rc)
				goto cleanup;
			continue;
		}
		if (v->opts & O_FILE) {
			o.files[o.nfiles++] = a;	/* "-f a b c" */
		} else if ((v->opts & O_WHAT) && !o.what) {
			o.what = a;
		} else if ((v->opts & O_NAME) && !o.name) {
			o.name = a;
		} else {
			rc = bad_usage(v, "unexpected argument \"%s\"", a);
			goto cleanup;
		}
	}
	if ((v->opts & O_FILE) && o.nfiles == 0) {
		rc = bad_usage(v, "%s", "no files given (-f PATH)");
		goto cleanup;
	}
	rc = v->fn(&o);
cleanup:
	free(files);
	free(against);
	return rc;
}
