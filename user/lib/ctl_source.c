// SPDX-License-Identifier: Apache-2.0
/*
 * YAML sources as named parts, and the snapshot text made of them.
 *
 * The snapshot is what sluiced applies, keeps in its state dir and hands to
 * sluice-http: every source's text, each preceded by a "# source: NAME"
 * comment, joined into one multi-document YAML stream. Because the daemon
 * validates exactly this text, it keeps a line map to turn a diagnostic's
 * snapshot line back into the user's file and line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/ctl.h"
#include "lib/util_files.h"

#define SOURCE_MARK "# source: "
#define FROM_MARK "# from: "

static int add_part(struct sl_ctl_part **parts, size_t *n, size_t *cap, const char *path,
		    char *err, size_t errlen)
{
	struct sl_ctl_part *p;
	int rc;

	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;

		p = realloc(*parts, nc * sizeof(*p));
		if (!p)
			return -ENOMEM;
		*parts = p;
		*cap = nc;
	}
	if (strchr(path, '\n')) {
		snprintf(err, errlen, "%s: file names with a newline are not supported", path);
		return -EINVAL;
	}
	p = &(*parts)[*n];
	memset(p, 0, sizeof(*p));
	rc = sl_file_read(path, &p->data, &p->len);
	if (!rc && p->len > SL_CTL_MAX_BODY) {
		free(p->data);
		rc = -EFBIG;
	}
	if (rc) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	p->name = strdup(!strcmp(path, "-") ? "<stdin>" : path);
	if (!p->name) {
		free(p->data);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

/* The files are those sl_model_load reads for the same paths (util_files.c),
 * so what `apply` sends is what `validate` checked. */
int sl_ctl_read_sources(const char *const *paths, size_t npaths,
			struct sl_ctl_part **parts, size_t *nparts,
			char *err, size_t errlen)
{
	struct sl_ctl_part *v = NULL;
	struct sl_file_entry *files = NULL;
	size_t n = 0, cap = 0, nfiles = 0, i;
	int rc;

	rc = sl_files_expand(paths, npaths, &files, &nfiles);
	for (i = 0; i < nfiles && !rc; i++) {
		if (files[i].err) {
			rc = -files[i].err;
			snprintf(err, errlen, "%s: %s: %s", files[i].path, files[i].what,
				 strerror(files[i].err));
		} else {
			rc = add_part(&v, &n, &cap, files[i].path, err, errlen);
		}
	}
	sl_files_free(files, nfiles);
	if (rc) {
		sl_ctl_parts_free(v, n);
		return rc;
	}
	*parts = v;
	*nparts = n;
	return 0;
}

/* ---- snapshot text ---- */

struct sbuf {
	char *p;
	size_t len, cap;
	size_t lines;	/* newlines written so far */
	FILE *f;	/* set: written there, not kept (sl_snap_write) */
};

static int sb_put(struct sbuf *b, const char *s, size_t n)
{
	size_t i;

	if (b->f) {
		if (n && fwrite(s, 1, n, b->f) != n)
			return errno ? -errno : -EIO;
		b->len += n;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 4096;
		char *np;

		while (nc < b->len + n + 1)
			nc *= 2;
		np = realloc(b->p, nc);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	for (i = 0; i < n; i++)
		b->lines += s[i] == '\n';
	return 0;
}

static int sb_str(struct sbuf *b, const char *s)
{
	return sb_put(b, s, strlen(s));
}

/* A line that opens a document: "---" alone or followed by a space. */
static bool is_doc_start(const char *l, size_t n)
{
	return n >= 3 && !memcmp(l, "---", 3) && (n == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\r');
}

static bool is_only_doc_start(const char *l, size_t n)
{
	while (n > 3 && (l[n - 1] == ' ' || l[n - 1] == '\t' || l[n - 1] == '\r'))
		n--;
	return n == 3 && !memcmp(l, "---", 3);
}

/* Significant lines are neither blank nor comments nor directives. Reports
 * the first and the last one (pointer + length), NULL when there is none. */
static void significant_lines(const char *d, size_t len, const char **first, size_t *flen,
			      const char **last, size_t *llen)
{
	size_t i = 0;

	*first = *last = NULL;
	*flen = *llen = 0;
	while (i < len) {
		size_t j = i, k;

		while (j < len && d[j] != '\n')
			j++;
		k = i;
		while (k < j && (d[k] == ' ' || d[k] == '\t' || d[k] == '\r'))
			k++;
		if (k < j && d[k] != '#' && !(k == i && d[k] == '%')) {
			if (!*first) {
				*first = d + i;
				*flen = j - i;
			}
			*last = d + i;
			*llen = j - i;
		}
		i = j + 1;
	}
}

const struct sl_ctl_part *sl_snap_parts_at(void *arg, size_t i, struct sl_ctl_part *tmp)
{
	(void)tmp;
	return &((const struct sl_ctl_part *)arg)[i];
}

/* The snapshot text of the n parts at() hands out into b (a buffer, or a
 * file: b->f). */
static int snap_emit(struct sbuf *b, sl_snap_part_fn at, void *arg, size_t n,
		     const char *header, struct sl_snap_map *map)
{
	struct sl_ctl_part tmp;
	bool need_sep = false;
	char *plain = NULL;	/* a shared part's text (held deflated) */
	size_t i, cap = 0;
	int err = 0;

	if (header)
		err = sb_str(b, header);
	for (i = 0; i < n && !err; i++) {
		const struct sl_ctl_part *p = at(arg, i, &tmp);
		const char *first, *last, *data = p->data;
		size_t flen, llen, len = p->shared ? sl_text_len(p->data) : p->len;

		if (p->shared) {
			if (cap < len + 1) {
				free(plain);
				cap = len + 1 > 4096 ? len + 1 : 4096;
				if (!(plain = malloc(cap))) {
					err = -ENOMEM;
					break;
				}
			}
			if ((err = sl_text_read(p->data, plain)))
				break;
			data = plain;
		}
		significant_lines(data, len, &first, &flen, &last, &llen);
		if (need_sep && first && !is_doc_start(first, flen))
			err = sb_str(b, "---\n");
		if (!err)
			err = sb_str(b, SOURCE_MARK);
		if (!err)
			err = sb_str(b, p->name);
		if (!err)
			err = sb_str(b, "\n");
		if (!err && p->from[0]) {
			err = sb_str(b, FROM_MARK);
			if (!err)
				err = sb_str(b, p->from);
			if (!err)
				err = sb_str(b, "\n");
		}
		if (!err && map)
			map->first_line[map->n++] = b->lines + 1;
		if (!err)
			err = sb_put(b, data, len);
		if (!err && len && data[len - 1] != '\n')
			err = sb_str(b, "\n");
		if (last)
			need_sep = !is_only_doc_start(last, llen);
	}
	free(plain);
	return err;
}

int sl_snap_write(const struct sl_ctl_part *parts, size_t n, const char *header, FILE *f)
{
	return sl_snap_write_seq(sl_snap_parts_at, (void *)parts, n, header, f);
}

int sl_snap_write_seq(sl_snap_part_fn at, void *arg, size_t n, const char *header, FILE *f)
{
	struct sbuf b = { .f = f };

	return snap_emit(&b, at, arg, n, header, NULL);
}

int sl_snap_build(const struct sl_ctl_part *parts, size_t n, const char *header,
		  char **out, size_t *outlen, struct sl_snap_map *map)
{
	struct sbuf b = { 0 };
	int err;

	if (map) {
		map->n = 0;
		map->first_line = calloc(n ? n : 1, sizeof(*map->first_line));
		if (!map->first_line)
			return -ENOMEM;
	}
	err = snap_emit(&b, sl_snap_parts_at, (void *)parts, n, header, map);
	if (!err && !b.p)
		err = sb_str(&b, "");
	if (err) {
		free(b.p);
		if (map)
			sl_snap_map_free(map);
		return err;
	}
	*out = b.p;
	*outlen = b.len;
	return 0;
}

int sl_snap_split(const char *text, size_t len, struct sl_ctl_part **parts, size_t *n)
{
	struct sl_ctl_part *v = NULL, *cur = NULL;
	size_t nv = 0, i = 0, mlen = strlen(SOURCE_MARK), start = 0;
	int err = 0;

	while (i <= len) {
		size_t j = i;

		while (j < len && text[j] != '\n')
			j++;
		if (i < len && j - i > mlen && !memcmp(text + i, SOURCE_MARK, mlen)) {
			struct sl_ctl_part *nvp = realloc(v, (nv + 1) * sizeof(*v));

			if (!nvp) {
				err = -ENOMEM;
				goto cleanup;
			}
			v = nvp;
			if (cur) {
				cur = &v[nv - 1];
				cur->len = i - start;
				cur->data = strndup(text + start, cur->len);
				if (!cur->data) {
					err = -ENOMEM;
					goto cleanup;
				}
			}
			cur = &v[nv++];
			memset(cur, 0, sizeof(*cur));
			cur->name = strndup(text + i + mlen, j - i - mlen);
			if (!cur->name) {
				err = -ENOMEM;
				goto cleanup;
			}
			start = j < len ? j + 1 : len;
			/* its owner, on the line after the name */
			if (len - start > strlen(FROM_MARK) &&
			    !memcmp(text + start, FROM_MARK, strlen(FROM_MARK))) {
				size_t k = start + strlen(FROM_MARK), e = k;

				while (e < len && text[e] != '\n')
					e++;
				snprintf(cur->from, sizeof(cur->from), "%.*s", (int)(e - k), text + k);
				start = e < len ? e + 1 : len;
				j = e;
			}
		}
		i = j + 1;
	}
	if (cur) {
		cur->len = len - start;
		cur->data = strndup(text + start, cur->len);
		if (!cur->data) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	*parts = v;
	*n = nv;
	return 0;
cleanup:
	sl_ctl_parts_free(v, nv);
	return err;
}

int sl_snap_locate(const struct sl_snap_map *map, size_t line, size_t *part_line)
{
	size_t i;

	for (i = map->n; i > 0; i--) {
		if (map->first_line[i - 1] <= line) {
			*part_line = line - map->first_line[i - 1] + 1;
			return (int)(i - 1);
		}
	}
	return -1;
}

void sl_snap_map_free(struct sl_snap_map *map)
{
	free(map->first_line);
	map->first_line = NULL;
	map->n = 0;
}
