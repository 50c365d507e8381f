/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small, fast HTTP/1.1 backend for benchmarks and counting tests: one
 * epoll thread, keep-alive, requests delimited by llhttp, every response
 * the same: status 200, x-backend: NAME, a body of SIZE bytes starting with
 * "NAME\n". The same binary serves sluice-http, HAProxy and direct runs.
 *   http-backend ADDR PORT NAME [SIZE]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <llhttp.h>

struct conn {
	int fd;
	llhttp_t p;
	int pending;		/* responses owed */
	char *out;
	size_t olen, ooff, ocap;
};

static char *resp;
static size_t resp_len;

static int on_done(llhttp_t *p)
{
	((struct conn *)p->data)->pending++;
	return 0;
}

static llhttp_settings_t settings;

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c->out);
	free(c);
}

/* Queue the owed responses and write what the socket takes. */
static int conn_flush(struct conn *c)
{
	while (c->pending > 0) {
		if (c->olen + resp_len > c->ocap) {
			size_t nc = (c->olen + resp_len) * 2;
			char *np = realloc(c->out, nc);

			if (!np)
				return -1;
			c->out = np;
			c->ocap = nc;
		}
		memcpy(c->out + c->olen, resp, resp_len);
		c->olen += resp_len;
		c->pending--;
	}
	while (c->ooff < c->olen) {
		ssize_t n = send(c->fd, c->out + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		c->ooff += (size_t)n;
	}
	c->ooff = c->olen = 0;
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct epoll_event ev, evs[128];
	size_t size, hl;
	char hdr[256];
	int lfd, ep, one = 1, i, n;

	if (argc < 4) {
		fprintf(stderr, "usage: http-backend ADDR PORT NAME [SIZE]\n");
		return 2;
	}
	size = argc > 4 ? strtoul(argv[4], NULL, 10) : 1024;
	hl = (size_t)snprintf(hdr, sizeof(hdr),
			      "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-backend: %s\r\n"
			      "content-length: %zu\r\n\r\n", argv[3], size);
	resp_len = hl + size;
	resp = malloc(resp_len);
	memcpy(resp, hdr, hl);
	memset(resp + hl, 'x', size);
	snprintf(hdr, sizeof(hdr), "%s\n", argv[3]);
	memcpy(resp + hl, hdr, strlen(hdr) < size ? strlen(hdr) : size);
	llhttp_settings_init(&settings);
	settings.on_message_complete = on_done;

	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
		perror("http-backend: bind");
		return 1;
	}
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		n = epoll_wait(ep, evs, 128, -1);
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			char buf[16384];
			ssize_t r;

			if (!c) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					c = calloc(1, sizeof(*c));
					c->fd = fd;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					llhttp_init(&c->p, HTTP_REQUEST, &settings);
					c->p.data = c;
					ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			for (;;) {
				r = recv(c->fd, buf, sizeof(buf), 0);
				if (r <= 0)
					break;
				if (llhttp_execute(&c->p, buf, (size_t)r) != HPE_OK) {
					r = 0;
					break;
				}
				if ((size_t)r < sizeof(buf)) {
					r = -1;
					errno = EAGAIN;
					break;
				}
			}
			if (r == 0 || (r < 0 && errno != EAGAIN) || conn_flush(c) < 0) {
				conn_close(c);
				continue;
			}
		}
	}
}
