// SPDX-License-Identifier: Apache-2.0
/*
 * Offline verbs: validate (load + check + optional canonical JSON dump) and
 * diff (objects and routes added / changed / removed, against another
 * policy set or the running daemon's applied snapshot).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/compile_l4.h"
#include "sluice/ctl.h"
#include "sluice/dataplane.h"
#include "sluice/model.h"
#include "sluicectl/cmds.h"
#include "sluicectl/diff_values.h"

/* Errors always; warnings unless quiet. */
static void print_diags(struct sl_diags *d, int quiet)
{
	if (quiet) {
		size_t k = 0;
		for (size_t i = 0; i < d->n; i++) {
			if (d->v[i].sev == SL_SEV_ERROR)
				d->v[k++] = d->v[i];
			else {
				free(d->v[i].file);
				free(d->v[i].msg);
			}
		}
		d->n = k;
	}
	sl_diags_print(d, stderr);
}

/* Run the L4 compiler as `apply` does (sluiced's default: the sluice-http
 * helper on SL_HELPER_DEFAULT_LISTEN, or none with --no-http-helper; no kernel, no
 * root: cgroups are only stat'ed).
 * On refusal prints what apply prints and returns -1. */
static int compile_check(const struct sl_model *m, bool helper)
{
	struct sl_l4_opts lo = { .helper_port = helper ? SL_HELPER_DEFAULT_PORT : 0 };
	struct sl_l4_gen g = { 0 };
	char err[SL_DP_ERRLEN] = "";
	int rc;

	lo.helper_addr[10] = lo.helper_addr[11] = 0xff;	/* v4-mapped */
	inet_pton(AF_INET, SL_HELPER_DEFAULT_ADDR, &lo.helper_addr[12]);
	rc = sl_compile_l4(m, &lo, 1, &g, err);
	if (rc) {
		fprintf(stderr, "refused by the data plane: %s\n", err[0] ? err : strerror(-rc));
		fprintf(stderr, "sluicectl: validate: apply would refuse it: nothing would be applied\n");
		return -1;
	}
	sl_l4_gen_free(&g);
	return 0;
}

int cmd_validate(const struct ctl_opts *o)
{
	struct sl_diags d;
	struct sl_model *m = NULL;
	if (o->output == CTL_OUT_YAML) {
		fprintf(stderr, "sluicectl: validate: -o yaml is not supported (table or json)\n");
		return CTL_USAGE;
	}
	sl_diags_init(&d);
	int r = sl_model_load(o->files, o->nfiles, &d, &m);
	print_diags(&d, o->quiet);
	int rc = CTL_INVALID;
	if (r) {
		fprintf(stderr, "sluicectl: validate: %zu error(s), %zu warning(s): nothing would be applied\n",
			d.nerrors, d.nwarnings);
		goto cleanup;
	}
	/* the data plane's own judgement, offline: apply compiles the same
	 * model with the same compiler and refuses what it refuses here */
	if (compile_check(m, !o->no_helper))
		goto cleanup;
	if (o->output == CTL_OUT_JSON) {
		if (sl_model_dump_json(m, stdout))
			goto cleanup;
	} else if (!o->quiet) {
		printf("valid: %zu objects, %zu services, %zu virtual services, %zu workloads, "
		       "%zu gateways (%zu warnings)\n", m->nobjects, m->nservices, m->nvhosts,
		       m->nworkloads, m->ngateways, d.nwarnings);
	}
	rc = CTL_OK;
cleanup:
	sl_model_free(m);
	sl_diags_free(&d);
	return rc;
}

/* ---- diff ------------------------------------------------------------- */

struct diff_out {
	FILE *f;			/* stdout, or the JSON text for -o yaml */
	int json;
	size_t nchanges;
	bool first;
	const struct ydocs *old, *cur;	/* the two sides' documents, for values */
};

static void emit_open(struct diff_out *out, char op, const char *kind, const char *ns,
		      const char *name, const char *route)
{
	static const char *const ops[] = { "added", "changed", "removed" };
	const char *opname = op == '+' ? ops[0] : op == '~' ? ops[1] : ops[2];
	FILE *f = out->f;

	out->nchanges++;
	if (!out->json) {
		if (route)
			fprintf(f, "    %c %s\n", op, route);
		else
			fprintf(f, "%c %s %s/%s\n", op, kind, ns, name);
		return;
	}
	fprintf(f, "%s\n  {\"op\": \"%s\", \"kind\": ", out->first ? "" : ",", opname);
	sl_json_str(f, kind);
	fprintf(f, ", \"namespace\": ");
	sl_json_str(f, ns);
	fprintf(f, ", \"name\": ");
	sl_json_str(f, name);
	if (route) {
		fprintf(f, ", \"route\": ");
		sl_json_str(f, route);
	}
	out->first = false;
}

static void emit_close(struct diff_out *out)
{
	if (out->json)
		fputc('}', out->f);
}

static void emit(struct diff_out *out, char op, const char *kind, const char *ns,
		 const char *name, const char *route)
{
	emit_open(out, op, kind, ns, name, route);
	emit_close(out);
}

struct value_out {
	struct diff_out *out;
	size_t n;
};

/* One field that differs: "    PATH: OLD -> NEW" or a JSON change. */
static void value_changed(void *ctx, const char *path, void *od, void *on, void *nd, void *nn)
{
	struct value_out *v = ctx;
	FILE *f = v->out->f;

	if (!v->out->json) {
		fprintf(f, "    %s: ", path);
		if (on)
			ynode_json(f, od, on);
		else
			fputs("(none)", f);
		fputs(" -> ", f);
		if (nn)
			ynode_json(f, nd, nn);
		else
			fputs("(none)", f);
		fputc('\n', f);
		return;
	}
	fprintf(f, "%s{\"path\": ", v->n++ ? ", " : "");
	sl_json_str(f, path);
	fputs(", \"old\": ", f);
	ynode_json(f, od, on);
	fputs(", \"new\": ", f);
	ynode_json(f, nd, nn);
	fputc('}', f);
}

/* A changed object: its line (or JSON entry) with the changed fields. */
static void emit_changed(struct diff_out *out, const struct sl_object *ob)
{
	struct value_out v = { .out = out };

	emit_open(out, '~', ob->kind, ob->ns, ob->name, NULL);
	if (out->json)
		fputs(", \"changes\": [", out->f);
	ydiff(out->old, out->cur, ob->kind, ob->ns, ob->name, value_changed, &v);
	if (out->json)
		fputc(']', out->f);
	emit_close(out);
}

static int obj_key_cmp(const struct sl_object *a, const struct sl_object *b)
{
	int c = strcmp(a->kind, b->kind);
	if (!c)
		c = strcmp(a->ns, b->ns);
	return c ? c : strcmp(a->name, b->name);
}

static const struct sl_vhost *find_vhost(const struct sl_model *m, const char *ns,
					 const char *name)
{
	for (size_t i = 0; i < m->nvhosts; i++)
		if (!strcmp(m->vhosts[i].ns, ns) && !strcmp(m->vhosts[i].name, name))
			return &m->vhosts[i];
	return NULL;
}

static void route_label(char *buf, size_t len, const char *kind, size_t i, const struct sl_route *r)
{
	if (r->name)
		snprintf(buf, len, "%s[%zu] \"%s\"", kind, i, r->name);
	else
		snprintf(buf, len, "%s[%zu]", kind, i);
}

/* Routes pair up by name when named, else by position. */
static const struct sl_route *pair_route(const struct sl_route *v, size_t n, size_t i,
					 const struct sl_route *r)
{
	if (r->name) {
		for (size_t j = 0; j < n; j++)
			if (v[j].name && !strcmp(v[j].name, r->name))
				return &v[j];
		return NULL;
	}
	return i < n && !v[i].name ? &v[i] : NULL;
}

static void diff_routes(struct diff_out *out, const struct sl_object *ob, const char *kind,
			const struct sl_route *oldr, size_t nold, const struct sl_route *newr,
			size_t nnew)
{
	char buf[512];
	for (size_t i = 0; i < nnew; i++) {
		const struct sl_route *p = pair_route(oldr, nold, i, &newr[i]);
		route_label(buf, sizeof(buf), kind, i, &newr[i]);
		if (!p)
			emit(out, '+', ob->kind, ob->ns, ob->name, buf);
		else if (p->hash != newr[i].hash)
			emit(out, '~', ob->kind, ob->ns, ob->name, buf);
	}
	for (size_t i = 0; i < nold; i++) {
		if (pair_route(newr, nnew, i, &oldr[i]))
			continue;
		route_label(buf, sizeof(buf), kind, i, &oldr[i]);
		emit(out, '-', ob->kind, ob->ns, ob->name, buf);
	}
}

static void diff_models(struct diff_out *out, const struct sl_model *a, const struct sl_model *b)
{
	size_t i = 0, j = 0;
	while (i < a->nobjects || j < b->nobjects) {
		int c = i == a->nobjects ? 1 : j == b->nobjects ? -1
			: obj_key_cmp(&a->objects[i], &b->objects[j]);
		if (c < 0) {
			const struct sl_object *ob = &a->objects[i++];
			emit(out, '-', ob->kind, ob->ns, ob->name, NULL);
		} else if (c > 0) {
			const struct sl_object *ob = &b->objects[j++];
			emit(out, '+', ob->kind, ob->ns, ob->name, NULL);
		} else {
			const struct sl_object *oa = &a->objects[i++], *ob = &b->objects[j++];
			if (oa->hash == ob->hash)
				continue;
			emit_changed(out, ob);
			if (strcmp(ob->kind, "VirtualService"))
				continue;
			const struct sl_vhost *va = find_vhost(a, oa->ns, oa->name);
			const struct sl_vhost *vb = find_vhost(b, ob->ns, ob->name);
			if (va && vb) {
				diff_routes(out, ob, "http", va->http, va->nhttp, vb->http, vb->nhttp);
				diff_routes(out, ob, "tcp", va->tcp, va->ntcp, vb->tcp, vb->ntcp);
				diff_routes(out, ob, "tls", va->tls, va->ntls, vb->tls, vb->ntls);
			}
		}
	}
}

/* The documents of files (for field values); NULL when unreadable. */
static struct ydocs *docs_of(const char **paths, size_t n)
{
	struct sl_ctl_part *parts = NULL;
	size_t np = 0, i;
	struct ydocs *y = NULL;
	const char **bufs;
	size_t *lens;
	char err[256];

	if (sl_ctl_read_sources(paths, n, &parts, &np, err, sizeof(err)))
		return NULL;
	bufs = calloc(np ? np : 1, sizeof(*bufs));
	lens = calloc(np ? np : 1, sizeof(*lens));
	if (bufs && lens) {
		for (i = 0; i < np; i++) {
			bufs[i] = parts[i].data;
			lens[i] = parts[i].len;
		}
		y = ydocs_load(bufs, lens, np);
	}
	free(bufs);
	free(lens);
	sl_ctl_parts_free(parts, np);
	return y;
}

static int load_old(const struct ctl_opts *o, struct sl_diags *d, struct sl_model **m,
		    struct ydocs **docs)
{
	if (o->nagainst) {
		*docs = docs_of(o->against_all, o->nagainst);
		return sl_model_load(o->against_all, o->nagainst, d, m) ? CTL_INVALID : CTL_OK;
	}
	char *yaml = NULL;
	size_t len = 0;
	int r = sl_ctl_fetch_snapshot(o->socket, &yaml, &len);
	if (r == -ENOENT || r == -ECONNREFUSED || r == -EACCES || r == -ETIMEDOUT) {
		fprintf(stderr, "sluicectl: diff: daemon unreachable at %s (%s); use --against PATH "
			"to diff offline\n", o->socket, strerror(-r));
		return ctl_exit_of_call(r);
	}
	if (r) {
		fprintf(stderr, "sluicectl: diff: cannot fetch the applied policy: %s\n", strerror(-r));
		return CTL_UNREACHABLE;
	}
	r = sl_model_load_buf("<daemon>", yaml, len, d, m);
	{
		const char *b[1] = { yaml };

		*docs = ydocs_load(b, &len, 1);
	}
	free(yaml);
	return r ? CTL_INVALID : CTL_OK;
}

int cmd_diff(const struct ctl_opts *o)
{
	struct sl_diags d;
	struct sl_model *old = NULL, *cur = NULL;
	struct ydocs *old_docs = NULL, *cur_docs = NULL;
	char *text = NULL;
	size_t tlen = 0;
	int rc;
	sl_diags_init(&d);
	if (sl_model_load(o->files, o->nfiles, &d, &cur)) {
		print_diags(&d, 1);
		rc = CTL_INVALID;
		goto cleanup;
	}
	sl_diags_free(&d);
	sl_diags_init(&d);
	rc = load_old(o, &d, &old, &old_docs);
	if (rc) {
		if (rc == CTL_INVALID) {
			print_diags(&d, 1);
			fprintf(stderr, "sluicectl: diff: the policy to compare against is invalid\n");
		}
		goto cleanup;
	}
	cur_docs = docs_of(o->files, o->nfiles);
	struct diff_out out = { .f = stdout, .json = o->output != CTL_OUT_TABLE, .first = true,
				.old = old_docs, .cur = cur_docs };
	/* -o yaml: the JSON, re-emitted by libyaml as YAML */
	if (o->output == CTL_OUT_YAML && !(out.f = open_memstream(&text, &tlen))) {
		rc = CTL_INVALID;
		goto cleanup;
	}
	if (out.json)
		fputs("[", out.f);
	diff_models(&out, old, cur);
	if (out.json)
		fprintf(out.f, "%s]\n", out.first ? "" : "\n");
	else if (out.nchanges == 0)
		printf("no changes\n");
	if (o->output == CTL_OUT_YAML) {
		fclose(out.f);
		if (ctl_json_to_yaml(text, tlen, stdout)) {
			fprintf(stderr, "sluicectl: diff: cannot write YAML\n");
			free(text);
			rc = CTL_INVALID + 1;	/* >1: an error, not "changes" */
			goto cleanup;
		}
		free(text);
	}
	/* as kubectl diff: 0 no changes, 1 changes (CI can gate on it) */
	rc = out.nchanges ? CTL_INVALID : CTL_OK;
cleanup:
	ydocs_free(old_docs);
	ydocs_free(cur_docs);
	sl_model_free(old);
	sl_model_free(cur);
	sl_diags_free(&d);
	return rc;
}
