// SPDX-License-Identifier: Apache-2.0
/*
 * Control protocol, client side: one request per connection to sluiced.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "sluice/ctl.h"

/* Connect to the daemon; returns a socket with send/receive timeouts set so
 * a wedged daemon cannot hang the CLI forever, or -errno. */
static int ctl_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = SL_CTL_TIMEOUT_MS / 1000 };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int sl_ctl_call(const char *sock, const struct sl_ctl_req *req, struct sl_ctl_resp *resp)
{
	int fd, err;

	memset(resp, 0, sizeof(*resp));
	fd = ctl_connect(sock ? sock : SL_CTL_DEFAULT_SOCKET);
	if (fd < 0)
		return fd;
	err = sl_ctl_write_req(fd, req);
	if (!err) {
		shutdown(fd, SHUT_WR);
		err = sl_ctl_read_resp(fd, resp);
	}
	close(fd);
	return err;
}

int sl_ctl_fetch_snapshot(const char *sock, char **yaml, size_t *len)
{
	struct sl_ctl_req req = { .verb = "snapshot" };
	struct sl_ctl_resp resp;
	int err;

	*yaml = NULL;
	*len = 0;
	err = sl_ctl_call(sock, &req, &resp);
	if (err)
		return err;
	if (resp.status != SL_CTL_OK) {
		sl_ctl_resp_free(&resp);
		return -EPROTO;
	}
	*yaml = resp.body;
	*len = resp.len;
	return 0;
}
