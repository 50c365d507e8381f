// SPDX-License-Identifier: Apache-2.0
/*
 * Entry points of the policy front-end: read files and directories, split
 * multi-document YAML with libyaml, check each document's envelope
 * (apiVersion, kind, metadata, spec), hand the spec to the kind's parser,
 * then resolve everything into one struct sl_model. Any error anywhere
 * fails the whole load: nothing is partly applied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


#include "lib/policy_int.h"
#include "lib/util_files.h"

static const char *const istio_versions[] = {
	"networking.istio.io/v1alpha3", "networking.istio.io/v1beta1", "networking.istio.io/v1", NULL,
};
static const char *const sluice_versions[] = { "sluice.io/v1alpha1", NULL };
static const char *const core_versions[] = { "v1", NULL };
static const char *const discovery_versions[] = { "discovery.k8s.io/v1", NULL };

/* Adapters from one document to each kind's parser. */
static int k_se(struct pl_ctx *c, const struct pl_doc *d)
{
	return pl_parse_service_entry(c, d->spec, d->name, d->ns, d->pos);
}
static int k_we(struct pl_ctx *c, const struct pl_doc *d)
{
	return pl_parse_workload_entry(c, d->spec, d->meta, d->name, d->ns, d->pos);
}
static int k_dr(struct pl_ctx *c, const struct pl_doc *d)
{
	return pl_parse_destination_rule(c, d->spec, d->name, d->ns, d->pos);
}
static int k_vs(struct pl_ctx *c, const struct pl_doc *d)
{
	return pl_parse_virtual_service(c, d->spec, d->meta, d->name, d->ns, d->pos);
}
static int k_gw(struct pl_ctx *c, const struct pl_doc *d)
{
	return pl_parse_gateway(c, d->spec, d->name, d->ns, d->pos);
}
static int k_sc(struct pl_ctx *c, const struct pl_doc *d)
{
	return pl_parse_sidecar(c, d->spec, d->name, d->ns, d->pos);
}
static int k_mesh(struct pl_ctx *c, const struct pl_doc *d)
{
	return pl_parse_mesh_config(c, d->spec, d->pos);
}

/* Every kind the front-end reads: its apiVersions, the message its
 * top-level fields are checked against (pl_fields), whether it has a spec,
 * and its parser. Adding a kind is adding a row. */
static const struct pl_kind {
	const char *kind;
	const char *const *versions;
	const char *msg;
	bool spec;		/* spec required (Kubernetes kinds may carry none) */
	bool mesh;		/* Sluice's own: metadata optional */
	int (*parse)(struct pl_ctx *c, const struct pl_doc *d);
} kinds[] = {
	{ "ServiceEntry", istio_versions, "Object", true, false, k_se },
	{ "WorkloadEntry", istio_versions, "Object", true, false, k_we },
	{ "DestinationRule", istio_versions, "Object", true, false, k_dr },
	{ "VirtualService", istio_versions, "Object", true, false, k_vs },
	{ "Gateway", istio_versions, "Object", true, false, k_gw },
	{ "Sidecar", istio_versions, "Object", true, false, k_sc },
	{ "MeshConfig", sluice_versions, "Object", true, true, k_mesh },
	{ "Service", core_versions, "K8sService", true, false, pl_parse_k8s_service },
	{ "EndpointSlice", discovery_versions, "EndpointSlice", false, false, pl_parse_endpoint_slice },
	{ "Pod", core_versions, "Pod", false, false, pl_parse_pod },
};

/* Kinds that carry no addresses (their Pods and the Services' EndpointSlices
 * do): a manifest folder validates as it is, one info line each. */
static const char *const skipped_kinds[] = {
	"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob",
	"ConfigMap", "Secret", "Namespace", "ServiceAccount", "Role", "RoleBinding",
	"ClusterRole", "ClusterRoleBinding", "HorizontalPodAutoscaler",
	"PodDisruptionBudget", "NetworkPolicy", "Ingress", "PersistentVolumeClaim",
	"LimitRange", "ResourceQuota", "PriorityClass", "Endpoints",
};

/* Kubernetes object names: DNS-1123 subdomain, at most 253 characters. */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
		if (!ok)
			return false;
	}
	return s[0] != '-' && s[0] != '.' && s[n - 1] != '-' && s[n - 1] != '.';
}

/* kind is the kinds table's (static); ns and name are the arena's copies
 * the kind's parser keeps too: pointed at, not copied again (a model of
 * 72,000 Kubernetes objects held three more strings per object). */
static int add_object(struct pl_ctx *c, const char *kind, char *ns, char *name,
		      uint64_t hash, struct sl_pos pos)
{
	if (pl_grow((void **)&c->obj, &c->cobj, c->nobj, sizeof(*c->obj)))
		return -ENOMEM;
	struct sl_object *o = &c->obj[c->nobj++];
	o->kind = (char *)kind;
	o->ns = ns;
	o->name = name;
	o->hash = hash;
	o->pos = pos;
	return 0;
}

/* pl_req_str without the arena copy, for kind and apiVersion (read while
 * the document is loaded, kept by nobody): the scalar of the document. */
static int req_scalar(struct pl_ctx *c, yaml_node_t *map, const char *key, const char **out,
		      yaml_node_t **node)
{
	yaml_node_t *n = pl_get(c, map, key);

	*node = n;
	if (!n || pl_is_null(n)) {
		pl_err(c, PL_E_REQUIRED, map, "missing required field \"%s\"", key);
		return -1;
	}
	if (!(*out = pl_scalar(n))) {
		pl_err(c, PL_E_TYPE, n, "%s must be a string", key);
		return -1;
	}
	if (!**out) {
		pl_err(c, PL_E_VALUE, n, "%s must not be empty", key);
		return -1;
	}
	return 1;
}

/* Sluice's own annotations, by kind: one that is not listed (a typo) is
 * warned about, as an unknown field is; other prefixes belong to others. */
static const struct {
	const char *kind, *key;
} sluice_annotations[] = {
	{ "WorkloadEntry", "sluice.io/cgroup" },
	{ "VirtualService", "sluice.io/tcp-fault-abort" },
	{ "VirtualService", "sluice.io/tcp-fault-errno" },
	{ "VirtualService", "sluice.io/tcp-fault-delay" },	/* refused by the parser */
};

static void check_annotations(struct pl_ctx *c, yaml_node_t *ann, const char *kind)
{
	for (yaml_node_pair_t *p = ann->data.mapping.pairs.start; p < ann->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = pl_node(c, p->key);
		const char *k = pl_scalar(kn);
		bool known = false;

		if (!k || strncmp(k, "sluice.io/", 10))
			continue;
		for (size_t i = 0; i < sizeof(sluice_annotations) / sizeof(sluice_annotations[0]); i++)
			known |= !strcmp(sluice_annotations[i].kind, kind) &&
				 !strcmp(sluice_annotations[i].key, k);
		if (!known)
			pl_warn(c, PL_W_UNKNOWN, kn, "unknown annotation \"%s\" on a %s (ignored; "
				"docs/policy-reference.md lists Sluice's annotations)", k, kind);
	}
}

static bool skipped_kind(const char *kind)
{
	for (size_t i = 0; i < sizeof(skipped_kinds) / sizeof(skipped_kinds[0]); i++)
		if (!strcmp(skipped_kinds[i], kind))
			return true;
	return false;
}

static int load_doc(struct pl_ctx *c, yaml_node_t *root, bool in_list);

/* kind: List (what `kubectl get ... -o yaml` prints): each item a document. */
static int load_list(struct pl_ctx *c, yaml_node_t *root)
{
	yaml_node_t *items = pl_get(c, root, "items");
	int rc = 0;

	if (!pl_check_map(c, root, "List", "the List"))
		return 0;
	if (!items || pl_is_null(items))
		return 0;
	if (items->type != YAML_SEQUENCE_NODE) {
		pl_err(c, PL_E_TYPE, items, "items must be a list");
		return 0;
	}
	for (size_t i = 0; i < pl_seq_len(items) && !rc; i++)
		rc = load_doc(c, pl_seq_at(c, items, i), true);
	return rc;
}

/* One YAML document (or List item): envelope checks, then the kind's
 * parser. Errors are reported into c->d; the return value only signals
 * out-of-memory. */
static int load_doc(struct pl_ctx *c, yaml_node_t *root, bool in_list)
{
	if (pl_is_null(root))
		return 0;
	if (!root || root->type != YAML_MAPPING_NODE) {
		pl_err(c, PL_E_TYPE, root, "the document must be a map");
		return 0;
	}
	const char *api = NULL, *kind = NULL;
	char *name = NULL, *ns = NULL;
	yaml_node_t *api_n, *kind_n, *name_n, *ns_n;
	if (req_scalar(c, root, "kind", &kind, &kind_n) < 0)
		return 0;
	if (!strcmp(kind, "List") && !in_list)
		return load_list(c, root);
	size_t k, nk = sizeof(kinds) / sizeof(kinds[0]);
	for (k = 0; k < nk; k++)
		if (!strcmp(kinds[k].kind, kind))
			break;
	if (k == nk && skipped_kind(kind)) {
		yaml_node_t *meta = pl_get(c, root, "metadata");
		char *sn = NULL;

		if (meta && meta->type == YAML_MAPPING_NODE)
			pl_str(c, meta, "name", &sn, NULL);
		pl_info(c, PL_I_SKIPPED, kind_n, "%s%s%s skipped: it carries no addresses (Sluice "
			"reads Services, EndpointSlices and Pods)", kind, sn ? " " : "", sn ? sn : "");
		return 0;
	}
	if (k == nk) {
		pl_err(c, PL_E_KIND, kind_n,
		       "unknown kind \"%s\" (accepted: ServiceEntry, WorkloadEntry, DestinationRule, "
		       "VirtualService, Gateway, Sidecar, MeshConfig, Service, EndpointSlice, Pod, "
		       "List)", kind);
		return 0;
	}
	const struct pl_kind *kd = &kinds[k];
	if (!pl_check_map(c, root, kd->msg, "the document"))
		return 0;
	if (req_scalar(c, root, "apiVersion", &api, &api_n) < 0)
		return 0;
	const char *const *vers = kd->versions;
	bool api_ok = false;
	for (size_t i = 0; vers[i]; i++)
		api_ok |= !strcmp(vers[i], api);
	if (!api_ok) {
		pl_err(c, PL_E_APIVER, api_n, "unknown apiVersion \"%s\" for %s (accepted: %s%s%s)",
		       api, kind, vers[0], vers[1] ? ", ..." : "", vers[1] ? vers[2] : "");
		return 0;
	}
	yaml_node_t *meta = pl_get(c, root, "metadata");
	bool is_mesh = kd->mesh;
	if (!meta && !is_mesh) {
		pl_err(c, PL_E_REQUIRED, root, "missing required field \"metadata\"");
		return 0;
	}
	if (meta) {
		if (!pl_check_map(c, meta, "ObjectMeta", "metadata"))
			return 0;
		int r = is_mesh ? pl_str(c, meta, "name", &name, &name_n)
				: pl_req_str(c, meta, "name", &name, &name_n);
		if (r < 0)
			return 0;
		if (name && !valid_name(name)) {
			pl_err(c, PL_E_VALUE, name_n,
			       "bad name \"%s\": lower-case letters, digits, '-' and '.' only", name);
			return 0;
		}
		/* one copy per namespace, not per object (pl_str's checks) */
		ns_n = pl_get(c, meta, "namespace");
		if (ns_n && !pl_is_null(ns_n)) {
			const char *v = pl_scalar(ns_n);

			if (!v) {
				pl_err(c, PL_E_TYPE, ns_n, "namespace must be a string");
				return 0;
			}
			if (!(ns = pl_intern(c, v)))
				return -ENOMEM;
		}
		if (ns && !valid_name(ns)) {
			pl_err(c, PL_E_VALUE, ns_n, "bad namespace \"%s\"", ns);
			return 0;
		}
		yaml_node_t *ann = pl_get(c, meta, "annotations");
		if (ann && !pl_is_null(ann) && ann->type != YAML_MAPPING_NODE) {
			pl_err(c, PL_E_TYPE, ann, "annotations must be a map of strings");
			return 0;
		}
		if (ann && !pl_is_null(ann))
			check_annotations(c, ann, kind);
	}
	if (!name)
		name = sl_arena_strdup(c->a, "mesh");
	if (!ns)
		ns = pl_intern(c, "default");
	if (!name || !ns)
		return -ENOMEM;
	yaml_node_t *spec = pl_get(c, root, "spec");
	if (kd->spec && (!spec || pl_is_null(spec))) {
		pl_err(c, PL_E_REQUIRED, root, "missing required field \"spec\"");
		return 0;
	}
	struct sl_pos pos = pl_pos(c, root);
	/* what changed, for diff: the spec, or the whole object without one */
	int r = add_object(c, kd->kind, ns, name, pl_hash(c, spec && kd->spec ? spec : root), pos);
	if (r)
		return r;
	struct pl_doc d = { .root = root, .spec = spec, .meta = meta, .name = name, .ns = ns,
			    .pos = pos };
	return kd->parse(c, &d);
}

/* Nesting deeper than any policy needs, found with libyaml's scanner
 * before the document is composed: libyaml takes time quadratic in the
 * depth to load (a 260 KB file nested 130,000 deep took 32 s), the scan
 * stops at the first token too deep. 0, or -1 with the error added. */
#define PL_YAML_MAX_DEPTH 64
static int depth_check(struct pl_ctx *c, const char *buf, size_t len)
{
	yaml_parser_t sp;
	yaml_token_t t;
	int depth = 0, rc = 0;

	if (!yaml_parser_initialize(&sp))
		return 0;	/* the loader reports what it cannot do */
	yaml_parser_set_input_string(&sp, (const unsigned char *)buf, len);
	for (;;) {
		if (!yaml_parser_scan(&sp, &t))
			break;	/* a syntax error: the loader reports it */
		switch (t.type) {
		case YAML_BLOCK_SEQUENCE_START_TOKEN:
		case YAML_BLOCK_MAPPING_START_TOKEN:
		case YAML_FLOW_SEQUENCE_START_TOKEN:
		case YAML_FLOW_MAPPING_START_TOKEN:
			depth++;
			break;
		case YAML_BLOCK_END_TOKEN:
		case YAML_FLOW_SEQUENCE_END_TOKEN:
		case YAML_FLOW_MAPPING_END_TOKEN:
			depth--;
			break;
		default:
			break;
		}
		if (depth > PL_YAML_MAX_DEPTH) {
			struct sl_pos p = { .file = c->file, .line = (int)t.start_mark.line + 1,
					    .col = (int)t.start_mark.column + 1 };

			sl_diag_add(c->d, SL_SEV_ERROR, PL_E_LIMIT, p,
				    "YAML nested more than %d levels deep (no policy needs that many)",
				    PL_YAML_MAX_DEPTH);
			rc = -1;
		}
		if (t.type == YAML_STREAM_END_TOKEN || rc) {
			yaml_token_delete(&t);
			break;
		}
		yaml_token_delete(&t);
	}
	yaml_parser_delete(&sp);
	return rc;
}

/* All documents of one buffer. A syntax error stops this buffer (libyaml
 * cannot resume) but other files are still checked. */
static int load_buf(struct pl_ctx *c, const char *name, const char *buf, size_t len)
{
	yaml_parser_t parser;
	int rc = 0;
	c->file = sl_arena_strdup(c->a, name);
	if (!c->file)
		return -ENOMEM;
	if (depth_check(c, buf, len))
		return 0;
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	for (;;) {
		yaml_document_t doc;
		if (!yaml_parser_load(&parser, &doc)) {
			struct sl_pos p = { .file = c->file,
					    .line = (int)parser.problem_mark.line + 1,
					    .col = (int)parser.problem_mark.column + 1 };
			sl_diag_add(c->d, SL_SEV_ERROR, PL_E_YAML, p, "YAML syntax error: %s%s%s",
				    parser.problem ? parser.problem : "cannot parse",
				    parser.context ? " " : "", parser.context ? parser.context : "");
			break;
		}
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		if (!root) {
			yaml_document_delete(&doc);
			break;
		}
		size_t nodes = (size_t)(doc.nodes.top - doc.nodes.start);
		c->doc = &doc;
		c->budget = nodes * 4 + 4096;
		c->over_budget = false;
		rc = load_doc(c, root, false);
		c->doc = NULL;
		yaml_document_delete(&doc);
		if (rc)
			break;
	}
	yaml_parser_delete(&parser);
	return rc;
}

static void io_error(struct pl_ctx *c, const char *path, const char *what, int err)
{
	struct sl_pos p = { .file = path, .line = 0, .col = 0 };
	sl_diag_add(c->d, SL_SEV_ERROR, PL_E_IO, p, "%s: %s", what, strerror(err));
}

/* path "-" reads standard input (named "<stdin>" in messages). */
static int load_file(struct pl_ctx *c, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = sl_file_read(path, &buf, &len);
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		io_error(c, path, "cannot read", -rc);
		return 0;
	}
	c->nfiles++;
	rc = load_buf(c, strcmp(path, "-") ? path : "<stdin>", buf, len);
	free(buf);
	return rc;
}

static void ctx_free_raw(struct pl_ctx *c)
{
	sl_arena_free(c->tmp);
	c->tmp = NULL;
	free(c->se);
	free(c->dr);
	free(c->vs);
	free(c->we);
	free(c->gw);
	free(c->sc);
	free(c->obj);
	free(c->ks);
	free(c->kl);
	free(c->kp);
	free(c->intern);
	c->intern = NULL;
	free(c->lsets);
	c->lsets = NULL;
	c->nintern = c->cintern = 0;
}

/* Shared tail of both loaders: resolve when the documents were clean. */
static int finish(struct pl_ctx *c, int rc, struct sl_model **out)
{
	struct sl_model *m = NULL;
	if (!rc && c->d->nerrors == 0) {
		m = sl_arena_alloc(c->a, sizeof(*m));
		if (!m)
			rc = -ENOMEM;
		else
			rc = pl_resolve(c, m);
	}
	ctx_free_raw(c);
	if (rc || c->d->nerrors) {
		sl_arena_free(c->a);
		if (rc == -ENOMEM) {
			struct sl_pos p = { .file = "<sluice>", .line = 0, .col = 0 };
			sl_diag_add(c->d, SL_SEV_ERROR, PL_E_LIMIT, p, "out of memory");
		}
		return rc == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	m->arena = c->a;
	*out = m;
	return 0;
}

int sl_model_load(const char *const *paths, size_t npaths, struct sl_diags *diags,
		  struct sl_model **out)
{
	struct pl_ctx c = { .d = diags };
	*out = NULL;
	c.a = sl_arena_new();
	c.tmp = sl_arena_new();
	if (!c.a || !c.tmp) {
		sl_arena_free(c.a);
		sl_arena_free(c.tmp);
		return -ENOMEM;
	}
	struct sl_file_entry *files = NULL;
	size_t nfiles = 0, *per_arg = calloc(npaths ? npaths : 1, sizeof(*per_arg));
	int rc = per_arg ? sl_files_expand(paths, npaths, &files, &nfiles) : -ENOMEM;
	for (size_t i = 0; i < nfiles && !rc; i++) {
		if (files[i].err) {
			io_error(&c, files[i].path, files[i].what, files[i].err);
			continue;
		}
		per_arg[files[i].arg]++;
		rc = load_file(&c, files[i].path);
	}
	for (size_t i = 0; i < npaths && !rc; i++) {
		struct stat st;
		if (!per_arg[i] && stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			/* applying an empty set would remove everything: say so */
			struct sl_pos p = { .file = paths[i], .line = 0, .col = 0 };
			sl_diag_add(diags, SL_SEV_WARNING, PL_W_NOFILES, p,
				    "no *.yaml or *.yml files in this directory");
		}
	}
	sl_files_free(files, nfiles);
	free(per_arg);
	return finish(&c, rc, out);
}

int sl_model_load_buf(const char *name, const char *buf, size_t len, struct sl_diags *diags,
		      struct sl_model **out)
{
	struct pl_ctx c = { .d = diags };
	*out = NULL;
	c.a = sl_arena_new();
	c.tmp = sl_arena_new();
	if (!c.a || !c.tmp) {
		sl_arena_free(c.a);
		sl_arena_free(c.tmp);
		return -ENOMEM;
	}
	int rc = load_buf(&c, name ? name : "<input>", buf, len);
	return finish(&c, rc, out);
}

void sl_model_free(struct sl_model *m)
{
	if (m)
		sl_arena_free(m->arena);
}
