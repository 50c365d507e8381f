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
	int json;
	size_t nchanges;
	bool first;
};

static void emit(struct diff_out *out, char op, const char *kind, const char *ns,
		 const char *name, const char *route)
{
	static const char *const ops[] = { "added", "changed", "removed" };
	const char *opname = op == '+' ? ops[0] : op == '~' ? ops[1] : ops[2];
	out->nchanges++;
	if (!out->json) {
		if (route)
			printf("    %c %s\n", op, route);
		else
			printf("%c %s %s/%s\n", op, kind, ns, name);
		return;
	}
	printf("%s\n  {\"op\": \"%s\", \"kind\": ", out->first ? "" : ",", opname);
	sl_json_str(stdout, kind);
	printf(", \"namespace\": ");
	sl_json_str(stdout, ns);
	printf(", \"name\": ");
	sl_json_str(stdout, name);
	if (route) {
		printf(", \"route\": ");
		sl_json_str(stdout, route);
	}
	printf("}");
	out->first = false;
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
			emit(out, '~', ob->kind, ob->ns, ob->name, NULL);
			if (strcmp(ob->kind, "VirtualService"))
				continue;
			const struct sl_vhost *va = find_vhost(a, oa->ns, oa->name);
			const struct sl_vhost *vb = find_vhost(b, ob->ns, ob->name);
			if (va && vb) {
				diff_routes(out, ob, "http", va->http, va->nhttp, vb->http, vb->nhttp);
				diff_routes(out, ob, "tcp", va->tcp, va->ntcp, vb->tcp, vb->ntcp);
			}
		}
	}
}

static int load_old(const struct ctl_opts *o, struct sl_diags *d, struct sl_model **m)
{
	if (o->nagainst)
		return sl_model_load(o->against_all, o->nagainst, d, m) ? CTL_INVALID : CTL_OK;
	if (o->against) {
		const char *paths[] = { o->against };
		return sl_model_load(paths, 1, d, m) ? CTL_INVALID : CTL_OK;
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
	free(yaml);
	return r ? CTL_INVALID : CTL_OK;
}

int cmd_diff(const struct ctl_opts *o)
{
	struct sl_diags d;
	struct sl_model *old = NULL, *cur = NULL;
	int rc;
	sl_diags_init(&d);
	if (sl_model_load(o->files, o->nfiles, &d, &cur)) {
		print_diags(&d, 1);
		rc = CTL_INVALID;
		goto cleanup;
	}
	sl_diags_free(&d);
	sl_diags_init(&d);
	rc = load_old(o, &d, &old);
	if (rc) {
		if (rc == CTL_INVALID) {
			print_diags(&d, 1);
			fprintf(stderr, "sluicectl: diff: the policy to compare against is invalid\n");
		}
		goto cleanup;
	}
	struct diff_out out = { .json = o->output == CTL_OUT_JSON, .first = true };
	if (out.json)
		printf("[");
	diff_models(&out, old, cur);
	if (out.json)
		printf("%s]\n", out.first ? "" : "\n");
	else if (out.nchanges == 0)
		printf("no changes\n");
	/* as kubectl diff: 0 no changes, 1 changes (CI can gate on it) */
	rc = out.nchanges ? CTL_INVALID : CTL_OK;
cleanup:
	sl_model_free(old);
	sl_model_free(cur);
	sl_diags_free(&d);
	return rc;
}
