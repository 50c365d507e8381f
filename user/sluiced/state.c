// SPDX-License-Identifier: Apache-2.0
/*
 * The desired state and how it becomes live.
 *
 * Rule (docs/operations.md): each source owns its objects and the desired
 * state is their union — the policy directory (at start, and each time it
 * changes) owns what its files hold, `sluicectl apply`/`delete` own what was
 * applied. A source's new set replaces its own share only; the same object
 * from two sources is refused naming both (the front-end's duplicate
 * check). Every part of the snapshot carries its owner ("# from: "), so a
 * restarted daemon keeps the shares apart.
 *
 * Every apply validates the complete snapshot text (all sources joined) with
 * the policy front-end and compiles it into a new data-plane generation;
 * refusal leaves the previous generation steering. The snapshot is written
 * to <state-dir>/snapshot.yaml atomically (tmp + rename) after the flip, so
 * sluice-http and a restarted sluiced read exactly what is live.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "sluiced.h"
#include "view.h"

#define STATE_HDR "# sluice-state: "

const char *sluiced_source_name(enum sluiced_source s)
{
	switch (s) {
	case SRC_POLICY_DIR:
		return "policy-dir";
	case SRC_APPLY:
		return "apply";
	case SRC_KUBERNETES:
		return "kubernetes";
	default:
		return "none";
	}
}

const char *sluiced_credentials_dir(const struct sluiced *d, char *buf, size_t len)
{
	if (!d->o.kubernetes)
		return NULL;
	snprintf(buf, len, "%s/credentials", d->o.state_dir);
	return buf;
}

void sluiced_snapshot_path(const struct sluiced *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/snapshot.yaml", d->o.state_dir);
}

static void digest(const char *text, size_t len, unsigned char out[32])
{
	if (!EVP_Digest(text, len, out, NULL, EVP_sha256(), NULL))
		memset(out, 0, 32);
}

/* Write the state file of state directory dir: a header comment naming
 * source and generation, then the snapshot (text, len; NULL: parts,
 * written as they are joined). tmp + fsync + rename: readers see the old
 * file or the new one, never a torn one. cancel (may be NULL) set: given
 * up before the rename (-ECANCELED). */
static int write_snapshot(const char *dir, const char *source, uint32_t gen,
			  sl_snap_part_fn at, void *arg, size_t nparts, const char *text,
			  size_t len, const char *tmpname, const bool *cancel)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/snapshot.yaml", dir);
	snprintf(tmp, sizeof(tmp), "%s/%s", dir, tmpname);
	/* the snapshot holds the whole policy: root's eyes only */
	{
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd < 0)
			return -errno;
		if (fchmod(fd, 0600) < 0 || !(f = fdopen(fd, "w"))) {
			err = -errno;
			close(fd);
			unlink(tmp);
			return err;
		}
	}
	fprintf(f, STATE_HDR "source=%s gen=%u\n", source, gen);
	if (text) {
		if (len && fwrite(text, 1, len, f) != len)
			err = -EIO;
	} else {
		err = sl_snap_write_seq(at, arg, nparts, NULL, f);
	}
	if (!err && cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED))
		err = -ECANCELED;
	if (!err && (fflush(f) || fsync(fileno(f))))
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED))
		err = -ECANCELED;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static int write_state_as(const struct sluiced *d, uint32_t gen, const char *text, size_t len,
			  const char *tmpname)
{
	return write_snapshot(d->o.state_dir, sluiced_source_name(d->source), gen,
			      sl_snap_parts_at, d->parts, d->nparts, text, len, tmpname, NULL);
}

/* A write of the state file in the background, by a thread: what it
 * writes is taken from the desired state when it begins (its texts shared
 * — or copied, when not shared texts — and its names copied), so the event
 * loop goes on changing d->parts meanwhile. The copy is compact: it is
 * held while the file is written, and at 10,000 services an array of parts
 * and their names was ~7 MB more RSS for that time; here an entry is 24
 * bytes and a name is kept as what it does not share with the one before
 * (the parts are sorted by name: "kubernetes:/api/v1/pods/" is written
 * once for 50,000 Pods). Not a forked child: a child shares the daemon's pages
 * copy-on-write, and every page the event loop then writes (an
 * incremental apply's allocations) is copied at a fault, with a TLB flush
 * on every CPU the daemon's threads ran on — ~10-30 ms per endpoint
 * change at 10,000 services. */
#define JOB_FROMS 16	/* distinct owners ("apply", "kubernetes", ...) */
struct job_part {
	char *data;
	size_t len;
	uint32_t name;		/* the name's own tail, at j->names + name */
	uint16_t keep;		/* bytes of the name before it, as the last one's */
	uint8_t from;		/* j->from[from] */
	bool shared;
};

struct state_job {
	struct job_part *parts;
	size_t n;
	char *names;
	char *cur;		/* the name job_at decoded last */
	size_t next;		/* the part job_at hands out next */
	char from[JOB_FROMS][sizeof(((struct sl_ctl_part *)0)->from)];
	size_t nfrom;
	char dir[PATH_MAX];
	char source[16];
	uint32_t gen;
	uint64_t took_us;	/* job_new's copy and the write */
	bool cancel;		/* atomics: set by the event loop */
	bool done;		/* ... by the thread */
	int rc;
};

static void job_free(struct state_job *j)
{
	if (!j)
		return;
	for (size_t i = 0; j->parts && i < j->n; i++) {
		if (j->parts[i].shared)
			sl_text_unref(j->parts[i].data);
		else
			free(j->parts[i].data);
	}
	free(j->parts);
	free(j->names);
	free(j->cur);
	free(j);
}

/* The bytes two names share at their start (at most UINT16_MAX). */
static size_t name_common(const char *a, const char *b)
{
	size_t i = 0;

	while (i < UINT16_MAX && a[i] && a[i] == b[i])
		i++;
	return i;
}

static int job_from(struct state_job *j, const char *from)
{
	for (size_t i = 0; i < j->nfrom; i++)
		if (!strncmp(j->from[i], from, sizeof(j->from[i])))
			return (int)i;
	if (j->nfrom == JOB_FROMS)
		return -1;
	memcpy(j->from[j->nfrom], from, sizeof(j->from[0]));
	return (int)j->nfrom++;
}

static struct state_job *job_new(const struct sluiced *d, uint32_t gen)
{
	struct state_job *j = calloc(1, sizeof(*j));
	size_t nb = 0, at = 0, longest = 0;

	if (!j)
		return NULL;
	for (size_t i = 0; i < d->nparts; i++) {
		size_t l = strlen(d->parts[i].name);

		nb += l + 1 - (i ? name_common(d->parts[i - 1].name, d->parts[i].name) : 0);
		longest = l > longest ? l : longest;
	}
	j->parts = calloc(d->nparts + 1, sizeof(*j->parts));
	j->names = malloc(nb + 1);
	j->cur = malloc(longest + 1);
	if (!j->parts || !j->names || !j->cur || nb > UINT32_MAX) {
		job_free(j);
		return NULL;
	}
	for (size_t i = 0; i < d->nparts; i++) {
		const struct sl_ctl_part *p = &d->parts[i];
		struct job_part *q = &j->parts[i];
		size_t keep = i ? name_common(d->parts[i - 1].name, p->name) : 0;
		size_t l = strlen(p->name + keep) + 1;
		int from = job_from(j, p->from);

		if (from < 0) {
			j->n = i;
			job_free(j);
			return NULL;
		}
		memcpy(j->names + at, p->name + keep, l);
		q->name = (uint32_t)at;
		q->keep = (uint16_t)keep;
		q->from = (uint8_t)from;
		at += l;
		q->len = p->len;
		q->shared = p->shared;
		if (p->shared) {
			q->data = sl_text_ref(p->data);
		} else if ((q->data = malloc(p->len + 1))) {
			memcpy(q->data, p->data, p->len);
			q->data[p->len] = '\0';
		} else {
			j->n = i;
			job_free(j);
			return NULL;
		}
	}
	j->n = d->nparts;
	snprintf(j->dir, sizeof(j->dir), "%s", d->o.state_dir);
	snprintf(j->source, sizeof(j->source), "%s", sluiced_source_name(d->source));
	j->gen = gen;
	return j;
}

/* Part i of the job's copy (sl_snap_part_fn): a name is the one before's
 * first keep bytes and its own tail, so the names are decoded in order
 * (from the first again if asked for an earlier one). */
static const struct sl_ctl_part *job_at(void *arg, size_t i, struct sl_ctl_part *tmp)
{
	struct state_job *j = arg;
	const struct job_part *q = &j->parts[i];

	if (i < j->next)
		j->next = 0;
	for (; j->next <= i; j->next++)
		strcpy(j->cur + j->parts[j->next].keep, j->names + j->parts[j->next].name);
	memset(tmp, 0, sizeof(*tmp));
	tmp->name = j->cur;
	tmp->data = q->data;
	tmp->len = q->len;
	tmp->shared = q->shared;
	memcpy(tmp->from, j->from[q->from], sizeof(tmp->from));
	return tmp;
}

static void *job_main(void *arg)
{
	struct state_job *j = arg;
	uint64_t t0 = sluiced_now_us();

	j->rc = write_snapshot(j->dir, j->source, j->gen, job_at, j, j->n, NULL, 0,
			       ".snapshot.yaml.bg", &j->cancel);
	j->took_us += sluiced_now_us() - t0;
	__atomic_store_n(&j->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* The background write ended: reaped. wait: stopped first (its older text
 * must not land after a newer one) and waited for. Its result: -ECANCELED
 * when it was stopped before its rename (0 also when there was none). */
static int state_bg_stop(struct sluiced *d, bool wait)
{
	struct state_job *j = d->state_job;
	int rc;

	if (!j)
		return 0;
	if (!wait && !__atomic_load_n(&j->done, __ATOMIC_ACQUIRE))
		return 0;	/* still writing */
	if (wait)
		__atomic_store_n(&j->cancel, true, __ATOMIC_RELAXED);
	pthread_join(d->state_thread, NULL);
	if (j->rc == -ECANCELED)
		sluiced_warn("state: the background write of the snapshot was stopped for a newer one");
	else if (j->rc)
		sluiced_warn("state: the background write of the snapshot failed: %s",
			     strerror(-j->rc));
	else
		d->state_write_us = j->took_us;
	rc = j->rc;
	job_free(j);
	d->state_job = NULL;
	return rc;
}

static int write_state(struct sluiced *d, uint32_t gen, const char *text, size_t len)
{
	state_bg_stop(d, true);
	return write_state_as(d, gen, text, len, ".snapshot.yaml.tmp");
}

/* The live snapshot is kept as its digest, not its text (the text is the
 * parts joined: a second copy of the whole policy). After incremental
 * applies the digest lags the parts: computed again when compared. */
static int snap_refresh(struct sluiced *d)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!d->snap_stale)
		return 0;
	if ((rc = sl_snap_build(d->parts, d->nparts, NULL, &text, &len, NULL)))
		return rc;
	digest(text, len, d->snap_sha);
	d->snaplen = len;
	d->snap_stale = false;
	free(text);
	return 0;
}

/* How long after an incremental apply the state file is written: a
 * second, or STATE_SPACING times what the last background write took, so
 * that under steady endpoint churn rewriting the whole policy (~25 MB at
 * 10,000 services) takes at most a twentieth of a core from the applies
 * it would otherwise compete with; at most STATE_SPACING_MAX_MS. */
#define STATE_SPACING		20
#define STATE_SPACING_MAX_MS	30000

void sluiced_state_mark_stale(struct sluiced *d)
{
	uint64_t wait = d->state_write_us * STATE_SPACING / 1000;

	if (wait < 1000)
		wait = 1000;
	if (wait > STATE_SPACING_MAX_MS)
		wait = STATE_SPACING_MAX_MS;
	d->snap_stale = true;
	if (!d->state_due_ms)
		d->state_due_ms = sluiced_now_ms() + wait;
}

void sluiced_state_tick(struct sluiced *d, bool force)
{
	struct state_job *j;
	uint64_t t_copy;
	int rc;

	/* reaped when done; at exit (force) one stopped before its rename is
	 * written here instead */
	if (d->state_job && state_bg_stop(d, force) == -ECANCELED && force && !d->state_due_ms)
		d->state_due_ms = sluiced_now_ms();
	if (!d->state_due_ms || (!force && sluiced_now_ms() < d->state_due_ms))
		return;
	d->state_due_ms = 0;
	if (!d->dp)
		return;
	state_bg_stop(d, false);
	if (d->state_job) {	/* the last one is still writing */
		d->state_due_ms = sluiced_now_ms() + 200;
		return;
	}
	/* in a thread (state_job): joining and writing the whole policy must
	 * not stall the event loop (the next endpoint change waits
	 * otherwise); at exit (force), or without memory or a thread, here */
	t_copy = sluiced_now_us();
	if (!force && (j = job_new(d, sl_dp_generation(d->dp)))) {
		j->took_us = sluiced_now_us() - t_copy;	/* on this loop */
		if (pthread_create(&d->state_thread, NULL, job_main, j) == 0) {
			d->state_job = j;
			return;
		}
		job_free(j);
	}
	rc = write_state(d, sl_dp_generation(d->dp), NULL, 0);
	if (rc)
		sluiced_err("state: cannot write snapshot: %s", strerror(-rc));
}


/* The control client hung up (or reset): nobody reads the answer. */
static bool client_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = 0 };

	/* POLLHUP: closed both ways (sluicectl shuts its writing half after
	 * the request, which alone is POLLRDHUP and no reason to drop) */
	return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

/* The outcome of an apply as data (`apply -o json|yaml`). */
static void report(struct vrec *rep, const char *result, uint32_t gen, const char *msg)
{
	if (!rep)
		return;
	vf_str(rep, "result", "%s", result);
	vf_num(rep, "generation", gen);
	vf_str(rep, "message", "%s", msg ? msg : "");
}

/* The owner of a live part (untagged parts, from a state file written
 * before owners were recorded, belong to the source that set the state). */
static const char *owner(const struct sluiced *d, const struct sl_ctl_part *p)
{
	return p->from[0] ? p->from : sluiced_source_name(d->source);
}

/* How many objects of model m src owns; map places m's positions in parts
 * (the snapshot m was loaded from). */
static size_t objects_of(const struct sluiced *d, const struct sl_model *m,
			 const struct sl_snap_map *map, const struct sl_ctl_part *parts,
			 enum sluiced_source src)
{
	const char *me = sluiced_source_name(src);
	size_t n = 0, line;

	for (size_t i = 0; i < m->nobjects; i++) {
		int k = m->objects[i].pos.line > 0 ?
			sl_snap_locate(map, (size_t)m->objects[i].pos.line, &line) : -1;

		n += k >= 0 && !strcmp(owner(d, &parts[k]), me);
	}
	return n;
}

/* The same for the live model (its snapshot map is made here). */
static size_t live_objects_of(const struct sluiced *d, enum sluiced_source src)
{
	struct sl_snap_map map = { 0 };
	char *text = NULL;
	size_t len = 0, n;

	if (!d->model)
		return 0;
	if (sl_snap_build(d->parts, d->nparts, NULL, &text, &len, &map))
		return d->model->nobjects;	/* no memory: judge by the whole */
	n = objects_of(d, d->model, &map, d->parts, src);
	sl_snap_map_free(&map);
	free(text);
	return n;
}

/* The incoming parts replace the share of this owner. */
static bool replaced(const struct sl_ctl_part *parts, size_t n, const char *who)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(parts[i].from, who))
			return true;
	return false;
}

/* The desired state after src sets parts: those (tagged with src unless
 * already tagged: a delete or a restore hands back tagged parts) and every
 * live part of an owner the incoming set does not carry. Takes parts; NULL
 * on out-of-memory (parts freed). */
static struct sl_ctl_part *union_parts(const struct sluiced *d, struct sl_ctl_part *parts,
				       size_t nparts, enum sluiced_source src, size_t *n)
{
	const char *me = sluiced_source_name(src);
	size_t i, k = nparts, others = 0;
	struct sl_ctl_part *u;

	for (i = 0; i < nparts; i++)
		if (!parts[i].from[0])
			snprintf(parts[i].from, sizeof(parts[i].from), "%s", me);
	for (i = 0; i < d->nparts; i++)
		others += strcmp(owner(d, &d->parts[i]), me) &&
			  !replaced(parts, nparts, owner(d, &d->parts[i]));
	u = calloc(nparts + others + 1, sizeof(*u));
	if (!u) {
		sl_ctl_parts_free(parts, nparts);
		return NULL;
	}
	for (i = 0; i < nparts; i++)
		u[i] = parts[i];
	for (i = 0; i < d->nparts; i++) {
		struct sl_ctl_part *dup;

		if (!strcmp(owner(d, &d->parts[i]), me) ||
		    replaced(parts, nparts, owner(d, &d->parts[i])))
			continue;
		dup = sl_ctl_parts_dup(&d->parts[i], 1);
		if (!dup) {
			sl_ctl_parts_free(u, k);
			free(parts);
			return NULL;
		}
		u[k] = dup[0];
		snprintf(u[k].from, sizeof(u[k].from), "%s", owner(d, &d->parts[i]));
		free(dup);
		k++;
	}
	free(parts);
	*n = k;
	return u;
}

/* The apply proper; its report goes to out, and as data to rep (NULL:
 * text only). */
static int apply(struct sluiced *d, struct sl_ctl_part *parts, size_t nparts,
		 enum sluiced_source src, bool allow_empty, FILE *out, struct vrec *rep)
{
	struct vfield *df = rep ? vf_list(rep, "diagnostics") : NULL;
	char errbuf[SL_DP_ERRLEN] = "", *text = NULL, *changes = NULL, cred[PATH_MAX];
	struct sl_snap_map map = { 0 };
	struct sl_model *m = NULL;
	struct sluiced_change_count c;
	unsigned char sha[32];
	struct sl_diags dg;
	size_t textlen = 0, changes_len = 0;
	uint32_t gen = 0;
	uint64_t t0 = sluiced_now_us(), t_load = 0, t_dp = 0;
	FILE *cf;
	int rc, status = SL_CTL_ERROR;

	sl_diags_init(&dg);
	parts = union_parts(d, parts, nparts, src, &nparts);
	if (!parts) {
		nparts = 0;
		fprintf(out, "apply: %s\n", strerror(ENOMEM));
		goto cleanup;
	}
	rc = sl_snap_build(parts, nparts, NULL, &text, &textlen, &map);
	if (rc || (rc = snap_refresh(d))) {
		fprintf(out, "apply: %s\n", strerror(-rc));
		goto cleanup;
	}
	digest(text, textlen, sha);
	if (d->model && d->dp && sl_dp_generation(d->dp) && d->snaplen == textlen &&
	    !memcmp(d->snap_sha, sha, sizeof(sha))) {
		gen = sl_dp_generation(d->dp);
		fprintf(out, "unchanged: generation %u is live (%zu objects)\n", gen, d->model->nobjects);
		report(rep, "unchanged", gen, NULL);
		if (d->source != src) {
			d->source = src;
			rc = write_state(d, gen, text, textlen);
			if (rc)
				sluiced_err("state: cannot write snapshot: %s", strerror(-rc));
		}
		status = SL_CTL_OK;
		goto cleanup;
	}
	t_load = sluiced_now_us();
	rc = sl_model_load_buf(SLUICED_SNAP_NAME, text, textlen, &dg, &m);
	/* the TLS files sluice-http will load (credentialName: its Secret's,
	 * from the directory sluice-http is given too): refused here, so that
	 * the data plane and the helper never take the policy apart */
	if (!rc && m && (sl_model_bind_credentials(m, sluiced_credentials_dir(d, cred, sizeof(cred)),
						   &dg) < 0 ||
			 sl_model_check_tls_files(m, &dg) < 0)) {
		sl_model_free(m);
		m = NULL;
		rc = -EINVAL;
	}
	t_load = sluiced_now_us() - t_load;
	if (rc || !m) {
		sluiced_print_diags(&dg, &map, parts, out, df);
		report(rep, "refused", d->dp ? sl_dp_generation(d->dp) : 0, "invalid input");
		fprintf(out, "refused: %zu error(s); generation %u stays live\n", dg.nerrors,
			d->dp ? sl_dp_generation(d->dp) : 0);
		d->refused++;
		sluiced_warn("apply refused (source %s, %zu errors); generation %u stays live",
			    sluiced_source_name(src), dg.nerrors, d->dp ? sl_dp_generation(d->dp) : 0);
		status = SL_CTL_REFUSED;
		goto cleanup;
	}
	if (dg.n)
		sluiced_print_diags(&dg, &map, parts, out, df);
	/* a source that empties its share would remove all its objects: only
	 * when asked (as kubectl refuses an empty apply) */
	size_t mine_live = allow_empty ? 0 : live_objects_of(d, src);
	if (mine_live > 0 && objects_of(d, m, &map, parts, src) == 0) {
		fprintf(out, "refused: the %s holds no objects: it would remove all %zu objects "
			"it set; to empty it on purpose use `sluicectl apply --allow-empty` (or "
			"`sluicectl reset`); generation %u stays live\n",
			src == SRC_POLICY_DIR ? "policy directory" : "given set of files", mine_live,
			d->dp ? sl_dp_generation(d->dp) : 0);
		d->refused++;
		report(rep, "refused", d->dp ? sl_dp_generation(d->dp) : 0,
		       "the source's new set holds no objects; use --allow-empty to remove them all");
		sluiced_warn("apply refused (source %s): an empty set would remove all %zu objects "
			    "it set", sluiced_source_name(src), mine_live);
		status = SL_CTL_REFUSED;
		goto cleanup;
	}
	/* the client gave up (its time-out) while the policy loaded: an apply
	 * nobody waits for must not land silently */
	if (src == SRC_APPLY && client_gone(d->ctl_client_fd)) {
		report(rep, "error", d->dp ? sl_dp_generation(d->dp) : 0, "client disconnected");
		sluiced_warn("apply dropped (source apply): the client disconnected before it "
			    "could be committed; generation %u stays live",
			    d->dp ? sl_dp_generation(d->dp) : 0);
		status = SL_CTL_ERROR;
		goto cleanup;
	}
	rc = sluiced_dp_ensure(d, errbuf);
	t_dp = sluiced_now_us();
	/* names new to this model get their first answer before it is
	 * compiled (bounded wait), so the generation starts with them */
	sluiced_dns_prepare(d, m);
	if (!rc)
		rc = sl_dp_apply(d->dp, m, &gen, errbuf);
	t_dp = sluiced_now_us() - t_dp;
	if (rc) {
		/* The compiler refusing what the front-end accepted (e.g. http
		 * routes without the helper) is a refusal; anything else is a
		 * data-plane error. Either way the previous generation stays. */
		fputs("refused by the data plane: ", out);
		sluiced_print_dp_error(errbuf[0] ? errbuf : "error", &map, parts, out);
		if (rep) {
			char *msg = NULL;
			size_t ml = 0;
			FILE *mf = open_memstream(&msg, &ml);

			if (mf) {
				sluiced_print_dp_error(errbuf[0] ? errbuf : "error", &map, parts, mf);
				fprintf(mf, " (%s)", strerror(-rc));
				fclose(mf);
			}
			report(rep, rc == -EOPNOTSUPP || rc == -EINVAL ? "refused" : "error",
			       d->dp ? sl_dp_generation(d->dp) : 0, msg);
			free(msg);
		}
		fprintf(out, " (%s); generation %u stays live\n", strerror(-rc),
			d->dp ? sl_dp_generation(d->dp) : 0);
		sluiced_warn("apply failed in the data plane: %s (%s)", errbuf, strerror(-rc));
		if (rc == -EOPNOTSUPP || rc == -EINVAL) {
			d->refused++;
			status = SL_CTL_REFUSED;
		}
		goto cleanup;
	}
	d->last_apply_us = sluiced_now_us() - t0;
	sluiced_stats_gc_schedule(d);	/* backends may have gone */
	/* The new generation is live from here on: whatever fails below, the
	 * daemon's state must follow it. */
	memset(&c, 0, sizeof(c));
	cf = open_memstream(&changes, &changes_len);
	if (cf) {
		sluiced_diff_objects(d->model, m, cf, &c, rep ? vf_list(rep, "changes") : NULL);
		fclose(cf);
	}
	report(rep, "applied", gen, NULL);
	if (rep) {
		struct vrec *it = vf_item(vf_map(rep, "counts"));

		vf_num(it, "added", c.added);
		vf_num(it, "changed", c.changed);
		vf_num(it, "removed", c.removed);
		vf_num(it, "unchanged", c.same);
	}
	sluiced_log("apply generation %u (source %s): %zu added, %zu changed, %zu removed, "
		    "%zu unchanged, %.1f ms (validate %.1f, data plane %.1f)", gen,
		    sluiced_source_name(src), c.added, c.changed, c.removed, c.same,
		    (double)d->last_apply_us / 1000.0, (double)t_load / 1000.0, (double)t_dp / 1000.0);
	sluiced_log_lines_at(SL_LOG_INFO, "  ", changes);
	if (changes)
		fputs(changes, out);
	fprintf(out, "applied generation %u: %zu added, %zu changed, %zu removed, %zu unchanged\n",
		gen, c.added, c.changed, c.removed, c.same);

	sl_model_free(d->model);
	sluiced_patches_free(d);	/* the old model's incremental applies */
	sl_ctl_parts_free(d->parts, d->nparts);
	d->delta_broken = false;
	d->prange.valid = false;
	d->snap_stale = false;
	d->state_due_ms = 0;
	d->model = m;
	d->parts = parts;
	d->nparts = nparts;
	memcpy(d->snap_sha, sha, sizeof(sha));
	d->snaplen = textlen;
	d->source = src;
	d->applies++;
	sluiced_dns_sync(d);
	m = NULL;
	parts = NULL;
	rc = write_state(d, gen, text, textlen);
	if (rc)
		sluiced_err("state: cannot write snapshot: %s", strerror(-rc));
	sluiced_helper_sync(d);
	status = SL_CTL_OK;
	sluiced_log("apply generation %u done in %.1f ms (state file and report included)", gen,
		    (double)(sluiced_now_us() - t0) / 1000.0);
cleanup:
	free(changes);
	sl_model_free(m);
	sl_ctl_parts_free(parts, nparts);
	free(text);
	sl_snap_map_free(&map);
	sl_diags_free(&dg);
	/* A big model was just freed (the old one, or a refused one): give the
	 * heap back so RSS follows the live policy, not the largest ever. */
	malloc_trim(0);
	if (src == SRC_POLICY_DIR) {
		d->dir_refused = status != SL_CTL_OK;
	} else if (status == SL_CTL_OK && d->dir_refused) {
		/* the conflict that refused the directory may be gone */
		d->dir_refused = false;
		d->reload_at_ms = sluiced_now_ms();
		sluiced_log("policy-dir: trying %s again after this apply", d->o.policy_dir);
	}
	return status;
}

/* Apply, reporting to out; an apply that did not land also puts its report
 * (every diagnostic, file:line:col) in the log, whatever its source: the
 * operator reading the log learns why, not only that. */
int sluiced_apply_as(struct sluiced *d, struct sl_ctl_part *parts, size_t nparts,
		     enum sluiced_source src, bool allow_empty, enum view_fmt fmt, FILE *out)
{
	struct vtable rep = { 0 };
	struct vrec *r = fmt == VIEW_TABLE ? NULL : vt_rec(&rep);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int status;

	if (!f) {
		vt_free(&rep);
		return apply(d, parts, nparts, src, allow_empty, out, NULL);
	}
	status = apply(d, parts, nparts, src, allow_empty, f, r);
	fclose(f);
	if (r)
		vt_render(&rep, fmt, true, out);
	else if (text)
		fputs(text, out);
	if (text && status != SL_CTL_OK)
		sluiced_log_lines_at(SL_LOG_WARN, "  ", text);
	free(text);
	vt_free(&rep);
	return status;
}

int sluiced_apply(struct sluiced *d, struct sl_ctl_part *parts, size_t nparts,
		  enum sluiced_source src, bool allow_empty, FILE *out)
{
	return sluiced_apply_as(d, parts, nparts, src, allow_empty, VIEW_TABLE, out);
}

static int read_whole(const char *path, char **out, size_t *len)
{
	struct sl_ctl_part *p = NULL;
	size_t n = 0;
	char err[256];
	int rc = sl_ctl_read_sources(&path, 1, &p, &n, err, sizeof(err));

	if (rc)
		return rc;
	*out = p[0].data;
	*len = p[0].len;
	p[0].data = NULL;
	sl_ctl_parts_free(p, n);
	return 0;
}

/* Start-up: take the state file back. When its generation is the one the
 * re-adopted data plane runs, adopt it as is (no new generation: a restart
 * is invisible); otherwise apply it again. */
int sluiced_restore(struct sluiced *d)
{
	char path[PATH_MAX], src[32] = "", *text = NULL, *body, *nl, *out = NULL;
	struct sl_ctl_part *parts = NULL;
	struct sl_diags dg;
	struct sl_model *m = NULL;
	size_t len = 0, nparts = 0, outlen = 0, blen;
	unsigned int gen = 0;
	enum sluiced_source s;
	int rc;

	sl_diags_init(&dg);
	sluiced_snapshot_path(d, path, sizeof(path));
	rc = read_whole(path, &text, &len);
	if (rc) {
		if (rc != -ENOENT)
			sluiced_warn("state: cannot read %s: %s", path, strerror(-rc));
		goto cleanup;
	}
	if (strncmp(text, STATE_HDR, strlen(STATE_HDR)) ||
	    sscanf(text + strlen(STATE_HDR), "source=%31s gen=%u", src, &gen) != 2) {
		sluiced_warn("state: %s has no state header; ignored", path);
		rc = -EINVAL;
		goto cleanup;
	}
	nl = strchr(text, '\n');
	body = nl ? nl + 1 : text + len;
	blen = len - (size_t)(body - text);
	s = !strcmp(src, "apply") ? SRC_APPLY : !strcmp(src, "policy-dir") ? SRC_POLICY_DIR :
	    !strcmp(src, "kubernetes") ? SRC_KUBERNETES : SRC_NONE;
	rc = sl_snap_split(body, blen, &parts, &nparts);
	if (rc)
		goto cleanup;
	if (d->dp && gen && gen == sl_dp_generation(d->dp) &&
	    sl_model_load_buf(SLUICED_SNAP_NAME, body, blen, &dg, &m) == 0 && m) {
		char cred[PATH_MAX];

		/* the paths of credentialName servers, as the apply bound them
		 * (a Secret not written yet leaves them unset: nothing here
		 * loads them, sluice-http binds its own) */
		sl_model_bind_credentials(m, sluiced_credentials_dir(d, cred, sizeof(cred)), &dg);
		d->model = m;
		d->parts = parts;
		d->prange.valid = false;
		d->nparts = nparts;
		digest(body, blen, d->snap_sha);
		d->snaplen = blen;
		d->source = s;
		sluiced_log("state: re-adopted generation %u (source %s, %zu objects) from %s",
			    gen, src, m->nobjects, path);
		parts = NULL;
		sluiced_helper_sync(d);
		sluiced_dns_sync(d);	/* the first answers compile it again */
		goto cleanup;
	}
	sluiced_log("state: %s holds generation %u but the data plane runs %u: applying it again",
		    path, gen, d->dp ? sl_dp_generation(d->dp) : 0);
	{
		FILE *f = open_memstream(&out, &outlen);

		if (!f) {
			rc = -ENOMEM;
			goto cleanup;
		}
		rc = sluiced_apply(d, parts, nparts, s, true, f) == SL_CTL_OK ? 0 : -EINVAL;
		parts = NULL;
		fclose(f);	/* sluiced_apply logged the outcome */
	}
cleanup:
	free(out);
	sl_ctl_parts_free(parts, nparts);
	sl_diags_free(&dg);
	free(text);
	return rc;
}

/* Read the policy directory and make it the policy directory's share of
 * the desired state (applied objects stay), unless that is what already
 * runs. At start an empty or missing directory changes nothing; later, an
 * emptied directory removes the objects it had. */
int sluiced_load_policy_dir(struct sluiced *d, bool at_start)
{
	const char *dir = d->o.policy_dir;
	struct sl_ctl_part *parts = NULL;
	size_t nparts = 0, outlen = 0;
	char err[512], *out = NULL;
	struct stat st;
	FILE *f;
	int rc;

	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		sluiced_warn("policy-dir: %s is not a directory; nothing loaded", dir);
		return -ENOENT;
	}
	rc = sl_ctl_read_sources(&dir, 1, &parts, &nparts, err, sizeof(err));
	if (rc) {
		sluiced_warn("policy-dir: %s", err);
		return rc;
	}
	if (!at_start)
		sluiced_log("policy-dir: change in %s: reloading %zu file(s)", dir, nparts);
	if (at_start && nparts == 0) {
		sluiced_log("policy-dir: %s has no *.yaml files", dir);
		sl_ctl_parts_free(parts, nparts);
		return 0;
	}
	f = open_memstream(&out, &outlen);
	if (!f) {
		sl_ctl_parts_free(parts, nparts);
		return -ENOMEM;
	}
	rc = sluiced_apply(d, parts, nparts, SRC_POLICY_DIR, false, f);
	fclose(f);
	free(out);	/* sluiced_apply logged what matters */
	return rc == SL_CTL_OK ? 0 : -EINVAL;
}

int sluiced_reset(struct sluiced *d, FILE *out)
{
	char path[PATH_MAX], err[SL_DP_ERRLEN] = "";
	int rc;

	sluiced_helper_stop(d);
	sluiced_dp_close(d);
	if (d->o.xdp) {
		sluiced_xdp_close();
		d->xdp_detached = true;
	}
	rc = sl_dp_reset(d->o.bpffs, err);
	state_bg_stop(d, true);	/* its file must not come back */
	sluiced_snapshot_path(d, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT && !rc)
		rc = -errno;
	sluiced_state_free(d);
	if (rc) {
		fprintf(out, "reset: %s (%s)\n", err[0] ? err : "failed", strerror(-rc));
		sluiced_err("reset failed: %s (%s)", err, strerror(-rc));
		return SL_CTL_ERROR;
	}
	fprintf(out, "reset: programs detached, pins under %s removed, state removed\n", d->o.bpffs);
	sluiced_log("reset: data plane removed from %s; waiting for the next apply", d->o.bpffs);
	return SL_CTL_OK;
}

void sluiced_state_free(struct sluiced *d)
{
	state_bg_stop(d, true);
	sl_model_free(d->model);
	d->model = NULL;
	sluiced_patches_free(d);
	d->delta_broken = d->snap_stale = d->prange.valid = false;
	d->state_due_ms = 0;
	sl_ctl_parts_free(d->parts, d->nparts);
	d->parts = NULL;
	d->nparts = 0;
	memset(d->snap_sha, 0, sizeof(d->snap_sha));
	d->snaplen = 0;
	d->source = SRC_NONE;
}
