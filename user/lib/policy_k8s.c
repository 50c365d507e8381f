// SPDX-License-Identifier: Apache-2.0
/*
 * Kubernetes kinds in the policy front-end, as `kubectl get -o yaml` or a
 * manifest folder holds them:
 *  - v1 Service: clusterIP/clusterIPs are the VIPs (none for a headless
 *    Service: clients reach pod IPs themselves), ports with targetPort by
 *    number or by name, selector; type ExternalName becomes a DNS entry for
 *    its externalName (sluiced resolves it);
 *  - discovery.k8s.io/v1 EndpointSlice: the Service's endpoints (label
 *    kubernetes.io/service-name), ready and not terminating only — a
 *    terminating endpoint takes no new connection, established ones stay
 *    (steering happens at connect()); when none is ready, the terminating
 *    ones still serving take them (kube-proxy's fallback);
 *  - v1 Pod: labels and podIP; the endpoints' labels (through the slice's
 *    targetRef), and the endpoints of a Service that has no EndpointSlice
 *    (selected by labels: Running, not being deleted).
 * pl_resolve_k8s turns each Service into the ServiceEntry it stands for
 * (host NAME.NAMESPACE.svc.cluster.local, MESH_INTERNAL, STATIC) before the
 * rest of resolution, so DestinationRules, VirtualServices and the compiler
 * see one kind of service. What is read and what is not:
 * docs/policy-reference.md, "Kubernetes kinds".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/policy_int.h"

static const char *const proto_k8s[] = { "TCP", "UDP", "SCTP", NULL };

/* One ServicePort of a Kubernetes Service. */
static int parse_k8s_port(struct pl_ctx *c, yaml_node_t *n, struct sl_port *p, char **target)
{
	yaml_node_t *tp;
	char *app = NULL;
	int proto = 0, r;

	if (!pl_check_map(c, n, "K8sServicePort", "port"))
		return -1;
	p->pos = pl_pos(c, n);
	r = pl_port(c, n, "port", &p->number);
	if (r == 0)
		pl_err(c, PL_E_REQUIRED, n, "missing required field \"port\"");
	if (r <= 0)
		return -1;
	if (pl_str(c, n, "name", &p->name, NULL) < 0 || pl_str(c, n, "appProtocol", &app, NULL) < 0)
		return -1;
	if (!p->name)	/* a single unnamed port: Kubernetes allows it */
		p->name = sl_arena_printf(c->a, "port-%u", p->number);
	if (pl_enum(c, n, "protocol", "K8sServicePort", proto_k8s, &proto) < 0)
		return -1;
	if (proto == 2) {
		pl_err(c, PL_E_UNSUP, pl_get(c, n, "protocol"), "protocol SCTP is not supported");
		return -1;
	}
	/* Istio: appProtocol first, then the port name's prefix */
	if (proto == 1)
		p->proto = SL_PROTO_UDP;
	else if (app && !strcmp(app, "kubernetes.io/h2c"))
		p->proto = SL_PROTO_HTTP2;
	else
		p->proto = pl_proto_from_name(app ? app : p->name);
	tp = pl_get(c, n, "targetPort");
	*target = NULL;
	if (tp && !pl_is_null(tp)) {
		const char *s = pl_scalar(tp);
		char *end;
		unsigned long v = s ? strtoul(s, &end, 10) : 0;

		if (!s) {
			pl_err(c, PL_E_TYPE, tp, "targetPort must be a number or a port name");
			return -1;
		}
		if (*s >= '0' && *s <= '9') {
			if (*end || v == 0 || v > 65535) {
				pl_err(c, PL_E_PORT, tp, "targetPort %s out of range (1..65535)", s);
				return -1;
			}
			p->target_port = (uint16_t)v;
		} else {
			*target = sl_arena_strdup(c->a, s);	/* a container port's name */
		}
	}
	return 0;
}

/* A string read while resolving only: in the load's scratch arena, not the
 * model's (pl_str otherwise). */
static int str_scratch(struct pl_ctx *c, yaml_node_t *map, const char *key, char **out)
{
	struct sl_arena *keep = c->a;
	int rc;

	c->a = c->tmp;
	rc = pl_str(c, map, key, out, NULL);
	c->a = keep;
	return rc;
}

static int push_k8s_svc(struct pl_ctx *c, struct pl_k8s_svc **out)
{
	if (pl_grow((void **)&c->ks, &c->cks, c->nks, sizeof(*c->ks)))
		return -ENOMEM;
	*out = &c->ks[c->nks++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

int pl_parse_k8s_service(struct pl_ctx *c, const struct pl_doc *d)
{
	static const char *const types[] = { "ClusterIP", "NodePort", "LoadBalancer", "ExternalName",
					     NULL };
	yaml_node_t *spec = d->spec, *ips, *ports;
	struct pl_k8s_svc *s;
	char *cip = NULL, *aff = NULL, *itp = NULL;
	int type = 0;

	if (!pl_check_map(c, spec, "K8sServiceSpec", "Service spec"))
		return 0;
	if (push_k8s_svc(c, &s))
		return -ENOMEM;
	s->name = (char *)d->name;
	s->ns = (char *)d->ns;
	s->pos = d->pos;
	if (pl_enum(c, spec, "type", "K8sServiceSpec", types, &type) < 0)
		return 0;
	if (type == 3) {
		if (pl_req_str(c, spec, "externalName", &s->external_name, NULL) < 0)
			return 0;
		if (!sl_dns_name_valid(s->external_name))
			pl_err(c, PL_E_VALUE, pl_get(c, spec, "externalName"),
			       "externalName \"%s\" is not a DNS name", s->external_name);
	}
	if (type == 1 || type == 2)
		pl_warn(c, PL_W_K8S, pl_get(c, spec, "type"), "Service %s/%s: type %s is served at "
			"its cluster IP only (node ports and load balancer addresses are not "
			"programmed)", d->ns, d->name, types[type]);
	/* the VIPs: clusterIPs (dual stack), else clusterIP; "None" = headless */
	ips = pl_get(c, spec, "clusterIPs");
	if (pl_str(c, spec, "clusterIP", &cip, NULL) < 0)
		return 0;
	if (ips && !pl_is_null(ips) && ips->type == YAML_SEQUENCE_NODE) {
		s->vips = sl_arena_calloc(c->a, pl_seq_len(ips) + 1, sizeof(*s->vips));
		if (!s->vips)
			return -ENOMEM;
		for (size_t i = 0; i < pl_seq_len(ips); i++) {
			yaml_node_t *n = pl_seq_at(c, ips, i);
			const char *v = pl_scalar(n);

			if (v && !strcmp(v, "None"))
				continue;
			if (pl_ip(c, n, &s->vips[s->nvips]) == 0)
				s->nvips++;
		}
	} else if (cip && strcmp(cip, "None")) {
		s->vips = sl_arena_calloc(c->a, 2, sizeof(*s->vips));
		if (!s->vips)
			return -ENOMEM;
		if (pl_ip(c, pl_get(c, spec, "clusterIP"), &s->vips[0]) == 0)
			s->nvips = 1;
	}
	ports = pl_get(c, spec, "ports");
	if (ports && !pl_is_null(ports)) {
		if (ports->type != YAML_SEQUENCE_NODE) {
			pl_err(c, PL_E_TYPE, ports, "ports must be a list");
			return 0;
		}
		s->nports = pl_seq_len(ports);
		s->ports = sl_arena_calloc(c->a, s->nports + 1, sizeof(*s->ports));
		s->target_names = sl_arena_calloc(c->tmp, s->nports + 1, sizeof(*s->target_names));
		if (!s->ports || !s->target_names)
			return -ENOMEM;
		for (size_t i = 0; i < s->nports; i++)
			parse_k8s_port(c, pl_seq_at(c, ports, i), &s->ports[i], &s->target_names[i]);
	}
	if (type != 3 && !s->nports)
		pl_err(c, PL_E_REQUIRED, spec, "Service %s/%s has no ports", d->ns, d->name);
	yaml_node_t *sel = pl_get(c, spec, "selector");
	if (sel && !pl_is_null(sel)) {
		if (pl_labels(c, spec, "selector", &s->selector) < 0)
			return 0;
		s->has_selector = s->selector.n > 0;
	}
	if (pl_bool(c, spec, "publishNotReadyAddresses", &s->publish_not_ready) < 0)
		return 0;
	/* kube-proxy features Sluice does not do: said, not silently dropped */
	if (pl_str(c, spec, "sessionAffinity", &aff, NULL) < 0 ||
	    pl_str(c, spec, "internalTrafficPolicy", &itp, NULL) < 0)
		return 0;
	if (aff && strcmp(aff, "None"))
		pl_err(c, PL_E_UNSUP, pl_get(c, spec, "sessionAffinity"), "Service %s/%s: "
		       "sessionAffinity %s is not supported (use a DestinationRule with "
		       "consistentHash)", d->ns, d->name, aff);
	if (itp && strcmp(itp, "Cluster"))
		pl_err(c, PL_E_UNSUP, pl_get(c, spec, "internalTrafficPolicy"), "Service %s/%s: "
		       "internalTrafficPolicy %s is not supported yet", d->ns, d->name, itp);
	return 0;
}

int pl_parse_endpoint_slice(struct pl_ctx *c, const struct pl_doc *d)
{
	static const char *const families[] = { "IPv4", "IPv6", "FQDN", NULL };
	yaml_node_t *root = d->root, *eps, *ports, *labels;
	struct pl_k8s_slice *s;
	int fam = 0;

	if (pl_grow((void **)&c->kl, &c->ckl, c->nkl, sizeof(*c->kl)))
		return -ENOMEM;
	s = &c->kl[c->nkl++];
	memset(s, 0, sizeof(*s));
	s->name = (char *)d->name;
	s->ns = (char *)d->ns;
	s->pos = d->pos;
	labels = d->meta ? pl_get(c, d->meta, "labels") : NULL;
	if (labels && labels->type == YAML_MAPPING_NODE &&
	    pl_str(c, labels, "kubernetes.io/service-name", &s->service, NULL) < 0)
		return 0;
	if (!s->service)
		pl_warn(c, PL_W_K8S, d->meta ? d->meta : root, "EndpointSlice %s/%s has no "
			"kubernetes.io/service-name label: it belongs to no Service, skipped",
			d->ns, d->name);
	if (pl_enum(c, root, "addressType", "EndpointSlice", families, &fam) < 0)
		return 0;
	if (fam == 2) {
		pl_err(c, PL_E_UNSUP, pl_get(c, root, "addressType"),
		       "EndpointSlice addressType FQDN is not supported yet");
		return 0;
	}
	ports = pl_get(c, root, "ports");
	if (ports && !pl_is_null(ports) && ports->type == YAML_SEQUENCE_NODE) {
		/* raw: slice_ports copies them for the endpoints */
		s->ports = sl_arena_calloc(c->tmp, pl_seq_len(ports) + 1, sizeof(*s->ports));
		if (!s->ports)
			return -ENOMEM;
		for (size_t i = 0; i < pl_seq_len(ports); i++) {
			yaml_node_t *p = pl_seq_at(c, ports, i);
			struct sl_named_port *np = &s->ports[s->nports];

			if (!pl_check_map(c, p, "EndpointPort", "port"))
				continue;
			if (pl_str(c, p, "name", &np->name, NULL) < 0 ||
			    pl_port(c, p, "port", &np->number) <= 0)
				continue;
			if (!np->name)
				np->name = "";	/* the Service's one unnamed port */
			s->nports++;
		}
	}
	eps = pl_get(c, root, "endpoints");
	if (!eps || pl_is_null(eps))
		return 0;
	if (eps->type != YAML_SEQUENCE_NODE) {
		pl_err(c, PL_E_TYPE, eps, "endpoints must be a list");
		return 0;
	}
	/* raw: the Service's endpoints are made from them (service_entry) */
	s->eps = sl_arena_calloc(c->tmp, pl_seq_len(eps) + 1, sizeof(*s->eps));
	if (!s->eps)
		return -ENOMEM;
	for (size_t i = 0; i < pl_seq_len(eps); i++) {
		yaml_node_t *e = pl_seq_at(c, eps, i), *addrs, *cond, *ref;
		struct pl_k8s_ep *ep = &s->eps[s->neps];

		if (!pl_check_map(c, e, "Endpoint", "endpoint"))
			continue;
		ep->pos = pl_pos(c, e);
		ep->ready = true;	/* Kubernetes: unset means ready */
		addrs = pl_get(c, e, "addresses");
		if (!addrs || addrs->type != YAML_SEQUENCE_NODE || !pl_seq_len(addrs)) {
			pl_err(c, PL_E_REQUIRED, e, "an endpoint needs addresses");
			continue;
		}
		/* all fungible: the first is the one used (as kube-proxy) */
		if (pl_ip(c, pl_seq_at(c, addrs, 0), &ep->ip) < 0)
			continue;
		/* interned: the Pod's podIP is the same string */
		if (!(ep->address = pl_intern(c, pl_scalar(pl_seq_at(c, addrs, 0)))))
			return -ENOMEM;
		cond = pl_get(c, e, "conditions");
		if (cond && !pl_is_null(cond) && pl_check_map(c, cond, "EndpointConditions", "conditions") &&
		    (pl_bool(c, cond, "ready", &ep->ready) < 0 ||
		     pl_bool(c, cond, "terminating", &ep->terminating) < 0))
			continue;
		ep->serving = ep->ready;
		if (cond && !pl_is_null(cond) && cond->type == YAML_MAPPING_NODE &&
		    pl_bool(c, cond, "serving", &ep->serving) < 0)
			continue;
		ref = pl_get(c, e, "targetRef");
		if (ref && !pl_is_null(ref) && ref->type == YAML_MAPPING_NODE) {
			char *kind = NULL;

			str_scratch(c, ref, "kind", &kind);
			if (kind && !strcmp(kind, "Pod"))
				str_scratch(c, ref, "name", &ep->pod);
		}
		s->neps++;
	}
	return 0;
}

int pl_parse_pod(struct pl_ctx *c, const struct pl_doc *d)
{
	yaml_node_t *status = pl_get(c, d->root, "status"), *spec = d->spec, *ctrs, *ipn;
	struct pl_k8s_pod *p;
	char *phase = NULL;

	if (pl_grow((void **)&c->kp, &c->ckp, c->nkp, sizeof(*c->kp)))
		return -ENOMEM;
	p = &c->kp[c->nkp++];
	memset(p, 0, sizeof(*p));
	p->name = (char *)d->name;
	p->ns = (char *)d->ns;
	p->pos = d->pos;
	if (d->meta && (pl_labels(c, d->meta, "labels", &p->labels) < 0 ||
			pl_str(c, d->meta, "uid", &p->uid, NULL) < 0))
		return 0;
	p->deleting = d->meta && pl_get(c, d->meta, "deletionTimestamp") &&
		      !pl_is_null(pl_get(c, d->meta, "deletionTimestamp"));
	if (status && !pl_is_null(status) && status->type == YAML_MAPPING_NODE) {
		str_scratch(c, status, "phase", &phase);	/* read once, here */
		ipn = pl_get(c, status, "podIP");
		if (ipn && !pl_is_null(ipn) && pl_ip(c, ipn, &p->ip) == 0)
			p->address = pl_intern(c, pl_scalar(ipn));	/* its endpoint's too */
	}
	p->running = phase && !strcmp(phase, "Running");
	/* named container ports, for a Service's named targetPort */
	ctrs = spec && spec->type == YAML_MAPPING_NODE ? pl_get(c, spec, "containers") : NULL;
	if (ctrs && ctrs->type == YAML_SEQUENCE_NODE) {
		size_t n = 0;

		for (size_t i = 0; i < pl_seq_len(ctrs); i++) {
			yaml_node_t *ps = pl_get(c, pl_seq_at(c, ctrs, i), "ports");
			n += ps && ps->type == YAML_SEQUENCE_NODE ? pl_seq_len(ps) : 0;
		}
		p->cports = sl_arena_calloc(c->tmp, n + 1, sizeof(*p->cports));	/* raw */
		if (!p->cports)
			return -ENOMEM;
		for (size_t i = 0; i < pl_seq_len(ctrs); i++) {
			yaml_node_t *ps = pl_get(c, pl_seq_at(c, ctrs, i), "ports");

			for (size_t j = 0; ps && ps->type == YAML_SEQUENCE_NODE && j < pl_seq_len(ps); j++) {
				yaml_node_t *cp = pl_seq_at(c, ps, j);
				struct sl_named_port *np = &p->cports[p->ncports];

				if (cp->type != YAML_MAPPING_NODE)
					continue;
				if (pl_str(c, cp, "name", &np->name, NULL) > 0 &&
				    pl_port(c, cp, "containerPort", &np->number) > 0)
					p->ncports++;
			}
		}
	}
	return 0;
}

/* (namespace, name) order: c->kp sorted by pod, c->kl by Service
 * (pl_resolve_k8s), so a Service finds its slices and a slice its Pods by
 * binary search, not by a walk of all of them. */
static int nsname(const char *ans, const char *an, const char *bns, const char *bn)
{
	int r = strcmp(ans, bns);

	return r ? r : strcmp(an ? an : "", bn ? bn : "");
}

static int pod_cmp(const void *a, const void *b)
{
	const struct pl_k8s_pod *x = a, *y = b;

	return nsname(x->ns, x->name, y->ns, y->name);
}

static int slice_cmp(const void *a, const void *b)
{
	const struct pl_k8s_slice *x = a, *y = b;

	return nsname(x->ns, x->service, y->ns, y->service);
}

static const struct pl_k8s_pod *find_pod(const struct pl_ctx *c, const char *ns, const char *name)
{
	struct pl_k8s_pod key = { .ns = (char *)ns, .name = (char *)name };

	return c->nkp ? bsearch(&key, c->kp, c->nkp, sizeof(*c->kp), pod_cmp) : NULL;
}

/* The slices of Service ns/name: [*first, return value). */
static size_t slices_of(const struct pl_ctx *c, const char *ns, const char *name, size_t *first)
{
	size_t lo = 0, hi = c->nkl, end;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (nsname(c->kl[mid].ns, c->kl[mid].service, ns, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < c->nkl && c->kl[end].service &&
		       !nsname(c->kl[end].ns, c->kl[end].service, ns, name); end++)
		;
	*first = lo;
	return end;
}

/* Endpoint port overrides by service port name, for a pod selected by a
 * Service without EndpointSlices: a named targetPort is the pod's container
 * port of that name (none: the pod does not serve that port). */
static int pod_ports(struct pl_ctx *c, const struct pl_k8s_svc *s, const struct pl_k8s_pod *p,
		     struct sl_endpoint *e)
{
	e->ports = sl_arena_calloc(c->a, s->nports + 1, sizeof(*e->ports));
	if (!e->ports)
		return -ENOMEM;
	for (size_t i = 0; i < s->nports; i++) {
		if (!s->target_names[i])
			continue;
		for (size_t j = 0; j < p->ncports; j++)
			if (!strcmp(p->cports[j].name, s->target_names[i])) {
				e->ports[e->nports].name = s->ports[i].name;
				e->ports[e->nports++].number = p->cports[j].number;
			}
	}
	return 0;
}

/* A slice's ports by service port name; the one unnamed port of a
 * Service (named "port-N" here) is "" in its slices. */
static struct sl_named_port *slice_ports(struct pl_ctx *c, const struct pl_k8s_svc *s,
					 const struct pl_k8s_slice *l)
{
	struct sl_named_port *p = sl_arena_calloc(c->a, l->nports + 1, sizeof(*p));

	if (!p)
		return NULL;
	for (size_t i = 0; i < l->nports; i++) {
		p[i] = l->ports[i];
		if (!p[i].name[0] && s->nports == 1)
			p[i].name = s->ports[0].name;
	}
	return p;
}

/* Pod p is an endpoint of Service s (one without EndpointSlices). */
static bool pod_selected(const struct pl_k8s_svc *s, const struct pl_k8s_pod *p)
{
	return !strcmp(p->ns, s->ns) && p->running && !p->deleting && p->ip.family &&
	       sl_labels_select(&s->selector, &p->labels);
}

/* The ServiceEntry a Service stands for, with its endpoints. */
/* Does endpoint ep take new connections? Ready (or any, with
 * publishNotReadyAddresses) and not terminating; in the fallback (no such
 * endpoint in the Service), terminating and still serving. */
static bool ep_takes(const struct pl_k8s_ep *ep, bool publish_not_ready, bool fallback)
{
	if (fallback)
		return ep->terminating && ep->serving;
	return !ep->terminating && (ep->ready || publish_not_ready);
}

static int service_entry(struct pl_ctx *c, const struct pl_k8s_svc *s)
{
	struct pl_se *se;
	size_t n = 0, i, j;

	if (pl_grow((void **)&c->se, &c->cse, c->nse, sizeof(*c->se)))
		return -ENOMEM;
	se = &c->se[c->nse++];
	memset(se, 0, sizeof(*se));
	se->kind = "Service";
	se->t.name = s->name;
	se->t.ns = s->ns;
	se->t.pos = s->pos;
	se->t.vhost = -1;
	se->t.location = SL_LOC_MESH_INTERNAL;
	se->t.resolution = SL_RES_STATIC;
	se->t.vips = s->vips;
	se->t.nvips = s->nvips;
	se->t.ports = s->ports;
	se->t.nports = s->nports;
	se->hosts = sl_arena_calloc(c->tmp, 2, sizeof(*se->hosts));	/* raw */
	se->host_pos = sl_arena_calloc(c->tmp, 2, sizeof(*se->host_pos));
	if (!se->hosts || !se->host_pos)
		return -ENOMEM;
	se->hosts[0] = s->name;
	se->host_pos[0] = s->pos;
	se->nhosts = 1;
	if (s->external_name) {
		/* a CNAME in cluster DNS: a DNS entry for the external name */
		se->t.resolution = SL_RES_DNS;
		se->t.location = SL_LOC_MESH_EXTERNAL;
		se->t.endpoints = sl_arena_calloc(c->a, 2, sizeof(*se->t.endpoints));
		if (!se->t.endpoints)
			return -ENOMEM;
		se->t.endpoints[0] = (struct sl_endpoint){ .address = s->external_name,
							   .dns_name = true, .weight = 1,
							   .workload = -1, .pos = s->pos };
		se->t.nendpoints = 1;
		return 0;
	}
	size_t first, end = slices_of(c, s->ns, s->name, &first);
	bool fallback = false;

	/* the endpoints that take connections, exactly (a model of 50,000
	 * endpoints held one spare slot per slice otherwise, and one more
	 * per service, 1 MB at 10,000, as a slot for n = 0); none ready:
	 * the terminating ones still serving (kube-proxy's fallback) */
	for (i = first; i < end; i++)
		for (j = 0; j < c->kl[i].neps; j++)
			n += ep_takes(&c->kl[i].eps[j], s->publish_not_ready, false);
	if (!n) {
		fallback = true;
		for (i = first; i < end; i++)
			for (j = 0; j < c->kl[i].neps; j++)
				n += ep_takes(&c->kl[i].eps[j], s->publish_not_ready, true);
	}
	if (end > first) {
		se->t.endpoints = sl_arena_calloc(c->a, n ? n : 1, sizeof(*se->t.endpoints));
		if (!se->t.endpoints)
			return -ENOMEM;
		for (i = first; i < end; i++) {
			const struct pl_k8s_slice *l = &c->kl[i];
			struct sl_named_port *ports;

			if (!(ports = slice_ports(c, s, l)))
				return -ENOMEM;
			for (j = 0; j < l->neps; j++) {
				const struct pl_k8s_ep *ep = &l->eps[j];
				const struct pl_k8s_pod *pod = ep->pod ? find_pod(c, s->ns, ep->pod) : NULL;
				struct sl_endpoint *e = &se->t.endpoints[se->t.nendpoints];

				/* terminating or not ready: no new connection */
				if (!ep_takes(ep, s->publish_not_ready, fallback))
					continue;
				*e = (struct sl_endpoint){ .ip = ep->ip, .address = ep->address,
							   .ports = ports, .nports = l->nports,
							   .weight = 1, .workload = -1, .pos = ep->pos };
				if (pod)
					e->labels = pod->labels;
				se->t.nendpoints++;
			}
		}
		return 0;
	}
	if (!s->has_selector)
		return 0;	/* endpoints managed elsewhere, none given */
	se->t.pod_selected = true;
	/* the Pods it selects, counted first: room for them, not for every
	 * Pod of the cluster */
	for (i = 0; i < c->nkp; i++)
		n += pod_selected(s, &c->kp[i]);
	se->t.endpoints = sl_arena_calloc(c->a, n ? n : 1, sizeof(*se->t.endpoints));
	if (!se->t.endpoints)
		return -ENOMEM;
	for (i = 0; i < c->nkp; i++) {
		const struct pl_k8s_pod *p = &c->kp[i];
		struct sl_endpoint *e = &se->t.endpoints[se->t.nendpoints];

		if (!pod_selected(s, p))
			continue;
		*e = (struct sl_endpoint){ .ip = p->ip, .address = p->address, .labels = p->labels,
					   .weight = 1, .workload = -1, .pos = p->pos };
		if (pod_ports(c, s, p, e))
			return -ENOMEM;
		se->t.nendpoints++;
	}
	return 0;
}

/* Pods as workloads (clients, for sourceLabels, Sidecar scopes and the
 * metrics' source): a Pod is found as a client by its cgroup, which kubelet
 * names by the Pod's uid, so a Pod without a uid is an endpoint only (the
 * Kubernetes source holds Pods of other nodes so: kube_watch.c). */
int pl_k8s_pod_workloads(struct pl_ctx *c)
{
	for (size_t i = 0; i < c->nkp; i++) {
		const struct pl_k8s_pod *p = &c->kp[i];
		struct sl_workload *w;

		if (!p->uid || !p->uid[0])
			continue;
		if (pl_grow((void **)&c->we, &c->cwe, c->nwe, sizeof(*c->we)))
			return -ENOMEM;
		w = &c->we[c->nwe++];
		memset(w, 0, sizeof(*w));
		w->name = p->name;
		w->ns = p->ns;
		w->ip = p->ip;
		w->address = p->address;
		w->labels = p->labels;
		w->weight = 1;
		w->pod_uid = p->uid;
		w->sidecar = -1;
		w->pos = p->pos;
	}
	return 0;
}

int pl_resolve_k8s(struct pl_ctx *c)
{
	if (c->nkp)
		qsort(c->kp, c->nkp, sizeof(*c->kp), pod_cmp);
	if (c->nkl)
		qsort(c->kl, c->nkl, sizeof(*c->kl), slice_cmp);
	for (size_t i = 0; i < c->nks; i++)
		if (service_entry(c, &c->ks[i]))
			return -ENOMEM;
	return 0;
}
