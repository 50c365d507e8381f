// SPDX-License-Identifier: Apache-2.0
/*
 * The policy directory watch: any change in the directory (a file written
 * and closed, moved in or out, deleted; a ConfigMap-style "..data" symlink
 * swap) arms a ~100 ms debounce, after which the whole directory is read
 * again and applied if it differs from what is live (state.c). Editors and
 * `kubectl cp` write in bursts: one apply per burst, not one per event.
 * Subdirectories are loaded too (util_files.c), so each one is watched as
 * well; a new one is picked up by the event that created it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluiced.h"
#include "lib/util_files.h"

#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | \
		    IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

/* Watch every non-hidden subdirectory below dir (inotify_add_watch on an
 * already watched directory is a no-op that returns the same descriptor).
 * Directories reached through symlinks are not entered, as util_files.c
 * does not load them: a link back into the tree cannot loop. */
static void watch_subdirs(int fd, const char *dir, int depth)
{
	struct dirent *de;
	DIR *d;

	if (depth > SL_FILES_MAX_DEPTH)
		return;
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[4096];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (lstat(path, &st) || !S_ISDIR(st.st_mode))
			continue;
		if (inotify_add_watch(fd, path, WATCH_MASK) >= 0)
			watch_subdirs(fd, path, depth + 1);
	}
	closedir(d);
}

int sluiced_watch_open(struct sluiced *d)
{
	if (d->ino_fd < 0) {
		d->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (d->ino_fd < 0)
			return -errno;
	}
	d->ino_wd = inotify_add_watch(d->ino_fd, d->o.policy_dir, WATCH_MASK);
	if (d->ino_wd < 0) {
		int err = -errno;

		sluiced_warn("policy-dir: cannot watch %s: %s", d->o.policy_dir, strerror(errno));
		return err;
	}
	watch_subdirs(d->ino_fd, d->o.policy_dir, 0);
	return 0;
}

void sluiced_watch_event(struct sluiced *d)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool gone = false;
	ssize_t n;

	while ((n = read(d->ino_fd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + n) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			/* only the policy dir itself going away stops the watch */
			if (ev->wd == d->ino_wd &&
			    (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)))
				gone = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (gone && d->ino_wd >= 0) {
		inotify_rm_watch(d->ino_fd, d->ino_wd);
		d->ino_wd = -1;
		sluiced_warn("policy-dir: %s went away; keeping the live policy", d->o.policy_dir);
		return;
	}
	watch_subdirs(d->ino_fd, d->o.policy_dir, 0);
	d->reload_at_ms = sluiced_now_ms() + SLUICED_DEBOUNCE_MS;
}
