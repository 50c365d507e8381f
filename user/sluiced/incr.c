/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Incremental apply: some services' endpoints changed (the Kubernetes
 * source saw EndpointSlices or Pods move) and nothing else did. The live
 * model's services take their new endpoints (sl_model_patch_endpoints),
 * the data plane rewrites the live generation where they are
 * (sl_dp_apply_delta), and the source's objects in the desired state are
 * replaced one by one — the cost of the change, not of the whole state.
 * Any failure puts the model back and leaves the data plane as it was; the
 * caller then applies the whole state (state.c), which reports what is
 * wrong as every apply does. The state file follows within a second
 * (sluiced_state_tick), not at every change.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util_sorted.h"
#include "sluiced.h"

void sluiced_patches_free(struct sluiced *d)
{
	for (size_t i = 0; i < d->npatches; i++)
		sl_svc_patch_free(d->patches[i]);
	free(d->patches);
	d->patches = NULL;
	d->npatches = 0;
}

/* Keep patch p (its service's endpoints live in it; room reserved); a
 * previous patch of the same service is no longer pointed at. */
static void keep_patch(struct sluiced *d, struct sl_svc_patch *p)
{
	size_t si = sl_svc_patch_service(p);

	for (size_t i = 0; i < d->npatches; i++)
		if (sl_svc_patch_service(d->patches[i]) == si) {
			sl_svc_patch_free(d->patches[i]);
			d->patches[i] = p;
			return;
		}
	d->patches[d->npatches++] = p;
}

/* The run of parts the source owns, [lo, hi): contiguous (a source's parts
 * are kept together by every apply) and, as the source handed them in,
 * sorted by name — checked once per apply, so a part is found by binary
 * search, not a walk of the whole policy. Cached in d->prange. */
static void own_range(struct sluiced *d, const char *from)
{
	struct sluiced_prange *r = &d->prange;
	size_t i = 0;

	if (r->valid)
		return;
	while (i < d->nparts && strcmp(d->parts[i].from, from))
		i++;
	r->lo = r->hi = i;
	while (r->hi < d->nparts && !strcmp(d->parts[r->hi].from, from))
		r->hi++;
	r->sorted = true;
	for (i = r->hi; i < d->nparts && r->sorted; i++)
		r->sorted = strcmp(d->parts[i].from, from) != 0;	/* contiguous */
	for (i = r->lo + 1; i < r->hi && r->sorted; i++)
		r->sorted = strcmp(d->parts[i - 1].name, d->parts[i].name) < 0;
	r->valid = true;
}

/* Where the part called name is, or would go: *found says which. */
static size_t find_part(struct sluiced *d, const char *from, const char *name, bool *found)
{
	struct sluiced_prange *r;
	size_t lo, i;

	own_range(d, from);
	r = &d->prange;
	if (!r->sorted) {
		for (i = 0; i < d->nparts; i++)
			if (!strcmp(d->parts[i].name, name))
				return *found = true, i;
		return *found = false, d->nparts;
	}
	lo = r->lo + sl_lower_bound(&d->parts[r->lo], r->hi - r->lo, sizeof(*d->parts),
				    offsetof(struct sl_ctl_part, name), name);
	*found = lo < r->hi && !strcmp(d->parts[lo].name, name);
	return lo;
}

/* The desired state's part called name set to data (NULL: removed); a
 * shared text is held by one more reference, not copied. */
static int set_part(struct sluiced *d, const char *name, const char *data, bool shared,
		    const char *from)
{
	struct sluiced_prange *r = &d->prange;
	bool found;
	size_t i = find_part(d, from, name, &found);
	char *copy;

	if (!data) {
		if (!found)
			return 0;
		free(d->parts[i].name);
		sl_ctl_part_drop_data(&d->parts[i]);
		memmove(&d->parts[i], &d->parts[i + 1], (d->nparts - i - 1) * sizeof(*d->parts));
		d->nparts--;
		if (r->sorted)
			r->hi--;
		else
			r->valid = false;
		return 0;
	}
	if (!(copy = shared ? sl_text_ref((char *)data) : strdup(data)))
		return -ENOMEM;
	if (!found) {
		struct sl_ctl_part *v = realloc(d->parts, (d->nparts + 2) * sizeof(*v));
		char *nm = strdup(name);

		if (v)
			d->parts = v;
		if (!v || !nm) {
			free(nm);
			if (shared)
				sl_text_unref(copy);
			else
				free(copy);
			return -ENOMEM;
		}
		memmove(&d->parts[i + 1], &d->parts[i], (d->nparts - i) * sizeof(*d->parts));
		memset(&d->parts[i], 0, sizeof(d->parts[i]));
		d->parts[i].name = nm;
		snprintf(d->parts[i].from, sizeof(d->parts[i].from), "%s", from);
		d->nparts++;
		memset(&d->parts[d->nparts], 0, sizeof(d->parts[d->nparts]));
		if (r->sorted)
			r->hi++;
		else
			r->valid = false;
	}
	sl_ctl_part_drop_data(&d->parts[i]);
	d->parts[i].data = copy;
	d->parts[i].shared = shared;
	d->parts[i].len = shared ? sl_text_len(copy) : strlen(copy);
	return 0;
}

int sluiced_apply_delta(struct sluiced *d, const struct sluiced_delta *dl, char *err)
{
	struct sl_svc_patch **p = calloc(dl->nsvcs + 1, sizeof(*p)), **room;
	uint64_t t0 = dl->t0_us ? dl->t0_us : sluiced_now_us(), t_dp = 0;
	size_t i, k;
	int rc = 0;

	room = realloc(d->patches, (d->npatches + dl->nsvcs + 1) * sizeof(*room));
	if (room)
		d->patches = room;
	if (!p || !room) {
		free(p);
		return -ENOMEM;
	}
	if (!d->model || !d->dp) {
		snprintf(err, SL_DP_ERRLEN, "no live model");
		free(p);
		return -EAGAIN;
	}
	for (i = 0; i < dl->nsvcs && !rc; i++) {
		rc = sl_model_patch_endpoints(d->model, dl->svcs[i], dl->srcs[i], dl->src_si[i], &p[i]);
		if (rc == -EAGAIN)
			snprintf(err, SL_DP_ERRLEN, "%s: a subset gains its first endpoint or loses "
				 "its last", d->model->services[dl->svcs[i]].host);
		if (!rc)
			dl->srcs[i] = NULL;	/* the patch owns it */
	}
	t_dp = sluiced_now_us();
	if (!rc && dl->nsvcs)
		rc = sl_dp_apply_delta(d->dp, d->model, dl->svcs, dl->nsvcs, err);
	t_dp = sluiced_now_us() - t_dp;
	if (rc) {
		for (k = dl->nsvcs; k-- > 0;)
			if (p[k])
				sl_model_patch_undo(d->model, p[k]);
		free(p);
		return rc;
	}
	/* live: from here the daemon's state follows */
	for (i = 0; i < dl->nsvcs; i++)
		keep_patch(d, p[i]);
	free(p);
	for (i = 0; i < dl->nparts; i++)
		if (set_part(d, dl->parts[i].name, dl->parts[i].data, dl->parts[i].shared, dl->from)) {
			sluiced_err("incremental apply: out of memory updating the desired state; "
				    "the next change applies everything");
			d->delta_broken = true;
		}
	sluiced_state_mark_stale(d);
	if (dl->nsvcs)
		sluiced_stats_gc_schedule(d);	/* backends may have gone */
	d->applies++;
	d->incr_applies++;
	d->last_apply_us = sluiced_now_us() - t0;
	sluiced_log("apply generation %u (incremental, source %s): %zu objects changed, %zu "
		    "services rewritten, %.2f ms (find %.2f, load %.2f, data plane %.2f)",
		    sl_dp_generation(d->dp), dl->from, dl->nparts, dl->nsvcs,
		    (double)d->last_apply_us / 1000.0, (double)dl->find_us / 1000.0,
		    (double)dl->load_us / 1000.0, (double)t_dp / 1000.0);
	return 0;
}
