/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy paths to policy files: the one rule both `sluicectl validate` (the
 * loader) and `sluicectl apply` / sluiced (the snapshot sources) follow, so
 * that the set validated is the set applied.
 */
#ifndef SLUICE_UTIL_FILES_H
#define SLUICE_UTIL_FILES_H

#include <stddef.h>

/* One file of the expansion, or one path that could not be read. */
struct sl_file_entry {
	char *path;		/* "-" stands for standard input */
	size_t arg;		/* index of the argument it came from */
	int err;		/* 0, or the errno of `what` on `path` */
	const char *what;	/* "cannot access", "cannot open directory", ... */
};

/* Expand files and directories, in argument order. A directory contributes
 * its *.yaml / *.yml files and its subdirectories, recursively (at most 16
 * deep), in byte order of the names; entries starting with '.' are skipped.
 * Unreadable paths become entries with err set, for the caller to report.
 * Returns 0 or -ENOMEM. */
int sl_files_expand(const char *const *paths, size_t npaths,
		    struct sl_file_entry **out, size_t *nout);
void sl_files_free(struct sl_file_entry *v, size_t n);

/* Read a whole file ("-" = standard input), NUL-terminated. 0 or -errno. */
int sl_file_read(const char *path, char **data, size_t *len);

#endif /* SLUICE_UTIL_FILES_H */
