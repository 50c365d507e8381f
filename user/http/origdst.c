/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Mesh entry: the connect hook (bpf/sock.bpf.c) rewrites a client's connect()
 * to an HTTP service VIP into a connect() to our mesh listener and records,
 * keyed by the client's own local addr:port (what accept() shows us as the
 * peer), the VIP:port it asked for and its workload id. We look that up once
 * per accepted connection.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "http/hx.h"
#include "sluice/abi.h"

int hx_origdst_open(const char *bpffs)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/sluice_origdst", bpffs);
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int hx_origdst_lookup(int mapfd, const uint8_t addr[16], uint16_t port,
		      uint8_t vip[16], uint16_t *vip_port, uint32_t *workload)
{
	struct sluice_origdst_key k;
	struct sluice_origdst v;

	memset(&k, 0, sizeof(k));
	memcpy(k.addr, addr, 16);
	k.port = htons(port);
	if (bpf_map_lookup_elem(mapfd, &k, &v) < 0)
		return -ENOENT;
	memcpy(vip, v.vip, 16);
	*vip_port = ntohs(v.vip_port);
	*workload = v.workload_id;
	return 0;
}
