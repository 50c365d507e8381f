// SPDX-License-Identifier: Apache-2.0
/* Policy paths to policy files; see util_files.h. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>

#include "lib/util_files.h"

struct expand {
	struct sl_file_entry *v;
	size_t n, cap;
	size_t files;		/* policy files found, against SL_FILES_MAX */
	char root[PATH_MAX];	/* realpath of the directory argument walked */
};

static bool is_yaml_name(const char *n)
{
	size_t l = strlen(n);

	return (l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml"));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int push(struct expand *e, const char *path, size_t arg, int err, const char *what)
{
	if (e->n == e->cap) {
		size_t nc = e->cap ? e->cap * 2 : 16;
		struct sl_file_entry *nv = realloc(e->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		e->v = nv;
		e->cap = nc;
	}
	e->v[e->n].path = strdup(path);
	if (!e->v[e->n].path)
		return -ENOMEM;
	e->v[e->n].arg = arg;
	e->v[e->n].err = err;
	e->v[e->n].what = what;
	e->n++;
	return 0;
}

/* A file entry of a walked directory: a regular file, or a symlink that
 * resolves to a regular file inside the tree (Kubernetes mounts ConfigMap
 * keys as links into a hidden ..data directory of the same mount). Links to
 * anywhere else, and directories reached through links, are not followed:
 * no loop, and nothing outside the tree is read as policy. */
static bool inside_tree(const struct expand *e, const char *path)
{
	char real[PATH_MAX];
	size_t n = strlen(e->root);

	if (!realpath(path, real))
		return false;
	return !strncmp(real, e->root, n) && (real[n] == '/' || real[n] == '\0' ||
					       (n == 1 && e->root[0] == '/'));
}

static int expand_path(struct expand *e, const char *path, size_t arg, int depth)
{
	struct stat st;
	struct dirent *de;
	char **names = NULL;
	size_t nn = 0, i;
	DIR *d;
	int rc = 0;

	if (!strcmp(path, "-"))
		return push(e, path, arg, 0, NULL);
	if (stat(path, &st))
		return push(e, path, arg, errno, "cannot access");
	if (!S_ISDIR(st.st_mode)) {
		/* named by the user: read it only if it is a regular file (a
		 * FIFO would hang the reader, /dev/zero never end) */
		if (!S_ISREG(st.st_mode))
			return push(e, path, arg, EINVAL, "not a regular file");
		return push(e, path, arg, 0, NULL);
	}
	if (depth == 0 && !realpath(path, e->root))
		return push(e, path, arg, errno, "cannot resolve");
	if (depth > SL_FILES_MAX_DEPTH)
		return push(e, path, arg, ELOOP, "directories nested too deeply");
	d = opendir(path);
	if (!d)
		return push(e, path, arg, errno, "cannot open directory");
	while ((de = readdir(d))) {
		char **nv;

		if (de->d_name[0] == '.')
			continue;
		nv = realloc(names, (nn + 1) * sizeof(*nv));
		if (!nv) {
			rc = -ENOMEM;
			goto cleanup;
		}
		names = nv;
		/* "dir/" given: no "dir//name" in messages */
		if (asprintf(&names[nn], "%s%s%s", path,
			     path[0] && path[strlen(path) - 1] == '/' ? "" : "/", de->d_name) < 0) {
			rc = -ENOMEM;
			goto cleanup;
		}
		nn++;
	}
	if (nn)
		qsort(names, nn, sizeof(*names), cmp_str);
	for (i = 0; i < nn && !rc; i++) {
		struct stat ls, es;

		if (lstat(names[i], &ls) || stat(names[i], &es))
			continue;	/* vanished or dangling link: not a policy file */
		if (S_ISDIR(ls.st_mode)) {
			rc = expand_path(e, names[i], arg, depth + 1);
		} else if (S_ISREG(es.st_mode) && is_yaml_name(names[i]) &&
			   (!S_ISLNK(ls.st_mode) || inside_tree(e, names[i]))) {
			if (++e->files <= SL_FILES_MAX)
				rc = push(e, names[i], arg, 0, NULL);
			else if (e->files == SL_FILES_MAX + 1)
				rc = push(e, path, arg, E2BIG, "more policy files than "
					  "the limit of " SL_FILES_MAX_STR " under");
		}
		/* else: a link to a directory or out of the tree, or not
		 * YAML: skipped */
	}
cleanup:
	for (i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int sl_files_expand(const char *const *paths, size_t npaths,
		    struct sl_file_entry **out, size_t *nout)
{
	struct expand e = { 0 };
	size_t i;
	int rc = 0;

	for (i = 0; i < npaths && !rc; i++) {
		e.files = 0;
		rc = expand_path(&e, paths[i], i, 0);
	}
	if (rc) {
		sl_files_free(e.v, e.n);
		return rc;
	}
	*out = e.v;
	*nout = e.n;
	return 0;
}

void sl_files_free(struct sl_file_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

int sl_file_read(const char *path, char **data, size_t *len)
{
	bool is_stdin = !strcmp(path, "-");
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	struct stat st;
	int rc = 0;

	if (!f)
		return -errno;
	/* a path that was a regular file when expanded may have been swapped
	 * for a FIFO or a device since: checked again on the open file */
	if (!is_stdin && (fstat(fileno(f), &st) || !S_ISREG(st.st_mode))) {
		fclose(f);
		return -EINVAL;
	}
	for (;;) {
		size_t r;

		if (n > SL_FILE_MAX_BYTES) {
			rc = -EFBIG;
			goto cleanup;
		}
		if (cap - n < 65536) {
			size_t nc = cap ? cap * 2 : 131072;
			char *nb = realloc(buf, nc);

			if (!nb) {
				rc = -ENOMEM;
				goto cleanup;
			}
			buf = nb;
			cap = nc;
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f))
		rc = -EIO;
cleanup:
	if (!is_stdin)
		fclose(f);
	if (rc) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
}
