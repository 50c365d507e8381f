/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy paths to policy files: the one rule both `sluicectl validate` (the
 * loader) and `sluicectl apply` / sluiced (the snapshot sources) follow, so
 * that the set validated is the set applied.
 */
#ifndef SLUICE_UTIL_FILES_H
#define SLUICE_UTIL_FILES_H

#include <stddef.h>

/* Limits on what a policy path may hold, checked before anything is parsed,
 * so hostile input fails fast: directory depth, policy files under one
 * argument, bytes of one file (also standard input). */
#define SL_FILES_MAX_DEPTH	16
#define SL_FILES_MAX		10000
#define SL_FILES_MAX_STR	"10000"
#define SL_FILE_MAX_BYTES	(64u << 20)

/* One file of the expansion, or one path that could not be read. */
struct sl_file_entry {
	char *path;		/* "-" stands for standard input */
	size_t arg;		/* index of the argument it came from */
	int err;		/* 0, or the errno of `what` on `path` */
	const char *what;	/* "cannot access", "cannot open directory", ... */
};

/* Expand files and directories, in argument order. A directory contributes
 * its *.yaml / *.yml files and its subdirectories, recursively (at most
 * SL_FILES_MAX_DEPTH deep, SL_FILES_MAX files), in byte order of the names;
 * entries starting with '.' are skipped; symlinks are followed only to
 * regular files inside the tree (never to directories: no loops). A named
 * path that is not a directory must be a regular file (or "-"). Unreadable
 * or refused paths become entries with err set, for the caller to report.
 * Returns 0 or -ENOMEM. */
int sl_files_expand(const char *const *paths, size_t npaths,
		    struct sl_file_entry **out, size_t *nout);
void sl_files_free(struct sl_file_entry *v, size_t n);

/* Read a whole file ("-" = standard input), NUL-terminated: a regular file
 * of at most SL_FILE_MAX_BYTES. 0 or -errno (-EINVAL not a regular file,
 * -EFBIG too large). */
int sl_file_read(const char *path, char **data, size_t *len);

#endif /* SLUICE_UTIL_FILES_H */
