// SPDX-License-Identifier: Apache-2.0
/*
 * The policy directory watch: any change in the directory (a file written
 * and closed, moved in or out, deleted; a ConfigMap-style "..data" symlink
 * swap) arms a ~100 ms debounce, after which the whole directory is read
 * again and applied if it differs from what is live (state.c). Editors and
 * `kubectl cp` write in bursts: one apply per burst, not one per event.
 */
#include <errno.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluiced.h"

#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | \
		    IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

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

		sluiced_log("policy-dir: cannot watch %s: %s", d->o.policy_dir, strerror(errno));
		return err;
	}
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

			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				gone = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (gone && d->ino_wd >= 0) {
		inotify_rm_watch(d->ino_fd, d->ino_wd);
		d->ino_wd = -1;
		sluiced_log("policy-dir: %s went away; keeping the live policy", d->o.policy_dir);
		return;
	}
	d->reload_at_ms = sluiced_now_ms() + SLUICED_DEBOUNCE_MS;
}
